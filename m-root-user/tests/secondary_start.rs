//! A secondary started with no cache, no zone file and no primary reachable: it says so, serves nothing,
//! and keeps trying; SIGTERM during that wait stops it at once and cleanly (exit 0, "stopped" in the
//! log); started again the same way, it serves once the primary (knotd) comes up.

mod common;

use std::time::{Duration, Instant};

use common::secondary::{self as sec, BASE, KEY, NOTIFY_ONLY, edition};
use common::{Lab, primary};

/// The daemon's tries that found no primary, as its log counts them.
fn tries(log: &std::path::Path) -> usize {
    sec::read(log).lines().filter(|l| l.contains("no primary gave the zone")).count()
}

#[test]
fn no_cache_no_primary_waits_stops_and_then_serves() {
    let mut lab = Lab::up_with("secs", common::Peer::Bare);
    let dir = sec::dir(&lab);
    let control = sec::control(&lab);
    let primary_addr = format!("{}:5301", common::CLI4);
    let cache = dir.join("cache.zone");
    let config = sec::config(&lab, &dir, &sec::section(&primary_addr, &cache, ""));

    // Nothing to serve, nobody to ask: it says so and keeps trying; SIGTERM ends the wait.
    let log = dir.join("daemon-waiting.log");
    let daemon = sec::spawn(&mut lab, &config, &log);
    common::wait_for("two tries that found no primary", 30, || tries(&log) >= 2);
    let text = sec::read(&log);
    println!("{}", text.lines().filter(|l| l.contains("secondary")).collect::<Vec<_>>().join("\n"));
    assert!(text.contains("not serving yet"), "{text}");
    assert!(m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_err(), "no control socket while waiting");
    let t = Instant::now();
    let status = lab.stop_status(daemon);
    println!("SIGTERM while waiting: {status:?} after {:.2} s", t.elapsed().as_secs_f64());
    assert!(status.is_some_and(|s| s.success()), "SIGTERM stops the waiting daemon, exit 0: {status:?}\n{}", sec::read(&log));
    assert!(sec::read(&log).contains("stopped before any primary gave the zone"), "{}", sec::read(&log));

    // Again, and the primary comes up meanwhile: the daemon serves its zone.
    let log = dir.join("daemon.log");
    let t = Instant::now();
    let _daemon = sec::spawn(&mut lab, &config, &log);
    common::wait_for("a try that found no primary", 30, || tries(&log) >= 1);
    let knot = primary::knot(&mut lab, &edition(&sec::base(), BASE, NOTIFY_ONLY), 5301, Some(KEY), None);
    let up = t.elapsed().as_secs_f64();
    common::wait_for("the daemon serving", 60, || m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok());
    let s = sec::stats(&control);
    println!(
        "primary up {up:.1} s after the start, zone served {:.1} s after the start, {} tries: {}",
        t.elapsed().as_secs_f64(),
        tries(&log),
        s["secondary"]["last_transfer"]
    );
    assert_eq!(s["zone.serial"], BASE);
    assert_eq!(s["secondary"]["last_transfer"]["trigger"], "start", "{}", s["secondary"]);
    assert_eq!(sec::served_serial(&lab), Some(BASE));
    assert!(cache.exists(), "the cache written");
    drop(knot);
    std::fs::remove_dir_all(&dir).unwrap();
}
