//! The answer planner on its own (`answer::plan_in`, before any layout): for each kind of answer, with
//! and without DO, which RRsets it plans in which section, which of them are required, and the header's
//! kind, rcode and AA. Against the bundled root zone, so the RRsets named here are that zone's.

use std::path::Path;
use std::sync::OnceLock;

use zonegen::answer::{Kind, Plan, plan_in};
use zonegen::{LoadOptions, Zone, name, rr, wire};

fn root() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102");
        Zone::load(&p, &LoadOptions::default()).expect("bundled zone loads")
    })
}

/// The plan for one question, EDNS with DO as given.
fn plan(qname: &str, qtype: u16, dnssec: bool) -> Plan<'static> {
    let msg = wire::build_query(1, 0, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, Some((1232, dnssec)));
    let q = wire::parse_query(&msg).unwrap();
    plan_in(root(), &q)
}

/// Each block as "section owner TYPE xN required|optional", RRSIGs as RRSIG(covered type).
fn shape(p: &Plan<'_>) -> Vec<String> {
    p.blocks
        .iter()
        .map(|b| {
            let t = if b.rtype == rr::RRSIG {
                format!("RRSIG({})", rr::type_name(u16::from_be_bytes([b.rdata[0][0], b.rdata[0][1]])))
            } else {
                rr::type_name(b.rtype)
            };
            let section = ["answer", "authority", "additional"][b.section as usize];
            let need = if b.required { "required" } else { "optional" };
            format!("{section} {} {t} x{} {need}", name::to_text(&b.owner), b.rdata.len())
        })
        .collect()
}

/// (kind, rcode, AA) of a plan.
fn header(p: &Plan<'_>) -> (Kind, u16, bool) {
    (p.kind, p.rcode, p.aa)
}

/// The glue blocks `shape` gives for these name servers: A for each, then AAAA for each that has one.
fn glue(need: &str, a: &[&str], aaaa: &[&str]) -> Vec<String> {
    let a = a.iter().map(|n| format!("additional {n} A x1 {need}"));
    a.chain(aaaa.iter().map(|n| format!("additional {n} AAAA x1 {need}"))).collect()
}

/// A negative answer's blocks: the apex SOA, and with DO its RRSIG and each NSEC named, with its RRSIG.
fn negative(dnssec: bool, nsec_owners: &[&str]) -> Vec<String> {
    let mut want = vec!["authority . SOA x1 required".to_string()];
    if dnssec {
        want.push("authority . RRSIG(SOA) x1 required".into());
        for owner in nsec_owners {
            want.push(format!("authority {owner} NSEC x1 required"));
            want.push(format!("authority {owner} RRSIG(NSEC) x1 required"));
        }
    }
    want
}

#[test]
fn apex_answers_are_authoritative_and_signed_only_with_do() {
    let p = plan(".", rr::SOA, false);
    assert_eq!(header(&p), (Kind::Authoritative, 0, true));
    assert_eq!(shape(&p), ["answer . SOA x1 required"]);
    let p = plan(".", rr::SOA, true);
    assert_eq!(shape(&p), ["answer . SOA x1 required", "answer . RRSIG(SOA) x1 required"]);
    // ANY: the SOA alone (RFC 8482).
    assert_eq!(shape(&plan(".", rr::ANY, false)), ["answer . SOA x1 required"]);
}

#[test]
fn priming_puts_every_root_server_address_in_optional_glue() {
    let servers: Vec<String> = (b'a'..=b'm').map(|c| format!("{}.root-servers.net.", c as char)).collect();
    let servers: Vec<&str> = servers.iter().map(String::as_str).collect();
    for dnssec in [false, true] {
        let p = plan(".", rr::NS, dnssec);
        assert_eq!(header(&p), (Kind::Authoritative, 0, true));
        let mut want = vec!["answer . NS x13 required".to_string()];
        if dnssec {
            want.push("answer . RRSIG(NS) x1 required".into());
        }
        // No root server is "in-domain" for the apex: all of it may be left out when it does not fit.
        want.extend(glue("optional", &servers, &servers));
        assert_eq!(shape(&p), want, "DO={dnssec}");
    }
}

#[test]
fn apex_nodata_is_the_soa_and_with_do_the_apex_nsec() {
    for dnssec in [false, true] {
        let p = plan(".", rr::A, dnssec);
        assert_eq!(header(&p), (Kind::Nodata, 0, true), "DO={dnssec}");
        assert_eq!(shape(&p), negative(dnssec, &["."]), "DO={dnssec}");
    }
    // With DO the whole list, spelled out once.
    assert_eq!(
        negative(true, &["."]),
        [
            "authority . SOA x1 required",
            "authority . RRSIG(SOA) x1 required",
            "authority . NSEC x1 required",
            "authority . RRSIG(NSEC) x1 required"
        ]
    );
}

/// The negative answers' SOA TTL is the lesser of the SOA's TTL and its MINIMUM (RFC 2308 3), whichever
/// that is (both are 86400 in the root zone, so two small zones tell them apart).
#[test]
fn negative_soa_ttl_is_the_lesser_of_ttl_and_minimum() {
    for (ttl, minimum) in [(3600, 900), (600, 86400)] {
        let text = format!(
            ". {ttl} IN SOA a.root. b.root. 1 2 3 4 {minimum}\n. 3600 IN NS a.jp.\njp. 3600 IN NS a.jp.\na.jp. 3600 IN A 192.0.2.1\n"
        );
        let z = Zone::from_bytes(text.as_bytes(), Path::new("ttl.zone"), &LoadOptions::default()).unwrap();
        for (qname, qtype, kind) in [("no-such-tld", rr::A, Kind::Nxdomain), (".", rr::A, Kind::Nodata)] {
            let msg = wire::build_query(1, 0, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, None);
            let p = plan_in(&z, &wire::parse_query(&msg).unwrap());
            assert_eq!(p.kind, kind);
            assert_eq!(shape(&p), negative(false, &[]));
            assert_eq!(p.blocks[0].ttl, ttl.min(minimum), "{qname}: SOA TTL {ttl}, MINIMUM {minimum}");
        }
    }
}

#[test]
fn referral_with_in_domain_glue() {
    let jp = ["a.dns.jp.", "b.dns.jp.", "c.dns.jp.", "d.dns.jp.", "e.dns.jp.", "f.dns.jp.", "g.dns.jp.", "h.dns.jp."];
    // g.dns.jp has no AAAA in this zone.
    let jp6 = ["a.dns.jp.", "b.dns.jp.", "c.dns.jp.", "d.dns.jp.", "e.dns.jp.", "f.dns.jp.", "h.dns.jp."];
    for qname in ["jp", "www.example.jp", "WWW.Example.JP"] {
        let p = plan(qname, rr::A, false);
        assert_eq!(header(&p), (Kind::Referral, 0, false), "{qname}: a referral is not authoritative");
        assert_eq!(p.anchor_labels, 1, "{qname}: names may point at the TLD in the question");
        let mut want = vec!["authority jp. NS x8 required".to_string()];
        want.extend(glue("required", &jp, &jp6));
        assert_eq!(shape(&p), want, "{qname} DO=0");
        // DO: the DS and its signature after the NS, which is not signed (the child's data).
        let p = plan(qname, rr::A, true);
        assert_eq!(header(&p), (Kind::Referral, 0, false));
        let mut want = vec![
            "authority jp. NS x8 required".to_string(),
            "authority jp. DS x1 required".into(),
            "authority jp. RRSIG(DS) x1 required".into(),
        ];
        want.extend(glue("required", &jp, &jp6));
        assert_eq!(shape(&p), want, "{qname} DO=1");
    }
}

#[test]
fn referral_glue_outside_the_delegation_is_optional() {
    // com's servers are under net: the zone has their addresses, but com's referral does not need them.
    let servers: Vec<String> = (b'a'..=b'm').map(|c| format!("{}.gtld-servers.net.", c as char)).collect();
    let servers: Vec<&str> = servers.iter().map(String::as_str).collect();
    let p = plan("www.example.com", rr::A, false);
    let mut want = vec!["authority com. NS x13 required".to_string()];
    want.extend(glue("optional", &servers, &servers));
    assert_eq!(shape(&p), want);
    let p = plan("www.ae", rr::A, false);
    let mut want = vec!["authority ae. NS x4 required".to_string()];
    want.extend(ae_glue());
    assert_eq!(shape(&p), want);
}

/// ae's glue, mixed: its three in-domain servers' addresses are required, ns4.apnic.net's (which the zone
/// holds as glue under net) optional, after them.
fn ae_glue() -> Vec<String> {
    let ae = ["ns1.aedns.ae.", "ns2.aedns.ae.", "nsext-pch.aedns.ae."];
    let mut glue_blocks = glue("required", &ae, &ae);
    glue_blocks.extend(glue("optional", &["ns4.apnic.net."], &["ns4.apnic.net."]));
    glue_blocks
}

#[test]
fn unsigned_delegation_with_do_proves_no_ds_by_its_nsec() {
    let p = plan("www.ae", rr::A, true);
    assert_eq!(header(&p), (Kind::Referral, 0, false));
    let mut want = vec![
        "authority ae. NS x4 required".to_string(),
        "authority ae. NSEC x1 required".into(),
        "authority ae. RRSIG(NSEC) x1 required".into(),
    ];
    want.extend(ae_glue());
    assert_eq!(shape(&p), want);
}

#[test]
fn ds_at_the_cut_is_the_parents_own_answer() {
    let p = plan("jp", rr::DS, false);
    assert_eq!(header(&p), (Kind::Authoritative, 0, true));
    assert_eq!(p.anchor_labels, 1);
    assert_eq!(shape(&p), ["answer jp. DS x1 required"]);
    let p = plan("jp", rr::DS, true);
    assert_eq!(shape(&p), ["answer jp. DS x1 required", "answer jp. RRSIG(DS) x1 required"]);
    // Below the cut, DS is the child's: a referral like any other qtype.
    let p = plan("www.jp", rr::DS, true);
    assert_eq!(header(&p), (Kind::Referral, 0, false));
    assert_eq!(shape(&p)[..2], ["authority jp. NS x8 required", "authority jp. DS x1 required"]);
    // An unsigned TLD asked for DS: NODATA, and with DO the TLD's NSEC proving there is none.
    for dnssec in [false, true] {
        let p = plan("ae", rr::DS, dnssec);
        assert_eq!(header(&p), (Kind::Nodata, 0, true), "DO={dnssec}");
        assert_eq!(shape(&p), negative(dnssec, &["ae."]), "DO={dnssec}");
    }
}

#[test]
fn nxdomain_is_the_soa_and_with_do_two_nsec_proofs() {
    for qname in ["no-such-tld", "www.no-such-tld"] {
        for dnssec in [false, true] {
            let p = plan(qname, rr::A, dnssec);
            assert_eq!(header(&p), (Kind::Nxdomain, 3, true), "{qname} DO={dnssec}");
            assert_eq!(p.anchor_labels, 0, "{qname}: nothing of the question is pointed at");
            // "no" is the last TLD before "no-such-tld" (then "nokia"); the apex's NSEC covers "*" (RFC 4035
            // 3.1.3.2).
            assert_eq!(shape(&p), negative(dnssec, &["no.", "."]), "{qname} DO={dnssec}");
        }
        let p = plan(qname, rr::A, true);
        assert_eq!(name::to_text(&p.blocks[2].rdata[0][..7]), "nokia.", "the covering NSEC's next name");
    }
    // A name sorting before every TLD is covered by the apex's NSEC, which also covers the wildcard: once.
    assert_eq!(shape(&plan("0", rr::A, true)), negative(true, &["."]));
}
