//! The kernel programs' side of userspace: load the XDP program and its TC companion, fill their table a
//! generation at a time, attach them, and read their counters. Split as Knot splits libknot/xdp
//! (bpf-user.c from xdp.c): this module loads and holds the object; `attach` is where it meets an
//! interface and bpffs, `table` what it answers from, `counters` what it counted.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use aya::Ebpf;
use aya::maps::Map;
use aya::programs::{Program, SchedClassifier, Xdp};

use crate::deploy::Plan;

mod attach;
mod counters;
mod daily;
mod handover;
mod limits;
mod sample;
mod signal_sources;
mod table;

pub use crate::deploy::Mode;
pub use attach::{Attached, PIN_ROOT, PIN_ROOT_FALLBACK, detach, driver_name, pin_root};
pub use counters::{CounterMaps, answered_by, answered_in_stats, counter_key, pinned_counters, pinned_signals};
pub use handover::Offer;
pub use limits::describe_report;
pub use table::{addr_key, xdp_covers, xdp_covers_with};

/// The eBPF object built by build.rs (aya-build) from m-root-ebpf.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/m-root"));
/// The XDP program's name in the object.
pub const XDP_PROGRAM: &str = "m_root";
/// The TC companion's name in the object.
pub const TC_PROGRAM: &str = "m_root_tc";
/// The program run on the CPU a spilled query is handed to (it counts arrivals).
pub const SPILL_PROGRAM: &str = "m_root_spilled";

/// The loaded programs and their maps, for one interface.
pub struct Dataplane {
    pub ebpf: Ebpf,
    /// The interface it is attached to and how (set by `attach`).
    pub attached: Option<(String, Plan, Attached)>,
    /// The device's XDP transmit error counters as last read (txwatch), and how much they moved
    /// while this program answered by XDP_TX.
    pub tx_errors: Option<u64>,
    pub tx_errors_seen: u64,
    /// When an explicit mode last logged transmit errors (once a minute while they go on).
    pub tx_warned: Option<std::time::Instant>,
    /// The generation the programs answer from (None before the first `activate`).
    generation: Option<u32>,
    /// Where `pin_counters` pinned the counters (removed on drop).
    pin_dir: Option<PathBuf>,
    /// What the verifier processed, per program (None when the kernel does not say).
    pub verified_insns: Option<u32>,
    pub tc_verified_insns: Option<u32>,
    /// The rate limiter's reports (taken out of the object when first read).
    reports: Option<aya::maps::RingBuf<aya::maps::MapData>>,
    /// Seed of the rate limiter's bucket table hash.
    rrl_seed: u64,
    /// The links `attach` (or `take_over`) made, held by the programs until offered to a successor.
    xdp_link: Option<aya::programs::xdp::XdpLinkId>,
    tc_link: Option<aya::programs::tc::SchedClassifierLinkId>,
    /// The links pinned for a successor, while it takes them over.
    handed: Option<handover::Handed>,
}

impl Dataplane {
    /// Load the object and its three programs (XDP, TC, the cpumap one) into the kernel, not attached yet.
    pub fn load() -> Result<Dataplane> {
        Self::load_object(EBPF_OBJECT)
    }

    /// As [`load`](Self::load), from another build of the object (the benchmarks' A/B against an
    /// ablated build); its maps must be laid out as this build's.
    pub fn load_object(object: &[u8]) -> Result<Dataplane> {
        raise_memlock();
        let ebpf = Ebpf::load(object).context("loading the eBPF object (needs root or CAP_BPF)")?;
        let mut dp = Dataplane {
            ebpf,
            attached: None,
            tx_errors: None,
            tx_errors_seen: 0,
            tx_warned: None,
            generation: None,
            pin_dir: None,
            verified_insns: None,
            tc_verified_insns: None,
            reports: None,
            rrl_seed: random_seed(),
            xdp_link: None,
            tc_link: None,
            handed: None,
        };
        let xdp = dp.program()?;
        xdp.load().context("the kernel verifier refused the XDP program")?;
        dp.verified_insns = xdp.info().ok().and_then(|i| i.verified_instruction_count());
        let tc = dp.tc_program()?;
        tc.load().context("the kernel verifier refused the TC program")?;
        dp.tc_verified_insns = tc.info().ok().and_then(|i| i.verified_instruction_count());
        let spilled: &mut Xdp = dp.named_mut(SPILL_PROGRAM)?.try_into()?;
        spilled.load().context("the kernel verifier refused the cpumap program")?;
        Ok(dp)
    }

    fn named(&self, name: &str) -> Result<&Program> {
        self.ebpf.program(name).ok_or_else(|| anyhow!("program {name} missing from the object"))
    }

    fn named_mut(&mut self, name: &str) -> Result<&mut Program> {
        self.ebpf.program_mut(name).ok_or_else(|| anyhow!("program {name} missing from the object"))
    }

    pub fn program(&mut self) -> Result<&mut Xdp> {
        self.named_mut(XDP_PROGRAM)?.try_into().context("program type")
    }

    /// The loaded XDP program, for running it (BPF_PROG_TEST_RUN) without changing it.
    pub fn program_ref(&self) -> Result<&Xdp> {
        self.named(XDP_PROGRAM)?.try_into().context("program type")
    }

    pub fn tc_program(&mut self) -> Result<&mut SchedClassifier> {
        self.named_mut(TC_PROGRAM)?.try_into().context("program type")
    }

    /// The loaded TC program, for running it (BPF_PROG_TEST_RUN) without changing it.
    pub fn tc_program_ref(&self) -> Result<&SchedClassifier> {
        self.named(TC_PROGRAM)?.try_into().context("program type")
    }

    fn map(&self, name: &str) -> Result<&Map> {
        self.ebpf.map(name).ok_or_else(|| anyhow!("map {name} missing from the object"))
    }

    fn map_mut(&mut self, name: &str) -> Result<&mut Map> {
        self.ebpf.map_mut(name).ok_or_else(|| anyhow!("map {name} missing from the object"))
    }
}

/// Eight random octets (getrandom(2)); a fixed seed if the kernel has none to give.
pub(crate) fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom into a valid 8-octet buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
    if n == 8 { u64::from_ne_bytes(b) } else { 0x6d72_7864_7270_6c31 }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; raise it so large tables load there too.
fn raise_memlock() {
    let r = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain syscall with a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) };
}
