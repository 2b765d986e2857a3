//! Reloads and restarts under load, as an operator meets them: the daemon in the lab (XDP answering
//! injected frames by XDP_TX to a peer that takes them, TC answering socket-sent queries, userspace the
//! rest), four steady streams of `. SOA` through every path (injected: XDP; UDP socket: TC; UDP with an
//! NSID option: userspace; TCP: userspace), each asking again as soon as it has its answer.
//!
//! - 100 reloads of editions with increasing serials (made here: the bundled zone with its SOA serial
//!   raised and its ZONEMD recomputed): every reload succeeds, no query is lost, and no stream sees an
//!   older serial after a newer one.
//! - A restart (SIGTERM, then a new daemon on the same interface): what each stream loses is counted and
//!   printed; every stream is answered again afterwards.
//! - A hand-over (`run --take-over` with the next edition, beside the running daemon), with a bare peer
//!   in the default mode (TC alone; no injected stream) and with an XDP peer (XDP answers by XDP_TX): the
//!   kernel paths lose nothing and never go back to the old serial; what userspace loses is counted.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Client, Lab, in_netns};
use zonegen::{LoadOptions, Zone, name, rr, wire};

const BASE: u32 = 2026073102;

/// One test at a time: each runs four streams that take both cores, and a stream starved by another
/// test's would measure the machine, not the daemon.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}
const RELOADS: u32 = 100;

/// The serial in an answer to `. SOA`.
fn soa_serial(resp: &[u8]) -> Option<u32> {
    let m = zonegen::testkit::print::decode(resp)?;
    let soa = m.sections[0].iter().find(|r| r.rtype == rr::SOA)?;
    zonegen::zone::soa_fields(&soa.rdata).map(|(serial, _)| serial)
}

/// The bundled zone as serial `serial`: the SOA changed and the ZONEMD recomputed over the result, so the
/// edition passes every check a file does (the RRSIGs are not verified, as for every zone).
fn edition(dir: &Path, text: &str, serial: u32) -> PathBuf {
    let with_serial = text.replacen(&format!(" {BASE} 1800 900 604800 86400"), &format!(" {serial} 1800 900 604800 86400"), 1);
    let path = dir.join(format!("root.zone.{serial}"));
    std::fs::write(&path, &with_serial).unwrap();
    let zone = Zone::load(&path, &LoadOptions { no_zonemd: true }).expect("the edition loads");
    let digest: String = zonegen::zonemd::digest(&zone).iter().map(|b| format!("{b:02X}")).collect();
    let old = text.lines().find(|l| l.contains("\tZONEMD\t")).expect("a ZONEMD record");
    let new = format!(".\t\t\t86400\tIN\tZONEMD\t{serial} 1 1 {digest}");
    std::fs::write(&path, with_serial.replacen(old, &new, 1)).unwrap();
    path
}

/// Which way a stream's queries go.
#[derive(Clone, Copy, Debug)]
enum Path4 {
    Injected,
    Socket,
    Nsid,
    Tcp,
    /// `. SOA` with an NSID option (userspace) from a new socket each time, so a new source port: spread
    /// over every UDP socket of the group, the old daemon's too during a hand-over; one every 20 ms, so
    /// the sockets are mostly idle and their threads waiting in a receive, as when the kernel answers
    /// nearly everything.
    Fresh,
    /// The standard query mix over UDP (referrals, NXDOMAIN, DS, apex types, names the kernel leaves to
    /// userspace): each the answer function answers is answered, with its ID, flags and rcode.
    Mix,
}

/// What one stream saw: the serials in order, the queries left unanswered, the queries the injector
/// could not send (its live-frames BPF_PROG_RUN refuses now and then under load: ENOSPC; nothing was
/// sent, so nothing was lost), and the longest time between two answers.
#[derive(Debug, Default)]
struct Seen {
    serials: Vec<u32>,
    /// Mix answers (the Mix stream's, which carry no serial to follow).
    mixed: usize,
    lost: usize,
    unsent: usize,
    max_gap: Duration,
}

fn stream(lab: &Lab, way: Path4, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    let (cli, cli_if) = (lab.cli_ns(), lab.cli_if());
    std::thread::spawn(move || {
        in_netns(&cli, || {
            let client = Client::new();
            let inj = m_root_user::lab::Injector::new(&cli_if).unwrap();
            let how = common::injection(&cli_if, common::CLI4, common::SRV4, Duration::from_secs(1));
            let mut seen = Seen::default();
            let zone = matches!(way, Path4::Mix).then(|| zonegen::Zone::load(&common::bundled_zone(), &Default::default()).unwrap());
            let mut mix = zone.as_ref().map(|z| zonegen::testkit::querymix::Generator::new(z, 2026));
            let mut last = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(240);
            let mut id = 0u16;
            let mut stopping: Option<Instant> = None;
            while Instant::now() < deadline {
                // Told to stop: go on until this stream has seen the serial the test waits for (a stream
                // starved by the load, the injector's sends refused, may not have yet), for at most 10 s.
                if stop.load(Ordering::Relaxed) {
                    let since = *stopping.get_or_insert_with(Instant::now);
                    let until = UNTIL_SERIAL.load(Ordering::Relaxed);
                    if until == 0 || mix.is_some() || seen.serials.last() == Some(&until) || since.elapsed() > Duration::from_secs(10) {
                        break;
                    }
                }
                id = id.wrapping_add(1);
                let msg = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
                if let Some(mix) = mix.as_mut() {
                    let q = mix.next();
                    if q.carrier == zonegen::testkit::querymix::Carrier::Tcp {
                        continue;
                    }
                    // What the answer function says (the serial aside, the editions answer alike): a query
                    // it leaves unanswered is not asked; otherwise the same ID and rcode.
                    let Some(want) =
                        zonegen::answer::answer(zone.as_ref().unwrap(), &Default::default(), &q.msg, zonegen::answer::Transport::Udp)
                    else {
                        continue;
                    };
                    match client.udp(common::SRV4, &q.msg) {
                        Some(r) if r.len() >= 12 && r[..3] == want[..3] && r[3] & 0x0f == want[3] & 0x0f => {
                            seen.mixed += 1;
                            seen.max_gap = seen.max_gap.max(last.elapsed());
                            last = Instant::now();
                        }
                        _ => seen.lost += 1,
                    }
                    continue;
                }
                let r = match way {
                    Path4::Injected => match m_root_user::lab::query(&inj, &how, &msg) {
                        Ok(r) => Some(r),
                        Err(e) if format!("{e:#}").contains("BPF_PROG_RUN") => {
                            seen.unsent += 1;
                            continue;
                        }
                        Err(_) => None,
                    },
                    // (The mix is asked above.)
                    Path4::Socket | Path4::Mix => client.udp(common::SRV4, &msg),
                    Path4::Fresh => {
                        std::thread::sleep(Duration::from_millis(20));
                        let q = zonegen::testkit::querymix::with_option(&msg, wire::OPTION_NSID, &[]);
                        let sock = std::net::UdpSocket::bind((common::CLI4, 0)).unwrap();
                        sock.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
                        let mut buf = [0u8; 4096];
                        match sock.send_to(&q, (common::SRV4, 53)).and_then(|_| sock.recv(&mut buf)) {
                            Ok(n) => Some(buf[..n].to_vec()),
                            Err(_) => None,
                        }
                    }
                    Path4::Tcp => client.tcp(common::SRV4, &msg),
                    Path4::Nsid => {
                        // An NSID option: the programs leave it to userspace.
                        client.udp(common::SRV4, &zonegen::testkit::querymix::with_option(&msg, wire::OPTION_NSID, &[]))
                    }
                };
                match r.as_deref().and_then(soa_serial) {
                    Some(s) => {
                        seen.serials.push(s);
                        seen.max_gap = seen.max_gap.max(last.elapsed());
                        last = Instant::now();
                    }
                    None => {
                        seen.lost += 1;
                        // Refused at once (TCP while no daemon listens): ask again a little later.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
            seen
        })
    })
}

/// The serial every stream must have seen before it stops (0: none).
static UNTIL_SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

const WAYS: [Path4; 6] = [Path4::Injected, Path4::Socket, Path4::Nsid, Path4::Tcp, Path4::Fresh, Path4::Mix];

/// The streams a lab can carry: frames injected as a NIC delivers them reach a veth only through an XDP
/// program, and on a bare peer `auto` attaches none (TC answers alone), so there every way but that one.
fn ways(lab: &Lab) -> Vec<Path4> {
    WAYS.iter().copied().filter(|w| lab.peer != common::Peer::Bare || !matches!(w, Path4::Injected)).collect()
}

fn start_streams(lab: &Lab, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    ways(lab).into_iter().map(|w| stream(lab, w, stop.clone())).collect()
}

#[test]
fn a_hundred_reloads_under_load_lose_nothing_and_never_go_back() {
    hundred_reloads("soak", common::Peer::Xdp, &["--xdp-tx-peer"]);
}

/// The same in the default deployment: a bare peer, so TC alone answers in the kernel.
#[test]
fn a_hundred_reloads_with_a_bare_peer_lose_nothing_and_never_go_back() {
    hundred_reloads("soab", common::Peer::Bare, &[]);
}

fn hundred_reloads(name: &str, peer: common::Peer, extra: &[&str]) {
    let _alone = alone();
    UNTIL_SERIAL.store(BASE + RELOADS, Ordering::Relaxed);
    let mut lab = Lab::up_with(name, peer);
    let dir = std::env::temp_dir().join(format!("m-root-xdp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(common::bundled_zone()).unwrap();
    let made = Instant::now();
    let editions: Vec<PathBuf> = (1..=RELOADS).map(|k| edition(&dir, &text, BASE + k)).collect();
    println!("{RELOADS} editions made in {:.1} s", made.elapsed().as_secs_f64());
    let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], extra);
    let stop = Arc::new(AtomicBool::new(false));
    let streams = start_streams(&lab, &stop);
    std::thread::sleep(Duration::from_millis(500));
    let mut millis = Vec::new();
    for (k, e) in editions.iter().enumerate() {
        let t = Instant::now();
        let out = std::process::Command::new(BIN).args(["reload", "--control"]).arg(&control).arg("--zone").arg(e).output().unwrap();
        assert!(
            out.status.success(),
            "reload {} refused: {}{}",
            k + 1,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        millis.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = streams.into_iter().map(|s| s.join().unwrap()).collect();
    millis.sort_by(f64::total_cmp);
    println!(
        "{RELOADS} reloads ({} peer): {:.0} / {:.0} / {:.0} ms (min / median / max, the command's whole round trip)",
        peer.name(),
        millis[0],
        millis[millis.len() / 2],
        millis[millis.len() - 1]
    );
    for (way, s) in ways(&lab).iter().zip(&seen) {
        let distinct = {
            let mut d = s.serials.clone();
            d.dedup();
            d.len()
        };
        println!(
            "  {way:?}: {} answers, {} lost, {distinct} serials seen, longest gap {:.0} ms ({} not sent by the injector)",
            s.serials.len() + s.mixed,
            s.lost,
            s.max_gap.as_secs_f64() * 1e3,
            s.unsent
        );
        assert_eq!(s.lost, 0, "{way:?}: queries lost during the reloads");
        if let Path4::Mix = way {
            assert!(s.mixed > 100, "{way:?}: answered throughout ({})", s.mixed);
            continue;
        }
        assert!(s.serials.windows(2).all(|w| w[0] <= w[1]), "{way:?}: an older serial after a newer one");
        assert_eq!(s.serials.last().copied(), Some(BASE + RELOADS), "{way:?}: the last edition served at the end");
        assert!(distinct > 20, "{way:?}: the stream saw the reloads ({distinct} serials)");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_restart_under_load_is_counted() {
    let _alone = alone();
    UNTIL_SERIAL.store(0, Ordering::Relaxed);
    let mut lab = Lab::up_with("rest", common::Peer::Xdp);
    let (pid, _control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--xdp-tx-peer"]);
    let stop = Arc::new(AtomicBool::new(false));
    let streams = start_streams(&lab, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    // SIGTERM, and wait for it to exit (SIGKILL after 5 s: the test would say so in the time).
    lab.stop(pid);
    let stopped = t.elapsed();
    let (_pid2, _control2) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--xdp-tx-peer"]);
    let serving = t.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = streams.into_iter().map(|s| s.join().unwrap()).collect();
    println!(
        "restart: SIGTERM to exit {:.2} s, to the new daemon's control socket answering {:.2} s",
        stopped.as_secs_f64(),
        serving.as_secs_f64()
    );
    for (way, s) in ways(&lab).iter().zip(&seen) {
        println!(
            "  {way:?}: {} answers, {} unanswered, longest gap {:.2} s ({} not sent by the injector)",
            s.serials.len() + s.mixed,
            s.lost,
            s.max_gap.as_secs_f64(),
            s.unsent
        );
        assert!(s.serials.len() + s.mixed > 10, "{way:?}: answered before and after");
    }
}

/// `run --take-over` under load: the new daemon, serving the next edition, takes the programs and the
/// sockets from the running one. Every stream (injected: XDP, where a peer takes XDP_TX;
/// socket-sent: TC; userspace UDP; TCP) loses nothing and sees the old serial, then the new one, never
/// back: the sockets are handed over, not closed, and userspace switches zones with the kernel.
/// net.ipv4.tcp_migrate_req stays 0 (its default): the listener is handed, no queue to migrate.
fn take_over_under_load(name: &str, peer: common::Peer, extra: &[&str]) {
    let _alone = alone();
    UNTIL_SERIAL.store(BASE + 1, Ordering::Relaxed);
    let mut lab = Lab::up_with(name, peer);
    let dir = std::env::temp_dir().join(format!("m-root-xdp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let next = edition(&dir, &std::fs::read_to_string(common::bundled_zone()).unwrap(), BASE + 1);
    let (old, control) = common::start_daemon_with(&mut lab, &[common::SRV4], extra);
    let stop = Arc::new(AtomicBool::new(false));
    let streams = start_streams(&lab, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let iface = lab.srv_if();
    let (next_s, ctl_s) = (next.display().to_string(), control.display().to_string());
    let mut args = vec![BIN, "run", "--take-over", "--zone", &next_s, "--iface", &iface, "--control", &ctl_s, "--addr", common::SRV4];
    args.extend(extra);
    let log = std::env::temp_dir().join(format!("m-root-xdp-{name}-new.log"));
    let _new = lab.spawn(&lab.srv_ns(), &args, &log);
    // The old daemon exits by itself once the new one has its links; then the new one's socket answers.
    common::wait_for(&format!("the old daemon to stop (log {})", log.display()), 30, || {
        std::fs::read_to_string(format!("/proc/{old}/stat")).map_or(true, |s| s.contains(") Z"))
    });
    common::wait_for("the new daemon's control socket", 30, || {
        m_root_user::control::request(&control, "stats", Duration::from_millis(300))
            .is_ok_and(|r| r["zone.serial"].as_u64() == Some(u64::from(BASE + 1)))
    });
    let handed = t.elapsed();
    // Longer than a client's timeout: a query lost in the hand-over would be counted, and the stream
    // answered by the new daemon after it.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = streams.into_iter().map(|s| s.join().unwrap()).collect();
    let text = std::fs::read_to_string(&log).unwrap();
    let took = text.lines().find(|l| l.contains("took over from pid")).unwrap_or_else(|| panic!("no hand-over in the log:\n{text}"));
    println!(
        "{name} ({} peer, {extra:?}): from the command to the new daemon answering {:.2} s; {took}",
        peer.name(),
        handed.as_secs_f64()
    );
    for (way, s) in ways(&lab).iter().zip(&seen) {
        let old_n = s.serials.iter().filter(|&&x| x == BASE).count();
        println!(
            "  {way:?}: {} answers ({old_n} of the old serial), {} lost, longest gap {:.0} ms ({} not sent by the injector)",
            s.serials.len() + s.mixed,
            s.lost,
            s.max_gap.as_secs_f64() * 1e3,
            s.unsent
        );
        assert_eq!(s.lost, 0, "{way:?}: a query was lost in the hand-over");
        if let Path4::Mix = way {
            assert!(s.mixed > 100, "{way:?}: answered throughout ({})", s.mixed);
            continue;
        }
        assert_eq!(s.serials.last().copied(), Some(BASE + 1), "{way:?}: the new edition served at the end");
        assert!(old_n > 10, "{way:?}: answered by the old daemon before");
        assert!(s.serials.windows(2).all(|w| w[0] <= w[1]), "{way:?}: the old serial after the new one");
    }
    assert!(text.contains("answering") || text.contains("answers"), "the new daemon logged its attachment:\n{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_take_over_loses_no_kernel_answer_with_a_bare_peer() {
    take_over_under_load("tkob", common::Peer::Bare, &[]);
}

#[test]
fn a_take_over_loses_no_kernel_answer_with_xdp_tx() {
    take_over_under_load("tkox", common::Peer::Xdp, &["--xdp-tx-peer"]);
}

/// A take-over that cannot be done (here: another XDP mode) is refused with a clear error before
/// anything changes, and the running daemon keeps its links and answers in the kernel as before.
#[test]
fn a_refused_take_over_leaves_the_old_daemon_serving() {
    let _alone = alone();
    let mut lab = Lab::up_with("tkor", common::Peer::Bare);
    let (old, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &[]);
    let before = common::xdp_answered(&common::xdp_counters(&lab));
    let zone = common::bundled_zone().display().to_string();
    let (iface, ctl) = (lab.srv_if(), control.display().to_string());
    let args =
        [BIN, "run", "--take-over", "--zone", &zone, "--iface", &iface, "--control", &ctl, "--addr", common::SRV4, "--xdp-mode", "skb"];
    let out = Lab::in_ns(&lab.srv_ns(), &args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    println!("refused: {}", err.trim());
    assert!(!out.status.success(), "a take-over into another XDP mode must be refused");
    assert!(err.contains("cannot change") && err.contains("keeps serving"), "the error says why and what happens: {err}");
    assert!(std::fs::read_to_string(format!("/proc/{old}/stat")).is_ok_and(|s| !s.contains(") Z")), "the old daemon still runs");
    // Its programs answer as before: socket-sent queries reach TC, which answers them.
    in_netns(&lab.cli_ns(), || {
        let client = Client::new();
        for id in 0..50u16 {
            let msg = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
            let r = client.udp(common::SRV4, &msg);
            assert!(r.as_deref().and_then(soa_serial) == Some(BASE), "query {id} answered after the refused take-over");
        }
    });
    let after = common::xdp_answered(&common::xdp_counters(&lab));
    assert!(after >= before + 50, "the kernel answered them ({before} -> {after})");
    let pins = pins_left(&iface);
    assert!(pins.is_empty(), "no hand-over pins left: {pins:?}");

    // A successor that asks for the links and then dies: the offer stands (pinned, still answering),
    // and the running daemon takes its links back by itself after the offer's timeout.
    let offer = m_root_user::takeover::ask_offer(&control).expect("the running daemon offers its links");
    let pinned =
        |o: &m_root_user::dataplane::Offer| [o.xdp_pin.clone(), o.tc_pin.clone()].into_iter().flatten().filter(|p| p.exists()).count();
    // On this bare peer `auto` runs TC alone: its one link, pinned.
    assert!(offer.ifaces[0].xdp_pin.is_none() && offer.ifaces[0].tc_pin.is_some(), "TC's link only: {offer:?}");
    assert_eq!(pinned(&offer.ifaces[0]), 1, "the TC link pinned: {offer:?}");
    let t = Instant::now();
    common::wait_for("the running daemon to take its links back", 45, || pinned(&offer.ifaces[0]) == 0);
    println!("offer taken back after {:.1} s", t.elapsed().as_secs_f64());
    assert!(t.elapsed() >= m_root_user::takeover::OFFER_TIMEOUT - Duration::from_secs(1), "not before the timeout");
    in_netns(&lab.cli_ns(), || {
        let client = Client::new();
        let msg = wire::build_query(7, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
        assert_eq!(client.udp(common::SRV4, &msg).as_deref().and_then(soa_serial), Some(BASE), "answered after resuming");
    });
    let x = common::xdp_answered(&common::xdp_counters(&lab));
    assert!(x > after, "by the kernel ({after} -> {x})");
    // And the links are its own again: a later hand-over still works (offered, then given back at once).
    let again = m_root_user::takeover::ask_offer(&control).expect("offered again");
    assert!(!again.sockets.is_empty() && again.fds.len() == again.sockets.len(), "the sockets come with the offer: {again:?}");
    m_root_user::takeover::ask_resume(&control);
    assert!(pins_left(&iface).is_empty(), "resume removes the pins");
    // A successor that dies after asking (another process: dnspython's interpreter, asking and exiting):
    // the running daemon sees it die and reads its sockets again at once, not after the offer's timeout.
    let ask = format!(
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect({:?}); s.sendall(b'{{\"cmd\":\"hand-over\"}}\\n'); s.recv(65536)",
        control.display().to_string()
    );
    let t = Instant::now();
    assert!(std::process::Command::new("python3").args(["-c", &ask]).status().unwrap().success());
    common::wait_for("the daemon to resume after its successor died", 30, || {
        pins_left(&iface).is_empty() && m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok()
    });
    println!("a successor died after its offer: resumed {:.2} s after it asked", t.elapsed().as_secs_f64());
    assert!(t.elapsed() < m_root_user::takeover::OFFER_TIMEOUT / 2, "resumed as it died, not at the offer's timeout");
    in_netns(&lab.cli_ns(), || {
        let client = Client::new();
        // An NSID option: answered by userspace, whose sockets this daemon reads again.
        let msg = wire::build_query(8, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
        let msg = zonegen::testkit::querymix::with_option(&msg, wire::OPTION_NSID, &[]);
        assert_eq!(client.udp(common::SRV4, &msg).as_deref().and_then(soa_serial), Some(BASE), "userspace answers after resuming");
    });
}

fn pins_left(iface: &str) -> Vec<PathBuf> {
    [m_root_user::dataplane::PIN_ROOT, m_root_user::dataplane::PIN_ROOT_FALLBACK]
        .iter()
        .flat_map(|r| ["handover_xdp", "handover_tc"].map(|p| Path::new(r).join(iface).join(p)))
        .filter(|p| p.exists())
        .collect()
}
