//! Negative answers: NXDOMAIN for a name under a TLD the zone lacks, NODATA at a name that exists without
//! the type asked (the apex, or a TLD asked for the DS it lacks). Both carry the apex SOA, and with DO the
//! NSEC records proving the answer (RFC 4035 3.1.3).

use std::borrow::Cow;

use super::Kind;
use super::plan::{Block, Plan, Section, borrow_all, push_rrset};
use crate::rr;
use crate::wire;
use crate::zone::Zone;

/// The negative-answer SOA: TTL is the lesser of the SOA TTL and MINIMUM (RFC 2308 3).
fn push_negative_soa<'z>(zone: &'z Zone, blocks: &mut Vec<Block<'z>>, dnssec: bool) {
    let apex = zone.apex();
    let soa = zone.soa();
    let ttl = zone.soa_ttl.min(zone.soa_minimum);
    blocks.push(Block {
        section: Section::Authority,
        owner: Cow::Borrowed(&apex.name),
        rtype: rr::SOA,
        class: rr::CLASS_IN,
        ttl,
        rdata: borrow_all(&soa.rdata),
        required: true,
    });
    if dnssec && !soa.sigs.is_empty() {
        blocks.push(Block {
            section: Section::Authority,
            owner: Cow::Borrowed(&apex.name),
            rtype: rr::RRSIG,
            class: rr::CLASS_IN,
            ttl: soa.sig_ttl.min(ttl),
            rdata: borrow_all(&soa.sigs),
            required: true,
        });
    }
}

/// NODATA at an existing name: SOA, and with DO the name's NSEC (RFC 4035 3.1.3.1).
pub(super) fn plan_nodata<'z>(zone: &'z Zone, owner: &[u8], dnssec: bool, anchor_labels: usize) -> Plan<'z> {
    let mut p = Plan { kind: Kind::Nodata, rcode: 0, aa: true, anchor_labels, blocks: Vec::new() };
    push_negative_soa(zone, &mut p.blocks, dnssec);
    if dnssec
        && let Some(node) = zone.node(owner)
        && let Some(nsec) = node.rrset(rr::NSEC)
    {
        push_rrset(&mut p.blocks, Section::Authority, &node.name, nsec, true, true);
    }
    p
}

/// NXDOMAIN for a name under a TLD that does not exist: SOA, and with DO the NSEC covering the name and
/// the NSEC covering the wildcard at the closest encloser, the apex (RFC 4035 3.1.3.2).
pub(super) fn plan_nxdomain<'z>(zone: &'z Zone, qname: &[u8], dnssec: bool) -> Plan<'z> {
    let mut p = Plan { kind: Kind::Nxdomain, rcode: wire::RCODE_NXDOMAIN as u16, aa: true, anchor_labels: 0, blocks: Vec::new() };
    push_negative_soa(zone, &mut p.blocks, dnssec);
    if dnssec {
        let cover = zone.covering_nsec_owner(qname);
        let wildcard = zone.covering_nsec_owner(b"\x01*\x00");
        for node in [cover, wildcard] {
            if p.blocks.iter().any(|b| b.rtype == rr::NSEC && b.owner.as_ref() == node.name.as_slice()) {
                continue;
            }
            if let Some(nsec) = node.rrset(rr::NSEC) {
                push_rrset(&mut p.blocks, Section::Authority, &node.name, nsec, true, true);
            }
        }
    }
    p
}
