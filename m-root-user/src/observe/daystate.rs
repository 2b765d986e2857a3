//! The RSSAC002 day: today's counts, kept across restarts in a state file and rolled over at 00:00 UTC.
//!
//! Each run of the daemon writes only its own entry for a day (`days.<date>.<run>`: its totals so far),
//! under an exclusive lock, every minute, at each rollover and when it stops; entries of runs that have
//! ended are folded into one. A day's totals are then the sum over entries, so restarts and hand-overs
//! (two daemons counting at once for a moment) neither lose nor double what was written. A crash loses at
//! most the last minute.
//!
//! The kernel programs count into one of two day slots (m_root_common::daily); at the rollover the
//! daemon points them at the other slot, then reads yesterday's slot and clears it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use m_root_common::daily::day_slot;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::daily::{Daily, DayTotals};
use super::rssac002::iso;
use crate::daemon::Daemon;

/// `[rssac002]` in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The service the files name (RSSAC002's `service:`).
    #[serde(default = "default_service")]
    pub service: String,
    /// The state file: each day's totals so far, across restarts.
    #[serde(default = "default_state")]
    pub state: PathBuf,
}

fn default_service() -> String {
    "m.root-servers.net".into()
}
fn default_state() -> PathBuf {
    "/var/lib/m-root-xdp/rssac002.state".into()
}

/// Each key with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 2] = [
    ("rssac002.service", "\"m.root-servers.net\"", "The service RSSAC002's files name; also their names' prefix (m-root-YYYYMMDD-...)."),
    (
        "rssac002.state",
        "\"/var/lib/m-root-xdp/rssac002.state\"",
        "Each UTC day's totals so far (kept 8 days), so a restart or a hand-over loses nothing written; written every minute.",
    ),
];

/// How many days the state file keeps.
const DAYS_KEPT: usize = 8;
/// How often a run writes its entry.
const PERSIST_EVERY: Duration = Duration::from_secs(60);
/// The entry that holds what ended runs wrote.
const EARLIER: &str = "earlier";

/// The kernel programs' day slots, over every attached interface.
pub trait KernelDays: Send + Sync {
    /// Count into `slot` from now on.
    fn set_slot(&self, slot: u32);
    /// What the programs counted in `slot`.
    fn read(&self, slot: u32) -> DayTotals;
    fn clear(&self, slot: u32);
    /// The (signal key, source) pairs the programs answered since the last [`KernelDays::clear_signal_sources`].
    fn signal_sources(&self) -> Vec<(u32, [u8; 16])>;
    /// Forget `pairs` (read for the day just closed).
    fn clear_signal_sources(&self, pairs: &[(u32, [u8; 16])]);
}

/// No kernel programs (xdp_mode = "off"): userspace counts everything.
pub struct NoKernel;
impl KernelDays for NoKernel {
    fn set_slot(&self, _: u32) {}
    fn read(&self, _: u32) -> DayTotals {
        DayTotals::default()
    }
    fn clear(&self, _: u32) {}
    fn signal_sources(&self) -> Vec<(u32, [u8; 16])> {
        Vec::new()
    }
    fn clear_signal_sources(&self, _: &[(u32, [u8; 16])]) {}
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// date (YYYY-MM-DD) -> run -> totals
    days: BTreeMap<String, BTreeMap<String, DayTotals>>,
}

pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn days_since_epoch(d: Date) -> u64 {
    (d.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day()).max(0) as u64
}

/// The day keeper of one daemon run.
pub struct Keeper {
    pub section: Section,
    run: String,
    today: Mutex<Date>,
    /// Today's trust-anchor signals by distinct sources over every run, as of the last write (what the
    /// metrics show: reading the kernel's maps and the file is the keeper's, never a scrape's).
    signal_report: Mutex<Vec<(String, usize)>>,
}

impl Keeper {
    /// Start counting today: the programs count into today's slot (cleared first).
    pub fn start(section: Section, kernel: &dyn KernelDays) -> Keeper {
        let run = format!("{}-{}", std::process::id(), OffsetDateTime::now_utc().unix_timestamp_nanos());
        let d = today();
        let slot = day_slot(days_since_epoch(d));
        kernel.clear(slot);
        kernel.set_slot(slot);
        Keeper { section, run, today: Mutex::new(d), signal_report: Mutex::new(Vec::new()) }
    }

    fn day(&self) -> Date {
        *self.today.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This run's totals of today so far.
    fn current(&self, user: &Daily, kernel: &dyn KernelDays) -> DayTotals {
        let mut t = user.totals(false);
        t.add(&kernel.read(day_slot(days_since_epoch(self.day()))));
        t.add_signal_sources(kernel.signal_sources());
        t
    }

    /// Write this run's entry for today.
    pub fn persist(&self, user: &Daily, kernel: &dyn KernelDays) -> Result<()> {
        let t = self.current(user, kernel);
        let day = self.write_entry(self.day(), t)?;
        *self.signal_report.lock().unwrap_or_else(|p| p.into_inner()) = day.signal_report();
        Ok(())
    }

    /// Today's trust-anchor signals by distinct sources, as of the last write (every minute).
    pub fn signal_report(&self) -> Vec<(String, usize)> {
        self.signal_report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Write this run's entry for `date`; returns that day's totals over every run, as written.
    fn write_entry(&self, date: Date, t: DayTotals) -> Result<DayTotals> {
        let mut day = DayTotals::default();
        update(&self.section.state, |s| {
            let runs = s.days.entry(iso(date)).or_default();
            runs.insert(self.run.clone(), t);
            for part in runs.values() {
                day.add(part);
            }
            fold_ended(s, &self.run);
            while s.days.len() > DAYS_KEPT {
                s.days.pop_first();
            }
        })?;
        Ok(day)
    }

    /// At 00:00 UTC: the programs move to the other slot, and yesterday (the old slot and userspace's
    /// counts, taken and zeroed) is written. Returns whether the day changed.
    pub fn roll_over(&self, user: &Daily, kernel: &dyn KernelDays) -> Result<bool> {
        self.roll_to(today(), user, kernel)
    }

    fn roll_to(&self, new: Date, user: &Daily, kernel: &dyn KernelDays) -> Result<bool> {
        let old = self.day();
        if new <= old {
            return Ok(false);
        }
        let (old_slot, new_slot) = (day_slot(days_since_epoch(old)), day_slot(days_since_epoch(new)));
        kernel.clear(new_slot);
        kernel.set_slot(new_slot);
        // A packet being counted on another CPU when the slot changed finishes within microseconds.
        std::thread::sleep(Duration::from_millis(10));
        let mut t = user.totals(true);
        t.add(&kernel.read(old_slot));
        kernel.clear(old_slot);
        let pairs = kernel.signal_sources();
        kernel.clear_signal_sources(&pairs);
        t.add_signal_sources(pairs);
        *self.today.lock().unwrap_or_else(|p| p.into_inner()) = new;
        self.write_entry(old, t).with_context(|| format!("writing {}'s RSSAC002 totals", iso(old)))?;
        log::info!("rssac002: {} closed, counting {}", iso(old), iso(new));
        Ok(true)
    }

    /// A day's totals over every run: today's with this run's live counts.
    pub fn totals(&self, date: Date, user: &Daily, kernel: &dyn KernelDays) -> Result<DayTotals> {
        let mut t = totals_in_file(&self.section.state, date, Some(&self.run))?;
        if date == self.day() {
            t.add(&self.current(user, kernel));
        } else if let Some(mine) = read(&self.section.state)?.days.get(&iso(date)).and_then(|d| d.get(&self.run)) {
            t.add(mine);
        }
        Ok(t)
    }

    /// Persist every minute and roll over at midnight, until `stop`; then persist once more.
    pub fn run(&self, user: &Daily, kernel: &dyn KernelDays, stop: &AtomicBool) {
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(500));
            if let Err(e) = self.roll_over(user, kernel) {
                log::error!("rssac002: {e:#}");
            }
            if last.elapsed() >= PERSIST_EVERY {
                last = Instant::now();
                if let Err(e) = self.persist(user, kernel) {
                    log::error!("rssac002: writing {}: {e:#}", self.section.state.display());
                }
            }
        }
        if let Err(e) = self.persist(user, kernel) {
            log::error!("rssac002: writing {}: {e:#}", self.section.state.display());
        }
    }
}

/// The kernel programs of a daemon's dataplanes, as one.
pub struct DaemonKernel(pub Arc<Daemon>);

impl KernelDays for DaemonKernel {
    fn set_slot(&self, slot: u32) {
        for dp in self.0.planes.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            if let Err(e) = dp.set_day(Some(slot)) {
                log::error!("rssac002: pointing the programs at day slot {slot}: {e:#}");
            }
        }
    }
    fn read(&self, slot: u32) -> DayTotals {
        let mut t = DayTotals::default();
        for dp in self.0.planes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            match dp.day_counts(slot) {
                Ok((counts, regs)) => t.add_kernel(&counts, &regs),
                Err(e) => log::error!("rssac002: reading day slot {slot}: {e:#}"),
            }
        }
        t
    }
    fn clear(&self, slot: u32) {
        for dp in self.0.planes.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            if let Err(e) = dp.zero_day(slot) {
                log::error!("rssac002: clearing day slot {slot}: {e:#}");
            }
        }
    }
    fn signal_sources(&self) -> Vec<(u32, [u8; 16])> {
        let mut v = Vec::new();
        for dp in self.0.planes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            match dp.signal_sources() {
                Ok(pairs) => v.extend(pairs.into_iter().map(|s| (s.key, s.addr.addr))),
                Err(e) => log::error!("rssac002: reading the signal sources: {e:#}"),
            }
        }
        v
    }
    fn clear_signal_sources(&self, pairs: &[(u32, [u8; 16])]) {
        let keys: Vec<m_root_common::SignalSource> = pairs
            .iter()
            .map(|(key, addr)| m_root_common::SignalSource { key: *key, pad: 0, addr: m_root_common::AddrKey { addr: *addr } })
            .collect();
        for dp in self.0.planes.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            if let Err(e) = dp.remove_signal_sources(&keys) {
                log::error!("rssac002: clearing the signal sources: {e:#}");
            }
        }
    }
}

/// Start the day keeper of `d` (the programs count from now on) and its thread.
pub fn spawn(d: &Arc<Daemon>, section: Section, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let kernel = DaemonKernel(d.clone());
    let keeper = Arc::new(Keeper::start(section, &kernel));
    let _ = d.rssac002.set(keeper.clone());
    let d = d.clone();
    std::thread::spawn(move || keeper.run(&d.stats.daily, &kernel, &stop))
}

/// The control socket's `{"cmd":"rssac002","date":"YYYY-MM-DD"}`: that day's totals (today's when no
/// date), with the service they are for.
pub fn answer(d: &Arc<Daemon>, date: Option<&str>) -> serde_json::Value {
    let Some(k) = d.rssac002.get() else {
        return serde_json::json!({ "error": "no [rssac002] section: nothing is counted" });
    };
    let date = match date.map(super::rssac002::parse_date).transpose() {
        Ok(d) => d.unwrap_or_else(today),
        Err(e) => return serde_json::json!({ "error": format!("{e:#}") }),
    };
    match k.totals(date, &d.stats.daily, &DaemonKernel(d.clone())) {
        Ok(t) => serde_json::json!({ "service": k.section.service, "date": iso(date), "totals": t }),
        Err(e) => serde_json::json!({ "error": format!("{e:#}") }),
    }
}

/// A day's totals as the state file has them, leaving out run `except`.
pub fn totals_in_file(path: &Path, date: Date, except: Option<&str>) -> Result<DayTotals> {
    let s = read(path)?;
    let mut t = DayTotals::default();
    for (run, part) in s.days.get(&iso(date)).into_iter().flatten() {
        if Some(run.as_str()) != except {
            t.add(part);
        }
    }
    Ok(t)
}

fn read(path: &Path) -> Result<StateFile> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("{} is not an RSSAC002 state file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StateFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Read, change and write the state file under an exclusive lock (a `.lock` file beside it), written
/// to a temporary file and renamed, so a reader never sees half of it. A file that does not parse is
/// kept as `.bad` and a new one started: counting goes on.
fn update(path: &Path, change: impl FnOnce(&mut StateFile)) -> Result<()> {
    use std::os::fd::AsRawFd;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let lock_path = path.with_extension("lock");
    let lock = std::fs::File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // SAFETY: flock on a file we hold open; released when it closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("locking {}", lock_path.display()));
    }
    let mut s = match read(path) {
        Ok(s) => s,
        Err(e) => {
            let bad = path.with_extension("bad");
            log::error!("rssac002: {e:#}; kept as {} and started anew", bad.display());
            let _ = std::fs::rename(path, &bad);
            StateFile::default()
        }
    };
    change(&mut s);
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec(&s)?).and_then(|_| f.sync_all()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Fold the entries of runs that have ended (their process is gone) into one, so the file stays small.
fn fold_ended(s: &mut StateFile, mine: &str) {
    let alive = |run: &str| {
        let Some(pid) = run.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { return false };
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
    };
    for runs in s.days.values_mut() {
        let ended: Vec<String> = runs.keys().filter(|r| r.as_str() != mine && r.as_str() != EARLIER && !alive(r)).cloned().collect();
        for r in ended {
            if let Some(t) = runs.remove(&r) {
                runs.entry(EARLIER.to_string()).or_default().add(&t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::daily::{IPV4, UDP};

    /// A kernel whose slots the test fills.
    #[derive(Default)]
    struct FakeKernel {
        slots: Mutex<[u64; 2]>,
        on: Mutex<Option<u32>>,
    }
    impl KernelDays for FakeKernel {
        fn set_slot(&self, slot: u32) {
            *self.on.lock().unwrap() = Some(slot);
        }
        fn read(&self, slot: u32) -> DayTotals {
            let mut t = DayTotals::default();
            t.queries[UDP][IPV4] = self.slots.lock().unwrap()[slot as usize];
            t
        }
        fn clear(&self, slot: u32) {
            self.slots.lock().unwrap()[slot as usize] = 0;
        }
        fn signal_sources(&self) -> Vec<(u32, [u8; 16])> {
            Vec::new()
        }
        fn clear_signal_sources(&self, _: &[(u32, [u8; 16])]) {}
    }

    #[test]
    fn runs_add_up_across_restarts_and_a_bad_file_is_set_aside() {
        let dir = std::env::temp_dir().join(format!("m-root-xdp-daystate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let section = Section { service: default_service(), state: dir.join("rssac002.state") };
        let k = FakeKernel::default();
        let user = Daily::default();
        let first = Keeper::start(section.clone(), &k);
        let slot = k.on.lock().unwrap().unwrap();
        k.slots.lock().unwrap()[slot as usize] = 7;
        user.query(UDP, "198.18.0.1".parse().unwrap(), &[0; 40]);
        first.persist(&user, &k).unwrap();
        // A second run of the same day (a restart: fresh maps and counters) adds its own.
        let (k2, user2) = (FakeKernel::default(), Daily::default());
        let second = Keeper { run: "second".into(), ..Keeper::start(section.clone(), &k2) };
        k2.slots.lock().unwrap()[slot as usize] = 5;
        let t = second.totals(today(), &user2, &k2).unwrap();
        assert_eq!(t.queries[UDP][IPV4], 7 + 1 + 5);
        second.persist(&user2, &k2).unwrap();
        // Written twice, counted once.
        first.persist(&user, &k).unwrap();
        assert_eq!(totals_in_file(&section.state, today(), None).unwrap().queries[UDP][IPV4], 13);
        // "second" names no live process: folded into the earlier runs, still counted once.
        let s = read(&section.state).unwrap();
        assert!(s.days[&iso(today())].contains_key(EARLIER), "{:?}", s.days.keys());
        std::fs::write(&section.state, b"{not json").unwrap();
        first.persist(&user, &k).unwrap();
        assert!(dir.join("rssac002.bad").exists());
        assert_eq!(totals_in_file(&section.state, today(), None).unwrap().queries[UDP][IPV4], 8);
        assert!(!first.roll_over(&user, &k).unwrap(), "the same day: no rollover");
        // Midnight: yesterday gets the old slot and userspace's counts; the programs count in the other
        // slot, and userspace starts from zero.
        let tomorrow = today().next_day().unwrap();
        assert!(first.roll_to(tomorrow, &user, &k).unwrap());
        assert_eq!(*k.on.lock().unwrap(), Some(1 - slot));
        assert_eq!(*k.slots.lock().unwrap(), [0, 0], "the old slot is cleared");
        assert_eq!(user.totals(false), DayTotals::default());
        assert_eq!(totals_in_file(&section.state, today(), None).unwrap().queries[UDP][IPV4], 8);
        k.slots.lock().unwrap()[1 - slot as usize] = 2;
        assert_eq!(first.totals(tomorrow, &user, &k).unwrap().queries[UDP][IPV4], 2);
        assert_eq!(first.totals(today(), &user, &k).unwrap().queries[UDP][IPV4], 8, "yesterday as written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
