//! What userspace tells the programs besides the table: the service addresses, what TC answers, whether
//! XDP may send, where no-room queries go; and the hint XDP leaves TC in a frame's metadata.

/// Service addresses the program answers for (scanned linearly: a hash lookup costs more than this).
pub const MAX_SERVICE_ADDRS: usize = 16;

/// Key of the service address map: IPv6, or IPv4 as `::ffff:a.b.c.d` (RFC 4291 2.5.5.2).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrKey {
    pub addr: [u8; 16],
}

impl AddrKey {
    /// All zero, written word by word: a zeroed array literal becomes a memset call in BPF code.
    #[inline(always)]
    pub fn zeroed() -> Self {
        let mut k = core::mem::MaybeUninit::<Self>::uninit();
        let p = k.as_mut_ptr() as *mut u64;
        // SAFETY: two aligned u64 writes fill the 16-byte, 8-aligned struct.
        unsafe {
            core::ptr::write_volatile(p, 0);
            core::ptr::write_volatile(p.add(1), 0);
            k.assume_init()
        }
    }
}

/// The service addresses, as one array-map value: `addrs[..count]`, each an [`AddrKey`] as two words.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ServiceAddrs {
    pub count: u32,
    pub reserved: u32,
    pub addrs: [[u64; 2]; MAX_SERVICE_ADDRS],
}

const _: () = assert!(core::mem::size_of::<AddrKey>() == core::mem::size_of::<[u64; 2]>());

/// What the TC program answers (the TC_MODE map's one value): beside XDP, what XDP had no room for.
pub const TC_MODE_HINTED: u32 = 0;
/// TC answers every query it covers: XDP is not attached.
pub const TC_MODE_ALL: u32 = 1;
/// Whether the XDP program may send answers with XDP_TX (the XDP_TX map's one value). Off (the map's
/// zero) it hands every covered query to TC instead: the safe state until userspace has decided.
pub const XDP_TX_OFF: u32 = 0;
pub const XDP_TX_ON: u32 = 1;
/// CPUs the XDP program can hand the queries it leaves to TC to (the SPILL cpumap's size).
pub const MAX_SPILL_CPUS: u32 = 256;

/// What the XDP program leaves in the frame's metadata (bpf_xdp_adjust_meta) when it found the answer but
/// may not send it (no room in the driver's buffer, or XDP_TX off), for the in-kernel TC companion.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpHint {
    /// [`XDP_HINT_MAGIC`]: tells a hint from other metadata.
    pub magic: u32,
    /// Index of the answer in the ANSWERS map.
    pub answer: u32,
    /// What rate limiting decided when XDP charged the response ([`HINT_RRL_SEND`], [`HINT_RRL_SLIP`]),
    /// so TC does not charge it again; [`HINT_RRL_NONE`] when XDP did not (it was not going to send it).
    pub rrl: u32,
}
pub const XDP_HINT_MAGIC: u32 = 0x4d52_5848; // "MRXH"
pub const HINT_RRL_NONE: u32 = 0;
pub const HINT_RRL_SEND: u32 = 1;
pub const HINT_RRL_SLIP: u32 = 2;

// bpf_xdp_adjust_meta takes a multiple of four octets.
const _: () = assert!(core::mem::size_of::<XdpHint>().is_multiple_of(4));
