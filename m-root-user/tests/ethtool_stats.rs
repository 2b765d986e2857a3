//! Driver statistics through SIOCETHTOOL (m_root_user::ethtool) on a veth pair between network
//! namespaces mrxe-a (198.18.7.1) and mrxe-b (198.18.7.2), made inside them (the pair is created in
//! mrxe-a and one end moved to mrxe-b; nothing touches the root namespace). Read from a thread in
//! mrxe-a: the veth's list matches `ethtool -S` and has its per-queue XDP_TX error counter at 0,
//! `lo` has no driver statistics, a missing device is a clear error. Then the lab's lab_tx program
//! (returns XDP_TX) goes on mrxe-a's end, whose peer is bare (no XDP program, GRO off, so veth has
//! no NAPI ring to hand XDP_TX frames to): each UDP datagram mrxe-b sends must count one error.
//!
//! Needs root, iproute2, sysctl and ethtool; fails (never skips) without them. The namespaces go on
//! drop, even when an assertion fails.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use aya::programs::{Xdp, XdpMode};
use m_root_user::ethtool::{self, EthtoolError};
use m_root_user::lab;

const NS_A: &str = "mrxe-a";
const NS_B: &str = "mrxe-b";
const IF_A: &str = "mrxe-a0";
const IF_B: &str = "mrxe-b0";
const ADDR_A: &str = "198.18.7.1";
const ADDR_B: &str = "198.18.7.2";
const SENT: u64 = 5;

fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// The two namespaces (and with them the veth pair); deleted on drop.
struct Netns;

impl Netns {
    fn up() -> Netns {
        assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root (network namespaces, XDP)");
        Netns::down();
        let guard = Netns;
        run(&["ip", "netns", "add", NS_A]);
        run(&["ip", "netns", "add", NS_B]);
        // The namespaces send only what the test sends: no IPv6 (router solicitations, MLD), and
        // below, a permanent neighbour entry instead of ARP. Set before the veth ends exist.
        for (ns, key) in [(NS_A, "all"), (NS_A, "default"), (NS_B, "all"), (NS_B, "default")] {
            let sysctl = format!("net.ipv6.conf.{key}.disable_ipv6=1");
            run(&["ip", "netns", "exec", ns, "sysctl", "-qw", &sysctl]);
        }
        run(&["ip", "-n", NS_A, "link", "add", IF_A, "type", "veth", "peer", "name", IF_B]);
        run(&["ip", "-n", NS_A, "link", "set", IF_B, "netns", NS_B]);
        run(&["ip", "-n", NS_A, "addr", "add", &format!("{ADDR_A}/24"), "dev", IF_A]);
        run(&["ip", "-n", NS_B, "addr", "add", &format!("{ADDR_B}/24"), "dev", IF_B]);
        for (ns, dev) in [(NS_A, IF_A), (NS_A, "lo"), (NS_B, IF_B), (NS_B, "lo")] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        // A bare peer: without GRO or an XDP program, veth gives it no NAPI ring for XDP_TX frames.
        run(&["ip", "netns", "exec", NS_B, "ethtool", "-K", IF_B, "gro", "off"]);
        guard
    }

    fn down() {
        for ns in [NS_A, NS_B] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        Netns::down();
    }
}

/// `ethtool -S` of a device in a namespace, as (name, value) pairs.
fn ethtool_s(ns: &str, iface: &str) -> Vec<(String, u64)> {
    let out = Command::new("ip").args(["netns", "exec", ns, "ethtool", "-S", iface]).output().expect("running ethtool");
    assert!(out.status.success(), "ethtool -S {iface}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stat = |l: &str| l.rsplit_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().parse().expect("a number")));
    text.lines().skip_while(|l| !l.starts_with("NIC statistics:")).skip(1).filter_map(stat).collect()
}

fn in_a<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    lab::in_netns(NS_A, f).unwrap_or_else(|e| panic!("{e:#}"))
}

fn stats_a(iface: &str) -> Vec<(String, u64)> {
    in_a(|| ethtool::driver_stats(iface)).unwrap_or_else(|e| panic!("driver_stats({iface}): {e}"))
}

#[test]
fn veth_driver_stats_and_xdp_tx_errors() {
    let _ns = Netns::up();

    // Reading: veth's list, lo's (none), a missing device.
    let veth = stats_a(IF_A);
    let names: Vec<&str> = veth.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"peer_ifindex"), "{names:?}");
    assert!(names.contains(&"rx_queue_0_xdp_tx_errors"), "{names:?}");
    assert_eq!(ethtool::xdp_tx_errors(&veth), Some(0), "{veth:?}");
    assert_eq!(veth, ethtool_s(NS_A, IF_A), "driver_stats differs from ethtool -S");

    let lo = stats_a("lo");
    assert!(lo.is_empty(), "lo: {lo:?}");
    assert_eq!(ethtool::xdp_tx_errors(&lo), None);

    let err = in_a(|| ethtool::driver_stats("mrxe-none0")).expect_err("a missing device");
    assert!(matches!(err, EthtoolError::NoDevice(_)), "{err:?}");
    assert!(err.to_string().contains("mrxe-none0"), "{err}");

    // The counter moving: XDP_TX on mrxe-a0 towards a bare peer.
    let (_, mac_a) = in_a(|| lab::iface_info(IF_A)).expect("mrxe-a0's MAC");
    let mac: Vec<String> = mac_a.iter().map(|b| format!("{b:02x}")).collect();
    run(&["ip", "-n", NS_B, "neigh", "replace", ADDR_A, "lladdr", &mac.join(":"), "dev", IF_B, "nud", "permanent"]);
    let sock = lab::in_netns(NS_B, || UdpSocket::bind((ADDR_B, 0))).expect("netns").expect("UDP socket in mrxe-b");

    let (before, after) = in_a(|| {
        let mut ebpf = aya::Ebpf::load(lab::LAB_OBJECT).expect("loading the lab object");
        let p: &mut Xdp = ebpf.program_mut("lab_tx").expect("lab_tx").try_into().expect("an XDP program");
        p.load().expect("loading lab_tx");
        p.attach(IF_A, XdpMode::Driver).expect("attaching lab_tx to mrxe-a0 (native)");
        std::thread::sleep(Duration::from_millis(200));
        let count =
            || ethtool::driver_stats(IF_A).map(|s| ethtool::xdp_tx_errors(&s)).expect("driver_stats").expect("an XDP_TX error counter");
        let before = count();
        for i in 0..SENT {
            sock.send_to(format!("frame {i}").as_bytes(), (ADDR_A, 9)).expect("send");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while count() < before + SENT && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Anything beyond what was sent would show up here too.
        std::thread::sleep(Duration::from_millis(200));
        (before, count())
        // `ebpf` drops here, detaching lab_tx.
    });
    assert_eq!(after - before, SENT, "XDP_TX errors on mrxe-a0 went from {before} to {after} for {SENT} datagrams sent");
}
