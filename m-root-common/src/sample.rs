//! The kernel programs' dnstap sample: one in N of the answers they send, copied whole (the answer frame
//! as it leaves) into a ring buffer, which userspace turns into dnstap AUTH_RESPONSE messages.

use crate::dns::OUR_UDP_PAYLOAD;

/// The longest answer frame the programs send: our UDP payload limit under Ethernet, two VLAN tags,
/// IPv6 and UDP.
pub const SAMPLE_FRAME_MAX: usize = OUR_UDP_PAYLOAD as usize + 14 + 2 * 4 + 40 + 8;

/// Ring buffer size: some 800 samples between two reads by userspace (every 10 ms).
pub const SAMPLE_RING_BYTES: u32 = 1 << 20;

/// One sampled answer, as written to the ring.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KernelSample {
    /// Octets of `frame` that are the answer.
    pub len: u32,
    /// The hook that sent it ([`crate::Hook`] as a number).
    pub hook: u32,
    pub frame: [u8; SAMPLE_FRAME_MAX],
}

/// Is the `seen`-th answer (counted from 1, per CPU) sampled at one in `n`? Never for `n` = 0.
#[inline(always)]
pub const fn sampled(seen: u64, n: u32) -> bool {
    n != 0 && seen.is_multiple_of(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_n() {
        assert_eq!((1..=3000).filter(|&s| sampled(s, 1000)).count(), 3);
        assert_eq!((1..=10).filter(|&s| sampled(s, 1)).count(), 10);
        assert!(!(1..=10).any(|s| sampled(s, 0)));
        assert_eq!(SAMPLE_FRAME_MAX, 1302);
    }
}
