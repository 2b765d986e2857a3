//! Handing the kernel programs from one process to the next without a moment unattached. The running
//! daemon pins its XDP and TC links in bpffs (`offer`); the new one, its own programs loaded and its
//! table written, opens the pins and swaps its programs into the same links (BPF_LINK_UPDATE: one
//! atomic replacement per link, the interface never without a program). Until the old process lets go
//! (`release`) it holds the links too, so a new process that dies half way leaves them attached, and
//! `resume` puts the old programs back.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use aya::programs::XdpMode;
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::SchedClassifierLink;
use aya::programs::xdp::XdpLink;
use serde::{Deserialize, Serialize};

use super::{Attached, Dataplane, attach::pin_root};
use crate::deploy::{Plan, xdp_mode_name};

/// Pin names of the handed links, in the interface's pin directory beside the counters.
const XDP_PIN: &str = "handover_xdp";
const TC_PIN: &str = "handover_tc";

/// What a running daemon offers for one interface: its attachment and where its links are pinned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Offer {
    pub iface: String,
    /// The XDP mode of its link (`xdp_mode_name`), None when XDP is not attached.
    pub xdp: Option<String>,
    pub xdp_pin: Option<PathBuf>,
    pub tc_pin: Option<PathBuf>,
}

/// Links a daemon has pinned for the next one, kept open until `release` or `resume`.
#[derive(Default)]
pub struct Handed {
    xdp: Option<(PinnedLink, PathBuf)>,
    tc: Option<(PinnedLink, PathBuf)>,
}

/// The pins a hand-over leaves for an interface (for `detach`, which removes what a failed one left).
pub(super) fn handover_pins(dir: &Path) -> [PathBuf; 2] {
    [dir.join(XDP_PIN), dir.join(TC_PIN)]
}

/// A pinned link taken out of its pin (the file removed: from now on only open descriptors hold it).
fn unpinned(path: &Path) -> Result<FdLink> {
    let pinned = PinnedLink::from_pin(path).with_context(|| format!("opening the pinned link {}", path.display()))?;
    pinned.unpin().with_context(|| format!("removing the pin {}", path.display()))
}

impl Dataplane {
    /// Pin this dataplane's links for a successor (the programs stay attached and answering). Checked
    /// before anything is taken: only bpf_links can be handed over (TC is one from kernel 6.6, tcx). A
    /// failure half way leaves what was pinned in `handed`, so `resume` puts it back.
    pub fn offer(&mut self) -> Result<Offer> {
        let Some((iface, _, on)) = self.attached.clone() else { bail!("not attached to an interface") };
        if self.handed.is_some() {
            bail!("{iface}: already offered to another process");
        }
        if on.xdp.is_some() && self.xdp_link.is_none() {
            bail!("{iface}: the XDP attachment is not one this process holds a link of; stop and start instead");
        }
        if self.tc_link.is_some() && !kernel_at_least(6, 6) {
            bail!("{iface}: TC is attached through netlink on this kernel (before 6.6), not a link; stop and start instead");
        }
        let dir = pin_root()?.join(&iface);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        self.handed = Some(Handed::default());
        let mut offer = Offer { iface: iface.clone(), xdp: None, xdp_pin: None, tc_pin: None };
        if let (Some(mode), Some(id)) = (on.xdp, self.xdp_link.take()) {
            let link = self.program()?.take_link(id).context("taking the XDP link")?;
            let fd = FdLink::try_from(link).map_err(|_| anyhow::anyhow!("{iface}: XDP is attached through netlink, not a link"))?;
            let path = dir.join(XDP_PIN);
            let _ = std::fs::remove_file(&path);
            let pinned = fd.pin(&path).with_context(|| format!("pinning {}", path.display()))?;
            if let Some(h) = self.handed.as_mut() {
                h.xdp = Some((pinned, path.clone()));
            }
            offer.xdp = Some(xdp_mode_name(mode).into());
            offer.xdp_pin = Some(path);
        }
        if let Some(id) = self.tc_link.take() {
            let link = self.tc_program()?.take_link(id).context("taking the TC link")?;
            let fd = FdLink::try_from(link).map_err(|_| anyhow::anyhow!("{iface}: TC is attached through netlink, not a link"))?;
            let path = dir.join(TC_PIN);
            let _ = std::fs::remove_file(&path);
            let pinned = fd.pin(&path).with_context(|| format!("pinning {}", path.display()))?;
            if let Some(h) = self.handed.as_mut() {
                h.tc = Some((pinned, path.clone()));
            }
            offer.tc_pin = Some(path);
        }
        Ok(offer)
    }

    /// The successor failed or never came: put this process's programs back into the links it offered
    /// (whatever the successor swapped in) and take them back from their pins.
    pub fn resume(&mut self) -> Result<()> {
        let Some(handed) = self.handed.take() else { return Ok(()) };
        if let Some((pinned, path)) = handed.xdp {
            let _ = std::fs::remove_file(&path);
            let link = XdpLink::try_from(FdLink::from(pinned)).context("the handed XDP link")?;
            self.xdp_link = Some(self.program()?.attach_to_link(link).context("putting the XDP program back")?);
        }
        if let Some((pinned, path)) = handed.tc {
            let _ = std::fs::remove_file(&path);
            let link = SchedClassifierLink::try_from(FdLink::from(pinned)).context("the handed TC link")?;
            self.tc_link = Some(self.tc_program()?.attach_to_link(link).context("putting the TC program back")?);
        }
        Ok(())
    }

    /// The successor has the links: close this process's descriptors of them (they stay attached,
    /// held by the successor's), so dropping this dataplane detaches nothing.
    pub fn release(&mut self) {
        if let Some(h) = self.handed.take() {
            for (_, path) in h.xdp.iter().chain(h.tc.iter()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Take over `offer`'s links as `plan` says: the programs configured first (what XDP sends, what TC
    /// answers), then TC's link swapped to this program, then XDP's. The attachment itself (XDP mode,
    /// TC or not) cannot change in a hand-over: a plan that differs is refused before anything changes.
    pub fn take_over(&mut self, plan: &Plan, offer: &Offer) -> Result<Attached> {
        let iface = offer.iface.as_str();
        let want = plan.xdp.map(xdp_mode_name);
        if want != offer.xdp.as_deref() || plan.tc != offer.tc_pin.is_some() {
            bail!(
                "{iface}: the running daemon has XDP {} and TC {}, this one would have XDP {} and TC {}; a hand-over cannot change that: stop and start instead",
                offer.xdp.as_deref().unwrap_or("off"),
                if offer.tc_pin.is_some() { "on" } else { "off" },
                want.unwrap_or("off"),
                if plan.tc { "on" } else { "off" }
            );
        }
        let xdp_mode: Option<XdpMode> = plan.xdp;
        self.configure(iface, plan, xdp_mode)?;
        if let Some(path) = &offer.tc_pin {
            let link = SchedClassifierLink::try_from(unpinned(path)?).context("the offered TC link")?;
            self.tc_link = Some(self.tc_program()?.attach_to_link(link).context("swapping in the TC program")?);
        }
        if let Some(path) = &offer.xdp_pin {
            let link = XdpLink::try_from(unpinned(path)?).context("the offered XDP link")?;
            self.xdp_link = Some(self.program()?.attach_to_link(link).context("swapping in the XDP program")?);
        }
        Ok(self.record_attached(iface, plan, xdp_mode))
    }
}

/// Is the running kernel at least `major.minor`?
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}
