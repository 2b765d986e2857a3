//! The compiler's cuts, entry by entry, for a few TLDs and the apex: one cut for the required records and
//! one after each optional RRset, lengths strictly ascending, the last one the whole fragment; and each cut,
//! spliced for the buffer size it exactly fills, is the answer function's answer at that size (one octet
//! less takes the cut before it, or TC).

use std::path::Path;
use std::sync::OnceLock;

use m_root_common::{Answer, MAX_FRAG, OPT_LEN, TldSlot};
use zonegen::answer::{self, Transport};
use zonegen::compile::{compile, compile_one, splice};
use zonegen::{LoadOptions, ServerConfig, Zone, name, rr, wire};

fn root() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102");
        Zone::load(&p, &LoadOptions::default()).expect("bundled zone loads")
    })
}

/// The answer function's answer to `qname qtype` with EDNS (`size`, DO), over UDP or TCP.
fn answer_at(qname: &[u8], qtype: u16, size: u16, dnssec: bool, transport: Transport) -> (Vec<u8>, Vec<u8>) {
    let q = wire::build_query(0x4242, wire::FLAG_RD, qname, qtype, rr::CLASS_IN, Some((size, dnssec)));
    let a = answer::answer(root(), &ServerConfig::default(), &q, transport).expect("an answer");
    (q, a)
}

/// Optional blocks in the plan for the canonical question: one cut after each, besides the required one.
fn optional_blocks(qname: &[u8], qtype: u16, dnssec: bool) -> usize {
    let msg = wire::build_query(0, 0, qname, qtype, rr::CLASS_IN, Some((1232, dnssec)));
    answer::plan_in(root(), &wire::parse_query(&msg).unwrap()).blocks.iter().filter(|b| !b.required).count()
}

/// What one entry's check covered.
#[derive(Default)]
struct Checked {
    /// Cuts in the entry.
    cuts: usize,
    /// (question, cut) pairs spliced at the size the cut exactly fills.
    filled: usize,
    /// Of those, first cuts whose size less one gave TC.
    tc: usize,
}

impl std::ops::AddAssign for Checked {
    fn add_assign(&mut self, o: Checked) {
        (self.cuts, self.filled, self.tc) = (self.cuts + o.cuts, self.filled + o.filled, self.tc + o.tc);
    }
}

/// Check one compiled entry: `canonical` is the name it is compiled for, `asked` the names to splice it
/// behind (the canonical one among them).
fn check_entry(what: &str, canonical: &[u8], asked: &[Vec<u8>], qtype: u16, dnssec: bool) -> Checked {
    let entry: Box<Answer> = compile_one(root(), canonical, qtype, dnssec).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(entry.usable, 1, "{what}");
    let cuts = &entry.cuts[..entry.ncuts as usize];
    assert_eq!(cuts.len(), 1 + optional_blocks(canonical, qtype, dnssec), "{what}: one cut for the required part, one per optional RRset");
    for w in cuts.windows(2) {
        assert!(w[0].len < w[1].len, "{what}: cut lengths {} then {}", w[0].len, w[1].len);
        assert!(w[0].arcount < w[1].arcount, "{what}: each optional RRset adds to ARCOUNT");
    }
    // The whole fragment: what follows the question in the answer without a size limit (TCP), less OPT.
    let head = 12 + canonical.len() + 4;
    let (_, whole) = answer_at(canonical, qtype, 1232, dnssec, Transport::Tcp);
    let frag = &whole[head..whole.len() - OPT_LEN];
    assert!(frag.len() <= MAX_FRAG, "{what}: a fragment of {} octets", frag.len());
    let mut checked = Checked { cuts: cuts.len(), ..Default::default() };
    let last = cuts.last().unwrap();
    assert_eq!(last.len as usize, frag.len(), "{what}: the last cut is the whole fragment");
    assert_eq!(&entry.data[..frag.len()], frag, "{what}: the entry holds the fragment's bytes");
    for qname in asked {
        let head = 12 + qname.len() + 4;
        for (i, cut) in cuts.iter().enumerate() {
            let exact = head + cut.len as usize + OPT_LEN;
            if exact > 1232 {
                continue; // more than UDP ever takes, with this longer question
            }
            let size = exact.max(512) as u16;
            let (q, want) = answer_at(qname, qtype, size, dnssec, Transport::Udp);
            let at = format!("{what}: {} cut {i} ({} octets) at size {size}", name::to_text(qname), cut.len);
            assert_eq!(splice(&entry, &q).unwrap(), want, "{at}");
            if exact < 512 {
                assert!(want.len() >= exact, "{at}");
                continue;
            }
            assert_eq!(want.len(), exact, "{at}: the cut fills the buffer");
            checked.filled += 1;
            // One octet less: the cut before, or TC with empty sections when this was the first.
            let (q, want) = answer_at(qname, qtype, size - 1, dnssec, Transport::Udp);
            assert_eq!(splice(&entry, &q).unwrap(), want, "{at}, less one");
            match i {
                0 => {
                    assert_ne!(u16::from_be_bytes([want[2], want[3]]) & wire::FLAG_TC, 0, "{at}, less one: TC");
                    assert_eq!(want.len(), head + OPT_LEN, "{at}, less one: empty sections");
                    checked.tc += 1;
                }
                _ => assert_eq!(want.len(), head + cuts[i - 1].len as usize + OPT_LEN, "{at}, less one: the cut before"),
            }
        }
    }
    checked
}

#[test]
fn tld_cuts_ascend_end_at_the_fragment_and_splice_to_the_answer_function() {
    let (mut multi, mut all) = (0, Checked::default());
    // jp: in-domain glue only (one cut); com: all its glue optional; ae: both; arpa.
    for tld in ["jp", "com", "ae", "arpa"] {
        let canonical = name::from_text(tld).unwrap();
        for slot in TldSlot::ALL {
            let (qtype, dnssec) = slot.question();
            let what = format!("{tld} {slot:?}");
            let mut asked = vec![canonical.clone(), canonical.to_ascii_uppercase()];
            let qtype = if qtype == 0 {
                // Referral slots answer any name below the TLD: splice behind a longer question too.
                asked.push(name::from_text(&format!("www.Example.{tld}")).unwrap());
                rr::A
            } else {
                qtype
            };
            let c = check_entry(&what, &canonical, &asked, qtype, dnssec);
            multi += (c.cuts > 1) as usize;
            all += c;
        }
    }
    assert_eq!(multi, 4, "com's and ae's referrals (DO=0 and 1) have optional glue, so several cuts");
    assert!(all.filled >= 100 && all.tc > 0, "{} cuts filled exactly, {} first cuts TC one octet less", all.filled, all.tc);
}

#[test]
fn apex_cuts_ascend_end_at_the_fragment_and_splice_to_the_answer_function() {
    let apex = vec![name::ROOT.to_vec()];
    let mut all = Checked::default();
    for dnssec in [false, true] {
        for qtype in [rr::NS, rr::SOA, rr::DNSKEY, rr::A] {
            all += check_entry(&format!(". {} DO={dnssec}", rr::type_name(qtype)), name::ROOT, &apex, qtype, dnssec);
        }
    }
    // Priming: the root servers' 26 addresses are each an optional RRset.
    assert_eq!(compile_one(root(), name::ROOT, rr::NS, false).unwrap().ncuts, 27);
    // Signed NXDOMAIN, as the table compiles it for the interval after "no".
    let nx = name::from_text("no\\000").unwrap();
    all += check_entry("no\\000 A DO=1", &nx, &[nx.clone(), name::from_text("www.no-such-tld").unwrap()], rr::A, true);
    assert!(all.filled >= 30 && all.tc > 0, "{} cuts filled exactly, {} first cuts TC one octet less", all.filled, all.tc);
}

/// The table holds these same entries: compile() and compile_one() agree.
#[test]
fn the_table_holds_the_entries_compile_one_makes() {
    let table = compile(root());
    let jp = name::from_text("jp").unwrap();
    let i = root().tlds.iter().position(|t| *t == jp).unwrap();
    for (s, slot) in TldSlot::ALL.iter().enumerate() {
        let (qtype, dnssec) = slot.question();
        let one = compile_one(root(), &jp, if qtype == 0 { rr::A } else { qtype }, dnssec).unwrap();
        assert_eq!(table.tlds[i].1[s].as_bytes(), one.as_bytes(), "jp {slot:?}");
    }
    for (qtype, dnssec, entry) in &table.apex {
        assert_eq!(entry.as_bytes(), compile_one(root(), name::ROOT, *qtype, *dnssec).unwrap().as_bytes(), ". {qtype} DO={dnssec}");
    }
}
