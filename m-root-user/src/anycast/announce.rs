//! The announcement: an interface the daemon owns (a non-persistent TUN device, held open by it), which
//! carries the service addresses while the instance is healthy. A routing daemon that exports its
//! connected routes (BIRD 2 `protocol direct`, FRR `redistribute connected`) announces and withdraws
//! with it, and since the device exists only while this process holds it open, a crashed daemon's
//! announcement goes with the process. The service addresses stay where the servers bind them (e.g.
//! `lo`), so answering goes on while withdrawn.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// _IOW('T', 202, int): attach the open file to a TUN device of the given name.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

pub struct Announcer {
    pub iface: String,
    addrs: Vec<IpAddr>,
    announced: bool,
    /// Holding this open is what keeps the device.
    _tun: File,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("running ip")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Announcer {
    /// Create `iface` (it must not exist: another process's would not go with this one) and bring it up,
    /// carrying nothing yet.
    pub fn create(iface: &str, addrs: &[IpAddr]) -> Result<Announcer> {
        if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
            bail!("anycast.interface: {iface:?} is not an interface name (1-15 characters)");
        }
        if std::path::Path::new("/sys/class/net").join(iface).exists() {
            bail!("anycast.interface: {iface} exists already (another daemon's, or not a TUN device of ours); a name of its own");
        }
        let tun = File::options().read(true).write(true).open("/dev/net/tun").context("opening /dev/net/tun (needs CAP_NET_ADMIN)")?;
        // struct ifreq: the name, then the flags.
        let mut ifr = [0u8; 40];
        ifr[..iface.len()].copy_from_slice(iface.as_bytes());
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as u16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which the 40-octet buffer holds.
        if unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) } != 0 {
            bail!("creating TUN device {iface}: {}", std::io::Error::last_os_error());
        }
        ip(&["link", "set", "dev", iface, "up"])?;
        Ok(Announcer { iface: iface.into(), addrs: addrs.to_vec(), announced: false, _tun: tun })
    }

    /// Put the service addresses on the interface (announce) or take them off (withdraw).
    pub fn set(&mut self, announce: bool) -> Result<()> {
        if announce == self.announced {
            return Ok(());
        }
        for a in &self.addrs {
            let net = match a {
                IpAddr::V4(_) => format!("{a}/32"),
                IpAddr::V6(_) => format!("{a}/128"),
            };
            let verb = if announce { "add" } else { "del" };
            // `nodad`: an anycast address is on other hosts by design.
            let mut args = vec!["addr", verb, net.as_str(), "dev", self.iface.as_str()];
            if announce && a.is_ipv6() {
                args.push("nodad");
            }
            match ip(&args) {
                Ok(()) => {}
                // Already there or already gone: the state wanted.
                Err(e) if format!("{e}").contains("File exists") || format!("{e}").contains("Cannot assign") => {}
                Err(e) => return Err(e),
            }
        }
        self.announced = announce;
        Ok(())
    }

    pub fn announced(&self) -> bool {
        self.announced
    }
}
