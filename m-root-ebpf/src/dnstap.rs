//! dnstap's sample of what the programs answer: one in N answers (per CPU; N from userspace, 0 none),
//! the answer frame copied whole into a ring buffer as it leaves. Userspace makes AUTH_RESPONSE
//! messages of them; the programs only copy.

use aya_ebpf::{
    macros::map,
    maps::{Array, PerCpuArray, RingBuf},
};
use m_root_common::sample::{KernelSample, SAMPLE_RING_BYTES, sampled};

use crate::packet::Packet;

#[map]
static DNSTAP_RING: RingBuf = RingBuf::with_byte_size(SAMPLE_RING_BYTES, 0);
/// One in how many answers; 0 (what a new map holds): none.
#[map]
static DNSTAP_RATE: Array<u32> = Array::with_max_entries(1, 0);
/// Answers sent on this CPU while sampling was on.
#[map]
static DNSTAP_SEEN: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// An answer is in the packet and about to leave: sample it if it is the N-th.
#[inline(always)]
pub fn answered<P: Packet>(ctx: &P) {
    let n = match DNSTAP_RATE.get(0) {
        Some(&n) if n != 0 => n,
        _ => return,
    };
    let Some(seen) = DNSTAP_SEEN.get_ptr_mut(0) else { return };
    let c = unsafe { *seen + 1 };
    unsafe { *seen = c };
    if !sampled(c, n) {
        return;
    }
    let len = ctx.len();
    let Some(mut e) = DNSTAP_RING.reserve::<KernelSample>(0) else { return };
    let p = e.as_mut_ptr();
    unsafe {
        (*p).len = len as u32;
        (*p).hook = P::HOOK as u32;
    }
    match ctx.copy_out(unsafe { core::ptr::addr_of_mut!((*p).frame) } as *mut u8, len) {
        Some(()) => e.submit(0),
        None => e.discard(0),
    }
}
