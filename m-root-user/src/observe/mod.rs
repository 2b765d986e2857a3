//! What m-root-xdp says about itself. `user` holds the userspace server's counters, `kernel` the
//! programs' counters and how each interface is deployed; [`report`] puts them together with the zone
//! as the control socket sends them, and `text` prints that as `m-root-xdp stats` shows it (userspace
//! counters under NSD's names). `prom` makes the same counters Prometheus metric families, which
//! `endpoint` serves at GET /metrics (`[metrics]`), reading them at scrape time rather than through
//! [`report`], whose kernel part takes the dataplanes' lock. `parse` reads what the counters need from
//! a message.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::daemon::Daemon;

pub mod daily;
pub mod daystate;
pub mod dnstap;
pub mod dnstap_kernel;
pub mod endpoint;
mod fstrm;
pub mod hll;
pub mod kernel;
mod parse;
pub mod prom;
pub mod rssac002;
pub mod text;
pub mod user;

pub use parse::edns_key_tags;
pub use user::{Count, Snapshot, Stats, kind_of, signal_name};

/// The daemon's report (`{"cmd":"stats"}` on the control socket): the zone it serves, its userspace
/// counters (`server`) and the kernel programs' (`kernel`).
pub fn report(d: &Daemon) -> Value {
    let st = d.state.load();
    let (path, at, ms) = d.loaded();
    json!({
        "zone.serial": st.zone.serial,
        "zone.tlds": st.zone.tlds.len(),
        "zone.file": path.display().to_string(),
        "zone.loaded_unix": at.duration_since(UNIX_EPOCH).map(|x| x.as_secs()).unwrap_or(0),
        "zone.load_ms": ms,
        "uptime_s": d.started.elapsed().as_secs(),
        "reloads.ok": d.reloads.ok.load(std::sync::atomic::Ordering::Relaxed),
        "reloads.failed": d.reloads.failed.load(std::sync::atomic::Ordering::Relaxed),
        "server": d.stats.snapshot().to_json(),
        "kernel": kernel::of_daemon(&d.planes.lock().unwrap_or_else(|p| p.into_inner())),
        "secondary": d.secondary.get().map(|s| s.report()),
        "anycast": d.anycast.get().map(|a| a.report()),
    })
}

/// What `m-root-xdp stats` shows: the daemon's report asked over `control`, split into its own part
/// (None when no daemon answers) and the kernel's; with no daemon answering and `iface` given, the
/// kernel counters of that interface from the pinned maps.
pub fn gather(iface: Option<&str>, control: &Path) -> Result<(Option<Value>, Value)> {
    match (crate::control::request(control, "stats", Duration::from_secs(2)), iface) {
        (Ok(mut u), _) => {
            let kernel = u.as_object_mut().and_then(|o| o.remove("kernel")).unwrap_or(Value::Null);
            Ok((Some(u), kernel))
        }
        (Err(e), Some(i)) => {
            let counts = kernel::Counts::pinned(i).with_context(|| format!("no daemon answers on {} ({e:#})", control.display()))?;
            Ok((None, kernel::report(vec![(i.to_string(), json!({ "from": "pinned maps" }), counts)])))
        }
        (Err(e), None) => bail!(
            "no daemon answers on {} ({e:#}); give --control PATH, or --iface IFACE for the pinned kernel counters of a stopped daemon",
            control.display()
        ),
    }
}

/// `stats --json`: the kernel report at the top level, the daemon's own under "userspace" (null when
/// no daemon answered).
pub fn to_json(user: Option<Value>, kernel: Value) -> Value {
    let mut o = match kernel {
        Value::Object(o) => o,
        _ => serde_json::Map::new(),
    };
    o.insert("userspace".into(), user.unwrap_or(Value::Null));
    Value::Object(o)
}
