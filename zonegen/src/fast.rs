//! The compiled table used from userspace: for the queries the programs cover, splice the precompiled
//! answer (exactly as they do) instead of planning and laying it out again. The entries come from the
//! answer function, and tests check that this gives the answer function's bytes, so it is the same answer
//! logic, only faster; everything else returns None and goes to `answer::answer`. Which queries are covered,
//! and by which kind of answer, is m_root_common's rule ([`m_root_common::covers`]), as in the programs.

use std::collections::HashMap;

use m_root_common::{Answer, AnswerKind, FixedSlot, QueryFacts, covers, orderable};

use crate::compile::{Table, splice};
use crate::name;
use crate::wire;

pub struct FastTable {
    table: Table,
    /// Lowercased TLD label (without length octet) -> ordinal.
    tlds: HashMap<Vec<u8>, usize>,
    /// (qtype, DO) -> apex answer.
    apex: HashMap<(u16, bool), usize>,
    /// TLD labels in canonical order, for the NSEC interval of a missing TLD.
    sorted: Vec<Vec<u8>>,
}

/// The facts m_root_common::covers decides on, from a parsed query: whether its TLD exists
/// (`tld_exists`) and whether the table holds signed NXDOMAIN answers (`signed_nx`) are the caller's.
pub fn query_facts(q: &wire::Query<'_>, tld_exists: bool, signed_nx: bool) -> QueryFacts {
    let labels = name::label_count(q.qname);
    let tld = (labels > 0).then(|| name::suffix(q.qname, 1));
    QueryFacts {
        flags: q.flags,
        qclass: q.qclass,
        qtype: q.qtype,
        edns: q.edns.as_ref().map(|e| (e.version, e.options())),
        // This splice adds no cookie: queries with one are the answer function's.
        cookies: false,
        dnssec_ok: q.dnssec_ok(),
        labels,
        tld_exists,
        tld_orderable: tld.is_some_and(|t| orderable(&t[1..t.len() - 1])),
        signed_nx,
    }
}

impl FastTable {
    pub fn new(table: Table) -> FastTable {
        let tlds = table.tlds.iter().enumerate().map(|(i, (k, _))| (k[1..1 + k[0] as usize].to_vec(), i)).collect();
        let apex = table.apex.iter().enumerate().map(|(i, (t, d, _))| ((*t, *d), i)).collect();
        let sorted = table.tlds.iter().map(|(k, _)| k[1..1 + k[0] as usize].to_vec()).collect();
        FastTable { table, tlds, apex, sorted }
    }

    fn fixed(&self, slot: FixedSlot) -> Option<&Answer> {
        self.table.fixed.iter().find(|(s, _)| *s == slot).map(|(_, a)| &**a)
    }

    /// The UDP answer to `msg` when the table covers it.
    pub fn answer_udp(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let q = wire::parse_query(msg).ok()?;
        let dnssec = q.dnssec_ok();
        let labels = name::label_count(q.qname);
        // The TLD label, lowercased, and its ordinal when the table has it (none at the apex).
        let label = (labels > 0).then(|| {
            let tld = name::suffix(q.qname, 1);
            tld[1..tld.len() - 1].to_ascii_lowercase()
        });
        let ordinal = label.as_ref().and_then(|l| self.tlds.get(l).copied());
        let facts = query_facts(&q, ordinal.is_some(), self.table.signed_nx());
        let entry: &Answer = match (covers(&facts)?, ordinal) {
            (AnswerKind::Apex, _) => match self.apex.get(&(q.qtype, dnssec)) {
                Some(&i) => &self.table.apex[i].2,
                None => self.fixed(FixedSlot::apex_nodata(dnssec))?,
            },
            (AnswerKind::Tld(slot), Some(i)) => self.table.tlds[i].1.get(slot as usize)?,
            (AnswerKind::SignedNxdomain, _) => {
                // Canonical order of single labels = bytewise order of the lowercased octets.
                let label = label?;
                let interval = self.sorted.partition_point(|t| t.as_slice() <= label.as_slice());
                self.table.nsec.get(interval)?
            }
            (AnswerKind::Nxdomain, _) => self.fixed(FixedSlot::NxdomainDo0)?,
            (AnswerKind::Tld(_), None) => return None,
        };
        if entry.usable == 0 {
            return None;
        }
        splice(entry, msg)
    }
}
