//! `bench attack`: a reflection attack on each server in turn, in a lab of its own. kxdpgun at its maximum
//! sends one query whose answer is a large signed referral, from a spoofed /24 (the victim's), while a
//! legitimate stream asks from eight other /24s at a rate under the limit. Per server: replies and bytes
//! per second leaving it, bytes per second sent to it, the amplification (their ratio), the legitimate
//! stream's answered share, CPU, and the servers' own rate-limiting counters. m-root-xdp with `[rrl]`
//! and knotd with `mod-rrl` at the same settings, m-root-xdp without limits as the reference amplifier.
//!
//! The lab gives the generator and the server a CPU each, as if kxdpgun ran on another machine: veth runs
//! an end's receive processing (XDP included) on the CPU that sent to it, so by default kxdpgun and the
//! server's XDP program share CPU 0. Here both ends' NAPI is threaded: the server end's kthread is pinned
//! to the server's CPUs (those RPS uses, all but CPU 0), the client end's (kxdpgun's replies) to
//! kxdpgun's CPU 0. And the client end has a qdisc, so veth stops its queue when the server end's
//! receive ring is full instead of dropping the frame, as a NIC stops its queue when its ring is full:
//! kxdpgun's maximum is then what the server end takes off its ring.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use zonegen::{LoadOptions, Zone, name, rr, wire};

use crate::load::gun::{Gun, cpu_seconds, kxdpgun, softirq_seconds};
use crate::load::servers::{Lab, Rrl, Running, Server, in_ns, lab, mroot_stats, start};
use crate::load::{CLI4, SRV4};

/// Its own lab: `bench load` uses "mrxb", the lab tests their own names.
const LAB: Lab = Lab("mrxa");
/// The victim's prefix: one bucket for either server (both key IPv4 sources by /24). kxdpgun walks its
/// addresses in order, each for 64,536 queries (one sweep of its source ports).
const SPOOFED: &str = "198.18.128.0/24";
/// The flood's query: `com`'s referral with its DS and signature (DO=1), the largest answer kind.
const FLOOD: (&str, &str) = ("www.example.com", "A D");
/// The legitimate sources, one in each /24 of 198.18.8.0/21, each asking at LEGIT_QPS.
const LEGIT_NET: &str = "198.18.8.0/21";
const LEGIT_SOURCES: u8 = 8;
/// Under the limit, so a source outside the flooded prefix is never limited by its own rate.
const LEGIT_QPS: u32 = 20;
/// Below 2,000: kxdpgun's XDP program takes every UDP frame to ports 2,000 and up off the client end.
const LEGIT_PORT: u16 = 1053;
/// The settings both servers run with: knotd's `rate-limit` and `slip`, m-root-xdp's `[rrl]`.
const RRL: Rrl = Rrl { per_second: 50, slip: 2 };
/// Ethernet (14), IPv4 (20) and UDP (8) headers around a DNS message.
const FRAME_HEADERS: usize = 42;
/// kxdpgun's one thread runs on CPU 0 (its default affinity, `-F 0s1`), and so does the client end's
/// NAPI kthread; the server end's runs on the others.
const GUN_CPU: usize = 0;
/// The client end's NAPI kthread preempts kxdpgun's sending, as softirq would, so kxdpgun never loses
/// an answer because its own sending kept the answers' ring from being drained.
const GUN_NAPI_PRIORITY: i32 = 50;

pub struct Options {
    pub zone: PathBuf,
    pub quick: bool,
    pub out: PathBuf,
}

/// The servers, in the order they run, and the limits each runs with.
fn servers(quick: bool) -> Vec<(Server, Option<Rrl>, &'static str)> {
    let mut v = vec![
        (Server::MrootXdp, Some(RRL), "m-root-xdp (XDP + TC), RRL"),
        (Server::KnotXdp, Some(RRL), "knotd (XDP), mod-rrl"),
        (Server::KnotUdp, Some(RRL), "knotd (UDP), mod-rrl"),
        (Server::MrootXdp, None, "m-root-xdp (XDP + TC), no RRL"),
    ];
    if !quick {
        v.insert(1, (Server::MrootNoXdp, Some(RRL), "m-root-xdp (--xdp-mode off), RRL"));
    }
    v
}

pub fn run(o: &Options) -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!("bench attack needs root (namespaces, XDP)");
    }
    let started = Instant::now();
    let zone = Zone::load(&o.zone, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let zone_path = std::fs::canonicalize(&o.zone).with_context(|| format!("zone {}", o.zone.display()))?;
    let dir = std::env::temp_dir().join(format!("m-root-xdp-attack-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let flood_file = dir.join("flood.txt");
    std::fs::write(&flood_file, format!("{} {}\n", FLOOD.0, FLOOD.1))?;
    // kxdpgun sends the same message every time: EDNS (an OPT of 11 octets, no options), DO set.
    let qname = name::from_text(FLOOD.0).map_err(|e| anyhow!("{e}"))?;
    let query_frame = wire::build_query(0, 0, &qname, rr::A, rr::CLASS_IN, Some((1232, true))).len() + FRAME_HEADERS;
    let legit_names: Vec<Vec<u8>> =
        zone.tlds.iter().take(64).filter_map(|t| name::from_text(&format!("www.example.{}", name::to_text(t))).ok()).collect();
    if legit_names.is_empty() {
        bail!("the zone has no TLDs to ask about");
    }
    let secs: u32 = if o.quick { 3 } else { 6 };
    let list = servers(o.quick);
    lab(LAB, "down", true).ok();
    let mut rows = Vec::new();
    let result = (|| -> Result<()> {
        lab(LAB, "up", true)?;
        setup_sources()?;
        setup_link()?;
        for (i, &(server, rrl, label)) in list.iter().enumerate() {
            eprintln!("[{}/{}] {label} | {:.0} s elapsed", i + 1, list.len(), started.elapsed().as_secs_f64());
            let running = start(LAB, server, &zone_path, &dir, rrl)?;
            let napi = server_napi()?;
            let row = attack(&running, server, label, rrl, &napi, &flood_file, query_frame, &legit_names, secs)?;
            drop(running);
            rows.push(row);
        }
        Ok(())
    })();
    lab(LAB, "down", true).ok();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let cpu = cpu_model();
    let report = json!({
        "cpu": cpu, "date": command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "commit": command_line("git", &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"]),
        "machine": format!("{} CPUs, kernel {}", std::thread::available_parallelism().map_or(0, |n| n.get()), std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()),
        "zone": zone_path.display().to_string(), "seconds": secs, "generator": "kxdpgun (knot-dnsutils) at -Q 10000000 on CPU 0, veth lab, RPS on the server end",
        "lab": {"napi": "threaded on both ends: the server end's kthread on the server's CPUs, the client end's on CPU 0 (SCHED_FIFO)", "server_cpus": server_cpus(), "client_end_qdisc": "pfifo (veth stops the queue when the server end's ring is full)"},
        "flood": {"query": format!("{} {}", FLOOD.0, FLOOD.1), "source": SPOOFED, "frame_octets": query_frame},
        "legit": {"sources": LEGIT_NET, "per_source_qps": LEGIT_QPS, "count": LEGIT_SOURCES},
        "rrl": {"per_second": RRL.per_second, "slip": RRL.slip, "ipv4_prefix": 24},
        "rows": rows,
    });
    std::fs::create_dir_all(&o.out)?;
    let path = o.out.join("attack.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    print_table(&rows, &cpu);
    println!("wrote {} ({:.0} s)", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The legitimate sources on the client end, and routes in the server namespace back to them and to the
/// victim's prefix through the client end, for the servers that answer from sockets (the kernel paths
/// answer to the query's own MAC address). The lab's teardown removes both with its namespaces.
fn setup_sources() -> Result<()> {
    for i in 0..LEGIT_SOURCES {
        sh(in_ns(&LAB.cli_ns(), &["ip", "addr", "add", &format!("198.18.{}.2/24", 8 + i), "dev", &LAB.cli_if()]))?;
    }
    for net in [LEGIT_NET, SPOOFED] {
        sh(in_ns(&LAB.srv_ns(), &["ip", "route", "add", net, "via", CLI4, "dev", &LAB.srv_if()]))?;
    }
    Ok(())
}

/// A qdisc on the client end (a new veth has none): with one, veth stops the client end's queue when the
/// server end's receive ring is full and wakes it when the ring drains, and kxdpgun's sends wait and are
/// retried; without one it drops the frame (counted in the client end's `tx_dropped`), which a server end
/// on a CPU of its own, draining at its own pace, would suffer from every generator faster than it.
fn setup_link() -> Result<()> {
    sh(in_ns(&LAB.cli_ns(), &["tc", "qdisc", "replace", "dev", &LAB.cli_if(), "root", "pfifo", "limit", "1000"]))
}

/// The server's CPUs: all but kxdpgun's (RPS steers the server end's stack processing to the same ones).
fn server_cpus() -> Vec<usize> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus: Vec<usize> = (0..n).filter(|&c| c != GUN_CPU).collect();
    if cpus.is_empty() { vec![GUN_CPU] } else { cpus }
}

/// Whether an end has an XDP program: veth runs an end's NAPI only then (or with GRO on, which the lab
/// leaves off), so only then is there a NAPI kthread to place.
fn has_xdp(ns: &str, dev: &str) -> Result<bool> {
    let out = Command::new("ip").args(["-n", ns, "link", "show", "dev", dev]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).contains("prog/xdp"))
}

/// Make an end's NAPI threaded (the kernel keeps the setting when the NAPI is deleted and made again, as
/// veth does when XDP is detached and attached, but refuses it while the end has no NAPI), and place its
/// kthreads on `cpus`, with SCHED_FIFO at `fifo` if given. Their PIDs.
fn threaded_napi(ns: &str, dev: &str, cpus: &[usize], fifo: Option<i32>) -> Result<Vec<i32>> {
    sh(in_ns(ns, &["sh", "-c", &format!("echo 1 > /sys/class/net/{dev}/threaded")]))?;
    let pids = napi_kthreads(dev);
    if pids.is_empty() {
        bail!("{dev}: threaded NAPI set, but no napi/{dev}-* kthread");
    }
    for &pid in &pids {
        // SAFETY: plain syscalls on a cpu_set_t and a sched_param owned here.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in cpus {
                libc::CPU_SET(c, &mut set);
            }
            if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                bail!("{dev}: placing NAPI kthread {pid}: {}", std::io::Error::last_os_error());
            }
            if let Some(p) = fifo {
                let param = libc::sched_param { sched_priority: p };
                if libc::sched_setscheduler(pid, libc::SCHED_FIFO, &param) != 0 {
                    bail!("{dev}: SCHED_FIFO for NAPI kthread {pid}: {}", std::io::Error::last_os_error());
                }
            }
        }
    }
    Ok(pids)
}

/// The kthreads of an interface's threaded NAPI (named `napi/<dev>-<napi id>`, cut to 15 characters).
fn napi_kthreads(dev: &str) -> Vec<i32> {
    let prefix = format!("napi/{dev}-");
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| {
                let c = c.trim_end();
                c.starts_with(&prefix) || (c.len() == 15 && prefix.starts_with(c))
            })
        })
        .collect()
}

/// Once a server is up: if it put an XDP program on the server end, that end's NAPI (and the program)
/// runs in a kthread on the server's CPUs, at the scheduler's ordinary class (the server's own threads
/// share those CPUs with it, as they share a core with its NIC's softirq and ksoftirqd). The servers that
/// answer from sockets have no NAPI there; RPS takes their receive processing to the same CPUs.
fn server_napi() -> Result<Vec<i32>> {
    if has_xdp(&LAB.srv_ns(), &LAB.srv_if())? {
        return threaded_napi(&LAB.srv_ns(), &LAB.srv_if(), &server_cpus(), None);
    }
    Ok(Vec::new())
}

/// CPU seconds (user + system) of kthreads so far.
fn kthread_seconds(pids: &[i32]) -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / tick)
        })
        .sum()
}

fn sh(mut c: Command) -> Result<()> {
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// One server under the flood, with the legitimate stream beside it: its row of the report.
#[allow(clippy::too_many_arguments)]
fn attack(
    running: &Running,
    server: Server,
    label: &str,
    rrl: Option<Rrl>,
    napi: &[i32],
    flood: &Path,
    query_frame: usize,
    names: &[Vec<u8>],
    secs: u32,
) -> Result<Value> {
    let pids: Vec<u32> = running.children.iter().map(|c| c.id()).collect();
    let sockets = legit_sockets()?;
    let mroot = matches!(server, Server::MrootXdp | Server::MrootNoXdp);
    let (l0, c0, s0, n0, t0) = (limiter(server, running), cpu_seconds(&pids), softirq_seconds(), kthread_seconds(napi), Instant::now());
    let p0 = if mroot { mroot_path(running) } else { None };
    let (sv0, cv0) = (veth(&LAB.srv_ns(), &LAB.srv_if())?, veth(&LAB.cli_ns(), &LAB.cli_if())?);
    let names = names.to_vec();
    let window = Duration::from_secs_f64(f64::from(secs) - 1.0);
    let legit = std::thread::spawn(move || -> Result<(Legit, Vec<i32>)> {
        let gun_napi = wait_for_gun()?;
        Ok((legit_stream(sockets, &names, window)?, gun_napi))
    });
    let gun = kxdpgun(LAB, flood, 10_000_000, secs, SPOOFED);
    let legit = legit.join().map_err(|_| anyhow!("the legitimate stream panicked"))?;
    let (gun, (legit, gun_napi)) = (gun?, legit?);
    // The client end's kthread came with kxdpgun's program: all its time is this run's.
    let client_napi = kthread_seconds(&gun_napi);
    let (sv1, cv1) = (veth(&LAB.srv_ns(), &LAB.srv_if())?, veth(&LAB.cli_ns(), &LAB.cli_if())?);
    let p1 = if mroot { mroot_path(running) } else { None };
    let path = p0.zip(p1).map(|(a, b)| {
        MROOT_PATH.iter().zip(a.iter().zip(&b)).map(|(k, (x, y))| (k.to_string(), json!(y - x))).collect::<serde_json::Map<_, _>>()
    });
    let wall = t0.elapsed().as_secs_f64();
    let (cpu, sirq) = ((cpu_seconds(&pids) - c0) / wall, (softirq_seconds() - s0) / wall);
    let napi_cpu = json!({"server_end": (kthread_seconds(napi) - n0) / wall, "client_end": client_napi / wall});
    let l1 = limiter(server, running);
    let (dropped, slipped) = match (l0, l1) {
        (Some(a), Some(b)) => (Some(b.0 - a.0), Some(b.1 - a.1)),
        _ => (None, None),
    };
    let Gun { sent, sent_pps, replies, reply_pps, rcodes, reply_size, reply_bps } = gun;
    let (in_bps, out_bps) = (sent_pps * query_frame as f64, reply_bps / 8.0);
    Ok(json!({
        "server": label, "rrl": rrl.map(|r| json!({"per_second": r.per_second, "slip": r.slip})),
        "offered": sent, "offered_pps": sent_pps, "replies": replies, "replies_per_s": reply_pps, "reply_share": share(replies, sent),
        "reply_dns_octets": reply_size, "rcodes": rcodes,
        "bytes_in_per_s": in_bps, "bytes_out_per_s": out_bps, "amplification": if in_bps > 0.0 { out_bps / in_bps } else { 0.0 },
        "veth_server_end": veth_delta(sv0, sv1), "veth_client_end": veth_delta(cv0, cv1), "m_root_xdp_path": path,
        "legit": {"sent": legit.sent, "answered": legit.answered, "truncated": legit.truncated, "answered_share": share(legit.answered as f64, legit.sent as f64), "full_share": share((legit.answered - legit.truncated) as f64, legit.sent as f64), "lost_sent_at_ms": legit.lost_at_ms},
        "server_cpu_s_per_s": cpu, "softirq_cpu_s_per_s": sirq, "napi_cpu_s_per_s": napi_cpu,
        "rrl_dropped": dropped, "rrl_slipped": slipped,
    }))
}

fn share(n: f64, of: f64) -> f64 {
    if of > 0.0 { n / of } else { 0.0 }
}

/// An end of the veth's packet counters: received, sent, and the two drop counts. Its byte counts are not
/// used: veth counts a frame that came through its XDP path with the Ethernet header and one handed over
/// as an skb without it, so bytes from different paths do not add up.
#[derive(Clone, Copy, Default)]
struct Veth {
    rx: f64,
    tx: f64,
    rx_dropped: f64,
    tx_dropped: f64,
}

fn veth(ns: &str, dev: &str) -> Result<Veth> {
    let out = in_ns(ns, &["ip", "-s", "-j", "link", "show", "dev", dev]).output().context("ip -s link")?;
    let v: Value = serde_json::from_slice(&out.stdout).context("ip -s -j link: not JSON")?;
    let s = &v[0]["stats64"];
    let n = |k: &Value| k.as_f64().unwrap_or(0.0);
    Ok(Veth {
        rx: n(&s["rx"]["packets"]),
        tx: n(&s["tx"]["packets"]),
        rx_dropped: n(&s["rx"]["dropped"]),
        tx_dropped: n(&s["tx"]["dropped"]),
    })
}

/// What changed between two readings of an end, as the report shows it.
fn veth_delta(a: Veth, b: Veth) -> Value {
    json!({"rx_packets": b.rx - a.rx, "tx_packets": b.tx - a.tx, "rx_dropped": b.rx_dropped - a.rx_dropped, "tx_dropped": b.tx_dropped - a.tx_dropped})
}

/// m-root-xdp's kernel counters that say where queries went: seen by XDP, handed to the other CPU for TC
/// and arrived there, seen by TC, answered by each.
const MROOT_PATH: [&str; 6] =
    ["xdp.queries", "xdp.pass.to-cpu", "xdp.pass.to-cpu.arrived", "tc.queries", "xdp.answer.ipv4", "tc.answer.ipv4"];

fn mroot_path(running: &Running) -> Option<Vec<f64>> {
    let v = mroot_stats(LAB, running.control.as_deref())?;
    Some(MROOT_PATH.iter().map(|k| v[*k].as_f64().unwrap_or(0.0)).collect())
}

/// The server's own counts of limited answers so far: (dropped, slipped). m-root-xdp: XDP, TC and
/// userspace together; knotd: mod-rrl's two counters (`knotc stats`).
fn limiter(server: Server, running: &Running) -> Option<(f64, f64)> {
    if matches!(server, Server::KnotXdp | Server::KnotUdp) {
        let sock = running.control.as_ref()?.display().to_string();
        let out = Command::new("knotc").args(["-s", &sock, "stats", "mod-rrl"]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |key: &str| {
            text.lines().filter_map(|l| l.split_once('=')).find(|(k, _)| k.trim() == key).and_then(|(_, v)| v.trim().parse::<f64>().ok())
        };
        return Some((get("mod-rrl.dropped").unwrap_or(0.0), get("mod-rrl.slipped").unwrap_or(0.0)));
    }
    let v = mroot_stats(LAB, running.control.as_deref())?;
    let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let u = |k: &str| v["userspace"]["server"][k].as_f64().unwrap_or(0.0);
    Some((n("xdp.rrl.dropped") + n("tc.rrl.dropped") + u("rrl_dropped"), n("xdp.rrl.slipped") + n("tc.rrl.slipped") + u("rrl_slipped")))
}

/// One UDP socket for each legitimate source, made in the client namespace (a socket stays in the
/// namespace it was made in).
fn legit_sockets() -> Result<Vec<UdpSocket>> {
    m_root_user::lab::in_netns(&LAB.cli_ns(), || -> Result<Vec<UdpSocket>> {
        (0..LEGIT_SOURCES)
            .map(|i| {
                let s = UdpSocket::bind((format!("198.18.{}.2", 8 + i).as_str(), LEGIT_PORT)).context("binding a legitimate source")?;
                s.connect((SRV4, 53))?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .collect()
    })?
}

/// What the legitimate stream sent and got back.
#[derive(Default, Debug)]
struct Legit {
    sent: usize,
    answered: usize,
    truncated: usize,
    /// When each unanswered query was sent, in ms from the stream's start (the first 100).
    lost_at_ms: Vec<u64>,
}

/// Wait for kxdpgun's program on the client end (it hands the answers to the legitimate sources on to the
/// stack; without one, veth drops what the servers' XDP programs send back), then put the NAPI kthread
/// that came with it on kxdpgun's CPU, above kxdpgun: the kthreads' PIDs.
fn wait_for_gun() -> Result<Vec<i32>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_xdp(&LAB.cli_ns(), &LAB.cli_if())? {
        if Instant::now() > deadline {
            bail!("kxdpgun did not attach to {} within 10 s", LAB.cli_if());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    threaded_napi(&LAB.cli_ns(), &LAB.cli_if(), &[GUN_CPU], Some(GUN_NAPI_PRIORITY))
}

/// Once kxdpgun is sending, and a little after, send `window` long at LEGIT_QPS per source, the sources
/// in turn, a new query ID each; answers are counted by ID, each once, those that come within a second
/// after the last query included.
fn legit_stream(sockets: Vec<UdpSocket>, names: &[Vec<u8>], window: Duration) -> Result<Legit> {
    std::thread::sleep(Duration::from_millis(300));
    let interval = Duration::from_secs(1) / (LEGIT_QPS * u32::from(LEGIT_SOURCES));
    let total = (window.as_secs_f64() / interval.as_secs_f64()) as usize;
    let mut seen = vec![false; total];
    let mut got = Legit::default();
    let start = Instant::now();
    let end = start + window + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        while got.sent < total && Instant::now() >= start + interval * got.sent as u32 {
            let q = wire::build_query(got.sent as u16, 0, &names[got.sent % names.len()], rr::A, rr::CLASS_IN, Some((1232, false)));
            // A send refused here is a query lost all the same.
            let _ = sockets[got.sent % sockets.len()].send(&q);
            got.sent += 1;
        }
        for s in &sockets {
            while let Ok(n) = s.recv(&mut buf) {
                if n < 12 || buf[2] & 0x80 == 0 {
                    continue;
                }
                let id = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                if id < total && !seen[id] {
                    seen[id] = true;
                    got.answered += 1;
                    got.truncated += usize::from(buf[2] & 0x02 != 0);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    got.lost_at_ms = (0..got.sent).filter(|&i| !seen[i]).take(100).map(|i| (interval * i as u32).as_millis() as u64).collect();
    Ok(got)
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd).args(args).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// `lscpu`'s model name: every figure goes with the CPU it was measured on.
pub(crate) fn cpu_model() -> String {
    command_line("lscpu", &[])
        .lines()
        .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The terminal table. "dropped in veth": frames the client end could not hand over (no room in the server
/// end's receive ring) and frames the server end dropped after its XDP program ran (an XDP_TX or a
/// redirect to an AF_XDP socket that failed), over the frames offered.
fn print_table(rows: &[Value], cpu: &str) {
    let n = |v: &Value| v.as_f64().unwrap_or(0.0);
    let mb = |v: &Value| format!("{:.1} MB/s", n(v) / 1e6);
    println!(
        "bench attack ({cpu}): kxdpgun at its maximum, {} {} from {SPOOFED}; legitimate stream {LEGIT_SOURCES} x {LEGIT_QPS} qps from {LEGIT_NET}; limits {}/s, slip {}",
        FLOOD.0, FLOOD.1, RRL.per_second, RRL.slip
    );
    println!(
        "| server | offered/s | dropped in veth | replies/s | bytes in/s | bytes out/s | amplification | legit answered | server CPU | server end NAPI CPU | softirq CPU | rrl dropped | rrl slipped |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let opt = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.0}"));
        println!(
            "| {} | {:.0} | {:.1} % | {:.0} | {} | {} | {:.2} | {:.1} % ({}/{}) | {:.2} | {:.2} | {:.2} | {} | {} |",
            r["server"].as_str().unwrap_or(""),
            n(&r["offered_pps"]),
            100.0 * share(n(&r["veth_client_end"]["tx_dropped"]) + n(&r["veth_server_end"]["rx_dropped"]), n(&r["offered"])),
            n(&r["replies_per_s"]),
            mb(&r["bytes_in_per_s"]),
            mb(&r["bytes_out_per_s"]),
            n(&r["amplification"]),
            100.0 * n(&r["legit"]["answered_share"]),
            r["legit"]["answered"],
            r["legit"]["sent"],
            n(&r["server_cpu_s_per_s"]),
            n(&r["napi_cpu_s_per_s"]["server_end"]),
            n(&r["softirq_cpu_s_per_s"]),
            opt(&r["rrl_dropped"]),
            opt(&r["rrl_slipped"]),
        );
    }
    for r in rows.iter().filter(|r| r["server"].as_str().is_some_and(|s| s.starts_with("m-root-xdp (XDP + TC), RRL"))) {
        let (lost, amp) = (1.0 - n(&r["legit"]["answered_share"]), n(&r["amplification"]));
        println!(
            "goals for {}: legitimate stream lost {:.1} % (goal 0 %): {}; amplification {amp:.2} (goal at most 1.0): {}",
            r["server"].as_str().unwrap_or(""),
            100.0 * lost,
            if lost <= 0.0 { "met" } else { "not met" },
            if amp <= 1.0 { "met" } else { "not met" }
        );
    }
}
