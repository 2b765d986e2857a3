//! Response rate limiting and the drop list in both kernel programs, under BPF_PROG_TEST_RUN on crafted
//! frames (each test once per hook; the TC program in its XDP-less mode). A burst of one name from one
//! prefix gets `rate` answers, then the exact slip pattern: every `slip`-th limited response TC=1 with
//! empty sections (the bytes zonegen::answer::slipped gives), the others dropped; another prefix, another
//! class, an exempt source and a dry run are answered in full; the drop list drops; a map full of spoofed
//! sources still limits, and does not displace the bucket of a prefix it is limiting. The counters say
//! each outcome. Needs root (CAP_BPF).

mod common;

use common::test_run::{Action, Harness, zone};
use m_root_common::{Counter, Hook};
use m_root_user::limits::{Acl, Limits, Rrl};
use zonegen::answer::{self, Transport};
use zonegen::{ServerConfig, name, rr, wire};

const RATE: u32 = 5;
const SLIP: u32 = 2;

fn q(qname: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    wire::build_query(0x4242, wire::FLAG_RD, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, edns)
}

fn full(query: &[u8]) -> Vec<u8> {
    answer::answer(zone(), &ServerConfig::default(), query, Transport::Udp).expect("answered")
}

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits { rrl: Rrl { responses_per_second: RATE, slip: SLIP, ..Rrl::default() }, acl: Acl::default(), ..Limits::default() };
    f(&mut l);
    l
}

/// The burst pattern: RATE full answers, then limited ones alternating drop, slip (slip = 2).
fn expect_burst(h: &mut Harness, src: &str, query: &[u8], n: usize, what: &str) {
    assert_eq!(full(query)[2] & 0x02, 0, "{what}: the full answer is not truncated itself");
    let slipped = answer::slipped(query, &full(query)).expect("slipped");
    assert_eq!(slipped[2] & 0x02, 0x02, "TC set");
    assert_eq!(&slipped[6..10], &[0, 0, 0, 0], "no answer or authority records");
    for i in 0..n {
        let got = h.ask(src, query);
        let want = if i < RATE as usize {
            Action::Answered(full(query))
        } else if (i + 1 - RATE as usize).is_multiple_of(SLIP as usize) {
            Action::Answered(slipped.clone())
        } else {
            Action::Dropped
        };
        assert_eq!(got, want, "{what}: response {} of the burst", i + 1);
    }
}

macro_rules! both_hooks {
    ($($check:ident),+ $(,)?) => {
        mod xdp { $(#[test] fn $check() { super::$check(m_root_common::Hook::Xdp) })+ }
        mod tc { $(#[test] fn $check() { super::$check(m_root_common::Hook::Tc) })+ }
    };
}

both_hooks!(
    a_burst_is_limited_with_the_exact_slip_pattern_and_others_are_not,
    exempt_dry_run_and_drop_lists,
    a_map_full_of_spoofed_sources_still_limits,
    a_flood_of_new_sources_does_not_free_a_limited_prefix,
);

fn a_burst_is_limited_with_the_exact_slip_pattern_and_others_are_not(hook: Hook) {
    let mut h = Harness::new(hook, &limits(|_| {}));
    let referral = q("www.example.com", rr::A, Some((1232, true)));
    expect_burst(&mut h, "198.51.100.7", &referral, 20, "IPv4 referral");
    // The same /24 shares the bucket: limited at once (the 21st response is limited #16: slipped).
    assert_eq!(h.ask("198.51.100.200", &referral), Action::Answered(answer::slipped(&referral, &full(&referral)).unwrap()));
    // Another /24, and the same /24 asking another class (the apex, NXDOMAIN): answered in full.
    for src in ["198.51.101.7", "198.51.99.7"] {
        assert_eq!(h.ask(src, &referral), Action::Answered(full(&referral)), "{src}");
    }
    for other in [q(".", rr::SOA, None), q("no-such-tld-here", rr::A, None)] {
        assert_eq!(h.ask("198.51.100.7", &other), Action::Answered(full(&other)), "another class");
    }
    // No EDNS in the query: the slipped answer has no OPT either.
    let plain = q("jp", rr::NS, None);
    expect_burst(&mut h, "198.51.102.1", &plain, 9, "no EDNS");
    // IPv6: one bucket per /56.
    let nx = q("nonexistent-tld-zz", rr::AAAA, Some((1232, false)));
    expect_burst(&mut h, "2001:db8:1:100::1", &nx, 12, "IPv6 NXDOMAIN");
    assert_eq!(h.ask("2001:db8:1:1ff::9", &nx), Action::Answered(answer::slipped(&nx, &full(&nx)).unwrap()), "same /56: limited #8");
    assert_eq!(h.ask("2001:db8:1:200::1", &nx), Action::Answered(full(&nx)), "another /56");
    let (dropped, slipped) = (h.counter(Counter::RrlDropped), h.counter(Counter::RrlSlipped));
    // Limited: 15 + 1 (IPv4 referral, and its /24), 4 (no EDNS), 7 + 1 (IPv6, and its /56).
    assert_eq!((dropped, slipped), (8 + 2 + 4, 8 + 2 + 4), "rrl.dropped, rrl.slipped");
    // By class: the referrals (com's and jp's classes) and the NXDOMAIN class.
    let by = |c| h.counter(c);
    assert_eq!((by(Counter::RrlDroppedTld), by(Counter::RrlSlippedTld)), (8 + 2, 8 + 2), "rrl.*.tld");
    assert_eq!((by(Counter::RrlDroppedNxdomain), by(Counter::RrlSlippedNxdomain)), (4, 4), "rrl.*.nxdomain");
    assert_eq!((by(Counter::RrlDroppedApex), by(Counter::RrlSlippedApex)), (0, 0), "rrl.*.apex");
}

fn exempt_dry_run_and_drop_lists(hook: Hook) {
    let l = limits(|l| {
        l.rrl.exempt = vec!["192.0.2.0/24".parse().unwrap(), "2001:db8:e::/48".parse().unwrap()];
        l.acl.drop = vec!["203.0.113.0/24".parse().unwrap()];
    });
    let mut h = Harness::new(hook, &l);
    let referral = q("example.org", rr::NS, None);
    for i in 0..20 {
        assert_eq!(h.ask("192.0.2.55", &referral), Action::Answered(full(&referral)), "exempt v4, #{i}");
        assert_eq!(h.ask("2001:db8:e:5::1", &referral), Action::Answered(full(&referral)), "exempt v6, #{i}");
    }
    assert_eq!(h.counter(Counter::RrlExempt), 40);
    for _ in 0..3 {
        assert_eq!(h.ask("203.0.113.9", &referral), Action::Dropped, "drop list");
    }
    assert_eq!(h.counter(Counter::AclDropped), 3);
    // Not listed: limited as ever.
    expect_burst(&mut h, "198.51.100.1", &referral, 8, "not listed");

    // Dry run: every response sent, what would be limited counted.
    let mut h = Harness::new(hook, &limits(|l| l.rrl.dry_run = true));
    for _ in 0..20 {
        assert_eq!(h.ask("198.51.100.1", &referral), Action::Answered(full(&referral)));
    }
    assert_eq!((h.counter(Counter::RrlWouldLimit), h.counter(Counter::RrlDropped), h.counter(Counter::RrlSlipped)), (15, 0, 0));
}

fn a_map_full_of_spoofed_sources_still_limits(hook: Hook) {
    let mut h = Harness::new(hook, &limits(|_| {}));
    // With EDNS: without it the .net referral does not fit 512 octets and is TC=1 itself.
    let referral = q("example.net", rr::A, Some((1232, false)));
    // More distinct /24s than the table holds buckets: new keys take slots over, nothing is refused.
    let n = m_root_common::rrl::RRL_BUCKETS as usize + 20_000;
    for i in 0..n as u32 {
        // A new /24 each time: 10.0.0.1, 10.0.1.1, ...
        let src = std::net::Ipv4Addr::from((10u32 << 24) + (i << 8) + 1).to_string();
        assert!(matches!(h.ask(&src, &referral), Action::Answered(_)), "spoofed source #{i} answered");
    }
    expect_burst(&mut h, "198.51.100.77", &referral, 12, "after the flood of sources");
}

/// A prefix that keeps flooding stays limited while more new sources than the table has slots arrive:
/// the flood of new keys takes over idle slots, not the limiting bucket (which would give the prefix a
/// fresh burst each time).
fn a_flood_of_new_sources_does_not_free_a_limited_prefix(hook: Hook) {
    let mut h = Harness::new(hook, &limits(|_| {}));
    // With EDNS: without it the .net referral does not fit 512 octets and is TC=1 itself.
    let referral = q("example.net", rr::A, Some((1232, false)));
    let t = std::time::Instant::now();
    let mut answered = 0;
    let n = m_root_common::rrl::RRL_BUCKETS + 20_000;
    for i in 0..n {
        let src = std::net::Ipv4Addr::from((10u32 << 24) + (i << 8) + 1).to_string();
        assert!(matches!(h.ask(&src, &referral), Action::Answered(_)), "new source #{i}");
        if i % 500 == 0
            && let Action::Answered(a) = h.ask("198.51.100.77", &referral)
        {
            // Full answers only (a slipped one is TC=1 with no records).
            answered += (a[2] & 0x02 == 0) as u32;
        }
    }
    // What the rate allows over the run: the burst, then `rate` a second.
    let allowed = RATE as f64 * (1.0 + t.elapsed().as_secs_f64()) + 1.0;
    println!(
        "{answered} full answers to the flooding prefix in {:.1} s (allowed {allowed:.0}), {} asked",
        t.elapsed().as_secs_f64(),
        n / 500 + 1
    );
    assert!((answered as f64) <= allowed, "the flooding prefix got {answered} full answers, at most {allowed:.0} allowed");
}
