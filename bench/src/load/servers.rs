//! The servers under test and the lab they run in: starting each in the server namespace (ready once it
//! answers a referral), with or without response rate limiting, stopping it by PID, clearing the XDP
//! programs others leave behind, and reading m-root-xdp's kernel counters. `bench load` and `bench
//! attack` each run their own lab (its name prefixes the namespaces and interfaces).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::SRV4;

/// A lab of `scripts/lab.sh`, by its name (LAB there).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lab(pub(crate) &'static str);

impl Lab {
    pub(crate) fn srv_ns(self) -> String {
        format!("{}-srv", self.0)
    }
    pub(crate) fn cli_ns(self) -> String {
        format!("{}-cli", self.0)
    }
    pub(crate) fn srv_if(self) -> String {
        format!("{}-s", self.0)
    }
    pub(crate) fn cli_if(self) -> String {
        format!("{}-c", self.0)
    }
}

/// Response rate limiting as a server is started with: m-root-xdp's `[rrl]`, knotd's `mod-rrl`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rrl {
    pub(crate) per_second: u32,
    pub(crate) slip: u32,
}

/// The servers `bench load` runs, one after the other, in this order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Server {
    /// m-root-xdp as installed: no --xdp-mode (auto decides from the device).
    MrootDefault,
    MrootXdp,
    MrootXdpOnly,
    MrootTc,
    MrootNoXdp,
    KnotXdp,
    KnotUdp,
    Nsd,
}

impl Server {
    pub(crate) const ALL: [Server; 8] = [
        Server::MrootDefault,
        Server::MrootXdp,
        Server::MrootXdpOnly,
        Server::MrootTc,
        Server::MrootNoXdp,
        Server::KnotXdp,
        Server::KnotUdp,
        Server::Nsd,
    ];
    pub(crate) fn label(self) -> &'static str {
        match self {
            Server::MrootDefault => "m-root-xdp (default: auto)",
            Server::MrootXdp => "m-root-xdp (XDP + TC)",
            Server::MrootXdpOnly => "m-root-xdp (XDP, --no-tc)",
            Server::MrootTc => "m-root-xdp (--xdp-mode tc)",
            Server::MrootNoXdp => "m-root-xdp (--xdp-mode off)",
            Server::KnotXdp => "knotd (XDP)",
            Server::KnotUdp => "knotd (UDP)",
            Server::Nsd => "nsd",
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin() -> PathBuf {
    root().join("target/release/m-root-xdp")
}

pub(crate) fn lab(l: Lab, action: &str, rps: bool) -> Result<()> {
    let st = Command::new("bash")
        .arg(root().join("scripts/lab.sh"))
        .arg(action)
        .env("LAB", l.0)
        .env("BIN", bin())
        // kxdpgun brings its own XDP program for the client end.
        .env("PEER", "bare")
        // kxdpgun runs on CPU 0 (its default affinity) and veth has one queue: steer the server's receive
        // processing to the other CPUs (RPS), as RSS spreads a NIC's queues, for every server alike.
        .env("RPS_CPUS", if rps { rps_mask() } else { String::new() })
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("lab.sh {action} failed (LAB={})", l.0);
    }
    Ok(())
}

/// Every CPU but CPU 0, as a hex mask for rps_cpus ("0": RPS off on a one-CPU machine).
pub(crate) fn rps_mask() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    let mask: u64 = if n < 2 { 0 } else { (u64::MAX >> (64 - n)) & !1 };
    format!("{mask:x}")
}

pub(crate) fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// A started server: its process, stopped when this is dropped (SIGTERM, SIGKILL after 5 s).
pub(crate) struct Running {
    pub(crate) children: Vec<Child>,
    /// Its control socket (m-root-xdp's or knotd's), for its counters.
    pub(crate) control: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.children {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Remove an XDP program left on one end of the lab (knotd and kxdpgun leave netlink-attached ones).
fn clear_xdp(ns: &str, dev: &str) {
    for mode in ["xdp", "xdpgeneric"] {
        let _ = Command::new("ip").args(["-n", ns, "link", "set", "dev", dev, mode, "off"]).status();
    }
}

pub(crate) fn clear_lab_xdp(l: Lab) {
    clear_xdp(&l.srv_ns(), &l.srv_if());
    clear_client_xdp(l);
}

pub(crate) fn clear_client_xdp(l: Lab) {
    clear_xdp(&l.cli_ns(), &l.cli_if());
}

/// Start `server` in the lab's server namespace on `zone`, with `rrl` if given (m-root-xdp through a
/// config file's `[rrl]`, knotd through `mod-rrl` as a global module); its files and log go in `dir`.
pub(crate) fn start(l: Lab, server: Server, zone: &Path, dir: &Path, rrl: Option<Rrl>) -> Result<Running> {
    clear_lab_xdp(l);
    let srv_ns = l.srv_ns();
    let srv_if = l.srv_if();
    let log = std::fs::File::create(dir.join(format!("{server:?}.log")))?;
    let control = dir.join("m-root-xdp.sock");
    let zs = zone.display().to_string();
    let cs = control.display().to_string();
    let mut control_socket = None;
    let mut cmd = match server {
        Server::MrootDefault | Server::MrootXdp | Server::MrootXdpOnly | Server::MrootTc | Server::MrootNoXdp => {
            let b = bin().display().to_string();
            // The default row passes no mode: what an installed daemon does unconfigured.
            let mode = match server {
                Server::MrootDefault => None,
                Server::MrootTc => Some("tc"),
                Server::MrootNoXdp => Some("off"),
                _ => Some("native"),
            };
            let mut args =
                vec![b.as_str(), "run", "--zone", &zs, "--iface", &srv_if, "--addr", SRV4, "--control", &cs, "--identity", "bench"];
            if let Some(m) = mode {
                args.extend(["--xdp-mode", m]);
            }
            if server == Server::MrootXdpOnly {
                args.push("--no-tc");
            }
            let conf = dir.join("m-root-xdp.toml");
            let conf_s = conf.display().to_string();
            if let Some(r) = rrl {
                // The prefixes are the defaults (/24, /56), as knotd's are fixed at.
                std::fs::write(&conf, format!("[rrl]\nresponses_per_second = {}\nslip = {}\n", r.per_second, r.slip))?;
                args.extend(["--config", &conf_s]);
            }
            control_socket = Some(control.clone());
            in_ns(&srv_ns, &args)
        }
        Server::KnotXdp | Server::KnotUdp => {
            let kdir = dir.join("knot");
            let _ = std::fs::remove_dir_all(&kdir);
            std::fs::create_dir_all(&kdir)?;
            let xdp = if server == Server::KnotXdp { format!("xdp:\n    listen: {srv_if}\n") } else { String::new() };
            // mod-rrl in knotd 3.2 keys its buckets by /24 (IPv4) and /56 (IPv6), as m-root-xdp's defaults.
            let (rrl_mod, rrl_use) = match rrl {
                Some(r) => (
                    format!("mod-rrl:\n  - id: bench\n    rate-limit: {}\n    slip: {}\n", r.per_second, r.slip),
                    "    global-module: mod-rrl/bench\n",
                ),
                None => (String::new(), ""),
            };
            let conf = format!(
                "server:\n    rundir: \"{d}\"\n    listen: {SRV4}@53\n    identity: \"bench\"\n{xdp}log:\n  - target: stderr\n    any: warning\ndatabase:\n    storage: \"{d}/db\"\n{rrl_mod}template:\n  - id: default\n    storage: \"{d}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\n{rrl_use}zone:\n  - domain: .\n    file: \"{zs}\"\n",
                d = kdir.display()
            );
            control_socket = Some(kdir.join("knot.sock"));
            std::fs::write(kdir.join("knot.conf"), conf)?;
            let c = kdir.join("knot.conf").display().to_string();
            in_ns(&srv_ns, &["knotd", "-c", &c])
        }
        Server::Nsd => {
            let ndir = dir.join("nsd");
            std::fs::create_dir_all(&ndir)?;
            let conf = m_root_user::lab::nsd_conf(&ndir, zone, &[SRV4], "bench");
            std::fs::write(ndir.join("nsd.conf"), conf)?;
            let c = ndir.join("nsd.conf").display().to_string();
            in_ns(&srv_ns, &["nsd", "-d", "-c", &c])
        }
    };
    let child = cmd.stdout(Stdio::from(log.try_clone()?)).stderr(Stdio::from(log)).spawn().context("starting the server")?;
    let running = Running { children: vec![child], control: control_socket };
    // Ready when it answers a referral from the client namespace.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = in_ns(&l.cli_ns(), &["kdig", &format!("@{SRV4}"), "+time=1", "+retry=0", "jp", "A"]).output()?;
        if String::from_utf8_lossy(&out.stdout).contains("NOERROR") {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} did not start (log in {})", server.label(), dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(running)
}

/// `m-root-xdp stats --json` of the daemon on the lab's server end: the kernel counters, and the
/// userspace ones if `control` (its control socket) answers.
pub(crate) fn mroot_stats(l: Lab, control: Option<&Path>) -> Option<serde_json::Value> {
    let control = control.map_or_else(|| "/nonexistent".to_string(), |c| c.display().to_string());
    let out = in_ns(&l.srv_ns(), &[&bin().display().to_string(), "stats", "--iface", &l.srv_if(), "--control", &control, "--json"])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Answers sent in the kernel so far: (XDP, TC).
pub(crate) fn kernel_answered(l: Lab) -> Option<(f64, f64)> {
    use m_root_common::Hook;
    let v = mroot_stats(l, None)?;
    Some((m_root_user::dataplane::answered_by(&v, Hook::Xdp) as f64, m_root_user::dataplane::answered_by(&v, Hook::Tc) as f64))
}

pub(crate) fn xdp_answered(l: Lab) -> Option<f64> {
    kernel_answered(l).map(|(x, _)| x)
}
