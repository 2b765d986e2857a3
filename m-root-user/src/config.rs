//! Settings of `m-root-xdp run`: a TOML file (`--config`) and flags, flags winning. Unknown keys and bad
//! values are errors that name the field.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::dataplane::Mode;

/// The file's shape. Every field is optional; flags fill in or override.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub zone: Option<PathBuf>,
    pub interfaces: Option<Vec<String>>,
    pub addresses: Option<Vec<IpAddr>>,
    pub xdp_mode: Option<Mode>,
    /// The TC companion beside XDP (default true).
    pub tc: Option<bool>,
    /// The interfaces' peers take XDP_TX'd frames (veth whose far end runs XDP); `auto` then lets XDP
    /// answer by XDP_TX on virtual devices too (default false).
    pub xdp_tx_peer: Option<bool>,
    pub port: Option<u16>,
    pub workers: Option<usize>,
    pub identity: Option<String>,
    pub version: Option<String>,
    pub chaos: Option<bool>,
    pub nsid: Option<bool>,
    pub control: Option<PathBuf>,
    pub log_level: Option<String>,
    pub zonemd: Option<bool>,
    pub watch: Option<bool>,
    pub tcp_idle_seconds: Option<u64>,
    pub tcp_max_connections: Option<usize>,
    pub tcp_max_per_source: Option<usize>,
}

/// Settings after merging.
#[derive(Clone, Debug)]
pub struct Settings {
    pub zone: PathBuf,
    pub interfaces: Vec<String>,
    pub addresses: Vec<IpAddr>,
    pub xdp_mode: Mode,
    pub tc: bool,
    pub xdp_tx_peer: bool,
    pub port: u16,
    pub workers: usize,
    pub identity: Option<String>,
    pub version: Option<String>,
    pub chaos: bool,
    pub nsid: bool,
    pub control: PathBuf,
    pub log_level: String,
    pub zonemd: bool,
    pub watch: bool,
    pub tcp_idle: Duration,
    pub tcp_max_connections: usize,
    pub tcp_max_per_source: usize,
}

/// Values given on the command line (None / empty: not given).
#[derive(Debug, Default)]
pub struct Flags {
    pub zone: Option<PathBuf>,
    pub interfaces: Vec<String>,
    pub addresses: Vec<IpAddr>,
    pub xdp_mode: Option<Mode>,
    pub no_tc: bool,
    pub xdp_tx_peer: bool,
    pub port: Option<u16>,
    pub workers: Option<usize>,
    pub identity: Option<String>,
    pub version: Option<String>,
    pub no_chaos: bool,
    pub control: Option<PathBuf>,
    pub log_level: Option<String>,
    pub no_zonemd: bool,
    pub watch: bool,
}

pub const DEFAULT_CONTROL: &str = "/run/m-root-xdp.sock";

pub fn read_file(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    // toml's message names the key and the line.
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
}

/// Merge: a flag given wins over the file, the file over the default.
pub fn merge(file: File, flags: Flags) -> Result<Settings> {
    let zone = flags.zone.or(file.zone).context("zone: no zone file given (--zone or zone = \"...\" in the config)")?;
    let interfaces = if flags.interfaces.is_empty() { file.interfaces.unwrap_or_default() } else { flags.interfaces };
    let addresses = if flags.addresses.is_empty() { file.addresses.unwrap_or_default() } else { flags.addresses };
    if addresses.is_empty() {
        bail!("addresses: no service address given (--addr or addresses = [...] in the config)");
    }
    let xdp_mode = flags.xdp_mode.or(file.xdp_mode).unwrap_or(Mode::Auto);
    if xdp_mode != Mode::Off && interfaces.is_empty() {
        bail!("interfaces: none given, and the kernel path (XDP or TC) is on (--iface, or xdp_mode = \"off\")");
    }
    let tc = !flags.no_tc && file.tc.unwrap_or(true);
    if xdp_mode == Mode::Tc && !tc {
        bail!("tc: xdp_mode = \"tc\" runs the TC program only, and it is turned off (--no-tc or tc = false)");
    }
    let workers = flags.workers.or(file.workers).unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if workers == 0 || workers > 1024 {
        bail!("workers: {workers} is out of range (1-1024)");
    }
    let log_level = flags.log_level.or(file.log_level).unwrap_or_else(|| "info".into());
    if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
        bail!("log_level: {log_level:?} is not one of error, warn, info, debug, trace");
    }
    let identity = flags.identity.or(file.identity);
    Ok(Settings {
        zone,
        interfaces,
        addresses,
        xdp_mode,
        tc,
        xdp_tx_peer: flags.xdp_tx_peer || file.xdp_tx_peer.unwrap_or(false),
        port: flags.port.or(file.port).unwrap_or(53),
        workers,
        nsid: file.nsid.unwrap_or(true) && identity.is_some(),
        identity,
        version: flags.version.or(file.version),
        chaos: !flags.no_chaos && file.chaos.unwrap_or(true),
        control: flags.control.or(file.control).unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL)),
        log_level,
        zonemd: !flags.no_zonemd && file.zonemd.unwrap_or(true),
        watch: flags.watch || file.watch.unwrap_or(false),
        tcp_idle: Duration::from_secs(file.tcp_idle_seconds.unwrap_or(10).clamp(1, 3600)),
        tcp_max_connections: file.tcp_max_connections.unwrap_or(512).max(1),
        tcp_max_per_source: file.tcp_max_per_source.unwrap_or(32).max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_errors_name_the_field() {
        let file: File =
            toml::from_str("zone = \"a.zone\"\naddresses = [\"192.0.2.1\"]\nxdp_mode = \"off\"\nport = 5300\nidentity = \"m1\"\n").unwrap();
        let s = merge(file, Flags { port: Some(53), ..Default::default() }).unwrap();
        assert_eq!(s.port, 53);
        assert_eq!(s.zone, PathBuf::from("a.zone"));
        assert!(s.nsid && s.chaos);
        let err = toml::from_str::<File>("zone = \"a\"\nadresses = []\n").unwrap_err().to_string();
        assert!(err.contains("adresses"), "{err}");
        let err = toml::from_str::<File>("addresses = [\"not-an-ip\"]\n").unwrap_err().to_string();
        assert!(err.contains("addresses") || err.contains("invalid"), "{err}");
        let err = toml::from_str::<File>("zone = \"a\"\naddresses = [\"192.0.2.1\"]\nxdp_mode = \"fast\"\n").unwrap_err().to_string();
        assert!(err.contains("xdp_mode") && err.contains("auto"), "{err}");
        let file: File = toml::from_str("zone = \"a\"\naddresses = [\"192.0.2.1\"]\n").unwrap();
        assert!(merge(file, Flags::default()).unwrap_err().to_string().contains("interfaces"));
    }

    #[test]
    fn the_tc_companion_is_on_unless_turned_off() {
        let base = "zone = \"a\"\naddresses = [\"192.0.2.1\"]\ninterfaces = [\"eth1\"]\n";
        let s = merge(toml::from_str(base).unwrap(), Flags::default()).unwrap();
        assert!(s.tc && s.xdp_mode == Mode::Auto && !s.xdp_tx_peer);
        let s = merge(toml::from_str(&format!("{base}xdp_tx_peer = true\nxdp_mode = \"native\"\n")).unwrap(), Flags::default()).unwrap();
        assert!(s.xdp_tx_peer && s.xdp_mode == Mode::Native);
        let s = merge(toml::from_str(&format!("{base}tc = false\n")).unwrap(), Flags::default()).unwrap();
        assert!(!s.tc);
        let s = merge(toml::from_str(base).unwrap(), Flags { no_tc: true, ..Default::default() }).unwrap();
        assert!(!s.tc);
        let s = merge(toml::from_str(&format!("{base}xdp_mode = \"tc\"\n")).unwrap(), Flags::default()).unwrap();
        assert!(s.tc && s.xdp_mode == Mode::Tc);
        let err =
            merge(toml::from_str(&format!("{base}xdp_mode = \"tc\"\ntc = false\n")).unwrap(), Flags::default()).unwrap_err().to_string();
        assert!(err.contains("tc"), "{err}");
    }
}
