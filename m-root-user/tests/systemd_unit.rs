//! The package under systemd itself. scripts/systemd-lab.sh boots Debian 12 with systemd as PID 1 in a
//! container inside a lab network namespace (these machines' own PID 1 is not systemd); the .deb is
//! installed there with dpkg, so its maintainer scripts talk to that systemd, configured as an operator
//! would, and run with systemctl. The user, the capabilities, the sandboxing, readiness (Type=notify),
//! ExecReload, Restart=on-failure and stop are then systemd's own doing, not an imitation of it. The
//! client is a bare peer in another namespace, asking with kdig.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, sh};

/// The container lab, torn down on drop (scripts/systemd-lab.sh down).
struct SystemdLab {
    name: String,
}

impl SystemdLab {
    fn up(name: &str) -> SystemdLab {
        common::require_root();
        let name = format!("{}{name}", std::env::var("MRX_LAB_PREFIX").unwrap_or_default());
        let lab = SystemdLab { name };
        let _ = lab.script(&["down"]).output();
        sh(&mut lab.script(&["up"]));
        lab
    }

    fn script(&self, args: &[&str]) -> Command {
        let mut c = Command::new("bash");
        c.arg(common::root_dir().join("scripts/systemd-lab.sh")).args(args).env("LAB", &self.name);
        c
    }

    /// A command inside the container.
    fn run(&self, args: &[&str]) -> Output {
        self.script(&[&["run"], args].concat()).output().expect("systemd-lab.sh run")
    }

    /// A command inside the container that must succeed; its stdout.
    fn sh(&self, args: &[&str]) -> String {
        sh(&mut self.script(&[&["run"], args].concat()))
    }

    /// Write `bytes` to `path` inside the container.
    fn write(&self, path: &str, bytes: &[u8]) {
        use std::io::Write;
        let mut c = self.script(&["run", "sh", "-c", &format!("cat > {path}")]).stdin(Stdio::piped()).spawn().expect("spawn");
        c.stdin.take().expect("stdin").write_all(bytes).expect("write");
        assert!(c.wait().expect("wait").success(), "writing {path}");
    }

    fn show(&self, property: &str) -> String {
        self.sh(&["systemctl", "show", "-P", property, "m-root-xdp.service"]).trim().to_string()
    }

    fn kdig(&self, args: &[&str]) -> String {
        sh(&mut Lab::in_ns(&format!("{}-cli", self.name), &[&["kdig", "+time=2", "+retry=2"], args].concat()))
    }
}

impl Drop for SystemdLab {
    fn drop(&mut self) {
        let _ = self.script(&["down"]).output();
    }
}

/// Wait until `probe` holds, or fail naming `what`.
fn wait(what: &str, secs: u64, mut probe: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !probe() {
        assert!(t.elapsed() < Duration::from_secs(secs), "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
    t.elapsed()
}

#[test]
fn the_packaged_unit_serves_reloads_restarts_and_stops_under_systemd() {
    let deb = common::build_package("m-root-xdp-systemd-test");
    let lab = SystemdLab::up("mrxs");
    let iface = format!("{}-s", lab.name);

    // Install as an operator does: dpkg, then the config, then enable --now.
    lab.write("/root/m-root-xdp.deb", &std::fs::read(&deb).expect("deb"));
    lab.sh(&["dpkg", "-i", "/root/m-root-xdp.deb"]);
    lab.write("/var/lib/m-root-xdp/root.zone", &std::fs::read(common::root_dir().join("zones/root.zone.2023042001")).expect("zone"));
    lab.sh(&["chown", "m-root-xdp:m-root-xdp", "/var/lib/m-root-xdp/root.zone"]);
    let config = format!(
        "zone = \"/var/lib/m-root-xdp/root.zone\"\ninterfaces = [\"{iface}\"]\naddresses = [\"{}\", \"{}\"]\nidentity = \"{}.lab\"\n",
        common::SRV4,
        common::SRV6,
        lab.name
    );
    lab.write("/etc/m-root-xdp/m-root-xdp.toml", config.as_bytes());
    // Type=notify: `systemctl start` returns once the daemon said READY=1, i.e. serves.
    let t = Instant::now();
    lab.sh(&["systemctl", "enable", "--now", "m-root-xdp.service"]);
    println!("systemctl enable --now: {:.1} s to READY=1", t.elapsed().as_secs_f64());
    assert_eq!(lab.show("ActiveState"), "active");
    assert_eq!(lab.show("StatusText"), "serving serial 2023042001");

    // What systemd gave it: the package's user, the four capabilities, no new privileges, seccomp on.
    let pid = lab.show("MainPID");
    let status = lab.sh(&["cat", &format!("/proc/{pid}/status")]);
    let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or_default().to_string();
    let uid = lab.sh(&["id", "-u", "m-root-xdp"]);
    assert_eq!(field("Uid:").split_whitespace().next(), Some(uid.trim()), "runs as m-root-xdp");
    for k in ["CapEff:", "CapBnd:", "CapAmb:"] {
        // CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39).
        assert_eq!(field(k), "000000c000001400", "{k} {status}");
    }
    assert_eq!((field("NoNewPrivs:"), field("Seccomp:")), ("1".into(), "2".into()), "{status}");

    // It answers: the kernel (TC on this veth) and userspace, IPv4 and IPv6, to a bare peer.
    let referral = lab.kdig(&["@198.18.0.1", "+norec", "com.", "NS"]);
    assert!(referral.contains("status: NOERROR") && referral.contains("a.gtld-servers.net."), "{referral}");
    let nx = lab.kdig(&["@2001:db8::1", "+dnssec", "no-such-tld-here.", "A"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    let soa = lab.kdig(&["@198.18.0.1", "+tcp", "+short", ".", "SOA"]);
    assert!(soa.contains(" 2023042001 "), "{soa}");
    let stats: serde_json::Value = serde_json::from_str(&lab.sh(&["m-root-xdp", "stats", "--json"])).expect("stats");
    assert!(m_root_user::dataplane::answered_in_stats(&stats) >= 2, "the kernel answered the UDP queries: {stats}");
    lab.sh(&["test", "-e", &format!("/sys/fs/bpf/m-root-xdp/{iface}/PERCPU")]);
    let journal = lab.sh(&["journalctl", "-o", "cat", "--no-pager", "-u", "m-root-xdp.service"]);
    assert!(journal.contains("serving on") && !journal.contains("not pinned") && !journal.contains("ERROR"), "{journal}");

    // systemctl reload runs ExecReload; the new edition is served by both paths.
    lab.sh(&["cp", "/usr/share/m-root-xdp/zones/root.zone.2026073102", "/var/lib/m-root-xdp/root.zone.new"]);
    lab.sh(&["chown", "m-root-xdp:m-root-xdp", "/var/lib/m-root-xdp/root.zone.new"]);
    lab.sh(&["mv", "/var/lib/m-root-xdp/root.zone.new", "/var/lib/m-root-xdp/root.zone"]);
    lab.sh(&["systemctl", "reload", "m-root-xdp.service"]);
    assert_eq!(lab.show("StatusText"), "serving serial 2026073102");
    for transport in ["+notcp", "+tcp"] {
        let soa = lab.kdig(&["@198.18.0.1", transport, "+short", ".", "SOA"]);
        assert!(soa.contains(" 2026073102 "), "{transport}: {soa}");
    }

    // A crash: systemd restarts it (Restart=on-failure), and it serves again.
    lab.sh(&["systemctl", "kill", "--signal=KILL", "m-root-xdp.service"]);
    let back = wait("restarted after SIGKILL", 60, || {
        lab.show("ActiveState") == "active" && lab.show("MainPID") != pid && lab.show("MainPID") != "0"
    });
    println!("back after SIGKILL in {:.1} s (RestartSec=2s)", back.as_secs_f64());
    assert_eq!(lab.show("NRestarts"), "1");
    let referral = lab.kdig(&["@198.18.0.1", "+norec", "jp.", "NS"]);
    assert!(referral.contains("status: NOERROR"), "{referral}");

    // The exposure score systemd itself gives the running unit.
    let security = lab.sh(&["systemd-analyze", "security", "--no-pager", "m-root-xdp.service"]);
    let line = security.lines().find(|l| l.contains("Overall exposure level")).expect("exposure level").trim().to_string();
    println!("inside the container: {line}");

    // Stop: detached, the pins gone; purge removes the user.
    lab.sh(&["systemctl", "stop", "m-root-xdp.service"]);
    assert_eq!(lab.show("ActiveState"), "inactive");
    let net = sh(&mut Lab::in_ns(&format!("{}-srv", lab.name), &["bpftool", "net", "show", "dev", &iface]));
    assert!(!net.contains("m_root"), "still attached after stop: {net}");
    assert!(!lab.run(&["test", "-e", &format!("/sys/fs/bpf/m-root-xdp/{iface}")]).status.success(), "pins left after stop");
    lab.sh(&["dpkg", "--purge", "m-root-xdp"]);
    assert!(!lab.run(&["id", "m-root-xdp"]).status.success(), "purge removes the user");
}
