//! The secondary mode against a real primary, as deployed: knotd (TSIG, NOTIFY, IXFR from zone-file
//! differences) in the lab's client namespace, m-root-xdp with no zone file and `[secondary]` on the
//! server end, transferring from a unicast `source` of its own, queries from the client end to the kernel
//! paths (bare peer, default mode) and userspace.
//!
//! In order: the first zone by AXFR from `source` (Knot's ACL allows only that address, and its log
//! names it); four editions (the com. NS set changed, ZONEMD recomputed, SOA refresh an hour so no timer
//! can fetch them) each arriving by IXFR after Knot's NOTIFY (over TCP) and answered by the kernel
//! (socket-sent frames: TC alone on this bare veth) with the new delegation, the trigger recorded as "notify", and the
//! publication latency from the NOTIFY's arrival to the kernel serving printed; then three more
//! editions while `reload` and `reload --force` (a whole AXFR switched in) are sent over the control
//! socket without pause; all under two query streams that lose nothing and never go back a serial;
//! last, an edition whose ZONEMD does not verify is refused and the old serial keeps serving.
//! The timers, the keys, NOTIFY's answers and the start without a primary have files of their own
//! (secondary_*.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::secondary::{self as sec, BASE, KEY, NOTIFY_ONLY, NOTIFY_TO, edition};
use common::{Lab, primary};

/// The daemon's unicast address for transfers, beside the service address on the same interface.
const SOURCE: &str = "198.18.0.11";

#[test]
fn notify_driven_ixfr_under_load_with_reloads() {
    let mut lab = Lab::up_with("secd", common::Peer::Bare);
    lab.add_v4(true, SOURCE);
    let base = sec::base();
    let dir = sec::dir(&lab);
    let knot = primary::knot_allowing(&mut lab, &edition(&base, BASE, NOTIFY_ONLY), 5301, Some(KEY), Some(NOTIFY_TO), SOURCE);
    let (control, cache, log) = (sec::control(&lab), dir.join("cache.zone"), dir.join("daemon.log"));
    let config = sec::config(&lab, &dir, &sec::section(&knot.addr, &cache, &format!("source = \"{SOURCE}\"\n")));
    let t = Instant::now();
    let _daemon = sec::start(&mut lab, &config, &log);
    let s = sec::stats(&control);
    println!("first zone by AXFR and serving in {:.2} s: {}", t.elapsed().as_secs_f64(), s["secondary"]["last_transfer"]);
    assert_eq!(s["zone.serial"], BASE);
    assert_eq!(s["secondary"]["last_transfer"]["trigger"], "start", "{}", s["secondary"]);
    assert_eq!(s["secondary"]["refresh_s"], 3600);
    assert!(cache.exists(), "the cache written");

    // `source`: Knot transfers only to SOURCE (its ACL) and logs the remote of each transfer.
    let xfr_lines: Vec<String> = knot.log().lines().filter(|l| l.contains("XFR, outgoing")).map(String::from).collect();
    println!("Knot: {}", xfr_lines.first().map_or("", |l| l.as_str()));
    assert!(!xfr_lines.is_empty() && xfr_lines.iter().all(|l| l.contains(&format!("remote {SOURCE}@"))), "{xfr_lines:#?}");
    let tsig = format!("{}:{}:{}", KEY.0, KEY.1, KEY.2);
    let at = format!("@{}", common::CLI4);
    let kdig = |src: &str| {
        let args = ["kdig", "-b", src, &at, "-p", "5301", "-y", &tsig, "+tcp", "+time=3", "+retry=0", ".", "AXFR"];
        let o = Lab::in_ns(&lab.srv_ns(), &args).output().expect("kdig");
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    // The ACL matters: the same request from the service address is denied (Knot 3.2 says BADKEY: the
    // key is not one it allows from there), from SOURCE it is served.
    let other = kdig(common::SRV4);
    assert!(["REFUSED", "NOTAUTH", "BADKEY"].iter().any(|e| other.contains(e)), "the ACL denies the service address: {other}");
    assert!(kdig(SOURCE).contains(" records)"), "the ACL allows SOURCE");

    let stop = Arc::new(AtomicBool::new(false));
    let streams = [sec::stream(&lab, false, stop.clone()), sec::stream(&lab, true, stop.clone())];

    // Four editions by IXFR after NOTIFY: nothing else can fetch them (refresh an hour, no reload).
    let mut latencies = Vec::new();
    for serial in BASE + 1..=BASE + 4 {
        let t = Instant::now();
        knot.publish(&lab, &edition(&base, serial, NOTIFY_ONLY));
        common::wait_for(&format!("serial {serial} served"), 30, || sec::stats(&control)["zone.serial"] == serial);
        let s = sec::sec(&control);
        let lat = s["last_transfer"]["latency_ms"].as_f64().expect("a latency");
        println!(
            "serial {serial}: by {}, trigger {}, {lat:.0} ms from the NOTIFY's arrival to the kernel serving it ({:.0} ms from publishing)",
            s["last_transfer"]["how"],
            s["last_transfer"]["trigger"],
            t.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(s["last_transfer"]["how"], "IXFR", "serial {serial}: {s}");
        assert_eq!(s["last_transfer"]["trigger"], "notify", "serial {serial}: {s}");
        assert_eq!(s["last_notify"]["transport"], "TCP", "Knot 3.2 sends NOTIFY over TCP: {s}");
        assert_eq!(s["last_notify"]["tsig"], true, "{s}");
        latencies.push(lat);
        sec::kernel_has(&lab, serial);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "publication latency, NOTIFY arrival -> kernel serving: {:.0} / {:.0} / {:.0} ms (min / median / max of {})",
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        latencies.len()
    );

    // Three more while reloads come one after another over the control socket: `reload` (a refresh:
    // IXFR or "current") and `reload --force` (AXFR of the whole zone, switched in at any serial).
    let reloading = Arc::new(AtomicBool::new(true));
    let reloader = {
        let (reloading, control) = (reloading.clone(), control.clone());
        std::thread::spawn(move || {
            let mut done: Vec<(bool, bool, String)> = Vec::new();
            while reloading.load(Ordering::Relaxed) {
                let force = done.len() % 2 == 1;
                let (ok, out) = sec::reload(&control, force);
                done.push((force, ok, out));
                std::thread::sleep(Duration::from_millis(100));
            }
            done
        })
    };
    for serial in BASE + 5..=BASE + 7 {
        knot.publish(&lab, &edition(&base, serial, NOTIFY_ONLY));
        common::wait_for(&format!("serial {serial} served amid reloads"), 60, || sec::stats(&control)["zone.serial"] == serial);
        println!("serial {serial} amid reloads: {}", sec::sec(&control)["last_transfer"]);
        sec::delegation_has(&lab, serial);
    }
    // At least two forced ones after the last edition: switches of the zone served, still under load.
    let forced_before = sec::stats(&control)["reloads.ok"].as_u64().unwrap_or(0);
    common::wait_for("two more switches", 60, || sec::stats(&control)["reloads.ok"].as_u64().unwrap_or(0) >= forced_before + 2);
    reloading.store(false, Ordering::Relaxed);
    let done = reloader.join().unwrap();
    let forced = done.iter().filter(|(f, ..)| *f).count();
    println!("reloads sent: {} ({forced} forced), e.g. {:?}", done.len(), done.iter().rev().find(|(f, ..)| *f).map(|d| &d.2));
    for (force, ok, out) in &done {
        assert!(ok, "reload{} failed: {out}", if *force { " --force" } else { "" });
    }
    assert!(forced >= 3, "forced reloads interleaved with the transfers: {forced}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for (what, h) in ["UDP (TC)", "TCP (userspace)"].iter().zip(streams) {
        let seen = h.join().unwrap();
        seen.check(what);
        assert_eq!(seen.serials.last().copied(), Some(BASE + 7), "{what}");
    }
    let kernel = common::xdp_answered(&common::xdp_counters(&lab));
    assert!(kernel > 100, "the kernel paths answered the stream ({kernel})");
    let s = sec::stats(&control);
    println!("reloads switched in {}, refused {}; {}", s["reloads.ok"], s["reloads.failed"], s["secondary"]);

    // A ZONEMD that does not verify: refused, the old serial serves.
    knot.publish(&lab, &primary::bad_zonemd(&edition(&base, BASE + 8, NOTIFY_ONLY)));
    // The refresh ends (failures and last_result change together) after the IXFR and then an AXFR of it
    // are refused.
    common::wait_for("the bad edition refused", 30, || sec::sec(&control)["failures"].as_u64() >= Some(1));
    assert_eq!(sec::sec(&control)["refused"], 2, "the IXFR and the AXFR of it refused");
    let s = sec::stats(&control);
    println!("bad ZONEMD: {}", s["secondary"]["last_result"]);
    assert_eq!(s["zone.serial"], BASE + 7);
    assert!(s["secondary"]["last_result"].as_str().unwrap().contains("ZONEMD"), "{}", s["secondary"]);
    assert_eq!(sec::served_serial(&lab), Some(BASE + 7));
    let (ok, out) = sec::reload(&control, false);
    assert!(!ok, "reload (a refresh now) reports the refusal: {out}");
    drop(knot);
    std::fs::remove_dir_all(&dir).unwrap();
}
