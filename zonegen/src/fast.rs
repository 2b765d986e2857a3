//! The compiled table used from userspace: for the queries the XDP program covers, splice the precompiled
//! answer (exactly as the program does) instead of planning and laying it out again. The entries come from
//! the answer function, and tests check that this gives the answer function's bytes, so it is the same
//! answer logic, only faster; everything else returns None and goes to `answer::answer`.

use std::collections::HashMap;

use m_root_common::{Answer, FixedSlot, TldSlot};

use crate::compile::{Table, splice};
use crate::name;
use crate::rr;
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
        if q.opcode() != 0 || q.qclass != rr::CLASS_IN || rr::is_meta(q.qtype) {
            return None;
        }
        if let Some(e) = &q.edns {
            if e.version != 0 || e.nsid || e.other_options > 0 {
                return None;
            }
        }
        let dnssec = q.dnssec_ok();
        let labels = name::label_count(q.qname);
        let entry: &Answer = if labels == 0 {
            if q.qtype >= 256 {
                return None;
            }
            match self.apex.get(&(q.qtype, dnssec)) {
                Some(&i) => &self.table.apex[i].2,
                None => self.fixed(if dnssec { FixedSlot::ApexNodataDo1 } else { FixedSlot::ApexNodataDo0 })?,
            }
        } else {
            let tld = name::suffix(q.qname, 1);
            let label = tld[1..tld.len() - 1].to_ascii_lowercase();
            match self.tlds.get(&label) {
                Some(&i) => {
                    let slot = TldSlot::for_question(labels == 1, q.qtype, dnssec);
                    self.table.tlds[i].1.get(slot as usize)?
                }
                None if dnssec => {
                    if self.table.nsec.is_empty() || label.contains(&0) {
                        return None;
                    }
                    // Canonical order of single labels = bytewise order of the lowercased octets.
                    let interval = self.sorted.partition_point(|t| t.as_slice() <= label.as_slice());
                    self.table.nsec.get(interval)?
                }
                None => self.fixed(FixedSlot::NxdomainDo0)?,
            }
        };
        if entry.usable == 0 {
            return None;
        }
        splice(entry, msg)
    }
}
