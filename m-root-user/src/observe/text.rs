//! `m-root-xdp stats` as text: the zone, every kernel counter and signal, how each interface is
//! deployed, and the userspace counters under NSD's names (`nsd-control stats`) where NSD has one.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use super::Count;
use super::kernel::spill_lost_key;

/// NSD's names for the userspace counts: each the sum of the counts listed.
const NSD: [(&str, &[Count]); 24] = [
    ("num.queries", &[Count::UdpQueries, Count::TcpQueries]),
    ("num.udp", &[Count::UdpQueries]),
    ("num.tcp", &[Count::TcpQueries]),
    ("num.answer.udp", &[Count::UdpResponses]),
    ("num.answer.tcp", &[Count::TcpResponses]),
    ("num.truncated", &[Count::Truncated]),
    ("num.dropped", &[Count::Dropped]),
    ("num.tcp.connections", &[Count::TcpConnections]),
    ("num.tcp.refused", &[Count::TcpRefused]),
    // NSD counts these as num.rrl.drop and num.rrl.truncated; the rest are m-root-xdp's own.
    ("num.rrl.drop", &[Count::RrlDropped]),
    ("num.rrl.truncated", &[Count::RrlSlipped]),
    ("num.rrl.exempt", &[Count::RrlExempt]),
    ("num.rrl.would-limit", &[Count::RrlWouldLimit]),
    ("num.acl.drop", &[Count::AclDropped]),
    ("num.rrl.drop.tld", &[Count::RrlDroppedTld]),
    ("num.rrl.drop.nxdomain", &[Count::RrlDroppedNxdomain]),
    ("num.rrl.drop.apex", &[Count::RrlDroppedApex]),
    ("num.rrl.drop.error", &[Count::RrlDroppedError]),
    ("num.rrl.truncated.tld", &[Count::RrlSlippedTld]),
    ("num.rrl.truncated.nxdomain", &[Count::RrlSlippedNxdomain]),
    ("num.rrl.truncated.apex", &[Count::RrlSlippedApex]),
    ("num.rrl.truncated.error", &[Count::RrlSlippedError]),
    ("num.cookie.valid", &[Count::CookieValid]),
    ("num.cookie.bad", &[Count::CookieBad]),
];

/// The lists of the userspace report, by the prefix their entries print under.
const NSD_GROUPS: [(&str, &str); 4] = [("num.rcode", "rcodes"), ("num.kind", "kinds"), ("num.type", "qtypes"), ("num.signal", "signals")];

/// What each interface's report prints, in this order, as `iface.<name>.<key>` (absent and null ones
/// left out), and last the spill queue's losses.
const IFACE_KEYS: [&str; 8] = ["driver", "mode", "xdp", "tc", "xdp_tx", "reason", "device.xdp_tx_errors", "xdp_tx_errors_while_sending"];

/// One line: the name padded to 32 columns, then the value.
fn line(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name:<32} {value}");
}

/// The text of `stats`: `user` is the daemon's own report (None: no daemon answered on `control`),
/// `kernel` the kernel report (`super::gather`).
pub fn render(user: Option<&Value>, kernel: &Value, control: &Path) -> String {
    let mut out = String::new();
    match user {
        Some(u) => {
            line(&mut out, "zone.serial", &u["zone.serial"]);
            line(&mut out, "zone.file", u["zone.file"].as_str().unwrap_or("?"));
            line(&mut out, "zone.load-ms", format!("{:.0}", u["zone.load_ms"].as_f64().unwrap_or(0.0)));
            line(&mut out, "uptime-s", &u["uptime_s"]);
            line(&mut out, "reloads.ok", &u["reloads.ok"]);
            line(&mut out, "reloads.failed", &u["reloads.failed"]);
            // A secondary: where the zone comes from, and when it refreshes and expires.
            for section in ["secondary", "anycast"] {
                for (key, v) in u[section].as_object().into_iter().flatten() {
                    let shown = match v {
                        Value::Null => continue,
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    line(&mut out, &format!("{section}.{}", key.replace('_', "-")), shown);
                }
            }
        }
        None => {
            let _ = writeln!(out, "userspace: no answer on {} (daemon stopped or not running)", control.display());
        }
    }
    if let Some(k) = kernel.as_object() {
        for (c, v) in k.iter().filter(|(_, v)| v.is_u64()) {
            line(&mut out, c, v);
        }
        for (c, v) in k.get("signals").and_then(|s| s.as_object()).into_iter().flatten() {
            line(&mut out, c, v);
        }
        for (i, d) in k.get("interfaces").and_then(|s| s.as_object()).into_iter().flatten() {
            for key in IFACE_KEYS.iter().map(|k| k.to_string()).chain([spill_lost_key()]) {
                if let Some(v) = d.get(&key).filter(|v| !v.is_null()) {
                    line(&mut out, &format!("iface.{i}.{key}"), v.as_str().map_or_else(|| v.to_string(), str::to_string));
                }
            }
        }
    }
    if let Some(u) = user {
        let srv = &u["server"];
        let n = |c: &Count| srv[c.key()].as_u64().unwrap_or(0);
        for (name, counts) in NSD {
            line(&mut out, name, counts.iter().map(n).sum::<u64>());
        }
        for (group, key) in NSD_GROUPS {
            for pair in srv[key].as_array().into_iter().flatten() {
                line(&mut out, &format!("{group}.{}", pair[0].as_str().unwrap_or("?")), &pair[1]);
            }
        }
    }
    out
}
