//! The secondary's clock and state: refresh at the SOA refresh timer, at a NOTIFY, or when asked
//! (`m-root-xdp reload`); on failure again at the retry timer; past expire with no successful refresh,
//! the zone is expired (the kernel programs pass everything up, userspace answers SERVFAIL) until a
//! refresh succeeds. A transferred zone goes through every check a file does and the daemon's serial
//! rule and switch, and is then written to the cache (write, then rename) for the next start.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use zonegen::records::RecordSet;
use zonegen::{LoadOptions, Zone};

use super::conf::Conf;
use super::start::write_atomically;
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

/// What asked for a refresh (start, notify, timer, reload) and when it arrived: the publication
/// latency runs from then.
#[derive(Clone, Copy)]
struct Trigger {
    since: Instant,
    cause: &'static str,
}

/// A zone as a transfer brought it.
struct Got<'a> {
    records: &'a RecordSet,
    p: &'a SocketAddr,
    how: &'static str,
    serial: u32,
}

/// What is held and when what happens next.
struct Inner {
    records: RecordSet,
    timers: Timers,
    next: Instant,
    expires: Instant,
    expired: bool,
    /// A refresh asked for (start, NOTIFY): when, and by what.
    pending: Option<(Instant, &'static str)>,
    last_refresh: Option<SystemTime>,
    last_result: String,
    transfers: u64,
    up_to_date: u64,
    failures: u64,
    refused: u64,
    notifies: u64,
    /// NOTIFY messages refused (a source outside notify_from, a bad signature): nothing done.
    notifies_refused: u64,
    /// The last NOTIFY acted on: from where, over UDP or TCP, signed or not.
    last_notify: Option<Value>,
    /// The last transfer served: serial, how, from where, what triggered it (start, notify, timer,
    /// reload), and the time from that trigger to the kernel paths serving it.
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

impl Secondary {
    /// Holding `zone` (from the cache or a file), whose last refresh was `age` ago (the cache's age; none
    /// for a file): refreshed at once (trigger "start"), expired when `age` reaches the SOA expire with no
    /// refresh. `transfer` is the first zone's transfer, when it came by one.
    pub fn new(conf: Conf, zonemd: bool, zone: &Zone, age: Option<Duration>, transfer: Option<Value>) -> Arc<Secondary> {
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
            pending: Some((now, "start")),
            last_refresh: None,
            last_result: "not yet refreshed".into(),
            transfers: u64::from(transfer.is_some()),
            up_to_date: 0,
            failures: 0,
            refused: 0,
            notifies: 0,
            notifies_refused: 0,
            last_notify: None,
            last_transfer: transfer,
        };
        Arc::new(Secondary { conf, zonemd, inner: Mutex::new(inner), wake: Condvar::new(), refreshing: Mutex::new(()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask for a refresh, for `cause` that arrived `at` (a NOTIFY); the clock thread does it. A refresh
    /// already asked for keeps its earlier trigger: the zone it brings answers both.
    pub fn trigger(&self, cause: &'static str, at: Instant) {
        let mut i = self.lock();
        if cause == "notify" {
            i.notifies += 1;
        }
        i.pending.get_or_insert((at, cause));
        self.wake.notify_all();
    }

    /// A NOTIFY acted on: a refresh asked for, and what `stats` says of the last one.
    pub(crate) fn notified(&self, peer: std::net::IpAddr, transport: &str, signed: bool, at: Instant) {
        self.lock().last_notify = Some(json!({ "from": peer.to_string(), "transport": transport, "tsig": signed }));
        self.trigger("notify", at);
    }

    /// A NOTIFY refused (not acted on), for `stats`.
    pub(crate) fn notify_refused(&self) {
        self.lock().notifies_refused += 1;
    }

    /// The daemon now serves `records`, loaded from a file by `reload` (the operator's choice, as a zone
    /// file at start is): the next IXFR asks from its serial, its SOA sets the timers, and the expiry
    /// starts again from now, so `expired` here says what the daemon does (it serves). Called with
    /// the daemon's reload lock held, so no expiry or transfer comes in between.
    pub(crate) fn adopt(&self, records: RecordSet) {
        let serial = records.serial().unwrap_or_default();
        let mut i = self.lock();
        i.timers = Timers::of(&records);
        i.records = records;
        if std::mem::replace(&mut i.expired, false) {
            log::warn!("secondary: serial {serial} loaded from a file: no longer expired");
        }
        i.expires = Instant::now() + i.timers.expire;
        i.last_result = format!("serial {serial} loaded from a file");
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
                    // Not while a refresh (from the control socket) may be switching a zone in; and
                    // decided again under the daemon's reload lock, which a reload from a file takes
                    // too: the expiry and a zone switched in meanwhile cannot cross.
                    if now >= i.expires
                        && !i.expired
                        && let Ok(no_refresh) = me.refreshing.try_lock()
                    {
                        drop(i);
                        daemon.expire_if(|| me.expire_now());
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

    /// Past expire with no refresh: mark the zone expired (true) unless a refresh or a file made it
    /// current meanwhile. With the daemon's reload lock held.
    fn expire_now(&self) -> bool {
        let mut i = self.lock();
        if Instant::now() < i.expires || i.expired {
            return false;
        }
        i.expired = true;
        log::error!(
            "secondary: zone serial {} EXPIRED: no successful refresh within the SOA expire ({:?}); answering SERVFAIL, the kernel paths pass everything",
            i.records.serial().unwrap_or_default(),
            i.timers.expire
        );
        true
    }

    /// Refresh now (the control socket's `reload`): what happened, as a reload reports it. With
    /// `force` (`reload --force`), the whole zone again by AXFR from the first primary that gives it,
    /// switched in whatever its serial (as `rndc retransfer`): for a copy suspected to have drifted.
    pub fn refresh_now(&self, daemon: &Daemon, force: bool) -> ReloadReport {
        match force {
            true => self.retransfer(daemon, Instant::now()),
            false => self.refresh(daemon, Instant::now(), "reload"),
        }
    }

    /// One refresh: each primary in turn, IXFR from what is held (AXFR if that fails for any reason
    /// but the connection, a serial behind ours or our key refused), until one is current or gives a
    /// zone that is served.
    fn refresh(&self, daemon: &Daemon, since: Instant, cause: &'static str) -> ReloadReport {
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let trigger = Trigger { since, cause };
        let held = self.lock().records.clone();
        let old_serial = daemon.state.load().zone.serial;
        let mut errors = Vec::new();
        for p in &self.conf.primaries {
            let mut got = xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), Some(&held));
            if let Err(e) = &got
                && !matches!(e, XfrError::Connect(_) | XfrError::Behind(_) | XfrError::Tsig { .. })
            {
                log::warn!("secondary: IXFR from {p} failed ({e}); trying AXFR");
                got = xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), None);
            }
            match got {
                Ok(Fetched::Current(serial)) => return self.current(daemon, p, serial, old_serial, since),
                Ok(Fetched::Zone { records, serial, ixfr }) => {
                    let how = if ixfr { "IXFR" } else { "AXFR" };
                    match self.serve(daemon, Got { records: &records, p, how, serial }, trigger, false) {
                        Ok(report) => return report,
                        Err(e) => {
                            errors.push(self.refused(p, how, serial, old_serial, &e));
                            // An IXFR applied to a copy that has drifted from the primary's: the whole
                            // zone once, from the same primary.
                            if ixfr
                                && let Ok(Fetched::Zone { records, serial, .. }) =
                                    xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), None)
                            {
                                match self.serve(daemon, Got { records: &records, p, how: "AXFR", serial }, trigger, false) {
                                    Ok(report) => return report,
                                    Err(e) => errors.push(self.refused(p, "AXFR", serial, old_serial, &e)),
                                }
                            }
                        }
                    }
                }
                Err(e) => errors.push(self.failed_from(p, &e)),
            }
        }
        self.failed(trigger, old_serial, &errors)
    }

    /// `reload --force`: AXFR from each primary in turn until one gives a zone that passes the checks,
    /// switched in even when its serial is not newer.
    fn retransfer(&self, daemon: &Daemon, since: Instant) -> ReloadReport {
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let trigger = Trigger { since, cause: "reload" };
        let old_serial = daemon.state.load().zone.serial;
        let mut errors = Vec::new();
        for p in &self.conf.primaries {
            match xfr::fetch(*p, self.conf.source, self.conf.key.as_ref(), None) {
                Ok(Fetched::Zone { records, serial, .. }) => {
                    match self.serve(daemon, Got { records: &records, p, how: "AXFR", serial }, trigger, true) {
                        Ok(report) => return report,
                        Err(e) => errors.push(self.refused(p, "AXFR", serial, old_serial, &e)),
                    }
                }
                Ok(Fetched::Current(serial)) => errors.push(format!("{p}: one SOA (serial {serial}) for an AXFR")),
                Err(e) => errors.push(self.failed_from(p, &e)),
            }
        }
        self.failed(trigger, old_serial, &errors)
    }

    /// A zone transferred and refused: counted, logged; what `stats` says of it.
    fn refused(&self, p: &SocketAddr, how: &str, serial: u32, old_serial: u32, e: &str) -> String {
        self.lock().refused += 1;
        log::error!("secondary: {how} of serial {serial} from {p} refused, serial {old_serial} still serving: {e}");
        format!("{p}: {how} of serial {serial} refused: {e}")
    }

    /// A transfer that failed: logged; what `stats` says of it.
    fn failed_from(&self, p: &SocketAddr, e: &XfrError) -> String {
        log::error!("secondary: refresh from {p} failed: {e}");
        format!("{p}: {e}")
    }

    /// No primary gave a zone: counted, and tried again at the retry timer.
    fn failed(&self, trigger: Trigger, old_serial: u32, errors: &[String]) -> ReloadReport {
        let mut i = self.lock();
        i.failures += 1;
        i.next = Instant::now() + i.timers.retry;
        i.last_result = format!("failed ({}): {}", trigger.cause, errors.join("; "));
        log::warn!("secondary: refresh failed (failure {}); next try in {:?}", i.failures, i.timers.retry);
        ReloadReport {
            ok: false,
            old_serial,
            new_serial: None,
            zone: "primaries".into(),
            millis: ms(trigger.since),
            error: Some(i.last_result.clone()),
        }
    }

    /// The primary has the serial held: the zone is current again (served again, if it had expired).
    fn current(&self, daemon: &Daemon, p: &SocketAddr, serial: u32, held: u32, since: Instant) -> ReloadReport {
        match daemon.unexpire_if(|| std::mem::replace(&mut self.lock().expired, false)) {
            Some(Ok(())) => log::warn!("secondary: {p} confirms serial {held}: serving it again"),
            Some(Err(e)) => log::error!("secondary: serving serial {held} again failed: {e}"),
            None => {}
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

    /// Check and serve a transferred zone (`force`: whatever its serial), then keep it and write the
    /// cache. What is held changes under the daemon's reload lock, with the switch: a reload from a
    /// file cannot come in between and be overwritten.
    fn serve(&self, daemon: &Daemon, got: Got<'_>, trigger: Trigger, force: bool) -> Result<ReloadReport, String> {
        let Got { records, p, how, serial } = got;
        let zone = records.to_zone(&label(p, how, serial), &LoadOptions { no_zonemd: !self.zonemd }).map_err(|e| e.to_string())?;
        let mut latency = 0.0;
        let report = daemon.install(zone, &self.conf.cache, trigger.since, force, || {
            // Served by the kernel paths from here: the publication latency.
            latency = ms(trigger.since);
            let mut i = self.lock();
            i.records = records.clone();
            i.timers = Timers::of(records);
            i.transfers += 1;
            i.expired = false;
            i.last_refresh = Some(SystemTime::now());
            i.next = Instant::now() + i.timers.refresh;
            i.expires = Instant::now() + i.timers.expire;
            i.last_result = format!("serial {serial} by {how} from {p}");
            i.last_transfer = Some(json!({ "serial": serial, "how": how, "trigger": trigger.cause, "primary": p.to_string(),
                "latency_ms": latency, "records": records.len() }));
        });
        if !report.ok {
            return Err(report.error.unwrap_or_default());
        }
        // Served now: a cache that cannot be written is logged, the state above still follows the zone.
        if let Err(e) = records.to_text().map_err(std::io::Error::other).and_then(|text| write_atomically(&self.conf.cache, &text)) {
            log::error!(
                "secondary: writing the cache {}: {e} (the zone is served; a restart would not have it)",
                self.conf.cache.display()
            );
        }
        log::info!(
            "secondary: serial {serial} by {how} from {p} (trigger {}) served by the kernel paths {latency:.0} ms after its trigger ({} records)",
            trigger.cause,
            records.len()
        );
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
            "notifies_refused": i.notifies_refused,
            "last_notify": i.last_notify,
            "last_transfer": i.last_transfer,
        })
    }
}

pub(super) fn label(p: &SocketAddr, how: &str, serial: u32) -> std::path::PathBuf {
    format!("{how} of serial {serial} from {p}").into()
}

pub(super) fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
