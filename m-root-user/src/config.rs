//! Settings of `m-root-xdp run`: a TOML file (`--config`) and flags, flags winning. Unknown keys and bad
//! values are errors that name the field.
//!
//! Each setting is declared once, in `settings!` below: its doc (the flag's help), its flag (clap) and
//! key (serde) attributes, its type and its default. That one line makes the field of [`Options`] (what
//! the flags and the file give: clap and serde read the same struct), of [`Settings`] (after merging),
//! and its part of the merge; `merge` then checks what depends on more than one setting.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::dataplane::Mode;
use crate::limits::Limits;
use crate::secondary::conf::Section;
use crate::secondary::outgoing::TransferSection;

/// In the unit's RuntimeDirectory, so the daemon's own user can create it.
pub const DEFAULT_CONTROL: &str = "/run/m-root-xdp/control.sock";

/// One setting, as the configuration manual page lists it.
#[derive(Clone, Debug)]
pub struct Setting {
    pub key: &'static str,
    pub doc: String,
    /// The default written as TOML; None when there is none (required, or optional and unset).
    pub default: Option<String>,
}

/// A default value written as it would be in the config file.
trait Shown {
    fn shown(&self) -> String;
}

/// Numbers and booleans are written as Rust displays them.
macro_rules! shown_as_displayed {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
shown_as_displayed!(bool, u16, u64, usize);

impl Shown for String {
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}
impl Shown for PathBuf {
    fn shown(&self) -> String {
        format!("{:?}", self.display().to_string())
    }
}
impl Shown for IpAddr {
    fn shown(&self) -> String {
        format!("\"{self}\"")
    }
}
impl Shown for Mode {
    fn shown(&self) -> String {
        use clap::ValueEnum;
        self.to_possible_value().map_or_else(|| format!("{self:?}"), |v| format!("{:?}", v.get_name()))
    }
}
impl<T: Shown> Shown for Vec<T> {
    fn shown(&self) -> String {
        format!("[{}]", self.iter().map(Shown::shown).collect::<Vec<_>>().join(", "))
    }
}

/// `name: Type = default;` per setting, after its doc (the flag's help and the manual page's text) and
/// its clap and serde attributes, the default one of: `(expr)`; `(required "message")`, an error
/// when neither flag nor file gives it; `None`, the setting stays optional (`Option<Type>`).
macro_rules! settings {
    ($($(#[$($attr:tt)*])* $name:ident: $ty:ty = $default:tt;)*) => {
        /// The settings as given: by flags of `run` (clap) or in the config file (serde, which refuses an
        /// unknown key naming it). None: not given.
        #[derive(Debug, Default, clap::Args, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Options {
            $($(#[$($attr)*])* pub $name: Option<$ty>,)*
        }

        /// Every setting as m-root-xdp.toml(5) documents it: key, doc, and its default as TOML.
        pub fn reference() -> Vec<Setting> {
            vec![$(Setting {
                key: stringify!($name),
                doc: [$(settings!(@doc $($attr)*)),*].into_iter().flatten().map(str::trim).collect::<Vec<_>>().join(" "),
                default: settings!(@shown $ty, $default),
            },)*]
        }

        /// Settings after merging: each as given, else its default.
        #[derive(Clone, Debug)]
        pub struct Settings {
            $(pub $name: settings!(@type $ty, $default),)*
        }

        impl Options {
            /// Every setting given here (the flags) wins over the same one in `file`.
            pub fn or(self, file: Options) -> Options {
                Options { $($name: self.$name.or(file.$name),)* }
            }

            /// Defaults for what is not given.
            fn resolve(self) -> Result<Settings> {
                Ok(Settings { $($name: settings!(@value self.$name, $default),)* })
            }
        }
    };
    (@doc doc = $doc:literal) => { Some($doc) };
    (@doc $($other:tt)*) => { None::<&str> };
    (@shown $ty:ty, None) => { None };
    (@shown $ty:ty, (required $message:literal)) => { None };
    (@shown $ty:ty, ($default:expr)) => { Some(<$ty as Shown>::shown(&$default)) };
    (@type $ty:ty, None) => { Option<$ty> };
    (@type $ty:ty, $default:tt) => { $ty };
    (@value $v:expr, None) => { $v };
    (@value $v:expr, (required $message:literal)) => { $v.context($message)? };
    (@value $v:expr, ($default:expr)) => { $v.unwrap_or_else(|| $default) };
}

settings! {
    /// Zone file (RFC 1035 master format). With [secondary] optional: the zone comes from the cache,
    /// then this file, then the primaries.
    #[arg(long)]
    zone: PathBuf = None;
    /// Interface(s) to attach the XDP program to.
    #[arg(long = "iface", value_name = "IFACES")]
    interfaces: Vec<String> = (Vec::new());
    /// Service address(es): queries to these are answered; everything else passes.
    #[arg(long = "addr", value_name = "ADDRS")]
    addresses: Vec<IpAddr> = (Vec::new());
    /// auto (default): from the device (XDP + TC on a NIC; on a virtual device the TC program alone,
    /// unless xdp_tx_peer); native / skb: XDP answering by XDP_TX, with the TC companion for what XDP
    /// cannot grow in place; tc: the TC program only; off: userspace only.
    #[arg(long, value_enum)]
    xdp_mode: Mode = (Mode::Auto);
    /// The TC companion beside XDP answers what XDP has no room for; --no-tc (`tc = false`) leaves
    /// those queries to userspace.
    #[arg(long = "no-tc", num_args = 0, default_missing_value = "false")]
    tc: bool = (true);
    /// The interfaces' peers take XDP_TX'd frames (e.g. a veth whose far end runs an XDP program), so
    /// auto attaches XDP to virtual devices too and lets it answer by XDP_TX (without it, TC alone).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    xdp_tx_peer: bool = (false);
    /// The port userspace serves over UDP and TCP (the kernel programs answer UDP port 53 only).
    #[arg(long)]
    port: u16 = (53);
    /// UDP worker threads per address; 0: one per CPU.
    #[arg(long)]
    workers: usize = (0);
    /// Identity for id.server / hostname.bind / NSID.
    #[arg(long)]
    identity: String = None;
    /// Text for version.bind (not answered when absent).
    #[arg(long = "version-string", id = "version_string", value_name = "VERSION_STRING")]
    version: String = None;
    /// Answer CHAOS queries (id.server, hostname.bind, version.bind); --no-chaos (`chaos = false`)
    /// answers none.
    #[arg(long = "no-chaos", num_args = 0, default_missing_value = "false")]
    chaos: bool = (true);
    /// NSID in answers to queries that ask for it (needs an identity).
    #[arg(skip)]
    nsid: bool = (true);
    /// The control socket.
    #[arg(long)]
    control: PathBuf = (PathBuf::from(DEFAULT_CONTROL));
    /// error, warn, info, debug, trace.
    #[arg(long)]
    log_level: String = ("info".into());
    /// Verify the zone's ZONEMD at start and on every reload (a mismatch refuses the zone);
    /// --no-zonemd (`zonemd = false`) skips it.
    #[arg(long = "no-zonemd", num_args = 0, default_missing_value = "false")]
    zonemd: bool = (true);
    /// Reload when the zone file changes.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    watch: bool = (false);
    /// A TCP connection idle this long, in seconds, is closed, as is one whose next message has not
    /// arrived whole this long after it began to wait for it (1-3600).
    #[arg(skip)]
    tcp_idle_seconds: u64 = (10);
    /// TCP connections open at once, in all.
    #[arg(skip)]
    tcp_max_connections: usize = (512);
    /// TCP connections open at once from one source address; one more is closed unanswered.
    #[arg(skip)]
    tcp_max_per_source: usize = (32);
}

/// The sections of the services around the engine, read at start only: `[secondary]` (the zone from
/// primaries), `[transfer]` (transfers to others), `[anycast]` (health and announcement).
#[derive(Clone, Debug, Default)]
pub struct Services {
    pub secondary: Option<Section>,
    pub transfer: Option<TransferSection>,
    pub anycast: Option<crate::anycast::Section>,
    /// `[rssac002]`: the daily RSSAC002 counts (and the programs' per-day counting) are on.
    pub rssac002: Option<crate::observe::daystate::Section>,
    /// `[metrics]`: GET /metrics for Prometheus.
    pub metrics: Option<crate::observe::endpoint::Section>,
    /// `[dnstap]`: userspace's queries and responses to a Frame Streams socket or file.
    pub dnstap: Option<crate::observe::dnstap::Section>,
}

/// A config file: its flat settings, its sections (`[rrl]`, `[acl]`, `[cookies]`: [`crate::limits`]),
/// and `[secondary]` and `[transfer]` ([`crate::secondary`]).
pub fn read_file(path: &Path) -> Result<(Options, Limits, Services)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    // toml's message names the key and the line.
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    let secondary = match table.remove("secondary") {
        Some(v) => Some(v.try_into::<Section>().map_err(|e| anyhow::anyhow!("config {}: secondary: {e}", path.display()))?),
        None => None,
    };
    let anycast = match table.remove("anycast") {
        Some(v) => Some(v.try_into::<crate::anycast::Section>().map_err(|e| anyhow::anyhow!("config {}: anycast: {e}", path.display()))?),
        None => None,
    };
    if let Some(a) = &anycast {
        a.check().map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?;
    }
    let transfer = match table.remove("transfer") {
        Some(v) => Some(v.try_into::<TransferSection>().map_err(|e| anyhow::anyhow!("config {}: transfer: {e}", path.display()))?),
        None => None,
    };
    let rssac002 = match table.remove("rssac002") {
        Some(v) => Some(
            v.try_into::<crate::observe::daystate::Section>().map_err(|e| anyhow::anyhow!("config {}: rssac002: {e}", path.display()))?,
        ),
        None => None,
    };
    let metrics = match table.remove("metrics") {
        Some(v) => Some(v.try_into().map_err(|e| anyhow::anyhow!("config {}: metrics: {e}", path.display()))?),
        None => None,
    };
    let dnstap = match table.remove("dnstap") {
        Some(v) => {
            Some(v.try_into::<crate::observe::dnstap::Section>().map_err(|e| anyhow::anyhow!("config {}: dnstap: {e}", path.display()))?)
        }
        None => None,
    };
    if let Some(d) = &dnstap {
        d.check().map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?;
    }
    let (flat, limits) = crate::limits::split(table).map_err(|e| anyhow::anyhow!("config {}: {e:#}", path.display()))?;
    let options =
        serde::Deserialize::deserialize(toml::Value::Table(flat)).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    Ok((options, limits, Services { secondary, transfer, anycast, rssac002, metrics, dnstap }))
}

/// The settings of `run`: `flags`, over the file `config` when given, over the defaults, and the file's
/// sections. A zone given as a flag is made absolute (reloads find it after a change of directory).
pub fn of_run(config: Option<&Path>, mut flags: Options) -> Result<(Settings, Limits, Services)> {
    let (file, limits, xfr) = config.map(read_file).transpose()?.unwrap_or_default();
    flags.zone = flags.zone.map(|z| std::fs::canonicalize(&z).unwrap_or(z));
    let s = merge(file, flags)?;
    if s.zone.is_none() && xfr.secondary.is_none() {
        bail!("zone: no zone file given (--zone or zone = \"...\" in the config), and no [secondary] to transfer it");
    }
    Ok((s, limits, xfr))
}

/// Merge: a flag given wins over the file, the file over the default; then what settings require of
/// each other.
pub fn merge(file: Options, flags: Options) -> Result<Settings> {
    let mut s = flags.or(file).resolve()?;
    if s.addresses.is_empty() {
        bail!("addresses: no service address given (--addr or addresses = [...] in the config)");
    }
    if s.xdp_mode != Mode::Off && s.interfaces.is_empty() {
        bail!("interfaces: none given, and the kernel path (XDP or TC) is on (--iface, or xdp_mode = \"off\")");
    }
    if s.xdp_mode == Mode::Tc && !s.tc {
        bail!("tc: xdp_mode = \"tc\" runs the TC program only, and it is turned off (--no-tc or tc = false)");
    }
    if s.workers == 0 {
        s.workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    }
    if s.workers > 1024 {
        bail!("workers: {} is out of range (0-1024)", s.workers);
    }
    if !["error", "warn", "info", "debug", "trace"].contains(&s.log_level.as_str()) {
        bail!("log_level: {:?} is not one of error, warn, info, debug, trace", s.log_level);
    }
    s.nsid &= s.identity.is_some();
    s.tcp_idle_seconds = s.tcp_idle_seconds.clamp(1, 3600);
    s.tcp_max_connections = s.tcp_max_connections.max(1);
    s.tcp_max_per_source = s.tcp_max_per_source.max(1);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_errors_name_the_field() {
        let file: Options =
            toml::from_str("zone = \"a.zone\"\naddresses = [\"192.0.2.1\"]\nxdp_mode = \"off\"\nport = 5300\nidentity = \"m1\"\n").unwrap();
        let s = merge(file, Options { port: Some(53), ..Default::default() }).unwrap();
        assert_eq!(s.port, 53);
        assert_eq!(s.zone, Some(PathBuf::from("a.zone")));
        assert!(s.nsid && s.chaos);
        let err = toml::from_str::<Options>("zone = \"a\"\nadresses = []\n").unwrap_err().to_string();
        assert!(err.contains("adresses"), "{err}");
        let err = toml::from_str::<Options>("addresses = [\"not-an-ip\"]\n").unwrap_err().to_string();
        assert!(err.contains("addresses") || err.contains("invalid"), "{err}");
        let err = toml::from_str::<Options>("zone = \"a\"\naddresses = [\"192.0.2.1\"]\nxdp_mode = \"fast\"\n").unwrap_err().to_string();
        assert!(err.contains("xdp_mode") && err.contains("auto"), "{err}");
        let file: Options = toml::from_str("zone = \"a\"\naddresses = [\"192.0.2.1\"]\n").unwrap();
        assert!(merge(file, Options::default()).unwrap_err().to_string().contains("interfaces"));
    }

    #[test]
    fn the_tc_companion_is_on_unless_turned_off() {
        let base = "zone = \"a\"\naddresses = [\"192.0.2.1\"]\ninterfaces = [\"eth1\"]\n";
        let s = merge(toml::from_str(base).unwrap(), Options::default()).unwrap();
        assert!(s.tc && s.xdp_mode == Mode::Auto && !s.xdp_tx_peer);
        let s = merge(toml::from_str(&format!("{base}xdp_tx_peer = true\nxdp_mode = \"native\"\n")).unwrap(), Options::default()).unwrap();
        assert!(s.xdp_tx_peer && s.xdp_mode == Mode::Native);
        let s = merge(toml::from_str(&format!("{base}tc = false\n")).unwrap(), Options::default()).unwrap();
        assert!(!s.tc);
        let s = merge(toml::from_str(base).unwrap(), Options { tc: Some(false), ..Default::default() }).unwrap();
        assert!(!s.tc);
        let s = merge(toml::from_str(&format!("{base}xdp_mode = \"tc\"\n")).unwrap(), Options::default()).unwrap();
        assert!(s.tc && s.xdp_mode == Mode::Tc);
        let err =
            merge(toml::from_str(&format!("{base}xdp_mode = \"tc\"\ntc = false\n")).unwrap(), Options::default()).unwrap_err().to_string();
        assert!(err.contains("tc"), "{err}");
    }

    #[test]
    fn flags_read_into_the_same_settings_as_the_file() {
        #[derive(clap::Parser)]
        struct Run {
            #[command(flatten)]
            o: Options,
        }
        let flags = |args: &[&str]| <Run as clap::Parser>::try_parse_from([&["run"], args].concat()).map(|r| r.o);
        let o = flags(&["--iface", "eth1", "--iface", "eth2", "--addr", "192.0.2.1", "--no-tc", "--xdp-tx-peer", "--version-string", "v"])
            .unwrap();
        assert_eq!(o.interfaces.as_deref(), Some(&["eth1".to_string(), "eth2".to_string()][..]));
        assert_eq!((o.tc, o.xdp_tx_peer, o.version.as_deref()), (Some(false), Some(true), Some("v")));
        assert_eq!((o.chaos, o.zonemd, o.watch, o.port), (None, None, None, None));
        let o = flags(&["--no-chaos", "--no-zonemd", "--watch", "--xdp-mode", "tc", "--zone", "z"]).unwrap();
        assert_eq!((o.chaos, o.zonemd, o.watch, o.xdp_mode), (Some(false), Some(false), Some(true), Some(Mode::Tc)));
        assert!(flags(&["--no-tc=true"]).is_err() && flags(&["--nsid"]).is_err() && flags(&["--tcp-idle-seconds", "3"]).is_err());
        // A flag given wins; one not given leaves the file's value.
        let file: Options =
            toml::from_str("zone = \"f\"\naddresses = [\"192.0.2.9\"]\nxdp_mode = \"off\"\nchaos = false\nwatch = true\n").unwrap();
        let s = merge(file, flags(&["--zone", "z", "--no-zonemd"]).unwrap()).unwrap();
        assert_eq!(s.zone, Some(PathBuf::from("z")));
        assert_eq!(s.addresses, vec!["192.0.2.9".parse::<IpAddr>().unwrap()]);
        assert!(!s.chaos && s.watch && !s.zonemd && s.tc && !s.nsid);
        assert_eq!((s.port, s.tcp_idle_seconds, s.tcp_max_connections, s.tcp_max_per_source), (53, 10, 512, 32));
        assert_eq!(s.control, PathBuf::from(DEFAULT_CONTROL));
        // No zone and no [secondary]: nothing to serve.
        let flags = Options { addresses: Some(vec!["192.0.2.1".parse().unwrap()]), xdp_mode: Some(Mode::Off), ..Default::default() };
        let err = of_run(None, flags).unwrap_err().to_string();
        assert!(err.starts_with("zone: no zone file given"), "{err}");
    }

    #[test]
    fn every_setting_is_documented_with_its_default() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md")).unwrap();
        let reference = reference();
        // The table's rows, `| `key` | flag | default | meaning |`, are exactly the keys, in order.
        let rows: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("| `")?.split_once("` |").map(|(k, _)| k)).collect();
        let (sections, flat): (Vec<&str>, Vec<&str>) = rows.iter().partition(|k| k.contains('.'));
        let documented: Vec<&str> = sections.iter().flat_map(|r| r.split("`, `")).collect();
        let known: Vec<&str> = crate::limits::sections_reference().map(|r| r.0).collect();
        assert_eq!(documented, known, "docs/configuration.md's sections table and limits::REFERENCE");
        assert_eq!(flat, reference.iter().map(|s| s.key).collect::<Vec<_>>(), "docs/configuration.md's settings table");
        // Every key the sections' table names is one the sections take (they refuse unknown keys).
        let mut text = String::new();
        for row in sections {
            for key in row.split("`, `") {
                let (section, field) = key.split_once('.').unwrap();
                text.push_str(&format!(
                    "{section}.{field} = {}\n",
                    if field == "dry_run" || field == "enabled" {
                        "false"
                    } else if field == "secret_file" {
                        "\"/var/lib/m-root-xdp/cookie-secret\""
                    } else if field == "secret" {
                        "\"e5e973e5a6b2a43f48e7dc849e37bfcf\""
                    } else if field == "rotation_seconds" {
                        "86400"
                    } else if field.ends_with("prefix") {
                        "24"
                    } else if field == "exempt" || field == "drop" {
                        "[]"
                    } else {
                        "1"
                    }
                ));
            }
        }
        crate::limits::split(toml::from_str(&text).unwrap()).unwrap_or_else(|e| panic!("{text}: {e:#}"));
        assert!(reference.iter().all(|s| !s.doc.is_empty()), "a setting without a doc comment: {reference:?}");
        let shown = |k: &str| reference.iter().find(|s| s.key == k).and_then(|s| s.default.clone());
        assert_eq!(shown("xdp_mode").as_deref(), Some("\"auto\""));
        assert_eq!(shown("control").as_deref(), Some("\"/run/m-root-xdp/control.sock\""));
        assert_eq!(
            (shown("interfaces").as_deref(), shown("port").as_deref(), shown("tc").as_deref()),
            (Some("[]"), Some("53"), Some("true"))
        );
        assert_eq!((shown("zone"), shown("identity")), (None, None));
    }
}
