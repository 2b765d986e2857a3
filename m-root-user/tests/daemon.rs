//! The daemon in a lab: config file and flags, TCP pipelining, truncation then TCP retry, a DO=1 NXDOMAIN
//! proof that a validator (unbound, clock set inside the signature window) calls secure, reloads under a
//! steady query load (SIGHUP and the control socket) with no query lost and every answer from one zone,
//! refused reloads (broken zone, ZONEMD mismatch, older serial) leaving the old zone serving, and a battery
//! of malformed queries after which the daemon still answers.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Client, Lab, in_netns, sh};
use zonegen::testkit::print::decode;
use zonegen::{name, rr, wire};

const ZONE_2023: &str = "root.zone.2023042001";
const ZONE_2026: &str = "root.zone.2026073102";

fn zone_file(name: &str) -> PathBuf {
    common::root_dir().join("zones").join(name)
}

/// The SOA serial in an answer to `. SOA`.
fn soa_serial(resp: &[u8]) -> Option<u32> {
    let m = decode(resp)?;
    let soa = m.sections[0].iter().find(|r| r.rtype == rr::SOA)?;
    zonegen::zone::soa_fields(&soa.rdata).map(|(serial, _)| serial)
}

fn serial_now(control: &Path) -> u64 {
    m_root_user::control::request(control, "stats", Duration::from_secs(2)).unwrap()["zone.serial"].as_u64().unwrap()
}

fn reload(control: &Path, zone: &Path, force: bool) -> (bool, String) {
    let mut args = vec![
        BIN.to_string(),
        "reload".into(),
        "--control".into(),
        control.display().to_string(),
        "--zone".into(),
        zone.display().to_string(),
    ];
    if force {
        args.push("--force".into());
    }
    let out = std::process::Command::new(&args[0]).args(&args[1..]).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Ask `. SOA` over and over from the client namespace (alternately over UDP, which the kernel answers:
/// on this bare veth `auto` runs TC alone, and over TCP, which userspace answers) until `stop`; returns
/// (serials in order, lost queries). XDP's table swap under reloads is soak.rs's.
fn steady_load(lab: &Lab, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Vec<u32>, usize)> {
    let cli = lab.cli_ns();
    std::thread::spawn(move || {
        in_netns(&cli, || {
            let client = Client::new();
            let (mut serials, mut lost) = (Vec::new(), 0);
            let mut how_lost = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut i = 0u16;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                i = i.wrapping_add(1);
                let msg = wire::build_query(i, 0, name::ROOT, rr::SOA, rr::CLASS_IN, None);
                let r = if i.is_multiple_of(2) { client.udp(common::SRV4, &msg) } else { client.tcp(common::SRV4, &msg) };
                match r.as_deref().and_then(soa_serial) {
                    Some(s) => serials.push(s),
                    None => {
                        lost += 1;
                        let kind = if i.is_multiple_of(2) { "UDP" } else { "TCP" };
                        how_lost.push(format!(
                            "#{i} {kind} after {} answers: {}",
                            serials.len(),
                            if r.is_some() { "unparseable answer" } else { "no answer" }
                        ));
                    }
                }
            }
            if lost > 0 {
                eprintln!("lost under load: {how_lost:?}");
            }
            (serials, lost)
        })
    })
}

/// Serials must go from `from` to `to` once and never back: every answer came from one zone.
fn assert_one_switch(serials: &[u32], from: u32, to: u32) {
    assert!(serials.len() > 20, "too few answers under load: {}", serials.len());
    let first_new = serials.iter().position(|&s| s == to).unwrap_or_else(|| panic!("never saw serial {to}"));
    assert!(first_new > 0, "the load started after the reload");
    assert!(serials[..first_new].iter().all(|&s| s == from), "before the switch: {:?}", &serials[..first_new]);
    assert!(serials[first_new..].iter().all(|&s| s == to), "an old answer after the switch");
}

#[test]
fn daemon_config_tcp_validation_reload_and_malformed_input() {
    let mut lab = Lab::up("mrxr");
    let dir = common::nsd::tempdir("m-root-xdp-daemon");
    let running_zone = dir.join("root.zone");
    std::fs::copy(zone_file(ZONE_2023), &running_zone).unwrap();
    let control = PathBuf::from(format!("/run/m-root-xdp/{}.sock", lab.name));
    let config = dir.join("m-root-xdp.toml");
    std::fs::write(
        &config,
        format!(
            "zone = \"{}\"\ninterfaces = [\"{}\"]\naddresses = [\"{}\", \"{}\"]\nxdp_mode = \"auto\"\nidentity = \"from-file\"\ncontrol = \"{}\"\nworkers = 2\ntcp_idle_seconds = 5\n",
            running_zone.display(),
            lab.srv_if(),
            common::SRV4,
            common::SRV6,
            control.display()
        ),
    )
    .unwrap();
    // A bad config is refused with the field named.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "zone = \"x\"\nadresses = [\"192.0.2.1\"]\n").unwrap();
    let out = std::process::Command::new(BIN).args(["run", "--config", bad.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("adresses"), "{}", String::from_utf8_lossy(&out.stderr));

    let srv = lab.srv_ns();
    let log = dir.join("daemon.log");
    let pid = lab.spawn(&srv, &[BIN, "run", "--config", config.to_str().unwrap(), "--identity", "from-flag"], &log);
    common::wait_for("daemon", 30, || m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok());
    assert_eq!(serial_now(&control), 2023042001);
    let cli = lab.cli_ns();

    // Flags override the file: id.server says "from-flag".
    let out = sh(&mut Lab::in_ns(&cli, &["kdig", &format!("@{}", common::SRV4), "id.server", "CH", "TXT", "+short"]));
    assert_eq!(out.trim(), "\"from-flag\"");

    // TCP: three pipelined queries on one connection, answered in order.
    let answers = in_netns(&cli, || {
        let mut s = std::net::TcpStream::connect((common::SRV4, 53)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = Vec::new();
        for (id, qn) in [(1u16, "jp"), (2, "www.example.com"), (3, "no-such-tld")] {
            let m = wire::build_query(id, 0, &name::from_text(qn).unwrap(), rr::A, rr::CLASS_IN, None);
            out.extend_from_slice(&(m.len() as u16).to_be_bytes());
            out.extend_from_slice(&m);
        }
        s.write_all(&out).unwrap();
        (0..3)
            .map(|_| {
                let mut len = [0u8; 2];
                s.read_exact(&mut len).unwrap();
                let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
                s.read_exact(&mut b).unwrap();
                b
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(answers.iter().map(|a| u16::from_be_bytes([a[0], a[1]])).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(decode(&answers[2]).unwrap().rcode(), 3);

    // Slow clients cannot starve others: 32 stalled connections fill one source's share (the default
    // tcp_max_per_source); a 33rd from it is closed unanswered; another source is answered at once; the
    // idle timeout (5 s in the config) closes the stalled ones.
    std::thread::sleep(Duration::from_millis(300));
    in_netns(&cli, || {
        let mut stalled = Vec::new();
        for _ in 0..32 {
            let mut s = std::net::TcpStream::connect((common::SRV4, 53)).unwrap();
            s.write_all(&[0]).unwrap();
            stalled.push(s);
        }
        std::thread::sleep(Duration::from_millis(300));
        let q = wire::build_query(5, 0, &name::from_text("jp").unwrap(), rr::A, rr::CLASS_IN, None);
        let mut extra = std::net::TcpStream::connect((common::SRV4, 53)).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let _ = extra.write_all(&[&(q.len() as u16).to_be_bytes()[..], &q[..]].concat());
        let mut b = [0u8; 2];
        assert!(!matches!(extra.read(&mut b), Ok(n) if n > 0), "a 33rd connection from the same source was served");
        let t = Instant::now();
        assert!(Client::new().tcp(common::SRV6, &q).is_some(), "another source is not starved");
        assert!(t.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_secs(6));
        for mut s in stalled {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            assert!(matches!(s.read(&mut b), Ok(0) | Err(_)), "an idle connection outlived the idle timeout");
        }
    });

    // Truncation, then the same question over TCP gets the whole answer.
    let q = wire::build_query(7, 0, name::ROOT, rr::DNSKEY, rr::CLASS_IN, Some((512, true)));
    let (udp, tcp) = in_netns(&cli, || {
        let c = Client::new();
        (c.udp(common::SRV4, &q).unwrap(), c.tcp(common::SRV4, &q).unwrap())
    });
    let (udp, tcp) = (decode(&udp).unwrap(), decode(&tcp).unwrap());
    assert_ne!(udp.flags & 0x0200, 0, "TC over UDP with a 512-octet buffer");
    assert_eq!(tcp.flags & 0x0200, 0);
    assert!(tcp.sections[0].iter().filter(|r| r.rtype == rr::DNSKEY).count() >= 2 && tcp.sections[0].iter().any(|r| r.rtype == rr::RRSIG));

    // Reload by SIGHUP under load: the running file now holds the 2026 zone.
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(&lab, stop.clone());
    std::thread::sleep(Duration::from_millis(400));
    std::fs::copy(zone_file(ZONE_2026), &running_zone).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    common::wait_for("SIGHUP reload", 10, || serial_now(&control) == 2026073102);
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    let (serials, lost) = load.join().unwrap();
    if lost > 0 {
        eprintln!("counters: {}", common::xdp_counters(&lab));
    }
    assert_eq!(lost, 0, "queries lost during the reload");
    assert_one_switch(&serials, 2023042001, 2026073102);

    // The DO=1 NXDOMAIN proof validates (unbound, trust anchor, clock inside the signature window) ...
    let ub = |date: &str| {
        let conf = dir.join(format!("unbound-{date}.conf"));
        std::fs::write(&conf, format!("server:\n  val-override-date: \"{date}\"\n  trust-anchor-file: \"{}\"\n  username: \"\"\n  chroot: \"\"\n  qname-minimisation: no\nstub-zone:\n  name: \".\"\n  stub-addr: {}\n", zone_file("root.key.debian-2024071801").display(), common::SRV4)).unwrap();
        let out = Lab::in_ns(&cli, &["unbound-host", "-v", "-C", conf.to_str().unwrap(), "-t", "A", "no-such-tld."]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let inside = ub("20260805000000");
    assert!(inside.contains("NXDOMAIN") && inside.contains("(secure)"), "{inside}");
    // ... and the same check fails once the signatures have expired (the validator really validates).
    let after = ub("20261101000000");
    assert!(after.contains("BOGUS"), "{after}");

    // Refused reloads leave the running zone serving.
    let broken = dir.join("broken.zone");
    std::fs::write(&broken, ". 3600 IN SOA a. b. 1 2 3\n").unwrap();
    let (ok, msg) = reload(&control, &broken, false);
    assert!(!ok && msg.contains("broken.zone"), "{msg}");
    let tampered = dir.join("tampered.zone");
    let text = std::fs::read_to_string(zone_file(ZONE_2026)).unwrap();
    let line = text.lines().find(|l| l.starts_with("a.dns.jp.") && l.contains("\tA\t")).unwrap();
    std::fs::write(&tampered, text.replacen(line, &line.replace("203.119.1.1", "203.119.1.2"), 1)).unwrap();
    let (ok, msg) = reload(&control, &tampered, false);
    assert!(!ok && msg.contains("ZONEMD"), "{msg}");
    let (ok, msg) = reload(&control, &zone_file(ZONE_2023), false);
    assert!(!ok && msg.contains("not newer"), "{msg}");
    assert_eq!(serial_now(&control), 2026073102);
    let q = wire::build_query(9, 0, name::ROOT, rr::SOA, rr::CLASS_IN, None);
    assert_eq!(in_netns(&cli, || Client::new().udp(common::SRV4, &q)).as_deref().and_then(soa_serial), Some(2026073102));

    // A forced reload through the control socket, under load, in under a second.
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(&lab, stop.clone());
    std::thread::sleep(Duration::from_millis(400));
    let (ok, msg) = reload(&control, &zone_file(ZONE_2023), true);
    assert!(ok, "{msg}");
    let ms: f64 = msg.split(" in ").nth(1).and_then(|t| t.split(' ').next()).and_then(|t| t.parse().ok()).unwrap_or(f64::MAX);
    assert!(ms < 1000.0, "reload took {ms} ms: {msg}");
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    let (serials, lost) = load.join().unwrap();
    if lost > 0 {
        eprintln!("counters: {}", common::xdp_counters(&lab));
    }
    assert_eq!(lost, 0);
    assert_one_switch(&serials, 2026073102, 2023042001);

    // Malformed input: every header field, lengths, pointer loops, OPT edge cases. Each gets a parseable
    // error answer or none; the daemon keeps answering.
    let good = wire::build_query(0x77, 0, &name::from_text("jp").unwrap(), rr::A, rr::CLASS_IN, Some((1232, false)));
    let mut battery: Vec<Vec<u8>> = vec![vec![], vec![0], good[..11].to_vec(), good[..12].to_vec(), good[..good.len() - 1].to_vec()];
    for byte in 2..12 {
        for v in [0x00u8, 0xff, 0x80, 0x01] {
            let mut m = good.clone();
            m[byte] = v;
            battery.push(m);
        }
    }
    let mut ptr_loop = good[..12].to_vec();
    ptr_loop.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    battery.push(ptr_loop);
    let mut opt_ptr = good.clone();
    let opt_at = good.len() - 11;
    opt_ptr[opt_at] = 0xc0;
    opt_ptr.insert(opt_at + 1, 12);
    battery.push(opt_ptr);
    let mut opt_len = good.clone();
    let l = opt_len.len();
    opt_len[l - 1] = 200; // RDLENGTH past the end
    battery.push(opt_len);
    let mut two_opts = good.clone();
    two_opts[11] = 2;
    two_opts.extend_from_slice(&good[good.len() - 11..]);
    battery.push(two_opts);
    let mut bad_option = good.clone();
    let l = bad_option.len();
    bad_option[l - 1] = 4;
    bad_option.extend_from_slice(&[0, 10, 0, 9]); // option claims 9 octets, has none
    battery.push(bad_option);
    for seed in 0..200u32 {
        let mut x = seed.wrapping_mul(2654435761);
        battery.push(
            (0..(seed % 80) as usize)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect(),
        );
    }
    in_netns(&cli, || {
        let mut c = Client::new();
        c.timeout = Duration::from_millis(200);
        for m in &battery {
            if m.len() < 2 {
                continue;
            }
            if let Some(r) = c.udp(common::SRV4, m) {
                assert!(decode(&r).is_some(), "undecodable answer to {}", common::hex(m));
            }
            let _ = c.tcp(common::SRV4, m);
        }
        let raw = std::net::UdpSocket::bind((common::CLI4, 0)).unwrap();
        for m in &battery {
            let _ = raw.send_to(m, (common::SRV4, 53));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let q = wire::build_query(10, 0, name::ROOT, rr::SOA, rr::CLASS_IN, None);
    assert_eq!(
        in_netns(&cli, || Client::new().udp(common::SRV4, &q)).as_deref().and_then(soa_serial),
        Some(2023042001),
        "daemon alive after the battery"
    );
    assert!(m_root_user::control::request(&control, "stats", Duration::from_secs(2)).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
