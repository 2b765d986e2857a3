//! Anycast (`[anycast]`): the instance tells its routers when it can serve. Health is probed every
//! interval (`probe`: zone, kernel programs and their attachment (`attached`), userspace), with
//! rise/fall hysteresis and a forced down by `m-root-xdp drain` (`health`); while healthy the service
//! addresses are on an interface the daemon owns, whose connected routes the BGP daemon announces
//! (`announce`), reconciled with the state every probe. On SIGTERM the addresses go first, answering
//! goes on for `drain_seconds`, then the daemon stops.

pub mod announce;
pub mod attached;
pub mod health;
pub mod probe;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::daemon::Daemon;
use announce::Announcer;
use health::Health;

/// The section as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    pub interface: String,
    pub probe_interval_ms: u64,
    pub rise: u32,
    pub fall: u32,
    pub drain_seconds: u64,
    /// Prefixes to announce instead of host routes (`announce::on_interface`).
    pub prefixes: Vec<ipnet::IpNet>,
}

impl Default for Section {
    fn default() -> Section {
        Section { interface: "anycast0".into(), probe_interval_ms: 1000, rise: 2, fall: 2, drain_seconds: 5, prefixes: Vec::new() }
    }
}

/// Each key with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 6] = [
    (
        "anycast.interface",
        "\"anycast0\"",
        "The TUN device this daemon creates and holds; while healthy it carries the service addresses (/32, /128, or as anycast.prefixes says), for the BGP daemon to announce its connected routes.",
    ),
    ("anycast.probe_interval_ms", "1000", "How often health is probed (100-60000)."),
    ("anycast.rise", "2", "Good probes in a row that announce."),
    ("anycast.fall", "2", "Bad probes in a row that withdraw."),
    ("anycast.drain_seconds", "5", "On SIGTERM: how long to keep answering after the withdrawal, for routing to converge (0-600)."),
    (
        "anycast.prefixes",
        "[]",
        "Prefixes announced instead of host routes: a service address inside one goes on the interface with that prefix's length, so its connected route is the prefix. Needed with FRR, whose zebra prefers the loopback's connected route for the same /32 or /128.",
    ),
];

impl Section {
    pub fn check(&self) -> Result<()> {
        if !(100..=60_000).contains(&self.probe_interval_ms) {
            bail!("anycast.probe_interval_ms: {} is out of range (100-60000)", self.probe_interval_ms);
        }
        if self.rise == 0 || self.fall == 0 || self.rise > 100 || self.fall > 100 {
            bail!("anycast.rise and anycast.fall: 1-100");
        }
        if self.drain_seconds > 600 {
            bail!("anycast.drain_seconds: {} is out of range (0-600)", self.drain_seconds);
        }
        Ok(())
    }
}

pub struct Anycast {
    pub conf: Section,
    addrs: Vec<IpAddr>,
    port: u16,
    health: Mutex<Health>,
    announcer: Mutex<Announcer>,
    /// A successor is taking over (`run --take-over`): the probes go on but change nothing (once its
    /// programs are swapped in, this daemon's attachment check would fail and withdraw).
    held: AtomicBool,
}

impl Anycast {
    /// Create the announcement interface (withdrawn until the probes say healthy); or, taking over,
    /// adopt the running daemon's (`inherited`: its TUN device's descriptor), which stays announced if it
    /// was, the health starting up (the running daemon proved it; `fall` bad probes take it down).
    pub fn start(conf: Section, addrs: &[IpAddr], port: u16, inherited: Option<std::fs::File>) -> Result<Arc<Anycast>> {
        conf.check()?;
        let on = announce::on_interface(addrs, &conf.prefixes).map_err(|e| anyhow::anyhow!(e))?;
        let (announcer, health) = match inherited {
            Some(tun) => {
                let (a, announced) = Announcer::adopt(&conf.interface, on, tun)?;
                (a, if announced { Health::new_up(conf.rise, conf.fall) } else { Health::new(conf.rise, conf.fall) })
            }
            None => (Announcer::create(&conf.interface, on)?, Health::new(conf.rise, conf.fall)),
        };
        Ok(Arc::new(Anycast {
            conf,
            addrs: addrs.to_vec(),
            port,
            health: Mutex::new(health),
            announcer: Mutex::new(announcer),
            held: AtomicBool::new(false),
        }))
    }

    /// A successor asked for everything (`hold`: true) or gave it back (false). Holding, the state and
    /// the device stay as they are; the device's descriptor is handed with the links and sockets.
    pub fn hold(&self, hold: bool) -> std::io::Result<Option<std::os::fd::OwnedFd>> {
        self.held.store(hold, Ordering::SeqCst);
        match hold {
            true => self.announcer.lock().unwrap_or_else(|p| p.into_inner()).tun().map(Some),
            false => Ok(None),
        }
    }

    /// Reconcile the device with `h` (every probe, and on drain): `changed` says the state just changed,
    /// so what is done is an announcement or a withdrawal; otherwise anything done is a repair.
    fn apply(&self, h: &Health, changed: bool) {
        let mut a = self.announcer.lock().unwrap_or_else(|p| p.into_inner());
        let before = a.error.clone();
        let n = a.set(h.announce());
        let what = if h.announce() { "announced" } else { "withdrawn" };
        if changed {
            log::warn!("anycast: {what} on {} ({}; health: {})", a.iface, h.state(), h.last);
        } else if n > 0 {
            log::warn!("anycast: {} had drifted from the state ({what}): {n} change(s) made to put it back", a.iface);
        }
        // Each failure is counted; the log says when what fails changes, not every interval.
        match &a.error {
            Some(e) if before.as_ref() != Some(e) => log::error!("anycast: {e} (tried again every probe)"),
            None if before.is_some() => log::warn!("anycast: {} {what} as the state says, after {} failed change(s)", a.iface, a.failures),
            _ => {}
        }
    }

    /// Probe every interval; announce or withdraw as health changes, and keep the device as the state says.
    pub fn run(self: &Arc<Self>, daemon: Arc<Daemon>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || {
            let interval = Duration::from_millis(me.conf.probe_interval_ms);
            while !stop.load(Ordering::Relaxed) {
                let t = std::time::Instant::now();
                if me.held.load(Ordering::SeqCst) {
                    std::thread::sleep(interval);
                    continue;
                }
                let result = probe::probe(&daemon, &me.addrs, me.port);
                // Held while that probe ran: its finding may be of the successor's programs.
                if me.held.load(Ordering::SeqCst) {
                    continue;
                }
                let mut h = me.health.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = &result
                    && h.announce()
                {
                    log::warn!("anycast: probe failed: {e}");
                }
                let changed = h.observe(result);
                me.apply(&h, changed);
                drop(h);
                std::thread::sleep(interval.saturating_sub(t.elapsed()));
            }
        })
    }

    /// `drain` (true) or `undrain` (false) from the control socket.
    pub fn drain(&self, on: bool) -> Value {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let changed = h.set_drained(on);
        self.apply(&h, changed);
        self.report_locked(&h)
    }

    /// Stopping: withdraw now, and say how long to keep answering.
    pub fn withdraw_for_stop(&self) -> Duration {
        self.drain(true);
        Duration::from_secs(self.conf.drain_seconds)
    }

    fn report_locked(&self, h: &Health) -> Value {
        let a = self.announcer.lock().unwrap_or_else(|p| p.into_inner());
        json!({
            "interface": self.conf.interface,
            "state": h.state(),
            "announced": a.announced(),
            "drained": h.drained(),
            "last_probe": h.last,
            "on_interface": a.on_device.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "),
            "announce_failures": a.failures,
            "announce_repairs": a.repairs,
            "announce_error": a.error,
        })
    }

    pub fn report(&self) -> Value {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        self.report_locked(&h)
    }
}
