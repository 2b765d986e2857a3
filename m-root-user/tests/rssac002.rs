//! RSSAC002 from known traffic: dnspython sends a fixed mix (UDP and TCP, IPv4 and IPv6, several
//! kinds and rcodes) from several source addresses to the daemon in its default mode behind a bare
//! peer, so the kernel programs answer part of it (their per-day counts read from their maps) and
//! userspace the rest; the daemon is restarted and the mix sent again. `m-root-xdp rssac002` then
//! writes the day's files, which PyYAML reads: every count equals what the client sent and received,
//! by transport, family, rcode and size bucket (buckets computed here from the lengths the client
//! measured), and the unique sources are exact; `ta-report` counts the key tag's sources once each.
//! The same totals come from the state file once the daemon is stopped.
//!
//! Needs root, iproute2, the venv dnspython (scripts/setup.sh) and Debian's python3-yaml.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{BIN, CLI4, CLI6, Lab, SRV4, SRV6, root_dir, sh};
use serde_json::Value;

const PYTHON: &str = "/opt/m-root-xdp/venv/bin/python3";

/// RSSAC002's bucket label of a message of `len` octets, whose last bucket starts at `last`.
fn label(len: u64, last: u64) -> String {
    let lo = len / 16 * 16;
    if lo >= last { format!("{last}-") } else { format!("{lo}-{}", lo + 15) }
}

fn traffic(lab: &Lab, sources: &[&str]) -> Value {
    let script = root_dir().join("m-root-user/tests/clients/rssac002_traffic.py");
    let script = script.display().to_string();
    let mut args = vec![PYTHON, script.as_str(), SRV4, SRV6];
    args.extend_from_slice(sources);
    serde_json::from_str(&sh(&mut Lab::in_ns(&lab.cli_ns(), &args))).expect("traffic JSON")
}

/// The files of `dir` as PyYAML reads them: metric -> document.
fn read_files(dir: &Path) -> BTreeMap<String, Value> {
    let py = "import json, sys, yaml, pathlib\nout = {}\nfor p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n    \
              d = yaml.safe_load(p.read_text())\n    out[d['metric']] = d\n    assert p.name.startswith('m-root-'), p.name\n\
              print(json.dumps(out, default=str))\n";
    let out = sh(Command::new("/usr/bin/python3").args(["-c", py]).arg(dir));
    serde_json::from_str(&out).expect("yaml as JSON")
}

#[test]
fn rssac002_files_count_exactly_what_was_sent_across_a_restart() {
    let mut lab = Lab::up("rsc");
    let (cli, cif, srv, sif) = (lab.cli_ns(), lab.cli_if(), lab.srv_ns(), lab.srv_if());
    // Sources: three IPv4, three IPv6 in two /64s (the second on-link for the server too).
    let extra = ["198.18.0.20", "198.18.0.21", "2001:db8::20", "2001:db8:0:1::20"];
    for a in extra {
        let plen = if a.contains(':') { "/64" } else { "/24" };
        sh(&mut Lab::in_ns(&cli, &["ip", "addr", "add", &format!("{a}{plen}"), "dev", &cif, "nodad"]));
    }
    sh(&mut Lab::in_ns(&srv, &["ip", "-6", "route", "add", "2001:db8:0:1::/64", "dev", &sif]));
    let sources = [CLI4, "198.18.0.20", "198.18.0.21", CLI6, "2001:db8::20", "2001:db8:0:1::20"];

    let dir = std::env::temp_dir().join(format!("m-root-xdp-rssac002-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("rssac002.state");
    let config = dir.join("m-root-xdp.toml");
    std::fs::write(
        &config,
        format!("[rssac002]\nservice = \"m.root-servers.net\"\nstate = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:9153\"\n", state.display()),
    )
    .unwrap();
    let cfg = config.display().to_string();

    let (pid, _) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg]);
    let first = traffic(&lab, &sources);
    // A restart: the new daemon's maps and counters start from nothing; the state file has the first.
    lab.stop(pid);
    let (pid, control) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg]);
    let second = traffic(&lab, &sources);
    // Both paths answered part of the mix, so the totals below add the kernel's day counts to userspace's.
    let stats = common::daemon_stats(&control);
    assert!(common::xdp_answered(&stats) > 0, "the kernel answered: {stats}");
    assert!(stats["userspace"]["server"]["udp_responses"].as_u64().unwrap_or(0) > 0, "userspace answered: {stats}");
    // RFC 8145's report: `_ta-4f66.` came from every source, over UDP and TCP; each source once.
    let report = sh(Command::new(BIN).args(["ta-report", "--json", "--control"]).arg(&control));
    let report: Value = serde_json::from_str(&report).expect("ta-report --json");
    assert_eq!(report["sources"], serde_json::json!([["ta.4f66", sources.len()]]), "{report}");

    let out = dir.join("out");
    let listing = sh(Command::new(BIN).args(["rssac002", "--out"]).arg(&out).arg("--control").arg(&control));
    assert_eq!(listing.lines().count(), 6, "{listing}");
    let files = read_files(&out);
    check(&files, &[&first, &second]);
    // For the README's examples (--nocapture): two of the files, and the second run's query counts as
    // Prometheus scrapes them.
    for metric in ["traffic-volume", "unique-sources"] {
        let path = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().ends_with(&format!("-{metric}.yaml")));
        println!("{}:\n{}", metric, std::fs::read_to_string(path.unwrap()).unwrap());
    }
    let scrape = sh(&mut Lab::in_ns(&srv, &["curl", "-s", "http://127.0.0.1:9153/metrics"]));
    for line in scrape.lines().filter(|l| l.starts_with("m_root_xdp_queries_total") || l.contains("responses_total{")) {
        println!("{line}");
    }

    // Stopped: the same totals from the state file alone.
    lab.stop(pid);
    let out2 = dir.join("out2");
    sh(Command::new(BIN).args(["rssac002", "--out"]).arg(&out2).arg("--state").arg(&state).args(["--control", "/nonexistent"]));
    assert_eq!(read_files(&out2), files, "the state file holds what the daemon reported");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file against the sum of what the client runs sent.
fn check(files: &BTreeMap<String, Value>, runs: &[&Value]) {
    let sum = |path: &dyn Fn(&Value) -> u64| runs.iter().map(|r| path(r)).sum::<u64>();
    for (metric, d) in files {
        assert_eq!(d["version"], "rssac002v5", "{metric}");
        assert_eq!(d["service"], "m.root-servers.net", "{metric}");
    }
    let tv = &files["traffic-volume"];
    for (what, key) in [("queries-received", "queries"), ("responses-sent", "responses")] {
        for (tr, trn) in ["udp", "tcp"].iter().enumerate() {
            for (f, fam) in ["ipv4", "ipv6"].iter().enumerate() {
                let want = sum(&|r: &Value| r[key][tr][f].as_u64().unwrap());
                assert_eq!(tv[format!("dns-{trn}-{what}-{fam}")], want, "{trn} {what} {fam}");
            }
        }
    }
    let sizes = &files["traffic-sizes"];
    for (key, tr, which, last) in [
        ("udp-request-sizes", 0, "request_sizes", 288),
        ("tcp-request-sizes", 1, "request_sizes", 288),
        ("udp-response-sizes", 0, "response_sizes", 4096),
        ("tcp-response-sizes", 1, "response_sizes", 4096),
    ] {
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for r in runs {
            for len in r[which][tr].as_array().unwrap() {
                *want.entry(label(len.as_u64().unwrap(), last)).or_default() += 1;
            }
        }
        let got: BTreeMap<String, u64> = sizes[key].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
        assert_eq!(got, want, "{key}");
    }
    let mut rcodes: BTreeMap<String, u64> = BTreeMap::new();
    for r in runs {
        for (code, n) in r["rcodes"].as_object().unwrap() {
            *rcodes.entry(code.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    let got: BTreeMap<String, u64> = files["rcode-volume"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.parse::<u32>().is_ok())
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got, rcodes, "rcode-volume");
    let us = &files["unique-sources"];
    for (i, key) in ["num-sources-ipv4", "num-sources-ipv6", "num-sources-ipv6-aggregate"].iter().enumerate() {
        assert_eq!(us[key], runs[0]["sources"][i], "{key}: the same sources in both runs");
    }
    // Both daemons loaded the bundled zone at start: no new serial was loaded today.
    assert!(files["load-time"]["time"].as_object().is_some_and(|t| t.is_empty()), "{}", files["load-time"]);
}
