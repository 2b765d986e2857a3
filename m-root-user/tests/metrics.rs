//! GET /metrics (`[metrics]`) as Prometheus scrapes it: the daemon in a lab with a bare client peer
//! (`auto`: on veth no XDP program, the TC program answers every covered query and sheds the drop list's), a known
//! set of queries from several sources over IPv4 and IPv6, UDP and TCP, answered in the kernel and in
//! userspace, dropped by the drop list and limited by rate limiting; then one scrape with urllib, parsed
//! by prometheus_client's parsers (Prometheus text and OpenMetrics): every counter must say what was
//! sent, by path, transport, family, rcode and kind. Then scrapes in a loop during reloads and a query
//! load: none fails or waits long, answering goes on, every reload succeeds.
//!
//! Needs root, iproute2 and the venv scripts/setup.sh makes (prometheus-client).

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Lab, sh};
use serde_json::Value;
use zonegen::{LoadOptions, Zone, name, rr, wire};

const PYTHON: &str = "/opt/m-root-xdp/venv/bin/python3";
const URL: &str = "http://127.0.0.1:9153/metrics";
/// Sources answered (two per family), dropped by `[acl]`, flooding (rate limited), exempt (the load).
const SOURCES: [&str; 4] = ["198.18.0.2", "198.18.5.2", "2001:db8::2", "2001:db8:5::2"];
const DROPPED: [&str; 2] = ["198.18.7.2", "2001:db8:7::2"];
const FLOODER: &str = "198.18.9.2";
const EXEMPT: &str = "198.18.6.2";
const FLOOD: usize = 30;
const RELOADS: usize = 8;

/// (qname, qtype, class, EDNS (buffer, DO), EDNS options): the UDP queries each source sends once.
type Q = (&'static str, u16, u16, Option<(u16, bool)>, &'static [u8]);
const QUERIES: [Q; 10] = [
    ("com.", rr::NS, rr::CLASS_IN, None, &[]),
    ("nonexistent-tld-xyz.", rr::A, rr::CLASS_IN, Some((1232, true)), &[]),
    (".", rr::SOA, rr::CLASS_IN, None, &[]),
    ("_ta-4f66.", rr::A, rr::CLASS_IN, None, &[]),
    ("root-key-sentinel-is-ta-20326.", rr::A, rr::CLASS_IN, None, &[]),
    ("id.server.", rr::TXT, rr::CLASS_CH, None, &[]),
    ("version.bind.", rr::TXT, rr::CLASS_CH, None, &[]),
    (".", rr::ANY, rr::CLASS_IN, Some((1232, false)), &[]),
    // edns-key-tag (RFC 8145 section 5): 20326, 38696.
    (".", rr::DNSKEY, rr::CLASS_IN, Some((1232, true)), &[0, 14, 0, 4, 0x4f, 0x66, 0x97, 0x28]),
    // NSID.
    ("example.org.", rr::NS, rr::CLASS_IN, Some((1232, false)), &[0, 3, 0, 0]),
];
/// The kernel's kind of answer for the covered ones, by index in QUERIES.
const KERNEL_KINDS: [(usize, &str); 5] = [(0, "referral"), (1, "nxdomain-dnssec"), (2, "apex"), (3, "nxdomain"), (4, "nxdomain")];
/// Sent over TCP from the first source of each family.
const TCP: [usize; 4] = [0, 1, 2, 5];

fn query(id: u16, q: &Q) -> Vec<u8> {
    let (qname, qtype, class, edns, options) = *q;
    let mut m = wire::build_query(id, 0, &name::from_text(qname).unwrap(), qtype, class, edns);
    if !options.is_empty() {
        let n = m.len();
        m[n - 2..].copy_from_slice(&(options.len() as u16).to_be_bytes());
        m.extend_from_slice(options);
    }
    m
}

fn rcode_name(resp: &[u8]) -> &'static str {
    ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"].get((resp[3] & 0x0f) as usize).copied().unwrap_or("?")
}

fn family(src: &str) -> &'static str {
    if src.contains(':') { "ipv6" } else { "ipv4" }
}

fn server(src: &str) -> &'static str {
    if src.contains(':') { common::SRV6 } else { common::SRV4 }
}

/// What was sent and what came back, as the metrics must count it.
#[derive(Default)]
struct Expect {
    /// (path, transport, family) -> queries.
    queries: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    /// (path, rcode) -> responses.
    rcodes: BTreeMap<(&'static str, &'static str), u64>,
    /// kernel kind -> responses (TC's).
    kinds: BTreeMap<&'static str, u64>,
    slipped: u64,
    rrl_dropped: u64,
    truncated: u64,
}

fn udp_from(lab: &Lab, src: &str) -> UdpSocket {
    let (src, dst) = (src.to_string(), server(src));
    common::in_netns(&lab.cli_ns(), move || {
        let s = UdpSocket::bind((src.as_str(), 0)).expect("bind");
        s.connect((dst, 53)).unwrap();
        s
    })
}

fn ask(s: &UdpSocket, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    s.send(msg).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match s.recv(&mut buf) {
            Ok(n) if n >= 12 && buf[..2] == msg[..2] => return Some(buf[..n].to_vec()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Send everything of the first part; returns what the metrics must show.
fn send_all(lab: &Lab, zone: &Zone) -> Expect {
    let mut e = Expect::default();
    let mut id = 0x100u16;
    for src in SOURCES {
        let s = udp_from(lab, src);
        for (i, q) in QUERIES.iter().enumerate() {
            id += 1;
            let msg = query(id, q);
            let kernel = m_root_user::dataplane::xdp_covers(zone, &msg);
            assert_eq!(kernel, KERNEL_KINDS.iter().any(|(k, _)| *k == i), "query {i} ({}) covered in the kernel?", q.0);
            let path = if kernel { "tc" } else { "userspace" };
            let resp = ask(&s, &msg, Duration::from_secs(2)).unwrap_or_else(|| panic!("{} from {src}: no answer", q.0));
            *e.queries.entry((path, "udp", family(src))).or_default() += 1;
            *e.rcodes.entry((path, rcode_name(&resp))).or_default() += 1;
            if let Some((_, kind)) = KERNEL_KINDS.iter().find(|(k, _)| *k == i) {
                // The kernel counts an answer sent with TC=1 (no room for the required records) as that.
                let truncated = resp[2] & 0x02 != 0;
                e.truncated += truncated as u64;
                *e.kinds.entry(if truncated { "truncated" } else { kind }).or_default() += 1;
            }
        }
    }
    for src in [SOURCES[0], SOURCES[2]] {
        let dst = server(src);
        let answers: Vec<Vec<u8>> = common::in_netns(&lab.cli_ns(), || {
            let c = common::Client::new();
            TCP.iter().map(|&i| c.tcp(dst, &query(0x900 + i as u16, &QUERIES[i])).expect("a TCP answer")).collect()
        });
        for a in answers {
            *e.queries.entry(("userspace", "tcp", family(src))).or_default() += 1;
            *e.rcodes.entry(("userspace", rcode_name(&a))).or_default() += 1;
        }
    }
    // The drop list: TC drops them all, covered or not, before looking at the question.
    for src in DROPPED {
        let s = udp_from(lab, src);
        for (n, i) in [0usize, 5, 0].into_iter().enumerate() {
            assert!(ask(&s, &query(0x700 + n as u16, &QUERIES[i]), Duration::from_millis(300)).is_none(), "{src} is dropped");
            *e.queries.entry(("tc", "udp", family(src))).or_default() += 1;
        }
    }
    // A burst of one referral from one source: the burst (10) answered, then dropped and slipped in turn.
    let s = udp_from(lab, FLOODER);
    for n in 0..FLOOD {
        s.send(&query(0x800 + n as u16, &("net.", rr::NS, rr::CLASS_IN, Some((1232, false)), &[]))).unwrap();
    }
    let (mut full, mut buf) = (0u64, [0u8; 4096]);
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    while let Ok(n) = s.recv(&mut buf) {
        // A slip: TC=1 with no records.
        let records = u16::from_be_bytes([buf[6], buf[7]]) + u16::from_be_bytes([buf[8], buf[9]]);
        match n >= 12 && buf[2] & 0x02 != 0 && records == 0 {
            true => e.slipped += 1,
            false => full += 1,
        }
    }
    e.rrl_dropped = FLOOD as u64 - full - e.slipped;
    println!(
        "flood of {FLOOD}: {full} answered, {} slipped, {} dropped; {} kernel answers truncated",
        e.slipped, e.rrl_dropped, e.truncated
    );
    assert!(full >= 10 && e.slipped > 0 && e.rrl_dropped > 0, "limited");
    *e.queries.entry(("tc", "udp", "ipv4")).or_default() += FLOOD as u64;
    *e.rcodes.entry(("tc", "NOERROR")).or_default() += full + e.slipped;
    *e.kinds.entry("referral").or_default() += full;
    e
}

/// One scrape by the Python client: (content type, samples as [name, labels, value]).
fn scrape(lab: &Lab, openmetrics: bool) -> (String, Vec<Value>) {
    let script = common::root_dir().join("m-root-user/tests/clients/metrics_scrape.py");
    let mut args = vec![PYTHON, script.to_str().unwrap(), "once", URL];
    if openmetrics {
        args.push("openmetrics");
    }
    let out: Value = serde_json::from_str(&sh(&mut Lab::in_ns(&lab.srv_ns(), &args))).expect("scrape JSON");
    (out["content_type"].as_str().unwrap_or("").to_string(), out["samples"].as_array().unwrap().clone())
}

/// The sum of the samples named `name` whose labels include `labels`.
fn get(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> u64 {
    samples
        .iter()
        .filter(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v))
        .map(|s| s[2].as_f64().unwrap_or(f64::NAN) as u64)
        .sum()
}

fn check(samples: &[Value], e: &Expect) {
    let q = "m_root_xdp_queries_total";
    for ((path, transport, fam), n) in &e.queries {
        assert_eq!(get(samples, q, &[("path", path), ("transport", transport), ("family", fam)]), *n, "{q} {path} {transport} {fam}");
    }
    let sent: u64 = e.queries.values().sum();
    assert_eq!(get(samples, q, &[]), sent, "{q} in all: every query once");
    for ((path, rcode), n) in &e.rcodes {
        assert_eq!(get(samples, "m_root_xdp_responses_total", &[("path", path), ("rcode", rcode)]), *n, "responses {path} {rcode}");
    }
    for path in ["tc", "userspace", "xdp"] {
        let want: u64 = e.rcodes.iter().filter(|((p, _), _)| p == &path).map(|(_, n)| n).sum();
        assert_eq!(get(samples, "m_root_xdp_responses_total", &[("path", path)]), want, "responses by {path}, every rcode");
        assert_eq!(get(samples, "m_root_xdp_responses_by_kind_total", &[("path", path)]), want, "responses by {path}, every kind");
        assert_eq!(get(samples, "m_root_xdp_responses_sent_total", &[("path", path)]), want, "responses sent by {path}");
    }
    for (kind, n) in &e.kinds {
        assert_eq!(get(samples, "m_root_xdp_responses_by_kind_total", &[("path", "tc"), ("kind", kind)]), *n, "TC's {kind}");
    }
    let by = |metric: &str, labels: &[(&str, &str)]| get(samples, metric, labels);
    assert_eq!(by("m_root_xdp_responses_by_kind_total", &[("path", "tc"), ("kind", "slipped")]), e.slipped);
    assert_eq!(by("m_root_xdp_rrl_limited_total", &[("path", "tc"), ("action", "slipped"), ("class", "tld")]), e.slipped);
    assert_eq!(by("m_root_xdp_rrl_limited_total", &[("path", "tc"), ("action", "dropped"), ("class", "tld")]), e.rrl_dropped);
    assert_eq!(by("m_root_xdp_acl_dropped_total", &[("path", "tc")]), 6);
    assert_eq!(by("m_root_xdp_acl_dropped_total", &[("path", "xdp")]), 0, "no XDP program on veth in auto");
    assert_eq!(by("m_root_xdp_truncated_total", &[("path", "tc")]), e.slipped + e.truncated);
    // TC passed up what it does not cover.
    assert_eq!(by("m_root_xdp_passed_total", &[("path", "xdp")]), 0, "no XDP program on veth in auto");
    assert_eq!(
        by("m_root_xdp_passed_total", &[("path", "tc"), ("reason", "uncovered")]),
        by(q, &[("path", "userspace"), ("transport", "udp")])
    );
    let ta = "m_root_xdp_trust_anchor_signals_total";
    let n = SOURCES.len() as u64;
    assert_eq!(by(ta, &[("source", "ta_query"), ("key_tag", "20326")]), n, "_ta-4f66, answered in the kernel");
    assert_eq!(by(ta, &[("source", "sentinel"), ("sentinel", "is-ta"), ("key_tag", "20326")]), n);
    assert_eq!(by(ta, &[("source", "edns_key_tag"), ("key_tag", "20326")]), n, "edns-key-tag, answered in userspace");
    assert_eq!(by(ta, &[("source", "edns_key_tag"), ("key_tag", "38696")]), n);
    assert_eq!(by("m_root_xdp_zone_serial", &[]), 2026073102);
    assert_eq!(by("m_root_xdp_tcp_connections_total", &[("result", "admitted")]), 2 * TCP.len() as u64);
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn metrics_count_every_query_once_and_scrapes_never_wait_for_a_reload() {
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    let mut lab = Lab::up("prmet");
    let (cli, srv, dev) = (lab.cli_ns(), lab.srv_ns(), lab.srv_if());
    for a in ["198.18.5.2/24", "198.18.6.2/24", "198.18.7.2/24", "198.18.9.2/24"] {
        sh(&mut Lab::in_ns(&cli, &["ip", "addr", "add", a, "dev", &lab.cli_if()]));
        sh(&mut Lab::in_ns(&srv, &["ip", "route", "add", &a.replace(".2/24", ".0/24"), "dev", &dev]));
    }
    for a in ["2001:db8:5::2/64", "2001:db8:7::2/64"] {
        sh(&mut Lab::in_ns(&cli, &["ip", "addr", "add", a, "dev", &lab.cli_if(), "nodad"]));
        sh(&mut Lab::in_ns(&srv, &["ip", "route", "add", &a.replace("::2/64", "::/64"), "dev", &dev]));
    }
    let conf = std::env::temp_dir().join(format!("m-root-xdp-{}.toml", lab.name));
    std::fs::write(
        &conf,
        "[metrics]\nlisten = \"127.0.0.1:9153\"\n[acl]\ndrop = [\"198.18.7.0/24\", \"2001:db8:7::/64\"]\n\
         [rrl]\nresponses_per_second = 10\nslip = 2\nexempt = [\"198.18.6.0/24\"]\n",
    )
    .unwrap();
    let flags = ["--config", conf.to_str().unwrap(), "--identity", "metrics.m-root-xdp"];
    let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4, common::SRV6], &flags);

    let expect = send_all(&lab, &zone);
    // Userspace counts an answer as sent once sendmmsg returns: let the last ones settle.
    std::thread::sleep(Duration::from_millis(300));
    let (ctype, samples) = scrape(&lab, false);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    check(&samples, &expect);
    let (ctype, om) = scrape(&lab, true);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    check(&om, &expect);
    println!("{} samples; the counts match what was sent ({} queries)", samples.len(), expect.queries.values().sum::<u64>());

    // Scrapes in a loop while the zone reloads and a steady load is answered.
    let done = Arc::new(AtomicBool::new(false));
    let reloader = {
        let (control, done) = (control.clone(), done.clone());
        std::thread::spawn(move || {
            let mut windows = Vec::new();
            std::thread::sleep(Duration::from_millis(300));
            for _ in 0..RELOADS {
                let t = unix_now();
                let out = sh(std::process::Command::new(common::BIN).args(["reload", "--force", "--control"]).arg(&control));
                assert!(out.contains("reloaded"), "{out}");
                windows.push((t, unix_now()));
                std::thread::sleep(Duration::from_millis(100));
            }
            done.store(true, Ordering::SeqCst);
            windows
        })
    };
    let load = {
        let (s, done) = (udp_from(&lab, EXEMPT), done.clone());
        std::thread::spawn(move || {
            let (mut sent, mut answered) = (0u32, 0u32);
            while !done.load(Ordering::SeqCst) && sent < 100_000 {
                let q = query(sent as u16, &QUERIES[[0, 2, 5, 8][sent as usize % 4]]);
                sent += 1;
                answered += ask(&s, &q, Duration::from_secs(2)).is_some() as u32;
            }
            (sent, answered)
        })
    };
    let script = common::root_dir().join("m-root-user/tests/clients/metrics_scrape.py");
    let out = sh(&mut Lab::in_ns(&srv, &[PYTHON, script.to_str().unwrap(), "loop", URL, "4"]));
    let windows = reloader.join().unwrap();
    let (sent, answered) = load.join().unwrap();
    let scrapes: Vec<Value> = serde_json::from_str::<Value>(&out).unwrap()["scrapes"].as_array().unwrap().clone();
    let mut ms: Vec<f64> = scrapes.iter().map(|s| s[1].as_f64().unwrap()).collect();
    ms.sort_by(f64::total_cmp);
    let during = scrapes
        .iter()
        .filter(|s| {
            let (a, b) = (s[0].as_f64().unwrap(), s[0].as_f64().unwrap() + s[1].as_f64().unwrap() / 1e3);
            windows.iter().any(|(r0, r1)| a < *r1 && b > *r0)
        })
        .count();
    let reload_ms: Vec<f64> = windows.iter().map(|(a, b)| (b - a) * 1e3).collect();
    println!(
        "{} scrapes in 4 s, {during} during one of {RELOADS} reloads ({:.0}-{:.0} ms each): latency min {:.1} / median {:.1} / max {:.1} ms; load: {answered} of {sent} answered",
        ms.len(),
        reload_ms.iter().copied().fold(f64::MAX, f64::min),
        reload_ms.iter().copied().fold(0.0, f64::max),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
    assert!(during > 0, "some scrapes overlapped a reload");
    assert!(ms[ms.len() - 1] < 2000.0, "a scrape waited {} ms", ms[ms.len() - 1]);
    assert_eq!(answered, sent, "every query of the load answered");
    assert!(sent > 100, "the load ran ({sent} queries)");
    let last = scrapes.last().unwrap();
    assert_eq!(last[2].as_f64(), Some(2026073102.0), "the same zone, reloaded");
    let (_, after) = scrape(&lab, false);
    assert_eq!(get(&after, "m_root_xdp_reload_total", &[("result", "ok")]), RELOADS as u64);
    assert_eq!(get(&after, "m_root_xdp_reload_total", &[("result", "failed")]), 0);
}
