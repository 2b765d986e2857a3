//! The servers under test and the lab they run in: starting each in the server namespace (ready once it
//! answers a referral), stopping it by PID, clearing the XDP programs others leave behind, and reading
//! m-root-xdp's kernel counters.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{LAB, SRV4};

/// The servers `bench load` runs, one after the other, in this order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Server {
    MrootXdp,
    MrootXdpOnly,
    MrootTc,
    MrootNoXdp,
    KnotXdp,
    KnotUdp,
    Nsd,
}

impl Server {
    pub(super) const ALL: [Server; 7] =
        [Server::MrootXdp, Server::MrootXdpOnly, Server::MrootTc, Server::MrootNoXdp, Server::KnotXdp, Server::KnotUdp, Server::Nsd];
    pub(super) fn label(self) -> &'static str {
        match self {
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

pub(super) fn lab(action: &str, rps: bool) -> Result<()> {
    let st = Command::new("bash")
        .arg(root().join("scripts/lab.sh"))
        .arg(action)
        .env("LAB", LAB)
        .env("BIN", bin())
        // kxdpgun brings its own XDP program for the client end.
        .env("PEER", "bare")
        // kxdpgun runs on CPU 0 (its default affinity) and veth has one queue: steer the server's receive
        // processing to the other CPUs (RPS), as RSS spreads a NIC's queues, for every server alike.
        .env("RPS_CPUS", if rps { rps_mask() } else { String::new() })
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("lab.sh {action} failed");
    }
    Ok(())
}

/// Every CPU but CPU 0, as a hex mask for rps_cpus ("0": RPS off on a one-CPU machine).
pub(super) fn rps_mask() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    let mask: u64 = if n < 2 { 0 } else { (u64::MAX >> (64 - n)) & !1 };
    format!("{mask:x}")
}

pub(super) fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// A started server: its process, stopped when this is dropped (SIGTERM, SIGKILL after 5 s).
pub(super) struct Running {
    pub(super) children: Vec<Child>,
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
fn clear_xdp(side: &str, end: &str) {
    for mode in ["xdp", "xdpgeneric"] {
        let _ =
            Command::new("ip").args(["-n", &format!("{LAB}-{side}"), "link", "set", "dev", &format!("{LAB}-{end}"), mode, "off"]).status();
    }
}

pub(super) fn clear_lab_xdp() {
    clear_xdp("srv", "s");
    clear_xdp("cli", "c");
}

pub(super) fn clear_client_xdp() {
    clear_xdp("cli", "c");
}

pub(super) fn start(server: Server, zone: &Path, dir: &Path) -> Result<Running> {
    clear_lab_xdp();
    let srv_ns = format!("{LAB}-srv");
    let srv_if = format!("{LAB}-s");
    let log = std::fs::File::create(dir.join(format!("{server:?}.log")))?;
    let control = dir.join("m-root-xdp.sock");
    let zs = zone.display().to_string();
    let cs = control.display().to_string();
    let mut cmd = match server {
        Server::MrootXdp | Server::MrootXdpOnly | Server::MrootTc | Server::MrootNoXdp => {
            let b = bin().display().to_string();
            let mode = match server {
                Server::MrootTc => "tc",
                Server::MrootNoXdp => "off",
                _ => "native",
            };
            let mut args = vec![
                b.as_str(),
                "run",
                "--zone",
                &zs,
                "--iface",
                &srv_if,
                "--addr",
                SRV4,
                "--xdp-mode",
                mode,
                "--control",
                &cs,
                "--identity",
                "bench",
            ];
            if server == Server::MrootXdpOnly {
                args.push("--no-tc");
            }
            in_ns(&srv_ns, &args)
        }
        Server::KnotXdp | Server::KnotUdp => {
            let kdir = dir.join("knot");
            let _ = std::fs::remove_dir_all(&kdir);
            std::fs::create_dir_all(&kdir)?;
            let xdp = if server == Server::KnotXdp { format!("xdp:\n    listen: {srv_if}\n") } else { String::new() };
            let conf = format!(
                "server:\n    rundir: \"{d}\"\n    listen: {SRV4}@53\n    identity: \"bench\"\n{xdp}log:\n  - target: stderr\n    any: warning\ndatabase:\n    storage: \"{d}/db\"\ntemplate:\n  - id: default\n    storage: \"{d}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\nzone:\n  - domain: .\n    file: \"{zs}\"\n",
                d = kdir.display()
            );
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
    let running = Running { children: vec![child] };
    // Ready when it answers a referral from the client namespace.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = in_ns(&format!("{LAB}-cli"), &["kdig", &format!("@{SRV4}"), "+time=1", "+retry=0", "jp", "A"]).output()?;
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

/// Answers sent in the kernel so far: (XDP, TC).
pub(super) fn kernel_answered(iface: &str) -> Option<(f64, f64)> {
    use m_root_common::Hook;
    let out =
        in_ns(&format!("{LAB}-srv"), &[&bin().display().to_string(), "stats", "--iface", iface, "--control", "/nonexistent", "--json"])
            .output()
            .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((m_root_user::dataplane::answered_by(&v, Hook::Xdp) as f64, m_root_user::dataplane::answered_by(&v, Hook::Tc) as f64))
}

pub(super) fn xdp_answered(iface: &str) -> Option<f64> {
    kernel_answered(iface).map(|(x, _)| x)
}
