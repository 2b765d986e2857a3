//! Finding the answer in the table: the service addresses, the active generation, the TLD label as the
//! index keys it (read from the packet, lowercased), the TLD index, and for a missing TLD with DO the
//! NSEC interval by binary search over the TLDs in canonical order. Which kind of answer a question
//! gets is m_root_common's rule (`answer_kind`); this module only finds where it is.

use m_root_common::{
    AddrKey, AnswerKind, Counter, FixedSlot, GENERATIONS, GenInfo, LabelWords, MAX_LABEL, MAX_SERVICE_ADDRS, MAX_TLDS, PerCpu, SortKey,
    TLD_MAX_PROBE, TldEntry, answer_kind, apex_answer_index, apex_covered, apex_qtype_index, fixed_answer_index, index_sort_key,
    lowercase_word, nsec_answer_index, sort_dir_prefix, tld_answer_index, tld_bucket_index, tld_hash, tld_sorted_index,
};

use crate::packet::Packet;
use crate::parse::{self, MAX_QUESTION_END, Question};
use crate::{ACTIVE, APEXIDX, GENINFO, SERVICE_ADDRS, TLDDIR, TLDIDX, TLDSORT, signals};

/// Is `dst` one of the service addresses? A short linear scan of one array value.
#[inline(always)]
pub fn is_service_addr(dst: &AddrKey) -> bool {
    let Some(s) = SERVICE_ADDRS.get(0) else { return false };
    let w = [
        u64::from_ne_bytes([dst.addr[0], dst.addr[1], dst.addr[2], dst.addr[3], dst.addr[4], dst.addr[5], dst.addr[6], dst.addr[7]]),
        u64::from_ne_bytes([dst.addr[8], dst.addr[9], dst.addr[10], dst.addr[11], dst.addr[12], dst.addr[13], dst.addr[14], dst.addr[15]]),
    ];
    let n = s.count as usize;
    for i in 0..MAX_SERVICE_ADDRS {
        if i >= n {
            break;
        }
        if s.addrs[i] == w {
            return true;
        }
    }
    false
}

/// The generation answers come from, and what it holds; None while no complete generation is loaded.
#[inline(always)]
pub fn active_generation() -> Option<(u32, &'static GenInfo)> {
    let generation = *ACTIVE.get(0)?;
    if generation >= GENERATIONS {
        return None;
    }
    let info: &GenInfo = GENINFO.get(generation)?;
    if info.ready == 0 {
        return None;
    }
    Some((generation, info))
}

/// Where the question's answer is in ANSWERS, and its kind; Err is the counter of why the table has
/// none. Parks the trust-anchor signals of a missing TLD's label (see signals).
#[inline(always)]
pub fn find_answer<P: Packet>(
    ctx: &P,
    q: &Question,
    generation: u32,
    info: &GenInfo,
    pc: *mut PerCpu,
) -> Result<(u32, AnswerKind), Counter> {
    if q.labels == 0 {
        // The apex: every covered qtype below the limit; types it does not hold get NODATA.
        if !apex_covered(q.qtype) {
            return Err(Counter::PassUncovered);
        }
        let held = *APEXIDX.get(apex_qtype_index(generation, q.qtype, q.dnssec_ok)).ok_or(Counter::PassNoTable)?;
        let index = if held != 0 {
            apex_answer_index(generation, held - 1)
        } else {
            fixed_answer_index(generation, FixedSlot::apex_nodata(q.dnssec_ok))
        };
        return Ok((index, AnswerKind::Apex));
    }
    let len = q.last_len;
    if len == 0 || len > MAX_LABEL {
        return Err(Counter::PassMalformed);
    }
    let label = tld_label(ctx, q.last_label, len).ok_or(Counter::PassMalformed)?;
    let found = find_tld(generation, info.tld_seed, &label, len + 1);
    if found.is_none() {
        signals::park(pc, &label);
    }
    let kind = answer_kind(q.labels, q.qtype, q.dnssec_ok, found.is_some(), info.signed_nx != 0).ok_or(Counter::PassUncovered)?;
    let index = match (kind, found) {
        (AnswerKind::Tld(slot), Some(ordinal)) => tld_answer_index(generation, ordinal, slot as u32),
        (AnswerKind::SignedNxdomain, _) => {
            // The answer of the NSEC interval the label falls in; a label the sort key cannot order passes.
            let key = index_sort_key(&label, len).ok_or(Counter::PassUncovered)?;
            let interval = nsec_interval(generation, info.tld_count, &key).ok_or(Counter::PassNoTable)?;
            nsec_answer_index(generation, interval)
        }
        _ => fixed_answer_index(generation, FixedSlot::NxdomainDo0),
    };
    Ok((index, kind))
}

/// The question's last label as the TLD index keys it: length octet and label, lowercased, zero-padded.
/// Read straight from the packet a word at a time (a bpf_*_load_bytes call cost ~40 ns here); the last,
/// partial word is the 8 octets that end with the label, shifted down, so no read passes its end.
#[inline(always)]
fn tld_label<P: Packet>(ctx: &P, at: usize, len: usize) -> Option<LabelWords> {
    let n = len + 1;
    // Constant bounds for the verifier: the label starts at least 8 octets into the frame (the last
    // word's read may start up to 6 octets before it) and by MAX_QUESTION_END, and with its length octet
    // is 2..=64 octets long.
    if at < 8 || at > MAX_QUESTION_END || n < 2 || n > 64 {
        return None;
    }
    let b = parse::Bounds::of(ctx);
    let mut w = core::mem::MaybeUninit::<LabelWords>::uninit();
    let p = w.as_mut_ptr() as *mut u64;
    for i in 0..8 {
        let start = 8 * i;
        let v = if start >= n {
            // SAFETY: each of the eight words is written exactly once here.
            unsafe { p.add(i).write(0) };
            continue;
        } else if n - start >= 8 {
            u64::from_le_bytes(unsafe { *b.at::<[u8; 8]>(at + start)? })
        } else {
            let keep = n - start;
            // Through the stack: otherwise LLVM checks "data + at + n <= end" and reads below that
            // pointer, which the verifier refuses (negative offsets).
            let from = at + n - 8;
            let from = unsafe { core::ptr::read_volatile(&from) };
            let tail = u64::from_le_bytes(unsafe { *b.at::<[u8; 8]>(from)? });
            tail >> (8 * (8 - keep))
        };
        // SAFETY: each of the eight words is written exactly once here.
        unsafe { p.add(i).write(lowercase_word(v)) };
    }
    // SAFETY: all eight words were written above.
    Some(unsafe { w.assume_init() })
}

/// Word-wise equality of two index keys of which `b` holds `n` octets (length octet and label). Only
/// the words that hold them are compared: the first word holds the length octet, so if the keys agree
/// there, `a` is as long and its later words are zero padding too. (`==` on the arrays compiles to a
/// call of a byte-wise memcmp, which cost more than the rest of the lookup together.)
#[inline(always)]
fn same_label(a: &LabelWords, b: &LabelWords, n: usize) -> bool {
    let mut d = 0u64;
    for i in 0..8 {
        if 8 * i >= n {
            break;
        }
        d |= a[i] ^ b[i];
    }
    d == 0
}

/// Look a TLD label up in the generation's index: a few linear probes from its hash.
#[inline(always)]
fn find_tld(generation: u32, seed: u64, label: &LabelWords, n: usize) -> Option<u32> {
    let h = tld_hash(label, seed);
    for i in 0..TLD_MAX_PROBE {
        let e: &TldEntry = TLDIDX.get(tld_bucket_index(generation, h + i))?;
        if e.used == 0 {
            return None;
        }
        if same_label(&e.label, label, n) {
            return Some(e.ordinal);
        }
    }
    None
}

/// Steps of the interval search: each halves the TLDs left, so one more than it takes to bring
/// MAX_TLDS down to none.
const NSEC_SEARCH_STEPS: usize = 13;
const _: () = assert!((MAX_TLDS as usize) < 1 << (NSEC_SEARCH_STEPS - 1));

/// How many TLDs of the generation sort at or before `key` (binary search over the sorted list): the
/// NSEC interval of a missing TLD.
#[inline(always)]
fn nsec_interval(generation: u32, count: u32, key: &SortKey) -> Option<u32> {
    if count > MAX_TLDS {
        return None;
    }
    // Only the TLDs that share the label's first two octets need searching (see SortDir).
    let dir = TLDDIR.get(generation)?;
    let p = sort_dir_prefix(key);
    let (lo, hi) = (dir.first[p] as u32, dir.first[p + 1] as u32);
    if lo > hi || hi > count {
        return None;
    }
    let (mut lo, mut n) = (lo, hi - lo);
    for _ in 0..NSEC_SEARCH_STEPS {
        if n == 0 {
            break;
        }
        let half = n / 2;
        let mid = lo + half;
        let k: &SortKey = TLDSORT.get(tld_sorted_index(generation, mid))?;
        let mut le = true;
        for i in 0..8 {
            if k[i] != key[i] {
                le = k[i] < key[i];
                break;
            }
        }
        if le {
            lo = mid + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    Some(lo)
}
