//! The lab test: two network namespaces joined by a veth pair (scripts/lab.sh), m-root-xdp serving the
//! bundled root zone with XDP attached in native mode on the server end.
//!
//! 1. With the daemon stopped (SIGSTOP), queries injected as a NIC delivers them still get referrals, over
//!    IPv4 and IPv6, byte-identical to the answer function; the pinned XDP counters show them.
//! 2. With the daemon running again, kdig gets correct referrals over UDP and TCP; userspace counters show
//!    that userspace answered them (socket-sent queries reach XDP in veth's tight buffers and pass up).
//!
//! Needs root, iproute2, kdig and python3; fails loudly (never skips) without them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zonegen::answer::{self, Transport};
use zonegen::{name, rr, wire, LoadOptions, ServerConfig, Zone};

const LAB: &str = "mrxt";
const SRV_NS: &str = "mrxt-srv";
const CLI_NS: &str = "mrxt-cli";
const SRV_IF: &str = "mrxt-s";
const CLI_IF: &str = "mrxt-c";
const SRV_MAC: &str = "02:00:c6:12:00:01";
const BIN: &str = env!("CARGO_BIN_EXE_m-root-xdp");

fn root_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lab(action: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(root_dir().join("scripts/lab.sh")).arg(action).env("LAB", LAB).env("BIN", BIN);
    c
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// Tears the lab down and ends the daemon (by PID) whatever happens in the test.
struct Lab {
    daemon: Option<Child>,
    control: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            unsafe {
                libc::kill(d.id() as i32, libc::SIGCONT);
                libc::kill(d.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = d.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = std::fs::remove_file(&self.control);
        let _ = lab("down").output();
    }
}

fn xdp_counters() -> serde_json::Value {
    let out = sh(&mut in_ns(SRV_NS, &[BIN, "stats", "--iface", SRV_IF, "--control", "/nonexistent", "--json"]));
    serde_json::from_str(&out).expect("stats --json")
}

fn userspace_counters(control: &Path) -> serde_json::Value {
    m_root_user::control::request(control, "stats", Duration::from_secs(2)).expect("control socket answers")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Send raw DNS bytes from the client namespace with python3 (UDP or TCP) and return the answer's hex.
fn raw_query(server: &str, msg: &[u8], tcp: bool) -> String {
    let fam = if server.contains(':') { "AF_INET6" } else { "AF_INET" };
    let script = if tcp {
        format!(
            "import socket,sys\ns=socket.socket(socket.{fam},socket.SOCK_STREAM);s.settimeout(3);s.connect(('{server}',53))\nm=bytes.fromhex('{}')\ns.sendall(len(m).to_bytes(2,'big')+m)\nb=b''\nwhile len(b)<2: b+=s.recv(2-len(b))\nn=int.from_bytes(b,'big');r=b''\nwhile len(r)<n: r+=s.recv(n-len(r))\nprint(r.hex())",
            hex(msg)
        )
    } else {
        format!("import socket\ns=socket.socket(socket.{fam},socket.SOCK_DGRAM);s.settimeout(3)\ns.sendto(bytes.fromhex('{}'),('{server}',53))\nprint(s.recv(65535).hex())", hex(msg))
    };
    sh(&mut in_ns(CLI_NS, &["python3", "-c", &script])).trim().to_string()
}

#[test]
fn xdp_answers_while_userspace_is_stopped_and_userspace_answers_the_rest() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "the lab test needs root (network namespaces, XDP)");
    let zone_path = root_dir().join("zones/root.zone.2026073102");
    let zone = Zone::load(&zone_path, &LoadOptions::default()).unwrap();
    let control = PathBuf::from(format!("/run/m-root-xdp/{LAB}.sock"));
    let _ = lab("down").output();
    sh(&mut lab("up"));
    let mut guard = Lab { daemon: None, control: control.clone() };
    let log = std::fs::File::create(std::env::temp_dir().join("m-root-xdp-lab-test.log")).unwrap();
    let daemon = in_ns(SRV_NS, &[BIN, "run", "--zone", zone_path.to_str().unwrap(), "--iface", SRV_IF, "--addr", "198.18.0.1", "--addr", "2001:db8::1", "--control", control.to_str().unwrap()])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start m-root-xdp");
    let pid = daemon.id() as i32;
    guard.daemon = Some(daemon);
    let deadline = Instant::now() + Duration::from_secs(20);
    while m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_err() {
        assert!(Instant::now() < deadline, "daemon did not come up; see {}", std::env::temp_dir().join("m-root-xdp-lab-test.log").display());
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = xdp_counters();

    // 1. Userspace stopped: only the XDP program can answer.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let cases: [(&str, &str, &str, Option<(u16, bool)>); 6] = [
        ("198.18.0.2", "198.18.0.1", "www.example.jp", None),
        ("2001:db8::2", "2001:db8::1", "www.example.jp", None),
        ("198.18.0.2", "198.18.0.1", "Www.Example.COM", Some((1232, false))),
        ("2001:db8::2", "2001:db8::1", "a.b.c.org", Some((4096, true))),
        ("198.18.0.2", "198.18.0.1", "jp", Some((1232, true))),
        ("2001:db8::2", "2001:db8::1", "xn--p1ai", Some((512, false))),
    ];
    let cfg = ServerConfig::default();
    for (i, (src, dst, qn, edns)) in cases.iter().enumerate() {
        let id = 0x4000 + i as u16;
        let msg = wire::build_query(id, 0, &name::from_text(qn).unwrap(), rr::A, rr::CLASS_IN, *edns);
        let want = answer::answer(&zone, &cfg, &msg, Transport::Udp).unwrap();
        let mut args = vec![BIN.to_string(), "lab-query".into(), "--iface".into(), CLI_IF.into(), "--dst-mac".into(), SRV_MAC.into(), "--src".into(), src.to_string(), "--dst".into(), dst.to_string(), "--hex".into(), "--id".into(), id.to_string(), qn.to_string(), "A".into()];
        if let Some((size, d)) = edns {
            args.extend(["--bufsize".into(), size.to_string()]);
            if *d {
                args.push("--do".into());
            }
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = sh(&mut in_ns(CLI_NS, &argv));
        assert_eq!(got.trim(), hex(&want), "{qn} via {dst} (edns {edns:?}): XDP answer differs from the answer function");
    }
    let after = xdp_counters();
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!(delta("xdp.answer.referral") + delta("xdp.answer.referral-dnssec"), 6, "{after}");
    assert_eq!(delta("xdp.answer.ipv4"), 3);
    assert_eq!(delta("xdp.answer.ipv6"), 3);
    assert_eq!(delta("xdp.dropped"), 0);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);

    // 2. Userspace running: socket-sent queries pass up (no room to grow on veth) and userspace answers.
    let u0 = userspace_counters(&control)["server"].clone();
    for (server, tcp) in [("198.18.0.1", false), ("198.18.0.1", true), ("2001:db8::1", false), ("2001:db8::1", true)] {
        let mut args = vec!["kdig", "@", "www.example.jp", "A", "+norec", "+nocookie"];
        let at = format!("@{server}");
        args[1] = &at;
        if tcp {
            args.push("+tcp");
        }
        let mut full = vec!["kdig"];
        full.extend_from_slice(&args[1..]);
        let out = sh(&mut in_ns(CLI_NS, &full));
        assert!(out.contains("status: NOERROR"), "kdig {server} tcp={tcp}:\n{out}");
        assert!(out.contains("AUTHORITY: 8"), "kdig {server} tcp={tcp}:\n{out}");
        for ns in ["a.dns.jp.", "h.dns.jp."] {
            assert!(out.lines().any(|l| l.starts_with("jp.") && l.contains("NS") && l.ends_with(ns)), "kdig {server} tcp={tcp}: no NS {ns}\n{out}");
        }
        assert!(!out.lines().any(|l| l.starts_with(";; Flags:") && l.contains(" aa")), "a referral has AA clear:\n{out}");
        // The same question, raw, must come back byte for byte as the answer function says.
        let msg = wire::build_query(0x2222, 0, &name::from_text("www.example.jp").unwrap(), rr::A, rr::CLASS_IN, Some((1232, true)));
        let want = answer::answer(&zone, &cfg, &msg, if tcp { Transport::Tcp } else { Transport::Udp }).unwrap();
        assert_eq!(raw_query(server, &msg, tcp), hex(&want), "raw query to {server} tcp={tcp}");
    }
    let u1 = userspace_counters(&control)["server"].clone();
    let ud = |k: &str| u1[k].as_u64().unwrap() - u0[k].as_u64().unwrap();
    assert_eq!(ud("udp_responses"), 4, "userspace answered the UDP queries: {u1}");
    assert_eq!(ud("tcp_responses"), 4, "userspace answered the TCP queries: {u1}");
    let final_xdp = xdp_counters();
    assert!(final_xdp["xdp.pass.no-room"].as_u64().unwrap() >= 4, "socket-sent UDP queries passed up for lack of room: {final_xdp}");
}
