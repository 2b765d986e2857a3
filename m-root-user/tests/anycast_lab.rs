//! Anycast in a rack (scripts/anycast-lab.sh): a BIRD 2 router with ECMP over BGP (and BFD) to two
//! nodes, each BIRD 2 and m-root-xdp on 198.18.53.1 / 2001:db8:53::1, and a client behind the router
//! sending a steady stream of queries, each from a new source port (so the router's L4 hash spreads
//! them), over IPv4 and IPv6, UDP (held to the numbers below) and TCP (counted):
//! - a node stopped gracefully (SIGTERM: withdraw, answer for drain_seconds, stop): 0 queries lost;
//! - a node drained and undrained: 0 lost;
//! - a node's daemon killed (BIRD stays): its route goes with the daemon's TUN device; what is lost
//!   before the router converges is counted, and the service is whole again within 5 s;
//! - a node lost whole (BIRD and daemon frozen): the router's BFD withdraws it; losses counted;
//! - the zone expiring on one node (a secondary whose primary, knotd, is gone past the SOA expire)
//!   withdraws that node alone.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{in_netns, sh};
use zonegen::{name, rr, wire};

const ANYCAST4: &str = "198.18.53.1";
const ANYCAST6: &str = "2001:db8:53::1";

const BASE: u32 = 2026073102;

/// The zone node 2 transfers from the lab's knotd: the bundled one as serial BASE + 1, with SOA timers of
/// seconds (refresh 3, retry 1, expire 8), ZONEMD recomputed.
fn secondary_zone() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("m-root-xdp-mra-zone-{}", std::process::id()));
    if !path.exists() {
        let base = std::fs::read_to_string(common::bundled_zone()).unwrap();
        let short = base.replacen(&format!(" {BASE} 1800 900 604800 86400"), &format!(" {BASE} 3 1 8 86400"), 1);
        std::fs::write(&path, common::primary::edition(&short, BASE + 1, false)).unwrap();
    }
    path
}

fn stats(node: u32) -> serde_json::Value {
    let control = std::path::PathBuf::from(format!("/run/m-root-xdp/anycast-mra/n{node}.sock"));
    m_root_user::control::request(&control, "stats", Duration::from_secs(5)).unwrap_or_default()
}

fn lab(args: &[&str]) -> String {
    sh(Command::new("bash")
        .arg(common::root_dir().join("scripts/anycast-lab.sh"))
        .args(args)
        .env("SECONDARY_ZONE", secondary_zone())
        .env("ALAB", "mra")
        .env("NODES", "2")
        .env("BIN", common::BIN)
        .env("PROBE_MS", "200")
        .env("DRAIN", "3"))
}

/// The router's next hops for the service address of `v6`'s family.
fn next_hops(v6: bool) -> usize {
    let fam = if v6 { "-6" } else { "-4" };
    let addr = if v6 { ANYCAST6 } else { ANYCAST4 };
    let out = sh(Command::new("ip").args(["-n", "mra-rtr", fam, "route", "show", addr]));
    let n = out.matches("nexthop").count();
    if n == 0 && out.contains(" via ") { 1 } else { n }
}

fn both_announce() {
    common::wait_for("both nodes announced over IPv4 and IPv6", 60, || next_hops(false) == 2 && next_hops(true) == 2);
}

/// Queries to the service address, each from a new socket, by `threads` threads (each one at a time,
/// `pace` apart), until stopped: (sent, lost).
struct Stream {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    /// TCP: a query per connection, from two of the threads; a connection the router's rehash moves to
    /// another node mid-way is reset there: counted and stated, not held to zero.
    tcp_sent: Arc<AtomicU64>,
    tcp_lost: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// One query over TCP (a new connection): answered?
fn tcp_query(to: SocketAddr, q: &[u8]) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect_timeout(&to, Duration::from_millis(1500)) else { return false };
    let _ = c.set_read_timeout(Some(Duration::from_millis(1500)));
    let mut out = (q.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(q);
    let mut len = [0u8; 2];
    if c.write_all(&out).is_err() || c.read_exact(&mut len).is_err() {
        return false;
    }
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut buf).is_ok() && buf.len() >= 12 && buf[..2] == q[..2]
}

impl Stream {
    fn start(threads: usize, pace: Duration) -> Stream {
        let (stop, sent, lost) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (tcp_sent, tcp_lost) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let threads = (0..threads)
            .map(|t| {
                let (stop, sent, lost) = (stop.clone(), sent.clone(), lost.clone());
                let (tcp_sent, tcp_lost) = (tcp_sent.clone(), tcp_lost.clone());
                std::thread::spawn(move || {
                    in_netns("mra-cli", || {
                        let mut id = (t as u16) << 12;
                        while !stop.load(Ordering::Relaxed) {
                            id = id.wrapping_add(1);
                            let v6 = id.is_multiple_of(2);
                            let (bind, to): (SocketAddr, SocketAddr) = if v6 {
                                ("[2001:db8:10::2]:0".parse().unwrap(), SocketAddr::new(ANYCAST6.parse::<IpAddr>().unwrap(), 53))
                            } else {
                                ("198.18.10.2:0".parse().unwrap(), SocketAddr::new(ANYCAST4.parse::<IpAddr>().unwrap(), 53))
                            };
                            if t >= 12 {
                                let q = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
                                tcp_sent.fetch_add(1, Ordering::Relaxed);
                                if !tcp_query(to, &q) {
                                    tcp_lost.fetch_add(1, Ordering::Relaxed);
                                }
                                std::thread::sleep(pace);
                                continue;
                            }
                            let s = UdpSocket::bind(bind).unwrap();
                            s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
                            let q = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
                            sent.fetch_add(1, Ordering::Relaxed);
                            let mut buf = [0u8; 2048];
                            let ok =
                                s.send_to(&q, to).is_ok() && matches!(s.recv_from(&mut buf), Ok((n, _)) if n >= 12 && buf[..2] == q[..2]);
                            if !ok {
                                lost.fetch_add(1, Ordering::Relaxed);
                            }
                            std::thread::sleep(pace);
                        }
                    })
                })
            })
            .collect();
        Stream { stop, sent, lost, tcp_sent, tcp_lost, threads }
    }

    fn counts(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.lost.load(Ordering::Relaxed))
    }

    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        println!(
            "  TCP: {} connections, {} not answered (moved by the rehash or refused)",
            self.tcp_sent.load(Ordering::Relaxed),
            self.tcp_lost.load(Ordering::Relaxed)
        );
        (self.sent.load(Ordering::Relaxed), self.lost.load(Ordering::Relaxed))
    }
}

/// Run `action` under a steady stream, let routing settle; (sent, lost) over the whole.
fn under_load(what: &str, action: impl FnOnce()) -> (u64, u64) {
    let stream = Stream::start(14, Duration::from_millis(20));
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    action();
    std::thread::sleep(Duration::from_secs(3));
    let (sent, lost) = stream.stop();
    println!(
        "{what}: {sent} queries in {:.1} s ({:.0}/s), {lost} lost",
        t.elapsed().as_secs_f64() + 2.0,
        sent as f64 / (t.elapsed().as_secs_f64() + 2.0)
    );
    (sent, lost)
}

struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(common::root_dir().join("scripts/anycast-lab.sh")).arg("down").env("ALAB", "mra").output();
    }
}

#[test]
fn anycast_in_a_rack() {
    common::require_root();
    let _ = lab(&["down"]);
    let _down = Down;
    let t = Instant::now();
    lab(&["up"]);
    both_announce();
    println!("both nodes announced {:.1} s after the lab came up", t.elapsed().as_secs_f64());

    // A graceful stop of node 1: withdrawn, drained, stopped: nothing lost.
    let (_, lost) = under_load("node 1 stopped (SIGTERM, drain 3 s)", || {
        lab(&["stop", "1"]);
        assert_eq!((next_hops(false), next_hops(true)), (1, 1), "node 1 withdrawn by the time it stopped");
    });
    assert_eq!(lost, 0, "a graceful stop loses nothing");
    lab(&["start", "1"]);
    both_announce();

    // Drain and undrain node 2: nothing lost.
    let (_, lost) = under_load("node 2 drained, then undrained", || {
        let t = Instant::now();
        lab(&["drain", "2"]);
        common::wait_for("node 2 withdrawn", 10, || next_hops(false) == 1 && next_hops(true) == 1);
        println!("  drain: node 2's routes left the router {:.3} s after the command", t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_secs(1));
        lab(&["undrain", "2"]);
        common::wait_for("node 2 back", 10, || next_hops(false) == 2 && next_hops(true) == 2);
    });
    assert_eq!(lost, 0, "drain and undrain lose nothing");

    // Node 1's daemon killed, BIRD still up: the TUN device goes, BIRD withdraws, the router converges.
    let stream = Stream::start(14, Duration::from_millis(20));
    std::thread::sleep(Duration::from_secs(2));
    let before = stream.counts();
    // The kill in the background; the router's table watched from here (every ~10 ms).
    let t = Instant::now();
    let killer = std::thread::spawn(|| lab(&["kill", "1"]));
    let (mut v4, mut v6) = (None, None);
    while (v4.is_none() || v6.is_none()) && t.elapsed() < Duration::from_secs(10) {
        if v4.is_none() && next_hops(false) == 1 {
            v4 = Some(t.elapsed());
        }
        if v6.is_none() && next_hops(true) == 1 {
            v6 = Some(t.elapsed());
        }
    }
    killer.join().unwrap();
    let (v4, v6) = (v4.expect("node 1's IPv4 route gone"), v6.expect("node 1's IPv6 route gone"));
    println!("node 1 killed: its routes left the router after {:.3} s (IPv4) and {:.3} s (IPv6)", v4.as_secs_f64(), v6.as_secs_f64());
    let converged = v4.max(v6);
    // Queries sent after convergence (plus the client's timeout) must all be answered.
    std::thread::sleep(Duration::from_secs(2));
    let settled = stream.counts();
    std::thread::sleep(Duration::from_secs(3));
    let (sent, lost) = stream.stop();
    println!(
        "node 1 killed: router converged in {:.2} s; {} of {} queries lost around it, {} of {} after",
        converged.as_secs_f64(),
        settled.1 - before.1,
        settled.0 - before.0,
        lost - settled.1,
        sent - settled.0
    );
    assert!(converged <= Duration::from_secs(5), "service whole again within 5 s");
    assert_eq!(lost, settled.1, "nothing lost once the router converged");

    // Node 2 lost whole (frozen: its BIRD and daemon stopped, sending nothing): nothing withdraws; the
    // router's BFD notices (3 x 100 ms).
    lab(&["start", "1"]);
    both_announce();
    let stream = Stream::start(14, Duration::from_millis(20));
    std::thread::sleep(Duration::from_secs(2));
    let before = stream.counts();
    let t = Instant::now();
    let killer = std::thread::spawn(|| lab(&["lose", "2"]));
    while (next_hops(false) != 1 || next_hops(true) != 1) && t.elapsed() < Duration::from_secs(15) {}
    let gone = t.elapsed();
    killer.join().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let settled = stream.counts();
    std::thread::sleep(Duration::from_secs(2));
    let (sent, lost) = stream.stop();
    println!(
        "node 2 lost whole: its routes left the router after {:.2} s (BFD); {} of {} queries lost around it, {} of {} after",
        gone.as_secs_f64(),
        settled.1 - before.1,
        settled.0 - before.0,
        lost - settled.1,
        sent - settled.0
    );
    assert!(gone <= Duration::from_secs(5), "BFD withdraws a lost node within 5 s");
    assert!(gone >= Duration::from_millis(200), "no process told the router: it found out by BFD");
    assert_eq!(lost, settled.1, "nothing lost once the router converged");

    // The zone expiring on node 2 (its primary gone past the SOA expire, 8 s) withdraws node 2 alone.
    lab(&["start", "2"]);
    both_announce();
    common::wait_for("node 2 serving its primary's serial", 30, || stats(2)["zone.serial"] == BASE + 1);
    let t = Instant::now();
    lab(&["primary-stop"]);
    common::wait_for("node 2 withdrawn once its zone expired", 30, || next_hops(false) == 1 && next_hops(true) == 1);
    let (n1, n2) = (stats(1), stats(2));
    println!(
        "node 2's primary stopped: zone expired and node 2 withdrawn after {:.1} s (expire 8 s); node 2 {} ({}), node 1 {}",
        t.elapsed().as_secs_f64(),
        n2["anycast"]["state"],
        n2["anycast"]["last_probe"],
        n1["anycast"]["state"]
    );
    assert_eq!(n2["secondary"]["expired"], true);
    assert_eq!((n2["anycast"]["state"].as_str(), n1["anycast"]["state"].as_str()), (Some("down"), Some("up")));
    let (sent, lost) = under_load("node 2 expired, node 1 serving", || {});
    assert_eq!(lost, 0, "the remaining node answers everything ({sent} sent)");
}
