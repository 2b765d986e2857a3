//! Which queries the programs answer from the table, stated once. The XDP and TC programs
//! (m-root-ebpf), zonegen's userspace splice (`zonegen::fast`) and m-root-user's `xdp_covers` all decide
//! with these functions. Each takes plain values, so the programs call the steps where they learn each
//! fact (the TLD lookup only once the question's shape is known to be covered) and userspace calls
//! [`covers`] with all of them at once.
//!
//! Beyond these question facts a query is answered only when its message is exactly a header, one
//! uncompressed question and at most one OPT, and when the table's entry for it is usable
//! ([`crate::Answer::usable`]).

use crate::cookie::{CLIENT_LEN, OPTION_COOKIE, SERVER_LEN};
use crate::counters::Counter;
use crate::dns::{CLASS_IN, is_meta, is_standard_query};
use crate::layout::{APEX_QTYPES, TldSlot};

/// Class IN and a type that names data (no meta or query-only type: ANY, AXFR, OPT, ...).
pub const fn question_covered(qclass: u16, qtype: u16) -> bool {
    qclass == CLASS_IN && !is_meta(qtype)
}

/// The options of a query's OPT record, as coverage sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptOptions {
    None,
    /// Exactly one option, a COOKIE of a shape the programs take ([`cookie_shape`]).
    Cookie,
    /// Anything else (NSID, padding, several options, other cookie lengths).
    Other,
}

/// The one option the programs take: a single COOKIE filling the OPT's RDATA (`rdlen`), with a client
/// cookie alone or with a server cookie of RFC 9018's 16 octets (any other length is userspace's:
/// FORMERR, or another server's cookie, which is not ours anyway).
pub const fn cookie_shape(rdlen: u16, code: u16, len: u16) -> bool {
    code == OPTION_COOKIE && rdlen as usize == 4 + len as usize && (len as usize == CLIENT_LEN || len as usize == CLIENT_LEN + SERVER_LEN)
}

/// The EDNS shape the table covers: version 0, and no options but a cookie when cookies are on
/// (`cookies`). A later version (BADVERS) or any other option (NSID, padding) is userspace's to answer.
pub const fn edns_covered(version: u8, options: OptOptions, cookies: bool) -> bool {
    version == 0
        && match options {
            OptOptions::None => true,
            OptOptions::Cookie => cookies,
            OptOptions::Other => false,
        }
}

/// Apex answers exist for qtypes below [`APEX_QTYPES`] (every type a root apex holds, and NODATA for
/// the rest of them); larger qtypes at the apex are userspace's.
pub const fn apex_covered(qtype: u16) -> bool {
    (qtype as u32) < APEX_QTYPES
}

/// The kinds of table answer, by where the question's name falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// The apex: the apex answer for the qtype, or NODATA ([`crate::FixedSlot::apex_nodata`]) for a
    /// type the apex does not hold.
    Apex,
    /// At or below an existing TLD: that TLD's slot.
    Tld(TldSlot),
    /// Below a TLD that does not exist, DO=0 ([`crate::FixedSlot::NxdomainDo0`]).
    Nxdomain,
    /// Below a TLD that does not exist, DO=1: the answer of the NSEC interval the label falls in
    /// ([`crate::nsec_answer_index`]), for a label that is [`crate::orderable`].
    SignedNxdomain,
}

impl AnswerKind {
    /// The counter of an answer of this kind.
    pub const fn counter(self) -> Counter {
        match self {
            AnswerKind::Apex => Counter::AnsApex,
            AnswerKind::Tld(slot) => slot.counter(),
            AnswerKind::Nxdomain => Counter::AnsNxdomain,
            AnswerKind::SignedNxdomain => Counter::AnsNxdomainDnssec,
        }
    }
}

/// The kind of table answer for a covered question (see [`question_covered`]) with `labels` labels
/// (0: the apex) and the given qtype and DO bit, whose TLD exists or not (`tld_exists`, unused at the
/// apex), in a table that holds signed NXDOMAIN answers or not (`signed_nx`, [`crate::GenInfo::signed_nx`]);
/// None when the table has no answer for it.
pub const fn answer_kind(labels: usize, qtype: u16, dnssec_ok: bool, tld_exists: bool, signed_nx: bool) -> Option<AnswerKind> {
    if labels == 0 {
        return if apex_covered(qtype) { Some(AnswerKind::Apex) } else { None };
    }
    if tld_exists {
        return Some(AnswerKind::Tld(TldSlot::for_question(labels == 1, qtype, dnssec_ok)));
    }
    match (dnssec_ok, signed_nx) {
        (false, _) => Some(AnswerKind::Nxdomain),
        (true, true) => Some(AnswerKind::SignedNxdomain),
        (true, false) => None,
    }
}

/// What decides whether the table answers a query, each as its side establishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryFacts {
    /// Header flags (QR, OPCODE).
    pub flags: u16,
    pub qclass: u16,
    pub qtype: u16,
    /// The OPT record's version and options; None without EDNS.
    pub edns: Option<(u8, OptOptions)>,
    /// Cookies are on: the programs answer a query with a cookie, adding ours.
    pub cookies: bool,
    /// The DO bit (false without EDNS).
    pub dnssec_ok: bool,
    /// Labels in the question name (0: the apex).
    pub labels: usize,
    /// The name's TLD is in the table.
    pub tld_exists: bool,
    /// The name's TLD label is [`crate::orderable`].
    pub tld_orderable: bool,
    /// The table holds signed NXDOMAIN answers (a signed zone whose TLD labels are all orderable).
    pub signed_nx: bool,
}

/// Which table answer covers a query, or None when it goes to userspace: the whole rule in one call.
/// m-root-user's `xdp_covers` should call this (the programs and `zonegen::fast` apply the same steps).
pub const fn covers(q: &QueryFacts) -> Option<AnswerKind> {
    if !is_standard_query(q.flags) || !question_covered(q.qclass, q.qtype) {
        return None;
    }
    if let Some((version, options)) = q.edns
        && !edns_covered(version, options, q.cookies)
    {
        return None;
    }
    match answer_kind(q.labels, q.qtype, q.dnssec_ok, q.tld_exists, q.signed_nx) {
        Some(AnswerKind::SignedNxdomain) if !q.tld_orderable => None,
        kind => kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{TYPE_DS, TYPE_OPT};

    const A: u16 = 1;
    const NS: u16 = 2;
    const NSEC: u16 = 47;
    const ANY: u16 = 255;

    /// `com. A` without EDNS, with the TLD in the table; each test changes what it is about.
    fn com() -> QueryFacts {
        QueryFacts {
            flags: 0x0100,
            qclass: CLASS_IN,
            qtype: A,
            edns: None,
            cookies: false,
            dnssec_ok: false,
            labels: 1,
            tld_exists: true,
            tld_orderable: true,
            signed_nx: true,
        }
    }

    #[test]
    fn tld_questions_take_their_slot() {
        assert_eq!(covers(&com()), Some(AnswerKind::Tld(TldSlot::ReferralDo0)));
        let signed = QueryFacts { edns: Some((0, OptOptions::None)), dnssec_ok: true, ..com() };
        assert_eq!(covers(&signed), Some(AnswerKind::Tld(TldSlot::ReferralDo1)));
        assert_eq!(covers(&QueryFacts { qtype: TYPE_DS, ..com() }), Some(AnswerKind::Tld(TldSlot::DsDo0)));
        assert_eq!(covers(&QueryFacts { qtype: TYPE_DS, labels: 2, ..com() }), Some(AnswerKind::Tld(TldSlot::ReferralDo0)));
        assert_eq!(covers(&QueryFacts { qtype: NSEC, ..signed }), Some(AnswerKind::Tld(TldSlot::ReferralDo1)));
        assert_eq!(covers(&QueryFacts { labels: 5, ..com() }).map(AnswerKind::counter), Some(Counter::AnsReferral));
    }

    #[test]
    fn apex_questions_below_the_qtype_limit() {
        let apex = QueryFacts { labels: 0, tld_exists: false, qtype: NS, ..com() };
        assert_eq!(covers(&apex), Some(AnswerKind::Apex));
        assert_eq!(covers(&QueryFacts { qtype: 256, ..apex }), None);
        assert_eq!(covers(&QueryFacts { qtype: 65, ..apex }), Some(AnswerKind::Apex), "HTTPS: NODATA");
        assert_eq!(covers(&QueryFacts { qtype: ANY, ..apex }), None, "ANY is meta");
    }

    #[test]
    fn missing_tlds_are_nxdomain_and_signed_only_where_the_label_orders() {
        let missing = QueryFacts { tld_exists: false, ..com() };
        assert_eq!(covers(&missing), Some(AnswerKind::Nxdomain));
        // DO=0 needs no order, so a zero octet does not matter.
        assert_eq!(covers(&QueryFacts { tld_orderable: false, ..missing }), Some(AnswerKind::Nxdomain));
        let signed = QueryFacts { edns: Some((0, OptOptions::None)), dnssec_ok: true, ..missing };
        assert_eq!(covers(&signed), Some(AnswerKind::SignedNxdomain));
        assert_eq!(covers(&QueryFacts { tld_orderable: false, ..signed }), None);
        assert_eq!(covers(&QueryFacts { signed_nx: false, ..signed }), None, "unsigned table");
        assert_eq!(answer_kind(3, A, true, false, true).map(AnswerKind::counter), Some(Counter::AnsNxdomainDnssec));
    }

    #[test]
    fn other_shapes_go_to_userspace() {
        assert_eq!(covers(&QueryFacts { qclass: 3, ..com() }), None, "CHAOS");
        assert_eq!(covers(&QueryFacts { qtype: ANY, ..com() }), None);
        assert_eq!(covers(&QueryFacts { qtype: TYPE_OPT, ..com() }), None);
        assert_eq!(covers(&QueryFacts { qtype: 0, ..com() }), None);
        assert_eq!(covers(&QueryFacts { flags: 0x2800, ..com() }), None, "UPDATE");
        assert_eq!(covers(&QueryFacts { flags: 0x8000, ..com() }), None, "a response");
        assert_eq!(covers(&QueryFacts { edns: Some((1, OptOptions::None)), ..com() }), None, "EDNS version 1");
        assert_eq!(covers(&QueryFacts { edns: Some((0, OptOptions::Other)), cookies: true, ..com() }), None, "an option");
        let cookie = QueryFacts { edns: Some((0, OptOptions::Cookie)), ..com() };
        assert_eq!(covers(&cookie), None, "a cookie, cookies off");
        assert_eq!(covers(&QueryFacts { cookies: true, ..cookie }), Some(AnswerKind::Tld(TldSlot::ReferralDo0)));
        assert!(cookie_shape(12, 10, 8) && cookie_shape(28, 10, 24));
        assert!(!cookie_shape(20, 10, 16) && !cookie_shape(16, 10, 8) && !cookie_shape(12, 3, 8));
        assert_eq!(covers(&QueryFacts { edns: Some((0, OptOptions::None)), ..com() }), Some(AnswerKind::Tld(TldSlot::ReferralDo0)));
        assert!(question_covered(CLASS_IN, 254 + 2) && !question_covered(CLASS_IN, 128));
    }
}
