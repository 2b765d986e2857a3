//! The userspace server's counters: how many queries and answers went over UDP and TCP, and what the
//! answers were (rcode, kind, qtype, trust-anchor signal). Names follow Knot's and NSD's where they exist;
//! `text` maps them to NSD's `num.*`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};
use zonegen::answer::Kind;

use super::parse::{edns_key_tags, last_label, question_type, rcode_of};

/// A plain userspace count (one atomic each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    UdpQueries,
    UdpResponses,
    TcpQueries,
    TcpResponses,
    /// Queries answered with nothing (responses, garbage shorter than a header).
    Dropped,
    /// Answers sent with TC set.
    Truncated,
    /// TCP connections admitted, and refused by the connection limits.
    TcpConnections,
    TcpRefused,
    /// Response rate limiting over UDP: over the limit and dropped; sent as TC=1 (slip); the source
    /// exempt; would have been limited (dry run). And queries dropped by the drop list.
    RrlDropped,
    RrlSlipped,
    RrlExempt,
    RrlWouldLimit,
    AclDropped,
    /// DNS cookies: a valid server cookie of ours (answered, not rate limited); one that is not ours.
    CookieValid,
    CookieBad,
    /// Rate limiting by response class: dropped and slipped, per class (TLD, NXDOMAIN, apex, errors).
    RrlDroppedTld,
    RrlDroppedNxdomain,
    RrlDroppedApex,
    RrlDroppedError,
    RrlSlippedTld,
    RrlSlippedNxdomain,
    RrlSlippedApex,
    RrlSlippedError,
    /// The four above by the family of the socket they came over (each the same queries and answers
    /// again, split in two).
    UdpQueriesIpv4,
    UdpQueriesIpv6,
    UdpResponsesIpv4,
    UdpResponsesIpv6,
    TcpQueriesIpv4,
    TcpQueriesIpv6,
    TcpResponsesIpv4,
    TcpResponsesIpv6,
}

impl Count {
    /// The by-class count of a limited response of `class` (m_root_common::rrl's classes).
    pub const fn rrl_by_class(slipped: bool, class: u32) -> Count {
        use m_root_common::rrl::{CLASS_APEX, CLASS_NXDOMAIN, CLASS_TLD};
        match (class & 0xff00_0000, slipped) {
            (CLASS_TLD, false) => Count::RrlDroppedTld,
            (CLASS_NXDOMAIN, false) => Count::RrlDroppedNxdomain,
            (CLASS_APEX, false) => Count::RrlDroppedApex,
            (_, false) => Count::RrlDroppedError,
            (CLASS_TLD, true) => Count::RrlSlippedTld,
            (CLASS_NXDOMAIN, true) => Count::RrlSlippedNxdomain,
            (CLASS_APEX, true) => Count::RrlSlippedApex,
            (_, true) => Count::RrlSlippedError,
        }
    }

    /// `total` (UdpQueries, UdpResponses, TcpQueries, TcpResponses) for one family.
    pub const fn of_family(total: Count, ipv6: bool) -> Count {
        match (total, ipv6) {
            (Count::UdpQueries, false) => Count::UdpQueriesIpv4,
            (Count::UdpQueries, true) => Count::UdpQueriesIpv6,
            (Count::UdpResponses, false) => Count::UdpResponsesIpv4,
            (Count::UdpResponses, true) => Count::UdpResponsesIpv6,
            (Count::TcpQueries, false) => Count::TcpQueriesIpv4,
            (Count::TcpQueries, true) => Count::TcpQueriesIpv6,
            (Count::TcpResponses, false) => Count::TcpResponsesIpv4,
            (Count::TcpResponses, true) => Count::TcpResponsesIpv6,
            (other, _) => other,
        }
    }

    pub const ALL: [Count; 31] = [
        Count::UdpQueries,
        Count::UdpResponses,
        Count::TcpQueries,
        Count::TcpResponses,
        Count::Dropped,
        Count::Truncated,
        Count::TcpConnections,
        Count::TcpRefused,
        Count::RrlDropped,
        Count::RrlSlipped,
        Count::RrlExempt,
        Count::RrlWouldLimit,
        Count::AclDropped,
        Count::CookieValid,
        Count::CookieBad,
        Count::RrlDroppedTld,
        Count::RrlDroppedNxdomain,
        Count::RrlDroppedApex,
        Count::RrlDroppedError,
        Count::RrlSlippedTld,
        Count::RrlSlippedNxdomain,
        Count::RrlSlippedApex,
        Count::RrlSlippedError,
        Count::UdpQueriesIpv4,
        Count::UdpQueriesIpv6,
        Count::UdpResponsesIpv4,
        Count::UdpResponsesIpv6,
        Count::TcpQueriesIpv4,
        Count::TcpQueriesIpv6,
        Count::TcpResponsesIpv4,
        Count::TcpResponsesIpv6,
    ];

    /// Its key in the report (`stats --json`: `userspace.server.<key>`).
    pub const fn key(self) -> &'static str {
        match self {
            Count::UdpQueries => "udp_queries",
            Count::UdpResponses => "udp_responses",
            Count::TcpQueries => "tcp_queries",
            Count::TcpResponses => "tcp_responses",
            Count::Dropped => "dropped",
            Count::Truncated => "truncated",
            Count::TcpConnections => "tcp_connections",
            Count::TcpRefused => "tcp_refused",
            Count::RrlDropped => "rrl_dropped",
            Count::RrlSlipped => "rrl_slipped",
            Count::RrlExempt => "rrl_exempt",
            Count::RrlWouldLimit => "rrl_would_limit",
            Count::AclDropped => "acl_dropped",
            Count::CookieValid => "cookie_valid",
            Count::CookieBad => "cookie_bad",
            Count::RrlDroppedTld => "rrl_dropped_tld",
            Count::RrlDroppedNxdomain => "rrl_dropped_nxdomain",
            Count::RrlDroppedApex => "rrl_dropped_apex",
            Count::RrlDroppedError => "rrl_dropped_error",
            Count::RrlSlippedTld => "rrl_slipped_tld",
            Count::RrlSlippedNxdomain => "rrl_slipped_nxdomain",
            Count::RrlSlippedApex => "rrl_slipped_apex",
            Count::RrlSlippedError => "rrl_slipped_error",
            Count::UdpQueriesIpv4 => "udp_queries_ipv4",
            Count::UdpQueriesIpv6 => "udp_queries_ipv6",
            Count::UdpResponsesIpv4 => "udp_responses_ipv4",
            Count::UdpResponsesIpv6 => "udp_responses_ipv6",
            Count::TcpQueriesIpv4 => "tcp_queries_ipv4",
            Count::TcpQueriesIpv6 => "tcp_queries_ipv6",
            Count::TcpResponsesIpv4 => "tcp_responses_ipv4",
            Count::TcpResponsesIpv6 => "tcp_responses_ipv6",
        }
    }
}

/// Answer kinds as the report names them, in the order of `zonegen::answer::Kind` (`kind as usize`).
pub const KINDS: [(Kind, &str); 6] = [
    (Kind::Referral, "referral"),
    (Kind::Nxdomain, "nxdomain"),
    (Kind::Nodata, "nodata"),
    (Kind::Authoritative, "authoritative"),
    (Kind::Chaos, "chaos"),
    (Kind::Error, "error"),
];

/// Rcodes counted: the header's four bits with the OPT's extended ones (BADVERS 16, BADCOOKIE 23).
pub(super) const RCODES: usize = 24;
/// Their names (RCODE<n> for the rest).
const RCODE_NAMES: [(usize, &str); 8] =
    [(0, "NOERROR"), (1, "FORMERR"), (2, "SERVFAIL"), (3, "NXDOMAIN"), (4, "NOTIMP"), (5, "REFUSED"), (16, "BADVERS"), (23, "BADCOOKIE")];
/// The kind of signal an RFC 8145 section 5 edns-key-tag option carries (userspace's own: the programs
/// never see one, see [`Stats::count_key_tags`]).
pub const SIGNAL_EDNS_KEY_TAG: u8 = 0x80;
/// Qtypes counted one by one; the slot at this index holds every larger one.
const QTYPE_OTHER: usize = 256;

/// Userspace counters, shared by every server thread.
pub struct Stats {
    counts: [AtomicU64; Count::ALL.len()],
    rcodes: [AtomicU64; RCODES],
    kinds: [AtomicU64; KINDS.len()],
    qtypes: [AtomicU64; QTYPE_OTHER + 1],
    /// Trust-anchor signals answered here: (kind, key tag) -> count.
    signals: Mutex<BTreeMap<(u8, u16), u64>>,
    /// Today's RSSAC002 counts of what userspace received and sent.
    pub daily: super::daily::Daily,
    /// `[dnstap]`'s sink, once started.
    pub dnstap: std::sync::OnceLock<std::sync::Arc<super::dnstap::Sink>>,
}

impl Default for Stats {
    fn default() -> Self {
        let zero = |_| AtomicU64::new(0);
        Stats {
            counts: std::array::from_fn(zero),
            rcodes: std::array::from_fn(zero),
            kinds: std::array::from_fn(zero),
            qtypes: std::array::from_fn(zero),
            signals: Mutex::new(BTreeMap::new()),
            daily: Default::default(),
            dnstap: Default::default(),
        }
    }
}

/// The counters at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Indexed by [`Count`].
    pub counts: [u64; Count::ALL.len()],
    /// (name, count) for the rcodes, qtypes and signals seen, and every kind.
    pub rcodes: Vec<(String, u64)>,
    pub kinds: Vec<(String, u64)>,
    pub qtypes: Vec<(String, u64)>,
    pub signals: Vec<(String, u64)>,
}

impl Snapshot {
    pub fn get(&self, c: Count) -> u64 {
        self.counts[c as usize]
    }

    /// As the control socket reports it (`server`): each count under its key, and `rcodes`, `kinds`,
    /// `qtypes`, `signals` as lists of [name, count].
    pub fn to_json(&self) -> Value {
        let mut o: Map<String, Value> = Count::ALL.iter().map(|&c| (c.key().to_string(), self.get(c).into())).collect();
        for (key, list) in [("rcodes", &self.rcodes), ("kinds", &self.kinds), ("qtypes", &self.qtypes), ("signals", &self.signals)] {
            o.insert(key.into(), json!(list));
        }
        Value::Object(o)
    }
}

/// "ta.4f66", "sentinel-is-ta.20326", "edns-key-tag.20326": a signal as `stats` names it.
pub fn signal_name(kind: u32, tag: u16) -> String {
    match kind {
        m_root_common::SIGNAL_TA => format!("ta.{tag:04x}"),
        k if k == SIGNAL_EDNS_KEY_TAG as u32 => format!("edns-key-tag.{tag:05}"),
        k => format!("{}.{tag:05}", zonegen::signal::kind_name(k as u8)),
    }
}

/// What kind of answer a spliced response is (the answer function says so itself for the others).
pub fn kind_of(resp: &[u8]) -> Kind {
    let flags = u16::from_be_bytes([resp.get(2).copied().unwrap_or(0), resp.get(3).copied().unwrap_or(0)]);
    let ancount = u16::from_be_bytes([resp.get(6).copied().unwrap_or(0), resp.get(7).copied().unwrap_or(0)]);
    match (flags & 0x0f, flags & 0x0400 != 0, ancount) {
        (3, _, _) => Kind::Nxdomain,
        (_, false, _) => Kind::Referral,
        (_, true, 0) => Kind::Nodata,
        _ => Kind::Authoritative,
    }
}

impl Stats {
    pub fn add(&self, c: Count, n: u64) {
        self.counts[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Count what an answered query's cookie was (valid, or not ours; nothing for none).
    pub fn count_cookie(&self, v: Option<zonegen::answer::Verdict>) {
        match v {
            Some(zonegen::answer::Verdict::Valid) => self.add(Count::CookieValid, 1),
            Some(zonegen::answer::Verdict::Bad) => self.add(Count::CookieBad, 1),
            _ => {}
        }
    }

    /// Count a query and how many came at once over one transport (UdpQueries or TcpQueries; or an
    /// answer: UdpResponses, TcpResponses), in all and for its family.
    pub fn add_by_family(&self, total: Count, ipv6: bool, n: u64) {
        self.add(total, n);
        self.add(Count::of_family(total, ipv6), n);
    }

    /// Count the key tags of an answered query's edns-key-tag option (RFC 8145 section 5). The programs
    /// pass every query whose OPT holds an option other than one COOKIE up to userspace
    /// (m_root_common::coverage::edns_covered: `OptOptions::Other` is never covered), so counting here,
    /// where such queries are answered, counts every one.
    pub fn count_key_tags(&self, query: &[u8]) {
        let tags = edns_key_tags(query);
        if !tags.is_empty() {
            let mut m = self.signals.lock().unwrap_or_else(|p| p.into_inner());
            for t in tags {
                *m.entry((SIGNAL_EDNS_KEY_TAG, t)).or_insert(0) += 1;
            }
        }
    }

    /// Trust-anchor signals counted here: (kind, key tag, count), kinds as m_root_common's and
    /// [`SIGNAL_EDNS_KEY_TAG`].
    pub fn signal_counts(&self) -> Vec<(u8, u16, u64)> {
        self.signals.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(&(k, t), &n)| (k, t, n)).collect()
    }

    /// Count an answer sent: its kind, qtype, rcode, TC, and the signals in an NXDOMAIN's question.
    pub fn record(&self, resp: &[u8], kind: Kind) {
        if kind == Kind::Nxdomain
            && let Some(label) = last_label(resp)
        {
            let sig = zonegen::signal::signals(label);
            if !sig.is_empty() {
                let mut m = self.signals.lock().unwrap_or_else(|p| p.into_inner());
                for s in sig {
                    *m.entry(s).or_insert(0) += 1;
                }
            }
        }
        if let Some(t) = question_type(resp) {
            self.qtypes[(t as usize).min(QTYPE_OTHER)].fetch_add(1, Ordering::Relaxed);
        }
        self.rcodes[rcode_of(resp)].fetch_add(1, Ordering::Relaxed);
        if resp.get(2).is_some_and(|f| f & 0x02 != 0) {
            self.add(Count::Truncated, 1);
        }
        self.kinds[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let seen = |(i, c): (usize, &AtomicU64)| (l(c) > 0).then(|| (i, l(c)));
        let rcode_name = |i: usize| RCODE_NAMES.iter().find(|(n, _)| *n == i).map_or_else(|| format!("RCODE{i}"), |(_, s)| s.to_string());
        let qtype_name = |t: usize| if t == QTYPE_OTHER { "other".to_string() } else { zonegen::rr::type_name(t as u16) };
        Snapshot {
            counts: std::array::from_fn(|i| l(&self.counts[i])),
            rcodes: self.rcodes.iter().enumerate().filter_map(seen).map(|(i, n)| (rcode_name(i), n)).collect(),
            kinds: KINDS.iter().zip(&self.kinds).map(|((_, name), c)| (name.to_string(), l(c))).collect(),
            qtypes: self.qtypes.iter().enumerate().filter_map(seen).map(|(t, n)| (qtype_name(t), n)).collect(),
            signals: self
                .signals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|((k, t), n)| (signal_name(*k as u32, *t), *n))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_in_the_order_of_the_enum() {
        for (i, (k, _)) in KINDS.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }

    #[test]
    fn the_report_keeps_its_keys() {
        let s = Stats::default();
        s.add(Count::UdpQueries, 3);
        // An NXDOMAIN for _ta-4f66. (QR, rcode 3), one question of type NULL (10).
        let mut resp = vec![0, 1, 0x80, 0x03, 0, 1, 0, 0, 0, 0, 0, 0, 8];
        resp.extend_from_slice(b"_ta-4f66");
        resp.extend_from_slice(&[0, 0, 10, 0, 1]);
        s.record(&resp, Kind::Nxdomain);
        let j = s.snapshot().to_json();
        assert_eq!(j["udp_queries"], 3);
        assert_eq!(j["tcp_refused"], 0);
        assert_eq!(j["rcodes"], json!([["NXDOMAIN", 1]]));
        assert_eq!(j["kinds"][1], json!(["nxdomain", 1]));
        assert_eq!(j["kinds"].as_array().unwrap().len(), 6);
        assert_eq!(j["qtypes"], json!([["NULL", 1]]));
        assert_eq!(j["signals"], json!([["ta.4f66", 1]]));
        assert_eq!(j.as_object().unwrap().len(), Count::ALL.len() + 4);
    }
}
