//! A network device's driver statistics as `ethtool -S` shows them, read with the SIOCETHTOOL ioctl
//! on an AF_INET datagram socket: ETHTOOL_GSSET_INFO for the number of ETH_SS_STATS strings,
//! ETHTOOL_GSTRINGS for their names, ETHTOOL_GSTATS for the values. The ioctl finds the device by
//! name in the calling thread's network namespace, so call it from there (the daemon runs in its
//! device's namespace; tests use `lab::in_netns`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libc::c_char;

const SIOCETHTOOL: libc::Ioctl = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// The most statistics accepted from a driver (mlx5 with many channels has a few thousand).
pub const MAX_STATS: usize = 65536;
// Reads tried when the set changes size between the calls (a driver reconfiguring its queues).
const ATTEMPTS: usize = 3;

/// `struct ethtool_sset_info` with room for the one count asked for (`data[]` is flexible).
#[repr(C)]
struct SsetInfo {
    cmd: u32,
    reserved: u32,
    sset_mask: u64,
    data: [u32; 1],
}

/// `struct ethtool_gstrings`, followed by `len` names of ETH_GSTRING_LEN octets.
#[repr(C)]
struct Gstrings {
    cmd: u32,
    string_set: u32,
    len: u32,
}

/// `struct ethtool_stats`, followed by `n_stats` u64 values.
#[repr(C)]
struct Stats {
    cmd: u32,
    n_stats: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EthtoolError {
    #[error("{0:?} is not a network device name")]
    BadName(String),
    #[error("no network device {0} in this network namespace")]
    NoDevice(String),
    #[error("{0}: the driver reports {1} statistics, more than the {MAX_STATS} accepted")]
    TooMany(String, u32),
    #[error("{0}: the driver's statistics kept changing size while being read")]
    Unstable(String),
    #[error("{0} on {1}: {2}")]
    Io(&'static str, String, #[source] io::Error),
}

type Res<T> = Result<T, EthtoolError>;

/// The device's driver statistics, names with values, in the driver's order. A device without
/// driver statistics (`lo`) gives an empty list.
pub fn driver_stats(iface: &str) -> Result<Vec<(String, u64)>, EthtoolError> {
    let sock = socket(iface)?;
    for _ in 0..ATTEMPTS {
        if let Some(stats) = read_once(&sock, iface)? {
            return Ok(stats);
        }
    }
    Err(EthtoolError::Unstable(iface.to_string()))
}

/// A socket to address ioctls for `iface` to, once its name is checked.
fn socket(iface: &str) -> Res<OwnedFd> {
    if iface.is_empty() || iface.len() >= libc::IFNAMSIZ || iface.contains('\0') {
        return Err(EthtoolError::BadName(iface.to_string()));
    }
    // SAFETY: socket(2) with constant arguments; a non-negative result is a new fd that we own.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        let e = io::Error::last_os_error();
        return Err(EthtoolError::Io("socket", iface.into(), e));
    }
    // SAFETY: `raw` is a valid fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `struct ethtool_drvinfo`.
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// What `ethtool -i` shows of a device: its driver, and where it sits on a bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverInfo {
    /// veth, mlx5_core, virtio_net, ...
    pub driver: String,
    /// A bus address for a device on a bus (PCI `0000:03:00.0`, platform `f1070000.ethernet`, USB);
    /// empty, `N/A` or a word such as `tun` for a virtual one.
    pub bus_info: String,
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The device's driver information (ETHTOOL_GDRVINFO), from the calling thread's network namespace;
/// None when the device does not give any.
pub fn driver_info(iface: &str) -> Res<Option<DriverInfo>> {
    let sock = socket(iface)?;
    // SAFETY: DrvInfo is plain data, valid all-zero.
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    if !ioctl(&sock, iface, "ETHTOOL_GDRVINFO", (&raw mut info).cast())? {
        return Ok(None);
    }
    Ok(Some(DriverInfo { driver: c_string(&info.driver), bus_info: c_string(&info.bus_info) }))
}

/// One read of the whole set; None when its size changed between the calls.
fn read_once(sock: &OwnedFd, iface: &str) -> Res<Option<Vec<(String, u64)>>> {
    let mask = 1 << ETH_SS_STATS;
    let mut info = SsetInfo { cmd: ETHTOOL_GSSET_INFO, reserved: 0, sset_mask: mask, data: [0] };
    // The kernel clears the bit of a set the driver does not have and writes no count for it.
    let supported = ioctl(sock, iface, "ETHTOOL_GSSET_INFO", (&raw mut info).cast())?;
    if !supported || info.sset_mask & mask == 0 || info.data[0] == 0 {
        return Ok(Some(Vec::new()));
    }
    let n = info.data[0];
    if n as usize > MAX_STATS {
        return Err(EthtoolError::TooMany(iface.to_string(), n));
    }
    // Both buffers hold MAX_STATS entries whatever `n` is: some drivers (mlx5) change their count,
    // and a kernel without commit 7b07be1ff1cb ("ethtool: Avoid overflowing userspace buffer on
    // stats query", Dec 2025, in stable kernels since) writes the count of the moment, not the one
    // asked for. One with it answers a mismatch with 0, writing nothing. The room (2.5 MiB, zeroed)
    // is mostly mapped lazily by the allocator.
    let hdr = size_of::<Gstrings>();
    let mut strings = vec![0u8; hdr + MAX_STATS * ETH_GSTRING_LEN];
    let head = Gstrings { cmd: ETHTOOL_GSTRINGS, string_set: ETH_SS_STATS, len: n };
    // SAFETY: the buffer is longer than a Gstrings; unaligned access, as the buffer is of octets.
    unsafe { strings.as_mut_ptr().cast::<Gstrings>().write_unaligned(head) };
    if !ioctl(sock, iface, "ETHTOOL_GSTRINGS", strings.as_mut_ptr().cast())? {
        return Ok(Some(Vec::new()));
    }
    // SAFETY: as above; the kernel wrote a Gstrings header back in place.
    if unsafe { strings.as_ptr().cast::<Gstrings>().read_unaligned() }.len != n {
        return Ok(None);
    }
    let names = strings[hdr..hdr + n as usize * ETH_GSTRING_LEN].chunks_exact(ETH_GSTRING_LEN).map(|s| {
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    });
    let mut values = vec![0u64; 1 + MAX_STATS];
    let head = Stats { cmd: ETHTOOL_GSTATS, n_stats: n };
    // SAFETY: the buffer is 8-aligned and longer than a Stats (which takes the first u64).
    unsafe { values.as_mut_ptr().cast::<Stats>().write(head) };
    if !ioctl(sock, iface, "ETHTOOL_GSTATS", values.as_mut_ptr().cast())? {
        return Ok(Some(Vec::new()));
    }
    // SAFETY: as above; the kernel wrote a Stats header back in place.
    if unsafe { values.as_ptr().cast::<Stats>().read() }.n_stats != n {
        return Ok(None);
    }
    let values = values[1..=n as usize].iter().copied();
    Ok(Some(names.zip(values).collect()))
}

/// One SIOCETHTOOL call on `iface` with the command buffer at `data`; false if the device does
/// not support the command (EOPNOTSUPP).
fn ioctl(sock: &OwnedFd, iface: &str, op: &'static str, data: *mut c_char) -> Res<bool> {
    // SAFETY: ifreq is plain data, valid all-zero.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // The name is shorter than IFNAMSIZ (checked by the caller), so it stays NUL-terminated.
    for (d, s) in req.ifr_name.iter_mut().zip(iface.as_bytes()) {
        *d = *s as c_char;
    }
    req.ifr_ifru.ifru_data = data;
    // SAFETY: `req` names the device and points at a command buffer large enough for whatever the
    // command makes the kernel write back (see read_once); both outlive the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Ok(false),
        Some(libc::ENODEV) => Err(EthtoolError::NoDevice(iface.to_string())),
        _ => Err(EthtoolError::Io(op, iface.to_string(), e)),
    }
}

/// Whole-device counters of frames the device's XDP program returned XDP_TX for but the device
/// failed to send:
/// - `rx_xdp_tx_errors`: mvneta, mvpp2, fec (and drivers that copied their names).
/// - `rx_xdp_tx_err`, `rx_xdp_tx_full`: mlx5, frames its XDP_TX send queue refused (length out of
///   range) or had no room for; sums over channels (the per-channel `rx<n>_xdp_tx_*` are skipped).
/// - `tx_xdp_tx_drops`: virtio_net since 6.10, the sum over its send queues.
const TOTALS: &[&str] = &["rx_xdp_tx_errors", "rx_xdp_tx_err", "rx_xdp_tx_full", "tx_xdp_tx_drops"];

/// Per-queue counters, `<prefix><queue number><suffix>`, summed when no whole-device one is there:
/// - `rx_queue_<n>_xdp_tx_errors`: veth (5.9 on). Frames the XDP program on receive queue n sent
///   with XDP_TX that veth could not put in the peer's ring: the peer has neither an XDP program
///   nor GRO (so no NAPI to take them), its ring is full, or the frame is too long for its MTU.
///   veth's `tx_queue_<n>_xdp_xmit_errors` is left out: it counts frames *other* devices redirected
///   into this veth (XDP_REDIRECT, ndo_xdp_xmit) that failed so, which is not this device's XDP_TX.
/// - `tx_queue_<n>_xdp_tx_drops` (before 6.10), `tx<n>_xdp_tx_drops` (6.10 on): virtio_net. Its
///   one counter also takes frames redirected into the device, which it sends the same way.
///
/// i40e, ice, ixgbe, igb and bnxt drop an XDP_TX frame they have no room for without an ethtool
/// counter (the xdp:xdp_exception tracepoint sees it); for them, and any driver not listed, None.
const PER_QUEUE: &[(&str, &str)] = &[("rx_queue_", "_xdp_tx_errors"), ("tx_queue_", "_xdp_tx_drops"), ("tx", "_xdp_tx_drops")];

/// The number of XDP_TX frames the device failed to transmit, from `driver_stats`' list (see
/// TOTALS and PER_QUEUE for the counters matched); None when the driver has no such counter.
pub fn xdp_tx_errors(stats: &[(String, u64)]) -> Option<u64> {
    let sum = |matching: &dyn Fn(&str) -> bool| {
        let mut hits = stats.iter().filter(|(name, _)| matching(name)).peekable();
        hits.peek()?;
        Some(hits.fold(0u64, |acc, (_, v)| acc.saturating_add(*v)))
    };
    sum(&|name| TOTALS.contains(&name)).or_else(|| sum(&|name| PER_QUEUE.iter().any(|ps| in_queue(name, ps))))
}

/// Is `name` `<p><digits><s>`?
fn in_queue(name: &str, (p, s): &(&str, &str)) -> bool {
    let q = name.strip_prefix(p).and_then(|r| r.strip_suffix(s));
    q.is_some_and(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    /// xdp_tx_errors of a list written `name=value ...`.
    fn errs(list: &str) -> Option<u64> {
        let stat = |s: &str| s.split_once('=').map(|(n, v)| (n.into(), v.parse().unwrap()));
        super::xdp_tx_errors(&list.split_whitespace().filter_map(stat).collect::<Vec<_>>())
    }

    #[test]
    fn patterns() {
        let rx = "rx_queue_0_xdp_tx_errors=3 rx_queue_1_xdp_tx_errors=4";
        let veth = format!("peer_ifindex=7 {rx} tx_queue_0_xdp_xmit_errors=9");
        assert_eq!(errs(&veth), Some(7));
        let mlx5 = "rx_xdp_tx_err=1 rx_xdp_tx_full=2 rx0_xdp_tx_err=1 tx_xdp_err=9";
        assert_eq!(errs(mlx5), Some(3));
        let virtio = "tx0_xdp_tx_drops=2 tx1_xdp_tx_drops=3 tx_xdp_tx_drops=5";
        assert_eq!(errs(virtio), Some(5));
        let old_virtio = "tx_queue_0_xdp_tx_drops=2 tx_queue_1_xdp_tx_drops=3";
        assert_eq!(errs(old_virtio), Some(5));
        assert_eq!(errs("rx_queue_x_xdp_tx_errors=1 rx_packets=9"), None);
        assert_eq!(errs(""), None);
    }
}
