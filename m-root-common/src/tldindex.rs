//! The TLD index: an open-addressing hash table in an array map, keyed by the TLD label as eight words.
//! Array lookups are inlined by the JIT; a hash map lookup with a 64-octet key cost 45-90 ns here.

use crate::dns::MAX_LABEL;
use crate::layout::MAX_TLDS;

/// Slots of the TLD index per generation (a power of two, about three times MAX_TLDS: short probes).
pub const TLD_BUCKETS: u32 = 8192;
/// Longest probe sequence in the TLD index; userspace picks a hash seed under which no TLD needs more.
pub const TLD_MAX_PROBE: u32 = 4;

const _: () = assert!(TLD_BUCKETS.is_power_of_two() && TLD_BUCKETS >= 2 * MAX_TLDS);

/// A TLD label as the index stores it: the label in wire form (length octet, then the label lowercased),
/// zero-padded to 64 octets, read as eight native-endian words.
pub type LabelWords = [u64; 8];

const _: () = assert!(core::mem::size_of::<LabelWords>() == MAX_LABEL + 1);

/// One slot of the TLD index ([`TLD_BUCKETS`] slots per generation, linear probing).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TldEntry {
    pub label: LabelWords,
    /// The TLD's ordinal in its generation (where its answers are).
    pub ordinal: u32,
    /// 1 when the slot holds a TLD; an empty slot ends a probe.
    pub used: u32,
}

impl TldEntry {
    pub const EMPTY: TldEntry = TldEntry { label: [0; 8], ordinal: 0, used: 0 };
}

/// The index key of a label's octets (at most [`MAX_LABEL`]; longer ones are cut): length octet and
/// label, lowercased, zero-padded, as native-endian words.
pub fn index_key(label: &[u8]) -> LabelWords {
    let n = if label.len() < MAX_LABEL { label.len() } else { MAX_LABEL };
    let mut b = [0u8; MAX_LABEL + 1];
    b[0] = n as u8;
    let mut i = 0;
    while i < n {
        b[1 + i] = label[i].to_ascii_lowercase();
        i += 1;
    }
    core::array::from_fn(|w| {
        u64::from_ne_bytes([b[8 * w], b[8 * w + 1], b[8 * w + 2], b[8 * w + 3], b[8 * w + 4], b[8 * w + 5], b[8 * w + 6], b[8 * w + 7]])
    })
}

/// ASCII-lowercase eight octets at once (RFC 4343: only A-Z fold).
#[inline(always)]
pub const fn lowercase_word(x: u64) -> u64 {
    let ascii = !x & 0x8080_8080_8080_8080;
    let low7 = x & 0x7f7f_7f7f_7f7f_7f7f;
    // Per byte: high bit set when the byte is >= 'A' and (separately) when > 'Z'.
    let ge_a = low7 + 0x3f3f_3f3f_3f3f_3f3f; // 0x80 - 'A' (0x41)
    let gt_z = low7 + 0x2525_2525_2525_2525; // 0x80 - 'Z' - 1 (0x5b)
    let upper = (ge_a ^ gt_z) & ascii & 0x8080_8080_8080_8080;
    x | (upper >> 2)
}

/// The TLD index's hash: a multiply-xor mix, seeded per generation, of the first label word (length
/// octet and seven octets) and of the other seven, each rotated by its place and folded together by xor
/// (rotated, so that equal words in different places do not cancel). Two dependent multiplies, not
/// eight: most TLDs fit in the first two words, and the full key is compared on every probe anyway.
#[inline(always)]
pub fn tld_hash(w: &LabelWords, seed: u64) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let rest = w[1]
        ^ w[2].rotate_left(8)
        ^ w[3].rotate_left(16)
        ^ w[4].rotate_left(24)
        ^ w[5].rotate_left(32)
        ^ w[6].rotate_left(40)
        ^ w[7].rotate_left(48);
    let mut h = (seed ^ K ^ w[0]).wrapping_mul(K);
    h ^= h >> 29;
    h = (h ^ rest).wrapping_mul(K);
    h ^= h >> 29;
    (h >> 32) as u32 & (TLD_BUCKETS - 1)
}

/// Index of a TLD-index slot.
pub const fn tld_bucket_index(generation: u32, bucket: u32) -> u32 {
    generation * TLD_BUCKETS + (bucket & (TLD_BUCKETS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels as a root zone's look: short, lowercase letters and digits, some with a hyphen.
    fn synthetic_labels(n: usize) -> Vec<Vec<u8>> {
        let abc = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|i| {
                let mut l = vec![abc[i % 26], abc[(i / 26) % 36]];
                if i >= 26 * 36 {
                    l.push(abc[(i / (26 * 36)) % 36]);
                }
                if i % 7 == 0 {
                    l.extend_from_slice(b"-xn");
                }
                l
            })
            .collect()
    }

    #[test]
    fn index_key_is_the_wire_label_lowercased_and_padded() {
        let k = index_key(b"Com");
        let b: Vec<u8> = k.iter().flat_map(|w| w.to_ne_bytes()).collect();
        assert_eq!(&b[..4], b"\x03com");
        assert!(b[4..].iter().all(|&c| c == 0));
        assert_eq!(index_key(&[b'x'; 63])[7].to_ne_bytes()[7], b'x');
    }

    #[test]
    fn lowercase_word_folds_exactly_a_to_z() {
        for c in 0..=255u8 {
            let w = u64::from_ne_bytes([c, b'A', c, 0x80 | c, b'Z', c, b'@', b'[']);
            let want = u64::from_ne_bytes([c, b'A', c, 0x80 | c, b'Z', c, b'@', b'['].map(|b| b.to_ascii_lowercase()));
            assert_eq!(lowercase_word(w), want, "octet {c:#04x}");
        }
    }

    #[test]
    fn tld_hash_is_deterministic_and_seeded() {
        let k = index_key(b"example");
        assert_eq!(tld_hash(&k, 7), tld_hash(&k, 7));
        let seeds: std::collections::HashSet<u32> = (0..64).map(|s| tld_hash(&k, s)).collect();
        assert!(seeds.len() > 56, "a new seed moves the label: {} buckets for 64 seeds", seeds.len());
    }

    #[test]
    fn tld_hash_spreads_labels_over_the_buckets() {
        let labels = synthetic_labels(MAX_TLDS as usize);
        let keys: Vec<LabelWords> = labels.iter().map(|l| index_key(l)).collect();
        let mut load = vec![0u32; TLD_BUCKETS as usize];
        for k in &keys {
            let h = tld_hash(k, 0);
            assert!(h < TLD_BUCKETS);
            load[h as usize] += 1;
        }
        // A uniform hash fills m (1 - e^(-n/m)) buckets: 2,529 of 8,192 for 3,072 labels.
        let used = load.iter().filter(|&&n| n > 0).count();
        assert!(used > 2_350, "{used} buckets used");
        assert!(*load.iter().max().unwrap() <= 6, "longest chain {}", load.iter().max().unwrap());
        // And, for a root zone's count of TLDs, a seed is found under which linear probing stays within
        // TLD_MAX_PROBE (as userspace builds the index).
        let fits = |seed: u64| {
            let mut used = vec![false; TLD_BUCKETS as usize];
            keys[..1_500].iter().all(|k| {
                let h = tld_hash(k, seed);
                match (0..TLD_MAX_PROBE).map(|i| ((h + i) & (TLD_BUCKETS - 1)) as usize).find(|&b| !used[b]) {
                    Some(b) => {
                        used[b] = true;
                        true
                    }
                    None => false,
                }
            })
        };
        assert!((0..10_000).any(fits));
    }

    #[test]
    fn bucket_index_stays_in_its_generation() {
        assert_eq!(tld_bucket_index(1, TLD_BUCKETS + 3), TLD_BUCKETS + 3);
        assert_eq!(tld_bucket_index(0, u32::MAX), TLD_BUCKETS - 1);
    }
}
