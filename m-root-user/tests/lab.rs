//! The lab test: two network namespaces joined by a veth pair (scripts/lab.sh), m-root-xdp serving the
//! bundled root zone with XDP attached in native mode on the server end.
//!
//! 1. With the daemon stopped (SIGSTOP), queries injected as a NIC delivers them still get referrals, over
//!    IPv4, IPv6 and with one and two VLAN tags, byte-identical to the answer function; the pinned XDP
//!    counters show them. Ping, TCP and socket-sent queries (too tight a buffer on veth) pass to the stack.
//! 2. With the daemon running again, kdig gets correct referrals over UDP and TCP; userspace counters show
//!    that userspace answered them.
//!
//! Needs root, iproute2, kdig and ping; fails loudly (never skips) without them.

#![allow(clippy::type_complexity)] // tables of test cases read best as tuples

mod common;

use std::time::Duration;

use common::{Client, Lab, Peer, SRV_MAC, hex, in_netns, sh};
use m_root_user::lab::{self, Injection, Injector};
use zonegen::answer::{self, Transport};
use zonegen::{LoadOptions, ServerConfig, Zone, name, rr, wire};

#[test]
fn xdp_answers_while_userspace_is_stopped_and_userspace_answers_the_rest() {
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    // The one peer that takes XDP_TX'd frames on veth: a pass-through XDP program (see deployment.rs for
    // the bare peers users have).
    let mut lab = Lab::up_with("mrxt", Peer::Xdp);
    // XDP alone (--no-tc): socket-sent queries it has no room for go up to userspace.
    let (pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4, common::SRV6], &["--no-tc", "--xdp-tx-peer"]);
    let before = common::xdp_counters(&lab);

    // 1. Userspace stopped: only the XDP program can answer.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let cases: [(&str, &str, &str, Option<(u16, bool)>, &[(u16, u16)]); 10] = [
        (common::CLI4, common::SRV4, "no-such-tld", Some((1232, true)), &[]),
        (common::CLI6, common::SRV6, "Printer.LOCAL", Some((4096, true)), &[]),
        (common::CLI4, common::SRV4, "www.example.jp", None, &[]),
        (common::CLI6, common::SRV6, "www.example.jp", None, &[]),
        (common::CLI4, common::SRV4, "Www.Example.COM", Some((1232, false)), &[]),
        (common::CLI6, common::SRV6, "a.b.c.org", Some((4096, true)), &[]),
        (common::CLI4, common::SRV4, "jp", Some((1232, true)), &[]),
        (common::CLI6, common::SRV6, "xn--p1ai", Some((512, false)), &[]),
        (common::CLI4, common::SRV4, "www.example.jp", Some((1232, false)), &[(0x8100, 100)]),
        (common::CLI6, common::SRV6, "www.example.jp", Some((1232, true)), &[(0x88a8, 7), (0x8100, 100)]),
    ];
    let cfg = ServerConfig::default();
    let cli_if = lab.cli_if();
    in_netns(&lab.cli_ns(), || {
        let inj = Injector::new(&cli_if).expect("injector");
        for (i, (src, dst, qn, edns, vlans)) in cases.iter().enumerate() {
            let msg = wire::build_query(0x4000 + i as u16, 0, &name::from_text(qn).unwrap(), rr::A, rr::CLASS_IN, *edns);
            let want = answer::answer(&zone, &cfg, &msg, Transport::Udp).unwrap();
            let how = Injection {
                iface: cli_if.clone(),
                dst_mac: m_root_user::frame::parse_mac(SRV_MAC).unwrap(),
                vlans: vlans.to_vec(),
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                dport: 53,
                timeout: Duration::from_secs(2),
            };
            let got = lab::query(&inj, &how, &msg).unwrap_or_else(|e| panic!("{qn} via {dst} vlans {vlans:?}: {e:#}"));
            assert_eq!(
                hex(&got),
                hex(&want),
                "{qn} via {dst} (edns {edns:?}, vlans {vlans:?}): XDP answer differs from the answer function"
            );
        }
    });
    let after = common::xdp_counters(&lab);
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!(common::xdp_answered(&after) - common::xdp_answered(&before), cases.len() as u64, "{after}");
    assert_eq!(delta("xdp.answer.ipv4"), 5);
    assert_eq!(delta("xdp.answer.ipv6"), 5);
    assert_eq!(delta("xdp.answer.nxdomain-dnssec"), 2);
    assert_eq!(delta("xdp.dropped"), 0);

    // Everything else passes to the stack, whose kernel still works with the daemon stopped.
    let cli = lab.cli_ns();
    sh(&mut Lab::in_ns(&cli, &["ping", "-c", "2", "-i", "0.2", "-W", "2", common::SRV4]));
    sh(&mut Lab::in_ns(&cli, &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", common::SRV6]));
    let tcp_ok = in_netns(&cli, || {
        std::net::TcpStream::connect_timeout(&format!("{}:53", common::SRV4).parse().unwrap(), Duration::from_secs(2)).is_ok()
    });
    assert!(tcp_ok, "TCP handshake to port 53 completes in the kernel while the daemon is stopped");
    // A socket-sent query usually reaches XDP in a buffer too tight to grow (veth copies it into one
    // sized to the packet) and passes up to the stopped daemon: no answer. Sometimes veth hands it a
    // page and XDP answers it; then the XDP counters say so. Try until one passes.
    let mut passed = false;
    for attempt in 0..10u16 {
        let before = common::xdp_counters(&lab);
        let msg = wire::build_query(0x5151 + attempt, 0, &name::from_text("www.example.jp").unwrap(), rr::A, rr::CLASS_IN, None);
        let answer = in_netns(&cli, || {
            let mut c = Client::new();
            c.timeout = Duration::from_millis(500);
            c.udp(common::SRV4, &msg)
        });
        let after = common::xdp_counters(&lab);
        let d = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
        match answer {
            None => {
                assert_eq!(d("xdp.pass.no-room"), 1, "an unanswered query was passed for lack of room");
                passed = true;
                break;
            }
            Some(_) => assert_eq!(
                common::xdp_answered(&after) - common::xdp_answered(&before),
                1,
                "only XDP can answer while the daemon is stopped"
            ),
        }
    }
    assert!(passed, "no socket-sent query was passed up in 10 tries");
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);

    // 2. Userspace running: socket-sent queries pass up (no room to grow on veth) and userspace answers.
    // The query the daemon got while stopped is answered now; let it drain.
    std::thread::sleep(Duration::from_millis(300));
    let u0_udp =
        m_root_user::control::request(&control, "stats", Duration::from_secs(2)).unwrap()["server"]["udp_responses"].as_u64().unwrap();
    let x0 = common::xdp_answered(&common::xdp_counters(&lab));
    for (server, tcp) in [(common::SRV4, false), (common::SRV4, true), (common::SRV6, false), (common::SRV6, true)] {
        let at = format!("@{server}");
        let mut args = vec!["kdig", at.as_str(), "www.example.jp", "A", "+norec", "+nocookie"];
        if tcp {
            args.push("+tcp");
        }
        let out = sh(&mut Lab::in_ns(&cli, &args));
        assert!(out.contains("status: NOERROR"), "kdig {server} tcp={tcp}:\n{out}");
        assert!(out.contains("AUTHORITY: 8"), "kdig {server} tcp={tcp}:\n{out}");
        for ns in ["a.dns.jp.", "h.dns.jp."] {
            assert!(
                out.lines().any(|l| l.starts_with("jp.") && l.contains("NS") && l.ends_with(ns)),
                "kdig {server} tcp={tcp}: no NS {ns}\n{out}"
            );
        }
        assert!(!out.lines().any(|l| l.starts_with(";; Flags:") && l.contains(" aa")), "a referral has AA clear:\n{out}");
        // The same question, raw, byte for byte as the answer function says.
        let msg = wire::build_query(0x2222, 0, &name::from_text("www.example.jp").unwrap(), rr::A, rr::CLASS_IN, Some((1232, true)));
        let want = answer::answer(&zone, &cfg, &msg, if tcp { Transport::Tcp } else { Transport::Udp }).unwrap();
        let got = in_netns(&cli, || {
            let c = Client::new();
            if tcp { c.tcp(server, &msg) } else { c.udp(server, &msg) }
        });
        assert_eq!(got.map(|g| hex(&g)), Some(hex(&want)), "raw query to {server} tcp={tcp}");
    }
    let u1 = m_root_user::control::request(&control, "stats", Duration::from_secs(2)).unwrap()["server"].clone();
    // Four UDP queries (kdig and raw, v4 and v6): userspace answers those that pass up, XDP the rare one
    // veth gave room to; together all four, and userspace at least one.
    let by_user = u1["udp_responses"].as_u64().unwrap() - u0_udp;
    let by_xdp = common::xdp_answered(&common::xdp_counters(&lab)) - x0;
    assert_eq!(by_user + by_xdp, 4, "every UDP query answered once: {u1}");
    assert!(by_user >= 1, "userspace answered the UDP queries it was passed: {u1}");
    assert!(u1["tcp_responses"].as_u64().unwrap() >= 4, "userspace answered the TCP queries: {u1}");
}
