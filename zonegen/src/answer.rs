//! The one authoritative answer function. Userspace answers every query with it, and the compiler builds
//! every XDP table entry with it, so the fast path equals the slow path by construction.
//!
//! An answer is planned as an ordered list of RRset blocks, then laid out once. Blocks are ordered
//! answer, authority, additional-required, additional-optional; the layout records a cut after the
//! required blocks and after each optional one. A requester's buffer takes the longest cut that fits
//! ("stop at the first optional RRset that does not fit"); if even the required part does not fit, the
//! answer is TC=1 with empty sections (RFC 9471 for in-domain glue, RFC 4035 3.1.1 for signatures).

use m_root_common::TldSlot;
use std::borrow::Cow;

use crate::name;
use crate::rr;
use crate::wire::{self, Edns, Query, QueryError, Writer};
use crate::zone::{RRset, Zone};

/// Per-server settings that change answers.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Answer CHAOS TXT queries at all (`id.server.`, `hostname.bind.`, `version.bind.`).
    pub chaos: bool,
    /// Identity for `id.server.` / `hostname.bind.` and NSID; None leaves them unanswered (REFUSED).
    pub identity: Option<String>,
    /// Text for `version.bind.`; None refuses it.
    pub version: Option<String>,
    /// Send NSID (RFC 5001) when asked.
    pub nsid: bool,
}

/// Transport, for the size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What kind of answer a query got (for counters and the compiler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Referral,
    Nxdomain,
    Nodata,
    Authoritative,
    Chaos,
    Error,
}

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

/// An answer laid out in full, with the cuts a smaller buffer takes.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Header + question + every block (no OPT).
    pub msg: Vec<u8>,
    /// Where the records start (end of the question).
    pub frag_start: usize,
    /// Compression pointer positions in `msg`.
    pub ptrs: Vec<usize>,
    /// (end position in msg, ARCOUNT) per cut; cut 0 ends the required records.
    pub cuts: Vec<(usize, u16)>,
    pub ancount: u16,
    pub nscount: u16,
    /// Header flags without the copied bits and TC.
    pub flags: u16,
}

/// The largest DNS message the requester can take: 512 without EDNS (RFC 1035), the advertised size
/// otherwise but never above our own (1232) on UDP, 65535 on TCP.
pub fn size_limit(edns: Option<&Edns>, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => 65535,
        Transport::Udp => match edns {
            None => m_root_common::CLASSIC_UDP_PAYLOAD as usize,
            Some(e) => (e.udp_size.max(m_root_common::CLASSIC_UDP_PAYLOAD)).min(m_root_common::OUR_UDP_PAYLOAD) as usize,
        },
    }
}

/// Answer one query message. None means drop (not a query, or too short to say who asked).
pub fn answer(zone: &Zone, cfg: &ServerConfig, msg: &[u8], transport: Transport) -> Option<Vec<u8>> {
    answer_kind(zone, cfg, msg, transport).map(|(r, _)| r)
}

/// As [`answer`], also saying what kind of answer it was.
pub fn answer_kind(zone: &Zone, cfg: &ServerConfig, msg: &[u8], transport: Transport) -> Option<(Vec<u8>, Kind)> {
    let q = match wire::parse_query(msg) {
        Ok(q) => q,
        Err(QueryError::Drop) => return None,
        Err(QueryError::FormErr { id, flags, question, edns }) => {
            let question = question.map(|(a, b)| &msg[a..b]);
            return Some((error_response(id, flags, question, edns.as_ref(), wire::RCODE_FORMERR as u16, cfg), Kind::Error));
        }
    };
    let error = |rcode: u16| Some((error_response(q.id, q.flags, Some(q.question), q.edns.as_ref(), rcode, cfg), Kind::Error));
    if q.opcode() != 0 {
        return error(wire::RCODE_NOTIMP as u16);
    }
    if let Some(e) = &q.edns {
        if e.version != 0 {
            return error(wire::RCODE_BADVERS);
        }
    }
    let plan = match q.qclass {
        rr::CLASS_IN => plan_in(zone, &q),
        rr::CLASS_CH => match plan_chaos(cfg, &q) {
            Some(p) => p,
            None => return error(wire::RCODE_REFUSED as u16),
        },
        _ => return error(wire::RCODE_REFUSED as u16),
    };
    let kind = plan.kind;
    let layout = lay_out(&q, &plan);
    Some((finish(&layout, &q, size_limit(q.edns.as_ref(), transport), cfg), kind))
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
fn plan_nodata<'z>(zone: &'z Zone, owner: &[u8], dnssec: bool, anchor_labels: usize) -> Plan<'z> {
    let mut p = Plan { kind: Kind::Nodata, rcode: 0, aa: true, anchor_labels, blocks: Vec::new() };
    push_negative_soa(zone, &mut p.blocks, dnssec);
    if dnssec {
        if let Some(node) = zone.node(owner) {
            if let Some(nsec) = node.rrset(rr::NSEC) {
                push_rrset(&mut p.blocks, Section::Authority, &node.name, nsec, true, true);
            }
        }
    }
    p
}

/// NXDOMAIN for a name under a TLD that does not exist: SOA, and with DO the NSEC covering the name and
/// the NSEC covering the wildcard at the closest encloser, the apex (RFC 4035 3.1.3.2).
fn plan_nxdomain<'z>(zone: &'z Zone, qname: &[u8], dnssec: bool) -> Plan<'z> {
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

/// CHAOS TXT identity answers (the convention of BIND, NSD and Knot); None means REFUSED.
fn plan_chaos<'z>(cfg: &ServerConfig, q: &Query<'_>) -> Option<Plan<'z>> {
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

fn borrow_all(v: &[Vec<u8>]) -> Vec<Cow<'_, [u8]>> {
    v.iter().map(|r| Cow::Borrowed(r.as_slice())).collect()
}

/// Push an RRset and, with `dnssec`, its RRSIGs right after it.
fn push_rrset<'z>(blocks: &mut Vec<Block<'z>>, section: Section, owner: &'z [u8], set: &'z RRset, dnssec: bool, required: bool) {
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

/// Lay a plan out in full, recording cuts and pointer positions.
pub fn lay_out(q: &Query<'_>, plan: &Plan<'_>) -> Layout {
    let mut flags = wire::FLAG_QR | (plan.rcode & 0x0f);
    if plan.aa {
        flags |= wire::FLAG_AA;
    }
    let mut blocks: Vec<&Block<'_>> = plan.blocks.iter().collect();
    // Stable: answer, authority, additional-required, additional-optional.
    blocks.sort_by_key(|b| (b.section, !b.required));
    let mut w = Writer::new(q.id, flags | (q.flags & wire::COPIED_FLAGS), Some(q.question), plan.anchor_labels);
    let frag_start = w.buf.len();
    let mut counts = [0u16; 3];
    let mut cuts = Vec::new();
    let mut required_done = false;
    for b in &blocks {
        if !b.required && !required_done {
            cuts.push((w.buf.len(), counts[2]));
            required_done = true;
        }
        for rd in &b.rdata {
            w.record(&b.owner, b.rtype, b.class, b.ttl, rd);
            counts[b.section as usize] += 1;
        }
        if !b.required {
            cuts.push((w.buf.len(), counts[2]));
        }
    }
    if !required_done {
        cuts.push((w.buf.len(), counts[2]));
    }
    Layout { msg: w.buf, frag_start, ptrs: w.ptrs, cuts, ancount: counts[0], nscount: counts[1], flags }
}

/// Cut a layout to the requester's size and add OPT; TC with empty sections when the required part does
/// not fit.
pub fn finish(layout: &Layout, q: &Query<'_>, limit: usize, cfg: &ServerConfig) -> Vec<u8> {
    let nsid = nsid_payload(cfg, q.edns.as_ref());
    let opt = q.edns.as_ref().map(|e| wire::opt_record(0, e.dnssec_ok, nsid.as_deref()));
    let opt_len = opt.as_ref().map_or(0, Vec::len);
    let fit = layout.cuts.iter().rev().find(|(end, _)| end + opt_len <= limit);
    let mut out;
    let arcount;
    match fit {
        Some(&(end, ar)) => {
            out = layout.msg[..end].to_vec();
            out[6..8].copy_from_slice(&layout.ancount.to_be_bytes());
            out[8..10].copy_from_slice(&layout.nscount.to_be_bytes());
            arcount = ar;
        }
        None => {
            out = layout.msg[..layout.frag_start].to_vec();
            let f = u16::from_be_bytes([out[2], out[3]]) | wire::FLAG_TC;
            out[2..4].copy_from_slice(&f.to_be_bytes());
            out[6..10].copy_from_slice(&[0, 0, 0, 0]);
            arcount = 0;
        }
    }
    let arcount = arcount + opt.is_some() as u16;
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
    if let Some(o) = opt {
        out.extend_from_slice(&o);
    }
    out
}

fn nsid_payload(cfg: &ServerConfig, edns: Option<&Edns>) -> Option<Vec<u8>> {
    match (cfg.nsid, edns, &cfg.identity) {
        (true, Some(e), Some(id)) if e.nsid => Some(id.as_bytes().to_vec()),
        _ => None,
    }
}

/// Header-only error answer (FORMERR, NOTIMP, REFUSED, BADVERS), question echoed when there is one.
fn error_response(id: u16, qflags: u16, question: Option<&[u8]>, edns: Option<&Edns>, rcode: u16, cfg: &ServerConfig) -> Vec<u8> {
    let flags = wire::FLAG_QR | (qflags & (wire::COPIED_FLAGS | wire::OPCODE_MASK)) | (rcode & 0x0f);
    let mut w = Writer::new(id, flags, question, 0);
    if let Some(e) = edns {
        let nsid = nsid_payload(cfg, Some(e));
        w.opt((rcode >> 4) as u8, e.dnssec_ok, nsid.as_deref());
        w.set_count(3, 1);
    }
    w.buf
}
