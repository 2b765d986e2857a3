//! Every query answered in every deployment. Two namespaces joined by a veth pair; on the client end the
//! peers users have: bare (nothing attached, GRO off, as a new veth or a container's host side), GRO on,
//! and the one peer that takes XDP_TX'd frames (a pass-through XDP program). On the server end
//! `m-root-xdp run` in each mode. For each cell, over IPv4 and IPv6: a seeded standard-mix run of 2,000
//! UDP queries and 200 over TCP from ordinary sockets, and where native XDP runs the same UDP queries
//! injected as a NIC delivers them. Every query must be answered, byte-identical to the answer function,
//! and the counters (`stats --json` over the control socket) must say which path answered: kernel
//! answers (XDP + TC) are exactly the covered queries, userspace answers the rest.
//!
//! Also: `auto` told wrongly that the peer takes XDP_TX sees the device's transmit errors and switches to
//! TC by itself; `native` on a bare peer counts and logs them and keeps its choice.
//!
//! Needs root and iproute2/ethtool; fails loudly (never skips) without them.

#![allow(clippy::type_complexity)] // tables of test cases read best as tuples

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Client, Lab, Peer, in_netns};
use m_root_common::Hook;
use m_root_user::dataplane::{answered_by, xdp_covers};
use zonegen::answer::{self, Transport};
use zonegen::testkit::querymix::{Carrier, Generator};
use zonegen::{LoadOptions, ServerConfig, Zone};

const UDP_PER_FAMILY: usize = 2000;
const TCP_PER_FAMILY: usize = 200;
const IDENTITY: &str = "matrix.m-root-xdp";

/// Which path must answer the covered queries in a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// TC only: no XDP program (auto on a virtual device, `tc`).
    Tc,
    /// XDP what it has room for, TC the rest; `xdp_some`: XDP must answer some.
    XdpAndTc { xdp_some: bool },
    /// Userspace everything: no kernel program.
    User,
}

struct Cell {
    name: &'static str,
    peer: Peer,
    flags: &'static [&'static str],
    socket: Path,
    /// Injected queries (None: injection cannot reach the program in this mode).
    injected: Option<Path>,
}

const CELLS: [Cell; 6] = [
    Cell { name: "auto, bare peer", peer: Peer::Bare, flags: &[], socket: Path::Tc, injected: None },
    Cell { name: "auto, GRO-on peer", peer: Peer::Gro, flags: &[], socket: Path::Tc, injected: None },
    Cell {
        name: "XDP + TC, XDP-running peer",
        peer: Peer::Xdp,
        flags: &["--xdp-tx-peer"],
        socket: Path::XdpAndTc { xdp_some: false },
        injected: Some(Path::XdpAndTc { xdp_some: true }),
    },
    Cell {
        name: "skb, bare peer",
        peer: Peer::Bare,
        flags: &["--xdp-mode", "skb"],
        socket: Path::XdpAndTc { xdp_some: true },
        injected: None,
    },
    Cell { name: "tc, bare peer", peer: Peer::Bare, flags: &["--xdp-mode", "tc"], socket: Path::Tc, injected: None },
    Cell { name: "off, bare peer", peer: Peer::Bare, flags: &["--xdp-mode", "off"], socket: Path::User, injected: None },
];

fn config() -> ServerConfig {
    ServerConfig { chaos: true, identity: Some(IDENTITY.into()), version: None, nsid: true }
}

/// The mix's queries for one family: UDP ones and TCP ones (the mix's TCP share is small, so TCP
/// queries are the mix's UDP queries re-sent over TCP).
fn mix(zone: &Zone, seed: u64, v6: bool) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut g = Generator::new(zone, seed);
    let want = if v6 { Carrier::UdpV6 } else { Carrier::UdpV4 };
    let mut udp = Vec::new();
    while udp.len() < UDP_PER_FAMILY {
        let q = g.next();
        if q.carrier == want {
            udp.push(q.msg);
        }
    }
    let tcp = udp.iter().step_by(UDP_PER_FAMILY / TCP_PER_FAMILY).cloned().collect();
    (udp, tcp)
}

/// What one run saw: per query the answer (or None).
struct Run {
    answers: Vec<Option<Vec<u8>>>,
}

/// Counters that tell which path answered: (XDP, TC, userspace UDP, userspace TCP).
fn paths(stats: &serde_json::Value) -> [u64; 4] {
    let u = &stats["userspace"]["server"];
    [
        answered_by(stats, Hook::Xdp),
        answered_by(stats, Hook::Tc),
        u["udp_responses"].as_u64().unwrap_or(0),
        u["tcp_responses"].as_u64().unwrap_or(0),
    ]
}

fn delta(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    [b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3]]
}

/// Check every answer against the answer function; returns how many there were.
fn check_answers(zone: &Zone, what: &str, queries: &[Vec<u8>], run: &Run, transport: Transport) {
    let cfg = config();
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (q, got) in queries.iter().zip(&run.answers) {
        let want = answer::answer(zone, &cfg, q, transport);
        match (got, &want) {
            (Some(g), Some(w)) if g == w => {}
            (None, None) => {}
            (None, Some(_)) => missing.push(common::hex(q)),
            (g, w) => wrong.push(format!(
                "query {}\n got {:?}\nwant {:?}",
                common::hex(q),
                g.as_ref().map(|g| common::hex(g)),
                w.as_ref().map(|w| common::hex(w))
            )),
        }
    }
    assert!(
        missing.is_empty(),
        "{what}: {} of {} queries unanswered, first: {:?}",
        missing.len(),
        queries.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(wrong.is_empty(), "{what}: {} answers differ from the answer function, first:\n{}", wrong.len(), wrong[0]);
}

fn check_paths(what: &str, path: Path, d: [u64; 4], covered: u64, total: u64, tcp: bool) {
    let [xdp, tc, udp, _] = d;
    let user = if tcp { d[3] } else { udp };
    match path {
        Path::Tc => {
            assert_eq!((xdp, tc, user), (0, covered, total - covered), "{what}: TC answers the covered queries, userspace the rest")
        }
        Path::XdpAndTc { xdp_some } => {
            assert_eq!(
                (xdp + tc, user),
                (covered, total - covered),
                "{what}: XDP + TC answer the covered queries, userspace the rest ({d:?})"
            );
            assert!(!xdp_some || xdp > 0, "{what}: XDP answered none ({d:?})");
        }
        Path::User => assert_eq!((xdp, tc, user), (0, 0, total), "{what}: userspace answers everything"),
    }
}

#[test]
fn every_query_is_answered_in_every_deployment() {
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    let families: Vec<(bool, Vec<Vec<u8>>, Vec<Vec<u8>>)> = [false, true]
        .into_iter()
        .map(|v6| {
            let (udp, tcp) = mix(&zone, 2026 + v6 as u64, v6);
            (v6, udp, tcp)
        })
        .collect();
    let mut summary = BTreeMap::new();
    for cell in &CELLS {
        let mut lab = Lab::up_with("mrxm", cell.peer);
        let mut flags = vec!["--identity", IDENTITY];
        flags.extend_from_slice(cell.flags);
        let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4, common::SRV6], &flags);
        let device_errors = |s: &serde_json::Value| s["interfaces"][lab.srv_if()]["device.xdp_tx_errors"].as_u64();
        let errors_before = device_errors(&common::daemon_stats(&control));
        let cli = lab.cli_ns();
        let cli_if = lab.cli_if();
        for (v6, udp, tcp) in &families {
            let server = if *v6 { common::SRV6 } else { common::SRV4 };
            let fam = if *v6 { "IPv6" } else { "IPv4" };
            let covered = udp.iter().filter(|q| xdp_covers(&zone, q)).count() as u64;

            // The answers a run got, and how the counters of each path moved meanwhile.
            let measured = |run: &dyn Fn() -> Vec<Option<Vec<u8>>>| {
                let before = paths(&common::daemon_stats(&control));
                let answers = run();
                // Userspace may still be sending its last answers when the client has them: let counters settle.
                std::thread::sleep(Duration::from_millis(200));
                (Run { answers }, delta(before, paths(&common::daemon_stats(&control))))
            };
            let (run, d) = measured(&|| {
                in_netns(&cli, || {
                    let c = Client::new();
                    udp.iter().map(|q| c.udp(server, q)).collect()
                })
            });
            let what = format!("{} / {fam} / UDP from a socket", cell.name);
            check_answers(&zone, &what, udp, &run, Transport::Udp);
            check_paths(&what, cell.socket, d, covered, udp.len() as u64, false);
            summary.insert(what, d);

            let (run, d) = measured(&|| {
                in_netns(&cli, || {
                    let c = Client::new();
                    tcp.iter().map(|q| c.tcp(server, q)).collect()
                })
            });
            let what = format!("{} / {fam} / TCP", cell.name);
            check_answers(&zone, &what, tcp, &run, Transport::Tcp);
            assert_eq!(d[3], tcp.len() as u64, "{what}: userspace answers TCP ({d:?})");
            summary.insert(what, d);

            if let Some(path) = cell.injected {
                let (run, d) = measured(&|| {
                    let cli_if = cli_if.clone();
                    in_netns(&cli, || {
                        let inj = m_root_user::lab::Injector::new(&cli_if).expect("injector");
                        let how =
                            common::injection(&cli_if, if *v6 { common::CLI6 } else { common::CLI4 }, server, Duration::from_millis(1500));
                        udp.iter().map(|q| m_root_user::lab::query(&inj, &how, q).ok()).collect()
                    })
                });
                let what = format!("{} / {fam} / UDP injected as a NIC delivers it", cell.name);
                check_answers(&zone, &what, udp, &run, Transport::Udp);
                check_paths(&what, path, d, covered, udp.len() as u64, false);
                if path == (Path::XdpAndTc { xdp_some: true }) {
                    assert_eq!(d[0], covered, "{what}: page-sized frames have room, XDP answers every covered query");
                }
                summary.insert(what, d);
            }
        }
        // Nothing the XDP program sent was lost at the device (veth counts an undelivered XDP_TX), and
        // nothing handed to another CPU vanished on the way.
        let s = common::daemon_stats(&control);
        if cell.injected.is_some() {
            assert_eq!((errors_before, device_errors(&s)), (Some(0), Some(0)), "{}: the device's XDP_TX errors: {s}", cell.name);
        }
        assert_eq!(s["xdp.dropped"].as_u64().unwrap_or(0) + s["tc.dropped"].as_u64().unwrap_or(0), 0, "{}: {s}", cell.name);
        let (to_cpu, arrived) = (s["xdp.pass.to-cpu"].as_u64().unwrap_or(0), s["xdp.pass.to-cpu.arrived"].as_u64().unwrap_or(0));
        assert_eq!(s["xdp.pass.to-cpu.lost"], 0, "{}: {s}", cell.name);
        assert_eq!(to_cpu, arrived, "{}: every hand-off arrived", cell.name);
        if cell.injected.is_some() && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            assert!(to_cpu > 0, "{}: XDP handed queries to the next CPU: {s}", cell.name);
        }
        drop(lab);
    }
    println!("answers by path (XDP, TC, userspace UDP, userspace TCP):");
    for (what, d) in &summary {
        println!("  {what:<70} {d:?}");
    }
}

/// Send UDP queries from a socket until `n` are answered or `tries` are sent; returns (sent, answered).
fn ask(lab: &Lab, server: &str, zone: &Zone, tries: usize, n: usize) -> (usize, usize) {
    let (udp, _) = mix(zone, 7, server.contains(':'));
    let covered: Vec<Vec<u8>> = udp.into_iter().filter(|q| xdp_covers(zone, q)).collect();
    in_netns(&lab.cli_ns(), || {
        let (mut sent, mut answered) = (0, 0);
        let mut c = Client::new();
        c.timeout = Duration::from_millis(300);
        for q in covered.iter().cycle().take(tries) {
            sent += 1;
            if c.udp(server, q).is_some() {
                answered += 1;
                if answered >= n {
                    break;
                }
            }
        }
        (sent, answered)
    })
}

#[test]
fn auto_moves_to_tc_when_the_device_fails_to_transmit_and_explicit_modes_only_say_so() {
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    // auto, told (wrongly) that the bare peer takes XDP_TX: veth counts the lost frames as
    // rx_queue_0_xdp_tx_errors, and auto stops sending by XDP_TX.
    let mut lab = Lab::up_with("mrxw", Peer::Bare);
    let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--xdp-tx-peer"]);
    let iface_of = |s: &serde_json::Value| s["interfaces"][lab.srv_if()].clone();
    assert_eq!(iface_of(&common::daemon_stats(&control))["xdp_tx"], true);
    // Socket-sent queries that veth gives room for are sent by XDP_TX and lost: keep asking until the
    // watcher (every 0.5 s) has switched.
    let mut switched = false;
    for _ in 0..40 {
        ask(&lab, common::SRV4, &zone, 50, 50);
        std::thread::sleep(Duration::from_millis(600));
        if iface_of(&common::daemon_stats(&control))["xdp_tx"] == false {
            switched = true;
            break;
        }
    }
    let d = iface_of(&common::daemon_stats(&control));
    assert!(switched, "auto did not move to TC: {d}");
    assert!(d["xdp_tx_errors_while_sending"].as_u64().unwrap() > 0, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("switched"), "stats says why: {d}");
    let log = std::fs::read_to_string(std::env::temp_dir().join(format!("m-root-xdp-{}.log", lab.name))).unwrap();
    assert!(log.contains("auto mode now hands every answer to TC"), "the switch is logged:\n{log}");
    // From now on nothing is lost, and TC answers (none of these queries needs userspace).
    let before = common::daemon_stats(&control);
    let (sent, answered) = ask(&lab, common::SRV4, &zone, 500, 500);
    assert_eq!((sent, answered), (500, 500), "after the switch every query is answered");
    let after = common::daemon_stats(&control);
    assert_eq!(delta(paths(&before), paths(&after))[..2], [0, 500], "after the switch TC answers: {after}");
    drop(lab);

    // native (explicit) on a bare peer: the errors are counted and logged, the choice stays.
    let mut lab = Lab::up_with("mrxw", Peer::Bare);
    let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--xdp-mode", "native"]);
    let iface = lab.srv_if();
    let mut seen = 0;
    for _ in 0..40 {
        ask(&lab, common::SRV4, &zone, 50, 50);
        std::thread::sleep(Duration::from_millis(600));
        seen = common::daemon_stats(&control)["interfaces"][&iface]["xdp_tx_errors_while_sending"].as_u64().unwrap();
        if seen > 0 {
            break;
        }
    }
    let d = common::daemon_stats(&control)["interfaces"][&iface].clone();
    assert!(seen > 0, "native on a bare peer: transmit errors counted ({d})");
    assert_eq!(d["xdp_tx"], true, "an explicit mode keeps its choice: {d}");
    let log = std::fs::read_to_string(std::env::temp_dir().join(format!("m-root-xdp-{}.log", lab.name))).unwrap();
    assert!(log.contains("reaches the peer only if the peer runs an XDP program"), "native on veth warns at start:\n{log}");
    assert!(log.contains("failed to transmit"), "the errors are logged:\n{log}");
}

/// `stats` asks the daemon over its control socket, so it answers from wherever the socket is reachable:
/// under `ip netns exec` (which gives the command its own mount namespace and /sys) and from a further
/// mount namespace of its own (`unshare --mount`), with the kernel and the userspace counters both.
#[test]
fn stats_answer_from_another_mount_and_network_namespace() {
    let mut lab = Lab::up("mrxs");
    let (_pid, control) = common::start_daemon(&mut lab, &[common::SRV4]);
    let msg = zonegen::wire::build_query(
        0x5a5a,
        0,
        &zonegen::name::from_text("www.example.jp").unwrap(),
        zonegen::rr::A,
        zonegen::rr::CLASS_IN,
        None,
    );
    let got = in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &msg));
    assert!(got.is_some(), "answered");
    let ctl = control.to_str().unwrap();
    for (how, argv) in [
        ("ip netns exec <server ns>", vec!["ip", "netns", "exec", lab.srv_ns().leak(), common::BIN, "stats", "--json", "--control", ctl]),
        (
            "unshare --mount, then ip netns exec <client ns>",
            vec![
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "ip",
                "netns",
                "exec",
                lab.cli_ns().leak(),
                common::BIN,
                "stats",
                "--json",
                "--control",
                ctl,
            ],
        ),
    ] {
        let out = common::sh(std::process::Command::new(argv[0]).args(&argv[1..]));
        let s: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{how}: {e}: {out}"));
        assert_eq!(s["userspace"]["zone.serial"], 2026073102, "{how}: userspace report: {s}");
        assert!(s["tc.frames"].as_u64().unwrap() >= 1 && answered_by(&s, Hook::Tc) >= 1, "{how}: kernel counters: {s}");
        let iface = &s["interfaces"][lab.srv_if()];
        assert_eq!(
            (iface["mode"].as_str(), iface["xdp"].as_str(), iface["xdp_tx"].as_bool()),
            (Some("auto"), None, Some(false)),
            "{how}: {iface}"
        );
        assert_eq!(iface["driver"], "veth", "{how}: {iface}");
    }
    // Without a daemon and without --iface, stats says what to do instead of printing nothing.
    let out = std::process::Command::new(common::BIN).args(["stats", "--control", "/nonexistent.sock"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--iface"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A killed daemon leaves its pinned maps: `stats --iface` reads its last kernel counts; `detach`
/// removes what it left (the pins included), after which there is nothing to read.
#[test]
fn a_killed_daemon_leaves_pins_that_stats_reads_and_detach_removes() {
    let mut lab = Lab::up("mrxk");
    let (pid, control) = common::start_daemon(&mut lab, &[common::SRV4]);
    let msg =
        zonegen::wire::build_query(0x6b6b, 0, &zonegen::name::from_text("_ta-4f66").unwrap(), zonegen::rr::A, zonegen::rr::CLASS_IN, None);
    assert!(in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &msg)).is_some(), "answered");
    let before = common::daemon_stats(&control);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(500));
    let pinned = common::xdp_counters(&lab);
    assert_eq!(pinned["tc.answer.nxdomain"], before["tc.answer.nxdomain"], "the pinned counters are the daemon's: {pinned}");
    assert_eq!(pinned["signals"]["xdp.signal.ta.4f66"], 1, "and its trust-anchor signals: {pinned}");
    let (ns, iface) = (lab.srv_ns(), lab.srv_if());
    // Under `ip netns exec` the daemon pins into the lab's bpffs in /run (its /sys has none).
    let pins = std::path::Path::new(m_root_user::dataplane::PIN_ROOT_FALLBACK).join(&iface);
    assert!(pins.join(m_root_common::maps::TA_SIGNALS).exists(), "{} holds the signal map", pins.display());
    let out = common::sh(&mut Lab::in_ns(&ns, &[common::BIN, "detach", "--iface", &iface]));
    assert!(!pins.exists(), "detach removed {} and both maps in it", pins.display());
    assert!(out.contains("removed"), "{out}");
    let again = Lab::in_ns(&ns, &[common::BIN, "stats", "--iface", &iface, "--control", "/nonexistent", "--json"]).output().unwrap();
    assert!(!again.status.success(), "nothing pinned after detach: {}", String::from_utf8_lossy(&again.stdout));
}
