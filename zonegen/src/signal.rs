//! Trust-anchor signals in query names: RFC 8145 key-tag queries (`_ta-4f66[-9728...]`) and RFC 8509
//! sentinel queries (`root-key-sentinel-is-ta-20326`, `root-key-sentinel-not-ta-20326`). Root operators
//! count them by key tag to watch a KSK rollover. The kinds, their names and label prefixes are
//! m_root_common's (the programs count the same kinds); this is userspace's parser.

use m_root_common::{
    MAX_LABEL_SIGNALS, SENTINEL_DIGITS, SENTINEL_IS_TA_PREFIX, SENTINEL_NOT_TA_PREFIX, SIGNAL_SENTINEL_IS_TA, SIGNAL_SENTINEL_NOT_TA,
    SIGNAL_TA, TA_PREFIX, signal_kind_name,
};

/// Kinds of signal (m_root_common's, as u8).
pub const TA_KEYTAG: u8 = SIGNAL_TA as u8;
pub const SENTINEL_IS_TA: u8 = SIGNAL_SENTINEL_IS_TA as u8;
pub const SENTINEL_NOT_TA: u8 = SIGNAL_SENTINEL_NOT_TA as u8;

/// The signals a label carries: (kind, key tag). Case-insensitive; malformed labels carry none.
pub fn signals(label: &[u8]) -> Vec<(u8, u16)> {
    let l = label.to_ascii_lowercase();
    if let Some(rest) = l.strip_prefix(&TA_PREFIX[..]) {
        let mut tags = Vec::new();
        for group in rest.split(|&c| c == b'-') {
            // Four hex digits each, and no more tags than the programs count (they keep
            // MAX_LABEL_SIGNALS per query): a label the kernel would not count is not counted here.
            if group.len() != 4 || !group.iter().all(u8::is_ascii_hexdigit) || tags.len() == MAX_LABEL_SIGNALS {
                return Vec::new();
            }
            let t = group.iter().fold(0u16, |t, &c| (t << 4) | (c as char).to_digit(16).unwrap_or(0) as u16);
            tags.push((TA_KEYTAG, t));
        }
        return tags;
    }
    for (prefix, kind) in [(&SENTINEL_IS_TA_PREFIX[..], SENTINEL_IS_TA), (&SENTINEL_NOT_TA_PREFIX[..], SENTINEL_NOT_TA)] {
        if let Some(d) = l.strip_prefix(prefix)
            && d.len() == SENTINEL_DIGITS
            && d.iter().all(u8::is_ascii_digit)
            && let Ok(t) = std::str::from_utf8(d).unwrap_or("x").parse::<u32>()
            && t <= u16::MAX as u32
        {
            return vec![(kind, t as u16)];
        }
    }
    Vec::new()
}

/// The name of a kind as `stats` prints it (a number that is no kind reads as the last kind).
pub fn kind_name(kind: u8) -> &'static str {
    match signal_kind_name(kind as u32) {
        Some(name) => name,
        None => "sentinel-not-ta",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc8145_and_rfc8509() {
        assert_eq!(signals(b"_ta-4f66"), vec![(TA_KEYTAG, 0x4f66)]);
        assert_eq!(signals(b"_TA-4F66-9728"), vec![(TA_KEYTAG, 0x4f66), (TA_KEYTAG, 0x9728)]);
        assert_eq!(signals(b"root-key-sentinel-is-ta-20326"), vec![(SENTINEL_IS_TA, 20326)]);
        assert_eq!(signals(b"root-key-sentinel-not-ta-38696"), vec![(SENTINEL_NOT_TA, 38696)]);
        assert!(signals(b"_ta-4f6").is_empty());
        assert!(signals(b"_ta-+4f6").is_empty(), "hex digits only (the programs refuse a sign)");
        assert_eq!(signals(b"_ta-0001-0002-0003-0004").len(), 4);
        assert!(signals(b"_ta-0001-0002-0003-0004-0005").is_empty(), "no more tags than the programs count");
        assert!(signals(b"_ta-4f66-").is_empty());
        assert!(signals(b"root-key-sentinel-is-ta-2032").is_empty());
        assert!(signals(b"root-key-sentinel-is-ta-99999").is_empty());
        assert!(signals(b"example").is_empty());
    }

    #[test]
    fn kind_names_are_m_root_commons() {
        assert_eq!(kind_name(TA_KEYTAG), "ta");
        assert_eq!(kind_name(SENTINEL_IS_TA), "sentinel-is-ta");
        assert_eq!(kind_name(SENTINEL_NOT_TA), "sentinel-not-ta");
    }
}
