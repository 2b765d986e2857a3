//! m-root XDP program: answers the common root queries from the precompiled table by XDP_TX and passes
//! everything else up untouched. It matches and splices; zonegen decided every byte of DNS meaning.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod parse;
mod splice;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::generated::{bpf_xdp_adjust_meta, bpf_xdp_load_bytes},
    macros::{map, xdp},
    maps::{Array, HashMap, PerCpuArray},
    programs::XdpContext,
};
use m_root_common::{
    apex_answer_index, fixed_answer_index, tld_answer_index, AddrKey, Answer, ApexKey, ApexValue, Counter, FixedSlot, GenInfo, TldKey,
    TldSlot, TldValue, XdpHint, ANSWERS_PER_GEN, XDP_HINT_MAGIC, COUNTERS as N_COUNTERS, GENERATIONS, MAX_APEX, MAX_LABEL, MAX_SERVICE_ADDRS, MAX_TLDS,
};

use crate::splice::Failed;

#[map]
static TLDS: HashMap<TldKey, TldValue> = HashMap::with_max_entries(MAX_TLDS * GENERATIONS, 0);
#[map]
static APEX: HashMap<ApexKey, ApexValue> = HashMap::with_max_entries(MAX_APEX * GENERATIONS, 0);
#[map]
static ANSWERS: Array<Answer> = Array::with_max_entries(ANSWERS_PER_GEN * GENERATIONS, 0);
#[map]
static ACTIVE: Array<u32> = Array::with_max_entries(1, 0);
#[map]
static GENINFO: Array<GenInfo> = Array::with_max_entries(GENERATIONS, 0);
#[map]
static SERVICE_ADDRS: HashMap<AddrKey, u32> = HashMap::with_max_entries(MAX_SERVICE_ADDRS, 0);
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(N_COUNTERS, 0);
/// Scratch slot used to make the verifier forget exact values (see parse::forget).
#[map]
pub(crate) static SCRATCH: PerCpuArray<[u64; 4]> = PerCpuArray::with_max_entries(1, 0);

const TYPE_NSEC: u16 = 47;
const TYPE_DS: u16 = 43;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

#[inline(always)]
fn count(c: Counter) {
    if let Some(p) = COUNTERS.get_ptr_mut(c as u32) {
        unsafe { *p += 1 };
    }
}

#[xdp]
pub fn m_root(ctx: XdpContext) -> u32 {
    count(Counter::XdpFrames);
    match try_answer(&ctx) {
        Ok(()) => xdp_action::XDP_TX,
        Err(Failed::Pass(c)) => {
            count(c);
            xdp_action::XDP_PASS
        }
        Err(Failed::Drop) => {
            count(Counter::XdpDropped);
            xdp_action::XDP_DROP
        }
    }
}

/// Meta and query-only types (OPT, 128-255, 0) are never answered here.
#[inline(always)]
fn is_meta(t: u16) -> bool {
    t == 0 || t == TYPE_OPT || (128..=255).contains(&t)
}

#[inline(always)]
fn try_answer(ctx: &XdpContext) -> Result<(), Failed> {
    let f = parse::frame(ctx).map_err(Failed::Pass)?;
    if SERVICE_ADDRS.get_ptr(f.dst).is_none() {
        return Err(Failed::Pass(Counter::XdpNotForUs));
    }
    count(Counter::XdpQueries);
    let q = parse::question(ctx, &f).map_err(Failed::Pass)?;
    if q.qclass != CLASS_IN || is_meta(q.qtype) {
        return Err(Failed::Pass(Counter::XdpPassUncovered));
    }
    let generation = *ACTIVE.get(0).ok_or(Failed::Pass(Counter::XdpPassNoTable))?;
    if generation >= GENERATIONS {
        return Err(Failed::Pass(Counter::XdpPassNoTable));
    }
    let info: &GenInfo = GENINFO.get(generation).ok_or(Failed::Pass(Counter::XdpPassNoTable))?;
    if info.ready == 0 {
        return Err(Failed::Pass(Counter::XdpPassNoTable));
    }
    let dnssec = q.dnssec_ok as u32;
    let (index, kind) = if q.labels == 0 {
        // The apex: every qtype but ANY (meta, excluded above).
        let key = ApexKey { generation, qtype: q.qtype, dnssec_ok: dnssec as u16 };
        let index = match APEX.get_ptr(key) {
            Some(v) => apex_answer_index(generation, unsafe { (*v).apex }),
            None => {
                let slot = if q.dnssec_ok { FixedSlot::ApexNodataDo1 } else { FixedSlot::ApexNodataDo0 };
                fixed_answer_index(generation, slot)
            }
        };
        (index, Counter::XdpAnsApex)
    } else {
        let mut key = TldKey::new(generation);
        let len = q.last_len;
        if len == 0 || len > MAX_LABEL {
            return Err(Failed::Pass(Counter::XdpPassMalformed));
        }
        key.label[0] = len as u8;
        let r = unsafe { bpf_xdp_load_bytes(ctx.ctx, (q.last_label + 1) as u32, key.label.as_mut_ptr().add(1) as *mut _, len as u32) };
        if r != 0 {
            return Err(Failed::Pass(Counter::XdpPassMalformed));
        }
        lowercase(&mut key.label);
        match TLDS.get_ptr(key) {
            Some(v) => {
                // At the TLD itself, DS and NSEC are the parent's own data; everything else is a referral.
                let (slot, kind) = match (q.labels == 1, q.qtype, q.dnssec_ok) {
                    (true, TYPE_DS, false) => (TldSlot::DsDo0, Counter::XdpAnsTldData),
                    (true, TYPE_DS, true) => (TldSlot::DsDo1, Counter::XdpAnsTldData),
                    (true, TYPE_NSEC, false) => (TldSlot::NsecDo0, Counter::XdpAnsTldData),
                    (true, TYPE_NSEC, true) => (TldSlot::NsecDo1, Counter::XdpAnsTldData),
                    (_, _, false) => (TldSlot::ReferralDo0, Counter::XdpAnsReferral),
                    (_, _, true) => (TldSlot::ReferralDo1, Counter::XdpAnsReferralDnssec),
                };
                (tld_answer_index(generation, unsafe { (*v).ordinal }, slot as u32), kind)
            }
            None => {
                if q.dnssec_ok {
                    // Signed NXDOMAIN depends on the NSEC interval: userspace for now.
                    return Err(Failed::Pass(Counter::XdpPassUncovered));
                }
                (fixed_answer_index(generation, FixedSlot::NxdomainDo0), Counter::XdpAnsNxdomain)
            }
        }
    };
    let a: &Answer = ANSWERS.get(index).ok_or(Failed::Pass(Counter::XdpPassNoTable))?;
    if a.usable == 0 {
        return Err(Failed::Pass(Counter::XdpPassUncovered));
    }
    let truncated = match splice::respond(ctx, &f, &q, a) {
        Err(Failed::Pass(Counter::XdpPassNoRoom)) => {
            leave_hint(ctx, index);
            return Err(Failed::Pass(Counter::XdpPassNoRoom));
        }
        other => other?,
    };
    count(if truncated { Counter::XdpAnsTruncated } else { kind });
    count(if f.ipv6 { Counter::XdpAnsIpv6 } else { Counter::XdpAnsIpv4 });
    Ok(())
}

/// Tell the TC companion which answer this query wants (the frame's data stays untouched).
#[inline(always)]
fn leave_hint(ctx: &XdpContext, answer: u32) {
    let len = core::mem::size_of::<XdpHint>() as i32;
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -len) } != 0 {
        return;
    }
    let meta = ctx.metadata();
    if meta + core::mem::size_of::<XdpHint>() > ctx.data() {
        return;
    }
    unsafe { *(meta as *mut XdpHint) = XdpHint { magic: XDP_HINT_MAGIC, answer } };
}

/// ASCII-lowercase the key in place, eight octets at a time (RFC 4343: only A-Z fold).
#[inline(always)]
fn lowercase(label: &mut [u8; MAX_LABEL + 1]) {
    for chunk in label.chunks_exact_mut(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        let ascii = !x & 0x8080_8080_8080_8080;
        let low7 = x & 0x7f7f_7f7f_7f7f_7f7f;
        // Per byte: high bit set when the byte is >= 'A' and (separately) when > 'Z'.
        let ge_a = low7 + 0x3f3f_3f3f_3f3f_3f3f; // 0x80 - 'A' (0x41)
        let gt_z = low7 + 0x2525_2525_2525_2525; // 0x80 - 'Z' - 1 (0x5b)
        let upper = (ge_a ^ gt_z) & ascii & 0x8080_8080_8080_8080;
        let y = x | (upper >> 2);
        chunk.copy_from_slice(&y.to_le_bytes());
    }
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
