//! Per-packet cost in live-frames mode: BPF_PROG_RUN hands the program frames in batches of 64 from a
//! page pool and sends on what it returns XDP_TX, as a driver's receive loop does. Each frame then
//! carries the work a driver does around the program (page pool, XDP_TX hand-off), which the reflector
//! pays too: the program's own cost over the reflector came out about the same either way (`bench
//! xdp-cost`, 2026-11-24, 2-vCPU KVM guest on an AMD host: a signed `com` referral ~155-185 ns over the
//! reflector one run per frame, ~150-160 ns in live frames). Live-frames pages come back holding what
//! the program made of them, so `lab_fresh` writes the query in again and tail-calls the program under
//! test; that rewrite is timed apart (lab_fresh before lab_tx, less lab_tx alone) and taken off.

use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use aya::maps::{MapData, ProgramArray};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
use m_root_user::lab::in_netns;

/// Frames per BPF_PROG_RUN call, and the kernel's batch (a NAPI budget).
pub const FRAMES: u32 = 4096;
pub const BATCH: u32 = 64;

/// A network namespace holding only its loopback. Frames are run there: an XDP_TX on the loopback
/// (which cannot send XDP frames) is freed by the kernel, and a frame passed up stays in the namespace.
pub struct ScratchNs {
    pub name: String,
}

/// Scratch namespaces are this prefix and the bench's PID.
const SCRATCH_PREFIX: &str = "mrx-cost-";

impl ScratchNs {
    pub fn new() -> Result<ScratchNs> {
        remove_stale();
        let name = format!("{SCRATCH_PREFIX}{}", std::process::id());
        ip(&["netns", "add", &name])?;
        Ok(ScratchNs { name })
    }
}

/// Remove the scratch namespaces of runs that were killed before Drop ran: those whose process is gone
/// (one whose PID was taken again is left alone).
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(SCRATCH_PREFIX).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl Drop for ScratchNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let st = Command::new("ip").args(args).status().with_context(|| format!("running ip {}", args.join(" ")))?;
    if !st.success() {
        bail!("ip {} failed: {st}", args.join(" "));
    }
    Ok(())
}

/// How a target gets its frames.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// Through lab_fresh: the query written in again, then a tail call to the program.
    Fresh(&'a Xdp),
    /// The program itself, on whatever the pages hold (for one that does not look at the frame).
    Bare(&'a Xdp),
}

/// Ns per frame of each target in each of `rounds` calls of FRAMES frames, the targets taking turns call
/// by call after a warm-up (as `measure_interleaved` has them take turns run by run), as reported by the
/// kernel. `fresh` is lab_fresh with
/// its query template set; `next` its LAB_NEXT. Returns, too, how many frames each target was given.
pub fn measure(
    ns: &ScratchNs,
    fresh: &Xdp,
    next: &mut ProgramArray<MapData>,
    targets: &[Target<'_>],
    query: &[u8],
    rounds: u32,
) -> Result<(Vec<Vec<f64>>, u64)> {
    let fds = targets
        .iter()
        .map(|t| match t {
            Target::Fresh(p) => p.fd().map(Some).map_err(|e| anyhow!("program fd: {e}")),
            Target::Bare(_) => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    let warmup = (rounds / 10).max(3);
    let per_call = in_netns(&ns.name, || -> Result<Vec<Vec<f64>>> {
        let mut d: Vec<Vec<f64>> = targets.iter().map(|_| Vec::new()).collect();
        for k in 0..warmup + rounds {
            for (i, t) in targets.iter().enumerate() {
                let prog = match (t, fds[i]) {
                    (Target::Fresh(_), Some(fd)) => {
                        next.set(0, fd, 0).context("setting LAB_NEXT")?;
                        fresh
                    }
                    (Target::Bare(p), _) => *p,
                    (Target::Fresh(_), None) => unreachable!("every Fresh target has an fd"),
                };
                let opts = TestRunOptions {
                    data_in: Some(query),
                    repeat: FRAMES,
                    attrs: TestRunAttrs::new().xdp_live_frames(BATCH),
                    ..Default::default()
                };
                let r = prog.test_run(opts).context("BPF_PROG_RUN live frames")?;
                if k >= warmup {
                    d[i].push(r.duration.as_nanos() as f64);
                }
            }
        }
        Ok(d)
    })??;
    Ok((per_call, (warmup + rounds) as u64 * FRAMES as u64))
}
