//! Lab tools: inject a DNS query into a veth as a NIC would deliver it (BPF_PROG_RUN in live-frames mode,
//! XDP_TX out of the client end, so the server's XDP program gets a page-sized buffer), and keep a
//! pass-through XDP program on the client end so XDP_TX'd answers reach its stack.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aya::Ebpf;
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode, links::FdLink};

use crate::frame;

/// The lab object (lab_tx, lab_pass; no maps).
pub static LAB_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/m-root-lab"));

/// What to inject.
#[derive(Clone, Debug)]
pub struct Injection {
    pub iface: String,
    pub dst_mac: [u8; 6],
    pub vlans: Vec<(u16, u16)>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dport: u16,
    pub timeout: Duration,
}

/// Interface index and MAC address, asked of the kernel in the calling thread's network namespace (not
/// /sys, which shows the namespace it was mounted in).
pub fn iface_info(iface: &str) -> Result<(u32, [u8; 6])> {
    let c = std::ffi::CString::new(iface)?;
    // SAFETY: valid C string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        bail!("no interface {iface} in this network namespace");
    }
    // SAFETY: a throwaway datagram socket for the SIOCGIFHWADDR ioctl, with a zeroed ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            bail!("socket: {}", std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(iface.as_bytes()) {
            *d = *s as libc::c_char;
        }
        let r = libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req);
        libc::close(fd);
        if r != 0 {
            bail!("SIOCGIFHWADDR {iface}: {}", std::io::Error::last_os_error());
        }
        let mut mac = [0u8; 6];
        for (m, b) in mac.iter_mut().zip(req.ifr_ifru.ifru_hwaddr.sa_data.iter()) {
            *m = *b as u8;
        }
        Ok((idx, mac))
    }
}

/// A loaded lab_tx program, reusable for many injections.
pub struct Injector {
    ebpf: Ebpf,
    ifindex: u32,
    src_mac: [u8; 6],
}

/// The kernel's `struct xdp_md` as BPF_PROG_RUN takes it in ctx_in.
#[repr(C)]
pub struct XdpMd {
    pub data: u32,
    pub data_end: u32,
    pub data_meta: u32,
    pub ingress_ifindex: u32,
    pub rx_queue_index: u32,
    pub egress_ifindex: u32,
}

impl XdpMd {
    /// ctx_in for a frame of `len` octets arriving on `ifindex`.
    pub fn for_frame(len: usize, ifindex: u32) -> XdpMd {
        XdpMd { data: 0, data_end: len as u32, data_meta: 0, ingress_ifindex: ifindex, rx_queue_index: 0, egress_ifindex: 0 }
    }
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C), six u32, no padding.
        unsafe { std::slice::from_raw_parts(self as *const XdpMd as *const u8, std::mem::size_of::<XdpMd>()) }
    }
}

impl Injector {
    pub fn new(iface: &str) -> Result<Injector> {
        let (ifindex, src_mac) = iface_info(iface)?;
        let mut ebpf = Ebpf::load(LAB_OBJECT).context("loading the lab eBPF object (needs root)")?;
        let p: &mut Xdp = ebpf.program_mut("lab_tx").ok_or_else(|| anyhow!("lab_tx missing"))?.try_into()?;
        p.load().context("loading lab_tx")?;
        Ok(Injector { ebpf, ifindex, src_mac })
    }

    pub fn src_mac(&self) -> [u8; 6] {
        self.src_mac
    }

    /// Send one frame out of the interface as if a NIC had received and bounced it.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        let p: &Xdp = self.ebpf.program("lab_tx").ok_or_else(|| anyhow!("lab_tx missing"))?.try_into()?;
        let md = XdpMd::for_frame(frame.len(), self.ifindex);
        let opts = TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(md.as_bytes()),
            repeat: 1,
            attrs: TestRunAttrs::new().xdp_live_frames(1),
            ..Default::default()
        };
        p.test_run(opts).context("BPF_PROG_RUN (live frames) failed")?;
        Ok(())
    }
}

/// Inject one DNS message and wait for the answer: on a UDP socket (the client stack accepted it, so its
/// checksums are right), or for VLAN-tagged frames, which a kernel without 802.1Q cannot deliver to a
/// socket, as the raw frame on a packet socket, checked by frame::parse_checked. Returns the DNS answer.
pub fn query(inj: &Injector, how: &Injection, msg: &[u8]) -> Result<Vec<u8>> {
    if !how.vlans.is_empty() {
        return query_raw(inj, how, msg);
    }
    let sock =
        UdpSocket::bind(SocketAddr::new(how.src, 0)).with_context(|| format!("binding {} (is this the client namespace?)", how.src))?;
    let sport = sock.local_addr()?.port();
    let spec = frame::Spec {
        src_mac: inj.src_mac(),
        dst_mac: how.dst_mac,
        vlans: how.vlans.clone(),
        src: how.src,
        dst: how.dst,
        sport,
        dport: how.dport,
    };
    let f = frame::build(&spec, msg);
    sock.set_read_timeout(Some(how.timeout))?;
    inj.send(&f)?;
    let mut buf = vec![0u8; 65535];
    let deadline = Instant::now() + how.timeout;
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                if from.ip() == how.dst && buf[..2] == msg[..2] {
                    return Ok(buf[..n].to_vec());
                }
            }
            Err(e) => bail!("no answer from {} within {:?}: {e}", how.dst, how.timeout),
        }
        if Instant::now() > deadline {
            bail!("no answer from {} within {:?}", how.dst, how.timeout);
        }
    }
}

fn query_raw(inj: &Injector, how: &Injection, msg: &[u8]) -> Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let sport = 20000 + (std::process::id() % 20000) as u16;
    let spec = frame::Spec {
        src_mac: inj.src_mac(),
        dst_mac: how.dst_mac,
        vlans: how.vlans.clone(),
        src: how.src,
        dst: how.dst,
        sport,
        dport: how.dport,
    };
    let f = frame::build(&spec, msg);
    let fd = packet_socket(inj.ifindex, how.timeout)?;
    inj.send(&f)?;
    let deadline = Instant::now() + how.timeout;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        let Some(frame_in) = recv_with_tag(fd.as_raw_fd(), &mut buf) else { break };
        let frame_in = &frame_in[..];
        // Our own outgoing frame shows up too; the answer is the one from the server to our port.
        if let Ok(p) = frame::parse_checked(frame_in) {
            if p.src == how.dst && p.dport == sport && p.payload.get(..2) == msg.get(..2) {
                if p.vlans != how.vlans {
                    bail!("answer came back with VLAN tags {:?}, sent {:?}", p.vlans, how.vlans);
                }
                return Ok(p.payload);
            }
        } else if frame_in.len() > 14 && frame_in[6..12] == how.dst_mac {
            bail!(
                "a frame from the server failed its checks: {}",
                frame::parse_checked(frame_in).err().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
    bail!("no answer from {} within {:?}", how.dst, how.timeout)
}

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
    let (s, udp): (IpAddr, usize) = match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 if f.len() >= 14 + 28 => (IpAddr::from(<[u8; 4]>::try_from(&f[26..30]).unwrap_or_default()), 14 + 20),
        0x86dd if f.len() >= 14 + 48 => (IpAddr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap_or_default()), 14 + 40),
        _ => return false,
    };
    s == src && u16::from_be_bytes([f[udp + 2], f[udp + 3]]) == dport
}

/// A packet socket on one interface that sees every frame, with a receive timeout and auxdata (the receive
/// path moves the outer VLAN tag out of the frame; auxdata gives it back, and says how its checksum stands).
fn packet_socket(ifindex: u32, timeout: Duration) -> Result<std::os::fd::OwnedFd> {
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
fn recv_with_tag(fd: i32, buf: &mut [u8]) -> Option<Vec<u8>> {
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

/// Run `f` on a thread that has joined network namespace `ns`; sockets it makes live there. A panic in
/// `f` is passed on as it is.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    use std::os::fd::AsRawFd;
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            let fd = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
            // SAFETY: setns on an open namespace file; it changes only this thread.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns {ns}: {}", std::io::Error::last_os_error());
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// NSD's configuration for a lab peer: the zone on `addrs` port 53, as root in `dir`, no response rate
/// limiting (it would drop a benchmark's or a test's queries), identity and NSID `identity`.
pub fn nsd_conf(dir: &Path, zone: &Path, addrs: &[&str], identity: &str) -> String {
    let listen: String = addrs.iter().map(|a| format!("  ip-address: {a}\n")).collect();
    format!(
        "server:\n{listen}  port: 53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n  identity: \"{identity}\"\n  nsid: \"ascii_{identity}\"\n  hide-version: yes\n  verbosity: 1\n  server-count: 1\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\nremote-control:\n  control-enable: no\nzone:\n  name: \".\"\n  zonefile: \"{}\"\n",
        zone.display(),
        d = dir.display()
    )
}

/// Attach lab_pass to an interface and pin the link so it outlives this process.
pub fn attach_pass(iface: &str, pin: &Path) -> Result<()> {
    let mut ebpf = Ebpf::load(LAB_OBJECT).context("loading the lab eBPF object (needs root)")?;
    let p: &mut Xdp = ebpf.program_mut("lab_pass").ok_or_else(|| anyhow!("lab_pass missing"))?.try_into()?;
    p.load()?;
    let id = p.attach(iface, XdpMode::Driver).with_context(|| format!("attaching lab_pass to {iface}"))?;
    let link = p.take_link(id)?;
    let fd: FdLink = link.try_into().map_err(|e| anyhow!("XDP link is not a bpf_link (kernel too old?): {e:?}"))?;
    if let Some(dir) = pin.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(pin);
    fd.pin(pin).with_context(|| format!("pinning the link at {}", pin.display()))?;
    Ok(())
}
