//! Rate limiting and the drop list for what userspace answers: the same settings ([`Limits`]), the
//! same rule and classes as the kernel programs (m_root_common::rrl), its own buckets. Over UDP only
//! for rate limiting (TCP proves the source); the drop list holds for both.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use arc_swap::ArcSwap;
use m_root_common::cookie::CookieConf;
use m_root_common::rrl::{
    CLASS_ERROR, CLASS_NXDOMAIN, CLASS_TLD, RRL_BUCKETS, RrlBucket, RrlConf, RrlSlot, Verdict, charge, class_of_apex, key_of, slot_choice,
    slots_of, words_of,
};

use crate::limits::{Limits, contains};

pub struct Limiter {
    limits: ArcSwap<Limits>,
    conf: ArcSwap<RrlConf>,
    /// The buckets, kept as the kernel keeps them ([`RRL_BUCKETS`] slots, two per key, a new key taking
    /// over the emptier): fixed memory (12 MiB, allocated when limiting is first on) and constant work
    /// per response, whatever number of sources a flood spoofs, and a limiting bucket never displaced.
    buckets: Mutex<Vec<RrlSlot>>,
    /// The slots' hash seed, random per start as the kernel's.
    seed: u64,
    epoch: Instant,
    /// The cookie secrets (None: cookies off), and what the answer function uses this second (the
    /// programs' COOKIES map holds the same).
    cookie_keys: Mutex<Option<crate::cookies::Keys>>,
    cookies: ArcSwap<CookieConf>,
}

/// What the limiter decided about one UDP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Send,
    Exempt,
    WouldLimit,
    /// Limited, with the response class.
    Slip(u32),
    Drop(u32),
}

impl Limiter {
    pub fn new(l: Limits) -> Limiter {
        let conf = l.kernel_conf();
        Limiter {
            limits: ArcSwap::from_pointee(l),
            conf: ArcSwap::from_pointee(conf),
            buckets: Mutex::new(Vec::new()),
            seed: crate::dataplane::random_seed(),
            epoch: Instant::now(),
            cookie_keys: Mutex::new(None),
            cookies: ArcSwap::from_pointee(CookieConf::default()),
        }
    }

    /// New cookie secrets (None: cookies off), in force at the next [`Limiter::tick`] (the daemon's
    /// tick_cookies, which also tells the programs).
    pub fn set_cookie_keys(&self, keys: Option<crate::cookies::Keys>) {
        *self.cookie_keys.lock().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    /// The cookie settings for UNIX second `now`, kept for the answer function and returned for the
    /// programs. Built and kept under the keys' lock, so a tick from older keys never lands after one
    /// from newer ones.
    pub fn tick(&self, now: u64) -> CookieConf {
        let keys = self.cookie_keys.lock().unwrap_or_else(|p| p.into_inner());
        let conf = keys.as_ref().map_or(CookieConf::default(), |k| k.conf_at(now));
        self.cookies.store(std::sync::Arc::new(conf));
        conf
    }

    /// What the answer function needs for a query's cookie from `peer`; None when cookies are off.
    pub fn cookie_ctx(&self, peer: IpAddr) -> Option<zonegen::answer::CookieCtx> {
        let conf = **self.cookies.load();
        conf.on().then_some(zonegen::answer::CookieCtx { conf, client: peer })
    }

    /// New settings; the buckets stay.
    pub fn set(&self, l: Limits) {
        self.conf.store(std::sync::Arc::new(l.kernel_conf()));
        self.limits.store(std::sync::Arc::new(l));
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        Limits::clone(&self.limits.load())
    }

    /// Is the source on the drop list?
    pub fn dropped(&self, peer: IpAddr) -> bool {
        let l = self.limits.load();
        !l.acl.drop.is_empty() && contains(&l.acl.drop, peer)
    }

    /// Charge the response `resp` to `query` from `peer`.
    pub fn charge(&self, peer: IpAddr, query: &[u8], resp: &[u8]) -> Outcome {
        self.charge_at(peer, query, resp, self.epoch.elapsed().as_nanos() as u64 + 1)
    }

    /// [`Limiter::charge`] at `now` (ns since the limiter's epoch, above 0).
    fn charge_at(&self, peer: IpAddr, query: &[u8], resp: &[u8], now: u64) -> Outcome {
        let c = self.conf.load();
        if !c.on() {
            return Outcome::Send;
        }
        let l = self.limits.load();
        if !l.rrl.exempt.is_empty() && contains(&l.rrl.exempt, peer) {
            return Outcome::Exempt;
        }
        // The address as the programs key it (an IPv4-mapped peer is IPv4), as for cookies.
        let (addr, v6) = zonegen::answer::cookie::addr_key(peer);
        let class = class(query, resp);
        let key = key_of(words_of(&addr.addr), v6, class, &c);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.is_empty() {
            buckets.resize(RRL_BUCKETS as usize, RrlSlot::default());
        }
        let (i1, i2) = slots_of(&key, self.seed);
        let (i1, i2) = (i1 as usize, i2 as usize);
        let (second, fresh) = match (buckets.get(i1), buckets.get(i2)) {
            (Some(s1), Some(s2)) => slot_choice(s1, s2, &key),
            _ => return Outcome::Send,
        };
        let Some(slot) = buckets.get_mut(if second { i2 } else { i1 }) else { return Outcome::Send };
        if fresh {
            *slot = RrlSlot { key, pad: 0, bucket: RrlBucket::default() };
        }
        let (verdict, report) = charge(&mut slot.bucket, now, &c);
        let limited = slot.bucket.limited;
        drop(buckets);
        if report {
            let r = m_root_common::rrl::RrlReport { key_addr: key.addr, class: key.class, limited };
            log::warn!("rate limiting (userspace) {}", crate::dataplane::describe_report(&r, &l));
        }
        match (verdict, l.rrl.dry_run) {
            (Verdict::Send | Verdict::Unchecked, _) => Outcome::Send,
            (_, true) => Outcome::WouldLimit,
            (Verdict::Slip, false) => Outcome::Slip(class),
            (Verdict::Drop, false) => Outcome::Drop(class),
        }
    }
}

/// The response class of `resp`, as the kernel's: NXDOMAIN, errors, the apex by type, and answers about
/// one TLD by that TLD (here a hash of its label; the kernel uses its ordinal in the table).
fn class(query: &[u8], resp: &[u8]) -> u32 {
    match resp.get(3).map(|f| f & 0x0f) {
        Some(3) => return CLASS_NXDOMAIN,
        Some(0) => {}
        _ => return CLASS_ERROR,
    }
    let Ok(q) = zonegen::wire::parse_query(query) else { return CLASS_ERROR };
    // The TLD: the last label before the root.
    match zonegen::name::labels(q.qname).last() {
        None => class_of_apex(q.qtype),
        Some(label) => {
            // FNV-1a over the lowercased label.
            let h = label.iter().fold(0x811c_9dc5u32, |h, b| (h ^ b.to_ascii_lowercase() as u32).wrapping_mul(0x0100_0193));
            CLASS_TLD | (h & 0xff_ffff)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Rrl;

    #[test]
    fn limits_a_prefix_per_class_with_slip_and_honours_the_lists() {
        let l = Limits {
            rrl: Rrl { responses_per_second: 3, exempt: vec!["192.0.2.0/24".parse().unwrap()], ..Rrl::default() },
            acl: crate::limits::Acl { drop: vec!["203.0.113.0/24".parse().unwrap()] },
            ..Limits::default()
        };
        let lim = Limiter::new(l);
        let q = zonegen::wire::build_query(7, 0, b"\x03www\x03com\x00", 1, 1, None);
        let mut resp = q.clone();
        resp[2] |= 0x80;
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let got: Vec<Outcome> = (0..9).map(|_| lim.charge(peer, &q, &resp)).collect();
        use Outcome::*;
        // The class of a com answer: com's, one of the TLD classes.
        let com = match got[3] {
            Drop(c) if c & 0xff00_0000 == CLASS_TLD => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, [Send, Send, Send, Drop(com), Slip(com), Drop(com), Slip(com), Drop(com), Slip(com)]);
        // The same prefix, another class (the apex), and another prefix: not limited.
        let apex = zonegen::wire::build_query(8, 0, b"\x00", 6, 1, None);
        assert_eq!(lim.charge("198.51.100.99".parse().unwrap(), &apex, &apex), Send);
        assert_eq!(lim.charge("198.51.101.7".parse().unwrap(), &q, &resp), Send);
        assert_eq!(lim.charge("192.0.2.1".parse().unwrap(), &q, &resp), Exempt);
        assert!(lim.dropped("203.0.113.9".parse().unwrap()) && !lim.dropped(peer));
        // Off: everything is sent.
        lim.set(Limits::default());
        assert_eq!(lim.charge(peer, &q, &resp), Send);
    }

    /// A flood from a million spoofed /24s (four times the slots) neither lifts the limit of a prefix
    /// that is limiting nor grows the table (a table that emptied itself when full let the flooded
    /// prefix start over).
    #[test]
    fn a_flood_of_new_sources_neither_grows_the_table_nor_frees_a_limited_prefix() {
        let l = Limits { rrl: Rrl { responses_per_second: 3, slip: 0, ..Rrl::default() }, ..Limits::default() };
        let lim = Limiter::new(l);
        let q = zonegen::wire::build_query(7, 0, b"\x03www\x03com\x00", 1, 1, None);
        let mut resp = q.clone();
        resp[2] |= 0x80;
        let victim: IpAddr = "198.51.100.7".parse().unwrap();
        // One clock for all of it (a hundred milliseconds in): the flood takes no time as far as the
        // buckets can tell, however long the machine takes.
        let now = 100_000_000;
        let first: Vec<Outcome> = (0..20).map(|_| lim.charge_at(victim, &q, &resp, now)).collect();
        assert!(matches!(first[19], Outcome::Drop(_)), "limiting: {first:?}");
        let mut sent = 0;
        for i in 0..1_000_000u32 {
            let a = std::net::Ipv4Addr::from(0x0100_0000 + (i << 8));
            sent += (lim.charge_at(IpAddr::V4(a), &q, &resp, now) == Outcome::Send) as u32;
        }
        assert_eq!(sent, 1_000_000, "each new source's first response is sent");
        assert_eq!(lim.buckets.lock().unwrap().len(), RRL_BUCKETS as usize, "the table keeps its size");
        let after: Vec<Outcome> = (0..5).map(|_| lim.charge_at(victim, &q, &resp, now)).collect();
        assert!(after.iter().all(|o| matches!(o, Outcome::Drop(_))), "still limited after the flood: {after:?}");
    }
}
