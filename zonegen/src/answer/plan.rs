//! Planning positive answers and referrals: which RRsets go in which section, which are required, and
//! the header's kind, rcode and AA. Negative answers (NXDOMAIN, NODATA) are planned in `negative`.

use m_root_common::TldSlot;
use std::borrow::Cow;

use super::negative::{plan_nodata, plan_nxdomain};
use super::{Kind, ServerConfig};
use crate::name;
use crate::rr;
use crate::wire::Query;
use crate::zone::{RRset, Zone};

/// The message section a block goes in, in the order the sections are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

/// One RRset to write.
#[derive(Clone, Debug)]
pub struct Block<'z> {
    pub section: Section,
    pub owner: Cow<'z, [u8]>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<Cow<'z, [u8]>>,
    /// Written whatever the requester's size (or TC when it does not fit); an optional block (glue that is
    /// not in-domain, priming addresses) is written only if it and every optional block before it fit.
    pub required: bool,
}

/// A planned answer.
#[derive(Clone, Debug)]
pub struct Plan<'z> {
    pub kind: Kind,
    pub rcode: u16,
    pub aa: bool,
    /// Labels of the question's suffix that names may point at (see wire.rs).
    pub anchor_labels: usize,
    pub blocks: Vec<Block<'z>>,
}

/// Plan an IN-class answer.
pub fn plan_in<'z>(zone: &'z Zone, q: &Query<'_>) -> Plan<'z> {
    let dnssec = q.dnssec_ok() && zone.signed;
    let labels = name::label_count(q.qname);
    if labels == 0 {
        return plan_apex(zone, q.qtype, dnssec);
    }
    let tld = name::lower(name::suffix(q.qname, 1));
    let Some(node) = zone.node(&tld) else {
        return plan_nxdomain(zone, q.qname, dnssec);
    };
    // At the cut the parent answers DS from its own data (RFC 4035 3.1.4.1); every other qtype, NSEC
    // included, is a referral, as NSD, BIND and Knot answer (the cut's NSEC belongs to the parent side
    // only as proof inside referrals and negative answers). The rule is TldSlot::for_question, the one
    // the compiled table and both kernel programs use.
    if TldSlot::for_question(labels == 1, q.qtype, dnssec).is_ds() {
        return match node.rrset(rr::DS) {
            Some(ds) => {
                let mut p = Plan { kind: Kind::Authoritative, rcode: 0, aa: true, anchor_labels: 1, blocks: Vec::new() };
                push_rrset(&mut p.blocks, Section::Answer, &node.name, ds, dnssec, true);
                p
            }
            None => plan_nodata(zone, &node.name, dnssec, 1),
        };
    }
    plan_referral(zone, &node.name, dnssec)
}

/// Referral to a TLD: NS in authority, DS (or the NSEC proving none) with DO, glue in additional.
pub fn plan_referral<'z>(zone: &'z Zone, tld: &[u8], dnssec: bool) -> Plan<'z> {
    let mut p = Plan { kind: Kind::Referral, rcode: 0, aa: false, anchor_labels: 1, blocks: Vec::new() };
    let Some(node) = zone.node(tld) else { return p };
    let Some(ns) = node.rrset(rr::NS) else { return p };
    push_rrset(&mut p.blocks, Section::Authority, &node.name, ns, false, true);
    if dnssec {
        if let Some(ds) = node.rrset(rr::DS) {
            push_rrset(&mut p.blocks, Section::Authority, &node.name, ds, true, true);
        } else if let Some(nsec) = node.rrset(rr::NSEC) {
            push_rrset(&mut p.blocks, Section::Authority, &node.name, nsec, true, true);
        }
    }
    push_glue(zone, &mut p.blocks, &ns.rdata, Some(&name::lower(tld)));
    p
}

/// Glue for a set of name servers: in-domain glue is required (RFC 9471), other glue the zone holds is
/// optional; A records before AAAA records within each group, name servers in RRset order.
fn push_glue<'z>(zone: &'z Zone, blocks: &mut Vec<Block<'z>>, targets: &'z [Vec<u8>], delegation: Option<&[u8]>) {
    for required in [true, false] {
        for rtype in [rr::A, rr::AAAA] {
            for target in targets {
                let in_domain = delegation.is_some_and(|d| {
                    name::lower(name::suffix(target, name::label_count(d))) == d && name::label_count(target) > name::label_count(d)
                });
                if in_domain != required {
                    continue;
                }
                if let Some(n) = zone.node(target) {
                    if name::label_count(&n.name) < 2 {
                        continue; // never treat TLD-level data as glue
                    }
                    if let Some(set) = n.rrset(rtype) {
                        push_rrset(blocks, Section::Additional, &n.name, set, false, required);
                    }
                }
            }
        }
    }
}

/// Answers for the apex name.
fn plan_apex<'z>(zone: &'z Zone, qtype: u16, dnssec: bool) -> Plan<'z> {
    let apex = zone.apex();
    let mut p = Plan { kind: Kind::Authoritative, rcode: 0, aa: true, anchor_labels: 0, blocks: Vec::new() };
    match qtype {
        rr::ANY => {
            // RFC 8482 4.1: answer ANY with one RRset of the name (the SOA, as NSD does), any transport.
            push_rrset(&mut p.blocks, Section::Answer, &apex.name, zone.soa(), dnssec, true);
            p
        }
        rr::RRSIG => {
            for set in &apex.rrsets {
                if !set.sigs.is_empty() {
                    p.blocks.push(Block {
                        section: Section::Answer,
                        owner: Cow::Borrowed(&apex.name),
                        rtype: rr::RRSIG,
                        class: rr::CLASS_IN,
                        ttl: set.sig_ttl,
                        rdata: borrow_all(&set.sigs),
                        required: true,
                    });
                }
            }
            if p.blocks.is_empty() { plan_nodata(zone, &apex.name, dnssec, 0) } else { p }
        }
        _ => match apex.rrset(qtype) {
            Some(set) => {
                push_rrset(&mut p.blocks, Section::Answer, &apex.name, set, dnssec, true);
                if qtype == rr::NS {
                    // Priming (RFC 8109): addresses of the root servers, optional when they do not fit.
                    push_glue(zone, &mut p.blocks, &set.rdata, None);
                }
                p
            }
            None => plan_nodata(zone, &apex.name, dnssec, 0),
        },
    }
}

/// CHAOS TXT identity answers (the convention of BIND, NSD and Knot); None means REFUSED.
pub(super) fn plan_chaos<'z>(cfg: &ServerConfig, q: &Query<'_>) -> Option<Plan<'z>> {
    if !cfg.chaos || q.qtype != rr::TXT {
        return None;
    }
    let lname = name::lower(q.qname);
    let text = if lname == b"\x02id\x06server\x00" || lname == b"\x08hostname\x04bind\x00" {
        cfg.identity.clone()?
    } else if lname == b"\x07version\x04bind\x00" || lname == b"\x07version\x06server\x00" {
        cfg.version.clone()?
    } else {
        return None;
    };
    let mut rdata = Vec::new();
    for chunk in text.as_bytes().chunks(255) {
        rdata.push(chunk.len() as u8);
        rdata.extend_from_slice(chunk);
    }
    if text.is_empty() {
        rdata.push(0);
    }
    let block = Block {
        section: Section::Answer,
        owner: Cow::Owned(q.qname.to_vec()),
        rtype: rr::TXT,
        class: rr::CLASS_CH,
        ttl: 0,
        rdata: vec![Cow::Owned(rdata)],
        required: true,
    };
    // The owner is the whole question name: point at it (anchor = all its labels). AA stays clear: this is
    // no zone's data (NSD and Knot leave it clear too).
    Some(Plan { kind: Kind::Chaos, rcode: 0, aa: false, anchor_labels: name::label_count(q.qname), blocks: vec![block] })
}

/// Borrow each rdata of a stored RRset.
pub(super) fn borrow_all(v: &[Vec<u8>]) -> Vec<Cow<'_, [u8]>> {
    v.iter().map(|r| Cow::Borrowed(r.as_slice())).collect()
}

/// Push an RRset and, with `dnssec`, its RRSIGs right after it.
pub(super) fn push_rrset<'z>(blocks: &mut Vec<Block<'z>>, section: Section, owner: &'z [u8], set: &'z RRset, dnssec: bool, required: bool) {
    blocks.push(Block {
        section,
        owner: Cow::Borrowed(owner),
        rtype: set.rtype,
        class: rr::CLASS_IN,
        ttl: set.ttl,
        rdata: borrow_all(&set.rdata),
        required,
    });
    if dnssec && !set.sigs.is_empty() {
        blocks.push(Block {
            section,
            owner: Cow::Borrowed(owner),
            rtype: rr::RRSIG,
            class: rr::CLASS_IN,
            ttl: set.sig_ttl,
            rdata: borrow_all(&set.sigs),
            required,
        });
    }
}
