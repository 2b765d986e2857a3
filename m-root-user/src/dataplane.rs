//! The XDP program's side of userspace: load it, fill its table a generation at a time, attach it,
//! and read its counters.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::deploy::Plan;
use anyhow::{Context, Result, anyhow, bail};
use aya::Ebpf;
use aya::maps::{Array, Map, MapData, PerCpuArray, PerCpuHashMap};
use aya::programs::{SchedClassifier, TcAttachType, Xdp, XdpMode};
use m_root_common::{
    APEX_QTYPES, AddrKey, Answer, Counter, GENERATIONS, GenInfo, Hook, MAX_APEX, MAX_SERVICE_ADDRS, MAX_TLDS, PerCpu, SORT_DIR_LEN,
    ServiceAddrs, SortDir, SortKey, TC_MODE_ALL, TC_MODE_HINTED, TLD_SLOTS, TldEntry, XDP_TX_OFF, XDP_TX_ON, apex_answer_index,
    apex_qtype_index, fixed_answer_index, maps, nsec_answer_index, sort_dir_fill, sort_key, tld_answer_index, tld_bucket_index,
    tld_sorted_index,
};
use zonegen::Table;

/// The eBPF object built by build.rs (aya-build) from m-root-ebpf.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/m-root"));
/// The XDP program's name in the object.
pub const XDP_PROGRAM: &str = "m_root";
/// The TC companion's name in the object.
pub const TC_PROGRAM: &str = "m_root_tc";
/// The program run on the CPU a spilled query is handed to (it counts arrivals).
pub const SPILL_PROGRAM: &str = "m_root_spilled";
/// Where counters are pinned, per interface, so `m-root-xdp stats` can read them even while the daemon
/// is stopped: under the system's bpffs when it is mounted; otherwise (e.g. inside `ip netns exec`,
/// which mounts a fresh /sys) under a bpffs of our own in /run.
pub const PIN_ROOT: &str = "/sys/fs/bpf/m-root-xdp";
pub const PIN_ROOT_FALLBACK: &str = "/run/m-root-xdp/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

fn is_bpffs(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: statfs on a valid C string into a zeroed struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

/// The pin directory to use, mounting the fallback bpffs when needed.
pub fn pin_root() -> Result<PathBuf> {
    if is_bpffs(Path::new("/sys/fs/bpf")) {
        return Ok(PathBuf::from(PIN_ROOT));
    }
    let fb = Path::new(PIN_ROOT_FALLBACK);
    std::fs::create_dir_all(fb).with_context(|| format!("creating {}", fb.display()))?;
    if !is_bpffs(fb) {
        let src = std::ffi::CString::new("bpf")?;
        let dst = std::ffi::CString::new(PIN_ROOT_FALLBACK)?;
        // SAFETY: mount(2) with valid C strings and no data.
        let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), src.as_ptr(), 0, std::ptr::null()) };
        if r != 0 {
            bail!("mounting bpffs at {PIN_ROOT_FALLBACK}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(fb.to_path_buf())
}

pub use crate::deploy::Mode;

/// What ended up attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    pub xdp: Option<XdpMode>,
    pub tc: bool,
}

/// The loaded program and its maps.
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
    generation: Option<u32>,
    pin_dir: Option<PathBuf>,
    pub verified_insns: Option<u32>,
    pub tc_verified_insns: Option<u32>,
}

impl Dataplane {
    /// Load the object and both programs into the kernel (not attached yet).
    pub fn load() -> Result<Dataplane> {
        raise_memlock();
        let ebpf = Ebpf::load(EBPF_OBJECT).context("loading the eBPF object (needs root or CAP_BPF)")?;
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
        };
        let xdp = dp.program()?;
        xdp.load().context("the kernel verifier refused the XDP program")?;
        dp.verified_insns = xdp.info().ok().and_then(|i| i.verified_instruction_count());
        let tc = dp.tc_program()?;
        tc.load().context("the kernel verifier refused the TC program")?;
        dp.tc_verified_insns = tc.info().ok().and_then(|i| i.verified_instruction_count());
        let spilled: &mut Xdp =
            dp.ebpf.program_mut(SPILL_PROGRAM).ok_or_else(|| anyhow!("program {SPILL_PROGRAM} missing from the object"))?.try_into()?;
        spilled.load().context("the kernel verifier refused the cpumap program")?;
        Ok(dp)
    }

    pub fn program(&mut self) -> Result<&mut Xdp> {
        let p = self.ebpf.program_mut(XDP_PROGRAM).ok_or_else(|| anyhow!("program {XDP_PROGRAM} missing from the object"))?;
        p.try_into().context("program type")
    }

    /// The loaded XDP program, for running it (BPF_PROG_TEST_RUN) without changing it.
    pub fn program_ref(&self) -> Result<&Xdp> {
        let p = self.ebpf.program(XDP_PROGRAM).ok_or_else(|| anyhow!("program {XDP_PROGRAM} missing from the object"))?;
        p.try_into().context("program type")
    }

    pub fn tc_program_ref(&self) -> Result<&SchedClassifier> {
        let p = self.ebpf.program(TC_PROGRAM).ok_or_else(|| anyhow!("program {TC_PROGRAM} missing from the object"))?;
        p.try_into().context("program type")
    }

    pub fn tc_program(&mut self) -> Result<&mut SchedClassifier> {
        let p = self.ebpf.program_mut(TC_PROGRAM).ok_or_else(|| anyhow!("program {TC_PROGRAM} missing from the object"))?;
        p.try_into().context("program type")
    }

    /// What the TC program answers: only what XDP left a hint on, or everything it covers.
    pub fn set_tc_mode(&mut self, all: bool) -> Result<()> {
        let mut m: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::TC_MODE)?)?;
        m.set(0, if all { TC_MODE_ALL } else { TC_MODE_HINTED }, 0).context("setting the TC mode")?;
        Ok(())
    }

    /// May the XDP program answer by XDP_TX (else it hands every covered query to TC)?
    pub fn set_xdp_tx(&mut self, on: bool) -> Result<()> {
        let mut m: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::XDP_TX)?)?;
        m.set(0, if on { XDP_TX_ON } else { XDP_TX_OFF }, 0).context("setting XDP_TX")?;
        Ok(())
    }

    /// From now on XDP sends nothing: TC answers every covered query (XDP still hands them over, with
    /// the hint, to the next CPU). For `auto` when the device's transmit errors move.
    pub fn hand_all_to_tc(&mut self) -> Result<()> {
        // TC first: no moment in which XDP hands over what TC would leave for lack of a hint.
        self.set_tc_mode(true)?;
        self.set_xdp_tx(false)
    }

    /// Does the XDP program answer by XDP_TX now?
    pub fn xdp_tx(&self) -> Result<bool> {
        let m = self.ebpf.map(maps::XDP_TX).ok_or_else(|| anyhow!("map {} missing from the object", maps::XDP_TX))?;
        Ok(Array::<&MapData, u32>::try_from(m)?.get(&0, 0)? == XDP_TX_ON)
    }

    /// Let the XDP program hand queries it has no room for to the next CPU (a cpumap entry per online CPU),
    /// so the skb for TC is built there rather than on the receiving CPU. Off (and harmless) on one CPU.
    /// Each entry runs the spill program, which counts what arrives, so queue drops show in the counters.
    fn set_spill(&mut self) -> Result<()> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let n = n.min(m_root_common::MAX_SPILL_CPUS);
        if n >= 2 {
            let spilled: &Xdp = self.ebpf.program(SPILL_PROGRAM).ok_or_else(|| anyhow!("program {SPILL_PROGRAM} missing"))?.try_into()?;
            let fd = spilled.fd()?.try_clone()?;
            let mut map: aya::maps::CpuMap<&mut MapData> = aya::maps::CpuMap::try_from(self.map_mut(maps::SPILL)?)?;
            for cpu in 0..n {
                map.set(cpu, 2048, Some(&fd), 0).with_context(|| format!("cpumap entry for CPU {cpu}"))?;
            }
        }
        let mut cpus: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::SPILL_CPUS)?)?;
        cpus.set(0, if n >= 2 { n } else { 0 }, 0).context("setting the spill CPUs")?;
        Ok(())
    }

    /// Attach to an interface as `plan` says (deploy::plan). When XDP cannot be attached but TC can, TC
    /// answers everything (logged): the kernel fast path stays up.
    pub fn attach(&mut self, iface: &str, plan: &Plan) -> Result<Attached> {
        let driver = driver_name(iface).unwrap_or_else(|| "unknown driver".into());
        let mut xdp = None;
        if let Some(m) = plan.xdp {
            match self.program()?.attach(iface, m) {
                Ok(_) => xdp = Some(m),
                // The driver cannot run XDP this way: the kernel path stays up through TC. Anything else
                // (another program already attached: EBUSY/EEXIST) stays an error, so an old program is
                // never left answering in front from an old table.
                Err(e) if plan.tc && errno_in(&e).is_some_and(|n| n == libc::EOPNOTSUPP || n == libc::EINVAL) => {
                    log::warn!("attaching XDP to {iface} in {m:?} mode failed (driver: {driver}): {e}; the TC program answers instead")
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("attaching XDP to {iface} in {m:?} mode failed (driver: {driver}); if a program is left there, `m-root-xdp detach --iface {iface}`; or try --xdp-mode skb, tc or off")))
                }
            }
        }
        let xdp_sends = xdp.is_some() && plan.xdp_tx;
        if xdp_sends {
            // What the device's transmit error counters hold before XDP sends anything: what moves
            // after is ours (txwatch).
            self.tx_errors = crate::txwatch::read(iface);
            if self.tx_errors.is_none() {
                log::warn!(
                    "{iface}: the driver has no XDP transmit error counter this program knows; answers XDP_TX fails to send are not seen (xdp_mode tc avoids XDP_TX)"
                );
            }
        }
        self.set_xdp_tx(xdp_sends)?;
        if plan.tc && xdp == Some(XdpMode::Driver) {
            // Without the hand-off, no-room queries still reach TC, on the receiving CPU.
            if let Err(e) = self.set_spill() {
                log::warn!("{iface}: no-room queries stay on the receiving CPU: {e:#}");
            }
        }
        if plan.tc {
            // Where XDP sends nothing, TC answers every query it covers, hint or not (a driver without
            // metadata room leaves none).
            self.set_tc_mode(!xdp_sends)?;
            let prog = self.tc_program()?;
            if let Err(first) = prog.attach(iface, TcAttachType::Ingress) {
                // Kernels before 6.6 attach through netlink, which needs the clsact qdisc.
                let _ = aya::programs::tc::qdisc_add_clsact(iface);
                prog.attach(iface, TcAttachType::Ingress)
                    .with_context(|| format!("attaching the TC program to {iface} ingress failed ({first}); try --no-tc"))?;
            }
        }
        let on = Attached { xdp, tc: plan.tc };
        let mut plan = plan.clone();
        if plan.xdp.is_some() && xdp.is_none() {
            plan.reason = format!("{}; XDP could not be attached, so TC answers all", plan.reason);
        }
        self.attached = Some((iface.to_string(), plan, on));
        Ok(on)
    }

    /// Tell the program which destination addresses are ours.
    pub fn set_service_addrs(&mut self, addrs: &[IpAddr]) -> Result<()> {
        if addrs.len() > MAX_SERVICE_ADDRS {
            bail!("{} service addresses; the XDP program takes at most {MAX_SERVICE_ADDRS}", addrs.len());
        }
        let mut v = ServiceAddrs { count: addrs.len() as u32, reserved: 0, addrs: [[0; 2]; MAX_SERVICE_ADDRS] };
        for (slot, a) in v.addrs.iter_mut().zip(addrs) {
            let k = addr_key(a).addr;
            *slot = [u64::from_ne_bytes(k[..8].try_into()?), u64::from_ne_bytes(k[8..].try_into()?)];
        }
        let mut map: Array<&mut MapData, ServiceAddrs> = Array::try_from(self.map_mut(maps::SERVICE_ADDRS)?)?;
        map.set(0, v, 0).context("setting the service addresses")?;
        Ok(())
    }

    fn map_mut(&mut self, name: &str) -> Result<&mut Map> {
        self.ebpf.map_mut(name).ok_or_else(|| anyhow!("map {name} missing from the object"))
    }

    /// Write `table` and switch to it at once (start-up). A reload uses prepare / pause / activate so
    /// that userspace can swap its zone in between.
    pub fn install(&mut self, table: &Table) -> Result<u32> {
        let (generation, info) = self.prepare(table)?;
        self.activate(generation, info)?;
        Ok(generation)
    }

    /// Write `table` into the idle generation (not yet used by the program). Returns the generation and
    /// what `activate` publishes for it.
    pub fn prepare(&mut self, table: &Table) -> Result<(u32, GenInfo)> {
        if table.tlds.len() > MAX_TLDS as usize {
            bail!("zone has {} TLDs; the table holds at most {MAX_TLDS}", table.tlds.len());
        }
        if table.apex.len() > MAX_APEX as usize {
            bail!("{} apex answers; the table holds at most {MAX_APEX}", table.apex.len());
        }
        let index = table.tld_index.as_ref().map_err(|e| anyhow!("{e}"))?;
        let generation = match self.generation {
            Some(g) => (g + 1) % GENERATIONS,
            None => 0,
        };
        {
            let mut info: Array<&mut MapData, GenInfo> = Array::try_from(self.map_mut(maps::GENINFO)?)?;
            info.set(generation, GenInfo { serial: table.serial, ready: 0, tld_seed: 0, tld_count: 0, signed_nx: 0 }, 0)?;
        }
        {
            let mut answers: Array<&mut MapData, Answer> = Array::try_from(self.map_mut(maps::ANSWERS)?)?;
            for (ordinal, (_, slots)) in table.tlds.iter().enumerate() {
                for (slot, a) in slots.iter().enumerate().take(TLD_SLOTS as usize) {
                    answers.set(tld_answer_index(generation, ordinal as u32, slot as u32), **a, 0)?;
                }
            }
            for (i, (_, _, a)) in table.apex.iter().enumerate() {
                answers.set(apex_answer_index(generation, i as u32), **a, 0)?;
            }
            for (slot, a) in &table.fixed {
                answers.set(fixed_answer_index(generation, *slot), **a, 0)?;
            }
        }
        {
            // Every slot of the generation is written, so nothing of an older use of it survives.
            let mut idx: Array<&mut MapData, TldEntry> = Array::try_from(self.map_mut(maps::TLDIDX)?)?;
            for (b, e) in index.slots.iter().enumerate() {
                idx.set(tld_bucket_index(generation, b as u32), *e, 0)?;
            }
        }
        {
            let mut apex: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::APEXIDX)?)?;
            let mut held = vec![0u32; (APEX_QTYPES * 2) as usize];
            for (i, (qtype, dnssec, _)) in table.apex.iter().enumerate() {
                if (*qtype as u32) < APEX_QTYPES {
                    held[(apex_qtype_index(0, *qtype, *dnssec)) as usize] = i as u32 + 1;
                }
            }
            for (j, v) in held.iter().enumerate() {
                apex.set(apex_qtype_index(generation, 0, false) + j as u32, *v, 0)?;
            }
        }
        // Signed NXDOMAIN: the TLDs in canonical order for the program's binary search, and one answer per
        // NSEC interval.
        let signed_nx = !table.nsec.is_empty() && table.nsec.len() == table.tlds.len() + 1;
        if signed_nx {
            {
                let keys: Vec<SortKey> = table.tlds.iter().map(|(label, _)| sort_key(&label[1..1 + label[0] as usize])).collect();
                let mut sorted: Array<&mut MapData, SortKey> = Array::try_from(self.map_mut(maps::TLDSORT)?)?;
                for (k, key) in keys.iter().enumerate() {
                    sorted.set(tld_sorted_index(generation, k as u32), *key, 0)?;
                }
                // On the heap: the directory is 128 KiB.
                let mut dir = Box::new(SortDir { first: [0; SORT_DIR_LEN] });
                sort_dir_fill(&mut dir, &keys);
                let mut dirs: Array<&mut MapData, SortDir> = Array::try_from(self.map_mut(maps::TLDDIR)?)?;
                dirs.set(generation, &*dir, 0).context("writing the sorted TLD directory")?;
            }
            let mut answers: Array<&mut MapData, Answer> = Array::try_from(self.map_mut(maps::ANSWERS)?)?;
            for (i, a) in table.nsec.iter().enumerate() {
                answers.set(nsec_answer_index(generation, i as u32), **a, 0)?;
            }
        }
        Ok((
            generation,
            GenInfo {
                serial: table.serial,
                ready: 1,
                tld_seed: index.seed,
                tld_count: table.tlds.len() as u32,
                signed_nx: signed_nx as u32,
            },
        ))
    }

    /// Stop answering from the running generation: until `activate`, the program passes every query up,
    /// so userspace can swap its zone without XDP and userspace ever answering from different zones.
    pub fn pause(&mut self) -> Result<()> {
        if let Some(g) = self.generation {
            self.clear_generation(g)?;
        }
        Ok(())
    }

    /// Make a prepared generation the one the program answers from (one 4-byte store of ACTIVE).
    pub fn activate(&mut self, generation: u32, gen_info: GenInfo) -> Result<()> {
        {
            let mut info: Array<&mut MapData, GenInfo> = Array::try_from(self.map_mut(maps::GENINFO)?)?;
            info.set(generation, gen_info, 0)?;
            let mut active: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::ACTIVE)?)?;
            active.set(0, generation, 0)?;
        }
        if let Some(old) = self.generation.filter(|&g| g != generation) {
            self.clear_generation(old)?;
        }
        self.generation = Some(generation);
        Ok(())
    }

    /// Retire a generation: programs stop using it (its slots are rewritten in full on its next use).
    fn clear_generation(&mut self, generation: u32) -> Result<()> {
        let mut info: Array<&mut MapData, GenInfo> = Array::try_from(self.map_mut(maps::GENINFO)?)?;
        info.set(generation, GenInfo { serial: 0, ready: 0, tld_seed: 0, tld_count: 0, signed_nx: 0 }, 0)?;
        Ok(())
    }

    /// Pin the counters under PIN_ROOT/<iface>/ so other processes can read them.
    pub fn pin_counters(&mut self, iface: &str) -> Result<()> {
        let dir = pin_root()?.join(iface);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {} (is bpffs mounted at /sys/fs/bpf?)", dir.display()))?;
        let path = dir.join(maps::PERCPU);
        let _ = std::fs::remove_file(&path);
        self.map_mut(maps::PERCPU)?.pin(&path).with_context(|| format!("pinning counters at {}", path.display()))?;
        let path = dir.join(maps::TA_SIGNALS);
        let _ = std::fs::remove_file(&path);
        self.map_mut(maps::TA_SIGNALS)?.pin(&path).with_context(|| format!("pinning signals at {}", path.display()))?;
        self.pin_dir = Some(dir);
        Ok(())
    }

    /// Trust-anchor signals answered in XDP: (kind, key tag, count), summed over CPUs.
    pub fn signals(&self) -> Result<Vec<(u32, u16, u64)>> {
        let map = self.ebpf.map(maps::TA_SIGNALS).ok_or_else(|| anyhow!("signal map missing"))?;
        read_signals(&PerCpuHashMap::<&MapData, u32, u64>::try_from(map)?)
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> Result<Vec<(String, u64)>> {
        let map = self.ebpf.map(maps::PERCPU).ok_or_else(|| anyhow!("per-CPU map missing"))?;
        let arr: PerCpuArray<&MapData, PerCpu> = PerCpuArray::try_from(map)?;
        read_counters(&arr)
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        if let Some(dir) = self.pin_dir.take() {
            let _ = std::fs::remove_file(dir.join(maps::PERCPU));
            let _ = std::fs::remove_file(dir.join(maps::TA_SIGNALS));
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// A counter's name in `stats`: `<hook>.<counter>`.
pub fn counter_key(hook: Hook, c: Counter) -> String {
    format!("{}.{}", hook.name(), c.name())
}

/// Every counter of both hooks, summed over CPUs, named as `stats` prints them. Counters a hook never
/// moves (TC's own ones, for XDP) are left out.
fn read_counters<T: std::borrow::Borrow<MapData>>(arr: &PerCpuArray<T, PerCpu>) -> Result<Vec<(String, u64)>> {
    let per_cpu = arr.get(&0, 0)?;
    let mut out = Vec::new();
    for hook in Hook::ALL {
        for c in Counter::ALL {
            if c.only().is_some_and(|h| h != hook) {
                continue;
            }
            out.push((counter_key(hook, c), per_cpu.iter().map(|v| v.counters[hook as usize][c as usize]).sum()));
        }
    }
    Ok(out)
}

fn read_signals<T: std::borrow::Borrow<MapData>>(m: &PerCpuHashMap<T, u32, u64>) -> Result<Vec<(u32, u16, u64)>> {
    let mut out = Vec::new();
    for item in m.iter() {
        let (k, v) = item?;
        out.push((k >> 16, k as u16, v.iter().sum()));
    }
    out.sort();
    Ok(out)
}

/// Answers sent in the kernel (XDP and TC), from `m-root-xdp stats --json` output.
pub fn answered_in_stats(stats: &serde_json::Value) -> u64 {
    Hook::ALL.iter().map(|&h| answered_by(stats, h)).sum()
}

/// Answers one hook sent, from `m-root-xdp stats --json` output.
pub fn answered_by(stats: &serde_json::Value, hook: Hook) -> u64 {
    Counter::ANSWERS.iter().map(|&c| stats[counter_key(hook, c)].as_u64().unwrap_or(0)).sum()
}

/// Read the pinned trust-anchor signal counts of the daemon serving `iface`.
pub fn pinned_signals(iface: &str) -> Result<Vec<(u32, u16, u64)>> {
    let candidates =
        [Path::new(PIN_ROOT).join(iface).join(maps::TA_SIGNALS), Path::new(PIN_ROOT_FALLBACK).join(iface).join(maps::TA_SIGNALS)];
    let path = candidates.iter().find(|p| p.exists()).unwrap_or(&candidates[0]);
    let md = MapData::from_pin(path).with_context(|| format!("no signal map pinned at {}", path.display()))?;
    read_signals(&PerCpuHashMap::<MapData, u32, u64>::try_from(Map::PerCpuHashMap(md))?)
}

/// Read the pinned counters of the daemon serving `iface`.
pub fn pinned_counters(iface: &str) -> Result<Vec<(String, u64)>> {
    let candidates = [Path::new(PIN_ROOT).join(iface).join(maps::PERCPU), Path::new(PIN_ROOT_FALLBACK).join(iface).join(maps::PERCPU)];
    let path = candidates.iter().find(|p| p.exists()).unwrap_or(&candidates[0]);
    let md = MapData::from_pin(path)
        .with_context(|| format!("no XDP counters pinned at {} (is m-root-xdp running with XDP on {iface}?)", path.display()))?;
    let map = Map::PerCpuArray(md);
    let arr: PerCpuArray<MapData, PerCpu> = PerCpuArray::try_from(map)?;
    read_counters(&arr)
}

/// The OS error number somewhere in an error's source chain.
fn errno_in(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(n) = x.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error) {
            return Some(n);
        }
        cur = x.source();
    }
    None
}

/// The service-address map key for an address.
pub fn addr_key(a: &IpAddr) -> AddrKey {
    let mut k = AddrKey::zeroed();
    match a {
        IpAddr::V4(v4) => k.addr = v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => k.addr = v6.octets(),
    }
    k
}

/// The interface's driver, for messages.
pub fn driver_name(iface: &str) -> Option<String> {
    Some(crate::deploy::Device::of(iface).driver)
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; raise it so large tables load there too.
fn raise_memlock() {
    let r = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain syscall with a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) };
}

/// Does the XDP program answer this DNS query itself (with the full table loaded)? Its rules, restated for
/// tests and benchmarks: QUERY, class IN, no meta type, at most a bare EDNS(0) OPT, an apex qtype below
/// APEX_QTYPES, and not a signed NXDOMAIN (the table does not hold those yet).
pub fn xdp_covers(zone: &zonegen::Zone, msg: &[u8]) -> bool {
    use zonegen::{name, rr, wire};
    let Ok(q) = wire::parse_query(msg) else { return false };
    if q.opcode() != 0 || q.qclass != rr::CLASS_IN || rr::is_meta(q.qtype) {
        return false;
    }
    if let Some(e) = &q.edns {
        if e.version != 0 || e.nsid || e.other_options > 0 {
            return false;
        }
    }
    if name::label_count(q.qname) == 0 {
        return (q.qtype as u32) < APEX_QTYPES;
    }
    if zone.is_tld(&name::lower(name::suffix(q.qname, 1))) {
        return true;
    }
    // Signed NXDOMAIN: the program orders labels by a zero-padded key, so a label with a zero octet passes.
    let tld = name::suffix(q.qname, 1);
    !q.dnssec_ok() || (zone.signed && !tld[1..tld.len() - 1].contains(&0))
}
