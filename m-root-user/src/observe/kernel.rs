//! The kernel side of the report: the XDP and TC programs' counters (summed over CPUs, and over
//! interfaces at the top level), their trust-anchor signals, and per interface how it is deployed. The
//! daemon builds this for its control socket, so `stats` works from wherever the socket is reachable
//! (another mount namespace, `ip netns exec`, a container); `stats --iface` builds it from the pinned
//! maps when no daemon answers (one stopped with SIGSTOP, or killed: a clean stop removes its pins).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use m_root_common::{Counter, Hook};

use super::user::signal_name;
use crate::dataplane::{self, Dataplane, counter_key};

/// Counters and signals of one loaded object (the XDP and TC programs on one interface), as `stats`
/// names them.
pub struct Counts {
    pub counters: Vec<(String, u64)>,
    pub signals: Vec<(u32, u16, u64)>,
}

impl Counts {
    pub fn of(dp: &Dataplane) -> anyhow::Result<Counts> {
        Ok(Counts { counters: dp.counters()?, signals: dp.signals()? })
    }

    pub fn pinned(iface: &str) -> anyhow::Result<Counts> {
        Ok(Counts { counters: dataplane::pinned_counters(iface)?, signals: dataplane::pinned_signals(iface).unwrap_or_default() })
    }
}

/// The name `stats` gives what the cpumap's queues dropped.
pub fn spill_lost_key() -> String {
    format!("{}.lost", counter_key(Hook::Xdp, Counter::Spilled))
}

/// What the cpumap's queues dropped: queries handed to another CPU that never arrived there.
fn spill_lost(c: &BTreeMap<String, u64>) -> u64 {
    let get = |k: Counter| c.get(&counter_key(Hook::Xdp, k)).copied().unwrap_or(0);
    get(Counter::Spilled).saturating_sub(get(Counter::SpillArrived))
}

/// `{ <counter>: n (summed), "xdp.pass.to-cpu.lost": n, "signals": {..}, "interfaces": {iface:
/// {..}} }`. `interfaces` holds (name, deployment details, counts).
pub fn report(interfaces: Vec<(String, Value, Counts)>) -> Value {
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    let mut signals: BTreeMap<String, u64> = BTreeMap::new();
    let mut per = Map::new();
    for (iface, mut details, counts) in interfaces {
        let mut mine = BTreeMap::new();
        for (k, v) in &counts.counters {
            *total.entry(k.clone()).or_default() += v;
            mine.insert(k.clone(), *v);
        }
        for (kind, tag, n) in &counts.signals {
            *signals.entry(format!("xdp.signal.{}", signal_name(*kind, *tag))).or_default() += n;
        }
        let lost = spill_lost(&mine);
        if let Value::Object(o) = &mut details {
            o.insert("counters".into(), json!(mine));
            o.insert(spill_lost_key(), lost.into());
        }
        per.insert(iface, details);
    }
    let lost = spill_lost(&total);
    let mut out: Map<String, Value> = total.into_iter().map(|(k, v)| (k, v.into())).collect();
    out.insert(spill_lost_key(), lost.into());
    out.insert("signals".into(), json!(signals));
    out.insert("interfaces".into(), Value::Object(per));
    out.into()
}

/// The kernel part of the daemon's report: every attached dataplane's counters, with how it was
/// deployed and what txwatch saw.
pub fn of_daemon(planes: &[Dataplane]) -> Value {
    let mut list = Vec::new();
    for dp in planes {
        let Some((iface, plan, on)) = &dp.attached else { continue };
        let details = json!({
            "driver": dataplane::driver_name(iface),
            "mode": plan.mode,
            "xdp": on.xdp.map(crate::deploy::xdp_mode_name),
            "tc": on.tc,
            "xdp_tx": dp.xdp_tx().unwrap_or(false),
            "adapts": plan.adapts,
            "reason": plan.reason,
            // Read now: the device's own count, whoever's frames it is.
            "device.xdp_tx_errors": crate::txwatch::read(iface),
            "xdp_tx_errors_while_sending": dp.tx_errors_seen,
        });
        match Counts::of(dp) {
            Ok(c) => list.push((iface.clone(), details, c)),
            Err(e) => log::warn!("{iface}: reading counters: {e:#}"),
        }
    }
    report(list)
}
