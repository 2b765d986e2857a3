//! The zone as a record set, the shape transfers carry: the bundled root zone read out record by record,
//! written as a zone file and read back, and rebuilt directly, is the same zone (its ZONEMD verifies
//! both ways); a change applied to the set is in the zone it makes.

use std::path::Path;

use zonegen::records::{RecordSet, Rr};
use zonegen::{LoadOptions, Zone, name, rr};

fn bundled() -> Zone {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102");
    Zone::load(&p, &LoadOptions::default()).expect("bundled zone")
}

#[test]
fn the_bundled_zone_survives_a_round_trip_through_records_and_text() {
    let zone = bundled();
    let set = RecordSet::of_zone(&zone);
    assert_eq!(set.len(), zone.record_count, "every record once");
    assert_eq!(set.serial(), Some(zone.serial));
    let direct = set.to_zone(Path::new("transfer"), &LoadOptions::default()).expect("rebuilt from records, ZONEMD verifies");
    assert_eq!((direct.serial, direct.tlds.len(), direct.record_count), (zone.serial, zone.tlds.len(), zone.record_count));
    assert!(direct.zonemd.contains("verified"), "{}", direct.zonemd);
    let text = set.to_text().expect("every record has a presentation form");
    assert!(text.starts_with(". "), "the SOA first: {}", &text[..80]);
    let reread = Zone::from_bytes(text.as_bytes(), Path::new("cache"), &LoadOptions::default()).expect("the text reads back");
    assert_eq!((reread.serial, reread.tlds.len(), reread.record_count), (zone.serial, zone.tlds.len(), zone.record_count));
    assert!(reread.zonemd.contains("verified"), "{}", reread.zonemd);
    for t in &zone.tlds {
        let (a, b) = (zone.rrset(t, rr::NS).unwrap(), reread.rrset(t, rr::NS).unwrap());
        assert_eq!((a.ttl, &a.rdata, &a.sigs), (b.ttl, &b.rdata, &b.sigs), "{}", name::to_text(t));
    }
}

#[test]
fn a_change_applies_and_a_delete_of_what_is_not_there_is_refused() {
    let zone = bundled();
    let mut set = RecordSet::of_zone(&zone);
    let jp = name::from_text("jp.").unwrap();
    let ns = zone.rrset(&jp, rr::NS).unwrap();
    let old = Rr { owner: jp.clone(), rtype: rr::NS, class: rr::CLASS_IN, ttl: ns.ttl, rdata: ns.rdata[0].clone() };
    set.delete(&old).expect("jp has that NS");
    assert!(set.delete(&old).is_err(), "not twice");
    let new = Rr { rdata: name::from_text("ns.example.net.").unwrap(), ..old };
    set.add(new);
    // The ZONEMD no longer matches: refused as a file would be; without the check it loads with the change.
    assert!(set.to_zone(Path::new("t"), &LoadOptions::default()).is_err(), "a stale ZONEMD refuses the zone");
    let z = set.to_zone(Path::new("t"), &LoadOptions { no_zonemd: true }).unwrap();
    assert!(z.rrset(&jp, rr::NS).unwrap().rdata.contains(&name::from_text("ns.example.net.").unwrap()));
}

#[test]
fn transfers_are_refused() {
    let zone = bundled();
    for qtype in [rr::AXFR, rr::IXFR] {
        for t in [zonegen::answer::Transport::Udp, zonegen::answer::Transport::Tcp] {
            let q = zonegen::wire::build_query(1, 0, name::ROOT, qtype, rr::CLASS_IN, None);
            let r = zonegen::answer::answer(&zone, &Default::default(), &q, t).unwrap();
            assert_eq!((r[3] & 0x0f, &r[12..17]), (5, &q[12..17]), "type {qtype} over {t:?}: REFUSED with the question");
        }
    }
}
