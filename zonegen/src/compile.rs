//! The compiled response table: for every TLD and for the apex, the answer fragments the XDP program
//! splices behind an echoed question, and the TLD index it finds a TLD's answers through. Every fragment
//! comes from the one answer function (`answer::lay_out` on a canonical question); this module only
//! measures it: cuts, pointer positions, checksums. An answer that does not fit the table's entry is left
//! to userspace, and the table's [`Summary`] says which and why.

use m_root_common::{
    Answer, Cut, FixedSlot, LabelWords, MAX_CUTS, MAX_FRAG, MAX_LABEL, MAX_PTRS, Ptr, TLD_BUCKETS, TLD_MAX_PROBE, TldEntry, TldSlot, csum,
    tld_hash,
};

use crate::answer::{self, Layout};
use crate::name;
use crate::rr;
use crate::wire;
use crate::zone::Zone;

/// A TLD's key: its label in wire form (length octet, then the label lowercased), zero-padded.
pub type TldKey = [u8; MAX_LABEL + 1];

/// A compiled table for one zone.
pub struct Table {
    pub serial: u32,
    /// Per TLD, in canonical order: key label and its slot answers.
    pub tlds: Vec<(TldKey, Vec<Box<Answer>>)>,
    /// Apex answers by (qtype, DO).
    pub apex: Vec<(u16, bool, Box<Answer>)>,
    /// Fixed answers by slot.
    pub fixed: Vec<(FixedSlot, Box<Answer>)>,
    /// Signed NXDOMAIN per NSEC interval (index 0: the apex's NSEC, k: the k-th TLD's), empty when the zone
    /// is unsigned or a TLD label holds a zero octet (the XDP sort key could not order it).
    pub nsec: Vec<Box<Answer>>,
    /// The TLD index over `tlds` ([`tld_index`]).
    pub tld_index: Result<TldIndex, NoSeed>,
    /// The answers left to userspace (`usable == 0`), and why.
    pub summary: Summary,
}

/// Why an answer could not go into the table (it is then left to userspace).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("{0} compression pointers, more than the table's {MAX_PTRS}")]
    TooManyPointers(usize),
    #[error("{0} cut points, more than the table's {MAX_CUTS}")]
    TooManyCuts(usize),
    #[error("query for the canonical question did not parse")]
    BadQuery,
}

/// A [`CompileError`] without its numbers: what the summary counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    TooManyPointers,
    TooManyCuts,
    BadQuery,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::TooManyPointers, Reason::TooManyCuts, Reason::BadQuery];
    pub const fn text(self) -> &'static str {
        match self {
            Reason::TooManyPointers => "too many compression pointers",
            Reason::TooManyCuts => "too many cut points",
            Reason::BadQuery => "canonical query did not parse",
        }
    }
}

impl CompileError {
    pub const fn reason(&self) -> Reason {
        match self {
            CompileError::TooManyPointers(_) => Reason::TooManyPointers,
            CompileError::TooManyCuts(_) => Reason::TooManyCuts,
            CompileError::BadQuery => Reason::BadQuery,
        }
    }
}

/// How many of the answers the table holds are left to userspace, by reason, and the first few by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Unusable answers, indexed by [`Reason`].
    pub unusable: [usize; Reason::ALL.len()],
    /// The first [`Summary::NAMED`] of them: the canonical question (`com. DS DO=1`) and the error.
    pub first: Vec<(String, CompileError)>,
}

impl Summary {
    /// How many unusable answers are named.
    pub const NAMED: usize = 5;

    /// Unusable answers in all.
    pub fn unusable_count(&self) -> usize {
        self.unusable.iter().sum()
    }

    fn add(&mut self, question: impl FnOnce() -> String, e: CompileError) {
        self.unusable[e.reason() as usize] += 1;
        if self.first.len() < Self::NAMED {
            self.first.push((question(), e));
        }
    }
}

/// "2 answers not usable by XDP (userspace answers them): 2 too many compression pointers; first: com. NS
/// DO=1 (300 compression pointers, more than the table's 128), ..."; "every answer usable by XDP" when
/// there are none.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.unusable_count();
        if n == 0 {
            return write!(f, "every answer usable by XDP");
        }
        let by: Vec<String> = Reason::ALL
            .iter()
            .filter(|r| self.unusable[**r as usize] > 0)
            .map(|r| format!("{} {}", self.unusable[*r as usize], r.text()))
            .collect();
        let first: Vec<String> = self.first.iter().map(|(q, e)| format!("{q} ({e})")).collect();
        write!(f, "{n} answers not usable by XDP (userspace answers them): {}; first: {}", by.join(", "), first.join(", "))
    }
}

/// The TLD index: open addressing in [`TLD_BUCKETS`] slots, under a hash seed that puts every TLD within
/// [`TLD_MAX_PROBE`] slots of its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TldIndex {
    pub seed: u64,
    /// [`TLD_BUCKETS`] slots; the dataplane writes every one, so nothing of a generation's older use survives.
    pub slots: Vec<TldEntry>,
}

/// No seed tried places every TLD within [`TLD_MAX_PROBE`] probes.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("no hash seed places {0} TLDs within {TLD_MAX_PROBE} probes")]
pub struct NoSeed(pub usize);

/// Build the TLD index over `keys` (in ordinal order): the first seed, counting from 0, under which
/// every TLD has a free slot within TLD_MAX_PROBE of its hash.
pub fn tld_index<'a>(keys: impl IntoIterator<Item = &'a TldKey>) -> Result<TldIndex, NoSeed> {
    let words: Vec<LabelWords> = keys
        .into_iter()
        .map(|key| {
            let mut w = [0u64; 8];
            for (i, c) in key.chunks_exact(8).enumerate() {
                w[i] = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            }
            w
        })
        .collect();
    'seeds: for seed in 0..10_000u64 {
        let mut slots = vec![TldEntry::EMPTY; TLD_BUCKETS as usize];
        for (ordinal, w) in words.iter().enumerate() {
            let h = tld_hash(w, seed);
            let free = (0..TLD_MAX_PROBE).map(|i| ((h + i) & (TLD_BUCKETS - 1)) as usize).find(|&b| slots[b].used == 0);
            match free {
                Some(b) => slots[b] = TldEntry { label: *w, ordinal: ordinal as u32, used: 1 },
                None => continue 'seeds,
            }
        }
        return Ok(TldIndex { seed, slots });
    }
    Err(NoSeed(words.len()))
}

/// Does the table of `zone` hold signed NXDOMAIN answers (one per NSEC interval)? Only for a signed
/// zone whose TLD labels the programs can order (m_root_common::orderable).
pub fn holds_signed_nx(zone: &Zone) -> bool {
    zone.signed && zone.tlds.iter().all(|t| m_root_common::orderable(&t[1..t.len() - 1]))
}

impl Table {
    /// It holds the signed NXDOMAIN answers: one per NSEC interval (the apex's and each TLD's).
    pub fn signed_nx(&self) -> bool {
        !self.nsec.is_empty() && self.nsec.len() == self.tlds.len() + 1
    }
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
    /// Bytes of BPF map memory one generation of this table's answers takes (values only).
    pub fn bytes(&self) -> usize {
        self.answer_count() * std::mem::size_of::<Answer>()
    }
}

/// Compile the whole table.
pub fn compile(zone: &Zone) -> Table {
    let mut summary = Summary::default();
    // Every answer through here: one that does not fit is zeroed (unusable) and counted with its reason.
    let mut one = |qname: &[u8], qtype: u16, dnssec: bool| {
        compile_one(zone, qname, qtype, dnssec).unwrap_or_else(|e| {
            let question = || format!("{} {} DO={}", name::to_text(qname), rr::type_name(qtype), dnssec as u8);
            summary.add(question, e);
            Box::new(Answer::zeroed())
        })
    };
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
                one(tld, if qtype == 0 { rr::A } else { qtype }, dnssec)
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
            apex.push((rtype, dnssec, one(name::ROOT, rtype, dnssec)));
        }
    }
    let mut fixed = Vec::new();
    // NXDOMAIN: any name under a TLD that does not exist; pick a short one the zone lacks.
    let missing = (0u8..=255)
        .map(|c| vec![1, c, 0])
        .find(|n| n[1].is_ascii_alphanumeric() && !zone.is_tld(&name::lower(n)))
        .unwrap_or_else(|| b"\x0fno-such-tld-123\x00".to_vec());
    fixed.push((FixedSlot::NxdomainDo0, one(&missing, rr::A, false)));
    // NODATA at the apex: a type the apex never holds (A).
    let nodata_type = (1u16..).find(|t| zone.apex().rrset(*t).is_none() && !rr::is_meta(*t) && *t != rr::RRSIG).unwrap_or(rr::A);
    for (slot, dnssec) in [(FixedSlot::ApexNodataDo0, false), (FixedSlot::ApexNodataDo1, true)] {
        fixed.push((slot, one(name::ROOT, nodata_type, dnssec)));
    }
    // Signed NXDOMAIN, one per NSEC interval: the answer for the smallest name after the interval's owner
    // (the owner's label and a zero octet) is the answer for every missing name in the interval.
    let mut nsec = Vec::new();
    if holds_signed_nx(zone) {
        let mut owners: Vec<Vec<u8>> = vec![Vec::new()];
        owners.extend(zone.tlds.iter().map(|t| t[1..t.len() - 1].to_vec()));
        for o in owners {
            let mut label = o.clone();
            label.push(0);
            let mut qname = vec![label.len() as u8];
            qname.extend_from_slice(&label);
            qname.push(0);
            nsec.push(one(&qname, rr::A, true));
        }
    }
    let tld_index = tld_index(tlds.iter().map(|(k, _)| k));
    Table { serial: zone.serial, tlds, apex, fixed, nsec, tld_index, summary }
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
/// Userspace answers the UDP queries the table covers so (`fast`), and tests check the table against
/// the answer function with it, without the kernel.
pub fn splice(entry: &Answer, query: &[u8]) -> Option<Vec<u8>> {
    let q = wire::parse_query(query).ok()?;
    let qlen = q.qname.len();
    let limit = answer::size_limit(q.edns.as_ref(), answer::Transport::Udp);
    let opt_len = if q.edns.is_some() { m_root_common::OPT_LEN } else { 0 };
    let head = m_root_common::DNS_HEADER_LEN + qlen + m_root_common::QTYPE_QCLASS_LEN;
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
        // The OPT the programs append (tests check it is the answer function's too).
        out.extend_from_slice(&m_root_common::bare_opt(e.dnssec_ok));
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::zone::LoadOptions;

    pub(crate) fn small_zone() -> Zone {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/other-layout.zone");
        Zone::load(&p, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_tld_index_finds_every_tld_within_its_probes() {
        let table = compile(&small_zone());
        assert_eq!(table.summary, Summary::default(), "{}", table.summary);
        let index = table.tld_index.as_ref().unwrap();
        assert_eq!(index.slots.len(), TLD_BUCKETS as usize);
        assert_eq!(index.slots.iter().filter(|e| e.used == 1).count(), table.tlds.len());
        for (ordinal, e) in index.slots.iter().filter(|e| e.used == 1).map(|e| (e.ordinal, e)) {
            let h = tld_hash(&e.label, index.seed);
            let at = (0..TLD_MAX_PROBE).map(|i| ((h + i) & (TLD_BUCKETS - 1)) as usize).find(|&b| index.slots[b] == *e);
            assert!(at.is_some(), "TLD {ordinal} within {TLD_MAX_PROBE} probes of its hash");
            let key = &table.tlds[ordinal as usize].0;
            assert_eq!(key[..8], e.label[0].to_ne_bytes(), "slot of TLD {ordinal} holds its label");
        }
    }

    #[test]
    fn the_summary_counts_by_reason_and_names_the_first() {
        let mut s = Summary::default();
        assert_eq!(s.to_string(), "every answer usable by XDP");
        for n in 0..6 {
            s.add(|| format!("t{n}. A DO=0"), CompileError::TooManyPointers(200 + n));
        }
        s.add(|| "x. DS DO=1".into(), CompileError::TooManyCuts(40));
        assert_eq!(s.unusable, [6, 1, 0]);
        assert_eq!(s.unusable_count(), 7);
        assert_eq!(s.first.len(), Summary::NAMED);
        assert_eq!(s.first[0], ("t0. A DO=0".to_string(), CompileError::TooManyPointers(200)));
        let text = s.to_string();
        assert!(text.starts_with("7 answers not usable by XDP"), "{text}");
        assert!(text.contains("6 too many compression pointers, 1 too many cut points"), "{text}");
        assert!(text.contains("t0. A DO=0 (200 compression pointers, more than the table's 128)"), "{text}");
    }
}
