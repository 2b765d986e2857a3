//! Shared pieces of the privileged tests: labs (scripts/lab.sh), processes in namespaces, sockets in the
//! client namespace. Everything started here is ended by PID and every lab is torn down on drop.
#![allow(dead_code)]

pub mod nsd;
pub mod primary;
pub mod secondary;
pub mod test_run;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_m-root-xdp");
pub const SRV_MAC: &str = "02:00:c6:12:00:01";
pub const CLI_MAC: &str = "02:00:c6:12:00:02";
pub const SRV4: &str = "198.18.0.1";
pub const SRV6: &str = "2001:db8::1";
pub const CLI4: &str = "198.18.0.2";
pub const CLI6: &str = "2001:db8::2";

pub fn root_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn bundled_zone() -> PathBuf {
    root_dir().join("zones/root.zone.2026073102")
}

pub fn require_root() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root (network namespaces, BPF)");
}

/// Run a command, fail the test with its output if it fails, return stdout.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the client end of the lab's veth is (scripts/lab.sh PEER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Nothing attached, GRO off: what a new veth is, and what most peers are.
    Bare,
    /// Nothing attached, GRO on.
    Gro,
    /// A pass-through XDP program: the one peer that takes XDP_TX'd frames.
    Xdp,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Bare => "bare",
            Peer::Gro => "gro",
            Peer::Xdp => "xdp",
        }
    }
}

/// A lab from scripts/lab.sh with its own name; down on drop, with every process started in it.
pub struct Lab {
    pub name: String,
    pub peer: Peer,
    procs: Vec<Child>,
}

impl Lab {
    /// A lab whose client end is a bare peer.
    pub fn up(name: &str) -> Lab {
        Lab::up_with(name, Peer::Bare)
    }
    /// `MRX_LAB_PREFIX` (a letter or two) goes before every lab's name, so two trees can run their lab
    /// tests side by side (veth names stay within 15 octets).
    pub fn up_with(name: &str, peer: Peer) -> Lab {
        require_root();
        let name = format!("{}{name}", std::env::var("MRX_LAB_PREFIX").unwrap_or_default());
        assert!(name.len() <= 8, "lab name {name} too long for its veth names");
        let lab = Lab { name, peer, procs: Vec::new() };
        let _ = lab.script("down").output();
        sh(&mut lab.script("up"));
        lab
    }
    fn script(&self, action: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(root_dir().join("scripts/lab.sh")).arg(action).env("LAB", &self.name).env("BIN", BIN).env("PEER", self.peer.name());
        c
    }
    pub fn srv_ns(&self) -> String {
        format!("{}-srv", self.name)
    }
    pub fn cli_ns(&self) -> String {
        format!("{}-cli", self.name)
    }
    pub fn srv_if(&self) -> String {
        format!("{}-s", self.name)
    }
    pub fn cli_if(&self) -> String {
        format!("{}-c", self.name)
    }
    /// A command run inside a namespace.
    pub fn in_ns(ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }
    /// Start a long-running process in a namespace, output to `log`; returns its PID.
    pub fn spawn(&mut self, ns: &str, args: &[&str], log: &Path) -> i32 {
        let f = File::create(log).unwrap();
        let child = Lab::in_ns(ns, args).stdout(Stdio::from(f.try_clone().unwrap())).stderr(Stdio::from(f)).spawn().expect("spawn");
        let pid = child.id() as i32;
        self.procs.push(child);
        pid
    }
    /// End a started process (SIGCONT, SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self, pid: i32) {
        self.stop_status(pid);
    }
    /// As [`Lab::stop`]; how the process ended when SIGTERM ended it (None: it needed SIGKILL, or is
    /// not one of the Lab's).
    pub fn stop_status(&mut self, pid: i32) -> Option<std::process::ExitStatus> {
        let i = self.procs.iter().position(|c| c.id() as i32 == pid)?;
        let mut c = self.procs.remove(i);
        end(&mut c)
    }
    /// One more IPv4 address (/24) on the server end (`server`) or the client end, with the permanent
    /// neighbour entry on the other end that scripts/lab.sh makes for the first ones.
    pub fn add_v4(&self, server: bool, addr: &str) {
        let (ns, dev, other_ns, other_dev, mac) = match server {
            true => (self.srv_ns(), self.srv_if(), self.cli_ns(), self.cli_if(), SRV_MAC),
            false => (self.cli_ns(), self.cli_if(), self.srv_ns(), self.srv_if(), CLI_MAC),
        };
        sh(Command::new("ip").args(["-n", &ns, "addr", "replace", &format!("{addr}/24"), "dev", &dev]));
        sh(Command::new("ip").args(["-n", &other_ns, "neigh", "replace", addr, "lladdr", mac, "dev", &other_dev, "nud", "permanent"]));
    }
}

/// SIGCONT, SIGTERM, then SIGKILL after 5 s; the exit status when it ended before the SIGKILL.
fn end(c: &mut Child) -> Option<std::process::ExitStatus> {
    unsafe {
        libc::kill(c.id() as i32, libc::SIGCONT);
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = c.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
    None
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mut c in self.procs.drain(..) {
            end(&mut c);
        }
        let _ = self.script("down").output();
    }
}

/// Run `f` on a thread that has joined network namespace `ns`; sockets it makes live there.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    m_root_user::lab::in_netns(ns, f).unwrap_or_else(|e| panic!("{e:#}"))
}

/// How the lab's injector sends a query from `src` to `dst` on the server's port 53, untagged, and how long
/// it waits for the answer.
pub fn injection(iface: &str, src: &str, dst: &str, timeout: Duration) -> m_root_user::lab::Injection {
    m_root_user::lab::Injection {
        iface: iface.to_string(),
        dst_mac: m_root_user::frame::parse_mac(SRV_MAC).unwrap(),
        vlans: vec![],
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        dport: 53,
        timeout,
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Wait until `probe` succeeds (or fail after `secs`).
pub fn wait_for(what: &str, secs: u64, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !probe() {
        assert!(Instant::now() < deadline, "{what} did not come up within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A DNS client in the client namespace (call inside `in_netns`).
pub struct Client {
    v4: std::net::UdpSocket,
    v6: std::net::UdpSocket,
    pub timeout: Duration,
}

impl Client {
    pub fn new() -> Client {
        let v4 = std::net::UdpSocket::bind((CLI4, 0)).expect("bind v4 in the client namespace");
        let v6 = std::net::UdpSocket::bind((CLI6, 0)).expect("bind v6 in the client namespace");
        Client { v4, v6, timeout: Duration::from_millis(1500) }
    }

    /// One query over UDP to `server` (v4 or v6 by its form); None when no answer arrives in time.
    pub fn udp(&self, server: &str, msg: &[u8]) -> Option<Vec<u8>> {
        let v6 = server.contains(':');
        let sock = if v6 { &self.v6 } else { &self.v4 };
        let to: std::net::SocketAddr = if v6 { format!("[{server}]:53") } else { format!("{server}:53") }.parse().unwrap();
        sock.set_read_timeout(Some(self.timeout)).unwrap();
        sock.send_to(msg, to).ok()?;
        let mut buf = vec![0u8; 65535];
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == to && n >= 2 && buf[..2] == msg[..2] => return Some(buf[..n].to_vec()),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// One query over TCP (RFC 7766 framing).
    pub fn tcp(&self, server: &str, msg: &[u8]) -> Option<Vec<u8>> {
        use std::io::{Read, Write};
        let to: std::net::SocketAddr =
            if server.contains(':') { format!("[{server}]:53") } else { format!("{server}:53") }.parse().unwrap();
        let mut s = std::net::TcpStream::connect_timeout(&to, self.timeout).ok()?;
        s.set_read_timeout(Some(self.timeout)).ok()?;
        let mut out = (msg.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(msg);
        s.write_all(&out).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    }
}

/// Start `m-root-xdp run` on the lab's server end with XDP attached, serving `addrs`; waits until its
/// control socket answers. Returns (pid, control socket path).
pub fn start_daemon(lab: &mut Lab, addrs: &[&str]) -> (i32, PathBuf) {
    start_daemon_with(lab, addrs, &[])
}

/// As [`start_daemon`], with more `run` flags.
pub fn start_daemon_with(lab: &mut Lab, addrs: &[&str], extra: &[&str]) -> (i32, PathBuf) {
    let control = PathBuf::from(format!("/run/m-root-xdp/{}.sock", lab.name));
    let zone = bundled_zone();
    let iface = lab.srv_if();
    let mut args: Vec<String> = vec![
        BIN.into(),
        "run".into(),
        "--zone".into(),
        zone.display().to_string(),
        "--iface".into(),
        iface,
        "--control".into(),
        control.display().to_string(),
    ];
    for a in addrs {
        args.push("--addr".into());
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|e| e.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = std::env::temp_dir().join(format!("m-root-xdp-{}.log", lab.name));
    let ns = lab.srv_ns();
    let pid = lab.spawn(&ns, &argv, &log);
    wait_for(&format!("m-root-xdp (log {})", log.display()), 30, || {
        m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok()
    });
    (pid, control)
}

/// The kernel counters of the lab's daemon, read from the pinned maps (works while the daemon is stopped).
pub fn xdp_counters(lab: &Lab) -> serde_json::Value {
    let out = sh(&mut Lab::in_ns(&lab.srv_ns(), &[BIN, "stats", "--iface", &lab.srv_if(), "--control", "/nonexistent", "--json"]));
    serde_json::from_str(&out).expect("stats --json")
}

/// Every counter of the running daemon, as `stats --json` asks it over its control socket.
pub fn daemon_stats(control: &Path) -> serde_json::Value {
    let out = sh(Command::new(BIN).args(["stats", "--json", "--control"]).arg(control));
    serde_json::from_str(&out).expect("stats --json")
}

/// Sum of the XDP answer counters by kind (not the per-family ones).
pub fn xdp_answered(c: &serde_json::Value) -> u64 {
    m_root_user::dataplane::answered_in_stats(c)
}

/// Build the Debian package (scripts/package.sh) from the binaries this test run was built with, into a
/// directory of the test's own; returns the .deb.
pub fn build_package(dir: &str) -> PathBuf {
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let out = std::env::temp_dir().join(dir);
    let built = sh(Command::new("bash").arg(root_dir().join("scripts/package.sh")).arg(&out).env("BIN_DIR", bin_dir));
    PathBuf::from(built.lines().last().expect("package.sh printed the .deb").trim())
}
