//! Lab programs (no maps): `lab_tx` sends the frame it is given back out (used with BPF_PROG_RUN in
//! live-frames mode to inject a query as a NIC would deliver it), `lab_pass` passes everything.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

#[xdp]
pub fn lab_tx(_ctx: XdpContext) -> u32 {
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
