//! The listening sockets, as a successor (`run --take-over`) takes them: the running daemon sends its
//! UDP sockets and TCP listeners over the control socket (SCM_RIGHTS) with its offer, and stops reading
//! them (its gate is held); the successor reads them, its own gate held too, until its programs are in
//! the kernel's links. So every query userspace answers before the swap gets the old zone, and every
//! one after it the new zone, as the kernel's answers do; and what arrived in between waits in the
//! sockets' queues, not lost (closing a socket of a SO_REUSEPORT group drops its queue; handing it over
//! closes nothing).

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Held: the server's threads do not read their sockets (queries wait in the sockets' queues). Each
/// thread that reads a socket is a [`Reader`]; [`Gate::hold_settled`] returns once every one of them
/// has finished what it was answering and parked, so nothing is answered from this side after it.
#[derive(Debug, Default)]
pub struct Gate {
    held: AtomicBool,
    readers: AtomicUsize,
    parked: AtomicUsize,
}

impl Gate {
    pub fn held() -> Gate {
        Gate { held: AtomicBool::new(true), ..Gate::default() }
    }
    pub fn open(&self) {
        self.held.store(false, Ordering::SeqCst);
    }
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
    /// Hold, and wait (at most `timeout`) until every reader has parked: a reader blocked in a receive
    /// (up to its socket's 200 ms timeout) may still take a batch and answer it first. False if some
    /// had not parked in time.
    pub fn hold_settled(&self, timeout: Duration) -> bool {
        self.held.store(true, Ordering::SeqCst);
        let t = std::time::Instant::now();
        while self.parked.load(Ordering::SeqCst) < self.readers.load(Ordering::SeqCst) {
            if t.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
    /// A thread that will read a socket (made before the thread starts, so a hold never misses it).
    pub fn reader(self: &Arc<Self>) -> Reader {
        self.readers.fetch_add(1, Ordering::SeqCst);
        Reader { gate: self.clone(), parked: false }
    }
}

/// One reading thread's part in its [`Gate`].
#[derive(Debug)]
pub struct Reader {
    gate: Arc<Gate>,
    parked: bool,
}

impl Reader {
    /// Before each receive: while the gate is held, park, wait a moment and say so (the caller checks
    /// its stop flag and asks again). A millisecond: the queue waits no longer than that once it opens.
    pub fn wait(&mut self) -> bool {
        let held = self.gate.is_held();
        if held && !self.parked {
            self.parked = true;
            self.gate.parked.fetch_add(1, Ordering::SeqCst);
        } else if !held && self.parked {
            self.parked = false;
            self.gate.parked.fetch_sub(1, Ordering::SeqCst);
        }
        if held {
            std::thread::sleep(Duration::from_millis(1));
        }
        held
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.parked {
            self.gate.parked.fetch_sub(1, Ordering::SeqCst);
        }
        self.gate.readers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a handed socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Udp,
    Tcp,
}

/// A handed socket, described in the offer's JSON; its descriptor travels beside it, in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    pub kind: Kind,
    pub addr: SocketAddr,
}

/// A socket the server listens on: what it is, and a descriptor of it to hand over.
#[derive(Debug)]
pub struct Listening {
    pub info: SocketInfo,
    pub fd: OwnedFd,
}

/// What a running server hands to a successor: its gate, and a descriptor of each socket.
#[derive(Debug)]
pub struct Handoff {
    pub gate: Arc<Gate>,
    pub sockets: Vec<Listening>,
}

/// Is `fd` a bound socket of `kind` at `addr`?
pub fn is_socket(fd: &OwnedFd, kind: Kind, addr: SocketAddr) -> bool {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` octets into `ty`.
    let r = unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE, &mut ty as *mut _ as *mut libc::c_void, &mut len) };
    let want = match kind {
        Kind::Udp => libc::SOCK_DGRAM,
        Kind::Tcp => libc::SOCK_STREAM,
    };
    r == 0 && ty == want && socket2::SockRef::from(fd).local_addr().ok().and_then(|a| a.as_socket()) == Some(addr)
}

/// At most this many descriptors in one message (the kernel's SCM_MAX_FD is 253).
pub const MAX_FDS: usize = 253;

/// Write `line` on `stream`, the descriptors `fds` with its first octet.
pub fn send_with_fds(stream: &UnixStream, line: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} descriptors, at most {MAX_FDS} in one message", fds.len())));
    }
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) } as usize;
    // u64 words: the control messages' headers are read and written in place, so aligned.
    let mut control = vec![0u64; space.div_ceil(8).max(1)];
    let mut iov = libc::iovec { iov_base: line.as_ptr() as *mut libc::c_void, iov_len: line.len() };
    // SAFETY: msghdr zeroed, then pointed at `iov` and `control`, which outlive the sendmsg call; the
    // control message is written inside `control`, sized by CMSG_SPACE for exactly these descriptors.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space;
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c) as *mut RawFd, fds.len());
        }
    }
    let sent = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // The descriptors went with the first octets; the rest of a long line as plain writes.
    let mut rest = &line[sent as usize..];
    while !rest.is_empty() {
        let n = unsafe { libc::send(stream.as_raw_fd(), rest.as_ptr() as *const libc::c_void, rest.len(), libc::MSG_NOSIGNAL) };
        if n <= 0 {
            return Err(io::Error::last_os_error());
        }
        rest = &rest[n as usize..];
    }
    Ok(())
}

/// Read one line from `stream` (at most `max` octets) and the descriptors that came with it.
pub fn recv_with_fds(stream: &UnixStream, max: usize) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; 64 << 10];
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: as in send_with_fds; the kernel writes at most msg_controllen octets of control messages.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space;
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote, by the CMSG macros; each SCM_RIGHTS
    // descriptor is new in this process and owned from here on (closed if we return early).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("descriptors truncated in the message"));
    }
    let mut line = buf[..n as usize].to_vec();
    // The rest of the line, if it was longer than the first read.
    let mut s = stream;
    while !line.contains(&b'\n') && n > 0 {
        if line.len() > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("an answer longer than {max} octets")));
        }
        let k = s.read(&mut buf)?;
        if k == 0 {
            break;
        }
        line.extend_from_slice(&buf[..k]);
    }
    Ok((line, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_travel_with_a_long_line() {
        let (a, b) = UnixStream::pair().unwrap();
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = u.local_addr().unwrap();
        let mut line = vec![b'x'; 200_000];
        line.push(b'\n');
        let l2 = line.clone();
        let t = std::thread::spawn(move || send_with_fds(&a, &l2, &[u.as_raw_fd(), u.as_raw_fd()]));
        let (got, fds) = recv_with_fds(&b, 1 << 20).unwrap();
        t.join().unwrap().unwrap();
        assert_eq!(got, line);
        assert_eq!(fds.len(), 2);
        let handed = std::net::UdpSocket::from(fds.into_iter().next().unwrap());
        assert_eq!(handed.local_addr().unwrap(), addr, "the same socket");
    }

    #[test]
    fn no_descriptors_is_a_plain_line() {
        let (a, b) = UnixStream::pair().unwrap();
        send_with_fds(&a, b"{\"ok\":true}\n", &[]).unwrap();
        let (got, fds) = recv_with_fds(&b, 1024).unwrap();
        assert_eq!(got, b"{\"ok\":true}\n");
        assert!(fds.is_empty());
    }
}
