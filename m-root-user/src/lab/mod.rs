//! Lab tools: inject a DNS query into a veth as a NIC would deliver it (BPF_PROG_RUN in live-frames mode,
//! XDP_TX out of the client end, so the server's XDP program gets a page-sized buffer); keep a
//! pass-through XDP program on the client end so XDP_TX'd answers reach its stack; run code inside a
//! lab namespace; configure NSD as a lab peer. `capture` reads answers' frames off a packet socket;
//! `cli` holds the `lab-*` commands.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aya::Ebpf;
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode, links::FdLink};

use crate::frame;

mod capture;
pub mod cli;

pub use capture::{Captured, udp_query_captured};
use capture::{packet_socket, recv_with_tag};

/// The lab object: lab_tx (the injector), lab_pass (a pass-through for a peer), and the bench's
/// lab_reflect, lab_gen, lab_fresh and lab_count with their maps.
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

impl Injection {
    /// The frame carrying `msg` from `sport`, as `inj`'s interface sends it.
    fn frame(&self, inj: &Injector, sport: u16, msg: &[u8]) -> Vec<u8> {
        let spec = frame::Spec {
            src_mac: inj.src_mac(),
            dst_mac: self.dst_mac,
            vlans: self.vlans.clone(),
            src: self.src,
            dst: self.dst,
            sport,
            dport: self.dport,
        };
        frame::build(&spec, msg)
    }
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
    let f = how.frame(inj, sock.local_addr()?.port(), msg);
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
    let f = how.frame(inj, sport, msg);
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
        } else if frame_in.len() > 14 && frame_in[6..12] == how.dst_mac && frame::ip_protocol(frame_in) == Some(17) {
            bail!(
                "a frame from the server failed its checks: {}",
                frame::parse_checked(frame_in).err().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
    bail!("no answer from {} within {:?}", how.dst, how.timeout)
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
