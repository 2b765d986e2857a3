//! What health is made of, probed once an interval: the zone is loaded and not expired; each interface
//! is up and runs the programs attached as planned (attached.rs), and they answer a probe frame to an
//! IPv4 and an IPv6 service address (BPF_PROG_TEST_RUN of the loaded program: a query from the host to
//! its own address goes over loopback and never meets XDP or TC); userspace answers `. SOA` on each
//! service address, over UDP and TCP, with the serial served, in time.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use aya::programs::{SchedClassifier, TestRun, TestRunOptions, Xdp};
use zonegen::{name, rr, wire};

use super::attached;
use crate::daemon::Daemon;
use crate::dataplane::Attached;
use crate::frame::{self, Spec};
use crate::netlink::Rtnl;

const XDP_TX: u32 = 3;
const TC_ACT_REDIRECT: u32 = 7;
/// Where the probe frame comes from: documentation addresses (RFC 5737, RFC 3849), never a client's.
const PROBE4: &str = "192.0.2.53";
const PROBE6: &str = "2001:db8:ffff::53";
const TIMEOUT: Duration = Duration::from_secs(1);

fn query(id: u16) -> Vec<u8> {
    wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)))
}

/// The SOA serial of an answer to `query(id)`, NOERROR and AA.
fn serial_of(resp: &[u8], id: u16) -> Option<u32> {
    if resp.len() < 12 || resp[..2] != id.to_be_bytes() || resp[3] & 0x0f != 0 || resp[2] & 0x04 == 0 {
        return None;
    }
    let m = zonegen::testkit::print::decode(resp)?;
    let soa = m.sections[0].iter().find(|r| r.rtype == rr::SOA)?;
    zonegen::zone::soa_fields(&soa.rdata).map(|(s, _)| s)
}

/// The whole probe: Ok, or the first thing found wrong.
pub fn probe(d: &Daemon, addrs: &[IpAddr], port: u16) -> Result<(), String> {
    if d.secondary.get().is_some_and(|s| s.expired()) {
        return Err("zone expired".into());
    }
    let serial = d.state.load().zone.serial;
    kernel(d, addrs, serial)?;
    for a in addrs {
        let sa = SocketAddr::new(*a, port);
        udp(sa, serial).map_err(|e| format!("userspace UDP {sa}: {e}"))?;
        tcp(sa, serial).map_err(|e| format!("userspace TCP {sa}: {e}"))?;
    }
    Ok(())
}

/// The service addresses the kernel programs are probed on: the first of each family, so both the IPv4
/// and the IPv6 path of each program run every interval.
fn one_per_family(addrs: &[IpAddr]) -> impl Iterator<Item = &IpAddr> {
    let v4 = addrs.iter().find(|a| a.is_ipv4());
    let v6 = addrs.iter().find(|a| a.is_ipv6());
    v4.into_iter().chain(v6)
}

/// Each attached dataplane: the kernel has the attachment planned (attached.rs), and XDP answers the
/// probe frames (or hands them over and TC answers them).
fn kernel(d: &Daemon, addrs: &[IpAddr], serial: u32) -> Result<(), String> {
    let planes = d.planes.lock().unwrap_or_else(|p| p.into_inner());
    let mut nl = None;
    for dp in planes.iter() {
        let Some((iface, plan, on)) = &dp.attached else { continue };
        let nl = match &mut nl {
            Some(nl) => nl,
            None => nl.insert(Rtnl::open().map_err(|e| format!("a netlink socket: {e}"))?),
        };
        let xdp = dp.program_ref().map_err(|e| format!("{iface}: {e:#}"))?;
        let tc = dp.tc_program_ref().map_err(|e| format!("{iface}: {e:#}"))?;
        let id = |info: Result<aya::programs::ProgramInfo, _>| info.map(|i| i.id()).map_err(|e| format!("{iface}: our program's id: {e}"));
        let ours = attached::Ours { xdp: id(xdp.info())?, tc: id(tc.info())? };
        let seen = attached::seen(nl, iface, on.tc)?;
        attached::check(iface, plan, on, ours, &seen)?;
        for dst in one_per_family(addrs) {
            let fam = if dst.is_ipv6() { "IPv6" } else { "IPv4" };
            test_run(xdp, tc, *on, *dst, serial).map_err(|e| format!("{iface}: {e} ({fam} probe to {dst})"))?;
        }
    }
    Ok(())
}

/// One probe frame to `dst` through the programs as attached: XDP's answer, or TC's of what XDP hands it.
fn test_run(xdp: &Xdp, tc: &SchedClassifier, on: Attached, dst: IpAddr, serial: u32) -> Result<(), String> {
    let src: IpAddr = if dst.is_ipv6() { PROBE6 } else { PROBE4 }.parse().map_err(|_| "probe address".to_string())?;
    let spec = Spec { src_mac: [2, 0, 0, 0, 0, 0x53], dst_mac: [2, 0, 0, 0, 0, 1], vlans: vec![], src, dst, sport: 53053, dport: 53 };
    let id = 0x4d52;
    let input = frame::build(&spec, &query(id));
    let answered = |ret: u32, want: u32, out: &mut Vec<u8>, size: u32| -> bool {
        out.truncate(size as usize);
        ret == want && frame::parse_checked(out).ok().and_then(|p| serial_of(&p.payload, id)) == Some(serial)
    };
    if on.xdp.is_some() {
        let mut out = vec![0u8; 4096];
        let r = xdp
            .test_run(TestRunOptions { data_in: Some(&input), data_out: Some(&mut out), repeat: 1, ..Default::default() })
            .map_err(|e| format!("XDP probe run: {e}"))?;
        if answered(r.return_value, XDP_TX, &mut out, r.data_size_out) {
            return Ok(());
        }
        if !on.tc {
            return Err(format!("XDP did not answer the probe (verdict {})", r.return_value));
        }
    }
    if on.tc {
        let mut out = vec![0u8; 4096];
        let r = tc
            .test_run(TestRunOptions { data_in: Some(&input), data_out: Some(&mut out), repeat: 1, ..Default::default() })
            .map_err(|e| format!("TC probe run: {e}"))?;
        if !answered(r.return_value, TC_ACT_REDIRECT, &mut out, r.data_size_out) {
            return Err(format!("the kernel programs did not answer the probe (TC verdict {})", r.return_value));
        }
    }
    Ok(())
}

fn udp(sa: SocketAddr, serial: u32) -> Result<(), String> {
    let bind: SocketAddr = if sa.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(|_| "bind")?;
    let s = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let id = 0x4d53;
    s.send_to(&query(id), sa).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).map_err(|e| format!("no answer: {e}"))?;
    match serial_of(&buf[..n], id) {
        Some(s) if s == serial => Ok(()),
        other => Err(format!("answered serial {other:?}, serving {serial}")),
    }
}

fn tcp(sa: SocketAddr, serial: u32) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&sa, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let id = 0x4d54;
    let q = query(id);
    let mut out = (q.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&q);
    s.write_all(&out).map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(|e| format!("no answer: {e}"))?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    match serial_of(&buf, id) {
        Some(s) if s == serial => Ok(()),
        other => Err(format!("answered serial {other:?}, serving {serial}")),
    }
}
