//! Rate limiting as a deployment meets it: the daemon in the lab with a config file's `[rrl]`, a bare
//! client peer sending from ordinary sockets. A flood of one large referral (`com NS`, DO=1) from one
//! source is limited: its slipped answers are TC=1 with no records, and the bytes that come back stay
//! under the bytes sent (slip 2); a source in another /24 and an exempt source get every answer during
//! the flood. Once with the kernel answering (the default mode: TC on this veth) and userspace stopped,
//! once with userspace answering (`xdp_mode = "off"`). A reload with other limits keeps serving.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{Lab, sh};
use zonegen::{name, rr, wire};

const FLOOD: usize = 2000;
/// Queries from each of the other two sources, one every 100 ms: the configured rate (10/s).
const STEADY: usize = 20;

/// A UDP socket from `src` in the client namespace.
fn socket(lab: &Lab, src: &str) -> UdpSocket {
    let src = src.to_string();
    common::in_netns(&lab.cli_ns(), move || UdpSocket::bind((src.as_str(), 0)).expect("bind"))
}

fn query(id: u16, qname: &str) -> Vec<u8> {
    wire::build_query(id, 0, &name::from_text(qname).unwrap(), rr::NS, rr::CLASS_IN, Some((1232, true)))
}

/// What came back to one socket: (answers, of which slipped, bytes).
#[derive(Debug, Default)]
struct Got {
    answers: usize,
    slipped: usize,
    bytes: usize,
}

fn drain(sock: &UdpSocket, got: &mut Got, until: Instant) {
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        sock.set_read_timeout(Some(left.min(Duration::from_millis(50)))).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) if n >= 12 => {
                got.answers += 1;
                got.bytes += n;
                let tc = buf[2] & 0x02 != 0;
                let records = u16::from_be_bytes([buf[6], buf[7]]) + u16::from_be_bytes([buf[8], buf[9]]);
                if tc {
                    assert_eq!(records, 0, "a slipped answer carries no records");
                    got.slipped += 1;
                }
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
}

/// The flood from 198.18.0.2 and the steady streams from the other two sources, at once.
fn flood(lab: &Lab) -> (Got, usize, Got, Got) {
    let (flooder, other, exempt) = (socket(lab, "198.18.0.2"), socket(lab, "198.18.5.2"), socket(lab, "198.18.6.2"));
    for s in [&flooder, &other, &exempt] {
        s.connect("198.18.0.1:53").unwrap();
    }
    let steady = std::thread::spawn(move || {
        let (mut a, mut b) = (Got::default(), Got::default());
        for i in 0..STEADY {
            other.send(&query(i as u16, "www.example.com")).unwrap();
            exempt.send(&query(i as u16, "www.example.com")).unwrap();
            let until = Instant::now() + Duration::from_millis(100);
            drain(&other, &mut a, until);
            drain(&exempt, &mut b, until);
        }
        drain(&other, &mut a, Instant::now() + Duration::from_millis(300));
        drain(&exempt, &mut b, Instant::now() + Duration::from_millis(300));
        (a, b)
    });
    let mut sent = 0;
    let mut got = Got::default();
    let start = Instant::now();
    for i in 0..FLOOD {
        let q = query(i as u16, "www.example.com");
        flooder.send(&q).unwrap();
        sent += q.len();
        if i % 50 == 49 {
            // About 1,000 queries a second, for as long as the steady streams run.
            drain(&flooder, &mut got, start + Duration::from_millis(i as u64 + 1));
        }
    }
    drain(&flooder, &mut got, Instant::now() + Duration::from_millis(500));
    let (a, b) = steady.join().unwrap();
    (got, sent, a, b)
}

fn check(what: &str, (flooded, sent, other, exempt): (Got, usize, Got, Got)) {
    let ratio = flooded.bytes as f64 / sent as f64;
    println!(
        "{what}: flood {FLOOD} queries, {sent} bytes: {} answers ({} slipped), {} bytes back: {ratio:.2}; other /24 {}/{STEADY}, exempt {}/{STEADY}",
        flooded.answers, flooded.slipped, flooded.bytes, other.answers, exempt.answers
    );
    assert!(ratio <= 1.0, "{what}: the flood drew {ratio:.2} times its bytes");
    assert!(flooded.slipped > FLOOD / 4 && flooded.answers < FLOOD * 3 / 4, "{what}: limited, with slips: {flooded:?}");
    assert_eq!((other.answers, other.slipped), (STEADY, 0), "{what}: a source in another /24 gets every answer");
    assert_eq!((exempt.answers, exempt.slipped), (STEADY, 0), "{what}: the exempt source gets every answer");
}

fn lab_with_sources(name: &str) -> Lab {
    let lab = Lab::up(name);
    for a in ["198.18.5.2/24", "198.18.6.2/24"] {
        sh(&mut Lab::in_ns(&lab.cli_ns(), &["ip", "addr", "add", a, "dev", &lab.cli_if()]));
    }
    for net in ["198.18.5.0/24", "198.18.6.0/24"] {
        sh(&mut Lab::in_ns(&lab.srv_ns(), &["ip", "route", "add", net, "dev", &lab.srv_if()]));
    }
    lab
}

fn config(lab: &Lab, extra: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("m-root-xdp-{}.toml", lab.name));
    let text = format!("{extra}\n[rrl]\nresponses_per_second = 10\nslip = 2\nexempt = [\"198.18.6.0/24\"]\n");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_flood_is_limited_in_the_kernel_and_others_get_every_answer() {
    let mut lab = lab_with_sources("rrlk");
    let conf = config(&lab, "");
    let (pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--config", conf.to_str().unwrap()]);
    // Userspace stopped: whatever is answered, the kernel answered.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let result = flood(&lab);
    unsafe { libc::kill(pid, libc::SIGCONT) };
    check("kernel (TC)", result);
    let stats = common::daemon_stats(&control);
    let tc = |c: m_root_common::Counter| stats[m_root_user::dataplane::counter_key(m_root_common::Hook::Tc, c)].as_u64().unwrap_or(0);
    let (dropped, slipped, exempt) =
        (tc(m_root_common::Counter::RrlDropped), tc(m_root_common::Counter::RrlSlipped), tc(m_root_common::Counter::RrlExempt));
    println!("tc.rrl.dropped {dropped}, tc.rrl.slipped {slipped}, tc.rrl.exempt {exempt}");
    assert!(dropped > 0 && slipped > 0 && exempt as usize == STEADY, "{stats}");

    // A reload with RRL off (the buckets stay; the settings change): the flood is answered in full.
    std::fs::write(&conf, "[rrl]\nresponses_per_second = 0\n").unwrap();
    let out = sh(std::process::Command::new(common::BIN).args(["reload", "--force", "--control"]).arg(&control));
    assert!(out.contains("reloaded"), "{out}");
    let sock = socket(&lab, "198.18.0.2");
    sock.connect("198.18.0.1:53").unwrap();
    let mut got = Got::default();
    for i in 0..50u16 {
        sock.send(&query(i, "www.example.com")).unwrap();
        drain(&sock, &mut got, Instant::now() + Duration::from_millis(20));
    }
    drain(&sock, &mut got, Instant::now() + Duration::from_millis(300));
    assert_eq!((got.answers, got.slipped), (50, 0), "RRL off after the reload");
}

#[test]
fn a_flood_is_limited_in_userspace_too() {
    let mut lab = lab_with_sources("rrlu");
    let conf = config(&lab, "xdp_mode = \"off\"");
    let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--config", conf.to_str().unwrap()]);
    check("userspace", flood(&lab));
    let stats = common::daemon_stats(&control);
    let u = &stats["userspace"]["server"];
    assert!(u["rrl_dropped"].as_u64() > Some(0) && u["rrl_slipped"].as_u64() > Some(0), "{u}");
    assert_eq!(u["rrl_exempt"].as_u64(), Some(STEADY as u64), "{u}");
}

/// Frames injected as a NIC delivers them, to a peer that takes XDP_TX: the XDP program itself answers
/// and limits (userspace stopped). 30 queries at once from one source: the first 10 answered in full,
/// then limited, with slipped answers among what comes back; the counters are XDP's.
#[test]
fn injected_frames_are_limited_in_xdp() {
    use m_root_user::lab::{Injector, query as inject};
    let mut lab = Lab::up_with("rrlx", common::Peer::Xdp);
    let conf = config(&lab, "");
    let (pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--config", conf.to_str().unwrap(), "--xdp-tx-peer"]);
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let iface = lab.cli_if();
    let (full, slipped, none) = common::in_netns(&lab.cli_ns(), move || {
        let inj = Injector::new(&iface).expect("injector");
        let how = common::injection(&iface, common::CLI4, common::SRV4, Duration::from_millis(100));
        let (mut full, mut slipped, mut none) = (0, 0, 0);
        for i in 0..30u16 {
            match inject(&inj, &how, &query(i, "www.example.com")) {
                Ok(r) if r[2] & 0x02 != 0 => slipped += 1,
                Ok(_) => full += 1,
                Err(_) => none += 1,
            }
        }
        (full, slipped, none)
    });
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let stats = common::daemon_stats(&control);
    let xdp = |c: m_root_common::Counter| stats[m_root_user::dataplane::counter_key(m_root_common::Hook::Xdp, c)].as_u64().unwrap_or(0);
    println!(
        "injected: {full} full, {slipped} slipped, {none} unanswered; xdp.rrl.dropped {}, xdp.rrl.slipped {}",
        xdp(m_root_common::Counter::RrlDropped),
        xdp(m_root_common::Counter::RrlSlipped)
    );
    // Refills while the dropped ones time out (100 ms each at 10/s) allow a few more full answers.
    assert!((10..=20).contains(&full) && slipped >= 5 && none >= 5, "{full} full, {slipped} slipped, {none} none");
    assert_eq!((xdp(m_root_common::Counter::RrlSlipped), xdp(m_root_common::Counter::RrlDropped)), (slipped, none));

    // Socket-sent queries arrive with no room to grow: XDP charges them (it may send) and hands them to
    // TC with its verdict, and TC must not charge them again. 30 at once for another class (jp): exactly
    // the burst of 10 in full, then drop, slip, ... (charged twice, only 5 would be answered in full).
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let sock = socket(&lab, common::CLI4);
    sock.connect("198.18.0.1:53").unwrap();
    for i in 0..30u16 {
        sock.send(&query(i, "example.jp")).unwrap();
    }
    let mut got = Got::default();
    drain(&sock, &mut got, Instant::now() + Duration::from_millis(500));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let stats2 = common::daemon_stats(&control);
    let at = |h: m_root_common::Hook, c: m_root_common::Counter| stats2[m_root_user::dataplane::counter_key(h, c)].as_u64().unwrap_or(0);
    use m_root_common::{Counter::*, Hook::*};
    let d = |h, c| at(h, c) - stats[m_root_user::dataplane::counter_key(h, c)].as_u64().unwrap_or(0);
    println!(
        "socket-sent to an XDP peer: {} answers ({} slipped); xdp: pass.no-room +{}, rrl.dropped +{}, rrl.slipped +{}; tc: answers +{}, rrl.dropped +{}",
        got.answers,
        got.slipped,
        d(Xdp, PassNoRoom),
        d(Xdp, RrlDropped),
        d(Xdp, RrlSlipped),
        d(Tc, AnsReferralDnssec),
        d(Tc, RrlDropped)
    );
    assert_eq!((got.answers - got.slipped, got.slipped), (10, 10), "{got:?}");
    // XDP charged all 30: it dropped 10 and sent the 10 slipped answers itself (they fit in place); the
    // 10 full answers had no room and went to TC, which sent them with XDP's verdict, charging nothing.
    assert_eq!((d(Xdp, RrlDropped), d(Xdp, RrlSlipped), d(Xdp, PassNoRoom)), (10, 10, 10), "XDP charged");
    assert_eq!((d(Tc, AnsReferralDnssec), d(Tc, RrlDropped), d(Tc, RrlSlipped)), (10, 0, 0), "TC sent, not charged again");
}
