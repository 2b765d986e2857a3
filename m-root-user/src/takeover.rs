//! `m-root-xdp run --take-over`: a new daemon (an upgraded binary, a changed config) takes the kernel
//! programs' links and the listening sockets from the running one, so no query is lost across it and
//! no client sees the new zone and then the old one.
//!
//! Over the running daemon's control socket, the new one: (1) asks `hand-over` once its own programs
//! are loaded and their table written; the old daemon pins its links, stops reading its sockets (their
//! queues fill) and sends them with its answer (SCM_RIGHTS, `server::handoff`); (2) serves those
//! sockets (binding only what it lacks) but reads nothing yet, and swaps its programs into the links
//! (one atomic BPF_LINK_UPDATE each); (3) starts reading, then asks `retire`: the old daemon closes its
//! descriptors of the links (they stay attached, held by the new process) and stops as on SIGTERM,
//! without detaching; (4) waits for the old control socket to go, then opens its own and pins its
//! counters. So userspace answers with the old zone only before the swap and with the new one only
//! after it, as the kernel does. If the new daemon fails before (3) it asks `resume`, and the old one
//! swaps its own programs back and reads again; if it dies instead, the old one resumes by itself as
//! soon as it sees that (or after [`OFFER_TIMEOUT`] if it hangs).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::daemon::Daemon;
use crate::dataplane::Offer;
use crate::server::handoff::{Listening, SocketInfo};

/// How long an offer stands before the old daemon takes its links back and reads its sockets again:
/// its userspace answers nothing meanwhile, and a successor swaps within a fraction of a second.
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(10);

/// The running daemon's answer to `hand-over`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handing {
    pub pid: u32,
    pub serial: u32,
    pub ifaces: Vec<Offer>,
    /// The sockets handed with the answer, in the order of their descriptors (none from a daemon that
    /// hands none: the successor binds its own beside them).
    #[serde(default)]
    pub sockets: Vec<SocketInfo>,
    /// The anycast announcement device handed too (its name; its descriptor is the last).
    #[serde(default)]
    pub tun: Option<String>,
    /// Their descriptors (received, not serialised).
    #[serde(skip)]
    pub fds: Vec<std::os::fd::OwnedFd>,
    /// The request's connection, held open until the running daemon has retired: its closing tells
    /// the running daemon the successor went.
    #[serde(skip)]
    pub conn: Option<std::os::unix::net::UnixStream>,
}

impl Handing {
    /// The sockets handed over, each with its descriptor, and the announcement device's name and
    /// descriptor.
    pub fn take_handed(&mut self) -> (Vec<Listening>, Option<(String, std::fs::File)>) {
        if self.fds.len() != self.sockets.len() + usize::from(self.tun.is_some()) {
            if !self.sockets.is_empty() || self.tun.is_some() {
                log::warn!(
                    "hand-over: {} sockets{} described, {} descriptors received: binding new ones",
                    self.sockets.len(),
                    if self.tun.is_some() { " and a TUN device" } else { "" },
                    self.fds.len()
                );
            }
            self.fds.clear();
            return (Vec::new(), None);
        }
        let tun = match &self.tun {
            Some(name) => self.fds.pop().map(|fd| (name.clone(), std::fs::File::from(fd))),
            None => None,
        };
        (self.sockets.iter().zip(self.fds.drain(..)).map(|(&info, fd)| Listening { info, fd }).collect(), tun)
    }
}

impl Daemon {
    /// The old side of `hand-over`: pin every dataplane's links for a successor, stop reading the sockets
    /// and hand them too; take everything back if the successor (process `successor`, for the log) dies
    /// (`conn`, its request's connection, which it holds open until it has retired this daemon, closes),
    /// or has neither retired this daemon nor asked to resume within [`OFFER_TIMEOUT`].
    pub fn offer(self: &Arc<Self>, successor: Option<u32>, conn: Option<std::os::unix::net::UnixStream>) -> Result<Handing, String> {
        let mut planes = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        // One successor at a time: a second one's offer must not undo the first's swap.
        if self.offered.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Err("a hand-over is already in progress".into());
        }
        let mut ifaces = Vec::new();
        for dp in planes.iter_mut() {
            match dp.offer() {
                Ok(o) => ifaces.push(o),
                Err(e) => {
                    // Only what this offer pinned goes back (resume does nothing where nothing was).
                    for dp in planes.iter_mut() {
                        if let Err(r) = dp.resume() {
                            log::error!("hand-over: taking a link back failed: {r:#}");
                        }
                    }
                    return Err(format!("{e:#}"));
                }
            }
        }
        // The sockets: from here on this daemon reads none (their queues wait for whoever serves on).
        let (mut sockets, mut fds) = (Vec::new(), Vec::new());
        if let Some(h) = self.handoff.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            // Every reading thread parked: nothing is answered from here once the successor swaps.
            if !h.gate.hold_settled(SETTLE) {
                log::warn!("hand-over: a server thread did not park within {SETTLE:?}; handing over anyway");
            }
            for l in &h.sockets {
                match l.fd.try_clone() {
                    Ok(fd) => {
                        sockets.push(l.info);
                        fds.push(fd);
                    }
                    Err(e) => {
                        h.gate.open();
                        for dp in planes.iter_mut() {
                            let _ = dp.resume();
                        }
                        return Err(format!("duplicating a socket to hand over: {e}"));
                    }
                }
            }
        }
        // The announcement device, so the successor keeps it (and what it announces) without a gap.
        let mut tun = None;
        if let Some(a) = self.anycast.get() {
            match a.hold(true) {
                Ok(Some(fd)) => {
                    fds.push(fd);
                    tun = Some(a.conf.interface.clone());
                }
                Ok(None) => {}
                Err(e) => log::warn!("hand-over: the anycast device's descriptor: {e}; the successor makes its own"),
            }
        }
        let at = Instant::now();
        *self.offered.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
        log::info!(
            "hand-over: links of {} interfaces and {} sockets offered to a successor{}",
            ifaces.len(),
            sockets.len(),
            successor.map(|p| format!(" (pid {p})")).unwrap_or_default()
        );
        let d = self.clone();
        std::thread::spawn(move || {
            let standing = || *d.offered.lock().unwrap_or_else(|p| p.into_inner()) == Some(at) && !d.retired.load(Ordering::SeqCst);
            while standing() {
                if conn.as_ref().is_some_and(closed) {
                    log::warn!("hand-over: the successor went before taking over: resuming");
                    d.resume();
                    return;
                }
                if at.elapsed() >= OFFER_TIMEOUT {
                    log::warn!("hand-over: the successor neither took the links nor gave them back in {OFFER_TIMEOUT:?}: resuming");
                    d.resume();
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Ok(Handing { pid: std::process::id(), serial: self.state.load().zone.serial, ifaces, sockets, tun, fds, conn: None })
    }

    /// Take back the links offered (the successor gave up): this daemon's programs answer again.
    pub fn resume(&self) {
        let mut planes = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        *self.offered.lock().unwrap_or_else(|p| p.into_inner()) = None;
        for dp in planes.iter_mut() {
            if let Err(e) = dp.resume() {
                log::error!("hand-over: taking the links back failed: {e:#}");
            }
        }
        if let Some(h) = self.handoff.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            h.gate.open();
        }
        if let Some(a) = self.anycast.get() {
            let _ = a.hold(false);
        }
        log::info!("hand-over: resumed");
    }

    /// The successor has the links: let go of them and stop as on SIGTERM, detaching nothing.
    pub fn retire(&self) -> Result<(), String> {
        let mut planes = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        if self.offered.lock().unwrap_or_else(|p| p.into_inner()).take().is_none() {
            return Err("no hand-over in progress".into());
        }
        for dp in planes.iter_mut() {
            dp.release();
        }
        self.retired.store(true, Ordering::SeqCst);
        log::info!("hand-over: the successor has the kernel programs; stopping");
        // SAFETY: signalling this process; the main thread stops on SIGTERM.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        Ok(())
    }
}

/// `run --take-over`, after the offer (`handing`, at `t`): swap this daemon's programs into the running
/// one's links, interface by interface, open `gate` (this daemon's server reads from then on), then
/// retire the old daemon. Anything refused before the retirement gives the links back to it.
pub fn take_over(
    daemon: &Daemon,
    control: &Path,
    plans: &[(String, crate::deploy::Device, crate::deploy::Plan)],
    (serial, answers): (u32, usize),
    (handing, t): (&Handing, Instant),
    gate: &crate::server::handoff::Gate,
) -> Result<()> {
    let swapped = (|| -> Result<()> {
        if crate::daemon::serial_newer(handing.serial, serial) {
            bail!("this zone's serial {serial} is older than the running {} (RFC 1982)", handing.serial);
        }
        let mut planes = daemon.planes.lock().unwrap_or_else(|p| p.into_inner());
        for (dp, (iface, device, plan)) in planes.iter_mut().zip(plans) {
            let Some(offer) = handing.ifaces.iter().find(|o| &o.iface == iface) else {
                bail!("the running daemon (pid {}) does not serve {iface}: stop and start instead", handing.pid);
            };
            dp.take_over(plan, offer)?;
            dp.log_attached(device, answers)?;
        }
        for o in handing.ifaces.iter().filter(|o| !plans.iter().any(|(i, _, _)| *i == o.iface)) {
            log::warn!("{}: not in this daemon's interfaces; detached when the running daemon stops", o.iface);
        }
        Ok(())
    })();
    if let Err(e) = swapped {
        ask_resume(control);
        return Err(e.context(format!("taking over from pid {} (it keeps serving)", handing.pid)));
    }
    let swapped_ms = t.elapsed().as_secs_f64() * 1e3;
    // The kernel answers with this zone now: so may userspace, from the queues that waited.
    gate.open();
    if handing.sockets.is_empty() && std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req").is_ok_and(|v| v.trim() == "0") {
        log::info!(
            "net.ipv4.tcp_migrate_req is 0: TCP connections waiting in the old daemon's listen queue are reset as it stops (1 moves them here)"
        );
    }
    ask_retire(control, handing.pid)?;
    log::info!(
        "took over from pid {} (serial {} -> {serial}): programs swapped in {swapped_ms:.1} ms, it stopped after {:.0} ms",
        handing.pid,
        handing.serial,
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// One request to the running daemon: its answer when it says ok, else its error.
fn ask(control: &Path, cmd: &str) -> Result<serde_json::Value> {
    let r = crate::control::request(control, &serde_json::json!({ "cmd": cmd }).to_string(), Duration::from_secs(10))
        .with_context(|| format!("asking the running daemon to {cmd} on {}", control.display()))?;
    if let Some(e) = r["error"].as_str() {
        bail!("the running daemon refused {cmd}: {e}");
    }
    Ok(r)
}

/// The new side, step 1: the running daemon's links and sockets.
pub fn ask_offer(control: &Path) -> Result<Handing> {
    let (r, fds, conn) = crate::control::request_with_fds(control, "hand-over", Duration::from_secs(10))
        .with_context(|| format!("asking the running daemon to hand over on {}", control.display()))?;
    if let Some(e) = r["error"].as_str() {
        bail!("the running daemon refused hand-over: {e}");
    }
    let mut h: Handing = serde_json::from_value(r).context("the running daemon's hand-over answer")?;
    h.fds = fds;
    h.conn = Some(conn);
    Ok(h)
}

/// The new side gave up: the running daemon takes its links back.
pub fn ask_resume(control: &Path) {
    if let Err(e) = ask(control, "resume") {
        log::error!("{e:#}; it resumes by itself within {OFFER_TIMEOUT:?}");
    }
}

/// The new side, step 3: the old daemon lets go and stops; wait until its control socket is gone.
pub fn ask_retire(control: &Path, pid: u32) -> Result<()> {
    ask(control, "retire")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while (control.exists() || alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The links are this process's now, whatever the old daemon does: never give up here.
    if control.exists() {
        log::warn!("the old daemon (pid {pid}) has not stopped within 15 s; this one keeps the kernel programs and goes on");
    }
    Ok(())
}

/// How long an offer waits for the server's threads to finish what they are answering and park.
const SETTLE: Duration = Duration::from_millis(500);

/// Has the other end closed `c` (its process died, or it let go)? Waits up to 20 ms to see.
fn closed(c: &std::os::unix::net::UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd { fd: c.as_raw_fd(), events: libc::POLLIN | libc::POLLRDHUP, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    if unsafe { libc::poll(&mut p, 1, 20) } <= 0 {
        return false;
    }
    if p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0 {
        return true;
    }
    // Readable: an end of stream (the successor sends nothing more on it).
    let mut b = [0u8; 1];
    // SAFETY: peeking one octet into a valid buffer.
    unsafe { libc::recv(c.as_raw_fd(), b.as_mut_ptr() as *mut libc::c_void, 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) == 0 }
}

/// Is process `pid` still running (a zombie is not: it has closed everything)?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which ends at the last ')'.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}
