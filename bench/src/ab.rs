//! `bench xdp-ab --against OBJECT`: this build's XDP program against another build of the eBPF object
//! (an ablation: a build that skips one part of the work, or an older commit with the same map layout),
//! on the same table and frames, taking turns run by run and, in live frames, call by call. The two are
//! compared directly (median of their ratios over short stretches, as `xdp-cost` compares a program to
//! the reflector), which the VM's speed switches move far less than two separate runs: what a part of
//! the work costs is the difference of one run, not of two.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use aya::Ebpf;
use aya::maps::{Array, MapData};
use aya::programs::{TestRun, TestRunOptions, Xdp};
use m_root_common::{LAB_TEMPLATE_MAX, LabTemplate};
use m_root_user::lab::LAB_OBJECT;
use zonegen::{LoadOptions, Zone, compile};

use crate::{BLOCK_RUNS, KINDS, cost_live, kind_frame, loaded_dataplane, measure_interleaved, median_ratio, trimmed_mean, xdp_answered};

pub struct Options<'a> {
    pub zone: &'a Path,
    pub against: &'a Path,
    pub runs: u32,
    pub only: Option<&'a str>,
}

pub fn run(o: &Options<'_>) -> Result<()> {
    let zone = Zone::load(o.zone, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let table = compile(&zone);
    let other_obj = std::fs::read(o.against).with_context(|| format!("reading {}", o.against.display()))?;
    // aya parses the object in place; a copy in an 8-aligned buffer, as include_bytes_aligned gives.
    let mut aligned = vec![0u64; other_obj.len().div_ceil(8)];
    let bytes = unsafe { std::slice::from_raw_parts_mut(aligned.as_mut_ptr() as *mut u8, other_obj.len()) };
    bytes.copy_from_slice(&other_obj);
    let this = loaded_dataplane(&table, None)?;
    let other = loaded_dataplane(&table, Some(bytes)).with_context(|| format!("loading {}", o.against.display()))?;
    let mut lab = Ebpf::load(LAB_OBJECT)?;
    for p in ["lab_reflect", "lab_fresh", "lab_tx", "lab_gen"] {
        let x: &mut Xdp = lab.program_mut(p).ok_or_else(|| anyhow!("{p} missing"))?.try_into()?;
        x.load()?;
    }
    let mut next = aya::maps::ProgramArray::try_from(lab.take_map("LAB_NEXT").ok_or_else(|| anyhow!("LAB_NEXT missing"))?)?;
    let scratch = cost_live::ScratchNs::new()?;
    println!("bench xdp-ab: this build's XDP program (A) against {} (B), same table and frames", o.against.display());
    println!(
        "verifier: A {} and B {} instructions processed; CPU: {}",
        this.verified_insns.unwrap_or(0),
        other.verified_insns.unwrap_or(0),
        crate::cpu_model()
    );
    println!(
        "B/A: median of B's ratio to A over blocks of {BLOCK_RUNS} paired runs (one run per frame) or over the calls of a round (live); same: the two sent the same octets; refl: the bare MAC-swap reflector, floor: lab_gen growing the query to A's answer and copying it in, in the same turns; X/refl and X/floor: medians of per-call ratios (live)"
    );
    println!();
    println!(
        "{:<34} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  same live answered: A, B",
        "kind", "A ns", "B ns", "refl ns", "B/A", "live A", "live B", "refl", "floor", "B/A", "A/refl", "B/refl", "A/floor", "B/floor"
    );
    let live_rounds = (o.runs / 400).max(10);
    for (label, qn, qt, edns, v6) in KINDS {
        if o.only.is_some_and(|w| !label.contains(w)) {
            continue;
        }
        let input = kind_frame(qn, qt, edns, v6)?;
        let (a, b) = (this.program_ref()?, other.program_ref()?);
        let out = |p: &Xdp| -> Result<(u32, Vec<u8>)> {
            let mut out = vec![0u8; 4096];
            let r = p.test_run(TestRunOptions { data_in: Some(&input), data_out: Some(&mut out), repeat: 1, ..Default::default() })?;
            out.truncate(r.data_size_out as usize);
            Ok((r.return_value, out))
        };
        let (answer_a, answer_b) = (out(a)?, out(b)?);
        // The floor is grown to A's answer: if A did not answer (XDP_TX), there is none to time against.
        if answer_a.0 != crate::kfuzz::XDP_TX {
            return Err(anyhow!("{label}: this build's program returned {} (not XDP_TX) for the query", answer_a.0));
        }
        let same = answer_a == answer_b;
        // Slot 0: A's answer, which lab_gen (the grow+copy floor) grows the query to and copies in;
        // slot 1: the query lab_fresh writes in again before each live frame.
        let mut templates =
            Array::<&mut MapData, LabTemplate>::try_from(lab.map_mut("LAB_TEMPLATE").ok_or_else(|| anyhow!("LAB_TEMPLATE missing"))?)?;
        for (slot, f) in [(0, &answer_a.1), (1, &input)] {
            if f.len() > LAB_TEMPLATE_MAX {
                return Err(anyhow!("{label}: a frame of {} octets exceeds the lab template", f.len()));
            }
            let mut tmpl = LabTemplate { len: f.len() as u32, reserved: 0, data: [0; LAB_TEMPLATE_MAX] };
            tmpl.data[..f.len()].copy_from_slice(f);
            templates.set(slot, tmpl, 0)?;
        }
        let refl: &Xdp = lab.program("lab_reflect").ok_or_else(|| anyhow!("lab_reflect missing"))?.try_into()?;
        let m = measure_interleaved(
            &[Box::new(|x| a.test_run(x)), Box::new(|x| b.test_run(x)), Box::new(|x| refl.test_run(x))],
            &input,
            o.runs,
        )?;
        let fresh: &Xdp = lab.program("lab_fresh").ok_or_else(|| anyhow!("lab_fresh missing"))?.try_into()?;
        let tx: &Xdp = lab.program("lab_tx").ok_or_else(|| anyhow!("lab_tx missing"))?.try_into()?;
        let grow: &Xdp = lab.program("lab_gen").ok_or_else(|| anyhow!("lab_gen missing"))?.try_into()?;
        use cost_live::Target::{Bare, Fresh};
        let before = (xdp_answered(&this)?, xdp_answered(&other)?);
        let (l, frames) = cost_live::measure(
            &scratch,
            fresh,
            &mut next,
            &[Fresh(a), Fresh(b), Fresh(refl), Fresh(grow), Fresh(tx), Bare(tx)],
            &input,
            live_rounds,
        )?;
        // What each answered of the live frames it was given (live mode reports no actions; an ablated
        // build may send the query back unanswered, which is what it is for).
        let got = (xdp_answered(&this)? - before.0, xdp_answered(&other)? - before.1);
        let answered = |n: u64| if n == frames { "all".to_string() } else { format!("{:.0} %", 100.0 * n as f64 / frames as f64) };
        // The query's rewrite (lab_fresh before lab_tx, less lab_tx alone) taken off both, call by call.
        let adj: Vec<Vec<f64>> = (0..4).map(|i| (0..l[i].len()).map(|r| l[i][r] - (l[4][r] - l[5][r])).collect()).collect();
        println!(
            "{:<34} {:>7.0} {:>7.0} {:>7.0} {:>6.3}x {:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>6.3}x {:>6.2}x {:>6.2}x {:>6.2}x {:>6.2}x  {:<4} {:>5} {:>5}",
            label,
            m[0].ns,
            m[1].ns,
            m[2].ns,
            m[1].ratio,
            trimmed_mean(&adj[0]),
            trimmed_mean(&adj[1]),
            trimmed_mean(&adj[2]),
            trimmed_mean(&adj[3]),
            median_ratio(&adj[0], &adj[1], 1),
            median_ratio(&adj[2], &adj[0], 1),
            median_ratio(&adj[2], &adj[1], 1),
            median_ratio(&adj[3], &adj[0], 1),
            median_ratio(&adj[3], &adj[1], 1),
            if same { "yes" } else { "no" },
            answered(got.0),
            answered(got.1)
        );
    }
    Ok(())
}
