//! `[secondary]` of the config file: where the zone comes from, with which key, from which source
//! address, who may NOTIFY, and where the last good zone is kept.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use domain::tsig::Key;
use ipnet::IpNet;
use serde::Deserialize;

/// The section as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// `"198.51.100.1"`, `"198.51.100.1:5353"`, `"2001:db8::1"`, `"[2001:db8::1]:53"`.
    pub primaries: Vec<String>,
    #[serde(default)]
    pub tsig_key: Option<String>,
    #[serde(default)]
    pub tsig_key_file: Option<PathBuf>,
    #[serde(default)]
    pub source: Option<IpAddr>,
    #[serde(default)]
    pub notify_from: Option<Vec<IpNet>>,
    #[serde(default)]
    pub cache: Option<PathBuf>,
}

/// Each key with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 6] = [
    (
        "secondary.primaries",
        "(required)",
        "Primaries to transfer the zone from, in order: address, or address:port ([v6]:port); port 53 when not given.",
    ),
    (
        "secondary.tsig_key",
        "none",
        "TSIG key for SOA queries, transfers and NOTIFY: [algorithm:]name:base64secret, as kdig -y takes it; the algorithm hmac-sha256 when not given.",
    ),
    ("secondary.tsig_key_file", "none", "A file with the key clause tsig-keygen writes (instead of tsig_key)."),
    ("secondary.source", "none", "Source address of the transfers (a unicast address on an anycast host)."),
    ("secondary.notify_from", "the primaries", "Prefixes whose NOTIFY is acted on; others are REFUSED."),
    (
        "secondary.cache",
        "\"/var/lib/m-root-xdp/root.zone\"",
        "The last good zone, written after each transfer (write, then rename); served at start, then refreshed.",
    ),
];

pub const DEFAULT_CACHE: &str = "/var/lib/m-root-xdp/root.zone";

/// The section resolved.
#[derive(Clone, Debug)]
pub struct Conf {
    pub primaries: Vec<SocketAddr>,
    pub key: Option<Key>,
    pub source: Option<IpAddr>,
    pub notify_from: Vec<IpNet>,
    pub cache: PathBuf,
}

/// `198.51.100.1`, `198.51.100.1:53`, `2001:db8::1`, `[2001:db8::1]:53`.
fn primary(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| anyhow!("secondary.primaries: {s:?} is not an address or address:port"))
}

impl Section {
    pub fn resolve(&self) -> Result<Conf> {
        if self.primaries.is_empty() {
            bail!("secondary.primaries: at least one primary");
        }
        let primaries = self.primaries.iter().map(|p| primary(p)).collect::<Result<Vec<_>>>()?;
        let key = match (&self.tsig_key, &self.tsig_key_file) {
            (Some(_), Some(_)) => bail!("secondary: tsig_key and tsig_key_file both given; one of them"),
            (Some(spec), None) => Some(super::key::from_spec(spec).map_err(|e| anyhow!("secondary.tsig_key: {e:#}"))?),
            (None, Some(file)) => Some(super::key::from_file(file)?),
            (None, None) => None,
        };
        let notify_from = match &self.notify_from {
            Some(n) => n.clone(),
            None => primaries.iter().map(|p| IpNet::from(p.ip())).collect(),
        };
        Ok(Conf { primaries, key, source: self.source, notify_from, cache: self.cache.clone().unwrap_or_else(|| DEFAULT_CACHE.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_resolve_and_errors_name_the_key() {
        let s: Section = toml::from_str("primaries = [\"198.51.100.1\", \"[2001:db8::1]:5353\"]\n").unwrap();
        let c = s.resolve().unwrap();
        assert_eq!(c.primaries, vec!["198.51.100.1:53".parse().unwrap(), "[2001:db8::1]:5353".parse().unwrap()]);
        assert_eq!(c.notify_from, vec!["198.51.100.1/32".parse::<IpNet>().unwrap(), "2001:db8::1/128".parse().unwrap()]);
        assert_eq!(c.cache, PathBuf::from(DEFAULT_CACHE));
        assert!(c.key.is_none());
        let s: Section = toml::from_str("primaries = [\"nope\"]\n").unwrap();
        assert!(s.resolve().unwrap_err().to_string().contains("secondary.primaries"));
        let s: Section = toml::from_str("primaries = [\"192.0.2.1\"]\ntsig_key = \"k\"\n").unwrap();
        assert!(s.resolve().unwrap_err().to_string().contains("secondary.tsig_key"));
        assert!(toml::from_str::<Section>("primaries = []\nprimary = 1\n").unwrap_err().to_string().contains("primary"));
    }
}
