fn main() {
    // Lets the crate build for the host too (cargo test --workspace), as aya-template does.
    if let Err(e) = aya_build::emit_bpf_target_arch_cfg() {
        panic!("emit_bpf_target_arch_cfg: {e}");
    }
    // Rebuild when bpf-linker changes (it is an undeclared build input).
    println!("cargo:rerun-if-env-changed=PATH");
    // bpf-linker generates the code (rustc hands it bitcode), so code-generation choices are its arguments:
    // without allows-misaligned-mem-access every read of packet data (alignment 1) becomes byte loads.
    // Only for the eBPF build: the workspace's host build of this crate links with cc.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("bpf") {
        println!("cargo:rustc-link-arg=--cpu-features=+allows-misaligned-mem-access");
    }
}
