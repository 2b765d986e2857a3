//! The `[rrl]`, `[acl]` and `[cookies]` sections of the config file: response rate limiting, the drop
//! list and DNS cookies (`crate::cookies`), as the kernel programs and userspace apply them. Read at start and again on every `m-root-xdp reload`
//! (which applies them without touching the limiter's buckets). Bad values are errors naming the field.

use anyhow::{Result, bail};
use ipnet::IpNet;
use m_root_common::rrl::RrlConf;
use serde::Deserialize;

/// Each key of the sections with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 6] = [
    (
        "rrl.responses_per_second",
        "0 (off)",
        "Responses per second each bucket (a source prefix and a response class) sends, after a burst of one second's worth.",
    ),
    ("rrl.slip", "2", "Every slip-th limited response is sent as TC=1 with no records, the rest dropped; 0 never, 1 always."),
    ("rrl.ipv4_prefix", "24", "The IPv4 source prefix of a bucket (0-32)."),
    ("rrl.ipv6_prefix", "56", "The IPv6 source prefix of a bucket (0-128)."),
    ("rrl.exempt", "[]", "Prefixes never limited."),
    ("rrl.dry_run", "false", "Count what would be limited, send everything."),
];
/// The drop list's key.
pub const ACL_REFERENCE: (&str, &str, &str) =
    ("acl.drop", "[]", "Prefixes whose queries are dropped: UDP in the kernel and in userspace, TCP connections closed.");

/// Every key of the sections (`[rrl]`, `[acl]`, `[cookies]`), with its default and meaning.
pub fn sections_reference() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    REFERENCE.iter().chain([&ACL_REFERENCE]).chain(crate::cookies::REFERENCE.iter())
}

/// `[rrl]`: response rate limiting, per source prefix and response class, for answers over UDP.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Rrl {
    /// Responses per second per prefix and class; 0: off (as BIND and Knot).
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent as TC=1; 0 never, 1 always.
    pub slip: u32,
    pub ipv4_prefix: u32,
    pub ipv6_prefix: u32,
    /// Prefixes answered without limit.
    pub exempt: Vec<IpNet>,
    /// Count what would be limited, limit nothing.
    pub dry_run: bool,
}

impl Default for Rrl {
    fn default() -> Rrl {
        Rrl { responses_per_second: 0, slip: 2, ipv4_prefix: 24, ipv6_prefix: 56, exempt: Vec::new(), dry_run: false }
    }
}

/// `[acl]`: prefixes whose queries are dropped, in the kernel (UDP) and in userspace (UDP and TCP).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Acl {
    pub drop: Vec<IpNet>,
}

/// The sections as the daemon applies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub rrl: Rrl,
    pub acl: Acl,
    pub cookies: crate::cookies::Cookies,
}

/// The sections of a config file's text; the rest of the file is not looked at here.
#[derive(Debug, Default, Deserialize)]
struct Sections {
    #[serde(default)]
    rrl: Option<Rrl>,
    #[serde(default)]
    acl: Option<Acl>,
    #[serde(default)]
    cookies: Option<crate::cookies::Cookies>,
}

/// Split a config file's table into the flat settings and the sections (`rrl`, `acl`, `cookies`).
pub fn split(mut table: toml::Table) -> Result<(toml::Table, Limits)> {
    let mut sections = toml::Table::new();
    for key in ["rrl", "acl", "cookies"] {
        if let Some(v) = table.remove(key) {
            if !v.is_table() {
                bail!("{key}: must be a table ([{key}])");
            }
            sections.insert(key.into(), v);
        }
    }
    let s: Sections = toml::Value::Table(sections).try_into().map_err(|e| anyhow::anyhow!("{e}"))?;
    let limits = Limits { rrl: s.rrl.unwrap_or_default(), acl: s.acl.unwrap_or_default(), cookies: s.cookies.unwrap_or_default() };
    limits.check()?;
    Ok((table, limits))
}

impl Limits {
    fn check(&self) -> Result<()> {
        let r = &self.rrl;
        if r.responses_per_second > 1_000_000 {
            bail!("rrl.responses_per_second: {} is out of range (0-1000000)", r.responses_per_second);
        }
        if r.ipv4_prefix > 32 {
            bail!("rrl.ipv4_prefix: {} is out of range (0-32)", r.ipv4_prefix);
        }
        if r.ipv6_prefix > 128 {
            bail!("rrl.ipv6_prefix: {} is out of range (0-128)", r.ipv6_prefix);
        }
        let max = m_root_common::rrl::LIST_ENTRIES as usize;
        if r.exempt.len() > max {
            bail!("rrl.exempt: {} prefixes, at most {max}", r.exempt.len());
        }
        if self.acl.drop.len() > max {
            bail!("acl.drop: {} prefixes, at most {max}", self.acl.drop.len());
        }
        self.cookies.check()
    }

    /// What the kernel programs are told.
    pub fn kernel_conf(&self) -> RrlConf {
        let r = &self.rrl;
        let mut c = RrlConf::new(r.responses_per_second, r.slip, r.ipv4_prefix, r.ipv6_prefix, r.dry_run);
        if !r.exempt.is_empty() {
            c.flags |= m_root_common::rrl::RRL_HAS_EXEMPT;
        }
        if !self.acl.drop.is_empty() {
            c.flags |= m_root_common::rrl::ACL_HAS_DROP;
        }
        c
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        let r = &self.rrl;
        let rrl = match (r.responses_per_second, r.dry_run) {
            (0, _) => "rate limiting off".to_string(),
            (n, dry) => format!(
                "rate limiting {n}/s per /{} and /{} and class, slip {}{}, {} exempt prefixes",
                r.ipv4_prefix,
                r.ipv6_prefix,
                r.slip,
                if dry { ", dry run" } else { "" },
                r.exempt.len()
            ),
        };
        let cookies = match (&self.cookies.enabled, &self.cookies.secret, self.cookies.rotation_seconds) {
            (false, _, _) => "cookies off".to_string(),
            (true, Some(_), 0) => "cookies on (secret from the config, fixed)".to_string(),
            (true, Some(_), n) => format!("cookies on (secret from the config, a new key every {n} s)"),
            (true, None, 0) => format!("cookies on ({}, fixed)", self.cookies.secret_file.display()),
            (true, None, n) => format!("cookies on ({}, a new key every {n} s)", self.cookies.secret_file.display()),
        };
        format!("{rrl}; {} prefixes dropped; {cookies}", self.acl.drop.len())
    }
}

/// An address and prefix length as the kernel's LPM tries take them: 16 octets, IPv4 as
/// `::ffff:a.b.c.d` (its prefix length plus 96).
pub fn lpm_key(net: &IpNet) -> (u32, [u8; 16]) {
    match net {
        IpNet::V4(n) => (96 + n.prefix_len() as u32, n.network().to_ipv6_mapped().octets()),
        IpNet::V6(n) => (n.prefix_len() as u32, n.network().octets()),
    }
}

/// Is `addr` in any of `nets`?
pub fn contains(nets: &[IpNet], addr: std::net::IpAddr) -> bool {
    let addr = match addr {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, std::net::IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|n| n.contains(&addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Limits> {
        split(toml::from_str(text).unwrap()).map(|(_, l)| l)
    }

    #[test]
    fn sections_read_with_defaults_and_errors_name_the_field() {
        let l = parse("zone = \"z\"\n[rrl]\nresponses_per_second = 20\nexempt = [\"192.0.2.0/24\"]\n[acl]\ndrop = [\"203.0.113.0/24\", \"2001:db8:66::/48\"]\n").unwrap();
        assert_eq!((l.rrl.responses_per_second, l.rrl.slip, l.rrl.ipv4_prefix, l.rrl.ipv6_prefix), (20, 2, 24, 56));
        assert_eq!(l.acl.drop.len(), 2);
        let c = l.kernel_conf();
        assert!(c.on() && c.interval_ns == 50_000_000 && c.tolerance_ns == 19 * 50_000_000);
        assert_eq!(parse("").unwrap(), Limits::default());
        assert!(!Limits::default().kernel_conf().on());
        let err = parse("[rrl]\nresponses_per_secnd = 5\n").unwrap_err().to_string();
        assert!(err.contains("responses_per_secnd"), "{err}");
        let err = parse("[rrl]\nipv4_prefix = 33\n").unwrap_err().to_string();
        assert!(err.starts_with("rrl.ipv4_prefix"), "{err}");
        let err = parse("[acl]\ndrop = [\"203.0.113.0/33\"]\n").unwrap_err().to_string();
        assert!(err.contains("drop") || err.contains("invalid"), "{err}");
        assert!(parse("rrl = 5\n").unwrap_err().to_string().starts_with("rrl: must be a table"));
        let (rest, _) = split(toml::from_str("zone = \"z\"\n[rrl]\nslip = 1\n").unwrap()).unwrap();
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["zone"]);
    }

    #[test]
    fn lists_match_ipv4_as_mapped_and_ipv6() {
        let nets: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap(), "2001:db8:66::/48".parse().unwrap()];
        assert!(contains(&nets, "192.0.2.77".parse().unwrap()));
        assert!(contains(&nets, "::ffff:192.0.2.77".parse().unwrap()));
        assert!(!contains(&nets, "192.0.3.1".parse().unwrap()));
        assert!(contains(&nets, "2001:db8:66:1::5".parse().unwrap()));
        assert_eq!(lpm_key(&nets[0]).0, 120);
        assert_eq!(&lpm_key(&nets[0]).1[10..], &[0xff, 0xff, 192, 0, 2, 0]);
    }
}
