//! `bench load`: the servers side by side under kxdpgun (Knot's XDP packet generator) in a lab, the same
//! zone and the same query streams for each, a ladder of offered rates; JSON, a terminal table and an SVG
//! plot. Everything it starts runs inside the lab's namespaces, is bounded in time, and is stopped by PID.

pub(crate) mod gun;
mod report;
pub(crate) mod servers;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde_json::json;
use zonegen::testkit::querymix::{Carrier, Generator};
use zonegen::{LoadOptions, Zone};

use gun::{cpu_seconds, kxdpgun, query_files, softirq_seconds};
use servers::{Lab, Server, clear_client_xdp, clear_lab_xdp, kernel_answered, lab, rps_mask, start, xdp_answered};

const LAB: Lab = Lab("mrxb");
pub(crate) const SRV4: &str = "198.18.0.1";
pub(crate) const CLI4: &str = "198.18.0.2";
pub(crate) const SRV_MAC: &str = "02:00:c6:12:00:01";

pub struct Options {
    pub zone: PathBuf,
    pub quick: bool,
    pub out: PathBuf,
    /// Steer the server end's receive processing off the generator's CPU (RPS).
    pub rps: bool,
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
    lab(LAB, "down", o.rps).ok();
    lab(LAB, "up", o.rps)?;
    let mut rows = Vec::new();
    let mut live: Option<serde_json::Value> = None;
    let mut done = 0;
    let result = (|| -> Result<()> {
        for server in Server::ALL {
            let running = start(LAB, server, &zone_path, &dir, None)?;
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
                    let in_kernel = matches!(server, Server::MrootDefault | Server::MrootXdp | Server::MrootXdpOnly | Server::MrootTc);
                    let k0 = in_kernel.then(|| kernel_answered(LAB)).flatten();
                    let (c0, s0, t0) = (cpu_seconds(&pids), softirq_seconds(), Instant::now());
                    let g = kxdpgun(LAB, file, rate, secs, CLI4)?;
                    let wall = t0.elapsed().as_secs_f64();
                    let (cpu, sirq) = (cpu_seconds(&pids) - c0, softirq_seconds() - s0);
                    let k = k0.and_then(|a| kernel_answered(LAB).map(|b| (b.0 - a.0, b.1 - a.1)));
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
        let (srv_ns, cli_ns, srv_if, cli_if) = (LAB.srv_ns(), LAB.cli_ns(), LAB.srv_if(), LAB.cli_if());
        let live_secs = secs as f64;
        eprintln!("live frames: reflector | {:.0} s elapsed", started.elapsed().as_secs_f64());
        clear_lab_xdp(LAB);
        let refl = {
            let _r = crate::live::attach_reflector(&srv_ns, &srv_if)?;
            crate::live::generate(&cli_ns, &cli_if, srv_mac, CLI4, SRV4, &queries, live_secs)?
        };
        eprintln!("live frames: m-root-xdp (XDP) | {:.0} s elapsed", started.elapsed().as_secs_f64());
        let xdp = {
            let _running = start(LAB, Server::MrootXdp, &zone_path, &dir, None)?;
            clear_client_xdp(LAB);
            let a0 = xdp_answered(LAB).unwrap_or(0.0);
            let r = crate::live::generate(&cli_ns, &cli_if, srv_mac, CLI4, SRV4, &queries, live_secs)?;
            let a1 = xdp_answered(LAB).unwrap_or(0.0);
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
    lab(LAB, "down", o.rps).ok();
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
    std::fs::write(o.out.join("load.svg"), report::plot(&rows))?;
    report::print_table(&rows, live.as_ref());
    println!(
        "wrote {} and {} ({:.0} s)",
        o.out.join("load.json").display(),
        o.out.join("load.svg").display(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
