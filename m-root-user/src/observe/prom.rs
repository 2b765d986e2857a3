//! The daemon's counters as Prometheus metrics: what GET /metrics (`endpoint`) exposes, built from
//! [`Inputs`] (read at scrape time) into metric families. Each query is counted once, under the path
//! that disposed of it: the XDP or TC program that answered it or dropped it (rate limiting, the drop
//! list), or userspace, which counts every query it receives. A query XDP hands to TC is TC's, one
//! passed up is userspace's; so the sum over `path` of `m_root_xdp_queries_total` is every query that
//! reached the service, but for the few lost between (`m_root_xdp_spilled_total` sent less arrived,
//! and the kernel's `dropped`, a frame rewritten when a step failed).

use m_root_common::{COUNTERS, Counter, HOOKS, Hook, SIGNAL_SENTINEL_IS_TA, SIGNAL_TA};
use serde_json::Value;

use super::user::{Count, SIGNAL_EDNS_KEY_TAG, Snapshot};

/// What one scrape reads.
pub struct Inputs {
    /// The programs' counter slots summed over CPUs and interfaces; None without kernel programs.
    pub kernel: Option<[[u64; COUNTERS]; HOOKS]>,
    /// The programs' trust-anchor signals: (kind, key tag, count).
    pub kernel_signals: Vec<(u32, u16, u64)>,
    pub user: Snapshot,
    /// Userspace's signals: (kind, key tag, count), edns-key-tag among them.
    pub user_signals: Vec<(u8, u16, u64)>,
    pub zone_serial: u32,
    pub zone_tlds: usize,
    pub zone_load_seconds: f64,
    pub zone_loaded_unix: f64,
    pub zone_expired: bool,
    /// Reloads (and installs of a transferred zone): (ok, failed).
    pub reloads: (u64, u64),
    pub started_unix: f64,
    /// The secondary's and anycast's reports, when those services run.
    pub secondary: Option<Value>,
    pub anycast: Option<Value>,
    /// Today's trust-anchor signals by distinct sources (`ta.4f66`, `sentinel-is-ta.20326`), when
    /// `[rssac002]` keeps the day.
    pub signal_sources: Vec<(String, usize)>,
    /// dnstap's messages (written, dropped), with `[dnstap]`.
    pub dnstap: Option<(u64, u64)>,
}

/// One sample's labels.
pub type Labels = Vec<(&'static str, String)>;

/// A sample's value: a counter's, or a gauge's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    Count(u64),
    Gauge(f64),
}

/// A metric family: its name (a counter's without `_total`, which the encoder adds), help and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub gauge: bool,
    pub samples: Vec<(Labels, Sample)>,
}

/// Labels from pairs.
fn l(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

struct Out(Vec<Family>);

impl Out {
    fn counter(&mut self, name: &'static str, help: &'static str, samples: Vec<(Labels, u64)>) {
        let samples = samples.into_iter().map(|(l, v)| (l, Sample::Count(v))).collect();
        self.0.push(Family { name, help, gauge: false, samples });
    }
    fn gauge(&mut self, name: &'static str, help: &'static str, samples: Vec<(Labels, f64)>) {
        let samples = samples.into_iter().map(|(l, v)| (l, Sample::Gauge(v))).collect();
        self.0.push(Family { name, help, gauge: true, samples });
    }
}

const PATHS: [(Hook, &str); 2] = [(Hook::Xdp, "xdp"), (Hook::Tc, "tc")];
const FAMILIES: [(bool, &str); 2] = [(false, "ipv4"), (true, "ipv6")];
/// Kinds of kernel answer, as `answer.*` counts them (a truncated or slipped one instead of its kind).
const KERNEL_KINDS: [(&str, Counter); 8] = [
    ("referral", Counter::AnsReferral),
    ("referral-dnssec", Counter::AnsReferralDnssec),
    ("nxdomain", Counter::AnsNxdomain),
    ("nxdomain-dnssec", Counter::AnsNxdomainDnssec),
    ("apex", Counter::AnsApex),
    ("tld-ds", Counter::AnsTldDs),
    ("truncated", Counter::AnsTruncated),
    ("slipped", Counter::RrlSlipped),
];
/// Why a program passed a frame on (each frame passed is counted under one).
const PASS_REASONS: [(&str, Counter); 7] = [
    ("not-for-us", Counter::NotForUs),
    ("malformed", Counter::PassMalformed),
    ("uncovered", Counter::PassUncovered),
    ("no-room", Counter::PassNoRoom),
    ("no-table", Counter::PassNoTable),
    ("to-tc", Counter::PassToTc),
    ("not-hinted", Counter::PassNotHinted),
];
/// Rate limiting's response classes: the programs' dropped and slipped counters (they answer no
/// errors, so limit none), and userspace's.
/// A class: its name, the programs' (dropped, slipped) counters if they limit it, userspace's.
type RrlClass = (&'static str, Option<(Counter, Counter)>, Count, Count);
const RRL_CLASSES: [RrlClass; 4] = [
    ("tld", Some((Counter::RrlDroppedTld, Counter::RrlSlippedTld)), Count::RrlDroppedTld, Count::RrlSlippedTld),
    ("nxdomain", Some((Counter::RrlDroppedNxdomain, Counter::RrlSlippedNxdomain)), Count::RrlDroppedNxdomain, Count::RrlSlippedNxdomain),
    ("apex", Some((Counter::RrlDroppedApex, Counter::RrlSlippedApex)), Count::RrlDroppedApex, Count::RrlSlippedApex),
    ("error", None, Count::RrlDroppedError, Count::RrlSlippedError),
];

/// Every metric family of one scrape.
pub fn families(i: &Inputs) -> Vec<Family> {
    let mut o = Out(Vec::new());
    let zero = [[0u64; COUNTERS]; HOOKS];
    let kc = i.kernel.as_ref().unwrap_or(&zero);
    // The hooks that run: none without kernel programs, and a counter only the other hook moves is left out.
    let hooks: Vec<(Hook, &str)> = if i.kernel.is_some() { PATHS.to_vec() } else { Vec::new() };
    let k = |h: Hook, c: Counter| kc[h as usize][c as usize];
    let moves = |h: Hook, c: Counter| c.only().is_none_or(|only| only == h);
    let u = |c: Count| i.user.get(c);
    let per_hook = |f: &dyn Fn(Hook) -> u64| hooks.iter().map(|&(h, p)| (l(&[("path", p)]), f(h))).collect::<Vec<_>>();

    let mut queries = Vec::new();
    let mut sent = Vec::new();
    for &(h, p) in &hooks {
        for (v6, fam) in FAMILIES {
            let (ans, shed) = if v6 { (Counter::AnsIpv6, Counter::ShedIpv6) } else { (Counter::AnsIpv4, Counter::ShedIpv4) };
            queries.push((l(&[("path", p), ("transport", "udp"), ("family", fam)]), k(h, ans) + k(h, shed)));
            sent.push((l(&[("path", p), ("transport", "udp"), ("family", fam)]), k(h, ans)));
        }
    }
    for (transport, q, r) in [("udp", Count::UdpQueries, Count::UdpResponses), ("tcp", Count::TcpQueries, Count::TcpResponses)] {
        for (v6, fam) in FAMILIES {
            let labels = l(&[("path", "userspace"), ("transport", transport), ("family", fam)]);
            queries.push((labels.clone(), u(Count::of_family(q, v6))));
            sent.push((labels, u(Count::of_family(r, v6))));
        }
    }
    o.counter("m_root_xdp_queries", "Queries, each counted once by the path that disposed of it (answered or dropped)", queries);
    o.counter("m_root_xdp_responses_sent", "Responses sent, by path, transport and family", sent);

    let mut rcodes = Vec::new();
    for &(h, p) in &hooks {
        let (nx, bad) = (k(h, Counter::RcodeNxdomain), k(h, Counter::RcodeBadcookie));
        let all = k(h, Counter::AnsIpv4) + k(h, Counter::AnsIpv6);
        for (rcode, n) in [("NOERROR", all.saturating_sub(nx + bad)), ("NXDOMAIN", nx), ("BADCOOKIE", bad)] {
            rcodes.push((l(&[("path", p), ("rcode", rcode)]), n));
        }
    }
    rcodes.extend(i.user.rcodes.iter().map(|(r, n)| (l(&[("path", "userspace"), ("rcode", r)]), *n)));
    o.counter("m_root_xdp_responses", "Responses by path and rcode (extended rcodes included)", rcodes);

    let mut kinds = Vec::new();
    for &(h, p) in &hooks {
        kinds.extend(KERNEL_KINDS.iter().map(|&(kind, c)| (l(&[("path", p), ("kind", kind)]), k(h, c))));
    }
    kinds.extend(i.user.kinds.iter().map(|(kind, n)| (l(&[("path", "userspace"), ("kind", kind)]), *n)));
    o.counter("m_root_xdp_responses_by_kind", "Responses by path and kind of answer", kinds);
    let qtypes = i.user.qtypes.iter().map(|(t, n)| (l(&[("path", "userspace"), ("qtype", t)]), *n)).collect();
    o.counter("m_root_xdp_responses_by_qtype", "Userspace responses by the question's type", qtypes);

    let mut passed = Vec::new();
    for &(h, p) in &hooks {
        passed.extend(PASS_REASONS.iter().filter(|(_, c)| moves(h, *c)).map(|&(r, c)| (l(&[("path", p), ("reason", r)]), k(h, c))));
    }
    o.counter("m_root_xdp_passed", "Frames a program passed on, by why", passed);
    o.counter("m_root_xdp_frames", "Frames (XDP) and packets (TC) each program saw", per_hook(&|h| k(h, Counter::Frames)));
    o.counter("m_root_xdp_program_queries", "DNS queries for a service address each program saw", per_hook(&|h| k(h, Counter::Queries)));
    let mut dropped = per_hook(&|h| k(h, Counter::Dropped));
    dropped.push((l(&[("path", "userspace")]), u(Count::Dropped)));
    o.counter("m_root_xdp_dropped", "Queries dropped unanswered: a frame rewritten when a step failed; in userspace, not a query", dropped);
    if i.kernel.is_some() {
        let spilled =
            [("sent", Counter::Spilled), ("arrived", Counter::SpillArrived)].map(|(s, c)| (l(&[("state", s)]), k(Hook::Xdp, c))).to_vec();
        o.counter("m_root_xdp_spilled", "Queries XDP handed to another CPU for TC, and those that arrived", spilled);
        o.counter(
            "m_root_xdp_no_hint",
            "No-room queries XDP could leave no hint for (userspace answers them)",
            vec![(vec![], k(Hook::Xdp, Counter::NoHint))],
        );
        o.counter(
            "m_root_xdp_csum_partial",
            "Queries TC answered with a partial checksum",
            vec![(vec![], k(Hook::Tc, Counter::CsumPartial))],
        );
    }
    let mut truncated =
        per_hook(&|h| (k(h, Counter::AnsTruncated) + k(h, Counter::RrlSlipped)).saturating_sub(k(h, Counter::RcodeBadcookie)));
    truncated.push((l(&[("path", "userspace")]), u(Count::Truncated)));
    o.counter("m_root_xdp_truncated", "Responses sent with TC=1 (rate-limiting slips included)", truncated);

    let mut limited = Vec::new();
    for &(h, p) in &hooks {
        for (class, (dropped, slipped)) in RRL_CLASSES.iter().filter_map(|(class, c, _, _)| Some((class, (*c)?))) {
            limited.push((l(&[("path", p), ("action", "dropped"), ("class", class)]), k(h, dropped)));
            limited.push((l(&[("path", p), ("action", "slipped"), ("class", class)]), k(h, slipped)));
        }
    }
    for (class, _, dropped, slipped) in &RRL_CLASSES {
        limited.push((l(&[("path", "userspace"), ("action", "dropped"), ("class", class)]), u(*dropped)));
        limited.push((l(&[("path", "userspace"), ("action", "slipped"), ("class", class)]), u(*slipped)));
    }
    o.counter("m_root_xdp_rrl_limited", "Responses rate limiting dropped or slipped, by response class", limited);
    for (name, help, c, uc) in [
        ("m_root_xdp_rrl_exempt", "Responses sent unlimited to an exempt source", Counter::RrlExempt, Count::RrlExempt),
        (
            "m_root_xdp_rrl_would_limit",
            "Responses rate limiting would have limited (dry run)",
            Counter::RrlWouldLimit,
            Count::RrlWouldLimit,
        ),
        (
            "m_root_xdp_acl_dropped",
            "Queries (and TCP connections) from a source on the drop list, dropped",
            Counter::AclDropped,
            Count::AclDropped,
        ),
    ] {
        let mut s = per_hook(&|h| k(h, c));
        s.push((l(&[("path", "userspace")]), u(uc)));
        o.counter(name, help, s);
    }
    let mut cookies = Vec::new();
    for &(h, p) in &hooks {
        cookies.push((l(&[("path", p), ("verdict", "valid")]), k(h, Counter::CookieValid)));
        cookies.push((l(&[("path", p), ("verdict", "bad")]), k(h, Counter::CookieBad)));
    }
    cookies.push((l(&[("path", "userspace"), ("verdict", "valid")]), u(Count::CookieValid)));
    cookies.push((l(&[("path", "userspace"), ("verdict", "bad")]), u(Count::CookieBad)));
    o.counter("m_root_xdp_cookies", "Server cookies in answered queries: ours and valid, or not ours", cookies);
    let tcp = vec![(l(&[("result", "admitted")]), u(Count::TcpConnections)), (l(&[("result", "refused")]), u(Count::TcpRefused))];
    o.counter("m_root_xdp_tcp_connections", "TCP connections admitted, and refused by the connection limits", tcp);
    o.counter("m_root_xdp_trust_anchor_signals", "Trust-anchor signals in answered queries, by key tag (decimal) and source", signals(i));

    o.gauge(
        "m_root_xdp_trust_anchor_sources",
        "Distinct sources of each trust-anchor signal today (UTC), as of the last minute ([rssac002])",
        signal_sources(i),
    );
    if let Some((written, dropped)) = i.dnstap {
        o.counter(
            "m_root_xdp_dnstap_messages",
            "dnstap messages written, and dropped (queue full, or no reader on the socket)",
            vec![(l(&[("result", "written")]), written), (l(&[("result", "dropped")]), dropped)],
        );
    }
    o.gauge("m_root_xdp_zone_serial", "The serial of the zone served", vec![(vec![], i.zone_serial as f64)]);
    o.gauge("m_root_xdp_zone_tlds", "TLDs in the zone served", vec![(vec![], i.zone_tlds as f64)]);
    o.gauge("m_root_xdp_zone_load_seconds", "How long reading and checking the zone served took", vec![(vec![], i.zone_load_seconds)]);
    o.gauge(
        "m_root_xdp_zone_loaded_timestamp_seconds",
        "When the zone served was switched in (UNIX time)",
        vec![(vec![], i.zone_loaded_unix)],
    );
    o.gauge(
        "m_root_xdp_zone_expired",
        "1 while the zone is expired (a secondary past SOA expire)",
        vec![(vec![], i.zone_expired as u8 as f64)],
    );
    let reloads = vec![(l(&[("result", "ok")]), i.reloads.0), (l(&[("result", "failed")]), i.reloads.1)];
    o.counter("m_root_xdp_reload", "Reloads and installs of a transferred zone, switched in or refused", reloads);
    o.gauge("m_root_xdp_start_time_seconds", "When the daemon started (UNIX time)", vec![(vec![], i.started_unix)]);
    if let Some(s) = &i.secondary {
        secondary(&mut o, s);
    }
    if let Some(a) = &i.anycast {
        let flag = |key: &str| vec![(vec![], if a[key] == true { 1.0 } else { 0.0 })];
        o.gauge("m_root_xdp_anycast_announced", "1 while the service addresses are announced", flag("announced"));
        o.gauge("m_root_xdp_anycast_drained", "1 while drained by m-root-xdp drain", flag("drained"));
        let state = ["up", "down", "drained"].map(|s| (l(&[("state", s)]), if a["state"] == s { 1.0 } else { 0.0 })).to_vec();
        o.gauge("m_root_xdp_anycast_state", "The health state: 1 for the current one", state);
        let n = |key: &str| vec![(vec![], a[key].as_u64().unwrap_or(0))];
        o.counter(
            "m_root_xdp_anycast_announce_failures",
            "Changes to the announcement interface the kernel refused (tried again every probe)",
            n("announce_failures"),
        );
        o.counter(
            "m_root_xdp_anycast_announce_repairs",
            "Changes made to put the announcement interface back as the state says, after a change from outside",
            n("announce_repairs"),
        );
    }
    o.0
}

/// Kernel and userspace trust-anchor signals summed per (source, sentinel kind, key tag).
fn signals(i: &Inputs) -> Vec<(Labels, u64)> {
    let mut sum: std::collections::BTreeMap<(&'static str, Option<&'static str>, u16), u64> = Default::default();
    let all = i.kernel_signals.iter().copied().chain(i.user_signals.iter().map(|&(k, t, n)| (k as u32, t, n)));
    for (kind, tag, n) in all {
        let key = match kind {
            SIGNAL_TA => ("ta_query", None),
            k if k == SIGNAL_EDNS_KEY_TAG as u32 => ("edns_key_tag", None),
            SIGNAL_SENTINEL_IS_TA => ("sentinel", Some("is-ta")),
            _ => ("sentinel", Some("not-ta")),
        };
        *sum.entry((key.0, key.1, tag)).or_default() += n;
    }
    sum.into_iter()
        .map(|((source, sentinel, tag), n)| {
            let mut labels = l(&[("key_tag", &tag.to_string()), ("source", source)]);
            labels.extend(sentinel.map(|s| ("sentinel", s.to_string())));
            (labels, n)
        })
        .collect()
}

/// Today's distinct sources by signal, labelled as `m_root_xdp_trust_anchor_signals` is.
fn signal_sources(i: &Inputs) -> Vec<(Labels, f64)> {
    i.signal_sources
        .iter()
        .filter_map(|(name, n)| {
            let (kind, tag) = name.split_once('.')?;
            let (source, sentinel, tag) = match kind {
                "ta" => ("ta_query", None, u16::from_str_radix(tag, 16).ok()?),
                "sentinel-is-ta" => ("sentinel", Some("is-ta"), tag.parse().ok()?),
                "sentinel-not-ta" => ("sentinel", Some("not-ta"), tag.parse().ok()?),
                _ => return None,
            };
            let mut labels = l(&[("key_tag", &tag.to_string()), ("source", source)]);
            labels.extend(sentinel.map(|s| ("sentinel", s.to_string())));
            Some((labels, *n as f64))
        })
        .collect()
}

/// The secondary's state, from its report.
fn secondary(o: &mut Out, s: &Value) {
    let n = |key: &str| s[key].as_f64().unwrap_or(0.0);
    let c = |key: &str| s[key].as_u64().unwrap_or(0);
    o.gauge("m_root_xdp_secondary_serial", "The serial the secondary holds", vec![(vec![], n("serial"))]);
    o.gauge("m_root_xdp_secondary_expired", "1 while the zone is expired", vec![(vec![], if s["expired"] == true { 1.0 } else { 0.0 })]);
    o.gauge(
        "m_root_xdp_secondary_expires_in_seconds",
        "Seconds until the zone expires without a refresh",
        vec![(vec![], n("expires_in_s"))],
    );
    o.gauge("m_root_xdp_secondary_next_refresh_seconds", "Seconds until the next refresh", vec![(vec![], n("next_refresh_s"))]);
    let refreshes = [("transferred", "transfers"), ("up_to_date", "up_to_date"), ("failed", "failures"), ("refused", "refused")]
        .map(|(r, key)| (l(&[("result", r)]), c(key)))
        .to_vec();
    o.counter(
        "m_root_xdp_secondary_refresh",
        "Refreshes: a zone transferred and served, already current, failed; zones refused",
        refreshes,
    );
    o.counter("m_root_xdp_secondary_notifies", "NOTIFY messages received", vec![(vec![], c("notifies"))]);
    let failed = s["last_result"].as_str().is_some_and(|r| r.starts_with("failed"));
    let last_ok =
        if s["last_result"].is_null() || s["last_result"] == "" { Vec::new() } else { vec![(vec![], if failed { 0.0 } else { 1.0 })] };
    o.gauge("m_root_xdp_secondary_last_refresh_ok", "1 if the last refresh succeeded, 0 if it failed", last_ok);
    let at = s["last_refresh_unix"].as_f64().map(|t| vec![(vec![], t)]).unwrap_or_default();
    o.gauge("m_root_xdp_secondary_last_refresh_timestamp_seconds", "When the last successful refresh ended (UNIX time)", at);
    let t = &s["last_transfer"];
    let latency = t["latency_ms"].as_f64().map(|ms| vec![(vec![], ms / 1e3)]).unwrap_or_default();
    o.gauge("m_root_xdp_secondary_last_transfer_latency_seconds", "From the last transfer's trigger to the zone served", latency);
    let serial = t["serial"].as_f64().map(|v| vec![(vec![], v)]).unwrap_or_default();
    o.gauge("m_root_xdp_secondary_last_transfer_serial", "The serial of the last zone transferred", serial);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Stats;

    fn inputs() -> Inputs {
        let mut kernel = [[0u64; COUNTERS]; HOOKS];
        let set = |k: &mut [[u64; COUNTERS]; HOOKS], h: Hook, c: Counter, n: u64| k[h as usize][c as usize] = n;
        // TC: 5 IPv4 answers (2 NXDOMAIN, one of them a slip), 1 IPv6 one, 3 IPv4 queries limited; XDP
        // shed 4 from the drop list over IPv6.
        set(&mut kernel, Hook::Tc, Counter::AnsIpv4, 5);
        set(&mut kernel, Hook::Tc, Counter::AnsIpv6, 1);
        set(&mut kernel, Hook::Tc, Counter::RcodeNxdomain, 2);
        set(&mut kernel, Hook::Tc, Counter::RrlSlipped, 1);
        set(&mut kernel, Hook::Tc, Counter::ShedIpv4, 3);
        set(&mut kernel, Hook::Xdp, Counter::ShedIpv6, 4);
        set(&mut kernel, Hook::Xdp, Counter::AclDropped, 4);
        let stats = Stats::default();
        stats.add_by_family(Count::UdpQueries, true, 7);
        stats.add_by_family(Count::TcpQueries, false, 2);
        Inputs {
            kernel: Some(kernel),
            kernel_signals: vec![(SIGNAL_TA, 20326, 2), (SIGNAL_SENTINEL_IS_TA, 20326, 1)],
            user: stats.snapshot(),
            user_signals: vec![(SIGNAL_EDNS_KEY_TAG, 20326, 3), (SIGNAL_TA as u8, 20326, 1)],
            zone_serial: 2026073102,
            zone_tlds: 1438,
            zone_load_seconds: 0.07,
            zone_loaded_unix: 1.0,
            zone_expired: false,
            reloads: (3, 1),
            started_unix: 0.5,
            secondary: None,
            anycast: None,
            signal_sources: vec![("ta.4f66".into(), 12), ("sentinel-not-ta.20326".into(), 2), ("nonsense".into(), 1)],
            dnstap: Some((7, 1)),
        }
    }

    fn value(f: &[Family], name: &str, labels: &[(&str, &str)]) -> u64 {
        let fam = f.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name}"));
        fam.samples
            .iter()
            .filter(|(l, _)| labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|(_, s)| match s {
                Sample::Count(n) => *n,
                Sample::Gauge(x) => *x as u64,
            })
            .sum()
    }

    #[test]
    fn each_query_is_counted_once_by_the_path_that_disposed_of_it() {
        let f = families(&inputs());
        let q = "m_root_xdp_queries";
        assert_eq!(value(&f, q, &[("path", "tc"), ("family", "ipv4")]), 8, "answered and limited");
        assert_eq!(value(&f, q, &[("path", "tc"), ("family", "ipv6")]), 1);
        assert_eq!(value(&f, q, &[("path", "xdp"), ("family", "ipv6")]), 4, "shed by the drop list");
        assert_eq!(value(&f, q, &[("path", "userspace"), ("transport", "udp"), ("family", "ipv6")]), 7);
        assert_eq!(value(&f, q, &[("path", "userspace"), ("transport", "tcp"), ("family", "ipv4")]), 2);
        assert_eq!(value(&f, q, &[]), 22);
        let r = "m_root_xdp_responses";
        assert_eq!((value(&f, r, &[("path", "tc"), ("rcode", "NOERROR")]), value(&f, r, &[("path", "tc"), ("rcode", "NXDOMAIN")])), (4, 2));
        assert_eq!(value(&f, "m_root_xdp_truncated", &[("path", "tc")]), 1, "the slip");
        let ta = "m_root_xdp_trust_anchor_signals";
        assert_eq!(value(&f, ta, &[("source", "ta_query"), ("key_tag", "20326")]), 3, "kernel and userspace summed");
        assert_eq!(value(&f, ta, &[("source", "edns_key_tag")]), 3);
        assert_eq!(value(&f, ta, &[("source", "sentinel"), ("sentinel", "is-ta")]), 1);
        let srcs = "m_root_xdp_trust_anchor_sources";
        assert_eq!(value(&f, srcs, &[("source", "ta_query"), ("key_tag", "20326")]), 12, "0x4f66 is 20326");
        assert_eq!(value(&f, srcs, &[("source", "sentinel"), ("sentinel", "not-ta")]), 2);
        assert_eq!(value(&f, srcs, &[]), 14, "a name that is no signal is left out");
        assert_eq!((value(&f, "m_root_xdp_reload", &[("result", "ok")]), value(&f, "m_root_xdp_reload", &[("result", "failed")])), (3, 1));
        assert_eq!(value(&f, "m_root_xdp_zone_serial", &[]), 2026073102);
        let tap = "m_root_xdp_dnstap_messages";
        assert_eq!((value(&f, tap, &[("result", "written")]), value(&f, tap, &[("result", "dropped")])), (7, 1));
        assert!(!families(&Inputs { dnstap: None, ..inputs() }).iter().any(|f| f.name == tap), "only with [dnstap]");
        let names: Vec<&str> = f.iter().map(|f| f.name).collect();
        assert!(names.iter().enumerate().all(|(i, n)| !names[..i].contains(n)), "one family per name: {names:?}");
        assert!(!names.iter().any(|n| n.starts_with("m_root_xdp_secondary") || n.starts_with("m_root_xdp_anycast")));
        // Without kernel programs: userspace alone, no xdp or tc series.
        let f = families(&Inputs { kernel: None, ..inputs() });
        assert!(f.iter().flat_map(|f| &f.samples).all(|(l, _)| !l.iter().any(|(k, v)| *k == "path" && (v == "xdp" || v == "tc"))));
    }
}
