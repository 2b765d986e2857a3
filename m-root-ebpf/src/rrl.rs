//! Response rate limiting and the drop list, in both programs. The rule (GCRA per source prefix and
//! response class, slip, what is reported) is m_root_common::rrl's, shared with userspace; here only
//! the maps it runs on.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::generated::{bpf_jiffies64, bpf_ktime_get_coarse_ns},
    macros::map,
    maps::{Array, LpmTrie, RingBuf, lpm_trie::Key},
};
use m_root_common::{
    Counter, PerCpu,
    rrl::{
        ACL_HAS_DROP, LIST_ENTRIES, RRL_BUCKETS, RRL_DRY_RUN, RRL_HAS_EXEMPT, RrlBucket, RrlConf, RrlReport, RrlSlot, Verdict, charge,
        key_of, slot_choice, slots_of,
    },
};

use crate::count;
use crate::packet::Packet;

#[map]
static RRL_CONF: Array<RrlConf> = Array::with_max_entries(1, 0);
#[map]
static RRL: Array<RrlSlot> = Array::with_max_entries(RRL_BUCKETS, 0);
#[map]
static RRL_EXEMPT: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(LIST_ENTRIES, BPF_F_NO_PREALLOC);
#[map]
static ACL_DROP: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(LIST_ENTRIES, BPF_F_NO_PREALLOC);
/// A report per bucket that starts limiting, at most every `report_ns`: the daemon logs them.
#[map]
static RRL_REPORTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

/// Park the verdict on the packet being answered (as [`Verdict::hint`]) in the per-CPU value.
#[inline(always)]
pub fn park(pc: *mut PerCpu, hint: u32) {
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).rrl), hint as u64) };
}

/// The parked verdict, read afresh each time (the verifier knows nothing of it beyond each use).
#[inline(always)]
pub fn parked(pc: *mut PerCpu) -> u32 {
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).rrl)) as u32 }
}

#[inline(always)]
fn conf() -> Option<&'static RrlConf> {
    RRL_CONF.get(0)
}

/// The source of the packet being answered (parse::frame left it in the per-CPU value), as four words.
#[inline(always)]
fn source(pc: *mut PerCpu) -> [u32; 4] {
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).src) as *const [u32; 4]) }
}

/// Is the source in `list`? The LPM key is built in the per-CPU value (see PerCpu::lpm_key).
#[inline(always)]
fn listed(pc: *mut PerCpu, list: &LpmTrie<[u8; 16], u32>) -> bool {
    let src = source(pc);
    unsafe {
        let k = core::ptr::addr_of_mut!((*pc).lpm_key);
        core::ptr::write_volatile(k, [128, src[0], src[1], src[2], src[3]]);
        list.get(&*(k as *const Key<[u8; 16]>)).is_some()
    }
}

/// The coarse clock (a tick, 1-4 ms; rates are per second), asked of the kernel once per tick per CPU:
/// jiffies is read inline (the verifier turns bpf_jiffies64 into a load), while a helper call returns
/// through the CPU's return-thunk mitigations, and at one per packet it was most of the limiter's cost
/// (bench xdp-cost, AMD EPYC, 2026-12-02: +11 % to +17 % of an answer with it, +2 % to +5 % without).
/// A subprogram of its own, so its values do not add to the limiter's stack (at the verifier's limit).
#[inline(never)]
fn coarse_now(pc: *mut PerCpu) -> u64 {
    unsafe {
        let j = bpf_jiffies64();
        let seen = core::ptr::addr_of_mut!((*pc).rrl_clock);
        let [last, ns] = core::ptr::read_volatile(seen);
        if j == last && ns != 0 {
            return ns;
        }
        let ns = bpf_ktime_get_coarse_ns();
        core::ptr::write_volatile(seen, [j, ns]);
        ns
    }
}

/// Is the source on the drop list?
#[inline(always)]
pub fn dropped(pc: *mut PerCpu) -> bool {
    conf().is_some_and(|c| c.flags & ACL_HAS_DROP != 0) && listed(pc, &ACL_DROP)
}

/// What [`verdict`] is asked to do: charge the response.
pub const CHARGE: u32 = 0xff;

/// Has [`verdict`] anything to do: is rate limiting or are cookies on? In the default configuration
/// neither is, and the subprogram's call and return (through the CPU's return thunk) are skipped.
#[inline(always)]
pub fn needed() -> bool {
    conf().is_some_and(|c| c.on()) || crate::cookie::on()
}

/// What [`verdict`] returns when it has nothing to do: `pre`, or send when asked to charge.
#[inline(always)]
pub const fn unlimited(pre: u32) -> u32 {
    if pre == CHARGE { m_root_common::HINT_RRL_SEND } else { pre }
}

/// Check the query's cookie (cookie::process), then, when `pre` is [`CHARGE`] and the cookie is not a
/// valid one of ours, charge the response of class `class` to the source's bucket; what to send
/// ([`Verdict::hint`], or [`HINT_DROP`]), which is `pre` unless charged. A BPF subprogram: its ways
/// through (cookies, lists, a new bucket, limited or not, a report, dry run) end in its return value, and
/// the verifier checks the splice after it once, not once per way (inlined, the TC program passed the
/// verifier's limit).
#[inline(never)]
pub fn verdict<P: Packet>(pc: *mut PerCpu, ipv6: u64, class: u32, pre: u32) -> u32 {
    // The address family goes to the per-CPU value and each way has its own copy of the cookie's
    // check, so fewer values are kept across it: this subprogram's stack, with the hash's and the
    // program's, stays within the verifier's 512 octets.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).cookie_v6), ipv6) };
    if pre != CHARGE {
        crate::cookie::process(pc);
        return pre;
    }
    crate::cookie::process(pc);
    if crate::cookie::parked(pc) == crate::cookie::VALID {
        return m_root_common::HINT_RRL_SEND;
    }
    let ipv6 = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_v6)) };
    check_in::<P>(pc, ipv6 != 0, class).hint_or_drop()
}

#[inline(always)]
fn check_in<P: Packet>(pc: *mut PerCpu, ipv6: bool, class: u32) -> Verdict {
    let Some(c) = conf() else { return Verdict::Send };
    if !c.on() {
        return Verdict::Send;
    }
    if c.flags & RRL_HAS_EXEMPT != 0 && listed(pc, &RRL_EXEMPT) {
        count::<P>(pc, Counter::RrlExempt);
        return Verdict::Send;
    }
    // The bucket's key in the per-CPU value, not on the stack (see PerCpu::rrl_key).
    let key = unsafe {
        let k = core::ptr::addr_of_mut!((*pc).rrl_key);
        core::ptr::write_volatile(k, key_of(source(pc), ipv6, class, c));
        &*k
    };
    let now = coarse_now(pc);
    let (i1, i2) = slots_of(key, c.seed);
    let (Some(s1), Some(s2)) = (RRL.get_ptr_mut(i1), RRL.get_ptr_mut(i2)) else { return Verdict::Send };
    // SAFETY: values of the map, valid while the program runs; CPUs racing on one slot may each take
    // the same token (a few responses too many under contention, never a wrong one).
    let (s1, s2) = unsafe { (&mut *s1, &mut *s2) };
    let (second, fresh) = slot_choice(s1, s2, key);
    let slot = if second { s2 } else { s1 };
    if fresh {
        slot.key = *key;
        slot.bucket = RrlBucket::default();
    }
    let b = &mut slot.bucket;
    let (verdict, report) = charge(b, now, c);
    if report && let Some(mut r) = RRL_REPORTS.reserve::<RrlReport>(0) {
        r.write(RrlReport { key_addr: key.addr, class, limited: b.limited });
        r.submit(0);
    }
    if verdict != Verdict::Send && c.flags & RRL_DRY_RUN != 0 {
        count::<P>(pc, Counter::RrlWouldLimit);
        return Verdict::Send;
    }
    verdict
}
