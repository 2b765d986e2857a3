//! The TC companion in the lab: queries sent from ordinary sockets reach XDP on veth in buffers too tight
//! to grow, so XDP passes them with a hint and the TC program answers them in the kernel.
//!
//! 1. XDP + TC with a peer that runs XDP (`--xdp-tx-peer`), userspace stopped (SIGSTOP): every kind the fast path covers, over IPv4 and
//!    IPv6, from a raw UDP socket (byte-identical to the answer function, the answer's frame captured
//!    and its checksum checked), from dnspython, and from kdig, all answered; the counters say TC
//!    answered them. With the client's checksum offload on (queries arrive CHECKSUM_PARTIAL, and so leave
//!    the answers, unless XDP handed them to another CPU, where they become new skbs) and off. Frames injected as a NIC delivers them are still answered
//!    by XDP.
//! 2. `--xdp-mode tc`: no XDP program, TC answers everything it covers.
//!
//! Needs root, iproute2, ethtool, kdig and python3-dnspython; fails loudly (never skips) without them.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{Lab, Peer, SRV_MAC, hex, in_netns, sh};
use m_root_common::Hook;
use m_root_user::dataplane::answered_by;
use m_root_user::lab::{self, Injection, Injector};
use zonegen::answer::{self, Transport};
use zonegen::{LoadOptions, ServerConfig, Zone, name, rr, wire};

/// Every kind the fast path covers: (qname, qtype, DO, EDNS buffer size or 0 for none).
const KINDS: [(&str, &str, bool, u16); 13] = [
    ("www.example.jp", "A", false, 0),
    ("www.example.jp", "A", false, 1232),
    ("a.b.c.org", "AAAA", true, 1232),
    ("nonexistent-tld", "A", false, 0),
    ("Printer.LOCAL", "A", true, 1232),
    (".", "SOA", false, 1232),
    (".", "DNSKEY", true, 4096),
    (".", "NS", true, 1232),
    (".", "MX", false, 0),
    ("com", "DS", true, 1232),
    ("jp", "NSEC", true, 1232),
    ("xn--p1ai", "NS", false, 512),
    ("com", "A", true, 512),
];

fn query_bytes(id: u16, qname: &str, qtype: &str, dnssec: bool, bufsize: u16) -> Vec<u8> {
    let qt = rr::type_from_name(qtype).unwrap();
    let edns = (bufsize > 0).then_some((bufsize, dnssec));
    wire::build_query(id, 0, &name::from_text(qname).unwrap(), qt, rr::CLASS_IN, edns)
}

fn counters(lab: &Lab) -> serde_json::Value {
    common::xdp_counters(lab)
}

fn delta(a: &serde_json::Value, b: &serde_json::Value, k: &str) -> u64 {
    b[k].as_u64().unwrap_or_else(|| panic!("no counter {k}")) - a[k].as_u64().unwrap()
}

#[test]
fn tc_answers_socket_sent_queries_while_userspace_is_stopped() {
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    let cfg = ServerConfig::default();
    // A peer that takes XDP_TX'd frames, so XDP answers what it has room for (deployment.rs runs the
    // bare peers, where `auto` runs TC alone).
    let mut lab = Lab::up_with("mrxc", Peer::Xdp);
    let (pid, _control) = common::start_daemon_with(&mut lab, &[common::SRV4, common::SRV6], &["--xdp-tx-peer"]);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let cli = lab.cli_ns();
    let cli_if = lab.cli_if();
    let python = common::root_dir().join("m-root-user/tests/clients/dnspython_query.py");

    for offload in [true, false] {
        sh(&mut Lab::in_ns(&cli, &["ethtool", "-K", &cli_if, "tx", if offload { "on" } else { "off" }]));
        let before = counters(&lab);
        let mut sent = 0u64;

        // A raw UDP socket: the answer byte for byte, and its frame as the client's interface got it.
        for server in [common::SRV4, common::SRV6] {
            for (i, (qn, qt, dnssec, size)) in KINDS.iter().enumerate() {
                let msg = query_bytes(0x6000 + i as u16, qn, qt, *dnssec, *size);
                let want = answer::answer(&zone, &cfg, &msg, Transport::Udp).unwrap();
                let what = format!("{qn} {qt} DO={dnssec} bufsize={size} to {server}, offload {offload}");
                let c0 = counters(&lab);
                let got = in_netns(&cli, || lab::udp_query_captured(&cli_if, server.parse().unwrap(), &msg, Duration::from_secs(2)))
                    .unwrap_or_else(|e| panic!("{what}: {e:#}"));
                let c1 = counters(&lab);
                assert_eq!(hex(&got.answer), hex(&want), "{what}: answer differs from the answer function");
                // The frame (checked in udp_query_captured): addresses swapped, lengths right, the UDP
                // checksum complete, or, when TC answered a query that came CHECKSUM_PARTIAL (offload on), the
                // pseudo-header sum the device completes. XDP answers the odd one veth gave room to, in full.
                let by_tc = answered_by(&c1, Hook::Tc) - answered_by(&c0, Hook::Tc);
                assert_eq!(by_tc + answered_by(&c1, Hook::Xdp) - answered_by(&c0, Hook::Xdp), 1, "{what}: answered once, in the kernel");
                // A query XDP handed to another CPU arrives there as a new skb with no checksum state, so its
                // answer carries the full checksum (the client's stack checks it).
                let spilled = delta(&c0, &c1, "xdp.pass.to-cpu");
                assert_eq!(
                    got.csum_partial,
                    offload && by_tc == 1 && spilled == 0,
                    "{what}: checksum left partial exactly when TC answered a partial query in place"
                );
                sent += 1;
            }
        }

        // dnspython, from its own sockets.
        for server in [common::SRV4, common::SRV6] {
            let input: String = KINDS.iter().map(|(qn, qt, dnssec, size)| format!("{qn} {qt} {} {size}\n", *dnssec as u8)).collect();
            let mut child = Lab::in_ns(&cli, &["/usr/bin/python3", python.to_str().unwrap(), server])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3");
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "dnspython to {server} (offload {offload}): {}\n{text}", String::from_utf8_lossy(&out.stderr));
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), KINDS.len(), "dnspython answers from {server}:\n{text}");
            for (line, (qn, qt, _, _)) in lines.iter().zip(KINDS) {
                let f: Vec<&str> = line.split(' ').collect();
                let q = (0..f[0].len()).step_by(2).map(|i| u8::from_str_radix(&f[0][i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
                let want = answer::answer(&zone, &cfg, &q, Transport::Udp).unwrap();
                assert_eq!(
                    f[1],
                    hex(&want),
                    "dnspython {qn} {qt} to {server} (offload {offload}): answer differs from the answer function"
                );
                sent += 1;
            }
        }

        // kdig: referral, NXDOMAIN, signed NXDOMAIN, apex.
        for server in [common::SRV4, common::SRV6] {
            let at = format!("@{server}");
            for (qn, qt, flag, status) in [
                ("www.example.jp", "A", "+nodnssec", "NOERROR"),
                ("nonexistent-tld", "A", "+nodnssec", "NXDOMAIN"),
                ("nonexistent-tld", "A", "+dnssec", "NXDOMAIN"),
                (".", "DNSKEY", "+dnssec", "NOERROR"),
            ] {
                let out = sh(&mut Lab::in_ns(&cli, &["kdig", &at, qn, qt, flag, "+norec", "+nocookie", "+timeout=2", "+retry=0"]));
                assert!(out.contains(&format!("status: {status}")), "kdig {qn} {qt} {flag} {at} (offload {offload}):\n{out}");
                sent += 1;
            }
        }

        let after = counters(&lab);
        let by_tc = answered_by(&after, Hook::Tc) - answered_by(&before, Hook::Tc);
        let by_xdp = answered_by(&after, Hook::Xdp) - answered_by(&before, Hook::Xdp);
        println!("offload {offload}: {sent} queries, TC answered {by_tc}, XDP {by_xdp} (veth gave those room)");
        // Userspace is stopped: the kernel answered every one, TC those XDP had no room for.
        assert_eq!(by_tc + by_xdp, sent, "{after}");
        assert_eq!(by_tc, delta(&before, &after, "xdp.pass.no-room"), "TC answered exactly what XDP passed for room: {after}");
        // With more than one CPU, XDP hands those to the next CPU (cpumap), where their skbs are built for TC.
        if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            assert_eq!(delta(&before, &after, "xdp.pass.to-cpu"), by_tc, "no-room queries spilled to another CPU: {after}");
        }
        // veth copies a socket-sent query into a buffer rounded up to 128 bytes or so: small answers (DO=0
        // NXDOMAIN, TC=1) sometimes fit and XDP sends them; the rest need TC.
        assert!(by_tc * 2 >= sent, "TC answered most socket-sent queries ({by_tc} of {sent}): {after}");
        assert_eq!(delta(&before, &after, "tc.answer.ipv4") + delta(&before, &after, "tc.answer.ipv6"), by_tc);
        let spilled = delta(&before, &after, "xdp.pass.to-cpu");
        assert_eq!(delta(&before, &after, "tc.csum-partial"), if offload { by_tc - spilled } else { 0 }, "partial checksums: {after}");
        assert_eq!(delta(&before, &after, "tc.dropped") + delta(&before, &after, "xdp.dropped"), 0);
        assert_eq!(delta(&before, &after, "tc.pass.no-room"), 0);
    }

    // Frames as a NIC delivers them (page-sized buffers) are still XDP's.
    let before = counters(&lab);
    let msg = query_bytes(0x7777, "www.example.jp", "A", true, 1232);
    let want = answer::answer(&zone, &cfg, &msg, Transport::Udp).unwrap();
    in_netns(&cli, || {
        let inj = Injector::new(&cli_if).expect("injector");
        let how = Injection {
            iface: cli_if.clone(),
            dst_mac: m_root_user::frame::parse_mac(SRV_MAC).unwrap(),
            vlans: vec![],
            src: common::CLI4.parse().unwrap(),
            dst: common::SRV4.parse().unwrap(),
            dport: 53,
            timeout: Duration::from_secs(2),
        };
        let got = lab::query(&inj, &how, &msg).unwrap_or_else(|e| panic!("injected: {e:#}"));
        assert_eq!(hex(&got), hex(&want));
    });
    let after = counters(&lab);
    assert_eq!(answered_by(&after, Hook::Xdp) - answered_by(&before, Hook::Xdp), 1, "{after}");
    assert_eq!(answered_by(&after, Hook::Tc) - answered_by(&before, Hook::Tc), 0, "{after}");
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
}

#[test]
fn tc_only_mode_answers_everything_it_covers_without_xdp() {
    let mut lab = Lab::up("mrxd");
    let (pid, _control) = common::start_daemon_with(&mut lab, &[common::SRV4, common::SRV6], &["--xdp-mode", "tc"]);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let cli = lab.cli_ns();
    let before = counters(&lab);
    for server in [common::SRV4, common::SRV6] {
        let at = format!("@{server}");
        for (qn, qt, status) in [("www.example.jp", "A", "NOERROR"), ("nonexistent-tld", "A", "NXDOMAIN"), (".", "SOA", "NOERROR")] {
            let out = sh(&mut Lab::in_ns(&cli, &["kdig", &at, qn, qt, "+dnssec", "+norec", "+nocookie", "+timeout=2", "+retry=0"]));
            assert!(out.contains(&format!("status: {status}")), "kdig {qn} {qt} {at}:\n{out}");
        }
    }
    // Queries from a socket with checksum offload reach TC in place as CHECKSUM_PARTIAL: the answers keep
    // that state with the pseudo-header sum in the field (checked on the captured frame).
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    let cli_if = lab.cli_if();
    sh(&mut Lab::in_ns(&cli, &["ethtool", "-K", &cli_if, "tx", "on"]));
    for server in [common::SRV4, common::SRV6] {
        let msg = query_bytes(0x6400, "www.example.jp", "A", true, 1232);
        let want = answer::answer(&zone, &ServerConfig::default(), &msg, Transport::Udp).unwrap();
        let got = in_netns(&cli, || lab::udp_query_captured(&cli_if, server.parse().unwrap(), &msg, Duration::from_secs(2)))
            .unwrap_or_else(|e| panic!("{server}: {e:#}"));
        assert_eq!(hex(&got.answer), hex(&want), "{server}");
        assert!(got.csum_partial, "{server}: the answer to a partial query is left partial");
    }
    let after = counters(&lab);
    // (kdig sends through the same offloading socket path: every answer here was a partial one.)
    assert_eq!(delta(&before, &after, "tc.csum-partial"), 8, "{after}");
    assert_eq!(answered_by(&after, Hook::Tc) - answered_by(&before, Hook::Tc), 8, "{after}");
    assert_eq!(after["xdp.frames"].as_u64(), Some(0), "no XDP program runs in tc mode: {after}");
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
}
