//! Lab tools: inject a DNS query into a veth as a NIC would deliver it (BPF_PROG_RUN in live-frames mode,
//! XDP_TX out of the client end, so the server's XDP program gets a page-sized buffer), and keep a
//! pass-through XDP program on the client end so XDP_TX'd answers reach its stack.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aya::programs::{links::FdLink, TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use aya::Ebpf;

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

/// Interface index and MAC address.
pub fn iface_info(iface: &str) -> Result<(u32, [u8; 6])> {
    let idx: u32 = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))
        .with_context(|| format!("no interface {iface} in this network namespace"))?
        .trim()
        .parse()?;
    let mac = frame::parse_mac(&std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?)?;
    Ok((idx, mac))
}

/// A loaded lab_tx program, reusable for many injections.
pub struct Injector {
    ebpf: Ebpf,
    ifindex: u32,
    src_mac: [u8; 6],
}

/// The kernel's `struct xdp_md` as BPF_PROG_RUN takes it in ctx_in.
#[repr(C)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
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
        let md = XdpMd { data: 0, data_end: frame.len() as u32, data_meta: 0, ingress_ifindex: self.ifindex, rx_queue_index: 0, egress_ifindex: 0 };
        // SAFETY: XdpMd is repr(C) plain data.
        let ctx = unsafe { std::slice::from_raw_parts(&md as *const XdpMd as *const u8, std::mem::size_of::<XdpMd>()) };
        let opts = TestRunOptions { data_in: Some(frame), ctx_in: Some(ctx), repeat: 1, attrs: TestRunAttrs::new().xdp_live_frames(1), ..Default::default() };
        p.test_run(opts).context("BPF_PROG_RUN (live frames) failed")?;
        Ok(())
    }
}

/// Inject one DNS message and wait for the answer on a UDP socket. Returns the answer's bytes.
pub fn query(inj: &Injector, how: &Injection, msg: &[u8]) -> Result<Vec<u8>> {
    let sock = UdpSocket::bind(SocketAddr::new(how.src, 0)).with_context(|| format!("binding {} (is this the client namespace?)", how.src))?;
    let sport = sock.local_addr()?.port();
    let spec = frame::Spec { src_mac: inj.src_mac(), dst_mac: how.dst_mac, vlans: how.vlans.clone(), src: how.src, dst: how.dst, sport, dport: how.dport };
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
