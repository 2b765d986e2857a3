//! `bench load`: the servers side by side under kxdpgun (Knot's XDP packet generator) in a lab, the same
//! zone and the same query streams for each, a ladder of offered rates; JSON, a terminal table and an SVG
//! plot. Everything it starts runs inside the lab's namespaces, is bounded in time, and is stopped by PID.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use zonegen::testkit::querymix::{Carrier, Class, Generator};
use zonegen::{LoadOptions, Zone, name, rr, wire};

const LAB: &str = "mrxb";
const SRV4: &str = "198.18.0.1";
const CLI4: &str = "198.18.0.2";
const SRV_MAC: &str = "02:00:c6:12:00:01";

pub struct Options {
    pub zone: PathBuf,
    pub quick: bool,
    pub out: PathBuf,
    /// Steer the server end's receive processing off the generator's CPU (RPS).
    pub rps: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    MrootXdp,
    MrootXdpOnly,
    MrootTc,
    MrootNoXdp,
    KnotXdp,
    KnotUdp,
    Nsd,
}

impl Server {
    const ALL: [Server; 7] =
        [Server::MrootXdp, Server::MrootXdpOnly, Server::MrootTc, Server::MrootNoXdp, Server::KnotXdp, Server::KnotUdp, Server::Nsd];
    fn label(self) -> &'static str {
        match self {
            Server::MrootXdp => "m-root-xdp (XDP + TC)",
            Server::MrootXdpOnly => "m-root-xdp (XDP, --no-tc)",
            Server::MrootTc => "m-root-xdp (--xdp-mode tc)",
            Server::MrootNoXdp => "m-root-xdp (--xdp-mode off)",
            Server::KnotXdp => "knotd (XDP)",
            Server::KnotUdp => "knotd (UDP)",
            Server::Nsd => "nsd",
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin() -> PathBuf {
    root().join("target/release/m-root-xdp")
}

fn lab(action: &str, rps: bool) -> Result<()> {
    let st = Command::new("bash")
        .arg(root().join("scripts/lab.sh"))
        .arg(action)
        .env("LAB", LAB)
        .env("BIN", bin())
        // kxdpgun brings its own XDP program for the client end.
        .env("PEER", "bare")
        // kxdpgun runs on CPU 0 (its default affinity) and veth has one queue: steer the server's receive
        // processing to the other CPUs (RPS), as RSS spreads a NIC's queues, for every server alike.
        .env("RPS_CPUS", if rps { rps_mask() } else { String::new() })
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("lab.sh {action} failed");
    }
    Ok(())
}

/// Every CPU but CPU 0, as a hex mask for rps_cpus ("0": RPS off on a one-CPU machine).
fn rps_mask() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    let mask: u64 = if n < 2 { 0 } else { (u64::MAX >> (64 - n)) & !1 };
    format!("{mask:x}")
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// Query files in kxdpgun's format: `name type [E|D]`.
fn query_files(zone: &Zone, dir: &Path) -> Result<Vec<(&'static str, PathBuf, usize)>> {
    let mut mix = Generator::new(zone, 2026);
    let mut lines = Vec::new();
    while lines.len() < 100_000 {
        let q = mix.next();
        if q.carrier == Carrier::Tcp || q.class == Class::Odd {
            continue;
        }
        let Ok(p) = wire::parse_query(&q.msg) else { continue };
        let flag = match &p.edns {
            None => "",
            Some(e) if e.dnssec_ok => " D",
            Some(_) => " E",
        };
        lines.push(format!("{} {}{flag}", name::to_text(p.qname), rr::type_name(p.qtype)));
    }
    let referrals: Vec<String> = zone.tlds.iter().take(1000).map(|t| format!("www.example.{} A E", name::to_text(t))).collect();
    let nx: Vec<String> = (0..1000).map(|i| format!("nx{i:05}probe A E")).collect();
    let priming = vec![". NS E".to_string()];
    let mut out = Vec::new();
    for (label, l) in [("root-mix-1 (UDP part)", lines), ("referrals, DO=0", referrals), ("NXDOMAIN, DO=0", nx), ("priming . NS", priming)]
    {
        let p = dir.join(format!("{}.txt", label.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("q")));
        std::fs::write(&p, l.join("\n") + "\n")?;
        out.push((label, p, l.len()));
    }
    Ok(out)
}

struct Running {
    children: Vec<Child>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.children {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Remove an XDP program left on one end of the lab (knotd and kxdpgun leave netlink-attached ones).
fn clear_xdp(side: &str, end: &str) {
    for mode in ["xdp", "xdpgeneric"] {
        let _ =
            Command::new("ip").args(["-n", &format!("{LAB}-{side}"), "link", "set", "dev", &format!("{LAB}-{end}"), mode, "off"]).status();
    }
}

fn clear_lab_xdp() {
    clear_xdp("srv", "s");
    clear_xdp("cli", "c");
}

fn clear_client_xdp() {
    clear_xdp("cli", "c");
}

fn start(server: Server, zone: &Path, dir: &Path) -> Result<Running> {
    clear_lab_xdp();
    let srv_ns = format!("{LAB}-srv");
    let srv_if = format!("{LAB}-s");
    let log = std::fs::File::create(dir.join(format!("{server:?}.log")))?;
    let control = dir.join("m-root-xdp.sock");
    let zs = zone.display().to_string();
    let cs = control.display().to_string();
    let mut cmd = match server {
        Server::MrootXdp | Server::MrootXdpOnly | Server::MrootTc | Server::MrootNoXdp => {
            let b = bin().display().to_string();
            let mode = match server {
                Server::MrootTc => "tc",
                Server::MrootNoXdp => "off",
                _ => "native",
            };
            let mut args = vec![
                b.as_str(),
                "run",
                "--zone",
                &zs,
                "--iface",
                &srv_if,
                "--addr",
                SRV4,
                "--xdp-mode",
                mode,
                "--control",
                &cs,
                "--identity",
                "bench",
            ];
            if server == Server::MrootXdpOnly {
                args.push("--no-tc");
            }
            in_ns(&srv_ns, &args)
        }
        Server::KnotXdp | Server::KnotUdp => {
            let kdir = dir.join("knot");
            let _ = std::fs::remove_dir_all(&kdir);
            std::fs::create_dir_all(&kdir)?;
            let xdp = if server == Server::KnotXdp { format!("xdp:\n    listen: {srv_if}\n") } else { String::new() };
            let conf = format!(
                "server:\n    rundir: \"{d}\"\n    listen: {SRV4}@53\n    identity: \"bench\"\n{xdp}log:\n  - target: stderr\n    any: warning\ndatabase:\n    storage: \"{d}/db\"\ntemplate:\n  - id: default\n    storage: \"{d}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\nzone:\n  - domain: .\n    file: \"{zs}\"\n",
                d = kdir.display()
            );
            std::fs::write(kdir.join("knot.conf"), conf)?;
            let c = kdir.join("knot.conf").display().to_string();
            in_ns(&srv_ns, &["knotd", "-c", &c])
        }
        Server::Nsd => {
            let ndir = dir.join("nsd");
            std::fs::create_dir_all(&ndir)?;
            let conf = m_root_user::lab::nsd_conf(&ndir, zone, &[SRV4], "bench");
            std::fs::write(ndir.join("nsd.conf"), conf)?;
            let c = ndir.join("nsd.conf").display().to_string();
            in_ns(&srv_ns, &["nsd", "-d", "-c", &c])
        }
    };
    let child = cmd.stdout(Stdio::from(log.try_clone()?)).stderr(Stdio::from(log)).spawn().context("starting the server")?;
    let running = Running { children: vec![child] };
    // Ready when it answers a referral from the client namespace.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = in_ns(&format!("{LAB}-cli"), &["kdig", &format!("@{SRV4}"), "+time=1", "+retry=0", "jp", "A"]).output()?;
        if String::from_utf8_lossy(&out.stdout).contains("NOERROR") {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} did not start (log in {})", server.label(), dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(running)
}

/// The PIDs of `roots` and all their descendants (NSD works in a forked child).
fn tree(roots: &[u32]) -> Vec<u32> {
    let mut all: Vec<u32> = roots.to_vec();
    let procs: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| {
                    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    let ppid = s.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?;
                    Some((pid, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        all.extend(procs.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    all
}

/// CPU seconds (user + system) used so far by processes and their descendants, from /proc.
fn cpu_seconds(pids: &[u32]) -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut total = 0.0;
    for pid in tree(pids) {
        // The child is `ip netns exec`, which execs the server: same PID.
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total += (ut + st) / tick;
        }
    }
    total
}

/// Total softirq time of all CPUs (XDP and the network stack run there), seconds.
fn softirq_seconds() -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(7).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)))
        .unwrap_or(0.0)
        / tick
}

#[derive(Default, Clone, Debug)]
struct Gun {
    sent: f64,
    sent_pps: f64,
    replies: f64,
    reply_pps: f64,
    rcodes: BTreeMap<String, u64>,
}

fn kxdpgun(file: &Path, qps: u64, secs: u32) -> Result<Gun> {
    let cli_ns = format!("{LAB}-cli");
    let cli_if = format!("{LAB}-c");
    let f = file.display().to_string();
    let mut text = String::new();
    // The previous run's XDP socket can still be going away: clear the client end and retry a few times.
    for attempt in 0..5 {
        clear_client_xdp();
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = in_ns(
            &cli_ns,
            &["kxdpgun", "-t", &secs.to_string(), "-Q", &qps.to_string(), "-i", &f, "-I", &cli_if, "-l", CLI4, "-R", SRV_MAC, SRV4],
        )
        .output()
        .context("running kxdpgun")?;
        text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if !text.contains("busy") {
            break;
        }
    }
    let mut g = Gun::default();
    for line in text.lines() {
        let nums: Vec<f64> = line.split(|c: char| !c.is_ascii_digit() && c != '.').filter_map(|t| t.parse().ok()).collect();
        if line.starts_with("total queries:") && nums.len() >= 2 {
            (g.sent, g.sent_pps) = (nums[0], nums[1]);
        } else if line.starts_with("total replies:") && nums.len() >= 2 {
            (g.replies, g.reply_pps) = (nums[0], nums[1]);
        } else if let Some(rest) = line.strip_prefix("responded ") {
            if let Some((rc, n)) = rest.split_once(':') {
                g.rcodes.insert(rc.trim().into(), n.trim().parse().unwrap_or(0));
            }
        }
    }
    if g.sent == 0.0 {
        bail!("kxdpgun printed no totals:\n{text}");
    }
    Ok(g)
}

/// Answers sent in the kernel so far: (XDP, TC).
fn kernel_answered(iface: &str) -> Option<(f64, f64)> {
    use m_root_common::Hook;
    let out =
        in_ns(&format!("{LAB}-srv"), &[&bin().display().to_string(), "stats", "--iface", iface, "--control", "/nonexistent", "--json"])
            .output()
            .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((m_root_user::dataplane::answered_by(&v, Hook::Xdp) as f64, m_root_user::dataplane::answered_by(&v, Hook::Tc) as f64))
}

fn xdp_answered(iface: &str) -> Option<f64> {
    kernel_answered(iface).map(|(x, _)| x)
}

pub fn run(o: &Options) -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!("bench load needs root (namespaces, XDP)");
    }
    let started = Instant::now();
    let zone = Zone::load(&o.zone, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let zone_path = std::fs::canonicalize(&o.zone)?;
    let dir = std::env::temp_dir().join(format!("m-root-xdp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let files = query_files(&zone, &dir)?;
    let (rates, secs): (Vec<u64>, u32) =
        if o.quick { (vec![200_000, 10_000_000], 2) } else { (vec![100_000, 250_000, 500_000, 1_000_000, 10_000_000], 3) };
    let mixes: Vec<_> = if o.quick { files.iter().take(1).collect() } else { files.iter().collect() };
    let steps = Server::ALL.len() * rates.len() * mixes.len();
    lab("down", o.rps).ok();
    lab("up", o.rps)?;
    let mut rows = Vec::new();
    let mut live: Option<serde_json::Value> = None;
    let mut done = 0;
    let result = (|| -> Result<()> {
        for server in Server::ALL {
            let running = start(server, &zone_path, &dir)?;
            let pids: Vec<u32> = running.children.iter().map(|c| c.id()).collect();
            for (mix, file, _) in &mixes {
                for &rate in &rates {
                    done += 1;
                    eprintln!(
                        "[{done}/{steps}] {} | {mix} | offered {} | {:.0} s elapsed",
                        server.label(),
                        if rate >= 10_000_000 { "max".into() } else { rate.to_string() },
                        started.elapsed().as_secs_f64()
                    );
                    let in_kernel = matches!(server, Server::MrootXdp | Server::MrootXdpOnly | Server::MrootTc);
                    let k0 = in_kernel.then(|| kernel_answered(&format!("{LAB}-s"))).flatten();
                    let (c0, s0, t0) = (cpu_seconds(&pids), softirq_seconds(), Instant::now());
                    let g = kxdpgun(file, rate, secs)?;
                    let wall = t0.elapsed().as_secs_f64();
                    let (cpu, sirq) = (cpu_seconds(&pids) - c0, softirq_seconds() - s0);
                    let k = k0.and_then(|a| kernel_answered(&format!("{LAB}-s")).map(|b| (b.0 - a.0, b.1 - a.1)));
                    let share = |n: f64| if g.replies > 0.0 { n / g.replies } else { 0.0 };
                    rows.push(json!({
                        "server": server.label(), "mix": mix, "offered_qps_requested": rate, "offered_qps": g.sent_pps,
                        "replies_per_s": g.reply_pps, "answered_share": if g.sent > 0.0 { g.replies / g.sent } else { 0.0 },
                        "rcodes": g.rcodes, "server_cpu_s_per_s": cpu / wall, "softirq_cpu_s_per_s": sirq / wall,
                        "fast_path_share": k.map(|(x, t)| share(x + t)),
                        "xdp_share": k.map(|(x, _)| share(x)),
                        "tc_share": k.map(|(_, t)| share(t)),
                    }));
                }
            }
            drop(running);
        }
        // Live frames: the XDP path itself, against a bare reflector, same generator, same queries.
        let mut mix = Generator::new(&zone, 7);
        let queries: Vec<Vec<u8>> = std::iter::from_fn(|| Some(mix.next()))
            .filter(|q| q.carrier == Carrier::UdpV4 && m_root_user::dataplane::xdp_covers(&zone, &q.msg))
            .take(512)
            .map(|q| q.msg)
            .collect();
        let srv_mac = m_root_user::frame::parse_mac(SRV_MAC)?;
        let (srv_ns, cli_ns, srv_if, cli_if) = (format!("{LAB}-srv"), format!("{LAB}-cli"), format!("{LAB}-s"), format!("{LAB}-c"));
        let live_secs = secs as f64;
        eprintln!("live frames: reflector | {:.0} s elapsed", started.elapsed().as_secs_f64());
        clear_lab_xdp();
        let refl = {
            let _r = crate::live::attach_reflector(&srv_ns, &srv_if)?;
            crate::live::generate(&cli_ns, &cli_if, srv_mac, CLI4, SRV4, &queries, live_secs)?
        };
        eprintln!("live frames: m-root-xdp (XDP) | {:.0} s elapsed", started.elapsed().as_secs_f64());
        let xdp = {
            let _running = start(Server::MrootXdp, &zone_path, &dir)?;
            clear_client_xdp();
            let a0 = xdp_answered(&srv_if).unwrap_or(0.0);
            let r = crate::live::generate(&cli_ns, &cli_if, srv_mac, CLI4, SRV4, &queries, live_secs)?;
            let a1 = xdp_answered(&srv_if).unwrap_or(0.0);
            (r, (a1 - a0) / live_secs)
        };
        live = Some(json!({
            "queries": queries.len(), "seconds": live_secs,
            "reflector": {"sent_per_s": refl.sent_per_s, "replies_per_s": refl.replies_per_s},
            "m_root_xdp": {"sent_per_s": xdp.0.sent_per_s, "replies_per_s": xdp.0.replies_per_s, "xdp_answers_per_s": xdp.1},
            "ratio_to_reflector": xdp.0.replies_per_s / refl.replies_per_s.max(1.0),
        }));
        Ok(())
    })();
    lab("down", o.rps).ok();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    let report = json!({
        "machine": format!("{} CPUs, kernel {}", std::thread::available_parallelism().map_or(0, |n| n.get()), std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()),
        "zone": zone_path.display().to_string(), "seconds_per_step": secs, "rps_cpus": if o.rps { rps_mask() } else { "off".to_string() }, "generator": "kxdpgun (knot-dnsutils), veth lab", "rows": rows, "live_frames": live,
    });
    std::fs::create_dir_all(&o.out)?;
    std::fs::write(o.out.join("load.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(o.out.join("load.svg"), plot(&rows))?;
    println!(
        "{:<28} {:<22} {:>10} {:>10} {:>7} {:>6} {:>8} {:>6} {:>6}",
        "server", "mix", "offered/s", "replies/s", "share", "cpu", "softirq", "xdp", "tc"
    );
    for r in &rows {
        println!(
            "{:<28} {:<22} {:>10.0} {:>10.0} {:>6.0}% {:>6.2} {:>8.2} {:>6} {:>6}",
            r["server"].as_str().unwrap_or(""),
            r["mix"].as_str().unwrap_or(""),
            r["offered_qps"].as_f64().unwrap_or(0.0),
            r["replies_per_s"].as_f64().unwrap_or(0.0),
            100.0 * r["answered_share"].as_f64().unwrap_or(0.0),
            r["server_cpu_s_per_s"].as_f64().unwrap_or(0.0),
            r["softirq_cpu_s_per_s"].as_f64().unwrap_or(0.0),
            r["xdp_share"].as_f64().map(|x| format!("{:.0}%", 100.0 * x)).unwrap_or_else(|| "-".into()),
            r["tc_share"].as_f64().map(|x| format!("{:.0}%", 100.0 * x)).unwrap_or_else(|| "-".into())
        );
    }
    if let Some(l) = &live {
        println!(
            "live frames ({} covered mix queries, {} s): reflector {:.0} replies/s, m-root-xdp XDP {:.0} replies/s ({:.0} XDP answers/s) = {:.0} % of the reflector",
            l["queries"],
            l["seconds"],
            l["reflector"]["replies_per_s"].as_f64().unwrap_or(0.0),
            l["m_root_xdp"]["replies_per_s"].as_f64().unwrap_or(0.0),
            l["m_root_xdp"]["xdp_answers_per_s"].as_f64().unwrap_or(0.0),
            100.0 * l["ratio_to_reflector"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "wrote {} and {} ({:.0} s)",
        o.out.join("load.json").display(),
        o.out.join("load.svg").display(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Replies per second against offered rate, one line per server (first mix), as an SVG.
fn plot(rows: &[serde_json::Value]) -> String {
    let Some(mix) = rows.first().and_then(|r| r["mix"].as_str()) else { return String::new() };
    let pts: Vec<(&str, f64, f64)> = rows
        .iter()
        .filter(|r| r["mix"] == mix)
        .map(|r| (r["server"].as_str().unwrap_or(""), r["offered_qps"].as_f64().unwrap_or(0.0), r["replies_per_s"].as_f64().unwrap_or(0.0)))
        .collect();
    let max = pts.iter().map(|p| p.1.max(p.2)).fold(1.0, f64::max) * 1.05;
    let (w, h, m) = (720.0, 440.0, 60.0);
    let x = |v: f64| m + v / max * (w - 2.0 * m);
    let y = |v: f64| h - m - v / max * (h - 2.0 * m);
    let colours = ["#d62728", "#9467bd", "#8c564b", "#ff7f0e", "#1f77b4", "#17becf", "#2ca02c"];
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">Replies/s vs offered queries/s — {mix}, kxdpgun, veth lab</text>",
        w / 2.0
    );
    let _ = write!(
        s,
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>",
        h - m,
        w - m,
        h - m,
        h - m
    );
    let _ =
        write!(s, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>", x(0.0), y(0.0), x(max), y(max));
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0}k</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}k</text>",
            x(v),
            h - m + 18.0,
            v / 1e3,
            m - 6.0,
            y(v) + 4.0,
            v / 1e3
        );
    }
    let mut servers: Vec<&str> = pts.iter().map(|p| p.0).collect();
    servers.dedup();
    for (i, srv) in servers.iter().enumerate() {
        let c = colours[i % colours.len()];
        let line: Vec<String> = pts.iter().filter(|p| p.0 == *srv).map(|p| format!("{:.1},{:.1}", x(p.1), y(p.2))).collect();
        let _ = write!(s, "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>", line.join(" "));
        for p in pts.iter().filter(|p| p.0 == *srv) {
            let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>", x(p.1), y(p.2));
        }
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{srv}</text>",
            m + 10.0,
            m + 10.0 + 16.0 * i as f64,
            m + 28.0,
            m + 14.0 + 16.0 * i as f64
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">offered queries/s</text><text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">replies/s</text></svg>",
        w / 2.0,
        h - 16.0,
        h / 2.0,
        h / 2.0
    );
    s
}
