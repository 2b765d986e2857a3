//! zonegen against the real root zones and a zone written in another legal layout.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use zonegen::answer::{self, Transport};
use zonegen::compile::{self, compile_one};
use zonegen::testkit::print::decode;
use zonegen::{LoadOptions, ServerConfig, Zone, name, rr, wire};

fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones")
}

fn root() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| Zone::load(&zones_dir().join("root.zone.2026073102"), &LoadOptions::default()).expect("bundled zone loads"))
}

#[test]
fn bundled_zones_load_with_their_counts() {
    let z = root();
    assert_eq!(z.serial, 2026073102);
    assert_eq!(z.tlds.len(), 1438);
    assert!(z.signed);
    assert!(z.zonemd.starts_with("verified"), "{}", z.zonemd);
    let with_ds = z.tlds.iter().filter(|t| z.rrset(t, rr::DS).is_some()).count();
    assert_eq!((with_ds, z.tlds.len() - with_ds), (1349, 89));
    let old = Zone::load(&zones_dir().join("root.zone.2023042001"), &LoadOptions::default()).unwrap();
    assert_eq!(old.serial, 2023042001);
    assert_eq!(old.tlds.len(), 1479);
    assert!(old.zonemd.starts_with("absent"));
}

#[test]
fn a_changed_glue_address_fails_zonemd() {
    let text = std::fs::read_to_string(zones_dir().join("root.zone.2026073102")).unwrap();
    let line = text.lines().find(|l| l.starts_with("a.dns.jp.") && l.contains("\tA\t")).expect("glue line");
    let changed = text.replacen(line, &line.replace("203.119.1.1", "203.119.1.2"), 1);
    assert_ne!(changed, text);
    let err = Zone::from_bytes(changed.as_bytes(), Path::new("changed.zone"), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("ZONEMD"), "{err}");
    // --no-zonemd accepts it, and says so.
    let z = Zone::from_bytes(changed.as_bytes(), Path::new("changed.zone"), &LoadOptions { no_zonemd: true }).unwrap();
    assert!(z.zonemd.contains("NOT verified"));
}

#[test]
fn another_legal_layout_parses_and_answers() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/other-layout.zone");
    let z = Zone::load(&p, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(z.serial, 2026010101);
    assert_eq!(z.tlds.len(), 3, "net, jp, example");
    assert!(!z.signed);
    let b = z.rrset(&name::from_text("b.root-servers.net").unwrap(), rr::AAAA).unwrap();
    assert_eq!(b.rdata[0], "2801:1b8:10::b".parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec());
    let txt = z.rrset(name::ROOT, rr::TXT).expect("TXT at the apex");
    assert_eq!(txt.rdata[0], b"\x21quoted; with \"escapes\" and spaces\x0dsecond string".to_vec());
    assert_eq!(z.rrset(name::ROOT, 65534).expect("generic rdata").rdata[0], vec![10, 0, 0, 1]);
    let q = wire::build_query(1, 0, &name::from_text("www.jp").unwrap(), rr::A, rr::CLASS_IN, None);
    let r = decode(&answer::answer(&z, &ServerConfig::default(), &q, Transport::Udp).unwrap()).unwrap();
    assert_eq!(r.sections[1].len(), 2, "two NS");
    assert_eq!(r.sections[2].len(), 4, "in-domain glue A + AAAA for both");
}

#[test]
fn dnssec_consistency_is_checked_in_signed_zones() {
    let text = std::fs::read_to_string(zones_dir().join("root.zone.2026073102")).unwrap();
    let opts = LoadOptions { no_zonemd: true };
    // Remove one TLD's NSEC: the chain no longer closes.
    let nsec = text.lines().find(|l| l.starts_with("jp.") && l.contains("\tNSEC\t")).unwrap();
    let broken = text.replacen(&format!("{nsec}\n"), "", 1);
    let err = Zone::from_bytes(broken.as_bytes(), Path::new("r.zone"), &opts).unwrap_err().to_string();
    assert!(err.contains("NSEC"), "{err}");
    // Remove the RRSIG over a DS RRset.
    let sig = text.lines().find(|l| l.starts_with("jp.") && l.contains("\tRRSIG\tDS ")).unwrap();
    let unsigned = text.replacen(&format!("{sig}\n"), "", 1);
    let err = Zone::from_bytes(unsigned.as_bytes(), Path::new("r.zone"), &opts).unwrap_err().to_string();
    assert!(err.contains("no RRSIG") && err.contains("jp."), "{err}");
    // The bundled zone's signatures expired on 2026-08-13: a warning, not a refusal.
    assert!(root().warnings.iter().any(|w| w.contains("expired")), "{:?}", root().warnings);
}

#[test]
fn validation_errors_name_file_line_and_reason() {
    let cases = [
        ("no SOA", "$ORIGIN .\n. 3600 IN NS a.root.\n", "SOA"),
        ("two SOA", ". 3600 IN SOA a. b. 1 2 3 4 5\n. 3600 IN SOA a. b. 2 2 3 4 5\n. 3600 IN NS a.root-servers.net.\n", "SOA"),
        (
            "deep delegation",
            ". 3600 IN SOA a. b. 1 2 3 4 5\n. 3600 IN NS a.net.\nnet. 3600 IN NS a.net.\na.net. 3600 IN A 192.0.2.1\nsub.example.net. 3600 IN NS x.net.\n",
            "more than one label",
        ),
        ("missing glue", ". 3600 IN SOA a. b. 1 2 3 4 5\n. 3600 IN NS a.net.\nnet. 3600 IN NS a.net.\n", "glue"),
        (
            "data below a cut",
            ". 3600 IN SOA a. b. 1 2 3 4 5\n. 3600 IN NS a.net.\nnet. 3600 IN NS a.net.\na.net. 3600 IN A 192.0.2.1\nwww.net. 3600 IN TXT \"x\"\n",
            "only glue",
        ),
        ("class CH", ". 3600 IN SOA a. b. 1 2 3 4 5\n. 3600 CH NS a.net.\n", "class"),
        ("syntax", ". 3600 IN SOA a. b. 1 2 3\n", "line"),
    ];
    for (what, text, needle) in cases {
        let err = Zone::from_bytes(text.as_bytes(), Path::new("t.zone"), &LoadOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        let msg = err.to_string();
        assert!(msg.starts_with("t.zone"), "{what}: {msg}");
        assert!(msg.contains(needle), "{what}: {msg}");
    }
    // Line numbers point at the record.
    let err = Zone::from_bytes(
        b". 3600 IN SOA a. b. 1 2 3 4 5\n. 3600 IN NS a.net.\n\n; c\nnet. 3600 IN NS a.net.\n",
        Path::new("t.zone"),
        &LoadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("t.zone:5:"), "{err}");
}

/// The table, spliced the way the XDP program does it, gives exactly the answer function's bytes for every
/// TLD, both DO values, every buffer class, and questions longer than the canonical one (0x20 included).
#[test]
fn compiled_table_splices_to_the_answer_function_for_every_tld() {
    let z = root();
    let table = compile::compile(z);
    assert_eq!(table.tlds.len(), z.tlds.len());
    assert_eq!(table.usable_count(), table.answer_count(), "every answer fits the table");
    let cfg = ServerConfig::default();
    let mut checked = 0;
    for (i, tld) in z.tlds.iter().enumerate() {
        let label = name::to_text(tld);
        let upper = label.to_ascii_uppercase();
        for qn in [label.clone(), format!("www.example.{label}"), format!("Mixed.Case.{upper}")] {
            let qname = name::from_text(&qn).unwrap();
            for (slot_index, slot) in m_root_common::TldSlot::ALL.iter().enumerate() {
                let (qtype, dnssec) = slot.question();
                // DS slots answer only at the TLD itself; below it every qtype is a referral.
                if qtype != 0 && qn != label {
                    continue;
                }
                let qtype = if qtype == 0 { rr::A } else { qtype };
                for size in [None, Some(512), Some(1000), Some(1232), Some(4096)] {
                    if size.is_none() && dnssec {
                        continue;
                    }
                    let q = wire::build_query(0x1234, wire::FLAG_RD, &qname, qtype, rr::CLASS_IN, size.map(|s| (s, dnssec)));
                    let want = answer::answer(z, &cfg, &q, Transport::Udp).unwrap();
                    let got = compile::splice(&table.tlds[i].1[slot_index], &q).unwrap();
                    assert_eq!(got, want, "{qn} {} DO={dnssec} size={size:?}", rr::type_name(qtype));
                    let limit = answer::size_limit(wire::parse_query(&q).unwrap().edns.as_ref(), Transport::Udp);
                    assert!(want.len() <= limit, "{qn}: {} > {limit}", want.len());
                    checked += 1;
                }
            }
        }
    }
    // The apex entries and the fixed ones, the same way.
    for (qtype, dnssec, entry) in &table.apex {
        for size in [Some(512), Some(1232), Some(4096)] {
            let q = wire::build_query(9, 0, name::ROOT, *qtype, rr::CLASS_IN, size.map(|s| (s, *dnssec)));
            assert_eq!(
                compile::splice(entry, &q).unwrap(),
                answer::answer(z, &cfg, &q, Transport::Udp).unwrap(),
                ". {} DO={dnssec}",
                rr::type_name(*qtype)
            );
        }
    }
    assert!(checked > 15_000, "{checked}");
}

/// Signed NXDOMAIN: every NSEC interval's precompiled answer, spliced, equals the answer function for names
/// just after the interval's owner, in the middle, just before the next owner, with case variants and
/// deeper names, at every buffer class.
#[test]
fn signed_nxdomain_table_matches_for_every_interval() {
    let z = root();
    let table = compile::compile(z);
    assert_eq!(table.nsec.len(), z.tlds.len() + 1);
    let cfg = ServerConfig::default();
    let mut labels: Vec<Vec<u8>> = vec![b"0".to_vec(), b"-".to_vec(), b"\xff".to_vec(), vec![b'z'; 63], b"a".to_vec()];
    for t in &z.tlds {
        let l = &t[1..t.len() - 1];
        labels.push([l, b"0"].concat());
        labels.push([l, b"-x"].concat());
        labels.push([l, b"zz"].concat());
        let mut before = l.to_vec();
        if let Some(last) = before.last_mut()
            && *last > b'0'
        {
            *last -= 1;
            labels.push(before.clone());
        }
        labels.push(l[..l.len().saturating_sub(1).max(1)].to_vec());
    }
    let mut checked = 0;
    for l in labels {
        if l.len() > 63 {
            continue;
        }
        let wire_name = [&[l.len() as u8][..], &l, &[0u8][..]].concat();
        if z.is_tld(&name::lower(&wire_name)) {
            continue;
        }
        let interval = z.tlds.partition_point(|t| name::canonical_cmp(t, &wire_name) == std::cmp::Ordering::Less);
        let upper: Vec<u8> = wire_name.to_ascii_uppercase();
        let deep = [&b"\x03www"[..], &wire_name].concat();
        for qn in [wire_name.clone(), upper, deep] {
            for size in [512u16, 1232, 4096] {
                let q = wire::build_query(3, 0, &qn, rr::A, rr::CLASS_IN, Some((size, true)));
                let want = answer::answer(z, &cfg, &q, Transport::Udp).unwrap();
                assert_eq!(decode(&want).unwrap().rcode(), 3);
                assert_eq!(compile::splice(&table.nsec[interval], &q).unwrap(), want, "{} in interval {interval}", name::to_text(&qn));
                checked += 1;
            }
        }
    }
    assert!(checked > 15_000, "{checked}");
}

#[test]
fn referral_contents() {
    let z = root();
    let cfg = ServerConfig::default();
    let ask = |qn: &str, edns: Option<(u16, bool)>| {
        let q = wire::build_query(7, 0, &name::from_text(qn).unwrap(), rr::A, rr::CLASS_IN, edns);
        decode(&answer::answer(z, &cfg, &q, Transport::Udp).unwrap()).unwrap()
    };
    let r = ask("www.example.jp", Some((1232, false)));
    assert_eq!(r.flags & 0x0400, 0, "referral: AA clear");
    assert_eq!(r.flags & 0x0f, 0);
    assert!(r.sections[0].is_empty());
    assert_eq!(r.sections[1].iter().filter(|x| x.rtype == rr::NS).count(), 8);
    assert_eq!(r.sections[2].len(), 15, "8 in-domain A + 7 AAAA (g.dns.jp has no AAAA in this zone)");
    let r = ask("www.example.jp", Some((1232, true)));
    assert!(r.sections[1].iter().any(|x| x.rtype == rr::DS));
    assert!(r.sections[1].iter().any(|x| x.rtype == rr::RRSIG));
    // An unsigned TLD: the NSEC proving no DS.
    let unsigned = z.tlds.iter().find(|t| z.rrset(t, rr::DS).is_none()).unwrap();
    let r = ask(&format!("x.{}", name::to_text(unsigned)), Some((1232, true)));
    assert!(r.sections[1].iter().any(|x| x.rtype == rr::NSEC));
    // Without EDNS the 512-octet limit: com keeps its NS and drops optional glue, no TC.
    let r = ask("www.example.com", None);
    assert_eq!(r.flags & 0x0200, 0);
    assert_eq!(r.sections[1].len(), 13);
    assert!(!r.sections[2].is_empty() && r.sections[2].len() < 26);
}

#[test]
fn nxdomain_and_apex() {
    let z = root();
    let cfg = ServerConfig::default();
    let ask = |qn: &str, qt: u16, edns: Option<(u16, bool)>| {
        let q = wire::build_query(7, 0, &name::from_text(qn).unwrap(), qt, rr::CLASS_IN, edns);
        decode(&answer::answer(z, &cfg, &q, Transport::Udp).unwrap()).unwrap()
    };
    let r = ask("no-such-tld", rr::A, None);
    assert_eq!(r.rcode(), 3);
    assert_ne!(r.flags & 0x0400, 0, "AA");
    assert_eq!(r.sections[1].len(), 1);
    assert_eq!(r.sections[1][0].rtype, rr::SOA);
    let r = ask("no-such-tld", rr::A, Some((1232, true)));
    let nsecs: Vec<_> = r.sections[1].iter().filter(|x| x.rtype == rr::NSEC).collect();
    assert_eq!(nsecs.len(), 2, "covering NSEC and the wildcard proof");
    let r = ask(".", rr::NS, Some((1232, false)));
    assert_eq!(r.sections[0].len(), 13);
    assert_eq!(r.sections[2].len(), 26);
    let r = ask(".", rr::A, None);
    assert_eq!(r.rcode(), 0);
    assert!(r.sections[0].is_empty());
    assert_eq!(r.sections[1][0].rtype, rr::SOA);
    let _ = compile_one(z, name::ROOT, rr::SOA, true).unwrap();
}

#[test]
fn error_responses() {
    let z = root();
    let cfg = ServerConfig { chaos: true, identity: Some("m1".into()), version: None, nsid: true };
    let qn = name::from_text("jp").unwrap();
    let base = wire::build_query(9, 0, &qn, rr::A, rr::CLASS_IN, Some((1232, false)));
    let run = |m: &[u8]| answer::answer(z, &cfg, m, Transport::Udp).map(|r| decode(&r).unwrap());
    let mut notify = base.clone();
    notify[2] |= 4 << 3;
    assert_eq!(run(&notify).unwrap().rcode(), 4, "NOTIMP");
    let mut v1 = base.clone();
    let l = v1.len();
    v1[l - 5] = 1; // EDNS version
    assert_eq!(run(&v1).unwrap().rcode(), 16, "BADVERS");
    let hs = wire::build_query(9, 0, &qn, rr::A, 4, None);
    assert_eq!(run(&hs).unwrap().rcode(), 5, "REFUSED for class HS");
    let mut qd2 = base.clone();
    qd2[5] = 2;
    assert_eq!(run(&qd2).unwrap().rcode(), 1, "FORMERR");
    let mut resp = base.clone();
    resp[2] |= 0x80;
    assert!(run(&resp).is_none(), "responses are dropped");
    assert!(run(&base[..11]).is_none());
    let ch = wire::build_query(9, 0, &name::from_text("id.server").unwrap(), rr::TXT, rr::CLASS_CH, None);
    let r = run(&ch).unwrap();
    assert_eq!(r.sections[0].len(), 1);
    assert_eq!(r.sections[0][0].rdata, b"\x02m1");
    let vb = wire::build_query(9, 0, &name::from_text("version.bind").unwrap(), rr::TXT, rr::CLASS_CH, None);
    assert_eq!(run(&vb).unwrap().rcode(), 5, "version.bind not configured: REFUSED");
}

/// The userspace fast table gives exactly the answer function's bytes for every query it takes, and takes
/// most of the standard mix.
#[test]
fn fast_table_equals_the_answer_function_on_the_mix() {
    let z = root();
    let fast = zonegen::fast::FastTable::new(compile::compile(z));
    let cfg = ServerConfig::default();
    let mut mix = zonegen::testkit::querymix::Generator::new(z, 99);
    let (mut taken, n) = (0, 30_000);
    for _ in 0..n {
        let q = mix.next();
        if let Some(got) = fast.answer_udp(&q.msg) {
            taken += 1;
            let want = answer::answer(z, &cfg, &q.msg, Transport::Udp).unwrap();
            assert_eq!(got, want, "query {:02x?}", q.msg);
        }
    }
    assert!(taken * 10 > n * 8, "fast table took {taken} of {n}");
}

/// `<tld> NSEC` is a referral (only DS is the parent's own data at a cut, RFC 4035 3.1.4.1), as NSD,
/// BIND and Knot answer it; `<tld> DS` is answered with AA from the parent side.
#[test]
fn at_a_cut_only_ds_is_answered_from_the_parent_side() {
    let z = root();
    let cfg = ServerConfig::default();
    let ask = |qn: &str, qt: u16, dnssec: bool| {
        let q = wire::build_query(9, 0, &name::from_text(qn).unwrap(), qt, rr::CLASS_IN, Some((1232, dnssec)));
        (q.clone(), decode(&answer::answer(z, &cfg, &q, Transport::Udp).unwrap()).unwrap())
    };
    for dnssec in [false, true] {
        let (_, referral) = ask("jp", rr::NS, dnssec);
        let (_, r) = ask("jp", rr::NSEC, dnssec);
        assert_eq!(r.flags & 0x0400, 0, "jp NSEC: AA clear (a referral)");
        assert!(r.sections[0].is_empty(), "jp NSEC: nothing in the answer section");
        assert_eq!(r.sections, referral.sections, "jp NSEC DO={dnssec}: the same sections as any referral to jp");
        let (_, ds) = ask("jp", rr::DS, dnssec);
        assert_ne!(ds.flags & 0x0400, 0, "jp DS: AA");
        assert!(ds.sections[0].iter().any(|x| x.rtype == rr::DS));
    }
    // The compiled table answers it the same way (the splice gives the answer function's bytes).
    let table = compile::compile(z);
    let fast = zonegen::fast::FastTable::new(table);
    for dnssec in [false, true] {
        let (q, _) = ask("jp", rr::NSEC, dnssec);
        assert_eq!(fast.answer_udp(&q), answer::answer(z, &cfg, &q, Transport::Udp), "fast path, jp NSEC DO={dnssec}");
    }
}
