//! How the kernel path is deployed on one interface: which XDP mode, whether the TC companion runs, and
//! whether XDP may send answers itself (XDP_TX). `auto` (the default) decides from what the device is,
//! so that no answer is sent where the device cannot deliver it; the explicit modes do what they say and
//! warn where that can lose answers.
//!
//! What each device kind delivers (measured on veth, kernel 6.18; docs/deployment.md):
//! - a physical NIC driver with native XDP: XDP_TX leaves through the NIC's own transmit ring;
//! - veth: an XDP_TX'd frame reaches the peer only if the peer runs an XDP program; with a bare peer it
//!   is dropped (counted as `rx_queue_N_xdp_tx_errors`), with GRO on at the peer it is lost uncounted;
//! - generic (skb) XDP on any device: XDP_TX goes through the device's ordinary transmit and arrives;
//! - TC: the answer is an skb redirected to the device's egress, which every device delivers.

use aya::programs::XdpMode;

/// The operator's choice (`xdp_mode` / `--xdp-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Decide from the device: XDP + TC on a NIC; on a virtual device TC alone (unless the peer is
    /// known to take XDP_TX). Where XDP sends, it hands every answer to TC once transmit errors appear.
    Auto,
    /// XDP in the driver, answering by XDP_TX, with TC for what XDP has no room for.
    Native,
    /// Generic XDP in the stack (for drivers without XDP; tight buffers, TC answers most).
    Skb,
    /// No XDP: the TC program answers every query it covers, in the kernel.
    Tc,
    /// Neither: userspace answers everything.
    Off,
}

/// An XDP attach mode as the operator names it.
pub fn xdp_mode_name(m: XdpMode) -> &'static str {
    match m {
        XdpMode::Driver => "native",
        XdpMode::Skb => "skb",
        XdpMode::Hardware => "hardware",
        XdpMode::Default => "default",
    }
}

/// What kind of device an interface is, as far as delivering XDP_TX goes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    /// On a bus (PCI, virtio, platform, USB): a NIC driver, whose XDP_TX uses its own transmit ring.
    pub physical: bool,
    /// The driver, as `ethtool -i` names it (veth, mlx5_core, ...; "unknown" when the device says not).
    pub driver: String,
}

impl Device {
    /// Asked of the device itself (ETHTOOL_GDRVINFO) in the caller's network namespace. Not from sysfs:
    /// a process that entered the namespace with setns (nsenter, systemd's NetworkNamespacePath=) sees
    /// the /sys of the namespace that mounted it, where a container's `eth0` may be the host's NIC. A
    /// device that cannot be asked counts as virtual: the choice that cannot lose an answer.
    pub fn of(iface: &str) -> Device {
        match crate::ethtool::driver_info(iface) {
            Ok(Some(info)) => Device {
                physical: is_bus_address(&info.bus_info),
                driver: if info.driver.is_empty() { "unknown".into() } else { info.driver },
            },
            _ => Device { physical: false, driver: "unknown".into() },
        }
    }
}

/// Does a driver's `bus_info` name a place on a bus? veth leaves it empty, bridges say `N/A`, tun
/// says `tun`; PCI, platform and USB addresses all hold a `:` or a `.`.
fn is_bus_address(bus_info: &str) -> bool {
    bus_info != "N/A" && (bus_info.contains(':') || bus_info.contains('.'))
}

/// What to attach to one interface, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The operator's mode this plan came from.
    pub mode: Mode,
    pub xdp: Option<XdpMode>,
    pub tc: bool,
    /// XDP may send answers by XDP_TX; off, it hands them to TC (or, without TC, to userspace).
    pub xdp_tx: bool,
    /// Only `auto` turns XDP_TX off by itself when the device's transmit errors move.
    pub adapts: bool,
    /// One line for the log: what was chosen and why.
    pub reason: String,
    /// Set when the plan can lose answers.
    pub warning: Option<String>,
}

/// Decide for one interface. `tc`: the TC companion is allowed (not `--no-tc`); `xdp_tx_peer`: the
/// operator says the device's peer takes XDP_TX'd frames (a peer running XDP, on veth).
pub fn plan(mode: Mode, tc: bool, xdp_tx_peer: bool, dev: &Device) -> Plan {
    let kind = if dev.physical { format!("NIC driver {}", dev.driver) } else { format!("virtual device ({})", dev.driver) };
    let p = |xdp, tc, xdp_tx, reason: String, warning: Option<String>| Plan {
        mode,
        xdp,
        tc,
        xdp_tx,
        adapts: mode == Mode::Auto,
        reason,
        warning,
    };
    let lossy_tx = || {
        (!dev.physical && !xdp_tx_peer).then(|| {
            format!("XDP_TX on a {kind} reaches the peer only if the peer runs an XDP program; answers sent so may be lost (use xdp_mode auto, or say xdp_tx_peer = true if the peer does)")
        })
    };
    match mode {
        Mode::Off => p(None, false, false, "xdp_mode off: userspace answers everything".into(), None),
        Mode::Tc if !tc => p(None, false, false, "xdp_mode tc with the TC program turned off".into(), None),
        Mode::Tc => p(None, true, false, "xdp_mode tc: the TC program answers every query it covers".into(), None),
        Mode::Skb => p(
            Some(XdpMode::Skb),
            tc,
            true,
            format!("xdp_mode skb on a {kind}: generic XDP answers by XDP_TX through the device's own transmit"),
            None,
        ),
        Mode::Native => p(Some(XdpMode::Driver), tc, true, format!("xdp_mode native on a {kind}: XDP answers by XDP_TX"), lossy_tx()),
        Mode::Auto if dev.physical => {
            p(Some(XdpMode::Driver), tc, true, format!("auto on a {kind}: XDP answers by XDP_TX, TC what XDP has no room for"), None)
        }
        Mode::Auto if xdp_tx_peer => p(
            Some(XdpMode::Driver),
            tc,
            true,
            format!("auto on a {kind} whose peer takes XDP_TX (xdp_tx_peer): XDP answers by XDP_TX"),
            None,
        ),
        // XDP could not send, only hand each query on to TC, and on veth that costs more than TC alone:
        // the device copies each frame into a page for XDP and the hand-off builds the skb again on another
        // CPU (bench load, kxdpgun at its maximum, 2 CPUs: without RPS NXDOMAIN 870 k/s against 1.13 M/s,
        // 0.8 % of the referrals dropped at the hand-off's queue; with RPS 89 % of the mix answered
        // against 100 %; bench/README.md).
        Mode::Auto if tc => p(
            None,
            true,
            false,
            format!(
                "auto on a {kind}: XDP_TX may not reach its peer, so the TC program answers every query it covers (xdp_tx_peer = true if the peer runs XDP)"
            ),
            None,
        ),
        // XDP could only pass everything up: leave it off.
        Mode::Auto => {
            p(None, false, false, format!("auto on a {kind} without TC: XDP_TX may not reach its peer, so userspace answers"), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic() -> Device {
        Device { physical: true, driver: "mlx5_core".into() }
    }
    fn veth() -> Device {
        Device { physical: false, driver: "veth".into() }
    }

    #[test]
    fn auto_never_sends_xdp_tx_on_a_virtual_device_unless_told_the_peer_takes_it() {
        let p = plan(Mode::Auto, true, false, &veth());
        assert_eq!((p.xdp, p.tc, p.xdp_tx), (None, true, false));
        assert!(p.warning.is_none());
        let p = plan(Mode::Auto, true, true, &veth());
        assert!(p.xdp_tx && p.tc && p.adapts);
        let p = plan(Mode::Auto, false, false, &veth());
        assert_eq!((p.xdp, p.tc, p.xdp_tx), (None, false, false));
        let p = plan(Mode::Auto, true, false, &nic());
        assert_eq!((p.xdp, p.tc, p.xdp_tx), (Some(XdpMode::Driver), true, true));
    }

    #[test]
    fn explicit_modes_do_what_they_say_and_warn_where_answers_can_be_lost() {
        let p = plan(Mode::Native, true, false, &veth());
        assert!(p.xdp_tx && !p.adapts);
        assert!(p.warning.as_deref().is_some_and(|w| w.contains("xdp_tx_peer")));
        assert!(plan(Mode::Native, true, true, &veth()).warning.is_none());
        assert!(plan(Mode::Native, true, false, &nic()).warning.is_none());
        let p = plan(Mode::Skb, true, false, &veth());
        assert_eq!((p.xdp, p.xdp_tx), (Some(XdpMode::Skb), true));
        assert!(p.warning.is_none());
        let p = plan(Mode::Tc, true, false, &nic());
        assert_eq!((p.xdp, p.tc, p.xdp_tx), (None, true, false));
        let p = plan(Mode::Off, true, false, &nic());
        assert_eq!((p.xdp, p.tc), (None, false));
    }

    #[test]
    fn a_device_on_a_bus_is_a_nic() {
        for nic in ["0000:03:00.0", "f1070000.ethernet", "usb-0000:00:14.0-1"] {
            assert!(is_bus_address(nic), "{nic}");
        }
        for virt in ["", "N/A", "tun", "tap", "bridge"] {
            assert!(!is_bus_address(virt), "{virt:?}");
        }
    }
}
