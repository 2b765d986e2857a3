//! Where the programs meet an interface and the file system: attach them as a deployment plan says (and
//! detach what a killed process left), tell XDP whether it may send and TC what it answers, hand
//! no-room queries to another CPU, and find the bpffs the counters are pinned under.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use aya::maps::{Array, CpuMap, MapData};
use aya::programs::{TcAttachType, Xdp, XdpMode};
use m_root_common::{TC_MODE_ALL, TC_MODE_HINTED, XDP_TX_OFF, XDP_TX_ON, maps};

use super::{Dataplane, SPILL_PROGRAM, TC_PROGRAM};
use crate::deploy::Plan;

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
    if is_bpffs(fb) {
        return Ok(fb.to_path_buf());
    }
    // A daemon run as its own user (the package's unit) has no right to mount, and does not try.
    if crate::caps::CapSet::effective().is_some_and(|c| !c.has(crate::caps::CAP_SYS_ADMIN)) {
        bail!("/sys/fs/bpf is not a bpffs, and mounting one at {PIN_ROOT_FALLBACK} needs CAP_SYS_ADMIN");
    }
    std::fs::create_dir_all(fb).with_context(|| format!("creating {}", fb.display()))?;
    let src = std::ffi::CString::new("bpf")?;
    let dst = std::ffi::CString::new(PIN_ROOT_FALLBACK)?;
    // SAFETY: mount(2) with valid C strings and no data.
    let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), src.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        bail!("mounting bpffs at {PIN_ROOT_FALLBACK}: {}", std::io::Error::last_os_error());
    }
    Ok(fb.to_path_buf())
}

/// Frames each CPU's hand-off queue holds (the cpumap's qsize; the kernel refuses more than 16384).
const SPILL_QUEUE: u32 = 16384;

/// Where a daemon serving `iface` may have pinned map `map`: under each pin root, the system's first.
pub(super) fn pin_paths(iface: &str, map: &str) -> [PathBuf; 2] {
    [PIN_ROOT, PIN_ROOT_FALLBACK].map(|root| Path::new(root).join(iface).join(map))
}

/// What ended up attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    pub xdp: Option<XdpMode>,
    pub tc: bool,
}

impl Dataplane {
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
        Ok(Array::<&MapData, u32>::try_from(self.map(maps::XDP_TX)?)?.get(&0, 0)? == XDP_TX_ON)
    }

    /// Let the XDP program hand queries it has no room for to the next CPU (a cpumap entry per online CPU),
    /// so the skb for TC is built there rather than on the receiving CPU. Off (and harmless) on one CPU.
    /// Each entry runs the spill program, which counts what arrives, so queue drops show in the counters.
    /// Each queue holds SPILL_QUEUE frames: the kernel's largest, as bursts outrun the kernel thread
    /// that drains it (2048 lost 0.1-1.2 % of a root mix at kxdpgun's maximum on veth, 16384 0-0.9 %,
    /// with 4-10 % more answered per second). 128 KiB of pointers per CPU; a full queue also holds its
    /// frames' buffers (up to 64 MiB of 4 KiB pages per CPU) until the CPU drains it.
    fn set_spill(&mut self) -> Result<()> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let n = n.min(m_root_common::MAX_SPILL_CPUS);
        if n >= 2 {
            let spilled: &Xdp = self.named(SPILL_PROGRAM)?.try_into()?;
            let fd = spilled.fd()?.try_clone()?;
            let mut map: CpuMap<&mut MapData> = CpuMap::try_from(self.map_mut(maps::SPILL)?)?;
            for cpu in 0..n {
                map.set(cpu, SPILL_QUEUE, Some(&fd), 0).with_context(|| format!("cpumap entry for CPU {cpu}"))?;
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
                Ok(id) => {
                    self.xdp_link = Some(id);
                    xdp = Some(m)
                }
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
        self.configure(iface, plan, xdp)?;
        if plan.tc {
            let prog = self.tc_program()?;
            let id = match prog.attach(iface, TcAttachType::Ingress) {
                Ok(id) => id,
                Err(first) => {
                    // Kernels before 6.6 attach through netlink, which needs the clsact qdisc.
                    let _ = aya::programs::tc::qdisc_add_clsact(iface);
                    prog.attach(iface, TcAttachType::Ingress)
                        .with_context(|| format!("attaching the TC program to {iface} ingress failed ({first}); try --no-tc"))?
                }
            };
            self.tc_link = Some(id);
        }
        Ok(self.record_attached(iface, plan, xdp))
    }

    /// What the interface ended up with, for the log.
    pub fn log_attached(&mut self, device: &crate::deploy::Device, answers: usize) -> Result<()> {
        let Some((iface, _, on)) = self.attached.clone() else { return Ok(()) };
        let xdp_tx = self.xdp_tx()?;
        log::info!(
            "{iface} (driver {}): XDP {}{}, TC {}; {answers} answers; verifier {} (XDP) and {} (TC) insns",
            device.driver,
            on.xdp.map_or("off", crate::deploy::xdp_mode_name),
            match (on.xdp, xdp_tx) {
                (None, _) => "",
                (Some(_), true) => " answering by XDP_TX",
                (Some(_), false) => " handing answers to TC",
            },
            match (on.tc, on.xdp, xdp_tx) {
                (false, _, _) => "off",
                (true, Some(_), true) => "for what XDP has no room for",
                (true, Some(_), false) => "answers what XDP hands it",
                (true, None, _) => "answers all",
            },
            self.verified_insns.unwrap_or(0),
            self.tc_verified_insns.unwrap_or(0)
        );
        Ok(())
    }

    /// Set what the programs do once attached, XDP attached in mode `xdp` (None: not attached): whether
    /// XDP sends, the no-room hand-off to other CPUs, and what TC answers.
    pub(super) fn configure(&mut self, iface: &str, plan: &Plan, xdp: Option<XdpMode>) -> Result<()> {
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
        }
        Ok(())
    }

    /// Remember where and how the programs are attached (for stats, txwatch and a hand-over).
    pub(super) fn record_attached(&mut self, iface: &str, plan: &Plan, xdp: Option<XdpMode>) -> Attached {
        let on = Attached { xdp, tc: plan.tc };
        let mut plan = plan.clone();
        if plan.xdp.is_some() && xdp.is_none() {
            plan.reason = format!("{}; XDP could not be attached, so TC answers all", plan.reason);
        }
        self.attached = Some((iface.to_string(), plan, on));
        on
    }
}

/// Remove what a process left on an interface: an XDP program attached through netlink (links made by
/// `run` go away with their process), our TC program attached through netlink with a clsact qdisc (a
/// kernel before 6.6; tcx attachments are links too), and the pinned maps. Returns what it says.
pub fn detach(iface: &str) -> Result<String> {
    // `ip` removes whatever XDP program is attached there.
    let status = std::process::Command::new("ip").args(["link", "set", "dev", iface, "xdp", "off"]).status().context("running ip")?;
    let tc = match aya::programs::tc::qdisc_detach_program(iface, TcAttachType::Ingress, TC_PROGRAM) {
        Ok(()) => "; netlink-attached TC program removed",
        Err(_) => "",
    };
    // Links a hand-over that never finished left pinned (removing the pin detaches them), both pinned
    // maps (the counters and the trust-anchor signals), then their directory if empty.
    for root in [PIN_ROOT, PIN_ROOT_FALLBACK] {
        let dir = Path::new(root).join(iface);
        for path in super::handover::handover_pins(&dir) {
            let _ = std::fs::remove_file(&path);
        }
    }
    for map in [maps::PERCPU, maps::TA_SIGNALS] {
        for path in pin_paths(iface, map) {
            let _ = std::fs::remove_file(&path);
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    if !status.success() {
        bail!("ip link set dev {iface} xdp off failed{tc}");
    }
    Ok(format!("XDP removed from {iface}{tc}"))
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

/// The interface's driver, for messages.
pub fn driver_name(iface: &str) -> Option<String> {
    Some(crate::deploy::Device::of(iface).driver)
}
