//! DNS cookies as a deployment meets them: the daemon in the lab with `[cookies]` and `[rrl]` from a
//! config file, kdig (Knot's client) on a bare peer. kdig learns a server cookie; then, while a flood from
//! the same /24 keeps that prefix over its limit, the client that sends its cookie back gets every answer
//! in full, and a client of the same /24 without one is limited. Once with the kernel answering
//! (userspace stopped during the flood), once with userspace answering (`xdp_mode = "off"`); TCP answers
//! carry a cookie too. And with frames injected as a NIC delivers them, answered by XDP itself.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Lab, sh};
use zonegen::{name, rr, wire};

/// Queries each kdig client sends during the flood.
const STEADY: usize = 20;
const FLOODER: &str = "198.18.0.2";
const WITH_COOKIE: &str = "198.18.0.3";
const WITHOUT: &str = "198.18.0.4";

/// kdig from `src` in the client namespace: a referral with DO=1, no retries, no fallback to TCP on
/// TC (`+ignore`), no retry on BADCOOKIE, so each answer is the one the server sent.
fn kdig(lab: &Lab, src: &str, extra: &[&str]) -> String {
    let mut args = vec!["kdig", "@198.18.0.1", "-b", src, "+dnssec", "+ignore", "+nobadcookie", "+retry=0", "+timeout=1"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["www.example.com", "NS"]);
    let out = Lab::in_ns(&lab.cli_ns(), &args).output().expect("kdig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The COOKIE kdig printed (client and server cookie, hex).
fn cookie_of(out: &str) -> Option<String> {
    out.lines().find_map(|l| l.strip_prefix(";; COOKIE: ")).map(|c| c.split_whitespace().next().unwrap_or("").to_string())
}

/// A full referral: NOERROR, not truncated, an authority section.
fn full_answer(out: &str) -> bool {
    let flags = out.lines().find(|l| l.starts_with(";; Flags:")).unwrap_or("");
    out.contains("status: NOERROR") && !flags.contains(" tc") && flags.contains("AUTHORITY: 15")
}

/// Flood `www.example.com NS` from FLOODER at about 1,000 queries a second until `stop`.
fn flood(lab: &Lab, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let sock = common::in_netns(&lab.cli_ns(), || UdpSocket::bind((FLOODER, 0)).expect("bind"));
    sock.connect("198.18.0.1:53").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    std::thread::spawn(move || {
        let q = wire::build_query(7, 0, &name::from_text("www.example.com").unwrap(), rr::NS, rr::CLASS_IN, Some((1232, true)));
        let mut sent = 0;
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            sock.send(&q).unwrap();
            sent += 1;
            while sock.recv(&mut buf).is_ok() {}
        }
        sent
    })
}

fn run(name: &str, extra_config: &str, stop_userspace: bool) {
    let mut lab = Lab::up(name);
    for a in [WITH_COOKIE, WITHOUT] {
        sh(&mut Lab::in_ns(&lab.cli_ns(), &["ip", "addr", "add", &format!("{a}/24"), "dev", &lab.cli_if()]));
    }
    let conf = std::env::temp_dir().join(format!("m-root-xdp-{}.toml", lab.name));
    let text = format!(
        "{extra_config}\n[rrl]\nresponses_per_second = 10\nslip = 2\n[cookies]\nenabled = true\nsecret = \"e5e973e5a6b2a43f48e7dc849e37bfcf\"\n"
    );
    std::fs::write(&conf, text).unwrap();
    let (pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--config", conf.to_str().unwrap()]);

    // Learn a server cookie: kdig sends a client cookie alone.
    let first = kdig(&lab, WITH_COOKIE, &["+cookie"]);
    assert!(full_answer(&first), "{first}");
    let cookie = cookie_of(&first).unwrap_or_else(|| panic!("no COOKIE in the answer:\n{first}"));
    assert_eq!(cookie.len(), 48, "8 octets of client cookie, 16 of server cookie: {cookie}");

    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood(&lab, stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    if stop_userspace {
        unsafe { libc::kill(pid, libc::SIGSTOP) };
    }
    let cookie_arg = format!("+cookie={cookie}");
    let with: Vec<String> = (0..STEADY).map(|_| kdig(&lab, WITH_COOKIE, &[&cookie_arg])).collect();
    let without: Vec<String> = (0..STEADY / 2).map(|_| kdig(&lab, WITHOUT, &[])).collect();
    if stop_userspace {
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().unwrap();

    let full_with = with.iter().filter(|o| full_answer(o)).count();
    let full_without = without.iter().filter(|o| full_answer(o)).count();
    let stats = common::daemon_stats(&control);
    let kernel = |c: m_root_common::Counter| {
        m_root_common::Hook::ALL.iter().map(|&h| stats[m_root_user::dataplane::counter_key(h, c)].as_u64().unwrap_or(0)).sum::<u64>()
    };
    let u = &stats["userspace"]["server"];
    println!(
        "{name}: flood of {sent} queries; with a cookie {full_with}/{STEADY} full answers, without {full_without}/{}; \
         kernel cookie.valid {}, rrl.dropped {}; userspace cookie_valid {}, rrl_dropped {}",
        STEADY / 2,
        kernel(m_root_common::Counter::CookieValid),
        kernel(m_root_common::Counter::RrlDropped),
        u["cookie_valid"],
        u["rrl_dropped"]
    );
    assert_eq!(full_with, STEADY, "every answer to the client with a cookie:\n{}", with.iter().find(|o| !full_answer(o)).map_or("", |s| s));
    assert!(with.iter().all(|o| cookie_of(o).is_some()), "each answer carries our cookie");
    assert!(full_without < STEADY / 2, "the same /24 without a cookie is limited ({full_without} full)");
    let valid = if stop_userspace { kernel(m_root_common::Counter::CookieValid) } else { u["cookie_valid"].as_u64().unwrap_or(0) };
    assert!(valid >= STEADY as u64, "counted as valid: {valid}");

    // Over TCP (userspace) the answer carries a server cookie too.
    let tcp = kdig(&lab, WITH_COOKIE, &["+tcp", &cookie_arg]);
    assert!(full_answer(&tcp) && cookie_of(&tcp).is_some(), "{tcp}");
}

#[test]
fn a_client_with_a_server_cookie_gets_every_answer_from_the_kernel_during_a_flood() {
    run("ckk", "", true);
}

#[test]
fn a_client_with_a_server_cookie_gets_every_answer_from_userspace_during_a_flood() {
    run("cku", "xdp_mode = \"off\"", false);
}

/// A query for `www.example.com NS` (DO=1) with a COOKIE option of `cookie` (hex: a client cookie, and a
/// server cookie when given).
fn with_cookie(id: u16, cookie: &str) -> Vec<u8> {
    let bytes: Vec<u8> = (0..cookie.len()).step_by(2).map(|i| u8::from_str_radix(&cookie[i..i + 2], 16).unwrap()).collect();
    let m = wire::build_query(id, 0, &name::from_text("www.example.com").unwrap(), rr::NS, rr::CLASS_IN, Some((1232, true)));
    zonegen::testkit::querymix::with_option(&m, 10, &bytes)
}

/// Frames injected as a NIC delivers them, to a peer that takes XDP_TX: the XDP program itself hands out
/// a server cookie, and while 40 queries from the same /24 have that prefix over its limit, the 20 that
/// carry the cookie are all answered in full by XDP (userspace stopped).
#[test]
fn injected_frames_with_a_server_cookie_are_answered_by_xdp_during_a_flood() {
    use m_root_user::lab::{Injector, query as inject};
    let mut lab = Lab::up_with("ckx", common::Peer::Xdp);
    sh(&mut Lab::in_ns(&lab.cli_ns(), &["ip", "addr", "add", &format!("{WITH_COOKIE}/24"), "dev", &lab.cli_if()]));
    let conf = std::env::temp_dir().join(format!("m-root-xdp-{}.toml", lab.name));
    std::fs::write(
        &conf,
        "[rrl]\nresponses_per_second = 10\nslip = 2\n[cookies]\nenabled = true\nsecret = \"e5e973e5a6b2a43f48e7dc849e37bfcf\"\n",
    )
    .unwrap();
    let (pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--config", conf.to_str().unwrap(), "--xdp-tx-peer"]);
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let iface = lab.cli_if();
    let (flood_full, with_full, with_cookie) = common::in_netns(&lab.cli_ns(), move || {
        let inj = Injector::new(&iface).expect("injector");
        let how = |src: &str| common::injection(&iface, src, common::SRV4, Duration::from_millis(100));
        let full = |r: &[u8]| r[2] & 0x02 == 0 && r[3] & 0x0f == 0 && u16::from_be_bytes([r[8], r[9]]) == 15;
        // Learn the cookie: a client cookie alone.
        let first = inject(&inj, &how(WITH_COOKIE), &with_cookie(1, "2464c4abcf10c957")).expect("an answer with a cookie");
        assert!(full(&first), "the first answer is full");
        let n = first.len();
        assert_eq!(&first[n - 28..n - 24], &[0, 10, 0, 24], "it carries our COOKIE option");
        let cookie: String = first[n - 24..].iter().map(|b| format!("{b:02x}")).collect();
        // The flood from the same /24, then the cookie's queries while the bucket is spent.
        let flood =
            (0..40u16).filter(|&i| inject(&inj, &how(FLOODER), &with_cookie(100 + i, "0102030405060708")).is_ok_and(|r| full(&r))).count();
        let with =
            (0..STEADY as u16).filter(|&i| inject(&inj, &how(WITH_COOKIE), &with_cookie(200 + i, &cookie)).is_ok_and(|r| full(&r))).count();
        (flood, with, cookie)
    });
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let stats = common::daemon_stats(&control);
    let xdp = |c: m_root_common::Counter| stats[m_root_user::dataplane::counter_key(m_root_common::Hook::Xdp, c)].as_u64().unwrap_or(0);
    println!(
        "injected: flood {flood_full}/40 full, with the cookie {with_full}/{STEADY} full ({with_cookie}); xdp.cookie.valid {}, xdp.rrl.dropped {}",
        xdp(m_root_common::Counter::CookieValid),
        xdp(m_root_common::Counter::RrlDropped)
    );
    assert!(flood_full <= 20 && xdp(m_root_common::Counter::RrlDropped) > 0, "the flood is limited: {flood_full} of 40 in full");
    assert_eq!(with_full, STEADY, "every query with the cookie answered in full");
    assert_eq!(xdp(m_root_common::Counter::CookieValid), STEADY as u64, "by XDP, as valid");
}
