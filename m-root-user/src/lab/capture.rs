//! Frames as they arrive on an interface, read from a packet socket: with the VLAN tag the receive path
//! moved out of the frame put back, and with the checksum state the kernel left them in. Used for
//! VLAN-tagged injected queries and by `udp_query_captured`, which asks from an ordinary socket.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::iface_info;
use crate::frame;

/// What came back for a query sent from an ordinary UDP socket: the DNS answer the socket received, the
/// frame a packet socket on the interface saw, and whether its UDP checksum was left partial.
pub struct Captured {
    pub answer: Vec<u8>,
    pub frame: Vec<u8>,
    pub csum_partial: bool,
}

/// Send `msg` from an ordinary UDP socket (as kdig would) to `server`:53 and capture the answer's frame on
/// `iface` too. Run inside the client namespace.
pub fn udp_query_captured(iface: &str, server: IpAddr, msg: &[u8], timeout: Duration) -> Result<Captured> {
    use std::os::fd::AsRawFd;
    let (ifindex, _) = iface_info(iface)?;
    let fd = packet_socket(ifindex, timeout)?;
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(timeout))?;
    let sport = sock.local_addr()?.port();
    sock.send_to(msg, SocketAddr::new(server, 53))?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).with_context(|| format!("no answer from {server} within {timeout:?}"))?;
    let answer = buf[..n].to_vec();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let Some((frame, status)) = recv_frame(fd.as_raw_fd(), &mut buf) else { break };
        let partial = status & TP_STATUS_CSUMNOTREADY != 0;
        let parsed = if partial { frame::parse_checked_partial(&frame) } else { frame::parse_checked(&frame) };
        match parsed {
            Ok(p) if p.src == server && p.dport == sport => return Ok(Captured { answer, frame, csum_partial: partial }),
            Ok(_) => {}
            // Only the answer matters; our own query (partial or not) shows up too.
            Err(e) if is_from(&frame, server, sport) => bail!("the answer frame failed its checks: {e}"),
            Err(_) => {}
        }
    }
    bail!("the answer from {server} reached the socket but not the packet socket on {iface}")
}

/// Does an IP/UDP frame (no VLAN tags) come from `src` to port `dport`?
fn is_from(f: &[u8], src: IpAddr, dport: u16) -> bool {
    if frame::ip_protocol(f) != Some(17) {
        return false;
    }
    let (s, udp): (IpAddr, usize) = match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 if f.len() >= 14 + 28 => (IpAddr::from(<[u8; 4]>::try_from(&f[26..30]).unwrap_or_default()), 14 + 20),
        0x86dd if f.len() >= 14 + 48 => (IpAddr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap_or_default()), 14 + 40),
        _ => return false,
    };
    s == src && u16::from_be_bytes([f[udp + 2], f[udp + 3]]) == dport
}

/// A packet socket on one interface that sees every frame, with a receive timeout and auxdata (the receive
/// path moves the outer VLAN tag out of the frame; auxdata gives it back, and says how its checksum stands).
pub(super) fn packet_socket(ifindex: u32, timeout: Duration) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain socket/bind/setsockopt calls on an fd we own, with correctly sized structs.
    let fd = unsafe {
        let raw = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, (libc::ETH_P_ALL as u16).to_be() as i32);
        if raw < 0 {
            bail!("packet socket: {}", std::io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(raw)
    };
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as i32;
    let tv = libc::timeval { tv_sec: timeout.as_secs() as i64, tv_usec: timeout.subsec_micros() as i64 };
    unsafe {
        if libc::bind(fd.as_raw_fd(), &sll as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_ll>() as u32) != 0 {
            bail!("binding the packet socket: {}", std::io::Error::last_os_error());
        }
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_AUXDATA,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
    Ok(fd)
}

const PACKET_AUXDATA: libc::c_int = 8;
/// The frame's checksum is left for the device or stack to complete (CHECKSUM_PARTIAL).
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// `struct tpacket_auxdata` (linux/if_packet.h).
#[repr(C)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// Receive one frame from a packet socket, with the VLAN tag the stack took out put back in place.
pub(super) fn recv_with_tag(fd: i32, buf: &mut [u8]) -> Option<Vec<u8>> {
    recv_frame(fd, buf).map(|(f, _)| f)
}

/// Receive one frame and its tp_status from a packet socket, with the VLAN tag put back in place.
fn recv_frame(fd: i32, buf: &mut [u8]) -> Option<(Vec<u8>, u32)> {
    let mut cbuf = [0u8; 128];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: recvmsg with a valid iovec and control buffer; the cmsg walk stays inside msg_controllen.
    unsafe {
        let mut mh: libc::msghdr = std::mem::zeroed();
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        mh.msg_controllen = cbuf.len();
        let n = libc::recvmsg(fd, &mut mh, 0);
        if n <= 0 {
            return None;
        }
        let mut frame = buf[..n as usize].to_vec();
        let mut status = 0;
        let mut c = libc::CMSG_FIRSTHDR(&mh);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                let aux = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const TpacketAuxdata);
                status = aux.tp_status;
                if aux.tp_status & TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12 {
                    let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 { aux.tp_vlan_tpid } else { 0x8100 };
                    let mut tag = tpid.to_be_bytes().to_vec();
                    tag.extend_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                    frame.splice(12..12, tag);
                }
            }
            c = libc::CMSG_NXTHDR(&mh, c);
        }
        Some((frame, status))
    }
}
