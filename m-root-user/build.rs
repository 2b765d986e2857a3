//! Builds the XDP program (m-root-ebpf) with the nightly toolchain and bpf-linker inside `cargo build`,
//! as aya-template does; the object is embedded in the m-root-xdp binary.
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../m-root-ebpf");
    let root = root.canonicalize().unwrap_or(root);
    let root_dir = root.to_str().ok_or_else(|| anyhow::anyhow!("non-UTF-8 path {}", root.display()))?;
    // Also rebuild when the shared types change (they are part of the eBPF crate's input).
    println!("cargo:rerun-if-changed={}", manifest.join("../m-root-common/src").display());
    aya_build::build_ebpf([aya_build::Package { name: "m-root-ebpf", root_dir, ..Default::default() }], aya_build::Toolchain::default())
}
