//! NOTIFY (RFC 1996) to the secondary, answered as an independent client sees it: dnspython
//! (tests/clients/notify_send.py) sends NOTIFY for the root over UDP and over TCP, signed and not, to
//! m-root-xdp whose `notify_from` is the client's address only, with knotd as its primary.
//!
//! From the allowed source: NOERROR with AA, the ID and the question echoed, the TSIG of the answer
//! verified by dnspython, and a refresh (the primary asked, `stats` counts it, the transport recorded).
//! From another address of the client end: REFUSED, and nothing happens (no refresh, no transfer in
//! Knot's log). Signed with a key the daemon does not have: a TSIG error, and nothing happens.

mod common;

use std::time::Duration;

use common::secondary::{self as sec, BASE, KEY, NOTIFY_ONLY, edition};
use common::{Lab, primary};

/// An address of the client end outside `notify_from`.
const STRANGER: &str = "198.18.0.9";

/// Every refresh the daemon made: each ends in one of these.
fn refreshes(s: &serde_json::Value) -> u64 {
    ["transfers", "up_to_date", "failures", "refused"].iter().map(|k| s[*k].as_u64().unwrap_or(0)).sum()
}

/// Transfers Knot served (each logs "started").
fn knot_transfers(knot: &primary::Primary) -> usize {
    knot.log().lines().filter(|l| l.contains("XFR, outgoing") && l.contains("started")).count()
}

#[test]
fn notify_answers_and_refusals_seen_by_dnspython() {
    let mut lab = Lab::up_with("secn", common::Peer::Bare);
    lab.add_v4(false, STRANGER);
    let base = sec::base();
    let dir = sec::dir(&lab);
    // No NOTIFY from Knot itself: the only ones are the test's.
    let knot = primary::knot(&mut lab, &edition(&base, BASE, NOTIFY_ONLY), 5301, Some(KEY), None);
    let (control, cache, log) = (sec::control(&lab), dir.join("cache.zone"), dir.join("daemon.log"));
    let more = format!("notify_from = [\"{}/32\"]\n", common::CLI4);
    let config = sec::config(&lab, &dir, &sec::section(&knot.addr, &cache, &more));
    let _daemon = sec::start(&mut lab, &config, &log);
    // The refresh at start is done (the zone came by AXFR; the one after finds it current).
    common::wait_for("the refresh at start", 30, || sec::sec(&control)["up_to_date"].as_u64() >= Some(1));
    let key = format!("{}:{}:{}", KEY.0, KEY.1, KEY.2);

    for (transport, signed) in [("udp", false), ("udp", true), ("tcp", false), ("tcp", true)] {
        let before = sec::sec(&control);
        let r = sec::dnspython_notify(&lab, common::CLI4, transport, signed.then_some(key.as_str()));
        println!("NOTIFY from {} over {transport}{}: {r}", common::CLI4, if signed { ", signed" } else { "" });
        assert_eq!(r["rcode"], "NOERROR", "{r}");
        assert_eq!(r["opcode"], "NOTIFY", "{r}");
        assert_eq!((r["qr"].clone(), r["aa"].clone(), r["id_matches"].clone()), (true.into(), true.into(), true.into()), "{r}");
        assert_eq!(r["question"], serde_json::json!([[".", "SOA"]]), "the question echoed: {r}");
        assert_eq!(r["tsig"], if signed { "verified" } else { "none" }, "{r}");
        // Acted on: a refresh (the zone is current, so "up to date"), the NOTIFY's transport recorded.
        common::wait_for("the refresh the NOTIFY asked for", 10, || refreshes(&sec::sec(&control)) > refreshes(&before));
        let s = sec::sec(&control);
        assert_eq!(s["notifies"].as_u64(), before["notifies"].as_u64().map(|n| n + 1), "{s}");
        assert_eq!(s["last_notify"]["transport"], transport.to_uppercase(), "{s}");
        assert_eq!(s["last_notify"]["tsig"], signed, "{s}");
    }

    // From outside notify_from (UDP and TCP), and signed with a key the daemon does not know: not
    // acted on. Nothing may happen within two seconds (a refresh starts within milliseconds).
    let other_key = "hmac-sha256:other-key:b3RoZXIta2V5LW5vdC10aGUtZGFlbW9ucy0wMTIzNDU=";
    let cases: [(&str, &str, Option<&str>); 3] = [(STRANGER, "udp", None), (STRANGER, "tcp", None), (common::CLI4, "udp", Some(other_key))];
    for (source, transport, key) in cases {
        let (before, transfers) = (sec::sec(&control), knot_transfers(&knot));
        let r = sec::dnspython_notify(&lab, source, transport, key);
        println!("NOTIFY from {source} over {transport}{}: {r}", if key.is_some() { " with another key" } else { "" });
        match key {
            None => {
                assert_eq!(r["rcode"], "REFUSED", "{r}");
                assert_eq!(r["question"], serde_json::json!([[".", "SOA"]]), "{r}");
            }
            // dnspython cannot verify the answer (the daemon does not have the key): the error says so.
            Some(_) => assert!(r["error"].as_str().is_some_and(|e| e.contains("Key") || e.contains("TSIG")), "{r}"),
        }
        std::thread::sleep(Duration::from_secs(2));
        let s = sec::sec(&control);
        assert_eq!(refreshes(&s), refreshes(&before), "no refresh: {s}");
        assert_eq!(s["notifies"], before["notifies"], "{s}");
        assert_eq!(s["notifies_refused"].as_u64(), before["notifies_refused"].as_u64().map(|n| n + 1), "{s}");
        assert_eq!(knot_transfers(&knot), transfers, "no transfer asked of Knot");
    }
    let text = sec::read(&log);
    assert!(text.contains(&format!("NOTIFY from {STRANGER} over UDP, not in notify_from: REFUSED")), "{text}");
    assert!(text.contains("fails TSIG"), "{text}");
    drop(knot);
    std::fs::remove_dir_all(&dir).unwrap();
}
