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

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Client, Lab, in_netns};
use zonegen::{LoadOptions, Zone, name, rr, wire};

const BASE: u32 = 2026073102;
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
}

/// What one stream saw: the serials in order, the queries left unanswered, the queries the injector
/// could not send (its live-frames BPF_PROG_RUN refuses now and then under load: ENOSPC; nothing was
/// sent, so nothing was lost), and the longest time between two answers.
#[derive(Debug, Default)]
struct Seen {
    serials: Vec<u32>,
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
            let mut last = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(240);
            let mut id = 0u16;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                id = id.wrapping_add(1);
                let msg = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
                let r = match way {
                    Path4::Injected => match m_root_user::lab::query(&inj, &how, &msg) {
                        Ok(r) => Some(r),
                        Err(e) if format!("{e:#}").contains("BPF_PROG_RUN") => {
                            seen.unsent += 1;
                            continue;
                        }
                        Err(_) => None,
                    },
                    Path4::Socket => client.udp(common::SRV4, &msg),
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

const WAYS: [Path4; 4] = [Path4::Injected, Path4::Socket, Path4::Nsid, Path4::Tcp];

fn start_streams(lab: &Lab, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    WAYS.iter().map(|&w| stream(lab, w, stop.clone())).collect()
}

#[test]
fn a_hundred_reloads_under_load_lose_nothing_and_never_go_back() {
    let mut lab = Lab::up_with("soak", common::Peer::Xdp);
    let dir = std::env::temp_dir().join(format!("m-root-xdp-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(common::bundled_zone()).unwrap();
    let made = Instant::now();
    let editions: Vec<PathBuf> = (1..=RELOADS).map(|k| edition(&dir, &text, BASE + k)).collect();
    println!("{RELOADS} editions made in {:.1} s", made.elapsed().as_secs_f64());
    let (_pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--xdp-tx-peer"]);
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
        "{RELOADS} reloads: {:.0} / {:.0} / {:.0} ms (min / median / max, the command's whole round trip)",
        millis[0],
        millis[millis.len() / 2],
        millis[millis.len() - 1]
    );
    for (way, s) in WAYS.iter().zip(&seen) {
        let distinct = {
            let mut d = s.serials.clone();
            d.dedup();
            d.len()
        };
        println!(
            "  {way:?}: {} answers, {} lost, {distinct} serials seen, longest gap {:.0} ms ({} not sent by the injector)",
            s.serials.len(),
            s.lost,
            s.max_gap.as_secs_f64() * 1e3,
            s.unsent
        );
        assert_eq!(s.lost, 0, "{way:?}: queries lost during the reloads");
        assert!(s.serials.windows(2).all(|w| w[0] <= w[1]), "{way:?}: an older serial after a newer one");
        assert_eq!(s.serials.last().copied(), Some(BASE + RELOADS), "{way:?}: the last edition served at the end");
        assert!(distinct > 20, "{way:?}: the stream saw the reloads ({distinct} serials)");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_restart_under_load_is_counted() {
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
    for (way, s) in WAYS.iter().zip(&seen) {
        println!(
            "  {way:?}: {} answers, {} unanswered, longest gap {:.2} s ({} not sent by the injector)",
            s.serials.len(),
            s.lost,
            s.max_gap.as_secs_f64(),
            s.unsent
        );
        assert!(s.serials.len() > 10, "{way:?}: answered before and after");
    }
}
