//! Lab programs: `lab_tx` sends the frame it is given back out (used with BPF_PROG_RUN in live-frames
//! mode to inject a query as a NIC would deliver it), `lab_reflect` is the benchmarks' bare MAC-swap
//! reflector, `lab_pass` passes everything, `lab_gen` generates load, `lab_count` counts what comes
//! back, and `lab_fresh` gives a program under test a fresh query in live-frames mode.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod rt;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::generated::{bpf_xdp_adjust_tail, bpf_xdp_store_bytes},
    macros::{map, xdp},
    maps::{Array, PerCpuArray, ProgramArray},
    programs::XdpContext,
};
use m_root_common::{LAB_TEMPLATE_MAX, LabTemplate};

/// Frames the lab writes: slot 0 is what `lab_gen` sends, slot 1 the query `lab_fresh` hands on.
#[map]
static LAB_TEMPLATE: Array<LabTemplate> = Array::with_max_entries(2, 0);
/// The program `lab_fresh` hands the frame to (slot 0).
#[map]
static LAB_NEXT: ProgramArray = ProgramArray::with_max_entries(1, 0);
/// UDP frames `lab_count` saw.
#[map]
static LAB_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Make the frame template `slot`, whatever the frame held before.
#[inline(always)]
fn write_template(ctx: &XdpContext, slot: u32) -> bool {
    let Some(t) = LAB_TEMPLATE.get(slot) else { return false };
    let len = t.len as usize;
    if len == 0 || len > LAB_TEMPLATE_MAX {
        return false;
    }
    let delta = len as i32 - (ctx.data_end() - ctx.data()) as i32;
    if delta != 0 && unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
        return false;
    }
    unsafe { bpf_xdp_store_bytes(ctx.ctx, 0, t.data.as_ptr() as *mut _, len as u32) == 0 }
}

/// The live-frames generator: write the template into the frame (live-frames pages come back holding
/// whatever the peer made of them), then send it.
#[xdp]
pub fn lab_gen(ctx: XdpContext) -> u32 {
    if !write_template(&ctx, 0) {
        return xdp_action::XDP_ABORTED;
    }
    xdp_action::XDP_TX
}

/// For timing a program in live-frames mode (frames batched and recycled as a driver's are): the kernel
/// hands recycled pages back as the last program left them, so write the query (slot 1) in again, then
/// tail-call the program under test.
#[xdp]
pub fn lab_fresh(ctx: XdpContext) -> u32 {
    if !write_template(&ctx, 1) {
        return xdp_action::XDP_ABORTED;
    }
    // SAFETY: a tail call; it returns only if slot 0 is empty.
    unsafe { LAB_NEXT.tail_call(&ctx, 0) };
    xdp_action::XDP_ABORTED
}

/// Count the UDP frames arriving (the answers, on the client end), and drop them.
#[xdp]
pub fn lab_count(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 24 > ctx.data_end() {
        return xdp_action::XDP_PASS;
    }
    let b = unsafe { &*(start as *const [u8; 24]) };
    let udp = match [b[12], b[13]] {
        [0x08, 0x00] => b[23] == 17,
        [0x86, 0xdd] => b[20] == 17,
        _ => false,
    };
    if !udp {
        return xdp_action::XDP_PASS;
    }
    if let Some(c) = LAB_COUNT.get_ptr_mut(0) {
        unsafe { *c += 1 };
    }
    xdp_action::XDP_DROP
}

#[xdp]
pub fn lab_tx(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_TX
}

/// The benchmark baseline: swap the Ethernet addresses and send the frame back (a bare reflector).
#[xdp]
pub fn lab_reflect(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 12 > ctx.data_end() {
        return xdp_action::XDP_PASS;
    }
    let e = unsafe { &mut *(start as *mut [u8; 12]) };
    let dst = [e[0], e[1], e[2], e[3], e[4], e[5]];
    let src = [e[6], e[7], e[8], e[9], e[10], e[11]];
    e[0..6].copy_from_slice(&src);
    e[6..12].copy_from_slice(&dst);
    xdp_action::XDP_TX
}

#[xdp]
pub fn lab_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
