//! What the package test reads off the installed systemd unit, and systemd's own view of it: the
//! commands and capabilities to run with, and the system calls its filter allows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The [Service] settings of a unit file: each key with its values in order (SystemCallFilter= repeats).
pub struct Unit(BTreeMap<String, Vec<String>>);

impl Unit {
    pub fn read(path: &Path) -> Unit {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.starts_with('[')) {
            if let Some((k, v)) = line.split_once('=') {
                keys.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
        Unit(keys)
    }

    /// The one value of `key`.
    pub fn one(&self, key: &str) -> &str {
        match self.0.get(key).map(Vec::as_slice) {
            Some([v]) => v,
            other => panic!("unit: {key}= should be set once, is {other:?}"),
        }
    }

    /// The words of `key`'s one value: a command line (ExecStart=) as argv, a capability list.
    pub fn words(&self, key: &str) -> Vec<String> {
        self.one(key).split_whitespace().map(String::from).collect()
    }

    /// Every system call the unit's SystemCallFilter= allow-list lets through, groups expanded as
    /// `systemd-analyze syscall-filter` lists them.
    pub fn allowed_syscalls(&self) -> BTreeSet<String> {
        let groups = syscall_groups();
        let mut allowed = BTreeSet::new();
        for v in self.0.get("SystemCallFilter").into_iter().flatten() {
            assert!(!v.starts_with('~'), "the test expands allow-lists only: SystemCallFilter={v}");
            for item in v.split_whitespace() {
                expand(item, &groups, &mut allowed);
            }
        }
        allowed
    }
}

/// setpriv's form of a list of capabilities: `-all,+bpf,+net_admin`.
pub fn setpriv_caps(caps: &[String]) -> String {
    let mut s = String::from("-all");
    for c in caps {
        s.push_str(&format!(",+{}", c.trim_start_matches("CAP_").to_lowercase()));
    }
    s
}

fn expand(item: &str, groups: &BTreeMap<String, Vec<String>>, out: &mut BTreeSet<String>) {
    if item.starts_with('@') {
        for i in groups.get(item).unwrap_or_else(|| panic!("systemd-analyze knows no group {item}")) {
            expand(i, groups, out);
        }
    } else {
        out.insert(item.to_string());
    }
}

/// `systemd-analyze syscall-filter`: each group with its entries (calls and nested groups).
fn syscall_groups() -> BTreeMap<String, Vec<String>> {
    let out = Command::new("systemd-analyze").arg("syscall-filter").output().expect("systemd-analyze");
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('@') {
            current = Some(line.trim().to_string());
            groups.entry(line.trim().to_string()).or_default();
        } else if let Some(g) = &current {
            let entry = line.trim();
            if !entry.is_empty() && !entry.starts_with('#') {
                groups.entry(g.clone()).or_default().push(entry.to_string());
            }
        }
    }
    assert!(groups.contains_key("@system-service"), "systemd-analyze syscall-filter listed no @system-service");
    groups
}

/// The system calls in an `strace -f` log from the first execve of `exe` on (what the daemon itself
/// called, not the launcher before it).
pub fn syscalls_after_exec(log: &str, exe: &str) -> BTreeSet<String> {
    let start = log.find(&format!("execve(\"{exe}\"")).unwrap_or_else(|| panic!("no execve of {exe} in the strace log"));
    let start = log[..start].rfind('\n').map_or(0, |i| i + 1);
    let mut calls = BTreeSet::new();
    for line in log[start..].lines() {
        // "1234  name(args..." or "1234  <... name resumed>...".
        let rest = line.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim_start());
        let name = match rest.strip_prefix("<... ") {
            Some(r) => r.split_whitespace().next().unwrap_or(""),
            None => rest.split('(').next().unwrap_or(""),
        };
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            calls.insert(name.to_string());
        }
    }
    calls
}
