//! `bench xdp-cost`: nanoseconds per packet of the XDP program under BPF_PROG_TEST_RUN for each answered
//! kind, next to a bare MAC-swap reflector measured the same way in the same run, and of the TC companion
//! (in its XDP-less mode) on the same frames, and of lab_gen, which only grows the frame to the answer's
//! size and copies it in. Fresh frames: every run is one BPF_PROG_TEST_RUN call with repeat 1 on a new
//! copy of the query (with repeat > 1 the program would run again on its own rewritten output); the
//! programs take turns run by run. The kernel's per-run time includes the same fixed test
//! harness overhead for both programs, so the ratio understates the program's own cost difference.
//! Live frames (second table): the same programs in BPF_PROG_RUN's live-frames mode, batches of 64 with
//! warm caches as in a driver's receive loop, each frame made the query again first (see cost_live).

mod cost_live;
mod live;
mod load;

use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use aya::programs::{TestRun, TestRunOptions, TestRunResult, Xdp};
use aya::Ebpf;
use clap::{Parser, Subcommand};
use m_root_user::dataplane::{counter_key, Dataplane};
use m_root_user::frame::{self, Spec};
use m_root_user::lab::LAB_OBJECT;
use aya::maps::{Array, MapData};
use m_root_common::{Counter, Hook, LabTemplate, LAB_TEMPLATE_MAX};
use zonegen::{compile, name, rr, wire, LoadOptions, Zone};

#[derive(Parser)]
#[command(name = "bench", about = "m-root-xdp benchmarks (ratios measured in one run)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Servers side by side under kxdpgun in a lab: m-root-xdp with and without XDP, knotd XDP and UDP, NSD.
    Load {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        /// One mix, two rates, 2 s steps (under 2 minutes).
        #[arg(long)]
        quick: bool,
        /// Where load.json and load.svg go.
        #[arg(long, default_value = "bench/results")]
        out: std::path::PathBuf,
        /// Leave all receive processing on the generator's CPU (no RPS on the server end of the veth).
        #[arg(long)]
        no_rps: bool,
    },
    /// Time to read, validate, verify (ZONEMD) and compile a zone: the work of a start or a reload.
    ZoneLoad {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        #[arg(long, default_value_t = 10)]
        runs: u32,
    },
    /// Per-packet cost of each answered kind vs a bare reflector (BPF_PROG_TEST_RUN, fresh frames).
    XdpCost {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        /// Runs per kind (each one syscall).
        #[arg(long, default_value_t = 20000)]
        runs: u32,
        #[arg(long)]
        json: bool,
        /// Only the kinds whose description contains this text (e.g. "apex", "v6").
        #[arg(long)]
        only: Option<String>,
    },
}

const SRV4: &str = "198.18.0.1";
const SRV6: &str = "2001:db8::1";

fn spec(v6: bool) -> Spec {
    let (src, dst) = if v6 { ("2001:db8::2", SRV6) } else { ("198.18.0.2", SRV4) };
    Spec { src_mac: [2, 0, 0, 0, 0, 2], dst_mac: [2, 0, 0, 0, 0, 1], vlans: vec![], src: src.parse().unwrap(), dst: dst.parse().unwrap(), sport: 40000, dport: 53 }
}

/// One program under test: something that runs a frame once through BPF_PROG_TEST_RUN.
type Runner<'a> = Box<dyn Fn(TestRunOptions<'_>) -> Result<TestRunResult, aya::programs::ProgramError> + 'a>;

/// Kernel-reported durations (ns) of `runs` single runs of each program on fresh copies of `input`,
/// interleaved run by run (A, B, C, A, B, C, ...) after a warm-up, so that drift in the VM (frequency,
/// neighbours) falls on every program alike. Each: the mean of the middle 80 % (the clock's granularity
/// makes a median jump in 10 ns steps), and the action of the last run.
fn measure_interleaved(progs: &[Runner<'_>], input: &[u8], runs: u32) -> Result<Vec<(f64, u32)>> {
    let mut d: Vec<Vec<u64>> = progs.iter().map(|_| Vec::with_capacity(runs as usize)).collect();
    let mut actions = vec![0; progs.len()];
    let mut out = vec![0u8; 4096];
    let warmup = (runs / 10).max(100);
    for k in 0..warmup + runs {
        for (i, run) in progs.iter().enumerate() {
            let opts = TestRunOptions { data_in: Some(input), data_out: Some(&mut out), repeat: 1, ..Default::default() };
            let r = run(opts).context("BPF_PROG_TEST_RUN")?;
            if k >= warmup {
                d[i].push(r.duration.as_nanos() as u64);
            }
            actions[i] = r.return_value;
        }
    }
    Ok(d.into_iter()
        .zip(actions)
        .map(|(mut d, action)| {
            d.sort_unstable();
            let (lo, hi) = (d.len() / 10, d.len() - d.len() / 10);
            let mid = &d[lo..hi.max(lo + 1)];
            (mid.iter().sum::<u64>() as f64 / mid.len() as f64, action)
        })
        .collect())
}

/// Answers the XDP program has sent, over all CPUs.
fn xdp_answered(dp: &Dataplane) -> Result<u64> {
    let keys = [Counter::AnsIpv4, Counter::AnsIpv6].map(|c| counter_key(Hook::Xdp, c));
    Ok(dp.counters()?.iter().filter(|(k, _)| keys.contains(k)).map(|(_, v)| v).sum())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::ZoneLoad { zone, runs } => zone_load(&zone, runs),
        Cmd::Load { zone, quick, out, no_rps } => load::run(&load::Options { zone, quick, out, rps: !no_rps }),
        Cmd::XdpCost { zone, runs, json, only } => xdp_cost(&zone, runs, json, only.as_deref()),
    }
}

fn zone_load(path: &std::path::Path, runs: u32) -> Result<()> {
    let (mut load, mut comp) = (Vec::new(), Vec::new());
    let mut tlds = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let z = Zone::load(path, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
        load.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let table = compile(&z);
        comp.push(t.elapsed().as_secs_f64() * 1e3);
        tlds = table.tlds.len();
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (l, c) = (med(&mut load), med(&mut comp));
    println!("{} ({tlds} TLDs), median of {runs} runs:", path.display());
    println!("  parse + validate + ZONEMD  {l:>7.1} ms");
    println!("  compile XDP table          {c:>7.1} ms");
    println!("  total                      {:>7.1} ms  ({:.3} of the 1 s target)", l + c, (l + c) / 1000.0);
    Ok(())
}

fn xdp_cost(zone_path: &std::path::Path, runs: u32, json: bool, only: Option<&str>) -> Result<()> {
    let t = Instant::now();
    let zone = Zone::load(zone_path, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let mut dp = Dataplane::load()?;
    dp.set_service_addrs(&[SRV4.parse()?, SRV6.parse()?])?;
    dp.install(&compile(&zone))?;
    dp.set_tc_mode(true)?;
    let mut lab = Ebpf::load(LAB_OBJECT)?;
    let refl: &mut Xdp = lab.program_mut("lab_reflect").ok_or_else(|| anyhow!("lab_reflect missing"))?.try_into()?;
    refl.load()?;
    let grow: &mut Xdp = lab.program_mut("lab_gen").ok_or_else(|| anyhow!("lab_gen missing"))?.try_into()?;
    grow.load()?;
    let fresh: &mut Xdp = lab.program_mut("lab_fresh").ok_or_else(|| anyhow!("lab_fresh missing"))?.try_into()?;
    fresh.load()?;
    let tx: &mut Xdp = lab.program_mut("lab_tx").ok_or_else(|| anyhow!("lab_tx missing"))?.try_into()?;
    tx.load()?;
    let mut next = aya::maps::ProgramArray::try_from(lab.take_map("LAB_NEXT").ok_or_else(|| anyhow!("LAB_NEXT missing"))?)?;
    let scratch = cost_live::ScratchNs::new()?;
    let kinds: [(&str, &str, u16, Option<(u16, bool)>, bool); 9] = [
        ("referral, short name, v4", "example.jp", rr::A, Some((1232, false)), false),
        ("referral, long name, v4", "a-rather-long-label.and-another-one.www.example.com", rr::A, Some((1232, false)), false),
        ("referral, short name, v6", "example.jp", rr::AAAA, Some((1232, false)), true),
        ("referral com, DO=1, v4", "www.example.com", rr::A, Some((1232, true)), false),
        ("referral com, no EDNS, v4", "www.example.com", rr::A, None, false),
        ("NXDOMAIN, DO=0, v4", "no-such-tld", rr::A, Some((1232, false)), false),
        ("NXDOMAIN, DO=1 (NSEC proofs), v4", "no-such-tld", rr::A, Some((1232, true)), false),
        ("apex . NS (priming), v4", ".", rr::NS, Some((1232, false)), false),
        ("apex . DNSKEY DO=1, v6", ".", rr::DNSKEY, Some((1232, true)), true),
    ];
    let mut rows = Vec::new();
    let live_rounds = (runs / 400).max(10);
    for (label, qn, qt, edns, v6) in kinds {
        if only.is_some_and(|o| !label.contains(o)) {
            continue;
        }
        let msg = wire::build_query(0x1111, 0, &name::from_text(qn).map_err(|e| anyhow!(e))?, qt, rr::CLASS_IN, edns);
        let input = frame::build(&spec(v6), &msg);
        // Interleave the two programs so drift (frequency, other load) hits both alike.
        // The answer frame, for the grow-and-copy floor: lab_gen grows the query to it and copies it in
        // with the two helpers an XDP answer needs at least (no parsing, lookup, pointers or checksums).
        let answer = {
            let mut out = vec![0u8; 4096];
            let r = dp.program_ref()?.test_run(TestRunOptions { data_in: Some(&input), data_out: Some(&mut out), repeat: 1, ..Default::default() })?;
            out.truncate(r.data_size_out as usize);
            out
        };
        if answer.len() > LAB_TEMPLATE_MAX {
            return Err(anyhow!("{label}: answer of {} octets exceeds the lab template", answer.len()));
        }
        // Slot 0: what lab_gen sends (the answer); slot 1: what lab_fresh writes (the query).
        let mut templates = Array::<&mut MapData, LabTemplate>::try_from(lab.map_mut("LAB_TEMPLATE").ok_or_else(|| anyhow!("LAB_TEMPLATE missing"))?)?;
        for (slot, f) in [(0, &answer), (1, &input)] {
            let mut tmpl = LabTemplate { len: f.len() as u32, reserved: 0, data: [0; LAB_TEMPLATE_MAX] };
            tmpl.data[..f.len()].copy_from_slice(f);
            templates.set(slot, tmpl, 0)?;
        }
        let refl: &Xdp = lab.program("lab_reflect").ok_or_else(|| anyhow!("lab_reflect missing"))?.try_into()?;
        let grow: &Xdp = lab.program("lab_gen").ok_or_else(|| anyhow!("lab_gen missing"))?.try_into()?;
        let (xdp, tc) = (dp.program_ref()?, dp.tc_program_ref()?);
        // The reflector and the program take turns; the other two are timed apart, each taking turns
        // with the reflector too (the TC harness builds an skb per run, and its footprint in the caches
        // would fall on the next program's run).
        let m = measure_interleaved(&[Box::new(|o| refl.test_run(o)), Box::new(|o| xdp.test_run(o))], &input, runs)?;
        let [(base, _), (ns_xdp, action)] = [m[0], m[1]];
        let (ns_floor, _) = measure_interleaved(&[Box::new(|o| refl.test_run(o)), Box::new(|o| grow.test_run(o))], &input, runs)?[1];
        let (ns_tc, tc_action) = measure_interleaved(&[Box::new(|o| refl.test_run(o)), Box::new(|o| tc.test_run(o))], &input, runs)?[1];
        let fresh: &Xdp = lab.program("lab_fresh").ok_or_else(|| anyhow!("lab_fresh missing"))?.try_into()?;
        let tx: &Xdp = lab.program("lab_tx").ok_or_else(|| anyhow!("lab_tx missing"))?.try_into()?;
        use cost_live::Target::{Bare, Fresh};
        let answered = xdp_answered(&dp)?;
        let (m, frames) = cost_live::measure(&scratch, fresh, &mut next, &[Fresh(refl), Fresh(xdp), Fresh(grow), Fresh(tx), Bare(tx)], &input, live_rounds)?;
        // The program must have answered every frame it was given (live mode reports no actions).
        let got = xdp_answered(&dp)? - answered;
        if got != frames {
            return Err(anyhow!("{label}: live frames: the program answered {got} of {frames} frames"));
        }
        // What writing the query in again costs (lab_fresh before lab_tx, less lab_tx alone), taken off
        // both sides: the reflector is then timed as if the frames came fresh for free.
        let rewrite = m[3] - m[4];
        let live = [m[0] - rewrite, m[1] - rewrite, m[2] - rewrite];
        // XDP_TX (3) and TC_ACT_REDIRECT (7): both answered.
        rows.push((label, ns_xdp, base, ns_floor, ns_tc, action == 3 && tc_action == 7, [live[0], live[1], live[2]]));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(l, x, b, fl, tc, ok, lv)| {
                serde_json::json!({"kind": l, "xdp_ns": x, "reflector_ns": b, "ratio": x / b, "grow_copy_ns": fl, "grow_copy_ratio": fl / b, "tc_ns": tc, "tc_to_xdp": tc / x, "answered": ok,
                    "live": {"xdp_ns": lv[1], "reflector_ns": lv[0], "ratio": lv[1] / lv[0], "grow_copy_ns": lv[2], "grow_copy_ratio": lv[2] / lv[0]}})
            })
            .collect();
        println!("{}", serde_json::json!({"runs_per_kind": runs, "live_calls_per_kind": live_rounds, "live_frames_per_call": cost_live::FRAMES, "verifier_insns": dp.verified_insns, "tc_verifier_insns": dp.tc_verified_insns, "rows": v}));
        return Ok(());
    }
    println!("Per-packet cost under BPF_PROG_TEST_RUN ({:.1} s); verifier: XDP {} and TC {} instructions processed", t.elapsed().as_secs_f64(), dp.verified_insns.unwrap_or(0), dp.tc_verified_insns.unwrap_or(0));
    println!("grow+copy: lab_gen, which only grows the query to the answer's size and copies the answer in with bpf_xdp_store_bytes");
    println!();
    println!("One run per frame (a syscall each, caches cold), trimmed mean of {runs} runs:");
    println!("{:<34} {:>7} {:>10} {:>7} {:>10} {:>7} {:>7} {:>7}  {}", "kind", "xdp ns", "reflect ns", "ratio", "grow+copy", "ratio", "tc ns", "tc/xdp", "answered by both");
    for (label, x, b, fl, tc, ok, _) in &rows {
        println!("{label:<34} {x:>7.0} {b:>10.0} {:>6.2}x {fl:>10.0} {:>6.2}x {tc:>7.0} {:>6.2}x  {}", x / b, fl / b, tc / x, if *ok { "yes" } else { "NO" });
    }
    println!();
    println!("Live frames (batches of {}, caches warm, a fresh query each; the cost of writing the query in again taken off both), trimmed mean of {live_rounds} calls of {} frames:", cost_live::BATCH, cost_live::FRAMES);
    println!("{:<34} {:>7} {:>10} {:>7} {:>10} {:>7}", "kind", "xdp ns", "reflect ns", "ratio", "grow+copy", "ratio");
    for (label, _, _, _, _, _, lv) in &rows {
        println!("{label:<34} {:>7.0} {:>10.0} {:>6.2}x {:>10.0} {:>6.2}x", lv[1], lv[0], lv[1] / lv[0], lv[2], lv[2] / lv[0]);
    }
    Ok(())
}
