//! The userspace server: answers, with zonegen's one answer function, every query the XDP program passed
//! up (or all of them with `--xdp-mode off`), over UDP and TCP, IPv4 and IPv6.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use zonegen::answer::{self, Kind, Transport};
use zonegen::{ServerConfig, Zone};

/// What the server answers from: swapped whole on reload.
pub struct State {
    pub zone: Zone,
    pub cfg: ServerConfig,
    /// The compiled table, for the UDP queries it covers (same bytes as the answer function, faster).
    pub fast: zonegen::fast::FastTable,
}

/// What kind of answer a spliced response is (for the counters).
fn kind_of(resp: &[u8]) -> Kind {
    let flags = u16::from_be_bytes([resp.get(2).copied().unwrap_or(0), resp.get(3).copied().unwrap_or(0)]);
    let ancount = u16::from_be_bytes([resp.get(6).copied().unwrap_or(0), resp.get(7).copied().unwrap_or(0)]);
    match (flags & 0x0f, flags & 0x0400 != 0, ancount) {
        (3, _, _) => Kind::Nxdomain,
        (_, false, _) => Kind::Referral,
        (_, true, 0) => Kind::Nodata,
        _ => Kind::Authoritative,
    }
}

/// Userspace counters (names follow Knot's and NSD's where they exist).
pub struct Stats {
    pub udp_queries: AtomicU64,
    pub udp_responses: AtomicU64,
    pub tcp_queries: AtomicU64,
    pub tcp_responses: AtomicU64,
    pub dropped: AtomicU64,
    pub truncated: AtomicU64,
    pub tcp_connections: AtomicU64,
    pub tcp_refused: AtomicU64,
    pub rcode: [AtomicU64; 24],
    pub kind_referral: AtomicU64,
    pub kind_nxdomain: AtomicU64,
    pub kind_nodata: AtomicU64,
    pub kind_authoritative: AtomicU64,
    pub kind_chaos: AtomicU64,
    pub kind_error: AtomicU64,
    /// Queries by qtype (below 256; the rest in `qtype_other`).
    pub qtype: [AtomicU64; 256],
    pub qtype_other: AtomicU64,
    /// Trust-anchor signals answered here: (kind, key tag) -> count.
    pub signals: Mutex<std::collections::BTreeMap<(u8, u16), u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            udp_queries: AtomicU64::new(0),
            udp_responses: AtomicU64::new(0),
            tcp_queries: AtomicU64::new(0),
            tcp_responses: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            tcp_connections: AtomicU64::new(0),
            tcp_refused: AtomicU64::new(0),
            rcode: std::array::from_fn(|_| AtomicU64::new(0)),
            kind_referral: AtomicU64::new(0),
            kind_nxdomain: AtomicU64::new(0),
            kind_nodata: AtomicU64::new(0),
            kind_authoritative: AtomicU64::new(0),
            kind_chaos: AtomicU64::new(0),
            kind_error: AtomicU64::new(0),
            qtype: std::array::from_fn(|_| AtomicU64::new(0)),
            qtype_other: AtomicU64::new(0),
            signals: Mutex::new(Default::default()),
        }
    }
}

/// "ta.4f66", "sentinel-is-ta.20326": a signal as `stats` names it.
pub fn signal_name(kind: u32, tag: u16) -> String {
    match kind {
        0 => format!("ta.{tag:04x}"),
        k => format!("{}.{tag:05}", zonegen::signal::kind_name(k as u8)),
    }
}

/// The last (top-level) label of a message's question name.
fn last_label(msg: &[u8]) -> Option<&[u8]> {
    if msg.len() < 12 || msg[4..6] == [0, 0] {
        return None;
    }
    let l = zonegen::name::wire_len(msg, 12)?;
    let q = &msg[12..12 + l];
    let t = zonegen::name::suffix(q, 1);
    (t.len() > 1).then(|| &t[1..t.len() - 1])
}

/// The qtype of a message's first question, if it has one.
fn question_type(msg: &[u8]) -> Option<u16> {
    if msg.len() < 12 || msg[4..6] == [0, 0] {
        return None;
    }
    let l = zonegen::name::wire_len(msg, 12)?;
    Some(u16::from_be_bytes([*msg.get(12 + l)?, *msg.get(13 + l)?]))
}

#[derive(Serialize)]
pub struct StatsSnapshot {
    pub udp_queries: u64,
    pub udp_responses: u64,
    pub tcp_queries: u64,
    pub tcp_responses: u64,
    pub dropped: u64,
    pub truncated: u64,
    pub tcp_connections: u64,
    pub tcp_refused: u64,
    pub rcodes: Vec<(String, u64)>,
    pub kinds: Vec<(String, u64)>,
    pub qtypes: Vec<(String, u64)>,
    pub signals: Vec<(String, u64)>,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let names = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];
        let mut rcodes = Vec::new();
        for (i, c) in self.rcode.iter().enumerate() {
            let v = l(c);
            if v > 0 {
                let n = names.get(i).map(|s| s.to_string()).unwrap_or_else(|| if i == 16 { "BADVERS".into() } else { format!("RCODE{i}") });
                rcodes.push((n, v));
            }
        }
        StatsSnapshot {
            udp_queries: l(&self.udp_queries),
            udp_responses: l(&self.udp_responses),
            tcp_queries: l(&self.tcp_queries),
            tcp_responses: l(&self.tcp_responses),
            dropped: l(&self.dropped),
            truncated: l(&self.truncated),
            tcp_connections: l(&self.tcp_connections),
            tcp_refused: l(&self.tcp_refused),
            rcodes,
            kinds: vec![
                ("referral".into(), l(&self.kind_referral)),
                ("nxdomain".into(), l(&self.kind_nxdomain)),
                ("nodata".into(), l(&self.kind_nodata)),
                ("authoritative".into(), l(&self.kind_authoritative)),
                ("chaos".into(), l(&self.kind_chaos)),
                ("error".into(), l(&self.kind_error)),
            ],
            qtypes: self
                .qtype
                .iter()
                .enumerate()
                .filter(|(_, c)| l(c) > 0)
                .map(|(t, c)| (zonegen::rr::type_name(t as u16), l(c)))
                .chain((l(&self.qtype_other) > 0).then(|| ("other".to_string(), l(&self.qtype_other))))
                .collect(),
            signals: self
                .signals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|((k, t), n)| (signal_name(*k as u32, *t), *n))
                .collect(),
        }
    }

    fn record(&self, resp: &[u8], kind: Kind) {
        if kind == Kind::Nxdomain {
            if let Some(label) = last_label(resp) {
                let sig = zonegen::signal::signals(label);
                if !sig.is_empty() {
                    let mut m = self.signals.lock().unwrap_or_else(|p| p.into_inner());
                    for s in sig {
                        *m.entry(s).or_insert(0) += 1;
                    }
                }
            }
        }
        match question_type(resp) {
            Some(t) if (t as usize) < self.qtype.len() => {
                self.qtype[t as usize].fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                self.qtype_other.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        let rcode = (resp.get(3).copied().unwrap_or(0) & 0x0f) as usize;
        // Extended rcode (BADVERS) lives in OPT; the header part is enough to tell it from NOERROR here.
        if let Some(c) = self.rcode.get(rcode) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if resp.get(2).is_some_and(|f| f & 0x02 != 0) {
            self.truncated.fetch_add(1, Ordering::Relaxed);
        }
        let k = match kind {
            Kind::Referral => &self.kind_referral,
            Kind::Nxdomain => &self.kind_nxdomain,
            Kind::Nodata => &self.kind_nodata,
            Kind::Authoritative => &self.kind_authoritative,
            Kind::Chaos => &self.kind_chaos,
            Kind::Error => &self.kind_error,
        };
        k.fetch_add(1, Ordering::Relaxed);
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addrs: Vec<IpAddr>,
    pub port: u16,
    pub workers: usize,
    pub tcp_max_connections: usize,
    pub tcp_max_per_source: usize,
    pub tcp_idle: Duration,
}

/// Running server threads.
pub struct Server {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    pub fn start(state: Arc<ArcSwap<State>>, stats: Arc<Stats>, opts: &ServeOptions) -> Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for addr in &opts.addrs {
            let sa = SocketAddr::new(*addr, opts.port);
            for w in 0..opts.workers.max(1) {
                let sock = udp_socket(sa).with_context(|| format!("binding UDP {sa}"))?;
                let (state, stats, stop) = (state.clone(), stats.clone(), stop.clone());
                threads.push(std::thread::Builder::new().name(format!("udp-{w}")).spawn(move || udp_worker(sock, state, stats, stop))?);
            }
            let listener = tcp_listener(sa).with_context(|| format!("binding TCP {sa}"))?;
            let (state, stats, stop, o) = (state.clone(), stats.clone(), stop.clone(), opts.clone());
            threads
                .push(std::thread::Builder::new().name("tcp-accept".into()).spawn(move || tcp_acceptor(listener, state, stats, stop, o))?);
        }
        Ok(Server { stop, threads })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn udp_socket(sa: SocketAddr) -> Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(sa), Type::DGRAM, Some(Protocol::UDP))?;
    // One socket per worker; the kernel spreads queries over them.
    s.set_reuse_port(true)?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_recv_buffer_size(4 << 20).ok();
    s.bind(&sa.into())?;
    let u: UdpSocket = s.into();
    // Wake up now and then to notice shutdown.
    u.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(u)
}

fn tcp_listener(sa: SocketAddr) -> Result<TcpListener> {
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&sa.into())?;
    s.listen(1024)?;
    let l: TcpListener = s.into();
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Datagrams moved per recvmmsg / sendmmsg call.
const BATCH: usize = 32;
/// Largest query kept; a longer datagram is truncated (and answered FORMERR or dropped as malformed).
const QUERY_BUF: usize = 4096;

/// One UDP worker: receive a batch, answer each, send the batch (recvmmsg / sendmmsg: one system call
/// per batch instead of two per query).
fn udp_worker(sock: UdpSocket, state: Arc<ArcSwap<State>>, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let mut bufs = vec![[0u8; QUERY_BUF]; BATCH];
    // SAFETY (whole loop): the iovec/msghdr arrays point into `bufs`, `names` and `responses`, which
    // outlive each system call and are not moved while the kernel uses them.
    let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iov: Vec<libc::iovec> =
        bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr() as *mut libc::c_void, iov_len: QUERY_BUF }).collect();
    let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut responses: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut out_iov: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut out_hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Relaxed) {
        for i in 0..BATCH {
            hdrs[i].msg_hdr.msg_name = &mut names[i] as *mut _ as *mut libc::c_void;
            hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_len = 0;
        }
        // Blocks (up to the socket's 200 ms receive timeout) for the first datagram, then takes what is queued.
        let n = unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut()) };
        if n <= 0 {
            continue;
        }
        let n = n as usize;
        stats.udp_queries.fetch_add(n as u64, Ordering::Relaxed);
        let st = state.load();
        responses.clear();
        out_iov.clear();
        out_hdrs.clear();
        let mut peers = Vec::with_capacity(n);
        for i in 0..n {
            let len = (hdrs[i].msg_len as usize).min(QUERY_BUF);
            let query = &bufs[i][..len];
            let result = match st.fast.answer_udp(query) {
                Some(resp) => {
                    let k = kind_of(&resp);
                    Some((resp, k))
                }
                None => answer::answer_kind(&st.zone, &st.cfg, query, Transport::Udp),
            };
            match result {
                Some((resp, kind)) => {
                    stats.record(&resp, kind);
                    responses.push(resp);
                    peers.push(i);
                }
                None => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for r in responses.iter_mut() {
            out_iov.push(libc::iovec { iov_base: r.as_mut_ptr() as *mut libc::c_void, iov_len: r.len() });
        }
        for (k, &i) in peers.iter().enumerate() {
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = &mut names[i] as *mut _ as *mut libc::c_void;
            h.msg_hdr.msg_namelen = hdrs[i].msg_hdr.msg_namelen;
            h.msg_hdr.msg_iov = &mut out_iov[k];
            h.msg_hdr.msg_iovlen = 1;
            out_hdrs.push(h);
        }
        let mut sent = 0usize;
        while sent < out_hdrs.len() {
            let r = unsafe { libc::sendmmsg(fd, out_hdrs[sent..].as_mut_ptr(), (out_hdrs.len() - sent) as u32, 0) };
            if r <= 0 {
                // A full send buffer or an unreachable peer: drop the rest of this batch's answers.
                break;
            }
            sent += r as usize;
        }
        stats.udp_responses.fetch_add(sent as u64, Ordering::Relaxed);
    }
}

/// Per-source connection counts, to keep one source from taking every slot.
struct Conns {
    total: AtomicUsize,
    per_source: Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// Block until `fd` is readable or `timeout_ms` passes.
fn wait_readable(fd: &impl std::os::fd::AsRawFd, timeout_ms: i32) {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, timeout_ms) };
}

fn tcp_acceptor(listener: TcpListener, state: Arc<ArcSwap<State>>, stats: Arc<Stats>, stop: Arc<AtomicBool>, opts: ServeOptions) {
    let conns = Arc::new(Conns { total: AtomicUsize::new(0), per_source: Mutex::new(Default::default()) });
    while !stop.load(Ordering::Relaxed) {
        let (stream, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Wake as a connection arrives (a fixed sleep here added ~10 ms to every lone TCP
                // query), and at least every 100 ms to see `stop`.
                wait_readable(&listener, 100);
                continue;
            }
            Err(e) => {
                log::warn!("tcp accept: {e}");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let admitted = {
            let mut per = conns.per_source.lock().unwrap_or_else(|p| p.into_inner());
            let n = per.entry(peer.ip()).or_insert(0);
            if *n >= opts.tcp_max_per_source || conns.total.load(Ordering::Relaxed) >= opts.tcp_max_connections {
                false
            } else {
                *n += 1;
                conns.total.fetch_add(1, Ordering::Relaxed);
                true
            }
        };
        if !admitted {
            stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
        let (state, stats, stop, conns, idle) = (state.clone(), stats.clone(), stop.clone(), conns.clone(), opts.tcp_idle);
        let spawned = std::thread::Builder::new().name("tcp-conn".into()).spawn(move || {
            tcp_connection(stream, &state, &stats, &stop, idle);
            let mut per = conns.per_source.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = per.get_mut(&peer.ip()) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&peer.ip());
                }
            }
            conns.total.fetch_sub(1, Ordering::Relaxed);
        });
        if let Err(e) = spawned {
            log::warn!("tcp: cannot start a connection thread: {e}");
        }
    }
}

/// RFC 7766: length-prefixed messages, answered in order; the idle timeout bounds a slow or silent peer.
fn tcp_connection(mut s: TcpStream, state: &ArcSwap<State>, stats: &Stats, stop: &AtomicBool, idle: Duration) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(idle));
    let _ = s.set_write_timeout(Some(idle));
    let _ = s.set_nodelay(true);
    let mut len = [0u8; 2];
    let mut msg = vec![0u8; 65535];
    while !stop.load(Ordering::Relaxed) {
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let n = u16::from_be_bytes(len) as usize;
        if s.read_exact(&mut msg[..n]).is_err() {
            return;
        }
        stats.tcp_queries.fetch_add(1, Ordering::Relaxed);
        let st = state.load();
        match answer::answer_kind(&st.zone, &st.cfg, &msg[..n], Transport::Tcp) {
            Some((resp, kind)) => {
                stats.record(&resp, kind);
                let mut out = Vec::with_capacity(resp.len() + 2);
                out.extend_from_slice(&(resp.len() as u16).to_be_bytes());
                out.extend_from_slice(&resp);
                if s.write_all(&out).is_err() {
                    return;
                }
                stats.tcp_responses.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                // Nothing to say to a peer that sends responses or garbage shorter than a header.
                return;
            }
        }
    }
}
