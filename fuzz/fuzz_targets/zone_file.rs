//! Any bytes as a zone file: the reader returns a zone or a clean error, never panics, and neither hangs
//! nor grows without bound (libFuzzer's -timeout and -rss_limit_mb catch those). Both load options run on
//! every input, and must agree: skipping ZONEMD verification can only turn a refusal into a zone, never the
//! other way. A zone that loads is one the server would serve, so it must also compile into the XDP table
//! and answer its apex and each TLD without panicking.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zonegen::answer::{self, Transport};
use zonegen::{LoadOptions, ServerConfig, Zone, rr, wire};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.zone");
    let verified = Zone::from_bytes(data, path, &LoadOptions { no_zonemd: false });
    let unverified = Zone::from_bytes(data, path, &LoadOptions { no_zonemd: true });
    let zone = match (verified, unverified) {
        (Ok(v), Ok(u)) => {
            assert_eq!((v.serial, v.record_count, &v.tlds), (u.serial, u.record_count, &u.tlds), "the options read the same zone");
            v
        }
        // The ZONEMD check is the only difference: a mismatch refuses the verified load alone.
        (Err(e), Ok(u)) => {
            assert!(e.to_string().contains("ZONEMD"), "refused only when verifying, but not for ZONEMD: {e}");
            u
        }
        (Ok(_), Err(e)) => panic!("loads with ZONEMD verification, refused without: {e}"),
        (Err(_), Err(_)) => return,
    };
    // Small zones only reach here (libFuzzer's -max_len), so the whole table compiles quickly.
    let _ = zonegen::compile(&zone);
    let cfg = ServerConfig { chaos: true, identity: Some("fuzz".into()), version: None, nsid: true };
    // The apex, a missing TLD (NXDOMAIN and its proof), and for a few TLDs the DS at the cut and a referral.
    let mut asked: Vec<(Vec<u8>, u16)> = [rr::SOA, rr::NS, rr::DNSKEY, rr::ZONEMD, rr::A].iter().map(|&t| (b"\0".to_vec(), t)).collect();
    asked.push((b"\x0bzz--missing\0".to_vec(), rr::A));
    for tld in zone.tlds.iter().take(8) {
        asked.push((tld.clone(), rr::DS));
        asked.push(([b"\x03www".as_slice(), tld].concat(), rr::A));
    }
    for (qname, qtype) in asked {
        for dnssec in [false, true] {
            let q = wire::build_query(1, 0, &qname, qtype, rr::CLASS_IN, Some((1232, dnssec)));
            for transport in [Transport::Udp, Transport::Tcp] {
                assert!(answer::answer(&zone, &cfg, &q, transport).is_some(), "a well-formed query is answered");
            }
        }
    }
});
