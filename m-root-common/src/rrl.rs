//! Response rate limiting: the rule both kernel programs and userspace apply before an answer goes out
//! over UDP, written once.
//!
//! A bucket per (source prefix, response class). Each bucket runs GCRA (the generic cell rate algorithm,
//! a token bucket kept as one number): it holds the theoretical arrival time `tat` of the next response;
//! a response at `now` is allowed when `tat - now` stays within the burst tolerance, and moves `tat` on by
//! one emission interval (1 s / rate). So `rate` responses a second pass, after a burst of `burst`; no
//! division and one word of state per bucket. Limited responses are dropped, but every `slip`-th is sent
//! as a minimal TC=1 answer (header, question, OPT) so a real resolver behind a spoofed prefix retries
//! over TCP.

use crate::coverage::AnswerKind;
use crate::layout::{MAX_TLDS, TLD_SLOTS};

/// Buckets the kernel keeps: slots of an array, two per key by a seeded hash ([`slots_of`]); a new key
/// takes over the emptier of its two, so a flood of spoofed sources never fills anything up and does
/// not displace a bucket that is limiting. An array slot costs a few instructions where an
/// LRU hash map's lookup cost most of the limiter's time (measured in bench xdp-cost).
pub const RRL_BUCKETS: u32 = 262_144;
const _: () = assert!(RRL_BUCKETS.is_power_of_two());

/// One slot of the kernel's bucket table: whose bucket it holds, and the bucket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrlSlot {
    pub key: RrlKey,
    pub pad: u32,
    pub bucket: RrlBucket,
}

/// The two slots `key` may live in, in a table of [`RRL_BUCKETS`], under `seed` (random per start, so
/// a flood cannot aim at another source's slots). A key not in either takes over the one whose bucket
/// holds less (the smaller `tat`: an idle one first), so a bucket that is limiting, which holds the
/// most, is not displaced by a flood of new sources.
#[inline(always)]
pub const fn slots_of(key: &RrlKey, seed: u64) -> (u32, u32) {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    let words = [key.addr[0], key.addr[1], key.addr[2], key.addr[3], key.class];
    let mut i = 0;
    while i < words.len() {
        h = (h ^ words[i] as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 31;
        i += 1;
    }
    ((h as u32) & (RRL_BUCKETS - 1), ((h >> 32) as u32) & (RRL_BUCKETS - 1))
}

/// Where `key`'s bucket is, given its two slots ([`slots_of`]): (in the second slot, a new bucket). A
/// key in neither takes over the one holding less, the smaller `tat` (an idle one first), with a new
/// bucket: a bucket that is limiting holds the most and is not displaced by a flood of new keys. (The
/// empty slot's key, all zero, is no key's: every class is non-zero.)
#[inline(always)]
pub fn slot_choice(s1: &RrlSlot, s2: &RrlSlot, key: &RrlKey) -> (bool, bool) {
    if s1.key == *key {
        (false, false)
    } else if s2.key == *key {
        (true, false)
    } else {
        (s1.bucket.tat > s2.bucket.tat, true)
    }
}

/// [`RrlConf::flags`]: limiting is on.
pub const RRL_ON: u32 = 1;
/// [`RrlConf::flags`]: count what would be limited, limit nothing.
pub const RRL_DRY_RUN: u32 = 2;
/// [`RrlConf::flags`]: the exempt list has entries (look it up).
pub const RRL_HAS_EXEMPT: u32 = 4;
/// [`RrlConf::flags`]: the drop list has entries (look it up).
pub const ACL_HAS_DROP: u32 = 8;

/// What userspace tells the programs about limiting (one entry of the RRL_CONF map). All zero: off.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrlConf {
    /// Nanoseconds per response (1e9 / responses per second).
    pub interval_ns: u64,
    /// How far `tat` may run ahead of now: (burst - 1) intervals.
    pub tolerance_ns: u64,
    /// Every `slip`-th limited response is sent as TC=1; 0 never.
    pub slip: u32,
    pub flags: u32,
    /// Masks of the source prefixes buckets are kept for, IPv4 then IPv6, as words of the address in
    /// network order (IPv4 in word 3 of `::ffff:a.b.c.d`). Indexed by the family, not chosen by a
    /// branch: the programs' verifier would split every later state by family.
    pub masks: [[u32; 4]; 2],
    /// How often (ns) a bucket may report that it limits (the daemon logs each report).
    pub report_ns: u64,
    /// Seed of the bucket table's hash ([`slot_of`]).
    pub seed: u64,
}

impl RrlConf {
    /// The settings as numbers: `rate` responses per second and prefix, bursts of `rate`.
    pub const fn new(rate: u32, slip: u32, v4_prefix: u32, v6_prefix: u32, dry_run: bool) -> RrlConf {
        let interval_ns = if rate == 0 { 0 } else { 1_000_000_000 / rate as u64 };
        let burst = if rate == 0 { 1 } else { rate as u64 };
        RrlConf {
            interval_ns,
            tolerance_ns: interval_ns * (burst - 1),
            slip,
            flags: if rate == 0 {
                0
            } else if dry_run {
                RRL_ON | RRL_DRY_RUN
            } else {
                RRL_ON
            },
            masks: [prefix_mask(96 + if v4_prefix > 32 { 32 } else { v4_prefix }), prefix_mask(v6_prefix)],
            report_ns: 30_000_000_000,
            seed: 0,
        }
    }
    pub const fn on(&self) -> bool {
        self.flags & RRL_ON != 0 && self.interval_ns != 0
    }
}

/// The mask of the first `len` bits of a 16-octet address, as four words in network order.
pub const fn prefix_mask(len: u32) -> [u32; 4] {
    let mut m = [0u32; 4];
    let mut i = 0;
    while i < 4 {
        let bits = len as i64 - 32 * i as i64;
        m[i] = if bits >= 32 {
            u32::MAX
        } else if bits <= 0 {
            0
        } else {
            (u32::MAX << (32 - bits)).to_be()
        };
        i += 1;
    }
    m
}

/// Entries each list (exempt, drop) holds. Their key is aya's LPM trie key over the 16-octet address,
/// IPv4 as `::ffff:a.b.c.d` (so an IPv4 /24 is a 120-bit prefix).
pub const LIST_ENTRIES: u32 = 16_384;

/// Key of a bucket: the masked source address and the response class.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RrlKey {
    pub addr: [u32; 4],
    pub class: u32,
}

/// A bucket: GCRA's theoretical arrival time (ns, monotonic), limited responses so far (for slip), and
/// when it last reported limiting.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrlBucket {
    pub tat: u64,
    pub reported: u64,
    pub limited: u32,
    pub pad: u32,
}

/// What a report of a limiting bucket says (the RRL_REPORTS ring buffer, read and logged by the daemon).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrlReport {
    pub key_addr: [u32; 4],
    pub class: u32,
    /// Responses limited in this bucket since it was made.
    pub limited: u32,
}

/// Response classes: a flood for one name must not starve another. The class is the kind in the top
/// byte and, for answers about one TLD, that TLD's ordinal in the table (referral and DS alike); for the
/// apex, the query type.
pub const CLASS_TLD: u32 = 1 << 24;
pub const CLASS_NXDOMAIN: u32 = 2 << 24;
pub const CLASS_APEX: u32 = 3 << 24;
pub const CLASS_ERROR: u32 = 4 << 24;

/// The class of an answer about the TLD of ordinal `tld` (its slot of the table does not matter: a
/// referral and a DS answer for `com` share one bucket).
#[inline(always)]
pub const fn class_of_tld(tld: u32) -> u32 {
    CLASS_TLD | (tld & 0xff_ffff)
}
/// The class of an apex answer (by query type: DNSKEY floods do not starve SOA).
#[inline(always)]
pub const fn class_of_apex(qtype: u16) -> u32 {
    CLASS_APEX | qtype as u32
}
/// The class of the TLD answer at `slot_index` (an index into a generation's TLD slots).
#[inline(always)]
pub const fn class_of_tld_slot(slot_index: u32) -> u32 {
    class_of_tld(slot_index / TLD_SLOTS)
}
const _: () = assert!(MAX_TLDS < 1 << 24);

/// The class of a table answer: its kind, the answer's index within its generation (which names the
/// TLD for TLD answers), and the query type.
#[inline(always)]
pub const fn class_of(kind: AnswerKind, index_in_generation: u32, qtype: u16) -> u32 {
    match kind {
        AnswerKind::Tld(_) => class_of_tld_slot(index_in_generation),
        AnswerKind::Apex => class_of_apex(qtype),
        AnswerKind::Nxdomain | AnswerKind::SignedNxdomain => CLASS_NXDOMAIN,
    }
}

/// The counter of a limited response of `class` (dropped, or slipped), for the classes the programs
/// answer (TLD, NXDOMAIN, apex); None for others.
pub const fn class_counter(slipped: bool, class: u32) -> Option<crate::Counter> {
    use crate::Counter::*;
    Some(match (class & 0xff00_0000, slipped) {
        (CLASS_TLD, false) => RrlDroppedTld,
        (CLASS_NXDOMAIN, false) => RrlDroppedNxdomain,
        (CLASS_APEX, false) => RrlDroppedApex,
        (CLASS_TLD, true) => RrlSlippedTld,
        (CLASS_NXDOMAIN, true) => RrlSlippedNxdomain,
        (CLASS_APEX, true) => RrlSlippedApex,
        _ => return None,
    })
}

/// The limiter's Drop verdict as a number (never in a hint: a dropped query is not handed on).
pub const HINT_DROP: u32 = 3;

/// What to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Over the limit: send the minimal TC=1 answer instead.
    Slip,
    /// Over the limit: send nothing.
    Drop,
    /// Not charged: this hook does not send it (XDP with XDP_TX off); the one that does charges it.
    Unchecked,
}

impl Verdict {
    /// As XDP's hint to TC carries it.
    #[inline(always)]
    pub const fn hint(self) -> u32 {
        match self {
            Verdict::Send => crate::control::HINT_RRL_SEND,
            Verdict::Slip => crate::control::HINT_RRL_SLIP,
            Verdict::Drop | Verdict::Unchecked => crate::control::HINT_RRL_NONE,
        }
    }
    /// As the hint, with [`HINT_DROP`] for Drop (what the programs' limiter returns).
    #[inline(always)]
    pub const fn hint_or_drop(self) -> u32 {
        match self {
            Verdict::Drop => HINT_DROP,
            v => v.hint(),
        }
    }
    /// Back from the hint: None when the query was not charged.
    #[inline(always)]
    pub const fn from_hint(h: u32) -> Option<Verdict> {
        match h {
            crate::control::HINT_RRL_SEND => Some(Verdict::Send),
            crate::control::HINT_RRL_SLIP => Some(Verdict::Slip),
            _ => None,
        }
    }
}

/// GCRA for a response at `now` to a bucket at `tat`: `Some(new tat)` when it may be sent, None when
/// over the limit (the bucket stays as it is).
#[inline(always)]
pub const fn gcra(tat: u64, now: u64, interval_ns: u64, tolerance_ns: u64) -> Option<u64> {
    let t = if tat > now { tat } else { now };
    if t - now > tolerance_ns { None } else { Some(t + interval_ns) }
}

/// The verdict on the `limited`-th limited response of a bucket (counting from 1).
#[inline(always)]
pub const fn slip_verdict(limited: u32, slip: u32) -> Verdict {
    if slip != 0 && limited.is_multiple_of(slip) { Verdict::Slip } else { Verdict::Drop }
}

/// Apply the rule to `b` for a response at `now`: the verdict, and whether the bucket should report.
#[inline(always)]
pub fn charge(b: &mut RrlBucket, now: u64, c: &RrlConf) -> (Verdict, bool) {
    match gcra(b.tat, now, c.interval_ns, c.tolerance_ns) {
        Some(t) => {
            b.tat = t;
            (Verdict::Send, false)
        }
        None => {
            b.limited = b.limited.wrapping_add(1);
            let report = now.wrapping_sub(b.reported) >= c.report_ns || b.reported == 0;
            if report {
                b.reported = now;
            }
            (slip_verdict(b.limited, c.slip), report)
        }
    }
}

/// The bucket key of a source address (its four words as loaded: 16 octets, IPv4 as
/// `::ffff:a.b.c.d`) for `class`.
#[inline(always)]
pub fn key_of(words: [u32; 4], ipv6: bool, class: u32, c: &RrlConf) -> RrlKey {
    let m = &c.masks[ipv6 as usize & 1];
    RrlKey { addr: [words[0] & m[0], words[1] & m[1], words[2] & m[2], words[3] & m[3]], class }
}

/// The four words of a 16-octet address as key_of takes them.
pub fn words_of(addr: &[u8; 16]) -> [u32; 4] {
    let w = |i: usize| u32::from_ne_bytes([addr[4 * i], addr[4 * i + 1], addr[4 * i + 2], addr[4 * i + 3]]);
    [w(0), w(1), w(2), w(3)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gets_rate_answers_then_every_slip_th_limited_one_is_tc() {
        let c = RrlConf::new(5, 2, 24, 56, false);
        let mut b = RrlBucket::default();
        let t0 = 1_000_000_000;
        let verdicts: std::vec::Vec<Verdict> = (0..20).map(|_| charge(&mut b, t0, &c).0).collect();
        let sent = verdicts.iter().filter(|v| **v == Verdict::Send).count();
        assert_eq!(sent, 5);
        assert!(verdicts[..5].iter().all(|v| *v == Verdict::Send));
        for (i, v) in verdicts[5..].iter().enumerate() {
            assert_eq!(*v, if (i + 1) % 2 == 0 { Verdict::Slip } else { Verdict::Drop }, "limited #{}", i + 1);
        }
        // A fifth of a second later one more response is allowed, and no more.
        assert_eq!(charge(&mut b, t0 + 200_000_000, &c).0, Verdict::Send);
        assert_ne!(charge(&mut b, t0 + 200_000_000, &c).0, Verdict::Send);
        // After a quiet second the whole burst again.
        let later = t0 + 2_000_000_000;
        assert_eq!((0..5).filter(|_| charge(&mut b, later, &c).0 == Verdict::Send).count(), 5);
    }

    #[test]
    fn slip_zero_never_slips_and_one_always_does() {
        assert_eq!(slip_verdict(4, 0), Verdict::Drop);
        assert_eq!(slip_verdict(3, 1), Verdict::Slip);
        assert_eq!(slip_verdict(3, 2), Verdict::Drop);
    }

    #[test]
    fn a_bucket_reports_at_most_every_30_s() {
        let c = RrlConf::new(1, 2, 24, 56, false);
        let mut b = RrlBucket::default();
        let t = 5_000_000_000;
        assert_eq!(charge(&mut b, t, &c), (Verdict::Send, false));
        assert_eq!(charge(&mut b, t, &c), (Verdict::Drop, true));
        assert_eq!(charge(&mut b, t + 1, &c), (Verdict::Slip, false));
        assert!(!charge(&mut b, t + 29_000_000_000, &c).1);
        b.tat = u64::MAX / 2;
        assert!(charge(&mut b, t + 31_000_000_000, &c).1);
    }

    #[test]
    fn prefixes_mask_the_address() {
        let c = RrlConf::new(10, 2, 24, 56, false);
        let mut v4 = [0u8; 16];
        v4[10] = 0xff;
        v4[11] = 0xff;
        v4[12..].copy_from_slice(&[198, 18, 7, 9]);
        let mut other = v4;
        other[15] = 200;
        assert_eq!(key_of(words_of(&v4), false, 1, &c), key_of(words_of(&other), false, 1, &c), "same /24");
        other[14] = 8;
        assert_ne!(key_of(words_of(&v4), false, 1, &c), key_of(words_of(&other), false, 1, &c), "another /24");
        let mut v6 = [0u8; 16];
        v6[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0x23, 0x45]);
        let mut near = v6;
        near[7] = 0x99; // the 57th-64th bits differ: same /56
        near[15] = 1;
        assert_eq!(key_of(words_of(&v6), true, 1, &c), key_of(words_of(&near), true, 1, &c));
        near[6] = 0x24;
        assert_ne!(key_of(words_of(&v6), true, 1, &c), key_of(words_of(&near), true, 1, &c));
        assert_eq!(prefix_mask(0), [0; 4]);
        assert_eq!(prefix_mask(128), [u32::MAX; 4]);
        assert_eq!(prefix_mask(120)[3], u32::from_be_bytes([0xff, 0xff, 0xff, 0]).to_be());
        assert!(!RrlConf::new(0, 2, 24, 56, false).on());
    }
}
