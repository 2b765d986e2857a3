//! The secondary's SOA timers and what outlives a primary: knotd with an edition whose refresh, retry and
//! expire are seconds (4, 1, 10), m-root-xdp on the lab's server end.
//!
//! In order: the primary goes down; the refresh fails and is retried at the retry interval (each failure
//! counted in `stats`, a second apart, not at the refresh interval), then the zone expires (SERVFAIL
//! over UDP and TCP, the kernel paths answer nothing, `stats` says expired); a `reload --zone` of a
//! file while expired serves that file and the secondary holds it (no longer expired, its serial);
//! the primary back, the zone is current again; a restart with the primary down serves the cache at
//! once; NSD as the second primary kind, whose NOTIFY comes over UDP and brings an AXFR; and transfers
//! out (`[transfer]`): a Knot secondary of the daemon gets the zone (TSIG, its own ZONEMD check), kdig
//! too, an unsigned request and another source are REFUSED.

mod common;

use std::path::Path;
use std::time::Instant;

use common::secondary::{self as sec, BASE, KEY, NOTIFY_ONLY, NOTIFY_TO, SECONDS, edition};
use common::{Client, Lab, in_netns, primary};

#[test]
fn retry_expiry_cache_nsd_and_transfers_out() {
    let mut lab = Lab::up_with("sect", common::Peer::Bare);
    let base = sec::base();
    let dir = sec::dir(&lab);
    let mut knot = primary::knot(&mut lab, &edition(&base, BASE, SECONDS), 5301, Some(KEY), Some(NOTIFY_TO));
    let (control, cache) = (sec::control(&lab), dir.join("cache.zone"));
    let primaries = format!("{}\", \"{}:5302", knot.addr, common::CLI4);
    let more = format!("[transfer]\nallow = [\"{}/32\"]\ntsig_key = \"{}:{}:{}\"\n", common::CLI4, KEY.0, KEY.1, KEY.2);
    let config = sec::config(&lab, &dir, &sec::section(&primaries, &cache, &more));
    let daemon = sec::start(&mut lab, &config, &dir.join("daemon.log"));
    assert_eq!(sec::stats(&control)["zone.serial"], BASE);
    assert_eq!((sec::sec(&control)["refresh_s"].as_u64(), sec::sec(&control)["retry_s"].as_u64()), (Some(4), Some(1)));

    // The primary down: failures counted at the retry interval, then expiry.
    knot.stop(&mut lab);
    let down = Instant::now();
    let mut failures: Vec<(f64, u64)> = Vec::new();
    common::wait_for("the zone to expire", 30, || {
        let s = sec::sec(&control);
        let n = s["failures"].as_u64().unwrap_or(0);
        if n > failures.last().map_or(0, |f| f.1) {
            failures.push((down.elapsed().as_secs_f64(), n));
            assert!(s["next_refresh_s"].as_u64() <= s["retry_s"].as_u64(), "after a failure the next try is at retry: {s}");
        }
        s["expired"] == true
    });
    let expired_at = down.elapsed().as_secs_f64();
    let at: Vec<String> = failures.iter().map(|(t, n)| format!("{n}@{t:.1}s")).collect();
    println!("failures after the primary went down: {}; expired at {expired_at:.1} s", at.join(" "));
    let before_expiry: Vec<f64> = failures.iter().filter(|f| f.0 < expired_at).map(|f| f.0).collect();
    assert!(before_expiry.len() >= 3, "retries before expiry: {at:?}");
    for w in before_expiry.windows(2) {
        let gap = w[1] - w[0];
        // The retry timer (1 s), not the refresh (4 s); never a loop (a poll of 0.1 s sees each one).
        assert!((0.8..3.5).contains(&gap), "failures {gap:.1} s apart: {at:?}");
    }
    let last = sec::sec(&control)["last_result"].clone();
    assert!(last.as_str().is_some_and(|r| r.starts_with("failed (timer)") && r.contains("connecting")), "{last}");
    let before = common::xdp_answered(&common::xdp_counters(&lab));
    let q = sec::soa_query(9);
    let r = in_netns(&lab.cli_ns(), || Client::new().udp(common::SRV4, &q)).expect("an answer");
    assert_eq!(r[3] & 0x0f, 2, "SERVFAIL once expired");
    let r = in_netns(&lab.cli_ns(), || Client::new().tcp(common::SRV4, &q)).expect("an answer over TCP");
    assert_eq!(r[3] & 0x0f, 2, "SERVFAIL over TCP too");
    assert_eq!(common::xdp_answered(&common::xdp_counters(&lab)), before, "the kernel paths answer nothing for an expired zone");

    // A file loaded while expired is served, and the secondary holds it: not expired, its serial.
    let file = dir.join("operator.zone");
    std::fs::write(&file, edition(&base, BASE + 1, SECONDS)).unwrap();
    let out =
        std::process::Command::new(common::BIN).args(["reload", "--control"]).arg(&control).arg("--zone").arg(&file).output().unwrap();
    println!("reload --zone while expired: {}", String::from_utf8_lossy(&out.stdout).trim());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = sec::sec(&control);
    assert_eq!((s["expired"].clone(), s["serial"].clone()), (false.into(), (BASE + 1).into()), "{s}");
    assert_eq!(sec::served_serial(&lab), Some(BASE + 1));
    sec::kernel_has(&lab, BASE + 1);

    // Back: a newer edition waits in the primary's file; the refresh timer brings it.
    std::fs::write(knot.dir.join("root.zone"), edition(&base, BASE + 2, SECONDS)).unwrap();
    knot.restart(&mut lab);
    common::wait_for("serial +2 after the primary is back", 30, || sec::stats(&control)["zone.serial"] == BASE + 2);
    assert_eq!(sec::sec(&control)["expired"], false);
    assert_eq!(sec::served_serial(&lab), Some(BASE + 2));

    // A restart with the primary down serves the cache at once.
    lab.stop(daemon);
    knot.stop(&mut lab);
    let t = Instant::now();
    let _daemon = sec::start(&mut lab, &config, &dir.join("daemon-2.log"));
    println!("restart from the cache: serving serial {} after {:.2} s", sec::stats(&control)["zone.serial"], t.elapsed().as_secs_f64());
    assert_eq!(sec::served_serial(&lab), Some(BASE + 2));

    // NSD, the second primary, sends NOTIFY over UDP: an edition with an hour's refresh first (by the
    // timer or a NOTIFY), then the next one, which only its NOTIFY can bring.
    let nsd = primary::nsd(&mut lab, &edition(&base, BASE + 3, NOTIFY_ONLY), 5302, Some(KEY), Some(common::SRV4));
    common::wait_for("serial +3 from NSD", 30, || sec::stats(&control)["zone.serial"] == BASE + 3);
    nsd.publish(&lab, &edition(&base, BASE + 4, NOTIFY_ONLY));
    common::wait_for("serial +4 after NSD's NOTIFY", 30, || sec::stats(&control)["zone.serial"] == BASE + 4);
    let s = sec::sec(&control);
    println!("from NSD: {} after {}", s["last_transfer"], s["last_notify"]);
    assert_eq!(s["last_notify"]["transport"], "UDP", "{s}");
    assert_eq!(s["last_notify"]["tsig"], true, "{s}");
    assert_eq!(s["last_transfer"]["trigger"], "notify", "{s}");
    assert_eq!(s["last_transfer"]["primary"], format!("{}:5302", common::CLI4), "{s}");
    assert_eq!(s["last_transfer"]["how"], "AXFR", "NSD 4.6 answers IXFR with the whole zone: {s}");
    sec::kernel_has(&lab, BASE + 4);

    // Transfers to others: a Knot secondary of this daemon (TSIG; Knot verifies the ZONEMD itself) gets
    // the zone; kdig with the key gets every record, without it REFUSED; a source not allowed REFUSED.
    let t = Instant::now();
    let copy = primary::knot_secondary(&mut lab, 5304, NOTIFY_TO, Some(KEY));
    println!("a Knot secondary of this daemon serves serial {:?} after {:.2} s", copy.serial(&lab), t.elapsed().as_secs_f64());
    assert_eq!(copy.serial(&lab), Some(BASE + 4));
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
    let zone_records = zonegen::Zone::from_bytes(edition(&base, BASE + 4, NOTIFY_ONLY).as_bytes(), Path::new("e"), &Default::default())
        .unwrap()
        .record_count;
    println!("kdig AXFR with the key: {records} records (the zone's {zone_records} and the closing SOA)");
    assert_eq!(records, zone_records + 1);
    let (out, err) = axfr(&lab.cli_ns(), common::CLI4, false);
    assert!(format!("{out}{err}").contains("REFUSED"), "unsigned AXFR refused: {out}{err}");
    let (out, err) = axfr(&lab.srv_ns(), common::SRV4, true);
    assert!(format!("{out}{err}").contains("REFUSED"), "a source not allowed refused: [{out}] [{err}]");
    drop((knot, nsd, copy));
    std::fs::remove_dir_all(&dir).unwrap();
}
