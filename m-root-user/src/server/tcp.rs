//! TCP (RFC 7766): one thread accepts, within a total and a per-source connection limit; one thread
//! per connection reads length-prefixed queries and answers them in order, until the peer goes quiet
//! for the idle timeout.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use zonegen::answer::{self, Transport};

use super::{ServeOptions, State};
use crate::observe::{Count, Stats, daily, dnstap};

pub(super) fn listener(sa: SocketAddr) -> Result<TcpListener> {
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    // A successor taking over (`run --take-over`) listens beside this one until it stops.
    s.set_reuse_port(true)?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&sa.into())?;
    s.listen(1024)?;
    let l: TcpListener = s.into();
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Open connections, in all and per source, to keep one source from taking every slot.
struct Conns {
    total: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

/// Block until `fd` is readable or `timeout_ms` passes.
fn wait_readable(fd: &impl std::os::fd::AsRawFd, timeout_ms: i32) {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, timeout_ms) };
}

pub(super) fn acceptor(
    listener: TcpListener,
    state: Arc<ArcSwap<State>>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    opts: ServeOptions,
    mut reader: super::handoff::Reader,
) {
    let conns = Arc::new(Conns { total: AtomicUsize::new(0), per_source: Mutex::new(Default::default()) });
    while !stop.load(Ordering::Relaxed) {
        // A hand-over in progress: connections wait in the listen queue (the listener is handed too).
        if reader.wait() {
            continue;
        }
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
        // The drop list: closed unanswered.
        if state.load().limiter.dropped(peer.ip()) {
            stats.add(Count::AclDropped, 1);
            continue;
        }
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
            stats.add(Count::TcpRefused, 1);
            drop(stream);
            continue;
        }
        stats.add(Count::TcpConnections, 1);
        let (state, stats, stop, conns, idle) = (state.clone(), stats.clone(), stop.clone(), conns.clone(), opts.tcp_idle);
        let hooks = (opts.notify.clone(), opts.transfer.clone());
        // A connection accepted goes on with this daemon's zone to its end, through a hand-over too (its
        // client sees no other zone on it); new ones wait in the listener for whoever reads it.
        let spawned = std::thread::Builder::new().name("tcp-conn".into()).spawn(move || {
            connection(stream, &state, &stats, &stop, idle, &hooks);
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
    // Stopping: no new connections here (a successor that took the listener over holds it open and
    // accepts what waits in its queue; one listening beside this one gets that queue when
    // net.ipv4.tcp_migrate_req is 1), and the connections open get a moment to have their queries
    // answered before the process exits under them.
    drop(listener);
    let deadline = std::time::Instant::now() + DRAIN;
    while conns.total.load(Ordering::Relaxed) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long stopping waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(1);

/// Fill `buf` from `s` before `deadline`; false on EOF, an error, or the deadline.
fn read_by(s: &mut TcpStream, buf: &mut [u8], deadline: std::time::Instant) -> bool {
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match s.read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Write `buf` whole to `s` before `deadline` (a peer that reads a little now and then cannot hold
/// its slot either); false on an error or the deadline.
fn write_by(s: &mut TcpStream, buf: &[u8], deadline: std::time::Instant) -> bool {
    let mut sent = 0;
    while sent < buf.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || s.set_write_timeout(Some(left)).is_err() {
            return false;
        }
        match s.write(&buf[sent..]) {
            Ok(0) => return false,
            Ok(k) => sent += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// RFC 7766: length-prefixed messages, answered in order; the idle timeout bounds a slow or silent peer.
fn connection(
    mut s: TcpStream,
    state: &ArcSwap<State>,
    stats: &Stats,
    stop: &AtomicBool,
    idle: Duration,
    (notify, transfer): &(Option<super::NotifyHook>, Option<super::TransferHook>),
) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(idle));
    let _ = s.set_write_timeout(Some(idle));
    let _ = s.set_nodelay(true);
    let mut len = [0u8; 2];
    let mut msg = vec![0u8; 65535];
    let ipv6 = s.peer_addr().is_ok_and(|p| p.is_ipv6());
    let tap = stats.dnstap.get().zip(s.peer_addr().ok()).zip(s.local_addr().ok());
    while !stop.load(Ordering::Relaxed) {
        // The whole next message within the idle timeout, however its octets trickle in: a timeout per
        // read would let a peer sending an octet now and then hold its slot for ever.
        let deadline = std::time::Instant::now() + idle;
        if !read_by(&mut s, &mut len, deadline) {
            return;
        }
        let n = u16::from_be_bytes(len) as usize;
        if !read_by(&mut s, &mut msg[..n], deadline) {
            return;
        }
        stats.add_by_family(Count::TcpQueries, ipv6, 1);
        let received = std::time::SystemTime::now();
        if let Some(((t, peer), local)) = &tap {
            t.query(dnstap::TCP, peer, local, &msg[..n], received);
        }
        let peer = s.peer_addr().ok().map(|p| p.ip());
        if let Some(p) = peer {
            stats.daily.query(daily::TCP, p, &msg[..n]);
        }
        let st = state.load();
        // Cookies over TCP too (RFC 7873 5.2): the client learns a server cookie for its UDP queries.
        let cookies = peer.and_then(|p| st.limiter.cookie_ctx(p));
        // A zone transfer to an allowed client: its messages, in order.
        if let (Some(h), Some(p)) = (transfer, peer)
            && !st.expired.load(Ordering::Relaxed)
            && let Some(msgs) = (h.0)(&st.zone, p, &msg[..n])
        {
            for m in msgs {
                let mut out = Vec::with_capacity(m.len() + 2);
                out.extend_from_slice(&(m.len() as u16).to_be_bytes());
                out.extend_from_slice(&m);
                if !write_by(&mut s, &out, std::time::Instant::now() + idle) {
                    return;
                }
                stats.add_by_family(Count::TcpResponses, ipv6, 1);
                stats.daily.response(daily::TCP, ipv6, &m);
                if let Some(((t, peer), local)) = &tap {
                    t.response(dnstap::TCP, peer, local, received, &m, std::time::SystemTime::now());
                }
            }
            continue;
        }
        let answered = match (notify, peer) {
            // NOTIFY to a secondary (Knot 3.2 sends it over TCP, NSD over UDP).
            (Some(h), Some(p)) if crate::secondary::notify::is_notify(&msg[..n]) => {
                (h.0)(p, true, &msg[..n]).map(|r| (r, answer::Kind::Error, None))
            }
            _ => match crate::secondary::outgoing::refuse(&msg[..n]) {
                // A transfer not served here (TSIG-signed ones included): REFUSED.
                Some(r) => Some((r, answer::Kind::Error, None)),
                // The zone has expired (a secondary that could not refresh it): SERVFAIL to everything.
                None if st.expired.load(Ordering::Relaxed) => answer::servfail(&msg[..n], &st.cfg).map(|r| (r, answer::Kind::Error, None)),
                None => {
                    answer::answer_with(&st.zone, &st.cfg, &msg[..n], Transport::Tcp, cookies.as_ref()).map(|a| (a.msg, a.kind, a.cookie))
                }
            },
        };
        match answered {
            Some((resp, kind, cookie)) => {
                stats.count_cookie(cookie);
                stats.record(&resp, kind);
                stats.count_key_tags(&msg[..n]);
                let mut out = Vec::with_capacity(resp.len() + 2);
                out.extend_from_slice(&(resp.len() as u16).to_be_bytes());
                out.extend_from_slice(&resp);
                if !write_by(&mut s, &out, std::time::Instant::now() + idle) {
                    return;
                }
                stats.add_by_family(Count::TcpResponses, ipv6, 1);
                stats.daily.response(daily::TCP, ipv6, &resp);
                if let Some(((t, peer), local)) = &tap {
                    t.response(dnstap::TCP, peer, local, received, &resp, std::time::SystemTime::now());
                }
            }
            None => {
                stats.add(Count::Dropped, 1);
                // Nothing to say to a peer that sends responses or garbage shorter than a header.
                return;
            }
        }
    }
}
