//! Where each answer sits in the ANSWERS map: per generation, the TLDs' slots, the apex answers, the
//! fixed answers, and the signed NXDOMAIN answers one per NSEC interval; and what a generation holds
//! besides (GenInfo).

use crate::counters::Counter;
use crate::dns::TYPE_DS;

/// TLDs per table generation.
pub const MAX_TLDS: u32 = 3072;
/// Answer slots per TLD (see [`TldSlot`]).
pub const TLD_SLOTS: u32 = TldSlot::ALL.len() as u32;
/// Apex answers per generation (qtype x DO).
pub const MAX_APEX: u32 = 128;
/// Apex answers are found by qtype below this (every type a root apex holds); others get NODATA or pass.
pub const APEX_QTYPES: u32 = 256;
/// Fixed answers per generation (see [`FixedSlot`]).
pub const FIXED_SLOTS: u32 = FixedSlot::ALL.len() as u32;
/// Signed NXDOMAIN answers per generation: one per NSEC interval (the apex's and each TLD's).
pub const MAX_NSEC: u32 = MAX_TLDS + 1;
/// Answers per generation: TLD slots, apex answers, the fixed ones, the signed NXDOMAIN ones.
pub const ANSWERS_PER_GEN: u32 = MAX_TLDS * TLD_SLOTS + MAX_APEX + FIXED_SLOTS + MAX_NSEC;
/// Generations held at once: the one serving and the one being written by a reload.
pub const GENERATIONS: u32 = 2;

// The apex index masks qtypes with APEX_QTYPES - 1, and every answer index of every generation is a u32.
const _: () = assert!(APEX_QTYPES.is_power_of_two());
const _: () = assert!((ANSWERS_PER_GEN as u64) * (GENERATIONS as u64) <= u32::MAX as u64);

/// Answers that do not depend on a TLD, at [`fixed_answer_index`]. Signed NXDOMAIN is not among them:
/// it depends on the NSEC interval (see [`nsec_answer_index`]).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedSlot {
    /// NXDOMAIN for a name whose TLD does not exist, DO=0 (DO=1 NXDOMAIN is one answer per NSEC
    /// interval: [`nsec_answer_index`]).
    NxdomainDo0 = 0,
    /// NODATA at the apex (a qtype the apex does not hold), DO=0.
    ApexNodataDo0 = 1,
    /// NODATA at the apex, DO=1.
    ApexNodataDo1 = 2,
}

impl FixedSlot {
    pub const ALL: [FixedSlot; 3] = [FixedSlot::NxdomainDo0, FixedSlot::ApexNodataDo0, FixedSlot::ApexNodataDo1];
    /// The slot with this number (table files store the number).
    pub const fn from_number(n: u32) -> Option<FixedSlot> {
        if (n as usize) < FixedSlot::ALL.len() { Some(FixedSlot::ALL[n as usize]) } else { None }
    }
    /// NODATA at the apex for a requester with or without DO.
    pub const fn apex_nodata(dnssec_ok: bool) -> FixedSlot {
        if dnssec_ok { FixedSlot::ApexNodataDo1 } else { FixedSlot::ApexNodataDo0 }
    }
}
const _: () = assert!(FixedSlot::ALL.len() == FIXED_SLOTS as usize && FixedSlot::ALL[FIXED_SLOTS as usize - 1] as u32 == FIXED_SLOTS - 1);

/// The answers kept per TLD, at `tld_base + slot`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TldSlot {
    /// Referral for the TLD or any name below it, DO=0.
    ReferralDo0 = 0,
    /// Referral with DS + RRSIG (or the no-DS NSEC proof), DO=1.
    ReferralDo1 = 1,
    /// `<tld> DS`: the DS RRset (or NODATA), DO=0.
    DsDo0 = 2,
    /// `<tld> DS` with RRSIG (or signed NODATA), DO=1.
    DsDo1 = 3,
}

impl TldSlot {
    pub const ALL: [TldSlot; 4] = [TldSlot::ReferralDo0, TldSlot::ReferralDo1, TldSlot::DsDo0, TldSlot::DsDo1];
    /// (qtype asked at the TLD itself, DO) the slot answers; qtype 0 stands for "any other" (a referral).
    pub const fn question(self) -> (u16, bool) {
        match self {
            TldSlot::ReferralDo0 => (0, false),
            TldSlot::ReferralDo1 => (0, true),
            TldSlot::DsDo0 => (TYPE_DS, false),
            TldSlot::DsDo1 => (TYPE_DS, true),
        }
    }
    /// The slot that answers a question under an existing TLD: at the TLD itself (`at_tld`) DS is the
    /// parent's own data (RFC 4035 3.1.4.1); every other qtype, there or below, is a referral (as NSD,
    /// BIND and Knot answer `<tld> NSEC` too). The one rule for the kernel and the userspace splice.
    pub const fn for_question(at_tld: bool, qtype: u16, dnssec: bool) -> TldSlot {
        match (at_tld && qtype == TYPE_DS, dnssec) {
            (true, false) => TldSlot::DsDo0,
            (true, true) => TldSlot::DsDo1,
            (false, false) => TldSlot::ReferralDo0,
            (false, true) => TldSlot::ReferralDo1,
        }
    }
    /// Is this the parent's own DS (an authoritative answer, not a referral)?
    pub const fn is_ds(self) -> bool {
        matches!(self, TldSlot::DsDo0 | TldSlot::DsDo1)
    }
    /// The counter of an answer from this slot.
    pub const fn counter(self) -> Counter {
        match self {
            TldSlot::ReferralDo0 => Counter::AnsReferral,
            TldSlot::ReferralDo1 => Counter::AnsReferralDnssec,
            TldSlot::DsDo0 | TldSlot::DsDo1 => Counter::AnsTldDs,
        }
    }
}
const _: () = assert!(TldSlot::ALL[TldSlot::ALL.len() - 1] as usize == TldSlot::ALL.len() - 1);

/// Index of the first answer of generation `gen`.
pub const fn gen_base(generation: u32) -> u32 {
    generation * ANSWERS_PER_GEN
}
/// Index of a TLD's answer in generation `generation` (`tld` is the TLD's ordinal in that generation).
pub const fn tld_answer_index(generation: u32, tld: u32, slot: u32) -> u32 {
    gen_base(generation) + tld * TLD_SLOTS + slot
}
/// Index of an apex answer.
pub const fn apex_answer_index(generation: u32, apex: u32) -> u32 {
    gen_base(generation) + MAX_TLDS * TLD_SLOTS + apex
}
/// Index of a fixed answer.
pub const fn fixed_answer_index(generation: u32, slot: FixedSlot) -> u32 {
    gen_base(generation) + MAX_TLDS * TLD_SLOTS + MAX_APEX + slot as u32
}
/// Index of the signed NXDOMAIN answer for NSEC interval `interval` (0: the apex's NSEC; k: the NSEC of
/// the k-th TLD in canonical order, counting from 1).
pub const fn nsec_answer_index(generation: u32, interval: u32) -> u32 {
    gen_base(generation) + MAX_TLDS * TLD_SLOTS + MAX_APEX + FIXED_SLOTS + interval
}

/// Index into the apex index (value: apex answer number + 1, 0 for "not held": NODATA).
pub const fn apex_qtype_index(generation: u32, qtype: u16, dnssec_ok: bool) -> u32 {
    (generation * APEX_QTYPES + (qtype as u32 & (APEX_QTYPES - 1))) * 2 + dnssec_ok as u32
}

/// What a generation holds besides its maps' keys.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GenInfo {
    /// Zone serial the generation was compiled from.
    pub serial: u32,
    /// 1 once the generation is completely written.
    pub ready: u32,
    /// Seed of the TLD index's hash in this generation.
    pub tld_seed: u64,
    /// TLDs in the sorted list (TLDSORT) of this generation.
    pub tld_count: u32,
    /// 1 when the signed NXDOMAIN answers are in the table (signed zone, no label the sort key cannot order).
    pub signed_nx: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tld_slot_answers_the_question_it_is_compiled_for() {
        for slot in TldSlot::ALL {
            let (qtype, dnssec) = slot.question();
            // "Any other qtype" (0) stands for a referral; A is one.
            let qtype = if qtype == 0 { 1 } else { qtype };
            assert_eq!(TldSlot::for_question(true, qtype, dnssec), slot, "{slot:?}");
        }
        // Below the TLD everything is a referral, DS included; at it NSEC is one too.
        assert_eq!(TldSlot::for_question(false, TYPE_DS, true), TldSlot::ReferralDo1);
        assert_eq!(TldSlot::for_question(true, 47, false), TldSlot::ReferralDo0);
    }

    #[test]
    fn the_regions_of_a_generation_do_not_overlap() {
        for g in 0..GENERATIONS {
            let last_tld = tld_answer_index(g, MAX_TLDS - 1, TLD_SLOTS - 1);
            assert!(last_tld < apex_answer_index(g, 0));
            assert!(apex_answer_index(g, MAX_APEX - 1) < fixed_answer_index(g, FixedSlot::NxdomainDo0));
            assert!(fixed_answer_index(g, FixedSlot::ApexNodataDo1) < nsec_answer_index(g, 0));
            assert_eq!(nsec_answer_index(g, MAX_NSEC - 1) + 1, gen_base(g + 1));
        }
        assert_eq!(apex_qtype_index(1, 255, true) + 1, GENERATIONS * APEX_QTYPES * 2);
    }
}
