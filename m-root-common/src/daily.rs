//! Per-UTC-day counts for RSSAC002 (version 5), kept by the programs for what they answer and by
//! userspace for the rest, with the same rules: message sizes in RSSAC002's 16-octet buckets, and unique
//! sources as HyperLogLog registers (a fleet merges them by taking the larger value per register, so the
//! registers are what an instance exports, not its estimate).
//!
//! Two slots, one per day parity: userspace says which slot is today's (the [`crate::maps::DAY_SLOT`] map), so at 00:00 UTC it
//! switches the programs to the other slot and reads yesterday's without racing them.

use crate::AddrKey;
use crate::cookie::addr_words;

/// RSSAC002's size bucket width.
pub const SIZE_BUCKET: usize = 16;
/// Request sizes: `0-15` .. `272-287`, then `288-`.
pub const REQUEST_BUCKETS: usize = 19;
/// Response sizes: `0-15` .. `4080-4095`, then `4096-`.
pub const RESPONSE_BUCKETS: usize = 257;

/// The bucket of a DNS request of `len` octets (the DNS message, no transport framing).
#[inline(always)]
pub const fn request_bucket(len: usize) -> usize {
    let b = len / SIZE_BUCKET;
    if b < REQUEST_BUCKETS { b } else { REQUEST_BUCKETS - 1 }
}

/// The bucket of a DNS response of `len` octets.
#[inline(always)]
pub const fn response_bucket(len: usize) -> usize {
    let b = len / SIZE_BUCKET;
    if b < RESPONSE_BUCKETS { b } else { RESPONSE_BUCKETS - 1 }
}

/// HyperLogLog precision: 2^14 registers per set, a standard error of 1.04 / sqrt(2^14) = 0.81 %.
pub const HLL_BITS: u32 = 14;
pub const HLL_REGISTERS: usize = 1 << HLL_BITS;

/// The three source sets RSSAC002 counts: IPv4 addresses, IPv6 addresses, IPv6 /64 prefixes.
pub const SOURCES_IPV4: u32 = 0;
pub const SOURCES_IPV6: u32 = 1;
pub const SOURCES_IPV6_64: u32 = 2;
pub const SOURCE_SETS: u32 = 3;

/// One set's registers (a per-CPU map value: merged over CPUs, as over instances, by the maximum).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HllRegisters {
    pub r: [u8; HLL_REGISTERS],
}

/// Slots per set in the sources map: one per day parity. Entry `slot * SOURCE_SETS + set`.
pub const DAY_SLOTS: u32 = 2;

/// The programs' per-day counts for one slot (a per-CPU map value; summed over CPUs). UDP only: the
/// programs answer nothing else. A query is counted once, by the hook that disposed of it (answered it,
/// or dropped it by rate limiting or the drop list); one passed up is userspace's to count.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyCounts {
    /// Queries received, [IPv4, IPv6].
    pub queries: [u64; 2],
    /// Responses sent, [IPv4, IPv6].
    pub responses: [u64; 2],
    /// Responses by rcode, in [`KERNEL_RCODES`]' order (the only three the programs send).
    pub rcodes: [u64; KERNEL_RCODES.len()],
    pub request_sizes: [u64; REQUEST_BUCKETS],
    pub response_sizes: [u64; RESPONSE_BUCKETS],
}

impl DailyCounts {
    pub const ZERO: DailyCounts = DailyCounts {
        queries: [0; 2],
        responses: [0; 2],
        rcodes: [0; KERNEL_RCODES.len()],
        request_sizes: [0; REQUEST_BUCKETS],
        response_sizes: [0; RESPONSE_BUCKETS],
    };

    /// Add `o` (another CPU's counts) to these.
    pub fn add(&mut self, o: &DailyCounts) {
        fn add<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = x.wrapping_add(*y);
            }
        }
        add(&mut self.queries, &o.queries);
        add(&mut self.responses, &o.responses);
        add(&mut self.rcodes, &o.rcodes);
        add(&mut self.request_sizes, &o.request_sizes);
        add(&mut self.response_sizes, &o.response_sizes);
    }
}

impl HllRegisters {
    pub const ZERO: HllRegisters = HllRegisters { r: [0; HLL_REGISTERS] };

    /// Merge `o` (another CPU's or instance's registers): the larger value per register.
    pub fn merge(&mut self, o: &HllRegisters) {
        for (a, b) in self.r.iter_mut().zip(&o.r) {
            *a = (*a).max(*b);
        }
    }
}

/// The rcodes the programs send, in the order [`DailyCounts::rcodes`] keeps them: NOERROR, NXDOMAIN,
/// and BADCOOKIE (23, extended) for a rate-limited slip to a query with a cookie.
pub const KERNEL_RCODES: [u16; 3] = [0, 3, 23];
pub const RCODE_NOERROR: usize = 0;
pub const RCODE_NXDOMAIN: usize = 1;
pub const RCODE_BADCOOKIE: usize = 2;

/// The value of the one-entry day map when nothing is counted: what a new map holds, so programs
/// loaded by a daemon without `[rssac002]` (or before it set the day) count nothing.
pub const DAY_OFF: u32 = 0;

/// The day map's value for counting into `slot` (one more than the slot, as zero is [`DAY_OFF`]).
pub const fn day_value(slot: u32) -> u32 {
    slot + 1
}

/// The slot a day map value counts into, if any.
pub const fn slot_of_day_value(v: u32) -> Option<u32> {
    if v == DAY_OFF || v > DAY_SLOTS { None } else { Some(v - 1) }
}

/// The slot of UTC day `day` (days since 1970-01-01).
pub const fn day_slot(day: u64) -> u32 {
    (day % DAY_SLOTS as u64) as u32
}

/// The 64-bit hash a source is registered under: a murmur3 finaliser over the two words, cheap in the
/// programs (shifts and two multiplies per word) and well mixed in every bit, as HyperLogLog needs.
#[inline(always)]
pub const fn hll_hash(words: [u64; 2]) -> u64 {
    fmix64(fmix64(words[0] ^ 0x9e37_79b9_7f4a_7c15) ^ words[1])
}

#[inline(always)]
const fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// A hash's register (its top [`HLL_BITS`] bits) and rank (one more than the leading zeros of the rest,
/// at most 64 - HLL_BITS + 1). Leading zeros by halving, six steps without a loop.
#[inline(always)]
pub const fn hll_index_rank(h: u64) -> (usize, u8) {
    let index = (h >> (64 - HLL_BITS)) as usize;
    let mut w = (h << HLL_BITS) | (1 << (HLL_BITS - 1));
    let mut zeros = 0u8;
    if w >> 32 == 0 {
        zeros += 32;
        w <<= 32;
    }
    if w >> 48 == 0 {
        zeros += 16;
        w <<= 16;
    }
    if w >> 56 == 0 {
        zeros += 8;
        w <<= 8;
    }
    if w >> 60 == 0 {
        zeros += 4;
        w <<= 4;
    }
    if w >> 62 == 0 {
        zeros += 2;
        w <<= 2;
    }
    if w >> 63 == 0 {
        zeros += 1;
    }
    (index, zeros + 1)
}

/// The source sets a query from `src` is registered in, with the hash for each: IPv4, or IPv6 and its /64.
/// At most two; the second is `None` for IPv4.
#[inline(always)]
pub const fn source_hashes(src: &AddrKey, ipv6: bool) -> [(u32, u64); 2] {
    source_hashes_by_words(addr_words(src), ipv6)
}

/// [`source_hashes`] of the address as [`addr_words`] gives it: the programs load the two words whole
/// (an [`AddrKey`] read octet by octet is some fifty instructions).
#[inline(always)]
pub const fn source_hashes_by_words(w: [u64; 2], ipv6: bool) -> [(u32, u64); 2] {
    if ipv6 {
        [(SOURCES_IPV6, hll_hash(w)), (SOURCES_IPV6_64, hll_hash([w[0], 0]))]
    } else {
        // The mapped address's second word holds the IPv4 address; the first is the same for all.
        [(SOURCES_IPV4, hll_hash(w)), (SOURCE_SETS, 0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_rssac002s() {
        assert_eq!(request_bucket(0), 0);
        assert_eq!(request_bucket(15), 0);
        assert_eq!(request_bucket(16), 1);
        assert_eq!(request_bucket(287), 17);
        assert_eq!(request_bucket(288), 18);
        assert_eq!(request_bucket(65535), 18);
        assert_eq!(response_bucket(4095), 255);
        assert_eq!(response_bucket(4096), 256);
        assert_eq!(response_bucket(65535), 256);
    }

    #[test]
    fn rank_is_leading_zeros_plus_one() {
        for (h, idx, rank) in [
            (0u64, 0usize, 51u8),
            (u64::MAX, HLL_REGISTERS - 1, 1),
            (1 << (63 - HLL_BITS), 0, 1),
            (1, 0, 50),
            ((5u64 << 50) | (1 << 40), 5, 10),
        ] {
            assert_eq!(hll_index_rank(h), (idx, rank), "{h:#x}");
            let rest = (h << HLL_BITS) | (1 << (HLL_BITS - 1));
            assert_eq!(rest.leading_zeros() as u8 + 1, rank);
        }
    }

    #[test]
    fn sets_and_slots() {
        let mut v6 = AddrKey { addr: [0; 16] };
        v6.addr[0] = 0x20;
        let mut other_host = v6;
        other_host.addr[15] = 1;
        let a = source_hashes(&v6, true);
        let b = source_hashes(&other_host, true);
        assert_eq!((a[0].0, a[1].0), (SOURCES_IPV6, SOURCES_IPV6_64));
        assert_ne!(a[0].1, b[0].1, "two hosts");
        assert_eq!(a[1].1, b[1].1, "one /64");
        assert_eq!(source_hashes(&v6, false)[1].0, SOURCE_SETS, "no second set for IPv4");
        assert_eq!((day_slot(20424), day_slot(20425)), (0, 1));
        for slot in 0..DAY_SLOTS {
            assert_eq!(slot_of_day_value(day_value(slot)), Some(slot));
        }
        assert_eq!(slot_of_day_value(DAY_OFF), None, "a new map counts nothing");
        assert_eq!(slot_of_day_value(DAY_SLOTS + 1), None);
    }
}
