//! What every program object of this crate needs besides its programs (main.rs and lab.rs each
//! include it): a panic handler, and the license the kernel asks of programs that call GPL helpers.

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
