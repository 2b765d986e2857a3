//! The secondary mode against a real primary: knotd (TSIG, NOTIFY, IXFR from zone-file differences) in
//! the lab's client namespace, m-root-xdp with no zone file and `[secondary]` on the server end, queries
//! from the client end to the kernel paths (bare peer, default mode) and userspace.
//!
//! In order: the first zone by AXFR; five editions (the com. NS set changed, ZONEMD recomputed, SOA
//! timers of seconds) each arriving by IXFR after Knot's NOTIFY and answered by the kernel (socket-sent
//! and injected frames) with the new delegation, under two steady query streams that lose nothing and never go back a serial; the
//! publication latency (NOTIFY to kernel-served) printed; an edition whose ZONEMD does not verify is
//! refused and the old serial keeps serving; a wrong TSIG key is refused by the primary with a clear
//! error; the primary down: retries, then the zone expires (SERVFAIL, kernel paths pass, `stats` says
//! expired), and it comes back when the primary does; a restart with the primary down serves the
//! cache at once; NSD as a second primary kind, by AXFR; and transfers out (`[transfer]`): a Knot
//! secondary of the daemon gets the zone (TSIG, its own ZONEMD check), kdig too, unsigned ones and other
//! sources are refused.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::primary;
use common::{BIN, Client, Lab, in_netns};
use zonegen::{name, rr, wire};

const BASE: u32 = 2026073102;
const SECRET: &str = "a2V5LWZvci10aGUtbGFiLXRyYW5zZmVycy0wMTIzNDU=";
const KEY: primary::Key = ("hmac-sha256", "xfr-key", SECRET);

/// An edition `serial` of the bundled zone with SOA timers of seconds (refresh 3, retry 1, expire 8) and,
/// on odd serials, the com. NS set changed.
fn edition(base: &str, serial: u32) -> String {
    let short = base.replacen(&format!(" {BASE} 1800 900 604800 86400"), &format!(" {BASE} 3 1 8 86400"), 1);
    assert_ne!(short, base, "the bundled SOA has the timers expected");
    primary::edition(&short, serial, serial % 2 == 1)
}

fn serial_of(resp: &[u8]) -> Option<u32> {
    let m = zonegen::testkit::print::decode(resp)?;
    let soa = m.sections[0].iter().find(|r| r.rtype == rr::SOA)?;
    zonegen::zone::soa_fields(&soa.rdata).map(|(s, _)| s)
}

/// The name servers of com. in a referral.
fn com_ns(resp: &[u8]) -> Vec<String> {
    let m = zonegen::testkit::print::decode(resp).expect("a response");
    m.sections[1].iter().filter(|r| r.rtype == rr::NS).map(|r| name::to_text(&r.rdata)).collect()
}

fn stats(control: &Path) -> serde_json::Value {
    m_root_user::control::request(control, "stats", Duration::from_secs(5)).expect("stats")
}

fn start(lab: &mut Lab, config: &Path, control: &Path, log: &str) -> i32 {
    let log = std::env::temp_dir().join(log);
    let (cfg, ns) = (config.display().to_string(), lab.srv_ns());
    let pid = lab.spawn(&ns, &[BIN, "run", "--config", &cfg], &log);
    common::wait_for(&format!("m-root-xdp (log {})", log.display()), 60, || {
        m_root_user::control::request(control, "stats", Duration::from_millis(300)).is_ok()
    });
    pid
}

/// One stream of `. SOA` over UDP (answered by TC) or TCP (userspace): the serials seen, the lost.
fn stream(lab: &Lab, tcp: bool, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Vec<u32>, usize)> {
    let cli = lab.cli_ns();
    std::thread::spawn(move || {
        in_netns(&cli, || {
            let c = Client::new();
            let (mut seen, mut lost, mut id) = (Vec::new(), 0, 0u16);
            while !stop.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let q = wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
                match if tcp { c.tcp(common::SRV4, &q) } else { c.udp(common::SRV4, &q) }.as_deref().and_then(serial_of) {
                    Some(s) => seen.push(s),
                    None => lost += 1,
                }
            }
            (seen, lost)
        })
    })
}

/// Referrals the kernel programs have answered (XDP and TC).
fn kernel_referrals(lab: &Lab) -> u64 {
    let c = common::xdp_counters(lab);
    ["xdp", "tc"].iter().map(|h| c[format!("{h}.answer.referral")].as_u64().unwrap_or(0)).sum()
}

fn referral_query() -> Vec<u8> {
    wire::build_query(7, 0, &name::from_text("example.com.").unwrap(), rr::A, rr::CLASS_IN, Some((1232, false)))
}

/// A referral to com. asked from a socket (on veth: answered by TC).
fn referral(lab: &Lab) -> Vec<u8> {
    in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &referral_query())).expect("a referral")
}

/// The same asked by a frame injected as a NIC delivers it (XDP, which hands it to TC on veth).
fn injected_referral(lab: &Lab) -> Vec<u8> {
    let cli_if = lab.cli_if();
    in_netns(&lab.cli_ns(), || {
        let inj = m_root_user::lab::Injector::new(&cli_if).unwrap();
        let how = common::injection(&cli_if, common::CLI4, common::SRV4, Duration::from_secs(1));
        m_root_user::lab::query(&inj, &how, &referral_query()).ok()
    })
    .expect("an answer to the injected frame")
}

#[test]
fn a_secondary_of_knot_and_nsd() {
    let mut lab = Lab::up_with("secd", common::Peer::Bare);
    let base = std::fs::read_to_string(common::bundled_zone()).unwrap();
    let dir = std::env::temp_dir().join(format!("m-root-xdp-secd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut knot = primary::knot(&mut lab, &base, 5301, Some(KEY), Some("198.18.0.1@53"));
    let (control, cache) = (PathBuf::from("/run/m-root-xdp/secd.sock"), dir.join("cache.zone"));
    let config = dir.join("m-root-xdp.toml");
    std::fs::write(
        &config,
        format!(
            "addresses = [\"{}\"]\ninterfaces = [\"{}\"]\ncontrol = \"{}\"\n[secondary]\nprimaries = [\"{}\", \"198.18.0.2:5302\"]\ntsig_key = \"{}:{}:{}\"\ncache = \"{}\"\n[transfer]\nallow = [\"198.18.0.2/32\"]\ntsig_key = \"{4}:{5}:{6}\"\n",
            common::SRV4,
            lab.srv_if(),
            control.display(),
            knot.addr,
            KEY.0,
            KEY.1,
            KEY.2,
            cache.display()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let daemon = start(&mut lab, &config, &control, "m-root-xdp-secd.log");
    let s = stats(&control);
    println!("first zone by AXFR and serving in {:.2} s: {}", t.elapsed().as_secs_f64(), s["secondary"]);
    assert_eq!(s["zone.serial"], BASE);
    assert!(cache.exists(), "the cache written");

    // Five editions by IXFR after NOTIFY, under load.
    let stop = Arc::new(AtomicBool::new(false));
    let streams = [stream(&lab, false, stop.clone()), stream(&lab, true, stop.clone())];
    let mut latencies = Vec::new();
    for k in 1..=5u32 {
        let text = edition(&base, BASE + k);
        let t = Instant::now();
        knot.publish(&lab, &text);
        common::wait_for(&format!("serial {} served", BASE + k), 30, || stats(&control)["zone.serial"] == BASE + k);
        let s = stats(&control)["secondary"].clone();
        let how = s["last_transfer"]["how"].as_str().unwrap_or("?").to_string();
        let lat = s["last_transfer"]["latency_ms"].as_f64().unwrap();
        println!(
            "serial {}: by {how}, {lat:.0} ms from NOTIFY to the kernel serving it ({:.0} ms from publishing)",
            BASE + k,
            t.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(how, "IXFR", "serial {}: {s}", BASE + k);
        assert!(s["notifies"].as_u64().unwrap() >= u64::from(k), "acted on NOTIFY: {s}");
        latencies.push(lat);
        // The kernel answers with the new delegation: com.'s name servers as the edition has them.
        let swapped = if k % 2 == 1 { "n.gtld-servers.net." } else { "m.gtld-servers.net." };
        let before = kernel_referrals(&lab);
        for (how, resp) in [("socket", referral(&lab)), ("injected", injected_referral(&lab))] {
            let ns = com_ns(&resp);
            assert!(ns.iter().any(|n| n == swapped), "serial {} ({how}): com. NS {ns:?}", BASE + k);
        }
        assert_eq!(kernel_referrals(&lab), before + 2, "both referrals answered in the kernel (the streams ask the apex)");
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for (what, h) in ["UDP (TC)", "TCP (userspace)"].iter().zip(streams) {
        let (seen, lost) = h.join().unwrap();
        println!("  {what}: {} answers, {lost} lost", seen.len());
        assert_eq!(lost, 0, "{what}: lost during the transfers");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{what}: an older serial after a newer one");
        assert_eq!(seen.last().copied(), Some(BASE + 5));
    }
    let kernel = common::xdp_answered(&common::xdp_counters(&lab));
    assert!(kernel > 100, "the kernel paths answered the stream ({kernel})");
    latencies.sort_by(f64::total_cmp);
    println!(
        "publication latency NOTIFY -> kernel: {:.0} / {:.0} / {:.0} ms (min / median / max)",
        latencies[0], latencies[2], latencies[4]
    );

    // A ZONEMD that does not verify: refused, the old serial serves.
    knot.publish(&lab, &primary::bad_zonemd(&edition(&base, BASE + 6)));
    common::wait_for("the bad edition refused", 30, || stats(&control)["secondary"]["refused"].as_u64() >= Some(1));
    let s = stats(&control);
    println!("bad ZONEMD: {}", s["secondary"]["last_result"]);
    assert_eq!(s["zone.serial"], BASE + 5);
    assert!(s["secondary"]["last_result"].as_str().unwrap().contains("ZONEMD"), "{}", s["secondary"]);
    let out = std::process::Command::new(BIN).args(["reload", "--control"]).arg(&control).output().unwrap();
    assert!(!out.status.success(), "reload (a refresh now) reports the refusal");

    // A wrong key: the primary refuses, and says so.
    let wrong = m_root_user::secondary::key::from_spec("hmac-sha256:xfr-key:d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=").unwrap();
    let err = in_netns(&lab.srv_ns(), || {
        m_root_user::secondary::xfr::fetch(knot.addr.parse().unwrap(), Some(common::SRV4.parse().unwrap()), Some(&wrong), None).err()
    })
    .expect("a wrong key is refused");
    println!("wrong TSIG key: {err}");
    assert!(err.to_string().contains("TSIG") || err.to_string().contains("NOTAUTH"), "{err}");

    // HMAC-SHA512 as well: a Knot keyed so gives the whole zone to the same client.
    let k512 = ("hmac-sha512", "xfr-key-512", "c2hhLTUxMi1rZXktZm9yLXRoZS1sYWItdHJhbnNmZXJzLTAxMjM0NTY3ODk=");
    let knot512 = primary::knot(&mut lab, &base, 5303, Some(k512), None);
    let key = m_root_user::secondary::key::from_spec(&format!("{}:{}:{}", k512.0, k512.1, k512.2)).unwrap();
    let got = in_netns(&lab.srv_ns(), || {
        m_root_user::secondary::xfr::fetch(knot512.addr.parse().unwrap(), Some(common::SRV4.parse().unwrap()), Some(&key), None)
    });
    match got {
        Ok(m_root_user::secondary::xfr::Fetched::Zone { records, serial, ixfr }) => {
            println!("HMAC-SHA512: AXFR of serial {serial}, {} records", records.len());
            assert_eq!((serial, ixfr), (BASE, false));
        }
        Ok(_) => panic!("HMAC-SHA512: no zone"),
        Err(e) => panic!("HMAC-SHA512: {e}"),
    }

    // The primary down: retry, then expiry (8 s): SERVFAIL in userspace, the kernel passes.
    knot.stop(&mut lab);
    let down = Instant::now();
    common::wait_for("the zone to expire", 30, || stats(&control)["secondary"]["expired"] == true);
    println!("expired {:.1} s after the primary went down: {}", down.elapsed().as_secs_f64(), stats(&control)["secondary"]["last_result"]);
    let before = common::xdp_answered(&common::xdp_counters(&lab));
    let q = wire::build_query(9, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)));
    let r = in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &q)).expect("an answer");
    assert_eq!(r[3] & 0x0f, 2, "SERVFAIL once expired");
    let r = in_netns(&lab.cli_ns(), || Client::new().tcp(common::SRV4, &q)).expect("an answer over TCP");
    assert_eq!(r[3] & 0x0f, 2, "SERVFAIL over TCP too");
    assert_eq!(common::xdp_answered(&common::xdp_counters(&lab)), before, "the kernel paths answer nothing for an expired zone");
    // Back: a good edition waits in the primary's file; the zone is current again.
    std::fs::write(knot.dir.join("root.zone"), edition(&base, BASE + 7)).unwrap();
    knot.restart(&mut lab);
    common::wait_for("serial +7 after the primary is back", 30, || stats(&control)["zone.serial"] == BASE + 7);
    let s = stats(&control);
    assert_eq!(s["secondary"]["expired"], false);
    assert_eq!(in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &q)).as_deref().and_then(serial_of), Some(BASE + 7));

    // A restart with the primary down serves the cache at once.
    lab.stop(daemon);
    knot.stop(&mut lab);
    let t = Instant::now();
    let _daemon = start(&mut lab, &config, &control, "m-root-xdp-secd-2.log");
    println!("restart from the cache: serving serial {} after {:.2} s", stats(&control)["zone.serial"], t.elapsed().as_secs_f64());
    assert_eq!(stats(&control)["zone.serial"], BASE + 7);
    assert_eq!(in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &q)).as_deref().and_then(serial_of), Some(BASE + 7));

    // NSD as the other primary kind: AXFR of a newer edition when Knot is down.
    let _nsd = primary::nsd(&mut lab, &edition(&base, BASE + 8), 5302, Some(KEY), None);
    let out = std::process::Command::new(BIN).args(["reload", "--control"]).arg(&control).output().unwrap();
    println!("refresh from NSD: {}{}", String::from_utf8_lossy(&out.stdout).trim(), String::from_utf8_lossy(&out.stderr).trim());
    assert!(out.status.success());
    let s = stats(&control);
    assert_eq!(s["zone.serial"], BASE + 8);
    assert_eq!(s["secondary"]["last_transfer"]["how"], "AXFR", "{}", s["secondary"]);

    // Transfers to others: a Knot secondary of this daemon (TSIG; Knot verifies the ZONEMD itself) gets
    // the zone; kdig with the key gets every record, without it REFUSED; a source not allowed REFUSED.
    let t = Instant::now();
    let copy = primary::knot_secondary(&mut lab, 5304, "198.18.0.1@53", Some(KEY));
    println!("a Knot secondary of this daemon serves serial {:?} after {:.2} s", copy.serial(&lab), t.elapsed().as_secs_f64());
    assert_eq!(copy.serial(&lab), Some(BASE + 8));
    let axfr = |ns: &str, src: &str, key: bool| {
        let tsig = format!("{}:{}:{}", KEY.0, KEY.1, KEY.2);
        let mut args = vec!["kdig", "-b", src, "@198.18.0.1", "+tcp", "+noidn", "+time=5", "+retry=0"];
        if key {
            args.extend(["-y", &tsig]);
        }
        args.extend([".", "AXFR"]);
        let o = Lab::in_ns(ns, &args).output().expect("kdig");
        (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (out, _) = axfr(&lab.cli_ns(), common::CLI4, true);
    let records =
        out.lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty() && l.split_whitespace().nth(3) != Some("TSIG")).count();
    let zone_records =
        zonegen::Zone::from_bytes(edition(&base, BASE + 8).as_bytes(), Path::new("e"), &Default::default()).unwrap().record_count;
    println!("kdig AXFR with the key: {records} records (the zone's {zone_records} and the closing SOA)");
    assert_eq!(records, zone_records + 1);
    let (out, err) = axfr(&lab.cli_ns(), common::CLI4, false);
    assert!(format!("{out}{err}").contains("REFUSED"), "unsigned AXFR refused: {out}{err}");
    let (out, err) = axfr(&lab.srv_ns(), common::SRV4, true);
    assert!(format!("{out}{err}").contains("REFUSED"), "a source not allowed refused: [{out}] [{err}]");
    std::fs::remove_dir_all(&dir).unwrap();
}
