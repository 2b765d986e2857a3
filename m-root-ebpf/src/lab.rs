//! Lab programs (no maps): `lab_tx` sends the frame it is given back out (used with BPF_PROG_RUN in
//! live-frames mode to inject a query as a NIC would deliver it), `lab_reflect` is the benchmarks' bare
//! MAC-swap reflector, `lab_pass` passes everything.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

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

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
