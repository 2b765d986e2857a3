//! The load itself: kxdpgun's query files from the standard mix, a kxdpgun run and what it reports, and
//! the CPU time the server and the softirqs took meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use zonegen::testkit::querymix::{Carrier, Class, Generator};
use zonegen::{Zone, name, rr, wire};

use super::servers::{Lab, clear_client_xdp, in_ns};
use super::{SRV_MAC, SRV4};

/// Query files in kxdpgun's format (`name type [E|D]`), one per mix: 100,000 UDP queries of the standard
/// mix (its odd class left out), referrals under 1,000 TLDs, 1,000 NXDOMAIN names, priming; each as
/// (label, file, queries).
pub(super) fn query_files(zone: &Zone, dir: &Path) -> Result<Vec<(&'static str, PathBuf, usize)>> {
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
pub(crate) fn cpu_seconds(pids: &[u32]) -> f64 {
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
pub(crate) fn softirq_seconds() -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(7).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)))
        .unwrap_or(0.0)
        / tick
}

/// What kxdpgun reported: queries sent and replies, each in all and per second, replies by rcode, the
/// mean DNS size of a reply and the replies' Ethernet bit rate.
#[derive(Default, Clone, Debug)]
pub(crate) struct Gun {
    pub(crate) sent: f64,
    pub(crate) sent_pps: f64,
    pub(crate) replies: f64,
    pub(crate) reply_pps: f64,
    pub(crate) rcodes: BTreeMap<String, u64>,
    pub(crate) reply_size: f64,
    pub(crate) reply_bps: f64,
}

/// Run kxdpgun from the lab's client end at `qps` queries per second for `secs` seconds, from `src`
/// (an address, or `address/prefix`: kxdpgun then walks the prefix's addresses), and read its totals.
pub(crate) fn kxdpgun(l: Lab, file: &Path, qps: u64, secs: u32, src: &str) -> Result<Gun> {
    let cli_ns = l.cli_ns();
    let cli_if = l.cli_if();
    let f = file.display().to_string();
    let mut text = String::new();
    // The previous run's XDP socket can still be going away: clear the client end and retry a few times.
    for attempt in 0..5 {
        clear_client_xdp(l);
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = in_ns(
            &cli_ns,
            &["kxdpgun", "-t", &secs.to_string(), "-Q", &qps.to_string(), "-i", &f, "-I", &cli_if, "-l", src, "-R", SRV_MAC, SRV4],
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
        } else if line.starts_with("average DNS reply size:") && !nums.is_empty() {
            g.reply_size = nums[0];
        } else if line.starts_with("average Ethernet reply rate:") && !nums.is_empty() {
            g.reply_bps = nums[0];
        } else if let Some(rest) = line.strip_prefix("responded ")
            && let Some((rc, n)) = rest.split_once(':')
        {
            g.rcodes.insert(rc.trim().into(), n.trim().parse().unwrap_or(0));
        }
    }
    if g.sent == 0.0 {
        bail!("kxdpgun printed no totals:\n{text}");
    }
    Ok(g)
}
