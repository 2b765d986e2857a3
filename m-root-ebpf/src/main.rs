//! m-root XDP program: answers the common root queries from the precompiled table by XDP_TX and passes
//! everything else up untouched; its TC companion answers the same queries from the same table where the
//! driver's buffer had no room (or XDP is not attached), and sends them back out of the interface. Both
//! only match and splice; zonegen decided every byte of DNS meaning.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

mod packet;
mod parse;
mod splice;

use aya_ebpf::{
    bindings::{TC_ACT_REDIRECT, TC_ACT_SHOT, TC_ACT_UNSPEC, xdp_action},
    helpers::generated::{bpf_redirect, bpf_skb_pull_data},
    macros::{classifier, map, xdp},
    maps::{Array, CpuMap, PerCpuArray, PerCpuHashMap},
    programs::{TcContext, XdpContext},
};
use m_root_common::{
    ANSWERS_PER_GEN, APEX_QTYPES, AddrKey, Answer, COUNTERS as N_COUNTERS, Counter, FixedSlot, GENERATIONS, GenInfo, LabelWords, MAX_LABEL,
    MAX_SERVICE_ADDRS, MAX_SIGNALS, MAX_TLDS, PerCpu, SIGNAL_SENTINEL_IS_TA, SIGNAL_SENTINEL_NOT_TA, SIGNAL_TA, ServiceAddrs, SortKey,
    TC_MODE_ALL, TLD_BUCKETS, TLD_MAX_PROBE, TldEntry, TldSlot, XDP_TX_ON, apex_answer_index, apex_qtype_index, fixed_answer_index,
    nsec_answer_index, signal_key, tld_answer_index, tld_bucket_index, tld_hash, tld_sorted_index,
};

use crate::packet::Packet;
use crate::splice::Failed;

#[map]
static TLDIDX: Array<TldEntry> = Array::with_max_entries(TLD_BUCKETS * GENERATIONS, 0);
#[map]
static TA_SIGNALS: PerCpuHashMap<u32, u64> = PerCpuHashMap::with_max_entries(MAX_SIGNALS, 0);
#[map]
static TLDSORT: Array<SortKey> = Array::with_max_entries(MAX_TLDS * GENERATIONS, 0);
#[map]
static TLDDIR: Array<m_root_common::SortDir> = Array::with_max_entries(GENERATIONS, 0);
#[map]
static APEXIDX: Array<u32> = Array::with_max_entries(APEX_QTYPES * 2 * GENERATIONS, 0);
#[map]
static ANSWERS: Array<Answer> = Array::with_max_entries(ANSWERS_PER_GEN * GENERATIONS, 0);
#[map]
static ACTIVE: Array<u32> = Array::with_max_entries(1, 0);
#[map]
static GENINFO: Array<GenInfo> = Array::with_max_entries(GENERATIONS, 0);
#[map]
static SERVICE_ADDRS: Array<ServiceAddrs> = Array::with_max_entries(1, 0);
#[map]
static PERCPU: PerCpuArray<PerCpu> = PerCpuArray::with_max_entries(1, 0);
/// TC_MODE_HINTED (beside XDP: answer what XDP had no room for) or TC_MODE_ALL (XDP not attached).
#[map]
static TC_MODE: Array<u32> = Array::with_max_entries(1, 0);
/// Where no-room queries go to become skbs (for TC) off the receiving CPU; SPILL_CPUS holds how many
/// entries are set (0: pass them up here).
#[map]
static SPILL: CpuMap = CpuMap::with_max_entries(m_root_common::MAX_SPILL_CPUS, 0);
#[map]
static SPILL_CPUS: Array<u32> = Array::with_max_entries(1, 0);
/// XDP_TX_ON: answers leave by XDP_TX; XDP_TX_OFF (the zero a new map holds): the device cannot deliver
/// them, so covered queries go to TC with the hint.
#[map]
static XDP_TX: Array<u32> = Array::with_max_entries(1, 0);

/// May the XDP program send this answer itself?
#[inline(always)]
pub(crate) fn xdp_tx_on() -> bool {
    XDP_TX.get(0).is_some_and(|v| *v == XDP_TX_ON)
}

/// Furthest a question's last label can start (2 tags, IPv6, UDP, DNS header, a 255-octet name).
const MAX_LABEL_AT: usize = 14 + 8 + 40 + 8 + m_root_common::DNS_HEADER_LEN + m_root_common::MAX_NAME;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

#[inline(always)]
pub(crate) fn count<P: Packet>(pc: *mut PerCpu, c: Counter) {
    let i = c as usize;
    if i < N_COUNTERS {
        unsafe { (*pc).counters[P::HOOK as usize][i] += 1 };
    }
}

#[xdp]
pub fn m_root(ctx: XdpContext) -> u32 {
    // One per-CPU lookup per packet: counters and scratch live in the same value.
    let Some(pc) = PERCPU.get_ptr_mut(0) else { return xdp_action::XDP_PASS };
    count::<XdpContext>(pc, Counter::Frames);
    match try_answer(&ctx, pc) {
        Ok(()) => xdp_action::XDP_TX,
        Err(Failed::Pass(c)) => {
            count::<XdpContext>(pc, c);
            if c == Counter::PassNoRoom || c == Counter::PassToTc {
                return spill(pc);
            }
            xdp_action::XDP_PASS
        }
        Err(Failed::Drop) => {
            count::<XdpContext>(pc, Counter::Dropped);
            xdp_action::XDP_DROP
        }
    }
}

/// Runs on the CPU a spilled query was handed to, before the kernel builds its skb: counts the arrival,
/// so what the cpumap's queue dropped shows as pass.to-cpu less this.
#[xdp(map = "cpumap")]
pub fn m_root_spilled(_ctx: XdpContext) -> u32 {
    if let Some(pc) = PERCPU.get_ptr_mut(0) {
        count::<XdpContext>(pc, Counter::SpillArrived);
    }
    xdp_action::XDP_PASS
}

/// A query XDP had no room for, or may not send itself (its hint already in the metadata): hand it to the next CPU through the
/// cpumap, where the kernel builds the skb and TC answers it, so the receiving CPU (on veth: the sender's)
/// does no more than the copy veth already made. XDP_PASS when spilling is off or the map refuses.
#[inline(always)]
fn spill(pc: *mut PerCpu) -> u32 {
    let n = SPILL_CPUS.get(0).copied().unwrap_or(0);
    if n < 2 || n > m_root_common::MAX_SPILL_CPUS {
        return xdp_action::XDP_PASS;
    }
    let cpu = unsafe { aya_ebpf::helpers::bpf_get_smp_processor_id() };
    let action = SPILL.redirect((cpu + 1) % n, xdp_action::XDP_PASS as u64).unwrap_or(xdp_action::XDP_PASS);
    if action == xdp_action::XDP_REDIRECT {
        count::<XdpContext>(pc, Counter::Spilled);
    }
    action
}

/// What the TC program returns for a packet it leaves alone: TC_ACT_UNSPEC, which under tcx is
/// TCX_NEXT (the next program or the classic filters still see it; TC_ACT_OK would end the chain).
const TC_PASS: i32 = TC_ACT_UNSPEC;

/// The TC companion (ingress): the same answer from the same table, for what XDP could not grow in
/// place, sent back out of the interface it came in on.
#[classifier]
pub fn m_root_tc(ctx: TcContext) -> i32 {
    let Some(pc) = PERCPU.get_ptr_mut(0) else { return TC_PASS };
    count::<TcContext>(pc, Counter::Frames);
    let all = TC_MODE.get(0).is_some_and(|m| *m == TC_MODE_ALL);
    let hinted = packet::xdp_hint(&ctx);
    if !all && !hinted {
        count::<TcContext>(pc, Counter::PassNotHinted);
        return TC_PASS;
    }
    // The answer is built with direct access, so a query must be in the linear part. Queries nearly
    // always are; otherwise pull at most the longest query frame we answer (never a whole large packet
    // that turns out not to be a query). An inequality: LLVM turns an equality into "data_end is
    // data + len" and the verifier loses the bound.
    let want = core::cmp::min(ctx.len(), parse::MAX_QUERY_FRAME as u32);
    if ctx.data_end() - ctx.data() < want as usize && unsafe { bpf_skb_pull_data(ctx.skb.skb as *mut _, want) } != 0 {
        count::<TcContext>(pc, Counter::PassMalformed);
        return TC_PASS;
    }
    match try_answer(&ctx, pc) {
        Ok(()) => {
            let ifindex = unsafe { (*ctx.skb.skb).ifindex };
            // Egress of the same device (flags 0): the answer leaves where the query came in.
            let r = unsafe { bpf_redirect(ifindex, 0) } as i32;
            if r != TC_ACT_REDIRECT {
                count::<TcContext>(pc, Counter::Dropped);
            }
            r
        }
        Err(Failed::Pass(c)) => {
            count::<TcContext>(pc, c);
            if hinted {
                // XDP meant this one to be answered here and may have moved it to another CPU, where its
                // checksum state was lost: make the checksum whole before the stack checks it.
                if let Ok(f) = parse::frame(&ctx, pc) {
                    let _ = splice::complete_query_csum(&ctx, &f, pc);
                }
            }
            TC_PASS
        }
        Err(Failed::Drop) => {
            count::<TcContext>(pc, Counter::Dropped);
            TC_ACT_SHOT
        }
    }
}

/// Is `dst` one of the service addresses? A short linear scan of one array value.
#[inline(always)]
fn is_service_addr(dst: &AddrKey) -> bool {
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

/// Meta and query-only types (OPT, 128-255, 0) are never answered here.
#[inline(always)]
fn is_meta(t: u16) -> bool {
    t == 0 || t == TYPE_OPT || (128..=255).contains(&t)
}

#[inline(always)]
fn try_answer<P: Packet>(ctx: &P, pc: *mut PerCpu) -> Result<(), Failed> {
    let f = parse::frame(ctx, pc).map_err(Failed::Pass)?;
    if !is_service_addr(&f.dst) {
        return Err(Failed::Pass(Counter::NotForUs));
    }
    count::<P>(pc, Counter::Queries);
    let q = parse::question(ctx, &f, pc).map_err(Failed::Pass)?;
    if q.qclass != CLASS_IN || is_meta(q.qtype) {
        return Err(Failed::Pass(Counter::PassUncovered));
    }
    let generation = *ACTIVE.get(0).ok_or(Failed::Pass(Counter::PassNoTable))?;
    if generation >= GENERATIONS {
        return Err(Failed::Pass(Counter::PassNoTable));
    }
    let info: &GenInfo = GENINFO.get(generation).ok_or(Failed::Pass(Counter::PassNoTable))?;
    if info.ready == 0 {
        return Err(Failed::Pass(Counter::PassNoTable));
    }
    // Signals found below are parked in the per-CPU value and counted only if the answer goes out (a frame
    // passed up is counted by userspace); parking them also keeps the verifier from carrying them along.
    unsafe { (*pc).nsignals = 0 };
    let (index, kind) = if q.labels == 0 {
        // The apex: every qtype but ANY (meta, excluded above); types it does not hold get NODATA.
        if q.qtype as u32 >= APEX_QTYPES {
            return Err(Failed::Pass(Counter::PassUncovered));
        }
        let held = *APEXIDX.get(apex_qtype_index(generation, q.qtype, q.dnssec_ok)).ok_or(Failed::Pass(Counter::PassNoTable))?;
        let index = if held != 0 {
            apex_answer_index(generation, held - 1)
        } else {
            let slot = if q.dnssec_ok { FixedSlot::ApexNodataDo1 } else { FixedSlot::ApexNodataDo0 };
            fixed_answer_index(generation, slot)
        };
        (index, Counter::AnsApex)
    } else {
        let len = q.last_len;
        if len == 0 || len > MAX_LABEL {
            return Err(Failed::Pass(Counter::PassMalformed));
        }
        let label = tld_label(ctx, q.last_label, len).ok_or(Failed::Pass(Counter::PassMalformed))?;
        let found = find_tld(generation, info.tld_seed, &label, len + 1);
        if found.is_none() {
            let sig = ta_signals(&label);
            unsafe {
                (*pc).signals = sig.keys;
                (*pc).nsignals = sig.n as u64;
            }
        }
        match found {
            Some(ordinal) => {
                let slot = TldSlot::for_question(q.labels == 1, q.qtype, q.dnssec_ok);
                let kind = slot.counter();
                (tld_answer_index(generation, ordinal, slot as u32), kind)
            }
            None if q.dnssec_ok => {
                // Signed NXDOMAIN: the answer of the NSEC interval the label falls in.
                if info.signed_nx == 0 {
                    return Err(Failed::Pass(Counter::PassUncovered));
                }
                let key = sort_key(&label, len).ok_or(Failed::Pass(Counter::PassUncovered))?;
                let interval = nsec_interval(generation, info.tld_count, &key).ok_or(Failed::Pass(Counter::PassNoTable))?;
                (nsec_answer_index(generation, interval), Counter::AnsNxdomainDnssec)
            }
            None => (fixed_answer_index(generation, FixedSlot::NxdomainDo0), Counter::AnsNxdomain),
        }
    };
    let a: &Answer = ANSWERS.get(index).ok_or(Failed::Pass(Counter::PassNoTable))?;
    if a.usable == 0 {
        return Err(Failed::Pass(Counter::PassUncovered));
    }
    let truncated = match splice::respond(ctx, &f, &q, a, pc) {
        // The answer is TC's to send: no room here, or XDP_TX off.
        Err(Failed::Pass(c @ (Counter::PassNoRoom | Counter::PassToTc))) => {
            ctx.no_room(index);
            return Err(Failed::Pass(c));
        }
        other => other?,
    };
    count::<P>(pc, if truncated { Counter::AnsTruncated } else { kind });
    let (keys, n) = unsafe { ((*pc).signals, core::ptr::read_volatile(core::ptr::addr_of!((*pc).nsignals))) };
    for i in 0..4 {
        if (i as u64) < n {
            count_signal(keys[i]);
        }
    }
    count::<P>(pc, if f.ipv6 { Counter::AnsIpv6 } else { Counter::AnsIpv4 });
    Ok(())
}

/// The question's last label as the TLD index keys it: length octet and label, lowercased, zero-padded.
/// Read straight from the packet a word at a time (a bpf_*_load_bytes call cost ~40 ns here); the last,
/// partial word is the 8 octets that end with the label, shifted down, so no read passes its end.
#[inline(always)]
fn tld_label<P: Packet>(ctx: &P, at: usize, len: usize) -> Option<LabelWords> {
    let n = len + 1;
    // Constant bounds for the verifier: the label starts past the DNS header and is 2..=64 octets long.
    if at < 8 || at > MAX_LABEL_AT || n < 2 || n > 64 {
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
        unsafe { p.add(i).write(lowercase(v)) };
    }
    // SAFETY: all eight words were written above.
    Some(unsafe { w.assume_init() })
}

/// Trust-anchor signals carried by a missing TLD's label (zonegen::signal restated): up to four RFC 8145
/// key tags, or one RFC 8509 sentinel.
struct Signals {
    keys: [u32; 4],
    n: usize,
}

impl Signals {
    const NONE: Signals = Signals { keys: [0; 4], n: 0 };
}

#[inline(always)]
fn hex_digit(c: u8) -> Option<u16> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u16),
        b'a'..=b'f' => Some((c - b'a' + 10) as u16),
        _ => None,
    }
}

#[inline(always)]
fn ta_signals(label: &LabelWords) -> Signals {
    // SAFETY: eight u64 words are 64 initialised octets.
    let b: &[u8; 64] = unsafe { &*(label as *const LabelWords as *const [u8; 64]) };
    let len = b[0] as usize;
    if len >= 8 && b[1] == b'_' && b[2] == b't' && b[3] == b'a' && b[4] == b'-' {
        let mut s = Signals::NONE;
        for g in 0..4 {
            let p = 5 + 5 * g;
            if p + 4 > len + 1 {
                return Signals::NONE;
            }
            let mut tag = 0u16;
            for k in 0..4 {
                match hex_digit(b[p + k]) {
                    Some(v) => tag = (tag << 4) | v,
                    None => return Signals::NONE,
                }
            }
            s.keys[g] = signal_key(SIGNAL_TA, tag);
            s.n = g + 1;
            if p + 4 == len + 1 {
                return s;
            }
            if b[p + 4] != b'-' {
                return Signals::NONE;
            }
        }
        return Signals::NONE;
    }
    const IS: &[u8; 24] = b"root-key-sentinel-is-ta-";
    const NOT: &[u8; 25] = b"root-key-sentinel-not-ta-";
    let (kind, start) = if len == 29 && b[1..25] == IS[..] {
        (SIGNAL_SENTINEL_IS_TA, 25)
    } else if len == 30 && b[1..26] == NOT[..] {
        (SIGNAL_SENTINEL_NOT_TA, 26)
    } else {
        return Signals::NONE;
    };
    let mut tag = 0u32;
    for k in 0..5 {
        let c = b[start + k];
        if !c.is_ascii_digit() {
            return Signals::NONE;
        }
        tag = tag * 10 + (c - b'0') as u32;
    }
    if tag > u16::MAX as u32 {
        return Signals::NONE;
    }
    Signals { keys: [signal_key(kind, tag as u16), 0, 0, 0], n: 1 }
}

#[inline(always)]
fn count_signal(key: u32) {
    match TA_SIGNALS.get_ptr_mut(key) {
        Some(p) => unsafe { *p += 1 },
        None => {
            let _ = TA_SIGNALS.insert(key, 1u64, 0);
        }
    }
}

/// The label's sort key (see m_root_common::SortKey), derived from the index key already loaded and
/// lowercased (drop its length octet); None for a label with a zero octet, which the zero-padded key cannot
/// order.
#[inline(always)]
fn sort_key(label: &LabelWords, len: usize) -> Option<SortKey> {
    let mut k = [0u64; 8];
    // Whole words, read once each: LLVM would otherwise fuse the shift below into a load one octet
    // further on, which the verifier refuses on the stack (stack accesses must be aligned).
    let w: [u64; 8] = core::array::from_fn(|i| unsafe { core::ptr::read_volatile(&label[i]) });
    for i in 0..8 {
        // Past the label the key is zero padding (k starts zeroed).
        if 8 * i >= len {
            break;
        }
        // Native (little-endian) words: shifting right by one octet drops the first (the length octet).
        let next = if i < 7 { w[i + 1] << 56 } else { 0 };
        let x = (w[i] >> 8) | next;
        // Octets of the label in this word (native order: the first octet is the lowest).
        let valid = if len >= 8 * (i + 1) {
            8
        } else if len > 8 * i {
            len - 8 * i
        } else {
            0
        };
        let mask = if valid >= 8 { u64::MAX } else { (1u64 << (8 * valid)) - 1 };
        let v = x | !mask;
        if v.wrapping_sub(0x0101_0101_0101_0101) & !v & 0x8080_8080_8080_8080 != 0 {
            return None;
        }
        k[i] = u64::from_be(x);
    }
    Some(k)
}

/// How many TLDs of the generation sort at or before `key` (binary search over the sorted list): the
/// NSEC interval of a missing TLD.
#[inline(always)]
fn nsec_interval(generation: u32, count: u32, key: &SortKey) -> Option<u32> {
    if count > MAX_TLDS {
        return None;
    }
    // Only the TLDs that share the label's first two octets need searching (see SortDir).
    let dir = TLDDIR.get(generation)?;
    let p = (key[0] >> 48) as usize & 0xffff;
    let (lo, hi) = (dir.first[p] as u32, dir.first[p + 1] as u32);
    if lo > hi || hi > count {
        return None;
    }
    let (mut lo, mut n) = (lo, hi - lo);
    // 2^12 > MAX_TLDS: twelve halvings reach n == 0.
    for _ in 0..13 {
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

/// ASCII-lowercase eight octets at once (RFC 4343: only A-Z fold).
#[inline(always)]
fn lowercase(x: u64) -> u64 {
    let ascii = !x & 0x8080_8080_8080_8080;
    let low7 = x & 0x7f7f_7f7f_7f7f_7f7f;
    // Per byte: high bit set when the byte is >= 'A' and (separately) when > 'Z'.
    let ge_a = low7 + 0x3f3f_3f3f_3f3f_3f3f; // 0x80 - 'A' (0x41)
    let gt_z = low7 + 0x2525_2525_2525_2525; // 0x80 - 'Z' - 1 (0x5b)
    let upper = (ge_a ^ gt_z) & ascii & 0x8080_8080_8080_8080;
    x | (upper >> 2)
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

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
