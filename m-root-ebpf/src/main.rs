//! m-root XDP program: answers the common root queries from the precompiled table by XDP_TX and passes
//! everything else up untouched; its TC companion answers the same queries from the same table where the
//! driver's buffer had no room or XDP may not send (XDP_TX off, or XDP not attached), and sends them back
//! out of the interface. Both only match and splice; zonegen decided every byte of DNS meaning, and
//! m_root_common says which queries are covered.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]
// Bounds are two compares with constants, as the verifier learns ranges from them: written as
// RangeInclusive::contains, the TC program's copy lost its bound and was refused.
#![allow(clippy::manual_range_contains)]

mod cookie;
mod daily;
mod dnstap;
mod lookup;
mod packet;
mod parse;
mod rrl;
mod rt;
mod signals;
mod splice;

use aya_ebpf::{
    bindings::{TC_ACT_REDIRECT, TC_ACT_SHOT, TC_ACT_UNSPEC, xdp_action},
    helpers::generated::{bpf_redirect, bpf_skb_pull_data},
    macros::{classifier, map, xdp},
    maps::{Array, CpuMap, PerCpuArray, PerCpuHashMap},
    programs::{TcContext, XdpContext},
};
use m_root_common::{
    ANSWERS_PER_GEN, APEX_QTYPES, Answer, COUNTERS as N_COUNTERS, Counter, GENERATIONS, GenInfo, HINT_RRL_NONE, HINT_RRL_SLIP, MAX_SIGNALS,
    MAX_SPILL_CPUS, MAX_TLDS, PerCpu, ServiceAddrs, SortDir, SortKey, TC_MODE_ALL, TLD_BUCKETS, TldEntry, XDP_TX_ON,
    daily::{RCODE_BADCOOKIE, RCODE_NXDOMAIN},
    gen_base, question_covered,
    rrl::{HINT_DROP, class_counter, class_of},
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
static TLDDIR: Array<SortDir> = Array::with_max_entries(GENERATIONS, 0);
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
/// TC_MODE_HINTED (beside XDP: answer what XDP hinted, see XdpHint) or TC_MODE_ALL (XDP sends nothing).
#[map]
static TC_MODE: Array<u32> = Array::with_max_entries(1, 0);
/// Where queries left to TC go to become skbs off the receiving CPU; SPILL_CPUS holds how many entries
/// are set (fewer than 2: pass them up here).
#[map]
static SPILL: CpuMap = CpuMap::with_max_entries(MAX_SPILL_CPUS, 0);
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

#[inline(always)]
pub(crate) fn count<P: Packet>(pc: *mut PerCpu, c: Counter) {
    count_at::<P>(pc, c as usize);
}

/// Count the counter at index `i` (a Counter as a number).
#[inline(always)]
pub(crate) fn count_at<P: Packet>(pc: *mut PerCpu, i: usize) {
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
        Ok(()) => {
            daily::disposed(pc, true);
            dnstap::answered(&ctx);
            xdp_action::XDP_TX
        }
        Err(Failed::Pass(c)) => {
            count::<XdpContext>(pc, c);
            if c == Counter::PassNoRoom || c == Counter::PassToTc {
                return spill(pc);
            }
            xdp_action::XDP_PASS
        }
        Err(Failed::Drop) => {
            count::<XdpContext>(pc, Counter::Dropped);
            daily::disposed(pc, false);
            xdp_action::XDP_DROP
        }
        Err(Failed::Shed(c)) => {
            count::<XdpContext>(pc, c);
            daily::disposed(pc, false);
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
    if n < 2 || n > MAX_SPILL_CPUS {
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

/// The TC companion (ingress): the same answer from the same table, sent back out of the interface it
/// came in on, for what XDP hinted (no room to grow in place, or XDP_TX off), or for every covered query
/// when XDP sends nothing (TC_MODE_ALL).
#[classifier]
pub fn m_root_tc(ctx: TcContext) -> i32 {
    let Some(pc) = PERCPU.get_ptr_mut(0) else { return TC_PASS };
    count::<TcContext>(pc, Counter::Frames);
    let all = TC_MODE.get(0).is_some_and(|m| *m == TC_MODE_ALL);
    let hinted = packet::xdp_hint(&ctx).is_some();
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
            daily::disposed(pc, r == TC_ACT_REDIRECT);
            if r == TC_ACT_REDIRECT {
                dnstap::answered(&ctx);
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
            daily::disposed(pc, false);
            TC_ACT_SHOT
        }
        Err(Failed::Shed(c)) => {
            count::<TcContext>(pc, c);
            daily::disposed(pc, false);
            TC_ACT_SHOT
        }
    }
}

/// Answer the query in place, or say why not: the counter of why it passes, or Drop once the frame was
/// changed. The steps of m_root_common's coverage rule, each where its fact is learnt.
#[inline(always)]
fn try_answer<P: Packet>(ctx: &P, pc: *mut PerCpu) -> Result<(), Failed> {
    let f = parse::frame(ctx, pc).map_err(Failed::Pass)?;
    if !lookup::is_service_addr(&f.dst) {
        return Err(Failed::Pass(Counter::NotForUs));
    }
    count::<P>(pc, Counter::Queries);
    if rrl::dropped(pc) {
        count_at::<P>(pc, Counter::ShedIpv4 as usize + f.ipv6 as usize);
        return Err(Failed::Shed(Counter::AclDropped));
    }
    let q = parse::question(ctx, &f, pc).map_err(Failed::Pass)?;
    if !question_covered(q.qclass, q.qtype) {
        return Err(Failed::Pass(Counter::PassUncovered));
    }
    let (generation, info) = lookup::active_generation().ok_or(Failed::Pass(Counter::PassNoTable))?;
    // Signals the lookup finds are parked in the per-CPU value and counted only if the answer goes out (a
    // frame passed up is counted by userspace); parking them also keeps the verifier from carrying them along.
    signals::clear(pc);
    let (index, kind) = lookup::find_answer(ctx, &q, generation, info, pc).map_err(Failed::Pass)?;
    let a: &Answer = ANSWERS.get(index).ok_or(Failed::Pass(Counter::PassNoTable))?;
    if a.usable == 0 {
        return Err(Failed::Pass(Counter::PassUncovered));
    }
    // Rate limiting, charged by the hook that sends (so once): XDP when it may send, else TC; TC takes
    // the verdict of a query XDP charged but had no room for. The query's cookie is checked in the same
    // call (a valid one is not charged), which every covered query makes: one subprogram call on every
    // way, as a second call anywhere doubled what the verifier checked in the TC program.
    let pre = match ctx.charged() {
        Some(v) => v.hint(),
        None if ctx.may_send() => rrl::CHARGE,
        None => HINT_RRL_NONE,
    };
    // The answer's index, its counter and its class through the per-CPU value (see parse::forget): each
    // kind of answer would otherwise reach the subprogram as a state of its own, and the verifier checks
    // a subprogram once per state that calls it.
    let class = class_of(kind, index - gen_base(generation), q.qtype);
    let [index, answered, class, _] =
        parse::forget(pc, [index as u64, kind.counter() as u64, class as u64, 0]).ok_or(Failed::Pass(Counter::PassNoTable))?;
    let (index, class) = (index as u32, class as u32);
    // Kept for the count by class after the splice, in the per-CPU value: a register live across the
    // splice took the stack past the verifier's limit.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).rrl_class), class as u64) };
    let charged = if rrl::needed() {
        rrl::verdict::<P>(pc, f.ipv6 as u64, class, pre)
    } else {
        // A query's cookie is not looked at with cookies off (cookie::process would say NONE too).
        cookie::park(pc, cookie::NONE);
        rrl::unlimited(pre)
    };
    if charged == HINT_DROP {
        // By class too, here and for slips below (outside the subprogram: its stack is at the limit).
        if let Some(c) = class_counter(false, class) {
            count::<P>(pc, c);
        }
        // The family as the limiter parked it (f is not kept live across its subprogram).
        count_at::<P>(
            pc,
            Counter::ShedIpv4 as usize + (unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_v6)) } & 1) as usize,
        );
        return Err(Failed::Shed(Counter::RrlDropped));
    }
    // Parked in the per-CPU value and read back (volatile) where it matters, so no register carries the
    // verdict on through the splice (the verifier would check the splice once per verdict).
    rrl::park(pc, charged);
    let truncated = match splice::respond(ctx, &f, &q, a, pc) {
        // The answer is TC's to send: no room here, or XDP_TX off.
        Err(Failed::Pass(c @ (Counter::PassNoRoom | Counter::PassToTc))) => {
            ctx.no_room(index, rrl::parked(pc));
            return Err(Failed::Pass(c));
        }
        other => other?,
    };
    count_at::<P>(
        pc,
        if rrl::parked(pc) == HINT_RRL_SLIP {
            Counter::RrlSlipped as usize
        } else if truncated {
            Counter::AnsTruncated as usize
        } else {
            answered as usize
        },
    );
    if rrl::parked(pc) == HINT_RRL_SLIP
        && let Some(c) = class_counter(true, unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).rrl_class)) } as u32)
    {
        count::<P>(pc, c);
    }
    // The rcode sent: a slip to a query with a cookie is BADCOOKIE; otherwise the table answer's own
    // (a truncated or slipped answer keeps it), NXDOMAIN for the two NXDOMAIN kinds.
    if rrl::parked(pc) == HINT_RRL_SLIP && cookie::parked(pc) != cookie::NONE {
        count::<P>(pc, Counter::RcodeBadcookie);
        daily::park_rcode(pc, RCODE_BADCOOKIE);
    } else if answered.wrapping_sub(Counter::AnsNxdomain as u64) < 2 {
        count::<P>(pc, Counter::RcodeNxdomain);
        daily::park_rcode(pc, RCODE_NXDOMAIN);
    }
    signals::count_parked(pc);
    match cookie::parked(pc) {
        cookie::VALID => count::<P>(pc, Counter::CookieValid),
        cookie::BAD => count::<P>(pc, Counter::CookieBad),
        _ => {}
    }
    count::<P>(pc, if f.ipv6 { Counter::AnsIpv6 } else { Counter::AnsIpv4 });
    Ok(())
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
