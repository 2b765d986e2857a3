//! RSSAC002's day counts in both kernel programs, under BPF_PROG_TEST_RUN on crafted frames (each test
//! once per hook; the TC program in its XDP-less mode): a known mix of queries (IPv4 and IPv6, answered,
//! NXDOMAIN, rate-limited, and passed up) gives exactly its counts, size buckets and sources in the day
//! slot the programs were pointed at, nothing in the other slot or with counting off; and 100,000
//! distinct sources of each kind estimate within the registers' stated error. Needs root (CAP_BPF).

mod common;

use common::test_run::{Action, Harness};
use m_root_common::Hook;
use m_root_common::daily::{
    DailyCounts, HllRegisters, REQUEST_BUCKETS, RESPONSE_BUCKETS, SOURCES_IPV4, SOURCES_IPV6, SOURCES_IPV6_64, request_bucket,
    response_bucket,
};
use m_root_user::limits::{Limits, Rrl};
use m_root_user::observe::hll::Registers;
use zonegen::{name, rr, wire};

fn q(qname: &str, qtype: u16, class: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    wire::build_query(0x4242, wire::FLAG_RD, &name::from_text(qname).unwrap(), qtype, class, edns)
}

fn estimate(r: &HllRegisters) -> u64 {
    Registers(r.r.to_vec()).estimate()
}

macro_rules! both_hooks {
    ($($check:ident),+ $(,)?) => {
        mod xdp { $(#[test] fn $check() { super::$check(m_root_common::Hook::Xdp) })+ }
        mod tc { $(#[test] fn $check() { super::$check(m_root_common::Hook::Tc) })+ }
    };
}

both_hooks!(a_known_mix_is_counted_exactly, distinct_sources_within_the_stated_error);

/// What the programs should have counted, built from what they did.
struct Expect {
    c: DailyCounts,
}

impl Expect {
    fn query(&mut self, v6: bool, query: &[u8], got: &Action) {
        let fam = v6 as usize;
        self.c.queries[fam] += 1;
        self.c.request_sizes[request_bucket(query.len())] += 1;
        if let Action::Answered(resp) = got {
            self.c.responses[fam] += 1;
            self.c.response_sizes[response_bucket(resp.len())] += 1;
            match resp[3] & 0x0f {
                0 => self.c.rcodes[0] += 1,
                3 => self.c.rcodes[1] += 1,
                other => panic!("rcode {other} from the programs"),
            }
        }
    }
}

fn a_known_mix_is_counted_exactly(hook: Hook) {
    let limits = Limits { rrl: Rrl { responses_per_second: 3, slip: 0, ..Rrl::default() }, ..Limits::default() };
    let mut h = Harness::new(hook, &limits);
    h.dp.set_day(Some(1)).unwrap();
    let mut e = Expect { c: DailyCounts::ZERO };
    let referral = q("www.example.com", rr::A, rr::CLASS_IN, Some((1232, true)));
    let small = q("jp", rr::NS, rr::CLASS_IN, None);
    let nx = q("no-such-tld-at-all", rr::AAAA, rr::CLASS_IN, Some((1232, false)));
    let long = q(&format!("{}.{}.{}.{}.com", "a".repeat(60), "b".repeat(60), "c".repeat(60), "d".repeat(60)), rr::A, rr::CLASS_IN, None);
    let (mut answered, mut nxdomain, mut dropped) = (0, 0, 0);
    let sources4 = ["198.51.100.1", "198.51.101.2", "198.51.102.3", "203.0.113.4"];
    let sources6 = ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:2::1"];
    for (i, query) in [&referral, &small, &nx, &long].into_iter().enumerate() {
        for src in sources4.iter().chain(&sources6) {
            let got = h.ask(src, query);
            match &got {
                Action::Answered(r) if r[3] & 0x0f == 3 => nxdomain += 1,
                Action::Answered(_) => answered += 1,
                Action::Dropped => dropped += 1,
                other => panic!("query {i} from {src}: {other:?}"),
            }
            e.query(src.contains(':'), query, &got);
        }
    }
    // A burst from one /24 past the limit (3 a second, no slips): three answers, then drops, each drop a
    // query received with no response.
    for _ in 0..8 {
        let got = h.ask("198.18.200.9", &small);
        if got == Action::Dropped {
            dropped += 1;
        }
        e.query(false, &small, &got);
    }
    // Passed up, userspace's to count: a CHAOS query.
    assert_eq!(h.ask("198.51.100.1", &q("version.bind", rr::TXT, rr::CLASS_CH, None)), Action::Passed);
    assert!(answered > 0 && nxdomain > 0 && dropped >= 5, "the mix has every outcome: {answered} {nxdomain} {dropped}");

    let (got, regs) = h.dp.day_counts(1).unwrap();
    assert_eq!(got, e.c, "counts in slot 1");
    assert_eq!(got.queries.iter().sum::<u64>(), 4 * 7 + 8);
    assert_eq!(got.request_sizes.iter().sum::<u64>(), got.queries.iter().sum::<u64>(), "request buckets add up");
    assert_eq!(got.response_sizes.iter().sum::<u64>(), got.responses.iter().sum::<u64>(), "response buckets add up");
    assert_eq!(got.request_sizes.len(), REQUEST_BUCKETS);
    assert_eq!(got.response_sizes.len(), RESPONSE_BUCKETS);
    assert_eq!(estimate(&regs[SOURCES_IPV4 as usize]), 5, "IPv4 sources");
    assert_eq!(estimate(&regs[SOURCES_IPV6 as usize]), 3, "IPv6 sources");
    assert_eq!(estimate(&regs[SOURCES_IPV6_64 as usize]), 2, "IPv6 /64s");
    let (other, other_regs) = h.dp.day_counts(0).unwrap();
    assert_eq!(other, DailyCounts::ZERO, "nothing in the other slot");
    assert!(other_regs.iter().all(|r| *r == HllRegisters::ZERO));

    // The day closed: slot 1 zeroed; counting off counts nothing.
    h.dp.zero_day(1).unwrap();
    h.dp.set_day(None).unwrap();
    let _ = h.ask("198.51.100.1", &small);
    for slot in [0, 1] {
        let (c, r) = h.dp.day_counts(slot).unwrap();
        assert_eq!(c, DailyCounts::ZERO, "slot {slot} after zeroing, counting off");
        assert!(r.iter().all(|r| *r == HllRegisters::ZERO));
    }
}

/// 100,000 distinct sources of each kind, estimated within three standard errors (1.04 / sqrt(2^14) =
/// 0.81 % each): the registers the programs keep are the ones userspace's estimator reads.
fn distinct_sources_within_the_stated_error(hook: Hook) {
    const N: u32 = 100_000;
    let mut h = Harness::new(hook, &Limits::default());
    h.dp.set_day(Some(0)).unwrap();
    let query = q("jp", rr::NS, rr::CLASS_IN, None);
    for i in 0..N {
        let v4 = std::net::Ipv4Addr::from(0xc612_0010 + i).to_string();
        assert!(matches!(h.ask(&v4, &query), Action::Answered(_)), "{v4}");
        // 100,000 hosts in 1,000 /64s.
        let v6 = format!("2001:db8:{:x}:{:x}::{:x}", i % 1000 / 100, i % 100, i / 1000 + 1);
        assert!(matches!(h.ask(&v6, &query), Action::Answered(_)), "{v6}");
    }
    let (c, regs) = h.dp.day_counts(0).unwrap();
    assert_eq!(c.queries, [N as u64, N as u64]);
    let bound = |n: f64, est: u64| ((est as f64 - n) / n).abs() <= 3.0 * 1.04 / 128.0;
    for (set, n) in [(SOURCES_IPV4, N as f64), (SOURCES_IPV6, N as f64), (SOURCES_IPV6_64, 1000.0)] {
        let est = estimate(&regs[set as usize]);
        println!("{hook:?} set {set}: {n} distinct, estimated {est} ({:+.2} %)", (est as f64 - n) / n * 100.0);
        assert!(bound(n, est), "set {set}: {n} distinct, estimated {est}");
    }
}
