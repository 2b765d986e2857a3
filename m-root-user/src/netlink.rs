//! A small rtnetlink client (NETLINK_ROUTE on a socket of its own): the few questions and changes the
//! anycast code makes about interfaces every probe. A link's state and the XDP programs on it, the TC
//! filters on its ingress hook (kernels before 6.6, where TC is attached through netlink), the addresses
//! on a device, adding and removing one, bringing a link up. Written here rather than taken from a
//! crate: these are all it needs (rtnetlink brings an async runtime), and spawning `ip` for each of them
//! every interval would be a process per question and text to parse.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_GETTFILTER: u16 = 46;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_ID: u16 = 11;
/// clsact's ingress hook: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS).
const TC_INGRESS_PARENT: u32 = 0xffff_fff2;
const IFF_UP: u32 = 0x1;
/// IF_OPER_UNKNOWN (0) and IF_OPER_UP (6): the states in which a link passes traffic (a TUN device or
/// a loopback reports unknown).
pub const OPER_UNKNOWN: u8 = 0;
pub const OPER_UP: u8 = 6;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf` (type without the nested/byte-order flags, payload).
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16::from_ne_bytes([*buf.first()?, *buf.get(1)?]) as usize;
        let ty = u16::from_ne_bytes([*buf.get(2)?, *buf.get(3)?]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, payload))
    })
}

fn attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align(out.len()), 0);
}

fn u32_of(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

/// What RTM_GETLINK says of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    pub operstate: u8,
    /// The XDP program attached in each mode (0: none).
    pub xdp_drv: u32,
    pub xdp_skb: u32,
    pub xdp_hw: u32,
}

/// Parse an RTM_NEWLINK body (struct ifinfomsg, then attributes).
pub fn parse_link(body: &[u8]) -> Option<Link> {
    let index = u32_of(body.get(4..8)?)?;
    let flags = u32_of(body.get(8..12)?)?;
    let mut l = Link { index, up: flags & IFF_UP != 0, ..Default::default() };
    for (ty, p) in attrs(body.get(16..)?) {
        match ty {
            IFLA_OPERSTATE => l.operstate = *p.first()?,
            IFLA_XDP => {
                for (ty, p) in attrs(p) {
                    match ty {
                        IFLA_XDP_DRV_PROG_ID => l.xdp_drv = u32_of(p)?,
                        IFLA_XDP_SKB_PROG_ID => l.xdp_skb = u32_of(p)?,
                        IFLA_XDP_HW_PROG_ID => l.xdp_hw = u32_of(p)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(l)
}

/// Parse an RTM_NEWADDR body (struct ifaddrmsg, then attributes): (interface index, address, prefix).
/// The local address is IFA_LOCAL where there is one (on a point-to-point link IFA_ADDRESS is the peer).
pub fn parse_addr(body: &[u8]) -> Option<(u32, IpAddr, u8)> {
    let (family, prefix, index) = (*body.first()?, *body.get(1)?, u32_of(body.get(4..8)?)?);
    let (mut local, mut address) = (None, None);
    for (ty, p) in attrs(body.get(8..)?) {
        let ip = match (family as i32, p.len()) {
            (libc::AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(p).ok()?)),
            (libc::AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(p).ok()?)),
            _ => continue,
        };
        match ty {
            IFA_LOCAL => local = Some(ip),
            IFA_ADDRESS => address = Some(ip),
            _ => {}
        }
    }
    Some((index, local.or(address)?, prefix))
}

/// Parse an RTM_NEWTFILTER body (struct tcmsg, then attributes): the program id of a cls_bpf filter.
pub fn parse_bpf_filter(body: &[u8]) -> Option<u32> {
    let mut bpf = false;
    let mut id = None;
    for (ty, p) in attrs(body.get(20..)?) {
        match ty {
            TCA_KIND => bpf = p.split(|&b| b == 0).next() == Some(b"bpf"),
            TCA_OPTIONS => id = attrs(p).find(|(t, _)| *t == TCA_BPF_ID).and_then(|(_, p)| u32_of(p)),
            _ => {}
        }
    }
    id.filter(|_| bpf)
}

/// A NETLINK_ROUTE socket in the caller's network namespace.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        // SAFETY: socket(2) with constant arguments; the descriptor is owned from here on.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just returned to us and owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A kernel that never answers must not hang the probe thread.
        let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
        // SAFETY: setsockopt with a valid timeval of the size given.
        let r = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Rtnl { fd, seq: 0 })
    }

    /// Send one request; the bodies of the replies to it (a dump's every part), or the kernel's error.
    fn request(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: sockaddr_nl zeroed is the kernel as destination.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: sendto with a valid buffer and address of the sizes given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: recv into a buffer of the length given.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let len = (u32_of(rest).unwrap_or(0) as usize).min(rest.len());
                let mty = u16::from_ne_bytes([rest[4], rest[5]]);
                let seq = u32_of(&rest[8..12]).unwrap_or(0);
                if len < 16 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "netlink: a message shorter than its header"));
                }
                let body = &rest[16..len];
                rest = &rest[align(len).min(rest.len())..];
                if seq != self.seq {
                    continue;
                }
                match mty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = u32_of(body).map_or(libc::EIO, |e| -(e as i32));
                        return if errno == 0 { Ok(out) } else { Err(io::Error::from_raw_os_error(errno)) };
                    }
                    _ => out.push(body.to_vec()),
                }
                // A single reply (not a dump) that asked for no acknowledgement is complete.
                if flags & (NLM_F_DUMP | NLM_F_ACK) == 0 {
                    return Ok(out);
                }
            }
        }
    }

    /// The interface named `name` (ENODEV when there is none).
    pub fn link(&mut self, name: &str) -> io::Result<Link> {
        let mut body = vec![0u8; 16];
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        attr(&mut body, IFLA_IFNAME, &n);
        let replies = self.request(RTM_GETLINK, 0, &body)?;
        replies
            .first()
            .and_then(|b| parse_link(b))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "netlink: no link in the reply"))
    }

    /// Bring interface `index` up (IFF_UP).
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut body = vec![0u8; 16];
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        body[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
        body[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
        self.request(RTM_NEWLINK, NLM_F_ACK, &body).map(|_| ())
    }

    /// The addresses on interface `index`, with their prefix lengths.
    pub fn addrs(&mut self, index: u32) -> io::Result<Vec<(IpAddr, u8)>> {
        let replies = self.request(RTM_GETADDR, NLM_F_DUMP, &[0u8; 8])?;
        Ok(replies.iter().filter_map(|b| parse_addr(b)).filter(|(i, _, _)| *i == index).map(|(_, a, p)| (a, p)).collect())
    }

    /// Add (`add`) or remove address `a`/`prefix` on interface `index`; IPv6 without duplicate address
    /// detection (an anycast address is on other hosts by design).
    pub fn addr(&mut self, add: bool, index: u32, a: IpAddr, prefix: u8) -> io::Result<()> {
        let (family, octets) = match a {
            IpAddr::V4(v4) => (libc::AF_INET as u8, v4.octets().to_vec()),
            IpAddr::V6(v6) => (libc::AF_INET6 as u8, v6.octets().to_vec()),
        };
        let mut body = vec![family, prefix, if a.is_ipv6() { IFA_F_NODAD } else { 0 }, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        attr(&mut body, IFA_LOCAL, &octets);
        attr(&mut body, IFA_ADDRESS, &octets);
        match add {
            true => self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body),
            false => self.request(RTM_DELADDR, NLM_F_ACK, &body),
        }
        .map(|_| ())
    }

    /// The program ids of the cls_bpf filters on interface `index`'s clsact ingress hook.
    pub fn ingress_bpf_filters(&mut self, index: u32) -> io::Result<Vec<u32>> {
        let mut body = vec![0u8; 20];
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        body[12..16].copy_from_slice(&TC_INGRESS_PARENT.to_ne_bytes());
        Ok(self.request(RTM_GETTFILTER, NLM_F_DUMP, &body)?.iter().filter_map(|b| parse_bpf_filter(b)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_with_xdp_in_driver_mode() {
        let mut body = vec![0u8; 16];
        body[4..8].copy_from_slice(&7u32.to_ne_bytes());
        body[8..12].copy_from_slice(&(IFF_UP | 0x40).to_ne_bytes());
        attr(&mut body, IFLA_IFNAME, b"eth0\0");
        attr(&mut body, IFLA_OPERSTATE, &[OPER_UP]);
        let mut xdp = Vec::new();
        attr(&mut xdp, 2, &[1]);
        attr(&mut xdp, IFLA_XDP_DRV_PROG_ID, &42u32.to_ne_bytes());
        attr(&mut body, IFLA_XDP, &xdp);
        let l = parse_link(&body).unwrap();
        assert_eq!(l, Link { index: 7, up: true, operstate: OPER_UP, xdp_drv: 42, xdp_skb: 0, xdp_hw: 0 });
        assert!(parse_link(&body[..10]).is_none(), "a short message is no link");
    }

    #[test]
    fn addresses_take_the_local_one() {
        let mut body = vec![libc::AF_INET as u8, 32, 0, 0];
        body.extend_from_slice(&3u32.to_ne_bytes());
        attr(&mut body, IFA_ADDRESS, &[198, 18, 0, 9]);
        attr(&mut body, IFA_LOCAL, &[198, 18, 53, 1]);
        assert_eq!(parse_addr(&body), Some((3, "198.18.53.1".parse().unwrap(), 32)));
        let mut body = vec![libc::AF_INET6 as u8, 128, 0, 0];
        body.extend_from_slice(&3u32.to_ne_bytes());
        attr(&mut body, IFA_ADDRESS, &"2001:db8:53::1".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(parse_addr(&body), Some((3, "2001:db8:53::1".parse().unwrap(), 128)));
        // A truncated attribute ends the walk rather than reading past the message.
        body.truncate(body.len() - 3);
        assert_eq!(parse_addr(&body), None);
    }

    #[test]
    fn only_bpf_filters_name_a_program() {
        let mut body = vec![0u8; 20];
        attr(&mut body, TCA_KIND, b"bpf\0");
        let mut opts = Vec::new();
        attr(&mut opts, TCA_BPF_ID, &99u32.to_ne_bytes());
        attr(&mut body, TCA_OPTIONS, &opts);
        assert_eq!(parse_bpf_filter(&body), Some(99));
        let mut other = vec![0u8; 20];
        attr(&mut other, TCA_KIND, b"u32\0");
        attr(&mut other, TCA_OPTIONS, &opts);
        assert_eq!(parse_bpf_filter(&other), None);
    }
}
