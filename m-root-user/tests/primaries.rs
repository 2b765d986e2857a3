//! The primaries the secondary-mode tests transfer from (tests/common/primary.rs), checked with tools of
//! their own only: kdig from the server end (198.18.0.1) and UDP and TCP sockets there that catch NOTIFY.
//!
//! - Knot with a TSIG key: AXFR with the key is the whole bundled zone (its ZONEMD verifies after the
//!   transfer), a wrong key and no key are refused; a new edition (serial + 1, one com. name server
//!   swapped) is NOTIFYed with the key and served as an IXFR of a few records; after a restart the IXFR
//!   still is; an edition with a bad ZONEMD is served as it is.
//! - NSD with the key: the same AXFR, the same refusals, a new edition picked up and NOTIFYed; then NSD
//!   and Knot without a key transfer unsigned.

mod common;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::primary::{self, Key, Primary};
use common::{Lab, SRV4, in_netns};
use zonegen::{LoadOptions, Zone, rr};

const BASE: u32 = 2026073102;
const KEY: Key = ("hmac-sha256", "xfr-key", "c2VjcmV0LWZvci10aGUtbGFiLXRyYW5zZmVycy0wMDE=");
const WRONG: &str = "YW5vdGhlci1zZWNyZXQtbm90LXRoZS1yaWdodC1vbmU=";
const NOTIFY_TO: &str = "198.18.0.1@53";
const TSIG: u16 = 250;

/// What one kdig run gave: exit success, stdout, stderr, time taken.
struct Kdig {
    ok: bool,
    out: String,
    err: String,
    took: Duration,
}

impl Kdig {
    /// The records printed, TSIG left out (kdig prints one per message).
    fn records(&self) -> Vec<&str> {
        self.out.lines().filter(|l| !l.is_empty() && !l.starts_with(';') && l.split_whitespace().nth(3) != Some("TSIG")).collect()
    }
}

/// kdig from the server end to the primary, over TCP, signed with `secret` under KEY's name when given.
fn kdig(lab: &Lab, p: &Primary, secret: Option<&str>, query: &[&str]) -> Kdig {
    let (host, port) = p.addr.split_once(':').unwrap();
    let at = format!("@{host}");
    let tsig = secret.map(|s| format!("{}:{}:{s}", KEY.0, KEY.1));
    let mut args = vec!["kdig", "-b", SRV4, &at, "-p", port, "+tcp", "+noidn", "+time=5", "+retry=0"];
    if let Some(t) = &tsig {
        args.extend(["-y", t]);
    }
    args.extend(query);
    let t = Instant::now();
    let o = Lab::in_ns(&lab.srv_ns(), &args).output().expect("kdig");
    Kdig {
        ok: o.status.success(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
        took: t.elapsed(),
    }
}

/// An AXFR's records as a zone file (without the closing SOA), loaded and verified (ZONEMD) by zonegen.
fn transferred(x: &Kdig) -> Result<Zone, zonegen::zone::ZoneError> {
    let recs = x.records();
    let text = recs[..recs.len() - 1].join("\n") + "\n";
    Zone::from_bytes(text.as_bytes(), std::path::Path::new("axfr"), &LoadOptions::default())
}

/// Transfers without the key and with a wrong one fail, with the refusal `why` names.
fn refused(lab: &Lab, p: &Primary, no_key: &[&str]) {
    let wrong = kdig(lab, p, Some(WRONG), &[".", "AXFR"]);
    assert!(!wrong.ok && wrong.records().is_empty(), "AXFR with a wrong key: {}{}", wrong.out, wrong.err);
    assert!(wrong.err.contains("BADSIG") || wrong.err.contains("NOTAUTH"), "wrong key: {}", wrong.err);
    let none = kdig(lab, p, None, &[".", "AXFR"]);
    assert!(!none.ok && none.records().is_empty(), "AXFR without a key: {}{}", none.out, none.err);
    assert!(no_key.iter().any(|w| none.err.contains(w)), "no key: {}", none.err);
    println!("{:?}: wrong key -> {}; no key -> {}", p.kind, last_error(&wrong), last_error(&none));
}

fn last_error(x: &Kdig) -> &str {
    x.err.lines().find(|l| l.contains("replied with error")).unwrap_or("(no error line)")
}

/// Sockets on the server end where the primaries send NOTIFY: UDP (NSD) and TCP (Knot 3.2 sends it over
/// TCP only). Neither answers: the primary retries, which does not matter here.
struct Catcher {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl Catcher {
    fn new(lab: &Lab) -> Catcher {
        in_netns(&lab.srv_ns(), || {
            let udp = UdpSocket::bind((SRV4, 53)).expect("bind UDP 198.18.0.1:53 in the server namespace");
            let tcp = TcpListener::bind((SRV4, 53)).expect("bind TCP 198.18.0.1:53 in the server namespace");
            udp.set_nonblocking(true).unwrap();
            tcp.set_nonblocking(true).unwrap();
            Catcher { udp, tcp }
        })
    }

    /// The next message that arrives on either, with its transport.
    fn next(&self) -> Option<(Vec<u8>, &'static str)> {
        let mut buf = vec![0u8; 65535];
        if let Ok((n, _)) = self.udp.recv_from(&mut buf) {
            return Some((buf[..n].to_vec(), "UDP"));
        }
        let (mut s, _) = self.tcp.accept().ok()?;
        s.set_nonblocking(false).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut msg).ok()?;
        Some((msg, "TCP"))
    }

    /// Wait up to `secs` for a NOTIFY carrying SOA serial `serial`; returns (TSIG-signed, transport).
    fn notify_for(&self, serial: u32, secs: u64) -> Option<(bool, &'static str)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let Some((msg, how)) = self.next() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let Some(m) = zonegen::testkit::print::decode(&msg) else { continue };
            let soa = m.sections[0].iter().find(|r| r.rtype == rr::SOA);
            let got = soa.and_then(|r| zonegen::zone::soa_fields(&r.rdata)).map(|(s, _)| s);
            if (m.flags >> 11) & 0xf == 4 && got == Some(serial) {
                return Some((m.sections[2].iter().any(|r| r.rtype == TSIG), how));
            }
        }
        None
    }
}

fn bundled() -> (String, usize) {
    let text = std::fs::read_to_string(common::bundled_zone()).unwrap();
    let zone = Zone::from_bytes(text.as_bytes(), &common::bundled_zone(), &LoadOptions::default()).unwrap();
    (text, zone.record_count)
}

/// AXFR with the key: every record of the zone plus the closing SOA, and the ZONEMD still verifies.
fn full_axfr(lab: &Lab, p: &Primary, count: usize) {
    let x = kdig(lab, p, Some(KEY.2), &[".", "AXFR"]);
    assert!(x.ok, "AXFR with the key: {}", x.err);
    assert_eq!(x.records().len(), count + 1, "AXFR records (the zone's {count} and the closing SOA)");
    let z = transferred(&x).unwrap_or_else(|e| panic!("the transferred zone: {e}"));
    assert_eq!(z.record_count, count);
    println!("{:?}: AXFR {} records in {:.0} ms, ZONEMD {}", p.kind, x.records().len(), x.took.as_secs_f64() * 1e3, z.zonemd);
}

#[test]
fn knot_serves_axfr_ixfr_and_notify_with_tsig() {
    let (text, count) = bundled();
    let mut lab = Lab::up("prmk");
    let catcher = Catcher::new(&lab);
    let t = Instant::now();
    let mut knot = primary::knot(&mut lab, &text, 5301, Some(KEY), Some(NOTIFY_TO));
    println!("knot up in {:.0} ms ({})", t.elapsed().as_secs_f64() * 1e3, knot.dir.display());
    assert_eq!(knot.serial(&lab), Some(BASE));
    full_axfr(&lab, &knot, count);
    refused(&lab, &knot, &["NOTAUTH", "REFUSED"]);
    // Knot NOTIFYs at start too, and its zone events run one at a time: until that NOTIFY is read (and its
    // connection closed) or times out (5 s), a reload waits behind it.
    let (signed, how) = catcher.notify_for(BASE, 10).expect("a NOTIFY at start");
    println!("knot: NOTIFY for {BASE} at start over {how}, TSIG-signed {signed}");

    let t = Instant::now();
    let next = primary::edition(&text, BASE + 1, true);
    println!("edition {} made in {:.0} ms", BASE + 1, t.elapsed().as_secs_f64() * 1e3);
    let z = Zone::from_bytes(next.as_bytes(), std::path::Path::new("edition"), &LoadOptions::default()).expect("the edition verifies");
    assert_eq!((z.serial, z.record_count), (BASE + 1, count));
    let t = Instant::now();
    knot.publish(&lab, &next);
    println!("knot published {} in {:.0} ms", BASE + 1, t.elapsed().as_secs_f64() * 1e3);
    let (signed, how) = catcher.notify_for(BASE + 1, 10).expect("a NOTIFY for the new serial");
    assert!(signed, "the NOTIFY is TSIG-signed");
    println!("knot: NOTIFY for {} over {how}, TSIG-signed", BASE + 1);

    let ixfr = format!("IXFR={BASE}");
    let check_ixfr = |lab: &Lab, knot: &Primary, when: &str| {
        let x = kdig(lab, knot, Some(KEY.2), &[".", &ixfr]);
        assert!(x.ok, "IXFR {when}: {}", x.err);
        let recs = x.records();
        // SOA new, SOA old, the two removed (com. NS m, old ZONEMD), SOA new, the two added, SOA new.
        assert_eq!(recs.len(), 8, "IXFR {when} is the difference only:\n{}", recs.join("\n"));
        let has = |t: &str, v: &str| recs.iter().any(|r| r.split_whitespace().nth(3) == Some(t) && r.contains(v));
        assert!(has("NS", "m.gtld-servers.net.") && has("NS", "n.gtld-servers.net."), "{}", recs.join("\n"));
        assert!(has("ZONEMD", &format!("{BASE} 1 1")) && has("ZONEMD", &format!("{} 1 1", BASE + 1)));
        println!("knot IXFR from {BASE} {when}: {} records in {:.1} ms", recs.len(), x.took.as_secs_f64() * 1e3);
    };
    check_ixfr(&lab, &knot, "after the reload");

    knot.stop(&mut lab);
    assert_eq!(knot.serial(&lab), None, "knot stopped");
    let t = Instant::now();
    knot.restart(&mut lab);
    println!("knot restarted in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(knot.serial(&lab), Some(BASE + 1));
    check_ixfr(&lab, &knot, "after a restart");

    // A bad ZONEMD is served as it is: the secondary, not the primary, has to refuse it.
    let bad = primary::bad_zonemd(&primary::edition(&next, BASE + 2, false));
    assert!(Zone::from_bytes(bad.as_bytes(), std::path::Path::new("bad"), &LoadOptions::default()).is_err());
    knot.publish(&lab, &bad);
    let x = kdig(&lab, &knot, Some(KEY.2), &[".", "AXFR"]);
    assert_eq!(x.records().len(), count + 1);
    let e = transferred(&x).expect_err("the bad edition fails ZONEMD verification after the transfer");
    println!("knot serves the bad-ZONEMD edition {}: {e}", BASE + 2);
}

#[test]
fn nsd_serves_axfr_and_notify_with_tsig() {
    let (text, count) = bundled();
    let mut lab = Lab::up("prmn");
    let catcher = Catcher::new(&lab);
    let t = Instant::now();
    let nsd = primary::nsd(&mut lab, &text, 5302, Some(KEY), Some(NOTIFY_TO));
    println!("nsd up in {:.0} ms ({})", t.elapsed().as_secs_f64() * 1e3, nsd.dir.display());
    assert_eq!(nsd.serial(&lab), Some(BASE));
    full_axfr(&lab, &nsd, count);
    refused(&lab, &nsd, &["REFUSED", "NOTAUTH"]);

    let t = Instant::now();
    nsd.publish(&lab, &primary::edition(&text, BASE + 1, true));
    println!("nsd published {} in {:.0} ms", BASE + 1, t.elapsed().as_secs_f64() * 1e3);
    let (signed, how) = catcher.notify_for(BASE + 1, 10).expect("a NOTIFY for the new serial");
    assert!(signed, "the NOTIFY is TSIG-signed");
    println!("nsd: NOTIFY for {} over {how}, TSIG-signed", BASE + 1);
    full_axfr(&lab, &nsd, count);
    // NSD 4.6 keeps no differences: an IXFR request is answered with the whole zone.
    let x = kdig(&lab, &nsd, Some(KEY.2), &[".", &format!("IXFR={BASE}")]);
    println!("nsd IXFR from {BASE}: {} records (ok {})", x.records().len(), x.ok);

    // Without a key both transfer to the server end unsigned.
    let mut nsd = nsd;
    nsd.stop(&mut lab);
    let open = [primary::nsd(&mut lab, &text, 5302, None, None), primary::knot(&mut lab, &text, 5301, None, None)];
    for p in &open {
        let x = kdig(&lab, p, None, &[".", "AXFR"]);
        assert!(x.ok && x.records().len() == count + 1, "{:?} without a key: {}", p.kind, x.err);
        println!("{:?} without a key: AXFR {} records unsigned", p.kind, x.records().len());
    }
}
