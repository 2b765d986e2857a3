//! Trust-anchor signals in query names (RFC 8145 key-tag queries `_ta-4f66[-9728...]`, RFC 8509 sentinels
//! `root-key-sentinel-is-ta-20326` and `root-key-sentinel-not-ta-20326`): their kinds, names and label
//! prefixes, and the key the programs count them under (TA_SIGNALS). Root operators count them by key tag
//! to watch a KSK rollover.

/// An RFC 8145 key-tag query (`_ta-xxxx`, key tags in hex).
pub const SIGNAL_TA: u32 = 0;
/// An RFC 8509 `root-key-sentinel-is-ta-nnnnn` query.
pub const SIGNAL_SENTINEL_IS_TA: u32 = 1;
/// An RFC 8509 `root-key-sentinel-not-ta-nnnnn` query.
pub const SIGNAL_SENTINEL_NOT_TA: u32 = 2;
/// Every kind.
pub const SIGNAL_KINDS: [u32; 3] = [SIGNAL_TA, SIGNAL_SENTINEL_IS_TA, SIGNAL_SENTINEL_NOT_TA];

/// Label prefix of a key-tag query; groups of four hex digits follow, separated by '-'.
pub const TA_PREFIX: &[u8; 4] = b"_ta-";
/// Label prefix of an is-ta sentinel; five decimal digits follow.
pub const SENTINEL_IS_TA_PREFIX: &[u8; 24] = b"root-key-sentinel-is-ta-";
/// Label prefix of a not-ta sentinel; five decimal digits follow.
pub const SENTINEL_NOT_TA_PREFIX: &[u8; 25] = b"root-key-sentinel-not-ta-";
/// Decimal digits of a sentinel's key tag.
pub const SENTINEL_DIGITS: usize = 5;

/// Signals the programs take from one label: up to this many key tags (a sentinel carries one).
pub const MAX_LABEL_SIGNALS: usize = 4;
/// Entries of the signal map (distinct kind and key tag pairs).
pub const MAX_SIGNALS: u32 = 4096;

/// Entries of the map of (signal, source) pairs seen today (an LRU hash: past this many, the oldest go,
/// and the day's distinct sources per key tag undercount).
pub const MAX_SIGNAL_SOURCES: u32 = 65536;

/// Key of the signal-source map: a signal ([`signal_key`]) and the address that sent it (value: 1).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalSource {
    pub key: u32,
    pub pad: u32,
    pub addr: crate::AddrKey,
}

/// The name of a kind, as `stats` prints it (`ta`, `sentinel-is-ta`, `sentinel-not-ta`); None for a
/// number that is no kind.
pub const fn signal_kind_name(kind: u32) -> Option<&'static str> {
    match kind {
        SIGNAL_TA => Some("ta"),
        SIGNAL_SENTINEL_IS_TA => Some("sentinel-is-ta"),
        SIGNAL_SENTINEL_NOT_TA => Some("sentinel-not-ta"),
        _ => None,
    }
}

/// The label prefix of a kind.
pub const fn signal_prefix(kind: u32) -> Option<&'static [u8]> {
    match kind {
        SIGNAL_TA => Some(TA_PREFIX),
        SIGNAL_SENTINEL_IS_TA => Some(SENTINEL_IS_TA_PREFIX),
        SIGNAL_SENTINEL_NOT_TA => Some(SENTINEL_NOT_TA_PREFIX),
        _ => None,
    }
}

/// Key of the signal map.
pub const fn signal_key(kind: u32, tag: u16) -> u32 {
    (kind << 16) | tag as u32
}

/// (kind, key tag) of a signal map key.
pub const fn signal_of_key(key: u32) -> (u32, u16) {
    (key >> 16, key as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_names_and_prefixes_and_keys_round_trip() {
        for k in SIGNAL_KINDS {
            assert!(signal_kind_name(k).is_some() && signal_prefix(k).is_some());
            assert_eq!(signal_of_key(signal_key(k, 0x4f66)), (k, 0x4f66));
        }
        assert_eq!(signal_kind_name(3), None);
        assert_ne!(signal_kind_name(SIGNAL_SENTINEL_IS_TA), signal_kind_name(SIGNAL_SENTINEL_NOT_TA));
        assert_eq!(SENTINEL_IS_TA_PREFIX.len() + SENTINEL_DIGITS, 29);
    }
}
