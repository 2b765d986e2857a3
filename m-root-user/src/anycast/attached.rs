//! Is what the kernel runs on an interface the attachment this daemon planned? The test runs (probe.rs)
//! prove the loaded programs answer; this proves the interface runs them, in the planned mode. Asked of
//! the kernel every probe (RTM_GETLINK for XDP, the tcx hook and the clsact filters for TC), so a
//! program another process detached or replaced, a link gone with its device, or XDP that fell back to
//! TC alone at start (attach.rs) is a failed probe: a path that is not the one planned is not healthy.

use aya::programs::XdpMode;

use crate::dataplane::Attached;
use crate::deploy::{Plan, xdp_mode_name};
use crate::netlink::{Link, OPER_UNKNOWN, OPER_UP, Rtnl};

/// bpf(2) command and attach type of a tcx query (linux/bpf.h).
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_TCX_INGRESS: u32 = 46;

/// What the kernel says is on one interface.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub link: Link,
    /// The programs on its ingress hook: tcx (kernel 6.6 on) and cls_bpf filters (before).
    pub tc: Vec<u32>,
}

/// This daemon's programs, by kernel id.
#[derive(Clone, Copy, Debug)]
pub struct Ours {
    pub xdp: u32,
    pub tc: u32,
}

fn oper_name(s: u8) -> String {
    match s {
        1 => "not present".into(),
        2 => "down".into(),
        3 => "lower layer down".into(),
        4 => "testing".into(),
        5 => "dormant".into(),
        n => format!("in state {n}"),
    }
}

/// The decision: Ok when `seen` is what `plan` (attached as `on`) should have put there.
pub fn check(iface: &str, plan: &Plan, on: &Attached, ours: Ours, seen: &Seen) -> Result<(), String> {
    let l = &seen.link;
    // Programs that answer on an interface that is down serve no one.
    if !matches!(l.operstate, OPER_UP | OPER_UNKNOWN) {
        return Err(format!("{iface}: link {}", oper_name(l.operstate)));
    }
    if let Some(m) = plan.xdp
        && on.xdp.is_none()
    {
        return Err(format!(
            "{iface}: XDP planned in {} mode is not attached (it could not be at start; TC answers alone)",
            xdp_mode_name(m)
        ));
    }
    let modes = [(XdpMode::Driver, l.xdp_drv), (XdpMode::Skb, l.xdp_skb), (XdpMode::Hardware, l.xdp_hw)];
    if let Some(m) = on.xdp {
        // Default lets the kernel choose: native where the driver can, generic otherwise.
        let ok = match m {
            XdpMode::Default => l.xdp_drv == ours.xdp || l.xdp_skb == ours.xdp,
            m => modes.iter().any(|(mode, id)| *mode == m && *id == ours.xdp),
        };
        if !ok {
            let there: Vec<String> = modes
                .iter()
                .filter(|(_, id)| *id != 0)
                .map(|(mode, id)| format!("program {id} in {} mode", xdp_mode_name(*mode)))
                .collect();
            return Err(format!(
                "{iface}: this daemon's XDP program ({}) is not attached in {} mode (the kernel has {})",
                ours.xdp,
                xdp_mode_name(m),
                if there.is_empty() { "none".into() } else { there.join(", ") }
            ));
        }
    }
    // Someone else's XDP program runs before ours (or before TC): what it does with queries is not ours.
    if let Some((mode, id)) = modes.iter().find(|(_, id)| *id != 0 && *id != ours.xdp) {
        return Err(format!("{iface}: an XDP program not this daemon's (id {id}) is attached in {} mode", xdp_mode_name(*mode)));
    }
    if on.tc && !seen.tc.contains(&ours.tc) {
        return Err(format!("{iface}: this daemon's TC program ({}) is not on the ingress hook (the kernel has {:?})", ours.tc, seen.tc));
    }
    Ok(())
}

/// The programs on `ifindex`'s tcx ingress hook (BPF_PROG_QUERY: needs CAP_NET_ADMIN only, where
/// aya's query also opens each program by id, which needs CAP_SYS_ADMIN).
fn tcx_ingress(ifindex: u32) -> std::io::Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    // union bpf_attr, the query member: target_ifindex, attach_type, query_flags, attach_flags,
    // prog_ids (u64 pointer), prog_cnt, then fields left zero.
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&ifindex.to_ne_bytes());
    attr[4..8].copy_from_slice(&BPF_TCX_INGRESS.to_ne_bytes());
    attr[16..24].copy_from_slice(&(ids.as_mut_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&(ids.len() as u32).to_ne_bytes());
    // SAFETY: bpf(2) reads the attr of the size given and writes at most prog_cnt ids into `ids`.
    let r = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_QUERY, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let n = u32::from_ne_bytes([attr[24], attr[25], attr[26], attr[27]]).min(ids.len() as u32) as usize;
    Ok(ids[..n].to_vec())
}

/// Ask the kernel what is on `iface` (TC's hook only when `tc`).
pub fn seen(nl: &mut Rtnl, iface: &str, tc: bool) -> Result<Seen, String> {
    let link = nl.link(iface).map_err(|e| match e.raw_os_error() {
        Some(libc::ENODEV) => format!("{iface}: link gone"),
        _ => format!("{iface}: asking the kernel of the link: {e}"),
    })?;
    let mut seen = Seen { link, tc: Vec::new() };
    if tc {
        // Either answer may fail where that kind of attachment does not exist (no tcx before 6.6, no
        // clsact qdisc with tcx): what neither lists is not attached.
        seen.tc.extend(tcx_ingress(seen.link.index).unwrap_or_default());
        seen.tc.extend(nl.ingress_bpf_filters(seen.link.index).unwrap_or_default());
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{Device, Mode, plan};

    const OURS: Ours = Ours { xdp: 10, tc: 11 };

    /// A veth whose peer runs XDP (xdp_tx_peer): auto attaches XDP there, as on a NIC.
    fn veth_plan(mode: Mode) -> Plan {
        plan(mode, true, true, &Device { physical: false, driver: "veth".into() })
    }

    fn seen(drv: u32, skb: u32, tc: &[u32]) -> Seen {
        Seen { link: Link { index: 2, up: true, operstate: OPER_UP, xdp_drv: drv, xdp_skb: skb, xdp_hw: 0 }, tc: tc.to_vec() }
    }

    #[test]
    fn the_planned_attachment_in_place_is_healthy() {
        let p = veth_plan(Mode::Auto);
        let on = Attached { xdp: Some(XdpMode::Driver), tc: true };
        assert_eq!(check("eth0", &p, &on, OURS, &seen(10, 0, &[11])), Ok(()));
        let p = veth_plan(Mode::Skb);
        let on = Attached { xdp: Some(XdpMode::Skb), tc: true };
        assert_eq!(check("eth0", &p, &on, OURS, &seen(0, 10, &[3, 11])), Ok(()), "other TC programs beside ours");
        let p = veth_plan(Mode::Tc);
        assert_eq!(check("eth0", &p, &Attached { xdp: None, tc: true }, OURS, &seen(0, 0, &[11])), Ok(()));
        // The default on a veth with a bare peer: TC alone.
        let p = plan(Mode::Auto, true, false, &Device { physical: false, driver: "veth".into() });
        assert_eq!(check("eth0", &p, &Attached { xdp: None, tc: true }, OURS, &seen(0, 0, &[11])), Ok(()));
        assert!(check("eth0", &p, &Attached { xdp: None, tc: true }, OURS, &seen(5, 0, &[11])).is_err(), "a foreign XDP program in front");
        let mut s = seen(10, 0, &[11]);
        s.link.operstate = OPER_UNKNOWN;
        assert_eq!(check("tun0", &veth_plan(Mode::Auto), &Attached { xdp: Some(XdpMode::Driver), tc: true }, OURS, &s), Ok(()));
    }

    #[test]
    fn a_fall_back_from_xdp_to_tc_is_not() {
        let p = veth_plan(Mode::Native);
        let e = check("eth0", &p, &Attached { xdp: None, tc: true }, OURS, &seen(0, 0, &[11])).unwrap_err();
        assert!(e.contains("XDP planned in native mode is not attached"), "{e}");
    }

    #[test]
    fn programs_detached_replaced_or_in_another_mode_are_not() {
        let p = veth_plan(Mode::Auto);
        let on = Attached { xdp: Some(XdpMode::Driver), tc: true };
        let e = check("eth0", &p, &on, OURS, &seen(0, 0, &[11])).unwrap_err();
        assert!(e.contains("not attached in native mode (the kernel has none)"), "{e}");
        let e = check("eth0", &p, &on, OURS, &seen(77, 0, &[11])).unwrap_err();
        assert!(e.contains("program 77 in native mode"), "replaced: {e}");
        let e = check("eth0", &p, &on, OURS, &seen(0, 10, &[11])).unwrap_err();
        assert!(e.contains("program 10 in skb mode"), "generic instead of native: {e}");
        let e = check("eth0", &p, &on, OURS, &seen(10, 0, &[])).unwrap_err();
        assert!(e.contains("TC program (11) is not on the ingress hook"), "{e}");
        let e = check("eth0", &p, &on, OURS, &seen(10, 5, &[11])).unwrap_err();
        assert!(e.contains("not this daemon's (id 5) is attached in skb mode"), "{e}");
        let tc = veth_plan(Mode::Tc);
        let e = check("eth0", &tc, &Attached { xdp: None, tc: true }, OURS, &seen(5, 0, &[11])).unwrap_err();
        assert!(e.contains("not this daemon's (id 5)"), "in front of TC: {e}");
    }

    #[test]
    fn a_link_not_up_is_not() {
        let mut s = seen(10, 0, &[11]);
        s.link.operstate = 2;
        let on = Attached { xdp: Some(XdpMode::Driver), tc: true };
        assert_eq!(check("eth0", &veth_plan(Mode::Auto), &on, OURS, &s), Err("eth0: link down".into()));
        s.link.operstate = 3;
        assert_eq!(check("eth0", &veth_plan(Mode::Auto), &on, OURS, &s), Err("eth0: link lower layer down".into()));
    }
}
