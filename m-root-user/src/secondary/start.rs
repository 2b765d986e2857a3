//! What a secondary starts with: the cache (the last good zone, its age counting towards expiry), else
//! the zone file, else a transfer awaited from the primaries; and the cache's durable write.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zonegen::{LoadOptions, Zone};

use super::conf::Conf;
use super::service::{Secondary, label, ms};
use super::xfr::{self, Fetched};

/// Write `text` to `path` atomically and durably: a new file beside it, flushed to the disk, renamed
/// over the old, then the directory flushed. Without the flushes a crash can leave the rename on disk
/// and the data not (an empty or short cache, refused at the next start), or lose the rename.
pub(super) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

/// The zone a daemon starts with.
pub struct Start {
    pub zone: Zone,
    /// Where it came from (the cache, the zone file).
    pub path: PathBuf,
    /// How long ago it was last known current; None for a zone file (taken as current).
    pub age: Option<Duration>,
    /// The transfer that brought it, when no cache or file did (for `stats`' last transfer).
    pub transfer: Option<Value>,
}

impl Secondary {
    /// The first zone: the cache (the last good zone, whose age counts towards expiry), else `zone_file`,
    /// else a transfer from the primaries (waiting for one that gives it). With where it came from, and
    /// how long ago it was last known current (None for a file).
    /// None: `stop` was set (SIGTERM) before any primary gave the zone.
    pub fn starting_zone(c: &Conf, zone_file: Option<&Path>, zonemd: bool, stop: &AtomicBool) -> Option<Start> {
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
                    return Some(Start { zone: z, path: c.cache.clone(), age: age.or(Some(Duration::ZERO)), transfer: None });
                }
                Err(e) => log::warn!("secondary: the cache is not usable ({e}); trying the zone file, then the primaries"),
            }
        }
        if let Some(path) = zone_file {
            match Zone::load(path, &opts) {
                Ok(z) => return Some(Start { zone: z, path: path.to_path_buf(), age: None, transfer: None }),
                Err(e) => log::warn!("secondary: zone file refused ({e}); transferring from the primaries"),
            }
        }
        log::info!("secondary: no cache, no zone file: transferring the zone from {:?}", c.primaries);
        let (zone, transfer) = Self::first_zone(c, zonemd, stop)?;
        Some(Start { zone, path: c.cache.clone(), age: Some(Duration::ZERO), transfer: Some(transfer) })
    }

    /// The zone with no cache and no file: transfer it (AXFR), trying the primaries in turn until one
    /// gives a zone that passes the checks; says why each try failed. Nothing is served meanwhile (no
    /// socket is bound yet), so `stop` is looked at often: a SIGTERM ends the wait within a second or
    /// a connect timeout.
    fn first_zone(conf: &Conf, zonemd: bool, stop: &AtomicBool) -> Option<(Zone, Value)> {
        let mut wait = Duration::from_secs(1);
        let mut tries = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tries += 1;
            for p in &conf.primaries {
                let t = Instant::now();
                match xfr::fetch(*p, conf.source, conf.key.as_ref(), None) {
                    Ok(Fetched::Zone { records, serial, .. }) => match records
                        .to_zone(&label(p, "AXFR", serial), &LoadOptions { no_zonemd: !zonemd })
                    {
                        Ok(zone) => {
                            if let Err(e) = records.to_text().map_err(std::io::Error::other).and_then(|t| write_atomically(&conf.cache, &t))
                            {
                                log::warn!("secondary: writing the cache {}: {e}", conf.cache.display());
                            }
                            log::info!(
                                "secondary: serial {serial} by AXFR from {p} (trigger start, try {tries}), {} records",
                                records.len()
                            );
                            // The kernel serves it only once the programs are attached: no latency to give.
                            let transfer = json!({ "serial": serial, "how": "AXFR", "trigger": "start", "primary": p.to_string(),
                                "latency_ms": null, "transfer_ms": ms(t), "records": records.len() });
                            return Some((zone, transfer));
                        }
                        Err(e) => log::error!("secondary: the zone from {p} (serial {serial}) is refused: {e}"),
                    },
                    Ok(Fetched::Current(_)) => log::error!("secondary: {p} answered an AXFR with one SOA"),
                    Err(e) => log::error!("secondary: no zone from {p}: {e}"),
                }
            }
            log::error!(
                "secondary: no cache, no zone file, and no primary gave the zone (try {tries}): not serving yet; trying again in {wait:?}"
            );
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&format!("waiting for a primary (try {tries})"))]);
            let until = Instant::now() + wait;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
        log::info!("secondary: stopped while waiting for the first zone");
        None
    }
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn the_cache_is_replaced_whole_and_no_temporary_file_stays() {
        let dir = std::env::temp_dir().join(format!("m-root-xdp-cache-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("root.zone");
        write_atomically(&path, "first\n").unwrap();
        write_atomically(&path, "second\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("root.zone")]);
        // A rename that cannot happen (a directory in the way) fails and leaves no temporary file.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(write_atomically(&blocked, "z").is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "only sub/ and blocked/");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
