//! An RSSAC047-style probe of the product as deployed by default (`auto`, a bare peer on the far end of
//! the veth): dnspython (tests/clients/rssac047_probe.py, an independent client and validator) asks
//! with DO=1 and an EDNS buffer of 1220, over UDP and TCP, IPv4 and IPv6, `. SOA`, `. DNSKEY`, `. NS`,
//! `<tld> NS` and `<tld> DS` for a seeded sample of TLDs, and random names; every response must arrive,
//! match the zone file, and validate from the trust anchor in the repo, with the validator's clock
//! inside the zone's signature window (RSSAC047's availability and correctness measurements).
//!
//! Needs root, iproute2 and the venv scripts/setup.sh makes (dnspython with cryptography).

mod common;

use common::{Lab, Peer};
use zonegen::{LoadOptions, Zone, rr};

const PYTHON: &str = "/opt/m-root-xdp/venv/bin/python3";

/// A clock inside every signature's validity: midway between the latest inception and the earliest
/// expiration over the zone's RRSIGs (RFC 4034 3.1: expiration at rdata octets 8..12, inception 12..16).
fn inside_signature_window(zone: &Zone) -> u64 {
    let (mut latest_inception, mut earliest_expiration) = (0u32, u32::MAX);
    for node in zone.nodes() {
        for set in &node.rrsets {
            for sig in &set.sigs {
                let word = |at: usize| u32::from_be_bytes([sig[at], sig[at + 1], sig[at + 2], sig[at + 3]]);
                earliest_expiration = earliest_expiration.min(word(8));
                latest_inception = latest_inception.max(word(12));
            }
        }
    }
    assert!(latest_inception < earliest_expiration, "the bundled zone's signatures share a window");
    (latest_inception as u64 + earliest_expiration as u64) / 2
}

#[test]
fn rssac047_probe_answers_and_validates_over_every_transport_and_family() {
    let zone = Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap();
    assert!(zone.signed && zone.rrset(zonegen::name::ROOT, rr::DNSKEY).is_some());
    let now = inside_signature_window(&zone);
    let mut lab = Lab::up_with("mrxp", Peer::Bare);
    let (_pid, control) = common::start_daemon(&mut lab, &[common::SRV4, common::SRV6]);
    let root = common::root_dir();
    let probe = root.join("m-root-user/tests/clients/rssac047_probe.py");
    let zone_file = common::bundled_zone();
    let anchor = root.join("zones/root.key.debian-2024071801");
    let now = now.to_string();
    let args = [
        PYTHON,
        probe.to_str().unwrap(),
        "--server4",
        common::SRV4,
        "--server6",
        common::SRV6,
        "--zone",
        zone_file.to_str().unwrap(),
        "--anchor",
        anchor.to_str().unwrap(),
        "--now",
        &now,
        "--tlds",
        "40",
        "--random",
        "20",
    ];
    let out = Lab::in_ns(&lab.cli_ns(), &args).output().expect("running the probe");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "the probe failed:\n{text}");
    let last = text.lines().rev().find(|l| l.starts_with("rssac047:")).expect("the probe's summary line");
    assert!(last.ends_with(" 0 failed") && !last.contains(" 0 passed"), "{last}");
    // The kernel answered the probe's UDP referrals and denials (TC here: `auto` runs TC alone on veth).
    let s = common::daemon_stats(&control);
    assert!(m_root_user::dataplane::answered_by(&s, m_root_common::Hook::Tc) > 0, "{s}");
    assert_eq!(m_root_user::dataplane::answered_by(&s, m_root_common::Hook::Xdp), 0, "auto on veth sends nothing by XDP_TX: {s}");
}
