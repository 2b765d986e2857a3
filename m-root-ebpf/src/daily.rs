//! RSSAC002's per-UTC-day counts of what the programs dispose of (m_root_common::daily has the rules):
//! queries and responses by family, rcodes, size buckets, and the unique-source registers. A query is
//! counted by the hook that answered it or dropped it (rate limiting, the drop list); one passed up is
//! userspace's to count, so nothing is counted twice.
//!
//! What the count needs of the packet is parked in the per-CPU value while it is answered (its DNS
//! length and its answer's, its family, the rcode sent) and counted in one place once its fate is known: no
//! register carries it through the answer, whose verifier budget is spent.

use crate::parse::opaque;
use aya_ebpf::{
    macros::map,
    maps::{Array, PerCpuArray},
};
use m_root_common::{
    PerCpu,
    daily::{
        DAY_SLOTS, DailyCounts, HLL_REGISTERS, HllRegisters, KERNEL_RCODES, REQUEST_BUCKETS, RESPONSE_BUCKETS, SOURCE_SETS, hll_index_rank,
        request_bucket, response_bucket, slot_of_day_value, source_hashes_by_words,
    },
};

/// Which slot is today's (m_root_common::daily::day_value), or DAY_OFF: set by userspace.
#[map]
static DAY_SLOT: Array<u32> = Array::with_max_entries(1, 0);
#[map]
static DAILY: PerCpuArray<DailyCounts> = PerCpuArray::with_max_entries(DAY_SLOTS, 0);
/// Entry `slot * SOURCE_SETS + set`.
#[map]
static SOURCES: PerCpuArray<HllRegisters> = PerCpuArray::with_max_entries(DAY_SLOTS * SOURCE_SETS, 0);

// The parked word: DNS length, family, rcode index.
const LEN_MASK: u64 = 0xffff;
const V6_SHIFT: u32 = 32;
const RCODE_SHIFT: u32 = 40;

/// A query of `dns_len` octets of DNS, over IPv6 when `family` is 1: park what its count needs (rcode NOERROR
/// until [`park_rcode`] says otherwise).
#[inline(always)]
pub fn park_query(pc: *mut PerCpu, dns_len: usize, family: u64) {
    let w = (dns_len as u64 & LEN_MASK) | ((family & 1) << V6_SHIFT);
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).day[0]), w) };
}

/// The answer's rcode, as an index into KERNEL_RCODES (m_root_common::daily's RCODE_*).
#[inline(always)]
pub fn park_rcode(pc: *mut PerCpu, rcode: usize) {
    unsafe {
        let w = core::ptr::read_volatile(core::ptr::addr_of!((*pc).day[0]));
        core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).day[0]), w | ((rcode as u64) << RCODE_SHIFT));
    }
}

/// The answer's DNS length, once it is known.
#[inline(always)]
pub fn park_response(pc: *mut PerCpu, dns_len: usize) {
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).day[1]), dns_len as u64) };
}

/// The parked query was disposed of here: `answered` when its parked answer was sent. Inline: as a BPF
/// subprogram the verifier checked it once per state calling it, 16k instructions more than inline.
#[inline(always)]
pub fn disposed(pc: *mut PerCpu, answered: bool) {
    let Some(slot) = DAY_SLOT.get(0).and_then(|v| slot_of_day_value(*v)) else { return };
    let w = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).day[0])) };
    let ipv6 = (w >> V6_SHIFT) & 1 == 1;
    let fam = ipv6 as usize;
    let Some(c) = DAILY.get_ptr_mut(slot) else { return };
    let c = unsafe { &mut *c };
    c.queries[fam] += 1;
    let b = opaque(request_bucket((w & LEN_MASK) as usize));
    if b < REQUEST_BUCKETS {
        c.request_sizes[b] += 1;
    }
    if answered {
        c.responses[fam] += 1;
        let rc = ((w >> RCODE_SHIFT) & 3) as usize;
        if rc < KERNEL_RCODES.len() {
            c.rcodes[rc] += 1;
        }
        let len = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).day[1])) } & LEN_MASK;
        let b = opaque(response_bucket(len as usize));
        if b < RESPONSE_BUCKETS {
            c.response_sizes[b] += 1;
        }
    }
    // The source as two little-endian words (addr_words), loaded whole: `src` is 8-aligned in PerCpu.
    let w = unsafe {
        let p = core::ptr::addr_of!((*pc).src) as *const u64;
        [core::ptr::read_volatile(p), core::ptr::read_volatile(p.add(1))]
    };
    for (set, h) in source_hashes_by_words(w, ipv6) {
        if set >= SOURCE_SETS {
            continue;
        }
        let Some(regs) = SOURCES.get_ptr_mut(slot * SOURCE_SETS + set) else { continue };
        let (i, rank) = hll_index_rank(h);
        let r = unsafe { &mut (*regs).r[i & (HLL_REGISTERS - 1)] };
        if *r < rank {
            *r = rank;
        }
    }
}
