//! UDP: one socket per worker (SO_REUSEPORT; the kernel spreads queries over them), batches of
//! datagrams moved with recvmmsg / sendmmsg. A query the compiled table covers is spliced from it
//! (`zonegen::fast`, the bytes the answer function gives); the rest go to the answer function.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use zonegen::answer::{self, Transport};

use super::State;
use super::limiter::Outcome;
use crate::observe::{Count, Stats, daily, dnstap, kind_of};

/// Datagrams moved per recvmmsg / sendmmsg call.
const BATCH: usize = 32;
/// Largest query kept; a longer datagram is truncated (and answered FORMERR or dropped as malformed).
const QUERY_BUF: usize = 4096;

pub(super) fn socket(sa: SocketAddr) -> Result<UdpSocket> {
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

/// One UDP worker: receive a batch, answer each, send the batch (recvmmsg / sendmmsg: one system call
/// per batch instead of two per query).
pub(super) fn worker(
    sock: UdpSocket,
    state: Arc<ArcSwap<State>>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    notify: Option<super::NotifyHook>,
    mut reader: super::handoff::Reader,
) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    // Each socket is bound to one address (IPv6 ones with IPV6_V6ONLY): its family is its queries'.
    let ipv6 = sock.local_addr().is_ok_and(|a| a.is_ipv6());
    let local = sock.local_addr().ok();
    let dnstap = stats.dnstap.get().cloned().zip(local);
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
        // A hand-over in progress: the queries wait in the socket's queue for whichever daemon serves on.
        if reader.wait() {
            continue;
        }
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
            // The timeout (EAGAIN) or a signal: ask again. Anything else would fail at once every time:
            // not a busy loop.
            let e = std::io::Error::last_os_error().raw_os_error();
            if n < 0 && !matches!(e, Some(libc::EAGAIN | libc::EINTR)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        let n = n as usize;
        let received = std::time::SystemTime::now();
        stats.add_by_family(Count::UdpQueries, ipv6, n as u64);
        let st = state.load();
        responses.clear();
        out_iov.clear();
        out_hdrs.clear();
        let mut peers = Vec::with_capacity(n);
        for i in 0..n {
            let len = (hdrs[i].msg_len as usize).min(QUERY_BUF);
            let query = &bufs[i][..len];
            let sender = peer_socket(&names[i]);
            let peer = sender.map(|s| s.ip());
            if let Some(p) = peer {
                stats.daily.query(daily::UDP, p, query);
            }
            if let (Some((tap, local)), Some(p)) = (&dnstap, sender) {
                tap.query(dnstap::UDP, &p, local, query, received);
            }
            if let Some(p) = peer
                && st.limiter.dropped(p)
            {
                stats.add(Count::AclDropped, 1);
                continue;
            }
            // NOTIFY to a secondary, and everything while its zone has expired, skip the answer function.
            let special = match (&notify, peer) {
                (Some(h), Some(p)) if crate::secondary::notify::is_notify(query) => Some((h.0)(p, false, query)),
                _ if st.expired.load(Ordering::Relaxed) => Some(answer::servfail(query, &st.cfg)),
                _ => None,
            };
            if let Some(r) = special {
                match r {
                    Some(resp) => {
                        stats.record(&resp, kind_of(&resp));
                        responses.push(resp);
                        peers.push(i);
                    }
                    None => stats.add(Count::Dropped, 1),
                }
                continue;
            }
            let cookies = peer.and_then(|p| st.limiter.cookie_ctx(p));
            let mut cookie = None;
            // Answered by the table: no EDNS option but a cookie, so no edns-key-tag to count.
            let mut from_table = true;
            let result = match st.fast.answer_udp(query) {
                Some(resp) => {
                    let k = kind_of(&resp);
                    Some((resp, k))
                }
                None => answer::answer_with(&st.zone, &st.cfg, query, Transport::Udp, cookies.as_ref()).map(|a| {
                    cookie = a.cookie;
                    from_table = false;
                    (a.msg, a.kind)
                }),
            };
            // Rate limiting, as the kernel programs do it: drop, or send the minimal answer (TC=1, or
            // BADCOOKIE with our cookie). A valid server cookie proves the address: not charged.
            let result = match (result, peer) {
                (r, _) if cookie == Some(answer::Verdict::Valid) => r,
                (Some((resp, kind)), Some(p)) => match st.limiter.charge(p, query, &resp) {
                    Outcome::Send => Some((resp, kind)),
                    Outcome::Exempt => {
                        stats.add(Count::RrlExempt, 1);
                        Some((resp, kind))
                    }
                    Outcome::WouldLimit => {
                        stats.add(Count::RrlWouldLimit, 1);
                        Some((resp, kind))
                    }
                    Outcome::Slip(class) => {
                        stats.add(Count::RrlSlipped, 1);
                        stats.add(Count::rrl_by_class(true, class), 1);
                        answer::slipped(query, &resp).map(|r| (r, kind))
                    }
                    Outcome::Drop(class) => {
                        stats.add(Count::RrlDropped, 1);
                        stats.add(Count::rrl_by_class(false, class), 1);
                        continue;
                    }
                },
                (r, _) => r,
            };
            match result {
                Some((resp, kind)) => {
                    // Counted where answered, as the programs count them.
                    stats.count_cookie(cookie);
                    stats.record(&resp, kind);
                    if !from_table {
                        stats.count_key_tags(query);
                    }
                    responses.push(resp);
                    peers.push(i);
                }
                None => stats.add(Count::Dropped, 1),
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
        stats.add_by_family(Count::UdpResponses, ipv6, sent as u64);
        for resp in responses.iter().take(sent) {
            stats.daily.response(daily::UDP, ipv6, resp);
        }
        if let Some((tap, local)) = &dnstap {
            let now = std::time::SystemTime::now();
            for (resp, &i) in responses.iter().zip(&peers).take(sent) {
                if let Some(p) = peer_socket(&names[i]) {
                    tap.response(dnstap::UDP, &p, local, received, resp, now);
                }
            }
        }
    }
}

/// The sender of a received datagram.
fn peer_socket(name: &libc::sockaddr_storage) -> Option<std::net::SocketAddr> {
    match name.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in here (its family says so).
            let a = unsafe { &*(name as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(std::net::SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a = unsafe { &*(name as *const _ as *const libc::sockaddr_in6) };
            Some(std::net::SocketAddr::new(std::net::Ipv6Addr::from(a.sin6_addr.s6_addr).into(), u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}
