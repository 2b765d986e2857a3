//! RSSAC002 version 5 files of one UTC day, named and laid out as rssac-caucus/RSSAC002-data has them
//! (`m-root-20261202-traffic-volume.yaml`, ...): traffic-volume, traffic-sizes, rcode-volume,
//! unique-sources and load-time; and beside them the unique-source registers, for a fleet to merge
//! (unique sources cannot be summed over instances; registers merge by the larger value per register).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use m_root_common::daily::{HLL_BITS, REQUEST_BUCKETS, RESPONSE_BUCKETS, SIZE_BUCKET};
use serde_json::json;
use time::Date;
use time::macros::format_description;

use super::daily::{DayTotals, IPV4, IPV6, TCP, UDP};

/// The RSSAC002 version written.
pub const VERSION: &str = "rssac002v5";

/// The file name prefix RSSAC002-data uses for a service: `m-root` for m.root-servers.net; other
/// services by their name with dots as dashes.
pub fn prefix(service: &str) -> String {
    match service.trim_end_matches('.').strip_suffix(".root-servers.net") {
        Some(letter) if !letter.contains('.') => format!("{letter}-root"),
        _ => service.trim_end_matches('.').replace('.', "-"),
    }
}

/// `YYYYMMDD`.
pub fn compact(date: Date) -> String {
    date.format(format_description!("[year][month][day]")).unwrap_or_default()
}

/// `YYYY-MM-DD`.
pub fn iso(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

pub fn parse_date(s: &str) -> Result<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).with_context(|| format!("{s:?} is not a date as YYYY-MM-DD"))
}

/// (file name, contents) of each file for `date`.
pub fn files(service: &str, date: Date, t: &DayTotals) -> Vec<(String, String)> {
    let head =
        |metric: &str| format!("---\nversion: {VERSION}\nservice: {service}\nstart-period: {}T00:00:00Z\nmetric: {metric}\n", iso(date));
    let name = |metric: &str, ext: &str| format!("{}-{}-{metric}.{ext}", prefix(service), compact(date));
    let mut out = Vec::new();

    let mut s = head("traffic-volume");
    for (what, a) in [("queries-received", &t.queries), ("responses-sent", &t.responses)] {
        for (tr, trn) in [(UDP, "udp"), (TCP, "tcp")] {
            for (f, fam) in [(IPV4, "ipv4"), (IPV6, "ipv6")] {
                let _ = writeln!(s, "dns-{trn}-{what}-{fam}: {}", a[tr][f]);
            }
        }
    }
    out.push((name("traffic-volume", "yaml"), s));

    // In the order RSSAC002-data's files have them; only the buckets that hold something.
    let mut s = head("traffic-sizes");
    for (key, counts, last) in [
        ("tcp-request-sizes", &t.request_sizes[TCP], REQUEST_BUCKETS),
        ("tcp-response-sizes", &t.response_sizes[TCP], RESPONSE_BUCKETS),
        ("udp-request-sizes", &t.request_sizes[UDP], REQUEST_BUCKETS),
        ("udp-response-sizes", &t.response_sizes[UDP], RESPONSE_BUCKETS),
    ] {
        let lines: Vec<String> = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(b, n)| {
                let lo = b * SIZE_BUCKET;
                if b + 1 >= last { format!("  {lo}-: {n}") } else { format!("  {lo}-{}: {n}", lo + SIZE_BUCKET - 1) }
            })
            .collect();
        if lines.is_empty() {
            let _ = writeln!(s, "{key}: {{}}");
        } else {
            let _ = writeln!(s, "{key}:\n{}", lines.join("\n"));
        }
    }
    out.push((name("traffic-sizes", "yaml"), s));

    let mut s = head("rcode-volume");
    for (code, n) in &t.rcodes {
        let _ = writeln!(s, "{code}: {n}");
    }
    out.push((name("rcode-volume", "yaml"), s));

    let mut s = head("unique-sources");
    for (key, set) in [("num-sources-ipv4", 0), ("num-sources-ipv6", 1), ("num-sources-ipv6-aggregate", 2)] {
        let _ = writeln!(s, "{key}: {}", t.sources[set].estimate());
    }
    out.push((name("unique-sources", "yaml"), s));

    let mut s = head("load-time");
    if t.load_times.is_empty() {
        s.push_str("time: {}\n");
    } else {
        s.push_str("time:\n");
        for (serial, secs) in &t.load_times {
            let _ = writeln!(s, "  {serial}: {secs}");
        }
    }
    out.push((name("load-time", "yaml"), s));

    let registers = json!({
        "service": service,
        "start-period": format!("{}T00:00:00Z", iso(date)),
        "hyperloglog": {
            "precision": HLL_BITS,
            "hash": "murmur3 fmix64 over the address as two little-endian words (IPv4 as ::ffff:a.b.c.d; /64: the first word, then 0), see m_root_common::daily",
            "merge": "the larger value per register",
        },
        "ipv4": t.sources[0],
        "ipv6": t.sources[1],
        "ipv6-aggregate": t.sources[2],
    });
    out.push((name("unique-sources-registers", "json"), format!("{registers:#}\n")));
    out
}

/// Write the files for `date` into `dir` (created if missing); returns their paths.
pub fn write(dir: &Path, service: &str, date: Date, t: &DayTotals) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::new();
    for (name, text) in files(service, date, t) {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        paths.push(p);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_layout_follow_rssac002_data() {
        assert_eq!(prefix("m.root-servers.net"), "m-root");
        assert_eq!(prefix("m.root-servers.net."), "m-root");
        assert_eq!(prefix("ns.example.jp"), "ns-example-jp");
        let date = parse_date("2026-12-02").unwrap();
        let mut t = DayTotals::default();
        t.queries[UDP][IPV4] = 5;
        t.request_sizes[UDP][2] = 4;
        t.request_sizes[UDP][REQUEST_BUCKETS - 1] = 1;
        t.response_sizes[UDP][RESPONSE_BUCKETS - 1] = 2;
        t.rcodes.insert(3, 5);
        t.load_times.insert(2026120200, 4);
        let f = files("m.root-servers.net", date, &t);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "m-root-20261202-traffic-volume.yaml",
                "m-root-20261202-traffic-sizes.yaml",
                "m-root-20261202-rcode-volume.yaml",
                "m-root-20261202-unique-sources.yaml",
                "m-root-20261202-load-time.yaml",
                "m-root-20261202-unique-sources-registers.json",
            ]
        );
        assert_eq!(
            f[0].1,
            "---\nversion: rssac002v5\nservice: m.root-servers.net\nstart-period: 2026-12-02T00:00:00Z\nmetric: traffic-volume\n\
             dns-udp-queries-received-ipv4: 5\ndns-udp-queries-received-ipv6: 0\ndns-tcp-queries-received-ipv4: 0\n\
             dns-tcp-queries-received-ipv6: 0\ndns-udp-responses-sent-ipv4: 0\ndns-udp-responses-sent-ipv6: 0\n\
             dns-tcp-responses-sent-ipv4: 0\ndns-tcp-responses-sent-ipv6: 0\n"
        );
        assert!(f[1].1.contains("tcp-request-sizes: {}\n"));
        assert!(f[1].1.contains("udp-request-sizes:\n  32-47: 4\n  288-: 1\n"));
        assert!(f[1].1.contains("udp-response-sizes:\n  4096-: 2\n"));
        assert!(f[2].1.ends_with("metric: rcode-volume\n3: 5\n"));
        assert!(f[3].1.ends_with("num-sources-ipv4: 0\nnum-sources-ipv6: 0\nnum-sources-ipv6-aggregate: 0\n"));
        assert!(f[4].1.ends_with("time:\n  2026120200: 4\n"));
        let regs: serde_json::Value = serde_json::from_str(&f[5].1).unwrap();
        assert_eq!(regs["ipv4"].as_str().unwrap().len(), 2 << HLL_BITS);
    }
}
