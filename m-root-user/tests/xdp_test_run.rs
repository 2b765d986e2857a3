//! The XDP program and its TC companion under BPF_PROG_TEST_RUN on crafted frames: every answer must be
//! byte-identical to what zonegen's answer function returns for the same query, wrapped in swapped headers
//! with checksums that an independent routine (frame::parse_checked) verifies; every frame they must not
//! answer comes back passed (XDP_PASS, TC_ACT_UNSPEC) and unchanged. Each test runs once per hook (the TC
//! program in its XDP-less mode, where it answers everything it covers). Needs root (CAP_BPF); fails,
//! never skips, without it.

#![allow(clippy::type_complexity)] // tables of test cases read best as tuples

use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use aya::programs::{TestRun, TestRunOptions};
use m_root_common::Hook;
use m_root_user::dataplane::Dataplane;
use m_root_user::frame::{self, Spec};
use zonegen::answer::{self, Transport};
use zonegen::{LoadOptions, ServerConfig, Zone, compile, name, rr, wire};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
/// TC_ACT_UNSPEC (-1): tcx's "next", what the TC program returns for what it leaves alone.
const TC_ACT_UNSPEC: u32 = u32::MAX;
const TC_ACT_REDIRECT: u32 = 7;

/// What a hook did with a frame.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Answered,
    Passed,
    Other(u32),
}
const SRV4: &str = "198.18.0.1";
const CLI4: &str = "198.18.0.2";
const SRV6: &str = "2001:db8::1";
const CLI6: &str = "2001:db8::2";

fn zone() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102");
        Zone::load(&p, &LoadOptions::default()).expect("bundled zone loads")
    })
}

struct Harness {
    dp: Dataplane,
    hook: Hook,
}

impl Harness {
    fn new(hook: Hook) -> Harness {
        assert_eq!(unsafe { libc::geteuid() }, 0, "these tests load BPF programs and must run as root");
        let mut dp = Dataplane::load().expect("XDP and TC programs load and verify");
        dp.set_service_addrs(&[SRV4.parse().unwrap(), SRV6.parse().unwrap()]).unwrap();
        dp.install(&compile(zone())).unwrap();
        dp.set_tc_mode(true).unwrap();
        dp.set_xdp_tx(true).unwrap();
        Harness { dp, hook }
    }

    /// Run the hook's program once on `input`; returns what it did and the output frame.
    fn run(&mut self, input: &[u8]) -> (Action, Vec<u8>) {
        let mut out = vec![0u8; 4096];
        let opts = TestRunOptions { data_in: Some(input), data_out: Some(&mut out), repeat: 1, ..Default::default() };
        let r = match self.hook {
            Hook::Xdp => self.dp.program().unwrap().test_run(opts),
            Hook::Tc => self.dp.tc_program().unwrap().test_run(opts),
        }
        .unwrap_or_else(|e| panic!("BPF_PROG_TEST_RUN on a {}-byte frame: {e}", input.len()));
        out.truncate(r.data_size_out as usize);
        let action = match (self.hook, r.return_value) {
            (Hook::Xdp, XDP_TX) | (Hook::Tc, TC_ACT_REDIRECT) => Action::Answered,
            (Hook::Xdp, XDP_PASS) | (Hook::Tc, TC_ACT_UNSPEC) => Action::Passed,
            (_, v) => Action::Other(v),
        };
        (action, out)
    }
}

/// One #[test] per hook for each check below.
macro_rules! both_hooks {
    ($($check:ident),+ $(,)?) => {
        mod xdp {
            $(#[test]
            fn $check() {
                super::$check(m_root_common::Hook::Xdp)
            })+
        }
        mod tc {
            $(#[test]
            fn $check() {
                super::$check(m_root_common::Hook::Tc)
            })+
        }
    };
}

both_hooks!(
    referrals_nxdomain_apex_are_byte_identical_to_the_answer_function,
    long_names_and_label_lengths,
    frames_not_for_the_fast_path_pass_unchanged,
    trust_anchor_signals_are_counted_by_key_tag,
    signed_nxdomain_at_every_tld_boundary,
    checksums_hold_for_every_id_and_port,
);

fn spec(v6: bool, vlans: Vec<(u16, u16)>) -> Spec {
    let (src, dst): (IpAddr, IpAddr) =
        if v6 { (CLI6.parse().unwrap(), SRV6.parse().unwrap()) } else { (CLI4.parse().unwrap(), SRV4.parse().unwrap()) };
    Spec { src_mac: [2, 0, 0xc6, 0x12, 0, 2], dst_mac: [2, 0, 0xc6, 0x12, 0, 1], vlans, src, dst, sport: 33333, dport: 53 }
}

/// Check that `out` is the answer to `query` (sent in a frame built from `s`) exactly as zonegen says.
fn assert_answer(out: &[u8], s: &Spec, query: &[u8], what: &str) {
    let p = frame::parse_checked(out).unwrap_or_else(|e| panic!("{what}: response frame invalid: {e}"));
    assert_eq!(p.spec_src_mac, s.dst_mac, "{what}: source MAC");
    assert_eq!(p.spec_dst_mac, s.src_mac, "{what}: destination MAC");
    assert_eq!(p.vlans, s.vlans, "{what}: VLAN tags kept");
    assert_eq!((p.src, p.dst), (s.dst, s.src), "{what}: addresses swapped");
    assert_eq!((p.sport, p.dport), (s.dport, s.sport), "{what}: ports swapped");
    assert_eq!(p.ttl, 64, "{what}: TTL/hop limit");
    let expected = answer::answer(zone(), &ServerConfig::default(), query, Transport::Udp).expect("answer function answers");
    if p.payload != expected {
        panic!(
            "{what}: kernel answer differs from the answer function\nkernel:\n{}\nexpected:\n{}",
            zonegen::testkit::print::to_text(&p.payload),
            zonegen::testkit::print::to_text(&expected)
        );
    }
}

fn q(qname: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    wire::build_query(0xbeef, wire::FLAG_RD, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, edns)
}

fn referrals_nxdomain_apex_are_byte_identical_to_the_answer_function(hook: Hook) {
    let mut h = Harness::new(hook);
    let names = [
        "www.example.jp",
        "jp",
        "WwW.ExAmPlE.CoM",
        "a.b.c.d.e.f.g.org",
        "xn--p1ai",
        "x.arpa",
        "nonexistent-tld",
        "Foo.Bar.Nope",
        ".",
        "0",
        "zzzzzzzzzzzzzzzz",
        "Aaa0",
        "comA",
        "a",
    ];
    let envelopes = [
        None,
        Some((512, false)),
        Some((1232, false)),
        Some((4096, false)),
        Some((1232, true)),
        Some((1400, true)),
        Some((65535, true)),
        Some((100, true)),
    ];
    let mut answered = 0;
    for v6 in [false, true] {
        for vlans in [vec![], vec![(0x8100, 10)], vec![(0x88a8, 20), (0x8100, 30)]] {
            let s = spec(v6, vlans);
            for n in names {
                for qt in [rr::A, rr::AAAA, rr::NS, rr::SOA, rr::MX, rr::DS, rr::NSEC, rr::DNSKEY, rr::RRSIG, rr::ZONEMD] {
                    for e in envelopes {
                        let msg = q(n, qt, e);
                        let input = frame::build(&s, &msg);
                        let (action, out) = h.run(&input);
                        let what = format!("{n} {} edns={e:?} v6={v6} vlans={}", rr::type_name(qt), s.vlans.len());
                        assert_eq!(action, Action::Answered, "{what}: expected an answer");
                        assert_answer(&out, &s, &msg, &what);
                        answered += 1;
                    }
                }
            }
        }
    }
    assert!(answered > 3000, "answered {answered}");
}

/// The checksums are computed from values read out of the query (ID, ports, addresses), not re-summed from
/// the frame: every ID, and ports and addresses across their range, over v4 and v6, must still come out
/// right (one's-complement carries, a sum of 0xffff, odd and even lengths).
fn checksums_hold_for_every_id_and_port(hook: Hook) {
    let mut h = Harness::new(hook);
    for id in 0..=u16::MAX {
        let v6 = id % 2 == 1;
        let mut s = spec(v6, if id % 3 == 0 { vec![(0x8100, id & 0xfff)] } else { vec![] });
        s.sport = id.wrapping_mul(40503).max(1);
        // Vary the client's address too (the last octets), so the pseudo-header sum sweeps its range.
        s.src = match s.src {
            IpAddr::V4(a) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(a) & 0xffff_0000 | (id.wrapping_mul(7919) as u32))),
            IpAddr::V6(a) => {
                IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a) & !0xffff_ffff | (id.wrapping_mul(7919) as u128) << 16 | id as u128))
            }
        };
        let (qname, qtype, edns) = match id % 4 {
            0 => (".", rr::SOA, None),
            1 => ("jp", rr::NS, Some((1232, false))),
            2 => ("no-such-tld", rr::A, Some((1232, true))),
            _ => ("www.example.com", rr::A, Some((512, false))),
        };
        let msg =
            wire::build_query(id, if id & 4 != 0 { wire::FLAG_RD } else { 0 }, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, edns);
        let input = frame::build(&s, &msg);
        let (action, out) = h.run(&input);
        let what = format!("id {id} sport {} {qname} v6={v6}", s.sport);
        assert_eq!(action, Action::Answered, "{what}: expected an answer");
        // Every 64th in full (the answer function is the slow part); the frame's checksums always.
        if id % 64 == 0 {
            assert_answer(&out, &s, &msg, &what);
        } else {
            let p = frame::parse_checked(&out).unwrap_or_else(|e| panic!("{what}: response frame invalid: {e}"));
            assert_eq!(&p.payload[..2], &id.to_be_bytes(), "{what}: ID echoed");
        }
    }
}

fn long_names_and_label_lengths(hook: Hook) {
    let mut h = Harness::new(hook);
    let s = spec(false, vec![]);
    // Labels of 1..63 octets under an existing TLD, and names up to the 255-octet limit.
    for len in [1usize, 2, 31, 62, 63] {
        let label = "a".repeat(len);
        let n = format!("{label}.{label}.net");
        let msg = q(&n, rr::A, Some((1232, false)));
        let input = frame::build(&s, &msg);
        let (action, out) = h.run(&input);
        assert_eq!(action, Action::Answered, "label length {len}");
        assert_answer(&out, &s, &msg, &format!("label length {len}"));
    }
    // 127 one-octet labels + "se": 2*127 + 4 = 258 > 255, so build just under the limit: 125 labels.
    let many = format!("{}se", "x.".repeat(125));
    let msg = q(&many, rr::A, None);
    assert!(name::from_text(&many).unwrap().len() <= 255);
    let input = frame::build(&s, &msg);
    let (action, out) = h.run(&input);
    assert_eq!(action, Action::Answered, "125 labels");
    assert_answer(&out, &s, &msg, "125 labels");
    // A 255-octet name under a missing TLD.
    let long = format!("{}.{}.{}.{}.zz", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(58));
    let msg = q(&long, rr::A, None);
    assert_eq!(name::from_text(&long).unwrap().len(), 255);
    let input = frame::build(&s, &msg);
    let (action, out) = h.run(&input);
    assert_eq!(action, Action::Answered, "255-octet name");
    assert_answer(&out, &s, &msg, "255-octet name");
}

fn frames_not_for_the_fast_path_pass_unchanged(hook: Hook) {
    let mut h = Harness::new(hook);
    let s4 = spec(false, vec![]);
    let good = q("www.example.jp", rr::A, None);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut m = good.clone();
        f(&mut m);
        m
    };
    let mut push_dns = |what: &str, msg: Vec<u8>| cases.push((what.into(), frame::build(&s4, &msg)));
    push_dns("QR=1 (a response)", with(&|m| m[2] |= 0x80));
    push_dns("opcode NOTIFY", with(&|m| m[2] |= 4 << 3));
    push_dns("QDCOUNT 2", with(&|m| m[5] = 2));
    push_dns("QDCOUNT 0", with(&|m| m[5] = 0));
    push_dns("ANCOUNT 1", with(&|m| m[7] = 1));
    push_dns("ARCOUNT 1 without a record", with(&|m| m[11] = 1));
    push_dns("trailing byte", with(&|m| m.push(0)));
    push_dns("truncated question", good[..good.len() - 2].to_vec());
    push_dns("header only", good[..12].to_vec());
    push_dns("CHAOS class", wire::build_query(1, 0, &name::from_text("id.server").unwrap(), rr::TXT, rr::CLASS_CH, None));
    push_dns("qtype ANY", q("www.example.jp", rr::ANY, None));
    push_dns("qtype AXFR", q("www.example.jp", 252, None));
    push_dns(
        "signed NXDOMAIN for a label with a zero octet (the sort key cannot order it)",
        wire::build_query(0xbeef, 0, &[4, b'a', 0, b'b', b'c', 0], rr::A, rr::CLASS_IN, Some((1232, true))),
    );
    push_dns(
        "EDNS version 1",
        with(&|m| {
            m[11] = 1;
            m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 1, 0, 0, 0, 0]);
        }),
    );
    push_dns(
        "EDNS with an option (cookie)",
        with(&|m| {
            m[11] = 1;
            m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        }),
    );
    push_dns("compression pointer in the question", {
        let mut m = good[..12].to_vec();
        m.extend_from_slice(&[3, b'w', b'w', b'w', 0xc0, 12, 0, 1, 0, 1]);
        m
    });
    push_dns("label longer than 63", {
        let mut m = good[..12].to_vec();
        m.push(64);
        m.extend_from_slice(&[b'a'; 64]);
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    });
    // Envelope cases.
    let base = frame::build(&s4, &good);
    let mut wrong_addr = s4.clone();
    wrong_addr.dst = "198.18.0.99".parse().unwrap();
    cases.push(("not a service address".into(), frame::build(&wrong_addr, &good)));
    let mut wrong_port = s4.clone();
    wrong_port.dport = 5353;
    cases.push(("port 5353".into(), frame::build(&wrong_port, &good)));
    let mut zero_sport = s4.clone();
    zero_sport.sport = 0;
    cases.push(("source port 0".into(), frame::build(&zero_sport, &good)));
    let mut frag = base.clone();
    frag[14 + 6] |= 0x20; // MF
    cases.push(("IPv4 fragment (MF)".into(), frag));
    let mut opts = base.clone();
    opts[14] = 0x46;
    cases.push(("IPv4 options (IHL 6)".into(), opts));
    let mut badlen = base.clone();
    let l = u16::from_be_bytes([badlen[14 + 20 + 4], badlen[14 + 20 + 5]]) + 1;
    badlen[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&l.to_be_bytes());
    cases.push(("UDP length beyond the IP length".into(), badlen));
    cases.push(("truncated frame".into(), base[..base.len() - 5].to_vec()));
    // (BPF_PROG_TEST_RUN refuses an skb whose IP header is cut short, so TC gets a bare header of
    // another type.)
    let mut eth_only = base[..14].to_vec();
    if hook == Hook::Tc {
        eth_only[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    }
    cases.push(("Ethernet only".into(), eth_only));
    let mut arp = base.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    cases.push(("ARP ethertype".into(), arp));
    let mut tcp = base.clone();
    tcp[14 + 9] = 6;
    cases.push(("TCP to port 53".into(), tcp));
    let mut icmp6 = frame::build(&spec(true, vec![]), &good);
    icmp6[14 + 6] = 58;
    cases.push(("ICMPv6".into(), icmp6));
    let mut ext = frame::build(&spec(true, vec![]), &good);
    ext[14 + 6] = 0; // hop-by-hop extension header
    cases.push(("IPv6 extension header".into(), ext));
    let mut three_tags = spec(false, vec![(0x88a8, 1), (0x8100, 2), (0x8100, 3)]);
    three_tags.vlans.truncate(3);
    cases.push(("three VLAN tags".into(), frame::build(&three_tags, &good)));
    for (what, input) in cases {
        let (action, out) = h.run(&input);
        assert_eq!(action, Action::Passed, "{what}: expected a pass");
        assert_eq!(out, input, "{what}: passed frame must be unchanged");
    }
}

/// Trust-anchor signals answered in XDP are counted by kind and key tag (RFC 8145, RFC 8509), once per
/// answered query, and only when the label is well formed.
fn trust_anchor_signals_are_counted_by_key_tag(hook: Hook) {
    let mut h = Harness::new(hook);
    let s = spec(false, vec![]);
    let cases: [(&str, u16, Option<(u16, bool)>); 6] = [
        ("_ta-4f66", 10, None),
        ("_TA-4F66-9728", 10, Some((1232, true))),
        ("root-key-sentinel-is-ta-20326", rr::A, Some((1232, true))),
        ("root-key-sentinel-not-ta-38696", rr::A, None),
        ("_ta-4f6", 10, None),
        ("root-key-sentinel-is-ta-99999", rr::A, None),
    ];
    for (n, t, e) in cases {
        let msg = q(n, t, e);
        let input = frame::build(&s, &msg);
        let (action, out) = h.run(&input);
        assert_eq!(action, Action::Answered, "{n}");
        assert_answer(&out, &s, &msg, n);
    }
    let got = h.dp.signals().unwrap();
    let want = vec![(0, 0x4f66, 2), (0, 0x9728, 1), (1, 20326, 1), (2, 38696, 1)];
    assert_eq!(got, want);
    // zonegen's parser agrees on what counts.
    for (n, _, _) in cases {
        let sig = zonegen::signal::signals(n.as_bytes());
        assert_eq!(sig.is_empty(), n.ends_with("4f6") || n.ends_with("99999"), "{n}");
    }
}

/// Signed NXDOMAIN in the kernel for every TLD boundary of the bundled zone: names just before and just after
/// each TLD in canonical order (case variants, digits, hyphens, octets above 'z', labels of 1 and 63
/// octets), DO=1, each buffer class: byte-identical to the answer function.
fn signed_nxdomain_at_every_tld_boundary(hook: Hook) {
    let mut h = Harness::new(hook);
    let s = spec(true, vec![]);
    let z = zone();
    let mut labels: Vec<Vec<u8>> = vec![b"0".to_vec(), b"a".to_vec(), vec![b'z'; 63], vec![0xfe], b"-".to_vec()];
    for t in &z.tlds {
        let l = &t[1..t.len() - 1];
        labels.push([l, b"0"].concat()); // just after (a digit)
        labels.push([l, b"-"].concat());
        labels.push([l, &[0xc3u8][..]].concat()); // an octet above 'z'
        labels.push(l.to_ascii_uppercase().iter().chain(b"A").copied().collect()); // case variant, just after
        let mut before = l.to_vec();
        if let Some(last) = before.last_mut() {
            *last -= 1; // just before: same length, last octet one lower
        }
        labels.push(before);
    }
    let mut answered = 0;
    for l in labels {
        if l.is_empty() || l.len() > 63 || l.contains(&0) || l.contains(&b'.') {
            continue;
        }
        let qn = [&[l.len() as u8][..], &l, &[0u8][..]].concat();
        if z.is_tld(&name::lower(&qn)) {
            continue;
        }
        for size in [512u16, 1232, 4096] {
            let msg = wire::build_query(0x77, 0, &qn, rr::A, rr::CLASS_IN, Some((size, true)));
            let input = frame::build(&s, &msg);
            let (action, out) = h.run(&input);
            assert_eq!(action, Action::Answered, "{}", name::to_text(&qn));
            assert_answer(&out, &s, &msg, &name::to_text(&qn));
            answered += 1;
        }
    }
    assert!(answered > 15_000, "{answered}");
}

/// Beside XDP, the TC program answers only what XDP marked as having no room (its hint in the metadata,
/// which BPF_PROG_TEST_RUN cannot supply): an answerable query without the hint passes unchanged, counted.
#[test]
fn tc_beside_xdp_leaves_unhinted_queries_alone() {
    let mut h = Harness::new(Hook::Tc);
    h.dp.set_tc_mode(false).unwrap();
    let count = |h: &Harness, k: &str| h.dp.counters().unwrap().into_iter().find(|(n, _)| n == k).map(|(_, v)| v).unwrap();
    let s = spec(false, vec![]);
    let msg = q("www.example.jp", rr::A, Some((1232, true)));
    let input = frame::build(&s, &msg);
    let before = count(&h, "tc.pass.not-hinted");
    let (action, out) = h.run(&input);
    assert_eq!(action, Action::Passed);
    assert_eq!(out, input, "passed unchanged");
    assert_eq!(count(&h, "tc.pass.not-hinted"), before + 1);
    // The same query in the XDP-less mode is answered: the pass above was the mode, not the query.
    h.dp.set_tc_mode(true).unwrap();
    let (action, out) = h.run(&input);
    assert_eq!(action, Action::Answered);
    assert_answer(&out, &s, &msg, "TC, all mode");
}

/// With XDP_TX off (auto on a virtual device, or after transmit errors) the XDP program sends nothing
/// itself: every covered query passes unchanged, counted as handed to TC, and no answer is counted.
#[test]
fn with_xdp_tx_off_covered_queries_go_to_tc_unchanged() {
    let mut h = Harness::new(Hook::Xdp);
    h.dp.set_xdp_tx(false).unwrap();
    assert!(!h.dp.xdp_tx().unwrap());
    let count = |h: &Harness, k: &str| h.dp.counters().unwrap().into_iter().find(|(n, _)| n == k).map(|(_, v)| v).unwrap();
    let answered = |h: &Harness| m_root_common::Counter::ANSWERS.iter().map(|c| count(h, &format!("xdp.{}", c.name()))).sum::<u64>();
    let (to_tc, ans) = (count(&h, "xdp.pass.to-tc"), answered(&h));
    let queries = [
        q("www.example.jp", rr::A, None),
        q("com", rr::DS, Some((1232, true))),
        q("nonexistent-tld", rr::A, Some((1232, true))),
        q("nonexistent-tld", rr::A, None),
        q(".", rr::SOA, Some((1232, false))),
        q(".", rr::MX, None),
    ];
    for v6 in [false, true] {
        let s = spec(v6, vec![]);
        for msg in &queries {
            let input = frame::build(&s, msg);
            let (action, out) = h.run(&input);
            assert_eq!(action, Action::Passed, "XDP_TX off: passed, not sent");
            // BPF_PROG_TEST_RUN returns the metadata before the frame: the hint TC acts on, then the
            // frame as it came.
            let hint = std::mem::size_of::<m_root_common::XdpHint>();
            assert_eq!(out.len(), hint + input.len(), "hint + the frame unchanged");
            assert_eq!(&out[hint..], &input[..], "the frame passes unchanged");
            assert_eq!(u32::from_ne_bytes(out[..4].try_into().unwrap()), m_root_common::XDP_HINT_MAGIC, "the hint for TC");
            let index = u32::from_ne_bytes(out[4..8].try_into().unwrap());
            assert!(index < m_root_common::ANSWERS_PER_GEN * m_root_common::GENERATIONS, "the hint names an answer: {index}");
        }
    }
    assert_eq!(count(&h, "xdp.pass.to-tc") - to_tc, 2 * queries.len() as u64);
    assert_eq!(answered(&h), ans, "nothing counted as answered by XDP");
    // On again: the same queries are answered.
    h.dp.set_xdp_tx(true).unwrap();
    let input = frame::build(&spec(false, vec![]), &queries[0]);
    assert_eq!(h.run(&input).0, Action::Answered);
}
