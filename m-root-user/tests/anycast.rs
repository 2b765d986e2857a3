//! Anycast health and announcement on one node (the BGP side is BIRD's, in the anycast lab): the daemon
//! with `[anycast]` in the lab's server namespace. Its TUN device carries the service address once the
//! probes pass; `drain` takes it off while queries are still answered, `undrain` puts it back; the
//! link going down withdraws it (fall), coming back announces it (rise); SIGTERM withdraws first and
//! answers for drain_seconds; SIGKILL takes the device, and with it the announcement, away at once.

mod common;

use std::time::{Duration, Instant};

use common::{BIN, Client, Lab, in_netns};
use zonegen::{name, rr, wire};

const IFACE: &str = "anycast0";

/// The addresses on the announcement interface (None: no such interface).
fn announced(lab: &Lab) -> Option<String> {
    let out = Lab::in_ns(&lab.srv_ns(), &["ip", "-o", "addr", "show", "dev", IFACE]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_announced(lab: &Lab) -> bool {
    announced(lab).is_some_and(|a| a.contains(&format!("{}/32", common::SRV4)))
}

fn answered(lab: &Lab) -> bool {
    let q = wire::build_query(5, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
    in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &q)).is_some_and(|r| r[3] & 0x0f == 0)
}

fn ctl(control: &std::path::Path, cmd: &str) -> String {
    let out = std::process::Command::new(BIN).arg(cmd).arg("--control").arg(control).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn health_drives_the_announcement() {
    let mut lab = Lab::up_with("anyc", common::Peer::Bare);
    let dir = std::env::temp_dir().join(format!("m-root-xdp-anyc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let control = std::path::PathBuf::from("/run/m-root-xdp/anyc.sock");
    let config = dir.join("m-root-xdp.toml");
    std::fs::write(
        &config,
        format!(
            "zone = \"{}\"\naddresses = [\"{}\"]\ninterfaces = [\"{}\"]\ncontrol = \"{}\"\n[anycast]\ninterface = \"{IFACE}\"\nprobe_interval_ms = 200\nrise = 2\nfall = 2\ndrain_seconds = 2\n",
            common::bundled_zone().display(),
            common::SRV4,
            lab.srv_if(),
            control.display()
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();
    let spawn = |lab: &mut Lab, log: &str| {
        let ns = lab.srv_ns();
        let pid = lab.spawn(&ns, &[BIN, "run", "--config", &cfg], &std::env::temp_dir().join(log));
        common::wait_for("the daemon", 60, || m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok());
        pid
    };
    let pid = spawn(&mut lab, "m-root-xdp-anyc.log");
    let t = Instant::now();
    common::wait_for("the announcement", 10, || is_announced(&lab));
    println!("announced {:.2} s after the control socket answered (rise 2 x 200 ms)", t.elapsed().as_secs_f64());
    let s = m_root_user::control::request(&control, "stats", Duration::from_secs(5)).unwrap();
    assert_eq!(s["anycast"]["state"], "up", "{}", s["anycast"]);

    // drain: withdrawn at once, still answering; undrain: back.
    println!("drain: {}", ctl(&control, "drain"));
    assert!(!is_announced(&lab), "drained: withdrawn");
    assert!(announced(&lab).is_some(), "the interface stays");
    assert!(answered(&lab), "still answering while drained");
    println!("undrain: {}", ctl(&control, "undrain"));
    common::wait_for("the announcement after undrain", 5, || is_announced(&lab));

    // The link down: the probes fail, two in a row withdraw; up again: two good ones announce.
    common::sh(&mut Lab::in_ns(&lab.srv_ns(), &["ip", "link", "set", &lab.srv_if(), "down"]));
    let t = Instant::now();
    common::wait_for("the withdrawal with the link down", 10, || !is_announced(&lab));
    println!(
        "link down: withdrawn after {:.2} s ({})",
        t.elapsed().as_secs_f64(),
        m_root_user::control::request(&control, "stats", Duration::from_secs(5)).unwrap()["anycast"]["last_probe"]
    );
    common::sh(&mut Lab::in_ns(&lab.srv_ns(), &["ip", "link", "set", &lab.srv_if(), "up"]));
    common::wait_for("the announcement with the link up", 10, || is_announced(&lab));

    // SIGTERM: withdrawn first, answering for drain_seconds (2 s), then gone.
    let t = Instant::now();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    common::wait_for("the withdrawal on SIGTERM", 5, || !is_announced(&lab));
    let withdrawn = t.elapsed();
    assert!(answered(&lab), "answering during the drain");
    let answering = t.elapsed();
    common::wait_for("the daemon to stop", 15, || std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z")));
    println!(
        "SIGTERM: withdrawn after {:.2} s, answered at {:.2} s, stopped after {:.2} s (drain_seconds 2)",
        withdrawn.as_secs_f64(),
        answering.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert!(t.elapsed() >= Duration::from_secs(2), "kept answering for the drain time");
    lab.stop(pid);

    // SIGKILL: the device goes with the process.
    let pid = spawn(&mut lab, "m-root-xdp-anyc-2.log");
    common::wait_for("the announcement again", 10, || is_announced(&lab));
    let t = Instant::now();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    common::wait_for("the interface to go with the killed daemon", 5, || announced(&lab).is_none());
    println!("SIGKILL: {IFACE} gone after {:.3} s", t.elapsed().as_secs_f64());
    lab.stop(pid);
    std::fs::remove_dir_all(&dir).unwrap();
}
