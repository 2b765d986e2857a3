//! One UTC day's RSSAC002 counts: what userspace received and sent (kept here, lock-free, by the server
//! threads) and, added in at report time, what the kernel programs answered (their per-day maps). The
//! same rules for both (m_root_common::daily): 16-octet size buckets, HyperLogLog source registers.
//! [`DayTotals`] is a day's sum, kept in the state file and merged over runs of the daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use m_root_common::daily::{
    DailyCounts, HLL_REGISTERS, HllRegisters, KERNEL_RCODES, REQUEST_BUCKETS, RESPONSE_BUCKETS, SOURCE_SETS, hll_index_rank,
    request_bucket, response_bucket, source_hashes,
};
use m_root_common::{MAX_SIGNAL_SOURCES, signal_key, signal_of_key};
use serde::{Deserialize, Serialize};

pub use zonegen::answer::cookie::addr_key;

use super::hll::Registers;

/// Transports as RSSAC002 splits them, in the order of the arrays here.
pub const UDP: usize = 0;
pub const TCP: usize = 1;
/// Families, in the order of the arrays here.
pub const IPV4: usize = 0;
pub const IPV6: usize = 1;

/// Rcodes counted one by one: the 12-bit extended rcode (header and OPT) has 4096 values.
const RCODES: usize = 4096;

/// Userspace's counts of the current day, shared by every server thread.
pub struct Daily {
    queries: [[AtomicU64; 2]; 2],
    responses: [[AtomicU64; 2]; 2],
    rcodes: Box<[AtomicU64]>,
    request_sizes: [[AtomicU64; REQUEST_BUCKETS]; 2],
    response_sizes: [[AtomicU64; RESPONSE_BUCKETS]; 2],
    sources: Box<[AtomicU8]>,
    /// Serial -> seconds from its trigger (NOTIFY, refresh timer, reload) to serving it.
    load_times: Mutex<BTreeMap<u32, u64>>,
    /// Trust-anchor signals received here, with their sources (at most MAX_SIGNAL_SOURCES pairs).
    signal_sources: Mutex<BTreeSet<(u32, [u8; 16])>>,
}

impl Default for Daily {
    fn default() -> Self {
        Daily {
            queries: Default::default(),
            responses: Default::default(),
            rcodes: (0..RCODES).map(|_| AtomicU64::new(0)).collect(),
            request_sizes: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            response_sizes: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            sources: (0..SOURCE_SETS as usize * HLL_REGISTERS).map(|_| AtomicU8::new(0)).collect(),
            load_times: Mutex::new(BTreeMap::new()),
            signal_sources: Mutex::new(BTreeSet::new()),
        }
    }
}

/// The 12-bit rcode of a response: the header's four bits and, with an OPT, its upper eight.
pub fn extended_rcode(resp: &[u8]) -> u16 {
    let low = (resp.get(3).copied().unwrap_or(0) & 0x0f) as u16;
    low | (opt_ext_rcode(resp).unwrap_or(0) as u16) << 4
}

/// The extended-rcode octet of a message's OPT record, if it has one.
fn opt_ext_rcode(m: &[u8]) -> Option<u8> {
    let be16 = |at: usize| Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]));
    let skip_name = |mut at: usize| loop {
        match *m.get(at)? {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l if l > 63 => return None,
            l => at += 1 + l as usize,
        }
    };
    let (qd, an, ns, ar) = (be16(4)?, be16(6)?, be16(8)?, be16(10)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(at)? + 4;
    }
    for i in 0..an as usize + ns as usize + ar as usize {
        at = skip_name(at)?;
        if be16(at)? == zonegen::rr::OPT && i >= an as usize + ns as usize {
            return m.get(at + 4).copied();
        }
        at += 10 + be16(at + 8)? as usize;
    }
    None
}

impl Daily {
    /// A query received over `transport` from `src`: `msg` is its DNS message.
    pub fn query(&self, transport: usize, src: IpAddr, msg: &[u8]) {
        let len = msg.len();
        let (key, v6) = addr_key(src);
        // A trust-anchor signal in the question's top label (as the programs take it from a missing
        // TLD's label): its source, for the day's report of sources by key tag.
        if let Some(label) =
            super::parse::last_label(msg).filter(|l| l.first().is_some_and(|c| *c == b'_' || c.eq_ignore_ascii_case(&b'r')))
        {
            let sig = zonegen::signal::signals(label);
            if !sig.is_empty() {
                let mut set = self.signal_sources.lock().unwrap_or_else(|p| p.into_inner());
                for (kind, tag) in sig {
                    if set.len() < MAX_SIGNAL_SOURCES as usize {
                        set.insert((signal_key(kind as u32, tag), key.addr));
                    }
                }
            }
        }
        self.queries[transport][v6 as usize].fetch_add(1, Ordering::Relaxed);
        self.request_sizes[transport][request_bucket(len)].fetch_add(1, Ordering::Relaxed);
        for (set, hash) in source_hashes(&key, v6) {
            if set < SOURCE_SETS {
                let (i, rank) = hll_index_rank(hash);
                self.sources[set as usize * HLL_REGISTERS + i].fetch_max(rank, Ordering::Relaxed);
            }
        }
    }

    /// A response sent over `transport` to a peer of family `v6`.
    pub fn response(&self, transport: usize, v6: bool, resp: &[u8]) {
        self.responses[transport][v6 as usize].fetch_add(1, Ordering::Relaxed);
        self.response_sizes[transport][response_bucket(resp.len())].fetch_add(1, Ordering::Relaxed);
        self.rcodes[extended_rcode(resp) as usize % RCODES].fetch_add(1, Ordering::Relaxed);
    }

    /// A new serial served `secs` after what triggered its load.
    pub fn loaded(&self, serial: u32, secs: u64) {
        self.load_times.lock().unwrap_or_else(|p| p.into_inner()).insert(serial, secs);
    }

    /// The counts so far; with `reset`, zeroed as they are read (each counter atomically, so a count
    /// that races the rollover lands in one day or the other, never in both or neither).
    pub fn totals(&self, reset: bool) -> DayTotals {
        let read = |a: &AtomicU64| if reset { a.swap(0, Ordering::Relaxed) } else { a.load(Ordering::Relaxed) };
        let read8 = |a: &AtomicU8| if reset { a.swap(0, Ordering::Relaxed) } else { a.load(Ordering::Relaxed) };
        let mut t = DayTotals {
            queries: [[0; 2]; 2],
            responses: [[0; 2]; 2],
            request_sizes: [0, 1].map(|tr| self.request_sizes[tr].iter().map(read).collect()),
            response_sizes: [0, 1].map(|tr| self.response_sizes[tr].iter().map(read).collect()),
            ..DayTotals::default()
        };
        for tr in [UDP, TCP] {
            for f in [IPV4, IPV6] {
                t.queries[tr][f] = read(&self.queries[tr][f]);
                t.responses[tr][f] = read(&self.responses[tr][f]);
            }
        }
        for (code, a) in self.rcodes.iter().enumerate() {
            let n = read(a);
            if n > 0 {
                t.rcodes.insert(code as u16, n);
            }
        }
        for (set, regs) in t.sources.iter_mut().enumerate() {
            regs.0 = self.sources[set * HLL_REGISTERS..(set + 1) * HLL_REGISTERS].iter().map(read8).collect();
        }
        let mut lt = self.load_times.lock().unwrap_or_else(|p| p.into_inner());
        t.load_times = if reset { std::mem::take(&mut *lt) } else { lt.clone() };
        let mut ss = self.signal_sources.lock().unwrap_or_else(|p| p.into_inner());
        let pairs = if reset { std::mem::take(&mut *ss) } else { ss.clone() };
        t.add_signal_sources(pairs.iter().map(|(k, a)| (*k, *a)));
        t
    }
}

/// A day's totals: received and sent by transport and family, rcodes, sizes by transport, source
/// registers (IPv4, IPv6, IPv6 /64) and load times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTotals {
    /// [transport][family]
    pub queries: [[u64; 2]; 2],
    pub responses: [[u64; 2]; 2],
    pub rcodes: BTreeMap<u16, u64>,
    /// [transport] -> one count per bucket
    pub request_sizes: [Vec<u64>; 2],
    pub response_sizes: [Vec<u64>; 2],
    pub sources: [Registers; 3],
    pub load_times: BTreeMap<u32, u64>,
    /// Trust-anchor signal (as `stats` names it: ta.4f66, sentinel-is-ta.20326) -> the sources that sent it.
    #[serde(default)]
    pub signal_sources: BTreeMap<String, BTreeSet<std::net::IpAddr>>,
}

impl Default for DayTotals {
    fn default() -> Self {
        DayTotals {
            queries: [[0; 2]; 2],
            responses: [[0; 2]; 2],
            rcodes: BTreeMap::new(),
            request_sizes: [vec![0; REQUEST_BUCKETS], vec![0; REQUEST_BUCKETS]],
            response_sizes: [vec![0; RESPONSE_BUCKETS], vec![0; RESPONSE_BUCKETS]],
            sources: Default::default(),
            load_times: BTreeMap::new(),
            signal_sources: BTreeMap::new(),
        }
    }
}

impl DayTotals {
    /// Add another part of the same day (another run, another CPU's or the kernel's share).
    pub fn add(&mut self, o: &DayTotals) {
        for tr in [UDP, TCP] {
            for f in [IPV4, IPV6] {
                self.queries[tr][f] += o.queries[tr][f];
                self.responses[tr][f] += o.responses[tr][f];
            }
            add_vec(&mut self.request_sizes[tr], &o.request_sizes[tr]);
            add_vec(&mut self.response_sizes[tr], &o.response_sizes[tr]);
        }
        for (code, n) in &o.rcodes {
            *self.rcodes.entry(*code).or_default() += n;
        }
        for (a, b) in self.sources.iter_mut().zip(&o.sources) {
            a.merge(&b.0);
        }
        for (sig, srcs) in &o.signal_sources {
            self.signal_sources.entry(sig.clone()).or_default().extend(srcs);
        }
        for (serial, secs) in &o.load_times {
            // Two runs that both loaded a serial: the later load is what served it.
            let e = self.load_times.entry(*serial).or_insert(*secs);
            *e = (*e).max(*secs);
        }
    }

    /// Add (signal key, source as the programs key it) pairs.
    pub fn add_signal_sources(&mut self, pairs: impl IntoIterator<Item = (u32, [u8; 16])>) {
        for (key, addr) in pairs {
            let (kind, tag) = signal_of_key(key);
            let ip = std::net::Ipv6Addr::from(addr);
            let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
            self.signal_sources.entry(super::signal_name(kind, tag)).or_default().insert(ip);
        }
    }

    /// Key tags by the number of distinct sources that sent them (most first): RFC 8145's daily report.
    pub fn signal_report(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self.signal_sources.iter().map(|(k, s)| (k.clone(), s.len())).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Add what the kernel programs counted in one day slot (UDP only: they answer nothing else).
    pub fn add_kernel(&mut self, k: &DailyCounts, regs: &[HllRegisters]) {
        for f in [IPV4, IPV6] {
            self.queries[UDP][f] += k.queries[f];
            self.responses[UDP][f] += k.responses[f];
        }
        for (&code, &n) in KERNEL_RCODES.iter().zip(&k.rcodes) {
            if n > 0 {
                *self.rcodes.entry(code).or_default() += n;
            }
        }
        add_vec(&mut self.request_sizes[UDP], &k.request_sizes);
        add_vec(&mut self.response_sizes[UDP], &k.response_sizes);
        for (a, b) in self.sources.iter_mut().zip(regs) {
            a.merge(&b.r);
        }
    }
}

fn add_vec(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_transport_family_size_and_source() {
        let d = Daily::default();
        let v4: IpAddr = "198.18.0.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        let mapped: IpAddr = "::ffff:198.18.0.7".parse().unwrap();
        d.query(UDP, v4, &[0; 40]);
        d.query(UDP, mapped, &[0; 300]);
        d.query(TCP, v6, &[0; 16]);
        // _TA-4F66-9728. NULL from v6: two key tags from one source; sent twice, one source each.
        let mut ta = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 13];
        ta.extend_from_slice(b"_TA-4F66-9728");
        ta.extend_from_slice(&[0, 0, 10, 0, 1]);
        d.query(UDP, v6, &ta);
        d.query(UDP, v6, &ta);
        d.query(UDP, v4, &ta);
        // NXDOMAIN, no OPT; and a BADVERS (16: header 0, OPT's extended rcode 1) after a question.
        let mut nx = vec![0u8; 600];
        nx[3] = 3;
        d.response(UDP, false, &nx);
        let mut badvers = vec![0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, b'j', b'p', 0, 0, 1, 0, 1];
        badvers.extend_from_slice(&[0, 0, 41, 4, 0xd0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(extended_rcode(&badvers), 16);
        assert_eq!(extended_rcode(&badvers[..badvers.len() - 7]), 0, "cut short: no OPT found");
        let t = d.totals(true);
        assert_eq!(t.queries, [[3, 2], [0, 1]]);
        assert_eq!(t.signal_report(), vec![("ta.4f66".to_string(), 2), ("ta.9728".to_string(), 2)]);
        assert_eq!(t.responses, [[1, 0], [0, 0]]);
        assert_eq!(t.request_sizes[UDP][2], 1);
        assert_eq!(t.request_sizes[UDP][ta.len() / 16], 3);
        assert_eq!(t.request_sizes[UDP][REQUEST_BUCKETS - 1], 1, "300 is in 288-");
        assert_eq!(t.request_sizes[TCP][1], 1);
        assert_eq!(t.response_sizes[UDP][600 / 16], 1);
        assert_eq!(t.rcodes, BTreeMap::from([(3, 1)]));
        assert_eq!([t.sources[0].estimate(), t.sources[1].estimate(), t.sources[2].estimate()], [1, 1, 1], "one v4 (twice), one v6");
        // Read with reset: the next read starts from nothing.
        assert_eq!(d.totals(false), DayTotals::default());
        let mut sum = t.clone();
        sum.add(&t);
        assert_eq!(sum.queries, [[6, 4], [0, 2]]);
        assert_eq!(sum.sources, t.sources);
    }
}
