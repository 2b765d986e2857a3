//! Compare two DNS responses as a resolver would read them: header bits, rcode, question, and each
//! section as a multiset of records (order inside a section ignored, names compared case-insensitively
//! as RFC 4343 says, compression and layout ignored), plus the OPT record's meaning.

use std::collections::BTreeMap;

use super::print::{Message, Record, decode};
use crate::name;
use crate::rr;

/// One way two responses differ.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    Undecodable {
        ours: bool,
    },
    Rcode {
        ours: u16,
        theirs: u16,
    },
    Flag {
        flag: &'static str,
        ours: bool,
        theirs: bool,
    },
    Question,
    /// A record in one response's section and not the other's (section 0..3, `ours` says who has it).
    Record {
        section: usize,
        ours: bool,
        rtype: u16,
        owner: String,
    },
    OptPresence {
        ours: bool,
    },
    OptDnssecOk {
        ours: bool,
    },
    OptSize {
        ours: u16,
        theirs: u16,
    },
    OptOptions {
        ours: String,
        theirs: String,
    },
}

impl Difference {
    /// A short category name for summaries.
    pub fn category(&self) -> String {
        match self {
            Difference::Undecodable { .. } => "undecodable".into(),
            Difference::Rcode { .. } => "rcode".into(),
            Difference::Flag { flag, .. } => format!("flag-{flag}"),
            Difference::Question => "question".into(),
            Difference::Record { section, rtype, .. } => {
                format!("{}-{}", ["answer", "authority", "additional"][*section], rr::type_name(*rtype))
            }
            Difference::OptPresence { .. } => "opt-presence".into(),
            Difference::OptDnssecOk { .. } => "opt-do".into(),
            Difference::OptSize { .. } => "opt-size".into(),
            Difference::OptOptions { .. } => "opt-options".into(),
        }
    }
}

/// A record as a resolver tells records apart: owner (lowercased), type, class, TTL, rdata (names lowercased).
type Key = (Vec<u8>, u16, u16, u32, Vec<u8>);

fn key(r: &Record) -> Key {
    (name::lower(&r.owner), r.rtype, r.class, r.ttl, crate::zonemd::lower_rdata_names(r.rtype, &r.rdata, true))
}

fn multiset(rs: &[Record]) -> BTreeMap<Key, usize> {
    let mut m = BTreeMap::new();
    for r in rs {
        *m.entry(key(r)).or_insert(0) += 1;
    }
    m
}

/// All differences between our response and theirs.
pub fn compare(ours: &[u8], theirs: &[u8]) -> Vec<Difference> {
    let (a, b) = match (decode(ours), decode(theirs)) {
        (Some(a), Some(b)) => (a, b),
        (None, _) => return vec![Difference::Undecodable { ours: true }],
        (_, None) => return vec![Difference::Undecodable { ours: false }],
    };
    compare_messages(&a, &b)
}

/// As [`compare`], on messages already decoded.
pub fn compare_messages(a: &Message, b: &Message) -> Vec<Difference> {
    let mut d = Vec::new();
    if a.rcode() != b.rcode() {
        d.push(Difference::Rcode { ours: a.rcode(), theirs: b.rcode() });
    }
    for (bit, flag) in
        [(0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"), (0x0080, "ra"), (0x0020, "ad"), (0x0010, "cd"), (0x7800, "opcode")]
    {
        if a.flags & bit != b.flags & bit {
            d.push(Difference::Flag { flag, ours: a.flags & bit != 0, theirs: b.flags & bit != 0 });
        }
    }
    if a.question != b.question {
        d.push(Difference::Question);
    }
    for s in 0..3 {
        let (ma, mb) = (multiset(&a.sections[s]), multiset(&b.sections[s]));
        for (k, n) in &ma {
            for _ in mb.get(k).copied().unwrap_or(0)..*n {
                d.push(Difference::Record { section: s, ours: true, rtype: k.1, owner: name::to_text(&k.0) });
            }
        }
        for (k, n) in &mb {
            for _ in ma.get(k).copied().unwrap_or(0)..*n {
                d.push(Difference::Record { section: s, ours: false, rtype: k.1, owner: name::to_text(&k.0) });
            }
        }
    }
    match (&a.opt, &b.opt) {
        (Some(x), Some(y)) => {
            if (x.3 & 0x8000) != (y.3 & 0x8000) {
                d.push(Difference::OptDnssecOk { ours: x.3 & 0x8000 != 0 });
            }
            if x.0 != y.0 {
                d.push(Difference::OptSize { ours: x.0, theirs: y.0 });
            }
            if x.4 != y.4 {
                let h = |v: &[u8]| v.iter().map(|c| format!("{c:02x}")).collect::<String>();
                d.push(Difference::OptOptions { ours: h(&x.4), theirs: h(&y.4) });
            }
        }
        (None, None) => {}
        (x, _) => d.push(Difference::OptPresence { ours: x.is_some() }),
    }
    d
}
