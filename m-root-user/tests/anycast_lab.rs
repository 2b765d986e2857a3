//! Anycast in a rack (scripts/anycast-lab.sh): a BIRD 2 router with ECMP over BGP (and BFD) to two
//! nodes, each m-root-xdp on 198.18.53.1 / 2001:db8:53::1 behind its routing daemon, node 1's BIRD 2 and
//! node 2's FRR, both from the shipped examples (docs/examples/), and a client behind the router sending
//! a steady stream of queries, each from a new source port (so the router's L4 hash spreads them), over
//! IPv4 and IPv6, UDP (held to the numbers below) and TCP (counted), each family stated apart:
//! - a node stopped gracefully (SIGTERM: withdraw, answer for drain_seconds, stop): 0 queries lost;
//! - a node drained and undrained: 0 lost;
//! - a node's daemon killed (its routing daemon stays), BIRD's and FRR's: its routes go with the
//!   daemon's TUN device; what is lost before the router converges is counted, and the service is
//!   whole again within 5 s;
//! - a node lost whole (routing daemon and m-root-xdp frozen): the router's BFD withdraws it;
//! - the zone expiring on one node (a secondary whose primary, knotd, is gone past the SOA expire)
//!   withdraws that node alone.
//!
//! The lab's names come from ALAB, else MRX_LAB_PREFIX + "mra", so two checkouts run side by side.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{in_netns, sh};
use zonegen::{name, rr, wire};

const BASE: u32 = 2026073102;

fn alab() -> String {
    std::env::var("ALAB").unwrap_or_else(|_| format!("{}mra", std::env::var("MRX_LAB_PREFIX").unwrap_or_default()))
}

/// The zone node 2 transfers from the lab's knotd: the bundled one as serial BASE + 1, with SOA timers of
/// seconds (refresh 3, retry 1, expire 8), ZONEMD recomputed.
fn secondary_zone() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("m-root-xdp-{}-zone-{}", alab(), std::process::id()));
    if !path.exists() {
        let base = std::fs::read_to_string(common::bundled_zone()).unwrap();
        let short = base.replacen(&format!(" {BASE} 1800 900 604800 86400"), &format!(" {BASE} 3 1 8 86400"), 1);
        std::fs::write(&path, common::primary::edition(&short, BASE + 1, false)).unwrap();
    }
    path
}

fn script() -> Command {
    let mut c = Command::new("bash");
    c.arg(common::root_dir().join("scripts/anycast-lab.sh")).env("ALAB", alab());
    c
}

fn lab(args: &[&str]) -> String {
    sh(script()
        .args(args)
        .env("SECONDARY_ZONE", secondary_zone())
        .env("NODES", "2")
        .env("FRR_NODES", "2")
        .env("BIN", common::BIN)
        .env("PROBE_MS", "200")
        .env("DRAIN", "3"))
}

/// What `anycast-lab.sh env` says, read as a shell reads it (eval), so its lines must be assignments.
#[derive(Clone)]
struct Env {
    client_ns: String,
    client: [IpAddr; 2],
    router_ns: String,
    anycast: [IpAddr; 2],
    prefix: [String; 2],
    nodes: Vec<String>,
    control: Vec<std::path::PathBuf>,
}

fn env() -> Env {
    let names = "CLIENT_NS CLIENT4 CLIENT6 ROUTER_NS ANYCAST4 ANYCAST6 PREFIX4 PREFIX6 NODES CONTROL_1 CONTROL_2 ROUTING_1 ROUTING_2";
    let print: Vec<String> = names.split(' ').map(|n| format!("\"${n}\"")).collect();
    let prog = format!("eval \"$(bash \"$0\" env)\"; printf '%s\\n' {}", print.join(" "));
    let path = common::root_dir().join("scripts/anycast-lab.sh");
    let out = sh(Command::new("bash").arg("-c").arg(prog).arg(path).env("ALAB", alab()).env("NODES", "2").env("FRR_NODES", "2"));
    // Each line an assignment (NAME=value, the value quoted where it has spaces), nothing else.
    let raw = sh(script().arg("env").env("NODES", "2"));
    for line in raw.lines() {
        let (k, _) = line.split_once('=').unwrap_or_else(|| panic!("env: {line:?} is not an assignment"));
        assert!(!k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'), "env: {line:?}");
    }
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 13, "env: {out}");
    assert!(v.iter().all(|x| !x.is_empty()), "every documented name assigned: {out}");
    assert_eq!((v[11], v[12]), ("bird", "frr"), "node 1 runs BIRD, node 2 FRR");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("env: {s}: {e}"));
    Env {
        client_ns: v[0].into(),
        client: [ip(v[1]), ip(v[2])],
        router_ns: v[3].into(),
        anycast: [ip(v[4]), ip(v[5])],
        prefix: [v[6].into(), v[7].into()],
        nodes: v[8].split(' ').map(String::from).collect(),
        control: vec![v[9].into(), v[10].into()],
    }
}

fn stats(e: &Env, node: usize) -> serde_json::Value {
    m_root_user::control::request(&e.control[node - 1], "stats", Duration::from_secs(5)).unwrap_or_default()
}

/// The router's next hops for the service prefix of family `f` (0 IPv4, 1 IPv6).
fn next_hops(e: &Env, f: usize) -> usize {
    let out = sh(Command::new("ip").args(["-n", &e.router_ns, ["-4", "-6"][f], "route", "show", &e.prefix[f]]));
    let n = out.matches("nexthop").count();
    if n == 0 && out.contains(" via ") { 1 } else { n }
}

fn both_announce(e: &Env) {
    common::wait_for("both nodes announced over IPv4 and IPv6", 60, || next_hops(e, 0) == 2 && next_hops(e, 1) == 2);
}

fn one_announces(e: &Env) -> bool {
    next_hops(e, 0) == 1 && next_hops(e, 1) == 1
}

const FAMILY: [&str; 2] = ["IPv4", "IPv6"];

/// Sent and lost, per family.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    sent: [u64; 2],
    lost: [u64; 2],
}

impl Counts {
    fn lost(&self) -> u64 {
        self.lost[0] + self.lost[1]
    }
    fn since(&self, before: &Counts) -> Counts {
        let d = |a: [u64; 2], b: [u64; 2]| [a[0] - b[0], a[1] - b[1]];
        Counts { sent: d(self.sent, before.sent), lost: d(self.lost, before.lost) }
    }
    fn show(&self) -> String {
        (0..2).map(|f| format!("{} {} lost of {}", FAMILY[f], self.lost[f], self.sent[f])).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Default)]
struct Counters {
    sent: [AtomicU64; 2],
    lost: [AtomicU64; 2],
}

impl Counters {
    fn get(&self) -> Counts {
        let l = |a: &[AtomicU64; 2]| [a[0].load(Ordering::Relaxed), a[1].load(Ordering::Relaxed)];
        Counts { sent: l(&self.sent), lost: l(&self.lost) }
    }
    fn count(&self, f: usize, ok: bool) {
        self.sent[f].fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.lost[f].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Queries to the service addresses, each from a new socket, by `threads` threads (each one at a time,
/// `pace` apart, the families in turn), until stopped. The last two threads ask over TCP, a connection
/// each: one the router's rehash moves to another node mid-way is reset there, counted and stated, not
/// held to zero.
struct Stream {
    stop: Arc<AtomicBool>,
    udp: Arc<Counters>,
    tcp: Arc<Counters>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// One query over TCP (a new connection): answered?
fn tcp_query(from: IpAddr, to: SocketAddr, q: &[u8]) -> bool {
    use std::io::{Read, Write};
    let Ok(sock) = socket2::Socket::new(socket2::Domain::for_address(to), socket2::Type::STREAM, None) else { return false };
    if sock.bind(&SocketAddr::new(from, 0).into()).is_err() || sock.connect_timeout(&to.into(), Duration::from_millis(1500)).is_err() {
        return false;
    }
    let mut c: std::net::TcpStream = sock.into();
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

fn udp_query(from: IpAddr, to: SocketAddr, q: &[u8]) -> bool {
    let s = UdpSocket::bind(SocketAddr::new(from, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut buf = [0u8; 2048];
    s.send_to(q, to).is_ok() && matches!(s.recv_from(&mut buf), Ok((n, _)) if n >= 12 && buf[..2] == q[..2])
}

impl Stream {
    fn start(e: &Env, threads: usize, pace: Duration) -> Stream {
        let (stop, udp, tcp) = (Arc::new(AtomicBool::new(false)), Arc::new(Counters::default()), Arc::new(Counters::default()));
        let threads = (0..threads)
            .map(|t| {
                let (stop, udp, tcp, e) = (stop.clone(), udp.clone(), tcp.clone(), e.clone());
                let over_tcp = t + 2 >= threads;
                std::thread::spawn(move || {
                    in_netns(&e.client_ns, || {
                        let mut id = (t as u16) << 12;
                        while !stop.load(Ordering::Relaxed) {
                            id = id.wrapping_add(1);
                            let f = (id % 2) as usize;
                            let to = SocketAddr::new(e.anycast[f], 53);
                            let q = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
                            match over_tcp {
                                true => tcp.count(f, tcp_query(e.client[f], to, &q)),
                                false => udp.count(f, udp_query(e.client[f], to, &q)),
                            }
                            std::thread::sleep(pace);
                        }
                    })
                })
            })
            .collect();
        Stream { stop, udp, tcp, threads }
    }

    fn counts(&self) -> Counts {
        self.udp.get()
    }

    fn stop(self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        println!("  TCP (not answered: moved by the rehash or refused): {}", self.tcp.get().show());
        self.udp.get()
    }
}

/// Run `action` under a steady stream, let routing settle; UDP counts over the whole.
fn under_load(e: &Env, what: &str, action: impl FnOnce()) -> Counts {
    let stream = Stream::start(e, 14, Duration::from_millis(20));
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    action();
    std::thread::sleep(Duration::from_secs(3));
    let c = stream.stop();
    let secs = t.elapsed().as_secs_f64() + 2.0;
    println!("{what}: {} UDP queries in {secs:.1} s ({:.0}/s): {}", c.sent[0] + c.sent[1], (c.sent[0] + c.sent[1]) as f64 / secs, c.show());
    c
}

/// `what` (in the background) under a steady stream; the router's table watched until one node is
/// left for both families. Returns when each family's route went, and asserts nothing is lost once
/// the router converged (and the client's timeout passed).
fn withdrawn_under_load(e: &Env, what: &str, action: &'static str, node: &'static str, limit: Duration) -> [Duration; 2] {
    let stream = Stream::start(e, 14, Duration::from_millis(20));
    std::thread::sleep(Duration::from_secs(2));
    let before = stream.counts();
    let t = Instant::now();
    let alab = alab();
    let bg = std::thread::spawn(move || sh(script().env("ALAB", alab).args([action, node])));
    let mut gone: [Option<Duration>; 2] = [None, None];
    while gone.iter().any(Option::is_none) && t.elapsed() < limit + Duration::from_secs(10) {
        for (f, g) in gone.iter_mut().enumerate() {
            if g.is_none() && next_hops(e, f) == 1 {
                *g = Some(t.elapsed());
            }
        }
    }
    bg.join().unwrap();
    let gone = gone.map(|g| g.unwrap_or_else(|| panic!("{what}: a route not withdrawn")));
    std::thread::sleep(Duration::from_secs(2));
    let settled = stream.counts();
    std::thread::sleep(Duration::from_secs(3));
    let end = stream.stop();
    println!(
        "{what}: routes left the router after {:.3} s (IPv4) and {:.3} s (IPv6); UDP lost around it: {}; after: {}",
        gone[0].as_secs_f64(),
        gone[1].as_secs_f64(),
        settled.since(&before).show(),
        end.since(&settled).show()
    );
    assert!(gone[0].max(gone[1]) <= limit, "{what}: service whole again within {limit:?}");
    assert_eq!(end.lost(), settled.lost(), "{what}: nothing lost once the router converged");
    gone
}

#[test]
fn anycast_in_a_rack() {
    common::require_root();
    let _ = lab(&["down"]);
    struct Down;
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = script().arg("down").output();
        }
    }
    let _down = Down;
    let t = Instant::now();
    lab(&["up"]);
    let e = env();
    println!("lab {}: nodes {:?} behind {}, client {}", alab(), e.nodes, e.router_ns, e.client_ns);
    both_announce(&e);
    println!("both nodes (BIRD, FRR) announced {:.1} s after the lab came up", t.elapsed().as_secs_f64());

    // A graceful stop of node 1: withdrawn, drained, stopped: nothing lost.
    let c = under_load(&e, "node 1 (BIRD) stopped (SIGTERM, drain 3 s)", || {
        lab(&["stop", "1"]);
        assert!(one_announces(&e), "node 1 withdrawn by the time it stopped");
    });
    assert_eq!(c.lost(), 0, "a graceful stop loses nothing");
    lab(&["start", "1"]);
    both_announce(&e);

    // Drain and undrain node 2 (FRR): withdrawn for both families, back, nothing lost.
    let c = under_load(&e, "node 2 (FRR) drained, then undrained", || {
        let t = Instant::now();
        lab(&["drain", "2"]);
        common::wait_for("node 2 withdrawn", 10, || one_announces(&e));
        println!("  drain: node 2's routes left the router {:.3} s after the command", t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_secs(1));
        lab(&["undrain", "2"]);
        common::wait_for("node 2 back", 10, || next_hops(&e, 0) == 2 && next_hops(&e, 1) == 2);
    });
    assert_eq!(c.lost(), 0, "drain and undrain lose nothing");

    // Each node's daemon killed, its routing daemon still up: the TUN device goes, BIRD's direct
    // protocol and FRR's zebra drop its connected routes, the router converges.
    withdrawn_under_load(&e, "node 1's daemon killed (BIRD stays)", "kill", "1", Duration::from_secs(5));
    lab(&["start", "1"]);
    both_announce(&e);
    withdrawn_under_load(&e, "node 2's daemon killed (FRR stays)", "kill", "2", Duration::from_secs(5));
    lab(&["start", "2"]);
    both_announce(&e);

    // Node 2 lost whole (frozen: FRR and the daemon stopped, sending nothing): nothing withdraws; the
    // router's BFD notices (3 x 100 ms).
    let gone = withdrawn_under_load(&e, "node 2 lost whole (FRR frozen; BFD)", "lose", "2", Duration::from_secs(5));
    assert!(gone[0].min(gone[1]) >= Duration::from_millis(200), "no process told the router: it found out by BFD");

    // The zone expiring on node 2 (its primary gone past the SOA expire, 8 s) withdraws node 2 alone.
    lab(&["start", "2"]);
    both_announce(&e);
    common::wait_for("node 2 serving its primary's serial", 30, || stats(&e, 2)["zone.serial"] == BASE + 1);
    let t = Instant::now();
    lab(&["primary-stop"]);
    common::wait_for("node 2 withdrawn once its zone expired", 30, || one_announces(&e));
    let (n1, n2) = (stats(&e, 1), stats(&e, 2));
    println!(
        "node 2's primary stopped: zone expired and node 2 withdrawn after {:.1} s (expire 8 s); node 2 {} ({}), node 1 {}",
        t.elapsed().as_secs_f64(),
        n2["anycast"]["state"],
        n2["anycast"]["last_probe"],
        n1["anycast"]["state"]
    );
    assert_eq!(n2["secondary"]["expired"], true);
    assert_eq!((n2["anycast"]["state"].as_str(), n1["anycast"]["state"].as_str()), (Some("down"), Some("up")));
    let c = under_load(&e, "node 2 expired, node 1 serving", || {});
    assert_eq!(c.lost(), 0, "the remaining node answers everything");
    for n in [1, 2] {
        let a = &stats(&e, n)["anycast"];
        println!("node {n}: announce failures {}, repairs {}", a["announce_failures"], a["announce_repairs"]);
        assert_eq!(a["announce_failures"], 0, "node {n}: no change to the device refused");
    }
}
