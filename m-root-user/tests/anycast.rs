//! Anycast health and announcement on one node (the BGP side is BIRD's and FRR's, in the anycast lab):
//! the daemon with `[anycast]` in the lab's server namespace, serving an IPv4 and an IPv6 address. Its
//! TUN device carries both once the probes pass; `drain` takes them off while queries are still
//! answered over both families, `undrain` puts them back, and the metrics say so at each step; what is
//! changed on the device from outside is undone at the next probe, and what the kernel refuses is
//! counted and tried again; the link going down withdraws it (fall), coming back announces it (rise);
//! SIGTERM withdraws first and answers for drain_seconds; SIGKILL takes the device, and with it the
//! announcement, away at once; the XDP link detached from outside withdraws it.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{BIN, Client, Lab, in_netns};
use zonegen::{name, rr, wire};

const IFACE: &str = "anycast0";
const METRICS: &str = "127.0.0.1:9153";

/// The addresses on the announcement interface (None: no such interface).
fn announced(lab: &Lab) -> Option<String> {
    let out = Lab::in_ns(&lab.srv_ns(), &["ip", "-o", "addr", "show", "dev", IFACE]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has(lab: &Lab, a: &str) -> bool {
    announced(lab).is_some_and(|s| s.contains(&format!(" {a} ")))
}

fn is_announced(lab: &Lab) -> bool {
    has(lab, &format!("{}/32", common::SRV4)) && has(lab, &format!("{}/128", common::SRV6))
}

fn withdrawn(lab: &Lab) -> bool {
    !has(lab, &format!("{}/32", common::SRV4)) && !has(lab, &format!("{}/128", common::SRV6))
}

/// Both families answered.
fn answered(lab: &Lab) -> bool {
    let q = wire::build_query(5, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
    in_netns(&lab.cli_ns(), || {
        let c = Client::new();
        [common::SRV4, common::SRV6].iter().all(|s| c.udp(s, &q).is_some_and(|r| r[3] & 0x0f == 0))
    })
}

fn ctl(control: &Path, cmd: &str) -> String {
    let out = std::process::Command::new(BIN).arg(cmd).arg("--control").arg(control).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn anycast(control: &Path) -> serde_json::Value {
    m_root_user::control::request(control, "stats", Duration::from_secs(5)).unwrap()["anycast"].clone()
}

/// GET /metrics from inside the server's namespace.
fn metrics(lab: &Lab) -> String {
    in_netns(&lab.srv_ns(), || {
        let mut s = std::net::TcpStream::connect(METRICS).expect("the metrics endpoint");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
}

/// The value of the sample `series` (name and labels as written) in a scrape.
fn sample(text: &str, series: &str) -> f64 {
    let line = text.lines().find(|l| l.strip_prefix(series).is_some_and(|r| r.starts_with(' ')));
    line.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{series} not in the scrape"))
}

/// announced, drained, and which state is 1, as the metrics say.
fn metric_state(lab: &Lab) -> (f64, f64, Vec<&'static str>) {
    let m = metrics(lab);
    let states = ["up", "down", "drained"].into_iter().filter(|s| sample(&m, &format!("m_root_xdp_anycast_state{{state=\"{s}\"}}")) == 1.0);
    (sample(&m, "m_root_xdp_anycast_announced"), sample(&m, "m_root_xdp_anycast_drained"), states.collect())
}

fn ns_cmd(lab: &Lab, args: &[&str]) -> String {
    common::sh(&mut Lab::in_ns(&lab.srv_ns(), args))
}

/// The lab's work directory, control socket and config file (written). With a peer that runs XDP the
/// config says so (`xdp_tx_peer`), and `auto` attaches XDP; on a bare peer it runs TC alone.
fn setup(lab: &Lab) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("m-root-xdp-{}-{}", lab.name, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let control = std::path::PathBuf::from(format!("/run/m-root-xdp/{}.sock", lab.name));
    let config = write_config(lab, &dir, &control);
    (dir, control, config)
}

/// The daemon's config: both service addresses, metrics, `[anycast]` probing every 200 ms.
fn write_config(lab: &Lab, dir: &Path, control: &Path) -> std::path::PathBuf {
    let config = dir.join("m-root-xdp.toml");
    std::fs::write(
        &config,
        format!(
            "{}zone = \"{}\"\naddresses = [\"{}\", \"{}\"]\ninterfaces = [\"{}\"]\ncontrol = \"{}\"\n[metrics]\nlisten = \"{METRICS}\"\n[anycast]\ninterface = \"{IFACE}\"\nprobe_interval_ms = 200\nrise = 2\nfall = 2\ndrain_seconds = 2\n",
            if lab.peer == common::Peer::Xdp { "xdp_tx_peer = true\n" } else { "" },
            common::bundled_zone().display(),
            common::SRV4,
            common::SRV6,
            lab.srv_if(),
            control.display()
        ),
    )
    .unwrap();
    config
}

/// The announcement device's interface index (None: no such device).
fn ifindex(lab: &Lab) -> Option<String> {
    announced(lab).and_then(|s| s.split(':').next().map(|i| i.trim().to_string()))
}

/// `run --take-over` with `[anycast]`: the successor adopts the running daemon's device, which never goes
/// and never stops carrying the service addresses: the routers see no withdrawal.
#[test]
fn a_take_over_keeps_the_announcement() {
    let mut lab = Lab::up_with("anyt", common::Peer::Bare);
    let (dir, control, config) = setup(&lab);
    let cfg = config.display().to_string();
    let ns = lab.srv_ns();
    let old = lab.spawn(&ns, &[BIN, "run", "--config", &cfg], &dir.join("old.log"));
    common::wait_for("the daemon", 60, || m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok());
    common::wait_for("the announcement", 10, || is_announced(&lab));
    let index = ifindex(&lab);
    let log = dir.join("new.log");
    let t = Instant::now();
    let _new = lab.spawn(&ns, &[BIN, "run", "--take-over", "--config", &cfg], &log);
    // Every 10 ms until the old daemon is gone and the new one answers: the device and its addresses.
    let (mut checks, mut gaps) = (0, 0);
    while t.elapsed() < Duration::from_secs(30) {
        checks += 1;
        if !is_announced(&lab) || ifindex(&lab) != index {
            gaps += 1;
        }
        let old_gone = std::fs::read_to_string(format!("/proc/{old}/stat")).map_or(true, |s| s.contains(") Z"));
        if old_gone
            && m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok_and(|r| r["anycast"]["state"] == "up")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = t.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    println!("take-over with [anycast]: {checks} checks over {:.2} s, {gaps} without the announcement", took.as_secs_f64());
    assert!(text.contains("taken over as it was"), "the successor adopted the device:\n{text}");
    assert_eq!(gaps, 0, "the announcement never went during the take-over:\n{text}");
    // And the successor's probes keep it: still announced a few intervals later, answering.
    std::thread::sleep(Duration::from_secs(1));
    assert!(is_announced(&lab) && ifindex(&lab) == index, "still announced by the successor");
    assert_eq!(anycast(&control)["state"], "up");
    assert!(answered(&lab), "answered over IPv4 and IPv6");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn health_drives_the_announcement() {
    // A peer that runs XDP, so `auto` attaches XDP and its link can be detached from outside below.
    let mut lab = Lab::up_with("anyc", common::Peer::Xdp);
    let (dir, control, config) = setup(&lab);
    let cfg = config.display().to_string();
    let spawn = |lab: &mut Lab, log: &str| {
        let ns = lab.srv_ns();
        let pid = lab.spawn(&ns, &[BIN, "run", "--config", &cfg], &dir.join(log));
        common::wait_for("the daemon", 60, || m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok());
        pid
    };
    let pid = spawn(&mut lab, "1.log");
    let t = Instant::now();
    common::wait_for("the announcement", 10, || is_announced(&lab));
    println!("announced (IPv4 and IPv6) {:.2} s after the control socket answered (rise 2 x 200 ms)", t.elapsed().as_secs_f64());
    assert_eq!(anycast(&control)["state"], "up");
    assert_eq!(metric_state(&lab), (1.0, 0.0, vec!["up"]), "metrics: up");

    // drain: withdrawn at once, still answering; undrain: back. The metrics follow.
    println!("drain: {}", ctl(&control, "drain"));
    assert!(withdrawn(&lab), "drained: withdrawn");
    assert!(announced(&lab).is_some(), "the interface stays");
    assert!(answered(&lab), "still answering over IPv4 and IPv6 while drained");
    assert_eq!(metric_state(&lab), (0.0, 1.0, vec!["drained"]), "metrics: drained");
    println!("undrain: {}", ctl(&control, "undrain"));
    common::wait_for("the announcement after undrain", 5, || is_announced(&lab));
    assert_eq!(metric_state(&lab), (1.0, 0.0, vec!["up"]), "metrics: undrained");

    // Changes from outside are undone at the next probe: an address taken off, another put on.
    let t = Instant::now();
    ns_cmd(&lab, &["ip", "addr", "del", &format!("{}/128", common::SRV6), "dev", IFACE]);
    ns_cmd(&lab, &["ip", "addr", "add", "203.0.113.9/32", "dev", IFACE]);
    common::wait_for("the device put back", 5, || is_announced(&lab) && !has(&lab, "203.0.113.9/32"));
    let a = anycast(&control);
    println!("changed from outside: put back after {:.2} s ({} repairs)", t.elapsed().as_secs_f64(), a["announce_repairs"]);
    assert_eq!(a["announce_repairs"], 2, "{a}");
    // What the kernel refuses (no IPv6 on the device) is counted and tried every probe until it works.
    let sysctl = format!("net.ipv6.conf.{IFACE}.disable_ipv6");
    ns_cmd(&lab, &["sysctl", "-qw", &format!("{sysctl}=1")]);
    common::wait_for("a failure counted", 5, || anycast(&control)["announce_failures"].as_u64() >= Some(2));
    let a = anycast(&control);
    println!("IPv6 off on {IFACE}: {} ({} failures so far)", a["announce_error"], a["announce_failures"]);
    assert_eq!((a["announced"].as_bool(), a["on_interface"].as_str()), (Some(false), Some(common::SRV4)), "{a}");
    assert!(sample(&metrics(&lab), "m_root_xdp_anycast_announce_failures_total") >= 2.0);
    ns_cmd(&lab, &["sysctl", "-qw", &format!("{sysctl}=0")]);
    common::wait_for("IPv6 announced again", 5, || is_announced(&lab));
    let a = anycast(&control);
    assert_eq!((a["announced"].as_bool(), a["announce_error"].is_null()), (Some(true), true), "{a}");

    // The link down: the probes fail, two in a row withdraw; up again: two good ones announce. The
    // interface keeps its IPv6 address over the bounce, as it keeps the IPv4 one.
    ns_cmd(&lab, &["sysctl", "-qw", &format!("net.ipv6.conf.{}.keep_addr_on_down=1", lab.srv_if())]);
    ns_cmd(&lab, &["ip", "link", "set", &lab.srv_if(), "down"]);
    let t = Instant::now();
    common::wait_for("the withdrawal with the link down", 10, || withdrawn(&lab));
    println!("link down: withdrawn after {:.2} s ({})", t.elapsed().as_secs_f64(), anycast(&control)["last_probe"]);
    ns_cmd(&lab, &["ip", "link", "set", &lab.srv_if(), "up"]);
    common::wait_for("the announcement with the link up", 10, || is_announced(&lab));

    // SIGTERM: withdrawn first, answering for drain_seconds (2 s), then gone.
    let t = Instant::now();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    common::wait_for("the withdrawal on SIGTERM", 5, || withdrawn(&lab));
    let withdrawn_after = t.elapsed();
    assert!(answered(&lab), "answering during the drain");
    let answering = t.elapsed();
    common::wait_for("the daemon to stop", 15, || std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z")));
    println!(
        "SIGTERM: withdrawn after {:.2} s, answered at {:.2} s, stopped after {:.2} s (drain_seconds 2)",
        withdrawn_after.as_secs_f64(),
        answering.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert!(t.elapsed() >= Duration::from_secs(2), "kept answering for the drain time");
    lab.stop(pid);

    // SIGKILL: the device goes with the process.
    let pid = spawn(&mut lab, "2.log");
    common::wait_for("the announcement again", 10, || is_announced(&lab));
    let t = Instant::now();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    common::wait_for("the interface to go with the killed daemon", 5, || announced(&lab).is_none());
    println!("SIGKILL: {IFACE} gone after {:.3} s", t.elapsed().as_secs_f64());
    lab.stop(pid);

    // The XDP link detached from outside (BPF_LINK_DETACH): the programs still answer their test runs,
    // but the interface no longer runs them; the kernel says so and the probe fails.
    let pid = spawn(&mut lab, "3.log");
    common::wait_for("the announcement again", 10, || is_announced(&lab));
    let link: serde_json::Value = serde_json::from_str(&ns_cmd(&lab, &["ip", "-j", "link", "show", "dev", &lab.srv_if()])).unwrap();
    let prog = link[0]["xdp"]["prog"]["id"].as_u64().expect("an XDP program on the interface");
    let links: serde_json::Value =
        serde_json::from_str(&common::sh(std::process::Command::new("bpftool").args(["-j", "link", "show"]))).unwrap();
    let id = links.as_array().into_iter().flatten().find(|l| l["prog_id"] == prog).and_then(|l| l["id"].as_u64()).expect("its link");
    let t = Instant::now();
    common::sh(std::process::Command::new("bpftool").args(["link", "detach", "id", &id.to_string()]));
    common::wait_for("the withdrawal with XDP detached", 5, || withdrawn(&lab));
    let why = anycast(&control)["last_probe"].as_str().unwrap_or_default().to_string();
    println!("XDP link {id} detached: withdrawn after {:.2} s ({why})", t.elapsed().as_secs_f64());
    assert!(why.contains("is not attached in native mode"), "{why}");
    lab.stop(pid);
    std::fs::remove_dir_all(&dir).unwrap();
}
