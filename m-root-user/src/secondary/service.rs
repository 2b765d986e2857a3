//! The secondary's clock and state: refresh at the SOA refresh timer, at a NOTIFY, or when asked
//! (`m-root-xdp reload`); on failure again at the retry timer; past expire with no successful refresh,
//! the zone is expired (the kernel programs pass everything up, userspace answers SERVFAIL) until a
//! refresh succeeds. A transferred zone goes through every check a file does and the daemon's serial
//! rule and switch, and is then written to the cache (write, then rename) for the next start.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use zonegen::records::RecordSet;
use zonegen::{LoadOptions, Zone};

use super::conf::Conf;
use super::xfr::{self, Fetched, XfrError};
use crate::daemon::{Daemon, ReloadReport};

/// The SOA timers (RFC 1035 3.3.13): refresh, retry, expire.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub refresh: Duration,
    pub retry: Duration,
    pub expire: Duration,
}

impl Timers {
    fn of(records: &RecordSet) -> Timers {
        let t = records.soa().and_then(|soa| zonegen::zone::soa_numbers(&soa.rdata)).map_or((1800, 900, 604800), |n| (n[1], n[2], n[3]));
        // A timer of 0 would refresh in a loop: at least a second.
        let s = |v: u32| Duration::from_secs(u64::from(v.max(1)));
        Timers { refresh: s(t.0), retry: s(t.1), expire: s(t.2) }
    }
}

/// What is held and when what happens next.
struct Inner {
    records: RecordSet,
    timers: Timers,
    next: Instant,
    expires: Instant,
    expired: bool,
    /// A refresh asked for (NOTIFY, `reload`): when, and by what.
    pending: Option<(Instant, &'static str)>,
    last_refresh: Option<SystemTime>,
    last_result: String,
    transfers: u64,
    up_to_date: u64,
    failures: u64,
    refused: u64,
    notifies: u64,
    /// The last transfer served: serial, how, from where, and the time from its trigger to the kernel
    /// paths serving it.
    last_transfer: Option<Value>,
}

pub struct Secondary {
    pub conf: Conf,
    zonemd: bool,
    inner: Mutex<Inner>,
    wake: Condvar,
    /// One refresh at a time (the clock's, a NOTIFY's, the control socket's).
    refreshing: Mutex<()>,
}

/// Write `text` to `path` atomically: a new file beside it, then rename over it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

impl Secondary {
    /// Holding `zone` (from the cache or a file), whose last refresh was `age` ago (the cache's age; none
    /// for a file): refreshed at once, expired when `age` reaches the SOA expire with no refresh.
    pub fn new(conf: Conf, zonemd: bool, zone: &Zone, age: Option<Duration>) -> Arc<Secondary> {
        let records = RecordSet::of_zone(zone);
        let timers = Timers::of(&records);
        let now = Instant::now();
        let expires = now + timers.expire.saturating_sub(age.unwrap_or_default());
        let inner = Inner {
            records,
            timers,
            next: now,
            expires,
            expired: false,
            pending: None,
            last_refresh: None,
            last_result: "not yet refreshed".into(),
            transfers: 0,
            up_to_date: 0,
            failures: 0,
            refused: 0,
            notifies: 0,
            last_transfer: None,
        };
        Arc::new(Secondary { conf, zonemd, inner: Mutex::new(inner), wake: Condvar::new(), refreshing: Mutex::new(()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first zone: the cache (the last good zone, whose age counts towards expiry), else `zone_file`,
    /// else a transfer from the primaries (waiting for one that gives it). With where it came from, and
    /// how long ago it was last known current (None for a file).
    pub fn starting_zone(
        c: &Conf,
        zone_file: Option<&Path>,
        zonemd: bool,
        stop: &AtomicBool,
    ) -> anyhow::Result<(Zone, std::path::PathBuf, Option<Duration>)> {
        let opts = LoadOptions { no_zonemd: !zonemd };
        if c.cache.exists() {
            match Zone::load(&c.cache, &opts) {
                Ok(z) => {
                    let age = std::fs::metadata(&c.cache).and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok());
                    log::info!(
                        "secondary: serving the cached zone serial {} (last known current {:.0} s ago), then refreshing",
                        z.serial,
                        age.unwrap_or_default().as_secs_f64()
                    );
                    return Ok((z, c.cache.clone(), age.or(Some(Duration::ZERO))));
                }
                Err(e) => log::warn!("secondary: the cache is not usable ({e}); trying the zone file, then the primaries"),
            }
        }
        if let Some(path) = zone_file {
            match Zone::load(path, &opts) {
                Ok(z) => return Ok((z, path.to_path_buf(), None)),
                Err(e) => log::warn!("secondary: zone file refused ({e}); transferring from the primaries"),
            }
        }
        log::info!("secondary: no cache, no zone file: transferring the zone from {:?}", c.primaries);
        let zone = Self::first_zone(c, zonemd, stop).ok_or_else(|| anyhow::anyhow!("stopped before any primary gave the zone"))?;
        Ok((zone, c.cache.clone(), Some(Duration::ZERO)))
    }

    /// The zone with no cache and no file: transfer it (AXFR), trying the primaries in turn until one
    /// gives a zone that passes the checks; says why each try failed.
    fn first_zone(conf: &Conf, zonemd: bool, stop: &AtomicBool) -> Option<Zone> {
        let mut wait = Duration::from_secs(1);
        while !stop.load(Ordering::Relaxed) {
            for p in &conf.primaries {
                match xfr::fetch(*p, conf.source, conf.key.as_ref(), None) {
                    Ok(Fetched::Zone { records, serial, .. }) => match records
                        .to_zone(&label(p, "AXFR", serial), &LoadOptions { no_zonemd: !zonemd })
                    {
                        Ok(zone) => {
                            if let Err(e) = records.to_text().map_err(std::io::Error::other).and_then(|t| write_atomically(&conf.cache, &t))
                            {
                                log::warn!("secondary: writing the cache {}: {e}", conf.cache.display());
                            }
                            return Some(zone);
                        }
                        Err(e) => log::error!("secondary: the zone from {p} (serial {serial}) is refused: {e}"),
                    },
                    Ok(Fetched::Current(_)) => log::error!("secondary: {p} answered an AXFR with one SOA"),
                    Err(e) => log::error!("secondary: no zone from {p}: {e}"),
                }
            }
            log::error!("secondary: no cache, no zone file, no primary gave the zone: trying again in {wait:?}");
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(60));
        }
        None
    }

    /// Ask for a refresh now (NOTIFY, `reload`); the clock thread does it.
    pub fn trigger(&self, cause: &'static str) {
        let mut i = self.lock();
        if cause == "notify" {
            i.notifies += 1;
        }
        i.pending.get_or_insert((Instant::now(), cause));
        self.wake.notify_all();
    }

    /// Expired: the daemon stops answering for the zone.
    pub fn expired(&self) -> bool {
        self.lock().expired
    }

    /// The clock: refresh when due or asked, expire when past expire.
    pub fn run(self: &Arc<Self>, daemon: Arc<Daemon>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("secondary".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut i = me.lock();
                    let now = Instant::now();
                    // Not while a refresh (from the control socket) may be switching a zone in.
                    if now >= i.expires && !i.expired && let Ok(no_refresh) = me.refreshing.try_lock() {
                        i.expired = true;
                        log::error!(
                            "secondary: zone serial {} EXPIRED: no successful refresh within the SOA expire ({:?}); answering SERVFAIL, the kernel paths pass everything",
                            daemon.state.load().zone.serial,
                            i.timers.expire
                        );
                        drop(i);
                        daemon.expire();
                        drop(no_refresh);
                        continue;
                    }
                    let due = i.pending.take().or_else(|| (now >= i.next).then_some((now, "timer")));
                    let Some((since, cause)) = due else {
                        let until = if i.expired { i.next } else { i.next.min(i.expires) };
                        let wait = until.saturating_duration_since(now).clamp(Duration::from_millis(10), Duration::from_millis(500));
                        let _ = me.wake.wait_timeout(i, wait);
                        continue;
                    };
                    drop(i);
                    me.refresh(&daemon, since, cause);
                }
            })
            .expect("spawning the secondary thread")
    }

    /// Refresh now (the control socket's `reload`): what happened, as a reload reports it.
    pub fn refresh_now(&self, daemon: &Daemon) -> ReloadReport {
        self.refresh(daemon, Instant::now(), "reload")
    }

    /// One refresh: each primary in turn, IXFR from what is held (AXFR if that fails for any reason
    /// but the connection), until one is current or gives a zone that is served.
    fn refresh(&self, daemon: &Daemon, since: Instant, cause: &'static str) -> ReloadReport {
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let held = self.lock().records.clone();
        let old_serial = daemon.state.load().zone.serial;
        let mut errors = Vec::new();
        for p in &self.conf.primaries {
            let mut got = xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), Some(&held));
            if let Err(e) = &got
                && !matches!(e, XfrError::Connect(_) | XfrError::Behind(_))
            {
                log::warn!("secondary: IXFR from {p} failed ({e}); trying AXFR");
                got = xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), None);
            }
            match got {
                Ok(Fetched::Current(serial)) => return self.current(daemon, p, serial, old_serial, since),
                Ok(Fetched::Zone { records, serial, ixfr }) => {
                    let how = if ixfr { "IXFR" } else { "AXFR" };
                    match self.serve(daemon, &records, p, how, serial, since) {
                        Ok(report) => return report,
                        Err(e) => {
                            self.lock().refused += 1;
                            log::error!("secondary: {how} of serial {serial} from {p} refused, serial {old_serial} still serving: {e}");
                            errors.push(format!("{p}: {how} of serial {serial} refused: {e}"));
                            // An IXFR applied to a copy that has drifted from the primary's: the whole
                            // zone once, from the same primary.
                            if ixfr
                                && let Ok(Fetched::Zone { records, serial, .. }) =
                                    xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), None)
                            {
                                match self.serve(daemon, &records, p, "AXFR", serial, since) {
                                    Ok(report) => return report,
                                    Err(e) => errors.push(format!("{p}: AXFR of serial {serial} refused: {e}")),
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    log::error!("secondary: refresh from {p} failed: {e}");
                    errors.push(format!("{p}: {e}"));
                }
            }
        }
        let mut i = self.lock();
        i.failures += 1;
        i.next = Instant::now() + i.timers.retry;
        i.last_result = format!("failed ({cause}): {}", errors.join("; "));
        log::warn!("secondary: refresh failed; next try in {:?}", i.timers.retry);
        ReloadReport {
            ok: false,
            old_serial,
            new_serial: None,
            zone: "primaries".into(),
            millis: ms(since),
            error: Some(i.last_result.clone()),
        }
    }

    /// The primary has the serial held: the zone is current again.
    fn current(&self, daemon: &Daemon, p: &SocketAddr, serial: u32, held: u32, since: Instant) -> ReloadReport {
        let was_expired = std::mem::replace(&mut self.lock().expired, false);
        if was_expired {
            match daemon.unexpire() {
                Ok(()) => log::warn!("secondary: {p} confirms serial {held}: serving it again"),
                Err(e) => log::error!("secondary: serving serial {held} again failed: {e}"),
            }
        }
        // The cache's time says when the zone was last known current (for the expiry after a restart).
        if let Ok(f) = std::fs::File::options().append(true).open(&self.conf.cache) {
            let _ = f.set_modified(SystemTime::now());
        }
        let mut i = self.lock();
        i.up_to_date += 1;
        i.last_refresh = Some(SystemTime::now());
        i.next = Instant::now() + i.timers.refresh;
        i.expires = Instant::now() + i.timers.expire;
        i.last_result = format!("serial {held} current at {p} (it has {serial})");
        ReloadReport { ok: true, old_serial: held, new_serial: Some(held), zone: p.to_string(), millis: ms(since), error: None }
    }

    /// Check and serve a transferred zone, then keep it and write the cache.
    fn serve(
        &self,
        daemon: &Daemon,
        records: &RecordSet,
        p: &SocketAddr,
        how: &str,
        serial: u32,
        since: Instant,
    ) -> Result<ReloadReport, String> {
        let zone = records.to_zone(&label(p, how, serial), &LoadOptions { no_zonemd: !self.zonemd }).map_err(|e| e.to_string())?;
        let report = daemon.install(zone, &self.conf.cache, since);
        if !report.ok {
            return Err(report.error.unwrap_or_default());
        }
        let latency = ms(since);
        // Served now: a cache that cannot be written is logged, the state below still follows the zone.
        if let Err(e) = records.to_text().map_err(std::io::Error::other).and_then(|text| write_atomically(&self.conf.cache, &text)) {
            log::error!(
                "secondary: writing the cache {}: {e} (the zone is served; a restart would not have it)",
                self.conf.cache.display()
            );
        }
        log::info!("secondary: serial {serial} by {how} from {p} served {latency:.0} ms after its trigger ({} records)", records.len());
        let mut i = self.lock();
        i.records = records.clone();
        i.timers = Timers::of(records);
        i.transfers += 1;
        i.expired = false;
        i.last_refresh = Some(SystemTime::now());
        i.next = Instant::now() + i.timers.refresh;
        i.expires = Instant::now() + i.timers.expire;
        i.last_result = format!("serial {serial} by {how} from {p}");
        i.last_transfer =
            Some(json!({ "serial": serial, "how": how, "primary": p.to_string(), "latency_ms": latency, "records": records.len() }));
        Ok(report)
    }

    /// For `stats`.
    pub fn report(&self) -> Value {
        let i = self.lock();
        let now = Instant::now();
        let unix = |t: Option<SystemTime>| t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map(|d| d.as_secs());
        json!({
            "primaries": self.conf.primaries.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "tsig": self.conf.key.as_ref().map(|k| format!("{} {}", k.algorithm(), k.name())),
            "serial": i.records.serial(),
            "last_refresh_unix": unix(i.last_refresh),
            "last_result": i.last_result,
            "next_refresh_s": i.next.saturating_duration_since(now).as_secs(),
            "expires_in_s": i.expires.saturating_duration_since(now).as_secs(),
            "expired": i.expired,
            "refresh_s": i.timers.refresh.as_secs(),
            "retry_s": i.timers.retry.as_secs(),
            "expire_s": i.timers.expire.as_secs(),
            "transfers": i.transfers,
            "up_to_date": i.up_to_date,
            "failures": i.failures,
            "refused": i.refused,
            "notifies": i.notifies,
            "last_transfer": i.last_transfer,
        })
    }
}

fn label(p: &SocketAddr, how: &str, serial: u32) -> std::path::PathBuf {
    format!("{how} of serial {serial} from {p}").into()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
