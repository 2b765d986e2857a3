//! Record type and class numbers, and where compressible names sit in rdata.

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const SOA: u16 = 6;
pub const PTR: u16 = 12;
pub const MX: u16 = 15;
pub const TXT: u16 = 16;
pub const AAAA: u16 = 28;
pub const OPT: u16 = m_root_common::TYPE_OPT;
pub const DS: u16 = m_root_common::TYPE_DS;
pub const RRSIG: u16 = 46;
pub const NSEC: u16 = 47;
pub const DNSKEY: u16 = 48;
pub const ZONEMD: u16 = 63;
pub const ANY: u16 = 255;
pub const AXFR: u16 = 252;
pub const IXFR: u16 = 251;

pub const CLASS_IN: u16 = m_root_common::CLASS_IN;
pub const CLASS_CH: u16 = 3;

/// Meta and query-only types (RFC 6895 3.1: 128-255, and OPT), and the reserved type 0: never stored
/// data. The programs' rule, m_root_common::is_meta.
pub use m_root_common::is_meta;

/// Where the names a server may compress sit in the rdata of `rtype` (RFC 3597 4: only RFC 1035 types).
pub enum RdataNames {
    /// No compressible name.
    None,
    /// The whole rdata is one name (NS, CNAME, PTR).
    Whole,
    /// Two names, then fixed octets (SOA).
    TwoThenRest,
    /// Two octets, then a name (MX).
    SkipTwoThenName,
}

pub fn rdata_names(rtype: u16) -> RdataNames {
    match rtype {
        NS | CNAME | PTR => RdataNames::Whole,
        SOA => RdataNames::TwoThenRest,
        MX => RdataNames::SkipTwoThenName,
        _ => RdataNames::None,
    }
}

/// Mnemonic for the types a root zone holds, for messages and the dig-like printer.
pub fn type_name(rtype: u16) -> String {
    match rtype {
        A => "A".into(),
        NS => "NS".into(),
        CNAME => "CNAME".into(),
        SOA => "SOA".into(),
        PTR => "PTR".into(),
        MX => "MX".into(),
        TXT => "TXT".into(),
        AAAA => "AAAA".into(),
        OPT => "OPT".into(),
        DS => "DS".into(),
        RRSIG => "RRSIG".into(),
        NSEC => "NSEC".into(),
        DNSKEY => "DNSKEY".into(),
        ZONEMD => "ZONEMD".into(),
        ANY => "ANY".into(),
        10 => "NULL".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        _ => format!("TYPE{rtype}"),
    }
}

/// Parse a type mnemonic or `TYPEnnn`.
pub fn type_from_name(s: &str) -> Option<u16> {
    let up = s.to_ascii_uppercase();
    if let Some(n) = up.strip_prefix("TYPE") {
        return n.parse().ok();
    }
    (0..=u16::MAX).take(300).find(|&t| type_name(t) == up).or(match up.as_str() {
        "HTTPS" => Some(65),
        "SRV" => Some(33),
        _ => None,
    })
}
