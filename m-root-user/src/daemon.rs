//! The running service: zone state, the kernel dataplanes, counters, and reload.
//!
//! Reload reads, validates, verifies and compiles the new zone while the old one keeps serving; then it
//! writes the new table into each dataplane's idle generation, pauses the programs (they pass every
//! query up), swaps the userspace zone and has the programs answer from the new generation, back to
//! back. Every answer comes from one zone, old or new, never from a mix.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;
use zonegen::fast::FastTable;
use zonegen::{LoadOptions, ServerConfig, Table, Zone};

use crate::dataplane::Dataplane;
use crate::limits::Limits;
use crate::observe::Stats;
use crate::server::State;
use crate::server::limiter::Limiter;

/// What a reload did, or why it did not.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    pub ok: bool,
    pub old_serial: u32,
    pub new_serial: Option<u32>,
    pub zone: String,
    pub millis: f64,
    pub error: Option<String>,
}

pub struct Daemon {
    pub state: Arc<ArcSwap<State>>,
    pub stats: Arc<Stats>,
    pub planes: Mutex<Vec<Dataplane>>,
    pub started: Instant,
    cfg: ServerConfig,
    zonemd: bool,
    /// Zone path, when it was loaded, and how long loading took (ms).
    current: Mutex<(PathBuf, SystemTime, f64)>,
    /// Serialises reloads (control socket, SIGHUP, file watch), installs of transferred zones, and a
    /// secondary's expiry: each decides on the zone served and changes it in one step.
    reload_lock: Mutex<()>,
    /// The config file whose `[rrl]` and `[acl]` sections each reload reads again (what they said is
    /// the userspace limiter's).
    config: Mutex<Option<PathBuf>>,
    /// When this daemon offered its links to a successor (takeover), while the offer stands.
    pub(crate) offered: Mutex<Option<Instant>>,
    /// A successor has the kernel programs: stopping must not detach them.
    pub retired: std::sync::atomic::AtomicBool,
    /// The server's gate and sockets, handed to a successor with the links (taken out before the
    /// server stops, so its listeners close with it).
    pub handoff: Mutex<Option<crate::server::handoff::Handoff>>,
    /// The secondary service, when the zone comes from primaries (`reload` then refreshes).
    pub secondary: std::sync::OnceLock<Arc<crate::secondary::Secondary>>,
    /// Health and announcement, when the instance is anycast (`drain` / `undrain`).
    pub anycast: std::sync::OnceLock<Arc<crate::anycast::Anycast>>,
    /// The RSSAC002 day, when `[rssac002]` is configured.
    pub rssac002: std::sync::OnceLock<Arc<crate::observe::daystate::Keeper>>,
    /// Zones switched in (a reload, or a transfer installed) and refused, since start.
    pub reloads: Reloads,
}

/// How many reloads (and installs of a transferred zone) succeeded and failed.
#[derive(Debug, Default)]
pub struct Reloads {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
}

impl Reloads {
    fn count(&self, r: &ReloadReport) {
        (if r.ok { &self.ok } else { &self.failed }).fetch_add(1, Ordering::Relaxed);
    }
}

/// Compile `zone`'s table, and say so when some of its answers are left to userspace (how many, why,
/// and the first few), at start and on every reload.
pub fn compile(zone: &Zone) -> Table {
    let table = zonegen::compile(zone);
    if table.summary.unusable_count() > 0 {
        log::warn!("table for serial {}: {}", zone.serial, table.summary);
    }
    table
}

/// Tell the service manager (sd_notify, when NOTIFY_SOCKET is set) that the daemon serves, and which serial.
pub fn notify_ready(d: &Daemon) {
    let status = format!("serving serial {}", d.state.load().zone.serial);
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)]) {
        log::warn!("sd_notify READY=1: {e}");
    }
}

/// RFC 1982 serial arithmetic: is `new` after `old`?
pub fn serial_newer(new: u32, old: u32) -> bool {
    new != old && new.wrapping_sub(old) < 0x8000_0000
}

impl Daemon {
    #[allow(clippy::too_many_arguments)] // tests/watch.rs builds one with exactly these.
    pub fn new(
        zone: Zone,
        table: Table,
        path: &Path,
        load_ms: f64,
        cfg: ServerConfig,
        zonemd: bool,
        planes: Vec<Dataplane>,
        stats: Arc<Stats>,
    ) -> Daemon {
        Daemon {
            state: Arc::new(ArcSwap::from_pointee(State::new(
                zone,
                cfg.clone(),
                FastTable::new(table),
                Arc::new(Limiter::new(Limits::default())),
            ))),
            stats,
            planes: Mutex::new(planes),
            started: Instant::now(),
            cfg,
            zonemd,
            current: Mutex::new((path.to_path_buf(), SystemTime::now(), load_ms)),
            reload_lock: Mutex::new(()),
            config: Mutex::new(None),
            offered: Mutex::new(None),
            retired: std::sync::atomic::AtomicBool::new(false),
            handoff: Mutex::new(None),
            secondary: std::sync::OnceLock::new(),
            anycast: std::sync::OnceLock::new(),
            rssac002: std::sync::OnceLock::new(),
            reloads: Reloads::default(),
        }
    }

    /// Apply rate limiting and the drop list, in the kernel programs and in userspace, and remember
    /// `config` to read them from again on reload. The limiter's buckets stay as they are.
    pub fn set_limits(&self, config: Option<&Path>, limits: Limits) -> Result<(), String> {
        // The cookie secret first: a file that cannot be read or made refuses the whole change.
        let keys = limits.cookies.load().map_err(|e| format!("{e:#}"))?;
        for dp in self.planes.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            dp.set_limits(&limits).map_err(|e| format!("{e:#}"))?;
        }
        if let Some(c) = config {
            *self.config.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.to_path_buf());
        }
        log::info!("{}", limits.describe());
        let limiter = self.state.load().limiter.clone();
        limiter.set(limits);
        limiter.set_cookie_keys(keys);
        self.tick_cookies();
        Ok(())
    }

    /// Tell the programs this second's cookie settings (the userspace limiter keeps its own copy). Built
    /// under the dataplanes' lock: the clock's tick and a reload's cannot write to the maps out of order.
    pub fn tick_cookies(&self) {
        let mut planes = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        let conf = self.state.load().limiter.tick(crate::cookies::unix_now());
        for dp in planes.iter_mut() {
            if let Err(e) = dp.set_cookies(conf) {
                log::warn!("{e:#}");
            }
        }
    }

    /// Keep the cookie clock: every second (just after it turns), the programs and userspace learn the
    /// new UNIX second, and the next key when a rotation period ends.
    pub fn cookie_clock(self: &Arc<Self>, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<()> {
        let d = self.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let into = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |t| t.subsec_micros());
                std::thread::sleep(std::time::Duration::from_micros(1_000_000 - into as u64 + 1_000));
                d.tick_cookies();
            }
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.state.load().limiter.limits()
    }

    /// Log what the kernel's limiter reports (a bucket that starts limiting, at most every 30 s each).
    pub fn log_rrl_reports(&self) {
        let limits = self.limits();
        for dp in self.planes.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            match dp.rrl_reports() {
                Ok(reports) => {
                    for r in reports {
                        log::warn!("rate limiting {}", crate::dataplane::describe_report(&r, &limits));
                    }
                }
                Err(e) => log::debug!("rate limiter reports: {e:#}"),
            }
        }
    }

    pub fn zone_path(&self) -> PathBuf {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// (path, loaded at, load time in ms)
    pub fn loaded(&self) -> (PathBuf, SystemTime, f64) {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reload from `path` (the current zone file when None). Refuses, keeping the old zone serving, on any
    /// error and on a serial that is not newer (RFC 1982) unless `force`. systemd hears RELOADING=1, then
    /// READY=1 with the serial serving.
    pub fn reload(&self, path: Option<&Path>, force: bool) -> ReloadReport {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading, now]);
        }
        let report = self.reload_locked(path, force);
        self.reloads.count(&report);
        notify_ready(self);
        report
    }

    fn reload_locked(&self, path: Option<&Path>, force: bool) -> ReloadReport {
        let t = Instant::now();
        let path = path.map(Path::to_path_buf).unwrap_or_else(|| self.zone_path());
        let old_serial = self.state.load().zone.serial;
        let result = (|| -> Result<u32, String> {
            // The config's [rrl] and [acl] first: a bad section refuses the whole reload.
            let config = self.config.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(c) = config {
                // The whole file is read as at start: a broken edit anywhere refuses the reload.
                let (_, limits, _) = crate::config::read_file(&c).map_err(|e| format!("{e:#}"))?;
                // Applied even when the sections read the same: the cookie secret file may have changed.
                self.set_limits(None, limits)?;
            }
            let zone = Zone::load(&path, &LoadOptions { no_zonemd: !self.zonemd }).map_err(|e| e.to_string())?;
            // A secondary holds what is served: a zone from a file becomes its zone (the next IXFR asks
            // from this serial, and it is not expired), under this same lock.
            let adopt = self.secondary.get().map(|sec| (sec, zonegen::records::RecordSet::of_zone(&zone)));
            let serial = self.swap(zone, &path, t, force)?;
            if let Some((sec, records)) = adopt {
                sec.adopt(records);
            }
            Ok(serial)
        })();
        report(result, old_serial, &path, t)
    }

    /// Serve `zone` (made elsewhere, e.g. by a zone transfer, and already checked as a file is), recorded
    /// as coming from `path`: the same serial rule (unless `force`) and switch as a reload. `served` runs
    /// once the zone is served, still under the reload lock (a secondary records what it holds there).
    pub fn install(&self, zone: Zone, path: &Path, t: Instant, force: bool, served: impl FnOnce()) -> ReloadReport {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old_serial = self.state.load().zone.serial;
        let result = self.swap(zone, path, t, force);
        if result.is_ok() {
            served();
        }
        let report = report(result, old_serial, path, t);
        self.reloads.count(&report);
        if report.ok {
            notify_ready(self);
        }
        report
    }

    /// The switch, for a zone read and checked: refused when its serial is not newer (RFC 1982) unless
    /// `force`; otherwise compiled, written into each dataplane's idle generation, and swapped in with
    /// userspace's zone. Returns the serial now served.
    fn swap(&self, zone: Zone, path: &Path, t: Instant, force: bool) -> Result<u32, String> {
        let old_serial = self.state.load().zone.serial;
        let serial = zone.serial;
        // A successor is taking the programs over with the zone it has: none newer may come in between.
        if self.offered.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Err("a hand-over to a successor is in progress".into());
        }
        if !force && !serial_newer(serial, old_serial) {
            return Err(format!("serial {serial} is not newer than the running {old_serial} (RFC 1982); --force to load it anyway"));
        }
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        // Compiled before the dataplanes are locked: txwatch and stats need them meanwhile.
        let table = compile(&zone);
        let mut planes = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        let mut prepared = Vec::new();
        for dp in planes.iter_mut() {
            prepared.push(dp.prepare(&table).map_err(|e| format!("writing the XDP table: {e:#}"))?);
        }
        // The switch: XDP passes everything up, userspace swaps, XDP answers from the new table. A
        // client never sees the new zone and then the old one.
        for dp in planes.iter_mut() {
            dp.pause().map_err(|e| format!("pausing the kernel programs: {e:#}"))?;
        }
        let limiter = self.state.load().limiter.clone();
        self.state.store(Arc::new(State::new(zone, self.cfg.clone(), FastTable::new(table), limiter)));
        for (dp, (generation, info)) in planes.iter_mut().zip(prepared) {
            dp.activate(generation, info).map_err(|e| format!("activating the XDP table: {e:#}"))?;
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = (path.to_path_buf(), SystemTime::now(), load_ms);
        // RSSAC002's load-time: from what triggered the load (NOTIFY, refresh timer, reload) to serving.
        if serial != old_serial {
            self.stats.daily.loaded(serial, t.elapsed().as_secs());
        }
        Ok(serial)
    }

    /// The zone has expired (a secondary past SOA expire with no refresh) if `expired` says so, asked
    /// under the reload lock so no reload or transfer switches a zone in between: the kernel programs
    /// pass every query up and userspace answers SERVFAIL, until a zone is switched in or a refresh
    /// confirms this one (`unexpire_if`).
    pub fn expire_if(&self, expired: impl FnOnce() -> bool) -> bool {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        if !expired() {
            return false;
        }
        let mut planes = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        for dp in planes.iter_mut() {
            if let Err(e) = dp.pause() {
                log::error!("pausing the kernel programs for the expired zone: {e:#}");
            }
        }
        self.state.load().expired.store(true, std::sync::atomic::Ordering::SeqCst);
        true
    }

    /// The zone held is current again (the primary confirmed its serial): if `was_expired` (asked under
    /// the reload lock), serve it as before expiry. None when it was not expired.
    pub fn unexpire_if(&self, was_expired: impl FnOnce() -> bool) -> Option<Result<(), String>> {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        if !was_expired() {
            return None;
        }
        let zone = self.state.load().zone.clone();
        let path = self.zone_path();
        Some(self.swap(zone, &path, Instant::now(), true).map(|_| ()))
    }

    /// Reload whenever the zone file's modification time changes (checked every second).
    pub fn watch(self: &Arc<Self>, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<()> {
        let d = self.clone();
        std::thread::spawn(move || {
            let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let mut last = mtime(&d.zone_path());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let now = mtime(&d.zone_path());
                if now.is_some() && now != last {
                    last = now;
                    log::info!("zone file changed: reloading");
                    d.reload(None, false);
                }
            }
        })
    }
}

/// What a reload or an install did, logged.
fn report(result: Result<u32, String>, old_serial: u32, path: &Path, t: Instant) -> ReloadReport {
    let mut report = ReloadReport { ok: false, old_serial, new_serial: None, zone: path.display().to_string(), millis: 0.0, error: None };
    report.millis = t.elapsed().as_secs_f64() * 1e3;
    match result {
        Ok(serial) => {
            report.ok = true;
            report.new_serial = Some(serial);
            log::info!("reload: {} serial {old_serial} -> {serial} in {:.0} ms", path.display(), report.millis);
        }
        Err(e) => {
            log::warn!("reload refused, serial {old_serial} still serving: {e}");
            report.error = Some(e);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::serial_newer;

    #[test]
    fn rfc1982() {
        assert!(serial_newer(2, 1));
        assert!(!serial_newer(1, 1));
        assert!(!serial_newer(1, 2));
        assert!(serial_newer(0, u32::MAX));
        assert!(serial_newer(0x7fff_ffff, 0));
        assert!(!serial_newer(0x8000_0000, 0), "exactly half way is undefined: refuse");
    }
}
