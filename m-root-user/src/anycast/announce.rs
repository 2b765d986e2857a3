//! The announcement: an interface the daemon owns (a non-persistent TUN device, held open by it), which
//! carries the service addresses while the instance is healthy. A routing daemon that exports its
//! connected routes (BIRD 2 `protocol direct`, FRR `redistribute connected`) announces and withdraws
//! with it, and since the device exists only while this process holds it open, a crashed daemon's
//! announcement goes with the process. The service addresses stay where the servers bind them (e.g.
//! `lo`), so answering goes on while withdrawn.
//!
//! The device is reconciled with the health state every probe, not only when the state changes: a
//! change that failed (the kernel refused an address) is tried again, and one made behind the daemon's
//! back (an address removed, another added, the link set down) is undone, since what the routing
//! daemon announces is whatever is on the device. Failures and repairs are counted for `stats`.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result, bail};

use crate::netlink::Rtnl;

/// _IOW('T', 202, int): attach the open file to a TUN device of the given name.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// _IOR('T', 210, unsigned int): the name of the TUN device the open file is attached to.
const TUNGETIFF: libc::c_ulong = 0x8004_54d2;

pub struct Announcer {
    pub iface: String,
    index: u32,
    /// The service addresses with the prefix length each goes on the device with.
    addrs: Vec<(IpAddr, u8)>,
    nl: Rtnl,
    /// What the health state asked for last.
    want: bool,
    /// The device carried exactly what `want` says after the last reconcile.
    in_place: bool,
    /// The service addresses on the device, as last seen.
    pub on_device: Vec<IpAddr>,
    /// Changes the kernel refused (each address or link change), and changes made to undo a change
    /// from outside (the state had not changed).
    pub failures: u64,
    pub repairs: u64,
    /// What the last reconcile could not do (None when it did everything).
    pub error: Option<String>,
    /// Holding this open is what keeps the device.
    _tun: File,
}

fn host_prefix(a: &IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

/// Each service address with the length it goes on the device with: that of the longest of `prefixes`
/// covering it (the routing daemon announces the prefix), else a host route's. A prefix that covers no
/// service address would never be announced: refused.
pub fn on_interface(addrs: &[IpAddr], prefixes: &[ipnet::IpNet]) -> Result<Vec<(IpAddr, u8)>, String> {
    if let Some(p) = prefixes.iter().find(|p| !addrs.iter().any(|a| p.contains(a))) {
        return Err(format!("anycast.prefixes: {p} covers none of the service addresses {addrs:?}"));
    }
    Ok(addrs
        .iter()
        .map(|a| (*a, prefixes.iter().filter(|p| p.contains(a)).map(|p| p.prefix_len()).max().unwrap_or_else(|| host_prefix(a))))
        .collect())
}

/// IPv6 link-local addresses are the kernel's own (never announced): left alone.
fn managed(a: &IpAddr) -> bool {
    !matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// An address on the device with its prefix length.
pub type OnDevice = (IpAddr, u8);

/// What to add and what to remove so that the device carries `wanted` and nothing else.
pub fn changes(wanted: &[OnDevice], present: &[OnDevice]) -> (Vec<OnDevice>, Vec<OnDevice>) {
    let add = wanted.iter().filter(|w| !present.contains(w)).copied().collect();
    let del = present.iter().filter(|x| managed(&x.0) && !wanted.contains(x)).copied().collect();
    (add, del)
}

/// Does an interface named `iface` exist in this daemon's network namespace (asked over netlink: sysfs
/// may be another namespace's)?
pub fn exists(iface: &str) -> bool {
    Rtnl::open().is_ok_and(|mut nl| nl.link(iface).is_ok())
}

impl Announcer {
    /// Create `iface` (it must not exist: another process's would not go with this one) and bring it up,
    /// carrying nothing yet; `addrs` as `on_interface` made them.
    pub fn create(iface: &str, addrs: Vec<(IpAddr, u8)>) -> Result<Announcer> {
        if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
            bail!("anycast.interface: {iface:?} is not an interface name (1-15 characters)");
        }
        let mut nl = Rtnl::open().context("a netlink socket")?;
        match nl.link(iface) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
            Err(e) => bail!("anycast.interface: asking the kernel whether {iface} exists: {e}"),
            Ok(_) => bail!("anycast.interface: {iface} exists already (another daemon's, or not a TUN device of ours); a name of its own"),
        }
        let tun = File::options().read(true).write(true).open("/dev/net/tun").map_err(|e| match e.kind() {
            // The packaged unit's PrivateDevices=yes gives the service a /dev without it.
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "opening /dev/net/tun: {e}; under systemd with PrivateDevices=yes (the packaged unit) a drop-in with \
                 PrivateDevices=no and DeviceAllow=/dev/net/tun rw lets the daemon create its anycast device (README, Anycast)"
            ),
            _ => anyhow::anyhow!("opening /dev/net/tun (needs CAP_NET_ADMIN): {e}"),
        })?;
        // struct ifreq: the name, then the flags.
        let mut ifr = [0u8; 40];
        ifr[..iface.len()].copy_from_slice(iface.as_bytes());
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as u16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which the 40-octet buffer holds.
        if unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) } != 0 {
            bail!("creating TUN device {iface}: {}", std::io::Error::last_os_error());
        }
        let index = nl.link(iface).with_context(|| format!("the TUN device {iface} just created"))?.index;
        nl.set_up(index).with_context(|| format!("bringing {iface} up"))?;
        Ok(Announcer {
            iface: iface.into(),
            index,
            addrs,
            nl,
            want: false,
            in_place: true,
            on_device: Vec::new(),
            failures: 0,
            repairs: 0,
            error: None,
            _tun: tun,
        })
    }

    /// Take over a running daemon's device (`run --take-over`): `tun`, its descriptor, must be attached to
    /// `iface`; the device stays (both processes hold it until the old one exits), and so does what it
    /// carries. With whether it carries every service address (the old daemon was announcing).
    pub fn adopt(iface: &str, addrs: Vec<(IpAddr, u8)>, tun: File) -> Result<(Announcer, bool)> {
        let mut ifr = [0u8; 40];
        // SAFETY: TUNGETIFF writes a struct ifreq, which the 40-octet buffer holds.
        if unsafe { libc::ioctl(tun.as_raw_fd(), TUNGETIFF as _, ifr.as_mut_ptr()) } != 0 {
            bail!("the handed descriptor is not a TUN device's: {}", std::io::Error::last_os_error());
        }
        let name = ifr[..16].split(|&b| b == 0).next().unwrap_or_default();
        if name != iface.as_bytes() {
            bail!("the handed TUN device is {}, not {iface}", String::from_utf8_lossy(name));
        }
        let mut nl = Rtnl::open().context("a netlink socket")?;
        let index = nl.link(iface).with_context(|| format!("the handed TUN device {iface}"))?.index;
        let present: Vec<IpAddr> =
            nl.addrs(index).with_context(|| format!("the addresses on {iface}"))?.into_iter().map(|(a, _)| a).collect();
        let announced = addrs.iter().all(|(a, _)| present.contains(a));
        let a = Announcer {
            iface: iface.into(),
            index,
            addrs,
            nl,
            want: announced,
            in_place: true,
            on_device: present,
            failures: 0,
            repairs: 0,
            error: None,
            _tun: tun,
        };
        Ok((a, announced))
    }

    /// A descriptor of the device, for a successor (`run --take-over`).
    pub fn tun(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        self._tun.try_clone().map(Into::into)
    }

    /// Make the device carry what `announce` says: the link up, every service address while announcing,
    /// none (nor any other) while not. Returns how many changes it made; what it could not
    /// do is in `error` (and counted) until a later call does it.
    pub fn set(&mut self, announce: bool) -> u64 {
        let repairing = announce == self.want;
        self.want = announce;
        let mut errors = Vec::new();
        let mut changed = 0;
        match self.nl.link(&self.iface) {
            Ok(l) if !l.up => match self.nl.set_up(self.index) {
                Ok(()) => changed += 1,
                Err(e) => errors.push(format!("bringing {} up: {e}", self.iface)),
            },
            Ok(_) => {}
            Err(e) => errors.push(format!("{}: {e}", self.iface)),
        }
        match self.nl.addrs(self.index) {
            Ok(mut present) => {
                let wanted: &[(IpAddr, u8)] = if announce { &self.addrs } else { &[] };
                let (add, del) = changes(wanted, &present);
                for (a, p) in add {
                    match self.nl.addr(true, self.index, a, p) {
                        // Already there (added between the dump and now): the state wanted.
                        Ok(()) => changed += 1,
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => {
                            errors.push(format!("adding {a}/{p} to {}: {e}", self.iface));
                            continue;
                        }
                    }
                    present.push((a, p));
                }
                for (a, p) in del {
                    match self.nl.addr(false, self.index, a, p) {
                        Ok(()) => changed += 1,
                        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {}
                        Err(e) => {
                            errors.push(format!("removing {a}/{p} from {}: {e}", self.iface));
                            continue;
                        }
                    }
                    present.retain(|x| *x != (a, p));
                }
                self.on_device = present.iter().map(|(a, _)| *a).filter(managed).collect();
            }
            Err(e) => errors.push(format!("the addresses on {}: {e}", self.iface)),
        }
        if repairing {
            self.repairs += changed;
        }
        self.failures += errors.len() as u64;
        self.in_place = errors.is_empty();
        self.error = (!errors.is_empty()).then(|| errors.join("; "));
        changed
    }

    /// Every service address on the device, as the state asks.
    pub fn announced(&self) -> bool {
        self.want && self.in_place
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_device_is_made_to_carry_what_the_state_says() {
        let svc = [(ip("198.18.53.1"), 32), (ip("2001:db8:53::1"), 128)];
        // Announcing on an empty device: both added; on a whole one: nothing to do.
        assert_eq!(changes(&svc, &[]), (svc.to_vec(), vec![]));
        assert_eq!(changes(&svc, &svc), (vec![], vec![]));
        // One removed from outside: put back; something else added: taken off (it would be announced).
        let (add, del) = changes(&svc, &[svc[0], (ip("203.0.113.7"), 32)]);
        assert_eq!((add, del), (vec![svc[1]], vec![(ip("203.0.113.7"), 32)]));
        // A service address with another prefix would announce another prefix: replaced.
        assert_eq!(changes(&svc[..1], &[(svc[0].0, 24)]), (vec![svc[0]], vec![(svc[0].0, 24)]));
        // Withdrawn: everything goes but the kernel's link-local address.
        let (add, del) = changes(&[], &[svc[0], (ip("fe80::1"), 64)]);
        assert_eq!((add, del), (vec![], vec![svc[0]]));
    }

    #[test]
    fn each_address_goes_on_with_its_covering_prefix() {
        let addrs = [ip("198.18.53.1"), ip("2001:db8:53::1"), ip("198.18.54.1")];
        let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
        assert_eq!(on_interface(&addrs, &[]).unwrap(), vec![(addrs[0], 32), (addrs[1], 128), (addrs[2], 32)]);
        let p = [net("198.18.53.0/24"), net("198.18.0.0/16"), net("2001:db8:53::/48")];
        assert_eq!(on_interface(&addrs, &p).unwrap(), vec![(addrs[0], 24), (addrs[1], 48), (addrs[2], 16)], "the longest covering one");
        let e = on_interface(&addrs, &[net("203.0.113.0/24")]).unwrap_err();
        assert!(e.contains("203.0.113.0/24 covers none"), "{e}");
    }
}
