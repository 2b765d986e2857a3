//! `bench`: `load` (servers side by side under kxdpgun, load.rs), `attack` (a reflection attack with
//! response rate limiting, attack.rs), `zone-load` (the time a start or a reload
//! takes to read and compile a zone) and, most of this file, `xdp-cost`: nanoseconds per packet of the XDP
//! program under BPF_PROG_TEST_RUN for each answered kind, next to a bare MAC-swap reflector measured the
//! same way in the same run, and of the TC companion (in its XDP-less mode) on the same frames, and of
//! lab_gen, which only grows the frame to the answer's size and copies it in. Fresh frames: every run is one
//! BPF_PROG_TEST_RUN call with repeat 1 on a new copy of the query (with repeat > 1 the program would run
//! again on its own rewritten output); the programs take turns run by run. The kernel's per-run time
//! includes the same fixed test harness overhead for both programs, so the ratio understates the program's
//! own cost difference. Live frames (second table): the same programs in BPF_PROG_RUN's live-frames mode,
//! batches of 64 with warm caches as in a driver's receive loop, each frame made the query again first (see
//! cost_live). Ratios to the reflector are medians of ratios taken within short stretches (see
//! median_ratio).

mod ab;
mod attack;
mod cost_live;
mod kfuzz;
mod live;
mod load;

use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use attack::cpu_model;
use aya::Ebpf;
use aya::maps::{Array, MapData};
use aya::programs::{TestRun, TestRunOptions, TestRunResult, Xdp};
use clap::{Parser, Subcommand};
use m_root_common::{Counter, Hook, LAB_TEMPLATE_MAX, LabTemplate};
use m_root_user::dataplane::{Dataplane, counter_key};
use m_root_user::frame::{self, Spec};
use m_root_user::lab::LAB_OBJECT;
use zonegen::{LoadOptions, Zone, compile, name, rr, wire};

#[derive(Parser)]
#[command(name = "bench", about = "m-root-xdp benchmarks (ratios measured in one run)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Servers side by side under kxdpgun in a lab: m-root-xdp (XDP + TC, XDP alone, TC alone, neither), knotd XDP and UDP, NSD.
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
    /// A reflection attack from a spoofed prefix at kxdpgun's maximum, with a legitimate stream beside it: m-root-xdp with RRL, knotd with mod-rrl, m-root-xdp without.
    Attack {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        /// 3 s floods and no userspace-only row (under a minute).
        #[arg(long)]
        quick: bool,
        /// Where attack.json goes.
        #[arg(long, default_value = "bench/results")]
        out: std::path::PathBuf,
    },
    /// Both kernel programs on mutated frames under BPF_PROG_TEST_RUN, every verdict checked (answers equal the answer function's, passes unchanged, no drops).
    FuzzKernel {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        /// Frames through each program.
        #[arg(long, default_value_t = 10_000_000)]
        frames: u64,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Where frames that broke a rule are written.
        #[arg(long, default_value = "target/kfuzz")]
        out: std::path::PathBuf,
    },
    /// Time to read, validate, verify (ZONEMD) and compile a zone: the work of a start or a reload.
    ZoneLoad {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        #[arg(long, default_value_t = 10)]
        runs: u32,
    },
    /// This build's XDP program against another build of the eBPF object (an ablation), taking turns on the same frames.
    XdpAb {
        #[arg(long, default_value = "zones/root.zone.2026073102")]
        zone: std::path::PathBuf,
        /// The other eBPF object (target/release/build/m-root-user-*/out/m-root of another build).
        #[arg(long)]
        against: std::path::PathBuf,
        #[arg(long, default_value_t = 20000)]
        runs: u32,
        #[arg(long)]
        only: Option<String>,
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
    Spec {
        src_mac: [2, 0, 0, 0, 0, 2],
        dst_mac: [2, 0, 0, 0, 0, 1],
        vlans: vec![],
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport: 40000,
        dport: 53,
    }
}

/// One program under test: something that runs a frame once through BPF_PROG_TEST_RUN.
type Runner<'a> = Box<dyn Fn(TestRunOptions<'_>) -> Result<TestRunResult, aya::programs::ProgramError> + 'a>;

/// Runs per block for [`median_ratio`]: long enough that the 10 ns clock steps average out (a block's
/// sum is exact to ~1 %), short enough that a run holds many blocks.
const BLOCK_RUNS: usize = 250;

/// The median over blocks of `per_block` consecutive paired samples of sum(b) / sum(a). The VM's speed
/// drifts (neighbours, frequency), by up to a half between the runs of one benchmark here; a ratio taken
/// within each short block, where both programs ran under the same conditions, and its median over the
/// blocks are robust to that, as a ratio of two whole-run means is not.
fn median_ratio(a: &[f64], b: &[f64], per_block: usize) -> f64 {
    let mut r: Vec<f64> = a
        .chunks(per_block)
        .zip(b.chunks(per_block))
        .map(|(x, y)| y.iter().sum::<f64>() / x.iter().sum::<f64>())
        .filter(|r| r.is_finite())
        .collect();
    if r.is_empty() {
        return f64::NAN;
    }
    r.sort_by(|x, y| x.total_cmp(y));
    r[r.len() / 2]
}

/// Mean of the middle 80 % (the clock's granularity makes a median jump in 10 ns steps).
fn trimmed_mean(d: &[f64]) -> f64 {
    let mut d = d.to_vec();
    d.sort_by(|x, y| x.total_cmp(y));
    let (lo, hi) = (d.len() / 10, d.len() - d.len() / 10);
    let mid = &d[lo..hi.max(lo + 1)];
    mid.iter().sum::<f64>() / mid.len() as f64
}

/// One program's timing in [`measure_interleaved`]: trimmed mean ns, its ratio to the first program
/// (median of block ratios), and the action of its last run.
#[derive(Clone, Copy)]
struct Timed {
    ns: f64,
    ratio: f64,
    action: u32,
}

/// Time `runs` single runs of each program on fresh copies of `input` (durations as the kernel reports
/// them), interleaved run by run (A, B, C, A, B, C, ...) after a warm-up, so that drift in the VM (frequency,
/// neighbours) falls on every program alike; each program's ratio to the first is taken block by block.
fn measure_interleaved(progs: &[Runner<'_>], input: &[u8], runs: u32) -> Result<Vec<Timed>> {
    let mut d: Vec<Vec<f64>> = progs.iter().map(|_| Vec::with_capacity(runs as usize)).collect();
    let mut actions = vec![0; progs.len()];
    let mut out = vec![0u8; 4096];
    let warmup = (runs / 10).max(100);
    for k in 0..warmup + runs {
        for (i, run) in progs.iter().enumerate() {
            let opts = TestRunOptions { data_in: Some(input), data_out: Some(&mut out), repeat: 1, ..Default::default() };
            let r = run(opts).context("BPF_PROG_TEST_RUN")?;
            if k >= warmup {
                d[i].push(r.duration.as_nanos() as f64);
            }
            actions[i] = r.return_value;
        }
    }
    Ok(d.iter().zip(actions).map(|(x, action)| Timed { ns: trimmed_mean(x), ratio: median_ratio(&d[0], x, BLOCK_RUNS), action }).collect())
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
        Cmd::Attack { zone, quick, out } => attack::run(&attack::Options { zone, quick, out }),
        Cmd::XdpAb { zone, against, runs, only } => ab::run(&ab::Options { zone: &zone, against: &against, runs, only: only.as_deref() }),
        Cmd::XdpCost { zone, runs, json, only } => xdp_cost(&zone, runs, json, only.as_deref()),
        Cmd::FuzzKernel { zone, frames, seed, out } => kfuzz::run(&kfuzz::Options { zone, frames, seed, out }),
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

/// One answered kind to time: label, question name, qtype, EDNS (UDP size, DO) if any, sent over IPv6.
type Kind<'a> = (&'a str, &'a str, u16, Option<(u16, bool)>, bool);

/// The kinds timed, each answered by the XDP program.
const KINDS: [Kind<'static>; 9] = [
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

/// The query frame of one kind.
fn kind_frame(qn: &str, qt: u16, edns: Option<(u16, bool)>, v6: bool) -> Result<Vec<u8>> {
    let msg = wire::build_query(0x1111, 0, &name::from_text(qn).map_err(|e| anyhow!(e))?, qt, rr::CLASS_IN, edns);
    Ok(frame::build(&spec(v6), &msg))
}

/// The XDP program as the daemon runs it: this table, both service addresses, TC answering what it
/// covers, XDP sending; from this build's object or `object`.
fn loaded_dataplane(table: &zonegen::Table, object: Option<&[u8]>) -> Result<Dataplane> {
    let mut dp = match object {
        Some(o) => Dataplane::load_object(o)?,
        None => Dataplane::load()?,
    };
    dp.set_service_addrs(&[SRV4.parse()?, SRV6.parse()?])?;
    dp.install(table)?;
    dp.set_tc_mode(true)?;
    dp.set_xdp_tx(true)?;
    Ok(dp)
}

/// One kind's line in both tables.
struct Row<'a> {
    label: &'a str,
    base: f64,
    xdp: Timed,
    floor: Timed,
    tc: Timed,
    answered: bool,
    live: Live,
    /// The XDP program with rate limiting on (dry run), timed in the same turns as `xdp`'s second copy.
    rrl: Timed,
    rrl_base: Timed,
    /// The XDP program counting RSSAC002's day (a day slot set), timed in the same turns.
    day: Timed,
    /// The XDP program sampling one in 1,000 answers for dnstap, timed in the same turns.
    tap: Timed,
}

/// Live frames, the rewrite taken off: trimmed-mean ns and median per-call ratios to the reflector.
struct Live {
    reflector_ns: f64,
    xdp_ns: f64,
    floor_ns: f64,
    ratio: f64,
    floor_ratio: f64,
}

fn xdp_cost(zone_path: &std::path::Path, runs: u32, json: bool, only: Option<&str>) -> Result<()> {
    let t = Instant::now();
    let zone = Zone::load(zone_path, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let table = compile(&zone);
    // The program as the daemon loads it: this table, both service addresses, TC answering what it
    // covers, XDP sending.
    let loaded = || loaded_dataplane(&table, None);
    let dp = loaded()?;
    // The same program with rate limiting on: dry run, so every verdict is computed (bucket lookup,
    // GCRA, the reports) and every answer still sent, at a rate that keeps most of them allowed.
    let mut dp_rrl = loaded()?;
    let mut rrl_on = m_root_user::limits::Limits::default();
    (rrl_on.rrl.responses_per_second, rrl_on.rrl.dry_run) = (1_000_000, true);
    dp_rrl.set_limits(&rrl_on)?;
    // And with RSSAC002's day counts on (what a daemon with [rssac002] runs): sizes, rcodes, sources.
    let mut dp_day = loaded()?;
    dp_day.set_day(Some(0))?;
    // And sampling one in 1,000 answers for dnstap ([dnstap] kernel_sample = 1000).
    let mut dp_tap = loaded()?;
    dp_tap.set_dnstap_rate(1000)?;
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
    let mut rows = Vec::new();
    let live_rounds = (runs / 400).max(10);
    for (label, qn, qt, edns, v6) in KINDS {
        if only.is_some_and(|o| !label.contains(o)) {
            continue;
        }
        let input = kind_frame(qn, qt, edns, v6)?;
        // The answer frame, for the grow-and-copy floor: lab_gen grows the query to it and copies it in
        // with the two helpers an XDP answer needs at least (no parsing, lookup, pointers or checksums).
        let answer = {
            let mut out = vec![0u8; 4096];
            let r = dp.program_ref()?.test_run(TestRunOptions {
                data_in: Some(&input),
                data_out: Some(&mut out),
                repeat: 1,
                ..Default::default()
            })?;
            out.truncate(r.data_size_out as usize);
            out
        };
        if answer.len() > LAB_TEMPLATE_MAX {
            return Err(anyhow!("{label}: answer of {} octets exceeds the lab template", answer.len()));
        }
        // Slot 0: what lab_gen sends (the answer); slot 1: what lab_fresh writes (the query).
        let mut templates =
            Array::<&mut MapData, LabTemplate>::try_from(lab.map_mut("LAB_TEMPLATE").ok_or_else(|| anyhow!("LAB_TEMPLATE missing"))?)?;
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
        let (base, xdp_t) = (m[0].ns, m[1]);
        let floor = measure_interleaved(&[Box::new(|o| refl.test_run(o)), Box::new(|o| grow.test_run(o))], &input, runs)?[1];
        let tc_t = measure_interleaved(&[Box::new(|o| refl.test_run(o)), Box::new(|o| tc.test_run(o))], &input, runs)?[1];
        // Rate limiting's cost: the program without and with it, taking turns with the reflector.
        let with_rrl = dp_rrl.program_ref()?;
        let with_day = dp_day.program_ref()?;
        let with_tap = dp_tap.program_ref()?;
        let r = measure_interleaved(
            &[
                Box::new(|o| refl.test_run(o)),
                Box::new(|o| xdp.test_run(o)),
                Box::new(|o| with_rrl.test_run(o)),
                Box::new(|o| with_day.test_run(o)),
                Box::new(|o| with_tap.test_run(o)),
            ],
            &input,
            runs,
        )?;
        let (rrl_base, rrl, day, tap) = (r[1], r[2], r[3], r[4]);
        let fresh: &Xdp = lab.program("lab_fresh").ok_or_else(|| anyhow!("lab_fresh missing"))?.try_into()?;
        let tx: &Xdp = lab.program("lab_tx").ok_or_else(|| anyhow!("lab_tx missing"))?.try_into()?;
        use cost_live::Target::{Bare, Fresh};
        let answered = xdp_answered(&dp)?;
        let (m, frames) = cost_live::measure(
            &scratch,
            fresh,
            &mut next,
            &[Fresh(refl), Fresh(xdp), Fresh(grow), Fresh(tx), Bare(tx)],
            &input,
            live_rounds,
        )?;
        // The program must have answered every frame it was given (live mode reports no actions).
        let got = xdp_answered(&dp)? - answered;
        if got != frames {
            return Err(anyhow!("{label}: live frames: the program answered {got} of {frames} frames"));
        }
        // What writing the query in again costs (lab_fresh before lab_tx, less lab_tx alone), taken off
        // both sides call by call: the reflector is then timed as if the frames came fresh for free.
        let adjusted: Vec<Vec<f64>> = (0..3).map(|i| (0..m[i].len()).map(|r| m[i][r] - (m[3][r] - m[4][r])).collect()).collect();
        let live = Live {
            reflector_ns: trimmed_mean(&adjusted[0]),
            xdp_ns: trimmed_mean(&adjusted[1]),
            floor_ns: trimmed_mean(&adjusted[2]),
            ratio: median_ratio(&adjusted[0], &adjusted[1], 1),
            floor_ratio: median_ratio(&adjusted[0], &adjusted[2], 1),
        };
        // XDP_TX (3) and TC_ACT_REDIRECT (7): both answered.
        use kfuzz::{TC_ACT_REDIRECT, XDP_TX};
        let answered = xdp_t.action == XDP_TX
            && tc_t.action == TC_ACT_REDIRECT
            && rrl.action == XDP_TX
            && day.action == XDP_TX
            && tap.action == XDP_TX;
        rows.push(Row { label, base, xdp: xdp_t, floor, tc: tc_t, answered, live, rrl, rrl_base, day, tap });
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"kind": r.label, "xdp_ns": r.xdp.ns, "reflector_ns": r.base, "ratio": r.xdp.ratio, "grow_copy_ns": r.floor.ns, "grow_copy_ratio": r.floor.ratio,
                    "tc_ns": r.tc.ns, "tc_ratio": r.tc.ratio, "tc_to_xdp": r.tc.ratio / r.xdp.ratio, "answered": r.answered,
                    "rrl": {"xdp_ns": r.rrl_base.ns, "xdp_rrl_ns": r.rrl.ns, "cost": r.rrl.ratio / r.rrl_base.ratio - 1.0},
                    "rssac002_day": {"xdp_ns": r.rrl_base.ns, "xdp_day_ns": r.day.ns, "cost": r.day.ratio / r.rrl_base.ratio - 1.0},
                    "dnstap_1000": {"xdp_ns": r.rrl_base.ns, "xdp_tap_ns": r.tap.ns, "cost": r.tap.ratio / r.rrl_base.ratio - 1.0},
                    "live": {"xdp_ns": r.live.xdp_ns, "reflector_ns": r.live.reflector_ns, "ratio": r.live.ratio, "grow_copy_ns": r.live.floor_ns, "grow_copy_ratio": r.live.floor_ratio}})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"runs_per_kind": runs, "cpu": cpu_model(), "ratio_method": format!("median of the ratios to the reflector runs each program took turns with: blocks of {BLOCK_RUNS} paired runs (one run per frame), calls of the same round (live); tc_to_xdp is the ratio of the two ratios"), "live_calls_per_kind": live_rounds, "live_frames_per_call": cost_live::FRAMES, "verifier_insns": dp.verified_insns, "tc_verifier_insns": dp.tc_verified_insns, "rows": v})
        );
        return Ok(());
    }
    println!(
        "Per-packet cost under BPF_PROG_TEST_RUN ({:.1} s, {}); verifier: XDP {} and TC {} instructions processed",
        t.elapsed().as_secs_f64(),
        cpu_model(),
        dp.verified_insns.unwrap_or(0),
        dp.tc_verified_insns.unwrap_or(0)
    );
    println!("grow+copy: lab_gen, which only grows the query to the answer's size and copies the answer in with bpf_xdp_store_bytes");
    println!(
        "+rrl: the same XDP program with rate limiting on (dry run: every verdict computed, every answer sent), its cost over the program without it (ratio of the two ratios to the reflector, timed in the same turns)"
    );
    println!(
        "+day: the same XDP program counting RSSAC002's day ([rssac002] on: sizes, rcodes, unique-source registers), its cost over the program without it, timed in the same turns"
    );
    println!("+tap: the same XDP program sampling one in 1,000 answers for dnstap (kernel_sample = 1000), timed in the same turns");
    println!(
        "ns: trimmed means. ratio: median of the ratios to the reflector runs the program took turns with (xdp, grow+copy and tc each had their own), per block of {BLOCK_RUNS} paired runs or per round of live calls; reflect ns: those of the xdp pairing; tc/xdp: the ratio of the two ratios (they were timed in different stretches, which their ns do not correct for)"
    );
    println!();
    println!("One run per frame (a syscall each, caches cold), {runs} runs:");
    println!(
        "{:<34} {:>7} {:>10} {:>7} {:>10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  answered by all",
        "kind", "xdp ns", "reflect ns", "ratio", "grow+copy", "ratio", "tc ns", "tc/xdp", "+rrl", "+day", "+tap"
    );
    for r in &rows {
        println!(
            "{:<34} {:>7.0} {:>10.0} {:>6.2}x {:>10.0} {:>6.2}x {:>7.0} {:>6.2}x {:>+6.1}% {:>+6.1}% {:>+6.1}%  {}",
            r.label,
            r.xdp.ns,
            r.base,
            r.xdp.ratio,
            r.floor.ns,
            r.floor.ratio,
            r.tc.ns,
            r.tc.ratio / r.xdp.ratio,
            100.0 * (r.rrl.ratio / r.rrl_base.ratio - 1.0),
            100.0 * (r.day.ratio / r.rrl_base.ratio - 1.0),
            100.0 * (r.tap.ratio / r.rrl_base.ratio - 1.0),
            if r.answered { "yes" } else { "NO" }
        );
    }
    println!();
    println!(
        "Live frames (batches of {}, caches warm, a fresh query each; the cost of writing the query in again taken off both), {live_rounds} calls of {} frames:",
        cost_live::BATCH,
        cost_live::FRAMES
    );
    println!("{:<34} {:>7} {:>10} {:>7} {:>10} {:>7}", "kind", "xdp ns", "reflect ns", "ratio", "grow+copy", "ratio");
    for r in &rows {
        let l = &r.live;
        println!(
            "{:<34} {:>7.0} {:>10.0} {:>6.2}x {:>10.0} {:>6.2}x",
            r.label, l.xdp_ns, l.reflector_ns, l.ratio, l.floor_ns, l.floor_ratio
        );
    }
    Ok(())
}
