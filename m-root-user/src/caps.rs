//! The capabilities `run` needs, checked before anything is loaded, so that a daemon started as its own
//! user with too few of them says which one is missing instead of failing later with EPERM from bpf(2).
//!
//! Measured on Linux 6.18 by running the daemon as `nobody` under `setpriv` with each set (the package
//! test does it on every run, see m-root-user/tests/package.rs):
//! - CAP_BPF: create the maps and load the programs.
//! - CAP_PERFMON: without it the verifier treats the loader as unprivileged and refuses the packet
//!   pointer arithmetic of the parsers ("pointer arithmetic with it prohibited for !root").
//! - CAP_NET_ADMIN: attach XDP and TC to an interface.
//! - CAP_NET_BIND_SERVICE: bind port 53 (below net.ipv4.ip_unprivileged_port_start).
//!
//! CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON (kernels before 5.8 have only it); it is not
//! needed. Without CAP_SYS_ADMIN the daemon cannot mount a bpffs of its own, so the counters are pinned
//! only where a bpffs directory it may write exists (the package's tmpfiles.d entry makes one).

use std::fmt;

/// A capability by its number (linux/capability.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap(pub u32);

pub const CAP_NET_BIND_SERVICE: Cap = Cap(10);
pub const CAP_NET_ADMIN: Cap = Cap(12);
pub const CAP_SYS_ADMIN: Cap = Cap(21);
pub const CAP_PERFMON: Cap = Cap(38);
pub const CAP_BPF: Cap = Cap(39);

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            CAP_NET_BIND_SERVICE => "CAP_NET_BIND_SERVICE",
            CAP_NET_ADMIN => "CAP_NET_ADMIN",
            CAP_SYS_ADMIN => "CAP_SYS_ADMIN",
            CAP_PERFMON => "CAP_PERFMON",
            CAP_BPF => "CAP_BPF",
            Cap(n) => return write!(f, "capability {n}"),
        };
        f.write_str(name)
    }
}

/// A capability set as the kernel shows it (`CapEff:` in /proc/self/status, a hex bit mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn has(self, c: Cap) -> bool {
        c.0 < 64 && self.0 & (1 << c.0) != 0
    }

    /// CAP_BPF and CAP_PERFMON are also granted by CAP_SYS_ADMIN (bpf_capable, perfmon_capable).
    fn grants(self, c: Cap) -> bool {
        self.has(c) || ((c == CAP_BPF || c == CAP_PERFMON) && self.has(CAP_SYS_ADMIN))
    }

    /// The effective set from the text of /proc/<pid>/status.
    pub fn effective_in(status: &str) -> Option<CapSet> {
        let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
        u64::from_str_radix(hex, 16).ok().map(CapSet)
    }

    /// This process's effective set.
    pub fn effective() -> Option<CapSet> {
        CapSet::effective_in(&std::fs::read_to_string("/proc/self/status").ok()?)
    }
}

/// What `run` needs: each capability with why.
pub fn needed(kernel_paths: bool, port: u16, unprivileged_port_start: u16) -> Vec<(Cap, &'static str)> {
    let mut v = Vec::new();
    if kernel_paths {
        v.push((CAP_BPF, "to load the XDP and TC programs and their maps"));
        v.push((CAP_PERFMON, "so the verifier accepts the programs' packet parsing (as a privileged loader)"));
        v.push((CAP_NET_ADMIN, "to attach XDP and TC to the interfaces"));
    }
    if port < unprivileged_port_start {
        v.push((CAP_NET_BIND_SERVICE, "to bind the DNS port"));
    }
    v
}

/// The capabilities of `needed` missing from `have`, as an error naming each and why; Ok when none is.
pub fn check(have: CapSet, needed: &[(Cap, &str)]) -> Result<(), String> {
    let missing: Vec<String> = needed.iter().filter(|(c, _)| !have.grants(*c)).map(|(c, why)| format!("{c} ({why})")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "missing capabilit{} {}; run as root, or grant them (AmbientCapabilities= in the systemd unit, setpriv --ambient-caps)",
        if missing.len() == 1 { "y" } else { "ies" },
        missing.join(", ")
    ))
}

/// The first port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start; 1024 when
/// unreadable).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set_and_names_what_is_missing() {
        let status = "Name:\tm-root-xdp\nCapInh:\t0000000000000000\nCapEff:\t000000c000001400\nCapBnd:\t000000c000001400\n";
        let have = CapSet::effective_in(status).unwrap();
        assert!(have.has(CAP_BPF) && have.has(CAP_PERFMON) && have.has(CAP_NET_ADMIN) && have.has(CAP_NET_BIND_SERVICE));
        assert!(!have.has(CAP_SYS_ADMIN));
        assert_eq!(check(have, &needed(true, 53, 1024)), Ok(()));

        let no_perfmon = CapSet(have.0 & !(1 << CAP_PERFMON.0));
        let err = check(no_perfmon, &needed(true, 53, 1024)).unwrap_err();
        assert!(err.starts_with("missing capability CAP_PERFMON ("), "{err}");

        let err = check(CapSet(0), &needed(true, 53, 1024)).unwrap_err();
        for c in ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"] {
            assert!(err.contains(c), "{err}");
        }
        // Userspace only on a high port needs nothing; CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON.
        assert_eq!(check(CapSet(0), &needed(false, 5300, 1024)), Ok(()));
        assert_eq!(check(CapSet(0), &needed(false, 53, 0)), Ok(()));
        let sys_admin = CapSet((1 << CAP_SYS_ADMIN.0) | (1 << CAP_NET_ADMIN.0) | (1 << CAP_NET_BIND_SERVICE.0));
        assert_eq!(check(sys_admin, &needed(true, 53, 1024)), Ok(()));
        assert_eq!(CapSet::effective_in("Name: x\n"), None);
    }
}
