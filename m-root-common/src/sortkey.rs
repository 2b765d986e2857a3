//! DNSSEC canonical order of TLD labels (RFC 4034 6.1), as the programs search it for a missing TLD's
//! NSEC interval: the sorted list of sort keys (TLDSORT) and its directory by first two octets (TLDDIR).

use crate::layout::MAX_TLDS;
use crate::tldindex::LabelWords;

/// A TLD label as the sorted list holds it: the label's octets lowercased, without the length octet,
/// zero-padded to 64, read as big-endian words, so comparing the words in order is DNSSEC canonical order
/// (RFC 4034 6.1) for labels without zero octets.
pub type SortKey = [u64; 8];

/// The signed-NXDOMAIN label rule: can a label be ordered by its zero-padded [`SortKey`]? Not if it holds
/// a zero octet (`a\0` and `a` would get the same key). Such a missing label is passed up, and a zone
/// with such a TLD gets no signed NXDOMAIN answers in the table at all.
pub const fn orderable(label: &[u8]) -> bool {
    let mut i = 0;
    while i < label.len() {
        if label[i] == 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// The sort key of a label's octets (already lowercased).
pub fn sort_key(label: &[u8]) -> SortKey {
    let mut b = [0u8; 64];
    let n = if label.len() < 64 { label.len() } else { 64 };
    b[..n].copy_from_slice(&label[..n]);
    let mut k = [0u64; 8];
    let mut i = 0;
    while i < 8 {
        k[i] = u64::from_be_bytes([
            b[8 * i],
            b[8 * i + 1],
            b[8 * i + 2],
            b[8 * i + 3],
            b[8 * i + 4],
            b[8 * i + 5],
            b[8 * i + 6],
            b[8 * i + 7],
        ]);
        i += 1;
    }
    k
}

/// The sort key of a label of `len` octets, from its index key as the programs load it (see
/// [`crate::index_key`]: lowercased, length octet first), or None for a label that is not
/// [`orderable`]: the same key as [`sort_key`], and the same rule, a word at a time.
#[inline(always)]
pub fn index_sort_key(label: &LabelWords, len: usize) -> Option<SortKey> {
    let mut k = [0u64; 8];
    // Whole words, read once each: LLVM would otherwise fuse the shift below into a load one octet
    // further on, which the verifier refuses on the stack (stack accesses must be aligned).
    let w: [u64; 8] = core::array::from_fn(|i| unsafe { core::ptr::read_volatile(&label[i]) });
    for i in 0..8 {
        // Past the label the key is zero padding (k starts zeroed).
        if 8 * i >= len {
            break;
        }
        // Native (little-endian) words: shifting right by one octet drops the first (the length octet).
        let next = if i < 7 { w[i + 1] << 56 } else { 0 };
        let x = (w[i] >> 8) | next;
        // Octets of the label in this word (native order: the first octet is the lowest); len > 8 * i here.
        let valid = if len >= 8 * (i + 1) { 8 } else { len - 8 * i };
        let mask = if valid >= 8 { u64::MAX } else { (1u64 << (8 * valid)) - 1 };
        // A zero octet among the valid ones (the others are set to 0xff): not orderable.
        let v = x | !mask;
        if v.wrapping_sub(0x0101_0101_0101_0101) & !v & 0x8080_8080_8080_8080 != 0 {
            return None;
        }
        k[i] = u64::from_be(x);
    }
    Some(k)
}

/// Entries of [`SortDir`]: one per value of a label's first two octets, one for the end, padding.
pub const SORT_DIR_LEN: usize = 65536 + 8;

// The directory counts TLDs in u16s.
const _: () = assert!(MAX_TLDS <= u16::MAX as u32);

/// The sorted TLD list's directory, one value per generation: `first[p]` is how many TLDs sort before
/// every label whose first two octets are `p` (big-endian; a one-octet label is followed by 0), and
/// `first[65536]` the count. The TLDs a label falls among are `first[p]..first[p + 1]`: the binary search
/// for a missing TLD's NSEC interval starts there, a few steps instead of eleven, each step a branch the
/// CPU cannot predict.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SortDir {
    pub first: [u16; SORT_DIR_LEN],
}

/// The two-octet prefix of a sort key, the directory's index.
#[inline(always)]
pub const fn sort_dir_prefix(key: &SortKey) -> usize {
    (key[0] >> 48) as usize & 0xffff
}

/// The directory of a sorted list of sort keys.
pub fn sort_dir_fill(dir: &mut SortDir, keys: &[SortKey]) {
    let mut k = 0usize;
    let mut p = 0usize;
    while p <= 65536 {
        while k < keys.len() && sort_dir_prefix(&keys[k]) < p {
            k += 1;
        }
        dir.first[p] = k as u16;
        p += 1;
    }
    while p < SORT_DIR_LEN {
        dir.first[p] = k as u16;
        p += 1;
    }
}

/// Index into the sorted TLD list.
pub const fn tld_sorted_index(generation: u32, k: u32) -> u32 {
    generation * MAX_TLDS + (k % MAX_TLDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tldindex::index_key;

    fn labels() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> =
            ["a", "aa", "a-b", "ab", "b", "z", "zz", "xn--p1ai", "0", "9z", "com", "co", "comm", "abcdefgh", "abcdefghi"]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
        v.push(vec![b'q'; 63]);
        v.push(vec![b'q'; 62]);
        v.push(vec![0x7f, 0xff, 0x80]);
        v.push(b"\x01".to_vec());
        v
    }

    #[test]
    fn sort_key_orders_labels_as_dnssec_canonical_order() {
        let ls = labels();
        for a in &ls {
            for b in &ls {
                // RFC 4034 6.1 for single labels: octets compared as unsigned, the shorter first on a tie.
                assert_eq!(sort_key(a).cmp(&sort_key(b)), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn sort_key_is_zero_padded_big_endian() {
        let k = sort_key(b"com");
        assert_eq!(k[0], u64::from_be_bytes(*b"com\0\0\0\0\0"));
        assert!(k[1..].iter().all(|&w| w == 0));
        // The zero padding is what a zero octet cannot be told from.
        assert_eq!(sort_key(b"a\0"), sort_key(b"a"));
        assert!(!orderable(b"a\0") && !orderable(b"\0") && orderable(b"a") && orderable(b""));
    }

    #[test]
    fn index_sort_key_is_sort_key_where_the_label_is_orderable() {
        let mut ls = labels();
        ls.extend([b"a\0".to_vec(), b"\0b".to_vec(), vec![b'x'; 62].into_iter().chain([0]).collect(), b"abcdefg\0x".to_vec()]);
        for l in &ls {
            let want = orderable(l).then(|| sort_key(l));
            assert_eq!(index_sort_key(&index_key(l), l.len()), want, "{l:?}");
        }
    }

    #[test]
    fn the_directory_ranges_hold_exactly_the_keys_of_their_prefix() {
        let mut ls = labels();
        ls.extend((0..300u32).map(|i| vec![b'a' + (i % 26) as u8, b'a' + (i / 26 % 26) as u8, b'0' + (i % 10) as u8]));
        ls.sort();
        ls.dedup();
        let keys: Vec<SortKey> = ls.iter().map(|l| sort_key(l)).collect();
        let mut dir = SortDir { first: [0xffff; SORT_DIR_LEN] };
        sort_dir_fill(&mut dir, &keys);
        assert_eq!(dir.first[65536] as usize, keys.len());
        assert!(dir.first[65536..].iter().all(|&n| n as usize == keys.len()));
        for p in 0..65536usize {
            let (lo, hi) = (dir.first[p] as usize, dir.first[p + 1] as usize);
            assert!(lo <= hi, "{p:#06x}");
            let want: Vec<usize> = (0..keys.len()).filter(|&i| sort_dir_prefix(&keys[i]) == p).collect();
            assert_eq!((lo..hi).collect::<Vec<_>>(), want, "prefix {p:#06x}");
        }
    }

    #[test]
    fn sorted_index_stays_in_its_generation() {
        assert_eq!(tld_sorted_index(1, MAX_TLDS + 2), MAX_TLDS + 2);
    }
}
