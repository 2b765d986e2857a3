//! DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018: version 1, three reserved
//! octets, a UNIX-seconds timestamp, and SipHash-2-4 over the client cookie, those eight octets and the
//! client's address. The rule is written once here, over plain words, and applied by the programs (from
//! the query's octets and [`CookieConf`]) and by userspace (zonegen's answer logic) alike, so a cookie
//! one path hands out the other accepts and the answers are the same bytes.

// Bounds as two compares: the programs run this, and the verifier learns ranges from compares with
// constants (see m-root-ebpf's main.rs).
#![allow(clippy::manual_range_contains)]

use crate::control::AddrKey;

/// EDNS option code of COOKIE (RFC 7873 4).
pub const OPTION_COOKIE: u16 = 10;
/// Client cookie length (RFC 7873 4.1).
pub const CLIENT_LEN: usize = 8;
/// Our server cookie's length (RFC 9018 4).
pub const SERVER_LEN: usize = 16;
/// Server cookies any server may send are 8 to 32 octets (RFC 7873 4.2).
pub const MIN_SERVER_LEN: usize = 8;
pub const MAX_SERVER_LEN: usize = 32;
/// The COOKIE option we put in an answer: code, length, client cookie, our server cookie.
pub const REPLY_OPTION_LEN: usize = 4 + CLIENT_LEN + SERVER_LEN;
/// BADCOOKIE (RFC 7873 8): extended rcode 23, its low four bits in the header.
pub const RCODE_BADCOOKIE: u16 = 23;
/// Version 1 of RFC 9018's server cookie.
pub const VERSION: u8 = 1;
/// A server cookie is accepted up to an hour after its timestamp and five minutes before it (clock skew
/// between the instances that share the secret), RFC 9018 4.3.
pub const MAX_AGE: i64 = 3600;
pub const MAX_AHEAD: i64 = 300;
/// A valid server cookie made with the current secret and at most this old is sent back as it came;
/// an older one is replaced by a fresh one (RFC 9018 4.3: renew after half an hour).
pub const REUSE_AGE: i64 = 1800;
/// Slots of [`CookieConf::keys`]: the current secret, the previous one (still accepted) and the next
/// one, written a period ahead, so at a period's end only `current` changes. (The map's value is copied
/// whole on each write; a reader that catches it half-written may judge one cookie by a half-new key:
/// the cookie then counts as not ours, which costs that query its exemption, nothing more.)
pub const KEY_SLOTS: usize = 3;

/// What userspace tells the programs about cookies (one entry of the COOKIES map): the current UNIX
/// second (the kernel has only TAI and monotonic clocks), 0 when cookies are off; which slot holds the
/// current key (the previous is the slot before it, modulo [`KEY_SLOTS`]); SipHash keys as two
/// little-endian words each.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CookieConf {
    pub now: u32,
    pub current: u32,
    pub keys: [[u64; 2]; KEY_SLOTS],
}

impl CookieConf {
    pub const fn on(&self) -> bool {
        self.now != 0
    }
    // Branches, not a modulo: the verifier cannot bound an index computed by one.
    pub const fn current_key(&self) -> [u64; 2] {
        match self.current {
            0 => self.keys[0],
            1 => self.keys[1],
            _ => self.keys[2],
        }
    }
    pub const fn previous_key(&self) -> [u64; 2] {
        match self.current {
            0 => self.keys[2],
            1 => self.keys[0],
            _ => self.keys[1],
        }
    }
}

/// What a query's cookie was, as the answer and the rate limiter see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A client cookie alone (a first contact): answered with a fresh server cookie.
    ClientOnly,
    /// A server cookie of ours, unaltered, for this client and still fresh: exempt from rate limiting.
    Valid,
    /// A server cookie that is not ours, altered, expired or for another address: treated as a client
    /// cookie alone (never a bypass), answered with a fresh one.
    Bad,
}

/// The verdict on a query's cookie and the server cookie to answer with (as two little-endian words:
/// the version, reserved and timestamp octets, then the hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reply: [u64; 2],
}

/// Seconds from `ts` to `now` over the 32-bit timestamp's wrap (RFC 1982 arithmetic: a cookie an
/// hour old stays an hour old across 2106).
pub const fn age(ts: u32, now: u32) -> i64 {
    now.wrapping_sub(ts) as i32 as i64
}

/// May a server cookie stamped `ts` be accepted at `now` (RFC 9018 4.3)?
pub const fn timestamp_usable(ts: u32, now: u32) -> bool {
    let a = age(ts, now);
    a <= MAX_AGE && a >= -MAX_AHEAD
}

/// The octets 8..16 of the hash input and of the server cookie, as SipHash reads them (little-endian):
/// version, three reserved octets, the timestamp big-endian.
pub const fn head_word(version: u8, reserved: [u8; 3], ts: u32) -> u64 {
    let t = ts.to_be_bytes();
    u64::from_le_bytes([version, reserved[0], reserved[1], reserved[2], t[0], t[1], t[2], t[3]])
}

/// The timestamp in a head word.
pub const fn head_timestamp(head: u64) -> u32 {
    let b = head.to_le_bytes();
    u32::from_be_bytes([b[4], b[5], b[6], b[7]])
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

#[inline(always)]
fn sip_block(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

/// SipHash-2-4 (Aumasson and Bernstein) of a message of `full` (at most 4) whole little-endian words
/// `m`, then the last block `last` (the remaining octets and the length in the top octet), keyed `k`.
#[inline(always)]
pub fn siphash24(k: [u64; 2], m: &[u64; 4], full: usize, last: u64) -> u64 {
    let mut v = [k[0] ^ 0x736f_6d65_7073_6575, k[1] ^ 0x646f_7261_6e64_6f6d, k[0] ^ 0x6c79_6765_6e65_7261, k[1] ^ 0x7465_6462_7974_6573];
    for (i, w) in m.iter().enumerate() {
        if i < full {
            sip_block(&mut v, *w);
        }
    }
    sip_block(&mut v, last);
    v[2] ^= 0xff;
    sip_round(&mut v);
    sip_round(&mut v);
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// RFC 9018's hash: SipHash-2-4 keyed by the secret over client cookie, version, reserved, timestamp
/// and the client's address (4 octets for IPv4, 16 for IPv6). `client` and `head` are the octets as
/// little-endian words; `addr` is the address as the programs key it (IPv4 mapped into IPv6) in two
/// little-endian words (see [`addr_words`]).
#[inline(always)]
pub fn hash(k: [u64; 2], client: u64, head: u64, addr: [u64; 2], ipv6: bool) -> u64 {
    // One message shape with a branch around the address's two words, rather than two whole SipHash
    // runs: the programs' verifier checks each way through.
    let (full, last) = if ipv6 {
        (4, 32u64 << 56)
    } else {
        // Octets 12..16 of the mapped address: the upper half of the second word.
        (2, (addr[1] >> 32) | (20u64 << 56))
    };
    siphash24(k, &[client, head, addr[0], addr[1]], full, last)
}

/// An address key as the two little-endian words [`hash`] takes.
pub const fn addr_words(a: &AddrKey) -> [u64; 2] {
    let a = &a.addr;
    [
        u64::from_le_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]),
        u64::from_le_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]),
    ]
}

/// The whole rule, for a query from `addr` (as [`addr_words`]) with client cookie `client` and, if it sent one, a 16-octet
/// server cookie `server` (two little-endian words): which verdict, and which server cookie goes back.
/// A server cookie of another length is [`Verdict::Bad`] without looking (the caller says so with None
/// and `bad_length`).
#[inline(always)]
pub fn decide(conf: &CookieConf, client: u64, server: Option<[u64; 2]>, bad_length: bool, addr: [u64; 2], ipv6: bool) -> Decision {
    decide_by(conf, server, bad_length, |key, head| {
        let k = match key {
            Key::Current => conf.current_key(),
            Key::Previous => conf.previous_key(),
        };
        hash(k, client, head, addr, ipv6)
    })
}

/// Which of the secrets a hash is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Current,
    Previous,
}

/// [`decide`], with the hash of the query's client cookie and address under a key and head word given by
/// `hash` (the programs compute it in a subprogram of their own, to keep their stack small).
#[inline(always)]
pub fn decide_by(conf: &CookieConf, server: Option<[u64; 2]>, bad_length: bool, mut hash: impl FnMut(Key, u64) -> u64) -> Decision {
    let now = conf.now;
    let mut verdict = if bad_length { Verdict::Bad } else { Verdict::ClientOnly };
    if let Some([head, mac]) = server {
        verdict = Verdict::Bad;
        let ts = head_timestamp(head);
        // Only version 1 is defined; the reserved octets are hashed as sent (RFC 9018 4.2).
        if head & 0xff == VERSION as u64 && timestamp_usable(ts, now) {
            if hash(Key::Current, head) == mac {
                let a = age(ts, now);
                if a >= 0 && a <= REUSE_AGE {
                    return Decision { verdict: Verdict::Valid, reply: [head, mac] };
                }
                verdict = Verdict::Valid;
            } else if hash(Key::Previous, head) == mac {
                verdict = Verdict::Valid;
            }
        }
    }
    let fresh = head_word(VERSION, [0; 3], now);
    Decision { verdict, reply: [fresh, hash(Key::Current, fresh)] }
}

/// The header flags of the short answer a rate limiter sends instead of the answer with `flags`: TC=1
/// (retry over TCP), or, for a query that carried a client cookie, BADCOOKIE (retry with the server
/// cookie this answer carries, which then passes the limiter; as BIND does).
pub const fn slip_flags(flags: u16, badcookie: bool) -> u16 {
    if badcookie { (flags & !(crate::dns::FLAG_TC | 0x000f)) | (RCODE_BADCOOKIE & 0x0f) } else { flags | crate::dns::FLAG_TC }
}

/// The extended rcode octet (OPT TTL's first octet) of the short answer: BADCOOKIE's upper bits.
pub const fn slip_ext_rcode(badcookie: bool) -> u8 {
    if badcookie { (RCODE_BADCOOKIE >> 4) as u8 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
    fn word(b: &[u8]) -> u64 {
        u64::from_le_bytes(b.try_into().unwrap())
    }
    fn key(s: &str) -> [u64; 2] {
        let b = hex(s);
        [word(&b[..8]), word(&b[8..])]
    }
    fn addr(s: &str) -> (AddrKey, bool) {
        let ip: std::net::IpAddr = s.parse().unwrap();
        let a = match ip {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => v6.octets(),
        };
        (AddrKey { addr: a }, ip.is_ipv6())
    }
    fn conf(secret: &str, now: u32) -> CookieConf {
        CookieConf { now, current: 0, keys: [key(secret), [0; 2], [0; 2]] }
    }
    fn reply(d: Decision) -> String {
        d.reply.iter().flat_map(|w| w.to_le_bytes()).map(|b| format!("{b:02x}")).collect()
    }
    fn ask(c: &CookieConf, cookie: &str, from: &str) -> Decision {
        let b = hex(cookie);
        let (a, v6) = addr(from);
        let server = (b.len() == 24).then(|| [word(&b[8..16]), word(&b[16..24])]);
        decide(c, word(&b[..8]), server, false, addr_words(&a), v6)
    }

    // RFC 9018 Appendix A.
    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

    #[test]
    fn rfc9018_a1_a_new_server_cookie() {
        let d = ask(&conf(SECRET, 1559731985), "2464c4abcf10c957", "198.51.100.100");
        assert_eq!((d.verdict, reply(d).as_str()), (Verdict::ClientOnly, "010000005cf79f111f8130c3eee29480"));
    }

    #[test]
    fn rfc9018_a2_renewed_after_40_minutes() {
        let d = ask(&conf(SECRET, 1559734385), "2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100");
        assert_eq!((d.verdict, reply(d).as_str()), (Verdict::Valid, "010000005cf7a871d4a564a1442aca77"));
    }

    #[test]
    fn rfc9018_a3_reserved_octets_are_hashed_as_sent() {
        let q = "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5";
        // The example's cookie is 1 h 52 min old when it comes back: past the hour, so a fresh one.
        let d = ask(&conf(SECRET, 1559734700), q, "203.0.113.203");
        assert_eq!((d.verdict, reply(d).as_str()), (Verdict::Bad, "010000005cf7a9acf73a7810aca2381e"));
        let ts = head_timestamp(word(&hex(q)[8..16]));
        assert_eq!(ask(&conf(SECRET, ts + 60), q, "203.0.113.203").verdict, Verdict::Valid, "within the hour");
        assert_eq!(ask(&conf(SECRET, ts + 60), q, "203.0.113.204").verdict, Verdict::Bad, "another address");
    }

    #[test]
    fn rfc9018_a4_ipv6_and_the_previous_secret() {
        let old = "dd3bdf9344b678b185a6f5cb60fca715";
        let new = "445536bcd2513298075a5d379663c962";
        let q = "22681ab97d52c298010000005cf7c57926556bd0934c72f8";
        let from = "2001:db8:220:1:59de:d0f4:8769:82b8";
        let ts = head_timestamp(word(&hex(q)[8..16]));
        let rolled = CookieConf { now: ts + 600, current: 1, keys: [key(old), key(new), [0; 2]] };
        assert_eq!(ask(&rolled, q, from).verdict, Verdict::Valid, "made with the previous secret");
        let forgotten = CookieConf { keys: [[0; 2], key(new), key(old)], ..rolled };
        assert_eq!(ask(&forgotten, q, from).verdict, Verdict::Bad, "two secrets back");
        assert_eq!(
            ask(&conf(old, ts + 60), q, from),
            Decision { verdict: Verdict::Valid, reply: [word(&hex(q)[8..16]), word(&hex(q)[16..])] }
        );
    }

    #[test]
    fn altered_expired_and_future_cookies_are_bad() {
        let good = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";
        let c = conf(SECRET, 1559731985 + 10);
        assert_eq!(ask(&c, good, "198.51.100.100").verdict, Verdict::Valid);
        let mut altered = hex(good);
        altered[23] ^= 1;
        let altered: String = altered.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ask(&c, &altered, "198.51.100.100").verdict, Verdict::Bad);
        assert_eq!(ask(&conf(SECRET, 1559731985 + 3601), good, "198.51.100.100").verdict, Verdict::Bad);
        assert_eq!(ask(&conf(SECRET, 1559731985 + 3600), good, "198.51.100.100").verdict, Verdict::Valid);
        assert_eq!(ask(&conf(SECRET, 1559731985 - 301), good, "198.51.100.100").verdict, Verdict::Bad);
    }

    #[test]
    fn age_wraps() {
        assert!(timestamp_usable(4294964696, 1000));
        assert!(!timestamp_usable(1000, 4294964696));
    }

    #[test]
    fn slip_flags_are_tc_or_badcookie() {
        assert_eq!(slip_flags(0x8403, false), 0x8603);
        assert_eq!(slip_flags(0x8403, true), 0x8407);
        assert_eq!(slip_ext_rcode(true), 1);
    }
}
