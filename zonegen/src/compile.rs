//! The compiled response table: for every TLD and for the apex, the answer fragments the XDP program
//! splices behind an echoed question. Every fragment comes from the one answer function (`answer::lay_out`
//! on a canonical question); this module only measures it: cuts, pointer positions, checksums.

use m_root_common::{Answer, Cut, FixedSlot, MAX_CUTS, MAX_FRAG, MAX_LABEL, MAX_PTRS, Ptr, TldSlot, csum};

use crate::answer::{self, Layout};
use crate::name;
use crate::rr;
use crate::wire;
use crate::zone::Zone;

/// A compiled table for one zone.
pub struct Table {
    pub serial: u32,
    /// Per TLD, in canonical order: key label (wire form, lowercased, zero-padded) and its slot answers.
    pub tlds: Vec<([u8; MAX_LABEL + 1], Vec<Box<Answer>>)>,
    /// Apex answers by (qtype, DO).
    pub apex: Vec<(u16, bool, Box<Answer>)>,
    /// Fixed answers by slot.
    pub fixed: Vec<(FixedSlot, Box<Answer>)>,
    /// Signed NXDOMAIN per NSEC interval (index 0: the apex's NSEC, k: the k-th TLD's), empty when the zone
    /// is unsigned or a TLD label holds a zero octet (the XDP sort key could not order it).
    pub nsec: Vec<Box<Answer>>,
}

/// Why an answer could not go into the table (it is then left to userspace).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("{0} compression pointers, more than the table's {MAX_PTRS}")]
    TooManyPointers(usize),
    #[error("{0} cut points, more than the table's {MAX_CUTS}")]
    TooManyCuts(usize),
    #[error("query for the canonical question did not parse")]
    BadQuery,
}

impl Table {
    pub fn answer_count(&self) -> usize {
        self.tlds.iter().map(|(_, a)| a.len()).sum::<usize>() + self.apex.len() + self.fixed.len() + self.nsec.len()
    }
    pub fn usable_count(&self) -> usize {
        self.tlds
            .iter()
            .flat_map(|(_, a)| a.iter())
            .chain(self.apex.iter().map(|(_, _, a)| a))
            .chain(self.fixed.iter().map(|(_, a)| a))
            .chain(self.nsec.iter())
            .filter(|a| a.usable == 1)
            .count()
    }
    /// Bytes of BPF map memory one generation of this table takes (values only).
    pub fn bytes(&self) -> usize {
        self.answer_count() * std::mem::size_of::<Answer>()
    }
}

/// Compile the whole table.
pub fn compile(zone: &Zone) -> Table {
    let mut tlds = Vec::with_capacity(zone.tlds.len());
    for tld in &zone.tlds {
        let mut key = [0u8; MAX_LABEL + 1];
        let label_len = tld.len() - 1; // length octet + label, without the root octet
        key[..label_len].copy_from_slice(&tld[..label_len]);
        let slots = TldSlot::ALL
            .iter()
            .map(|slot| {
                // "Any other qtype" is a referral; A stands for it.
                let (qtype, dnssec) = slot.question();
                let qtype = if qtype == 0 { rr::A } else { qtype };
                compile_one(zone, tld, qtype, dnssec).unwrap_or_else(|_| Box::new(Answer::zeroed()))
            })
            .collect();
        tlds.push((key, slots));
    }
    let mut apex = Vec::new();
    // Every type the apex holds, and RRSIG (all its signatures); other types get the NODATA slot.
    let mut types: Vec<u16> = zone.apex().rrsets.iter().map(|s| s.rtype).collect();
    if zone.signed {
        types.push(rr::RRSIG);
    }
    for rtype in types {
        for dnssec in [false, true] {
            let a = compile_one(zone, name::ROOT, rtype, dnssec).unwrap_or_else(|_| Box::new(Answer::zeroed()));
            apex.push((rtype, dnssec, a));
        }
    }
    let mut fixed = Vec::new();
    // NXDOMAIN: any name under a TLD that does not exist; pick a short one the zone lacks.
    let missing = (0u8..=255)
        .map(|c| vec![1, c, 0])
        .find(|n| n[1].is_ascii_alphanumeric() && !zone.is_tld(&name::lower(n)))
        .unwrap_or_else(|| b"\x0fno-such-tld-123\x00".to_vec());
    let nx = compile_one(zone, &missing, rr::A, false).unwrap_or_else(|_| Box::new(Answer::zeroed()));
    fixed.push((FixedSlot::NxdomainDo0, nx));
    // NODATA at the apex: a type the apex never holds (A).
    let nodata_type = (1u16..).find(|t| zone.apex().rrset(*t).is_none() && !rr::is_meta(*t) && *t != rr::RRSIG).unwrap_or(rr::A);
    for (slot, dnssec) in [(FixedSlot::ApexNodataDo0, false), (FixedSlot::ApexNodataDo1, true)] {
        let a = compile_one(zone, name::ROOT, nodata_type, dnssec).unwrap_or_else(|_| Box::new(Answer::zeroed()));
        fixed.push((slot, a));
    }
    // Signed NXDOMAIN, one per NSEC interval: the answer for the smallest name after the interval's owner
    // (the owner's label and a zero octet) is the answer for every missing name in the interval.
    let mut nsec = Vec::new();
    let orderable = zone.tlds.iter().all(|t| !t[1..t.len() - 1].contains(&0));
    if zone.signed && orderable {
        let mut owners: Vec<Vec<u8>> = vec![Vec::new()];
        owners.extend(zone.tlds.iter().map(|t| t[1..t.len() - 1].to_vec()));
        for o in owners {
            let mut label = o.clone();
            label.push(0);
            let mut qname = vec![label.len() as u8];
            qname.extend_from_slice(&label);
            qname.push(0);
            nsec.push(compile_one(zone, &qname, rr::A, true).unwrap_or_else(|_| Box::new(Answer::zeroed())));
        }
    }
    Table { serial: zone.serial, tlds, apex, fixed, nsec }
}

/// Compile the answer for one canonical question.
pub fn compile_one(zone: &Zone, qname: &[u8], qtype: u16, dnssec: bool) -> Result<Box<Answer>, CompileError> {
    let msg = wire::build_query(0, 0, qname, qtype, rr::CLASS_IN, Some((m_root_common::OUR_UDP_PAYLOAD, dnssec)));
    let q = wire::parse_query(&msg).map_err(|_| CompileError::BadQuery)?;
    let plan = answer::plan_in(zone, &q);
    let layout = answer::lay_out(&q, &plan);
    from_layout(&layout, qname.len())
}

/// Measure a laid-out answer into a table entry.
pub fn from_layout(layout: &Layout, canon_qlen: usize) -> Result<Box<Answer>, CompileError> {
    let frag = &layout.msg[layout.frag_start..];
    // Cuts whose fragment exceeds MAX_FRAG can never be chosen on UDP (the message would pass 1232).
    let cuts: Vec<(usize, u16)> =
        layout.cuts.iter().map(|&(end, ar)| (end - layout.frag_start, ar)).filter(|&(len, _)| len <= MAX_FRAG).collect();
    if cuts.len() > MAX_CUTS {
        return Err(CompileError::TooManyCuts(cuts.len()));
    }
    let kept = cuts.last().map_or(0, |c| c.0);
    let ptrs: Vec<usize> = layout.ptrs.iter().map(|&p| p - layout.frag_start).filter(|&p| p < kept).collect();
    if ptrs.len() > MAX_PTRS {
        return Err(CompileError::TooManyPointers(ptrs.len()));
    }
    let mut a = Box::new(Answer::zeroed());
    a.flags = layout.flags;
    a.ancount = layout.ancount;
    a.nscount = layout.nscount;
    a.canon_qlen = canon_qlen as u16;
    a.nptrs = ptrs.len() as u16;
    a.ncuts = cuts.len() as u16;
    a.usable = 1;
    for (i, &p) in ptrs.iter().enumerate() {
        a.ptrs[i] = Ptr { off: p as u16, val: u16::from_be_bytes([frag[p], frag[p + 1]]) };
    }
    for (i, &(len, ar)) in cuts.iter().enumerate() {
        let inside: Vec<usize> = ptrs.iter().copied().filter(|&p| p < len).collect();
        a.cuts[i] = Cut {
            len: len as u16,
            arcount: ar,
            nptrs: inside.len() as u16,
            nodd: inside.iter().filter(|&&p| p % 2 == 1).count() as u16,
            csum: csum::sum_bytes(&frag[..len]),
        };
    }
    a.data[..kept].copy_from_slice(&frag[..kept]);
    Ok(a)
}

/// What the XDP program will send for `query` (a DNS message) given this entry, computed the way the
/// program does it: header from the entry, question echoed, fragment cut, pointers shifted, OPT appended.
/// Used by tests to check the table against the answer function without the kernel.
pub fn splice(entry: &Answer, query: &[u8]) -> Option<Vec<u8>> {
    let q = wire::parse_query(query).ok()?;
    let qlen = q.qname.len();
    let limit = answer::size_limit(q.edns.as_ref(), answer::Transport::Udp);
    let opt_len = if q.edns.is_some() { m_root_common::OPT_LEN } else { 0 };
    let head = 12 + qlen + 4;
    let avail = limit.checked_sub(head + opt_len)?;
    let cut = entry.cuts[..entry.ncuts as usize].iter().rev().find(|c| c.len as usize <= avail);
    let mut out = Vec::with_capacity(limit);
    out.extend_from_slice(&query[..head]);
    let copied = u16::from_be_bytes([query[2], query[3]]) & wire::COPIED_FLAGS;
    let delta = qlen as i32 - entry.canon_qlen as i32;
    let (flags, an, ns, ar) = match cut {
        Some(c) => {
            let start = out.len();
            out.extend_from_slice(&entry.data[..c.len as usize]);
            for p in &entry.ptrs[..c.nptrs as usize] {
                let at = start + p.off as usize;
                let v = p.val as i32 + delta;
                out[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes());
            }
            (entry.flags | copied, entry.ancount, entry.nscount, c.arcount)
        }
        None => (entry.flags | copied | wire::FLAG_TC, 0, 0, 0),
    };
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[6..8].copy_from_slice(&an.to_be_bytes());
    out[8..10].copy_from_slice(&ns.to_be_bytes());
    out[10..12].copy_from_slice(&(ar + (opt_len > 0) as u16).to_be_bytes());
    if let Some(e) = &q.edns {
        out.extend_from_slice(&wire::opt_record(0, e.dnssec_ok, None));
    }
    Some(out)
}
