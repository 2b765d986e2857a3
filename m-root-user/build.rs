//! Builds the XDP program (m-root-ebpf) with the nightly toolchain and bpf-linker inside `cargo build`,
//! as aya-template does; the object is embedded in the m-root-xdp binary.
//!
//! aya-build forwards every line the nested cargo writes to stderr as a `cargo:warning`, so a clean
//! build would print its whole log (`Compiling core ...`, `Finished ...`) as warnings. The build runs
//! in a second process of this script, whose output is read here: cargo's own progress lines are
//! dropped, every other line (compiler warnings and errors, cargo's warnings) is forwarded, and so is
//! every other directive. If the nested build fails, its whole output goes to stderr, which cargo shows.
use std::{
    env,
    io::Write as _,
    path::PathBuf,
    process::{Command, Stdio},
};

/// Set in the second process: it runs aya-build itself.
const INNER: &str = "M_ROOT_USER_EBPF_BUILD_INNER";

/// The verbs cargo starts its progress lines with (right-aligned in a 12-column field).
const CARGO_PROGRESS: &[&str] = &[
    "Adding",
    "Blocking",
    "Building",
    "Checking",
    "Compiling",
    "Downgrading",
    "Downloaded",
    "Downloading",
    "Finished",
    "Fresh",
    "Locking",
    "Removing",
    "Unpacking",
    "Updating",
    "Upgrading",
];

fn main() -> anyhow::Result<()> {
    if env::var_os(INNER).is_some() {
        return build_ebpf();
    }
    let out = Command::new(env::current_exe()?)
        .env(INNER, "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("running the eBPF build: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The nested cargo's log as it wrote it, then aya-build's error.
        let mut err = std::io::stderr().lock();
        for message in stdout.lines().filter_map(warning) {
            writeln!(err, "{message}")?;
        }
        err.write_all(&out.stderr)?;
        anyhow::bail!("the eBPF build failed ({}); its output is above", out.status);
    }
    for line in stdout.lines() {
        match warning(line) {
            Some(m) if is_progress(m) => {}
            _ => println!("{line}"),
        }
    }
    std::io::stderr().write_all(&out.stderr)?;
    Ok(())
}

/// The message of a `cargo:warning` directive.
fn warning(line: &str) -> Option<&str> {
    line.strip_prefix("cargo::warning=").or_else(|| line.strip_prefix("cargo:warning="))
}

/// A line of the nested cargo's log that reports progress, not a problem (or an empty line).
fn is_progress(message: &str) -> bool {
    let trimmed = message.trim_start();
    let verb = trimmed.split(' ').next().unwrap_or("");
    trimmed.is_empty() || (CARGO_PROGRESS.contains(&verb) && (message.len() > trimmed.len() || verb.len() >= 12))
}

fn build_ebpf() -> anyhow::Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../m-root-ebpf");
    let root = root.canonicalize().unwrap_or(root);
    let root_dir = root.to_str().ok_or_else(|| anyhow::anyhow!("non-UTF-8 path {}", root.display()))?;
    // Also rebuild when the shared types change (they are part of the eBPF crate's input).
    println!("cargo:rerun-if-changed={}", manifest.join("../m-root-common/src").display());
    aya_build::build_ebpf([aya_build::Package { name: "m-root-ebpf", root_dir, ..Default::default() }], aya_build::Toolchain::default())
}
