//! The Debian package as an operator installs it. scripts/package.sh builds it; its contents are listed
//! by dpkg-deb and its unit checked by systemd-analyze (verify, and the security exposure score); dpkg
//! installs it on this machine, so its maintainer scripts run for real (the user, the state and pin
//! directories). Then the installed binary runs in a lab as systemd would start it: the unit's
//! ExecStart as the unit's User with exactly its AmbientCapabilities (setpriv), readiness on a
//! NOTIFY_SOCKET of the test's own (these machines do not run systemd as PID 1), traced by strace so
//! that every system call it makes is checked against the unit's SystemCallFilter. It must answer in
//! the kernel and in userspace, reload by the unit's ExecReload, and detach on SIGTERM; with any one
//! capability taken away it must refuse to start, naming it. The package is purged at the end.

mod common;
#[path = "package/unit.rs"]
mod unit;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, sh};
use unit::{Unit, setpriv_caps, syscalls_after_exec};

const PKG: &str = "m-root-xdp";
const USER: &str = "m-root-xdp";
const UNIT: &str = "/lib/systemd/system/m-root-xdp.service";
const CONFIG: &str = "/etc/m-root-xdp/m-root-xdp.toml";
const STATE: &str = "/var/lib/m-root-xdp";
const RUNTIME: &str = "/run/m-root-xdp";
const CONTROL: &str = "/run/m-root-xdp/control.sock";
const PINS: &str = "/sys/fs/bpf/m-root-xdp";
const EXE: &str = "/usr/sbin/m-root-xdp";

/// The package installed; purged when the test ends, however it ends, and /run/m-root-xdp handed back
/// to root (the test gives it to the daemon's user, as RuntimeDirectory= would).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PKG]).output();
        let _ = std::os::unix::fs::chown(RUNTIME, Some(0), Some(0));
        let _ = std::fs::set_permissions(RUNTIME, std::fs::Permissions::from_mode(0o755));
    }
}

/// A daemon the test started (the launcher as `child`, the daemon itself as `pid`): killed when dropped
/// before it stopped, so a failing test leaves no process of the package's user behind.
struct Started {
    child: Child,
    pid: i32,
}

impl Started {
    fn spawn(cmd: &mut Command, log: &Path) -> Started {
        let f = std::fs::File::create(log).expect("log");
        let child = cmd.stdout(Stdio::from(f.try_clone().expect("log"))).stderr(Stdio::from(f)).spawn().expect("spawn");
        let pid = child.id() as i32;
        Started { child, pid }
    }

    /// SIGTERM to the daemon; its exit status, within 20 s.
    fn stop(&mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `cmd` run by `prefix` (e.g. `timeout 30`), with exactly `cmd`'s environment.
fn wrapped(prefix: &[&str], cmd: &Command) -> Command {
    let mut c = Command::new(prefix[0]);
    c.args(&prefix[1..]).arg(cmd.get_program()).args(cmd.get_args()).env_clear();
    c.envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
    c
}

fn id(flag: &str) -> u32 {
    sh(Command::new("id").args([flag, USER])).trim().parse().expect("id")
}

/// A command in the lab's server network namespace, as the unit's user with `caps`, environment
/// cleared. The mount namespace stays the host's, as for a service (/sys/fs/bpf is the system's bpffs),
/// unless `no_bpffs`: then `ip netns exec` gives it a fresh /sys without one, as in a container.
fn as_unit(lab: &Lab, caps: &[String], argv: &[String], notify: Option<&Path>) -> Command {
    as_unit_in(lab, caps, argv, notify, false)
}

fn as_unit_in(lab: &Lab, caps: &[String], argv: &[String], notify: Option<&Path>, no_bpffs: bool) -> Command {
    let c = setpriv_caps(caps);
    let mut cmd = match no_bpffs {
        // The fallback bpffs another daemon (run as root) may have mounted goes too, in this mount
        // namespace only (`ip netns exec` makes its mounts slaves of the host's).
        true => Lab::in_ns(&lab.srv_ns(), &["sh", "-c", "umount -l /run/m-root-xdp/bpf 2>/dev/null; exec \"$@\"", "sh"]),
        false => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{}", lab.srv_ns()));
            c
        }
    };
    cmd.args(["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--inh-caps", &c, "--ambient-caps", &c, "--bounding-set", &c]);
    cmd.arg("--no-new-privs").arg("--").args(argv).env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    if let Some(n) = notify {
        cmd.env("NOTIFY_SOCKET", n);
    }
    cmd
}

/// The datagrams the daemon sent to NOTIFY_SOCKET, waiting up to `secs` for one containing `what`.
fn wait_notify(sock: &UnixDatagram, what: &str, secs: u64, daemon: &mut Child, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.lines().any(|l| l == what) {
                return msg;
            }
        }
        if let Ok(Some(status)) = daemon.try_wait() {
            panic!("the daemon exited ({status}) before {what}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        assert!(
            Instant::now() < deadline,
            "no {what} on NOTIFY_SOCKET within {secs} s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

fn kdig(lab: &Lab, args: &[&str]) -> String {
    sh(&mut Lab::in_ns(&lab.cli_ns(), &[&["kdig", "+time=2", "+retry=1"], args].concat()))
}

#[test]
fn the_package_installs_and_runs_as_its_user_with_the_units_capabilities() {
    common::require_root();
    let root = common::root_dir();

    let deb = common::build_package("m-root-xdp-package-test");
    let contents = sh(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/sbin/m-root-xdp",
        "./usr/bin/zonegen",
        "./etc/m-root-xdp/m-root-xdp.toml",
        "./lib/systemd/system/m-root-xdp.service",
        "./usr/lib/tmpfiles.d/m-root-xdp.conf",
        "./usr/share/man/man8/m-root-xdp.8.gz",
        "./usr/share/man/man8/m-root-xdp-run.8.gz",
        "./usr/share/man/man5/m-root-xdp.toml.5.gz",
        "./usr/share/man/man1/zonegen.1.gz",
        "./usr/share/bash-completion/completions/m-root-xdp",
        "./usr/share/zsh/vendor-completions/_zonegen",
        "./usr/share/doc/m-root-xdp/copyright",
    ] {
        assert!(contents.lines().any(|l| l.ends_with(&format!(" {path}"))), "{path} not in the package:\n{contents}");
    }
    assert_eq!(sh(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("conffiles")).trim(), CONFIG);

    // Install: the maintainer scripts make the user, the state directory and the pin directory.
    let _ = Command::new("dpkg").args(["--purge", PKG]).output();
    let installed = Installed;
    sh(Command::new("dpkg").arg("-i").arg(&deb));
    let (uid, gid) = (id("-u"), id("-g"));
    assert_ne!(uid, 0);
    for (dir, mode) in [(STATE, 0o750), (PINS, 0o750)] {
        let md = std::fs::metadata(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (uid, gid, mode), "{dir}: owner and mode");
    }
    let md = std::fs::metadata(CONFIG).expect("config");
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (0, gid, 0o640), "{CONFIG}: root's, readable by the daemon's group");

    // The unit as systemd reads it, and its exposure score.
    let verify = Command::new("systemd-analyze").args(["verify", UNIT]).output().expect("systemd-analyze");
    let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success() && said.trim().is_empty(), "systemd-analyze verify {UNIT}: {said}");
    let security = sh(Command::new("systemd-analyze").args(["security", "--offline=yes", UNIT]));
    let line = security.lines().find(|l| l.contains("Overall exposure level")).expect("exposure level");
    let score: f64 = line.split(':').nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).expect("score");
    println!("systemd-analyze security --offline=yes: {}", line.trim());
    assert!(score <= 2.5, "{line}");
    let manual = sh(Command::new("man").args(["-P", "cat", "5", "m-root-xdp.toml"]).env("MANWIDTH", "200"));
    for s in m_root_user::config::reference() {
        assert!(manual.contains(s.key), "m-root-xdp.toml(5) does not document {}", s.key);
    }

    let unit = Unit::read(Path::new(UNIT));
    assert_eq!(unit.one("User"), USER);
    let caps = unit.words("AmbientCapabilities");
    assert_eq!(caps, unit.words("CapabilityBoundingSet"), "the bounding set is the ambient set");
    assert!(!caps.iter().any(|c| c == "CAP_SYS_ADMIN"), "{caps:?}");

    // Configure it as an operator would, for the lab, and start with the older zone edition.
    let lab = Lab::up("pkg");
    let zone = Path::new(STATE).join("root.zone");
    std::fs::copy(root.join("zones/root.zone.2023042001"), &zone).expect("zone");
    std::os::unix::fs::chown(&zone, Some(uid), Some(gid)).expect("chown zone");
    let config = format!(
        "zone = \"{}\"\ninterfaces = [\"{}\"]\naddresses = [\"{}\", \"{}\"]\nidentity = \"pkg.m-root-xdp\"\n",
        zone.display(),
        lab.srv_if(),
        common::SRV4,
        common::SRV6
    );
    std::fs::write(CONFIG, config).expect("config");
    // RuntimeDirectory=m-root-xdp, RuntimeDirectoryMode=0750.
    std::fs::create_dir_all(RUNTIME).expect("runtime dir");
    std::os::unix::fs::chown(RUNTIME, Some(uid), Some(gid)).expect("chown runtime dir");
    std::fs::set_permissions(RUNTIME, std::fs::Permissions::from_mode(0o750)).expect("chmod runtime dir");
    let _ = std::fs::remove_file(CONTROL);
    let notify_dir = std::env::temp_dir().join("m-root-xdp-package-notify");
    let _ = std::fs::remove_dir_all(&notify_dir);
    std::fs::create_dir_all(&notify_dir).expect("notify dir");
    std::fs::set_permissions(&notify_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let notify_path = notify_dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("NOTIFY_SOCKET");
    std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o666)).expect("chmod notify");
    notify.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");

    // Start: ExecStart, as the unit's user with the unit's capabilities, under strace.
    let log = std::env::temp_dir().join("m-root-xdp-package.log");
    let trace = std::env::temp_dir().join("m-root-xdp-package.strace");
    let cmd = as_unit(&lab, &caps, &unit.words("ExecStart"), Some(&notify_path));
    let trace_arg = trace.display().to_string();
    let mut daemon = Started::spawn(&mut wrapped(&["strace", "-f", "-qq", "-o", &trace_arg, "--"], &cmd), &log);
    let t = Instant::now();
    let ready = wait_notify(&notify, "READY=1", 90, &mut daemon.child, &log);
    println!("READY=1 after {:.1} s under strace: {ready:?}", t.elapsed().as_secs_f64());
    assert!(ready.contains("STATUS=serving serial 2023042001"), "{ready}");
    // strace's child: setpriv, which exec'd the daemon.
    daemon.pid = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", daemon.child.id()))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .expect("the daemon under strace");

    // It answers, in the kernel (TC, on this veth) and in userspace, over IPv4 and IPv6.
    let referral = kdig(&lab, &["@198.18.0.1", "+norec", "com.", "NS"]);
    assert!(referral.contains("status: NOERROR") && referral.contains("a.gtld-servers.net."), "{referral}");
    let nx = kdig(&lab, &["@2001:db8::1", "+dnssec", "no-such-tld-here.", "A"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    let soa = kdig(&lab, &["@198.18.0.1", "+tcp", "+short", ".", "SOA"]);
    assert!(soa.contains(" 2023042001 "), "{soa}");
    // The counters pinned under /sys/fs/bpf/m-root-xdp by the daemon's own user, read as an operator would.
    let pinned = sh(Command::new(EXE).args(["stats", "--iface", &lab.srv_if(), "--control", "/nonexistent", "--json"]));
    let kernel = common::xdp_answered(&serde_json::from_str(&pinned).expect("stats json"));
    assert!(kernel >= 2, "the kernel answered the two UDP queries: {pinned}");
    let md = std::fs::metadata(CONTROL).expect("control socket");
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (uid, gid, 0o660), "the control socket");

    // Reload: ExecReload, as systemd runs it (same user and capabilities), after a new edition lands.
    let next = Path::new(STATE).join("root.zone.new");
    std::fs::copy(common::bundled_zone(), &next).expect("zone");
    std::os::unix::fs::chown(&next, Some(uid), Some(gid)).expect("chown");
    std::fs::rename(&next, &zone).expect("rename");
    let reloaded = sh(&mut as_unit(&lab, &caps, &unit.words("ExecReload"), None));
    assert!(reloaded.contains("serial 2023042001 -> 2026073102"), "{reloaded}");
    wait_notify(&notify, "RELOADING=1", 10, &mut daemon.child, &log);
    let ready = wait_notify(&notify, "READY=1", 10, &mut daemon.child, &log);
    assert!(ready.contains("STATUS=serving serial 2026073102"), "{ready}");
    for transport in ["+notcp", "+tcp"] {
        let soa = kdig(&lab, &["@198.18.0.1", transport, "+short", ".", "SOA"]);
        assert!(soa.contains(" 2026073102 "), "{transport}: {soa}");
    }

    // Stop: SIGTERM, as systemctl stop sends; the programs and pins go with it.
    let status = daemon.stop();
    let said = wait_notify(&notify, "STOPPING=1", 1, &mut daemon.child, &log);
    assert!(said.contains("STOPPING=1"));
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit {status}: {logged}");
    assert!(!logged.contains("counters not pinned"), "{logged}");
    let net = sh(&mut Lab::in_ns(&lab.srv_ns(), &["bpftool", "net", "show", "dev", &lab.srv_if()]));
    assert!(!net.contains("m_root"), "still attached after stop: {net}");
    assert!(!Path::new(PINS).join(lab.srv_if()).exists(), "pins removed on stop");

    // Every system call it made is one the unit's filter allows.
    let used = syscalls_after_exec(&std::fs::read_to_string(&trace).expect("strace log"), EXE);
    let allowed = unit.allowed_syscalls();
    let outside: Vec<_> = used.difference(&allowed).collect();
    println!("{} distinct system calls made, all within SystemCallFilter", used.len());
    assert!(used.contains("bpf") && used.len() > 20, "the trace holds the daemon's calls: {used:?}");
    assert!(outside.is_empty(), "system calls outside the unit's SystemCallFilter: {outside:?}");

    // Each capability is needed, and its absence is named.
    for missing in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != missing).cloned().collect();
        // Bounded: a daemon that wrongly starts is ended after 30 s and the test fails.
        let cmd = as_unit(&lab, &fewer, &unit.words("ExecStart"), None);
        let out = wrapped(&["timeout", "30"], &cmd).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started without {missing}: {err}");
        assert!(err.contains(&format!("missing capability {missing} (")), "without {missing}: {err}");
    }

    // Where no bpffs is mounted and it may not mount one, it serves without pins and says what that costs.
    let _ = std::fs::remove_file(CONTROL);
    let cmd = as_unit_in(&lab, &caps, &unit.words("ExecStart"), Some(&notify_path), true);
    // `ip netns exec`, sh and setpriv exec in place: the child is the daemon.
    let mut daemon = Started::spawn(&mut wrapped(&["env"], &cmd), &log);
    wait_notify(&notify, "READY=1", 60, &mut daemon.child, &log);
    let referral = kdig(&lab, &["@198.18.0.1", "+norec", "jp.", "NS"]);
    assert!(referral.contains("status: NOERROR"), "{referral}");
    assert!(daemon.stop().success());
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains("counters not pinned") && logged.contains("needs CAP_SYS_ADMIN"), "{logged}");

    drop(lab);
    drop(installed);
    assert!(Command::new("getent").args(["passwd", USER]).output().is_ok_and(|o| !o.status.success()), "purge removes the user");
    assert!(!Path::new(STATE).exists() && !Path::new(CONFIG).exists(), "purge removes the state and the config");
}
