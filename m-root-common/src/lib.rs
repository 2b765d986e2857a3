//! Types shared by the XDP program (`m-root-ebpf`) and userspace (`zonegen`, `m-root-user`).
//!
//! Everything here is `#[repr(C)]` and fixed-size: the XDP program reads these structs straight out of
//! BPF maps. One place for each fact: map names, limits, counter indices and the table layout live here.
#![no_std]

/// Longest label (RFC 1035 2.3.4).
pub const MAX_LABEL: usize = 63;
/// Longest name in wire form (RFC 1035 2.3.4).
pub const MAX_NAME: usize = 255;
/// The EDNS UDP payload size we advertise, and the largest UDP answer we ever send (DNS flag day 2020).
pub const OUR_UDP_PAYLOAD: u16 = 1232;
/// Answer limit for a query without EDNS (RFC 1035 4.2.1).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;
/// Wire length of the OPT record we append: root owner, type, class, TTL, RDLENGTH 0 (RFC 6891 6.1.2).
pub const OPT_LEN: usize = 11;
/// DNS header length.
pub const DNS_HEADER_LEN: usize = 12;

/// Largest answer fragment (everything after the question, before OPT): the UDP limit less the header and
/// the shortest question a fragment is spliced behind (root name: 1 octet + type + class), rounded up to
/// keep [`Answer`] free of padding.
pub const MAX_FRAG: usize = OUR_UDP_PAYLOAD as usize - DNS_HEADER_LEN - 4;
/// Cut points per answer: one for the required records plus one after each optional RRset.
pub const MAX_CUTS: usize = 32;
/// Compression pointers per answer fragment that must be shifted by the question's length.
pub const MAX_PTRS: usize = 128;

/// TLDs per table generation.
pub const MAX_TLDS: u32 = 3072;
/// Answer slots per TLD (see [`TldSlot`]).
pub const TLD_SLOTS: u32 = 6;
/// Apex answers per generation (qtype x DO).
pub const MAX_APEX: u32 = 128;
/// Answers per generation: TLD slots, apex answers, and the fixed ones (see [`FixedSlot`]).
pub const ANSWERS_PER_GEN: u32 = MAX_TLDS * TLD_SLOTS + MAX_APEX + FIXED_SLOTS;
/// Generations held at once: the one serving and the one being written by a reload.
pub const GENERATIONS: u32 = 2;
/// Service addresses the program answers for.
pub const MAX_SERVICE_ADDRS: u32 = 64;

/// Answers that do not depend on a TLD.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedSlot {
    /// NXDOMAIN for a name whose TLD does not exist, DO=0.
    NxdomainDo0 = 0,
    /// Signed NXDOMAIN depends on the NSEC interval; reserved (answered by userspace for now).
    NxdomainDo1 = 1,
    /// NODATA at the apex (a qtype the apex does not hold), DO=0.
    ApexNodataDo0 = 2,
    /// NODATA at the apex, DO=1.
    ApexNodataDo1 = 3,
}
pub const FIXED_SLOTS: u32 = 4;

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
    /// `<tld> NSEC`, DO=0.
    NsecDo0 = 4,
    /// `<tld> NSEC` with RRSIG, DO=1.
    NsecDo1 = 5,
}

impl TldSlot {
    pub const ALL: [TldSlot; TLD_SLOTS as usize] = [TldSlot::ReferralDo0, TldSlot::ReferralDo1, TldSlot::DsDo0, TldSlot::DsDo1, TldSlot::NsecDo0, TldSlot::NsecDo1];
    /// (qtype asked at the TLD itself, DO) the slot answers; qtype 0 stands for "any other" (a referral).
    pub const fn question(self) -> (u16, bool) {
        match self {
            TldSlot::ReferralDo0 => (0, false),
            TldSlot::ReferralDo1 => (0, true),
            TldSlot::DsDo0 => (43, false),
            TldSlot::DsDo1 => (43, true),
            TldSlot::NsecDo0 => (47, false),
            TldSlot::NsecDo1 => (47, true),
        }
    }
}

/// What the XDP program leaves in the frame's metadata (bpf_xdp_adjust_meta) when it found the answer but
/// the driver's buffer had no room for it, for the in-kernel TC companion.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpHint {
    /// [`XDP_HINT_MAGIC`]: tells a hint from other metadata.
    pub magic: u32,
    /// Index of the answer in the ANSWERS map.
    pub answer: u32,
}
pub const XDP_HINT_MAGIC: u32 = 0x4d52_5848; // "MRXH"


/// Index of the first answer of generation `gen`.
pub const fn gen_base(generation: u32) -> u32 {
    generation * ANSWERS_PER_GEN
}
/// Index of a TLD's answer in generation `gen` (`tld` is the TLD's ordinal in that generation).
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

/// Map names, shared so both sides agree.
pub mod maps {
    pub const TLDS: &str = "TLDS";
    pub const APEX: &str = "APEX";
    pub const ANSWERS: &str = "ANSWERS";
    pub const ACTIVE: &str = "ACTIVE";
    pub const GENINFO: &str = "GENINFO";
    pub const SERVICE_ADDRS: &str = "SERVICE_ADDRS";
    pub const COUNTERS: &str = "COUNTERS";
}

/// Key of the TLD map: the generation and the TLD's label in wire form (length octet, then the label
/// lowercased), zero-padded, so that one lookup answers both "does this TLD exist" and "where are its answers".
/// Eight-byte aligned and sized so the XDP program can zero it with plain stores (no memset call).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TldKey {
    pub generation: u32,
    pub reserved: u32,
    pub label: [u8; MAX_LABEL + 1],
}

impl TldKey {
    /// Generation set, label zero, written word by word (see [`AddrKey::zeroed`]).
    #[inline(always)]
    pub fn new(generation: u32) -> Self {
        let mut k = core::mem::MaybeUninit::<Self>::uninit();
        let p = k.as_mut_ptr() as *mut u64;
        // SAFETY: nine aligned u64 writes fill the 72-byte, 8-aligned struct; then the generation is set.
        unsafe {
            let mut i = 0;
            while i < core::mem::size_of::<Self>() / 8 {
                core::ptr::write_volatile(p.add(i), 0);
                i += 1;
            }
            let mut k = k.assume_init();
            k.generation = generation;
            k
        }
    }
}

/// Value of the TLD map: the TLD's ordinal in its generation.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TldValue {
    pub ordinal: u32,
}

/// Key of the apex map: generation, qtype and DO bit.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApexKey {
    pub generation: u32,
    pub qtype: u16,
    pub dnssec_ok: u16,
}

/// Value of the apex map: the answer's index within the generation's apex block.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApexValue {
    pub apex: u32,
}

/// What a generation holds besides its maps' keys.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GenInfo {
    /// Zone serial the generation was compiled from.
    pub serial: u32,
    /// 1 once the generation is completely written.
    pub ready: u32,
}

/// A place in an answer fragment where it may be cut: what the answer is when only the records before
/// `len` fit. Cut 0 holds the required records only; a requester whose buffer cannot take cut 0 gets TC=1.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cut {
    /// Fragment octets up to this cut.
    pub len: u16,
    /// ARCOUNT of the answer cut here (OPT not counted).
    pub arcount: u16,
    /// Compression pointers (from the start of `ptrs`) inside the first `len` octets.
    pub nptrs: u16,
    /// How many of those sit at an odd offset of the fragment (their checksum weight is byte-swapped).
    pub nodd: u16,
    /// One's-complement sum (RFC 1071, not folded, big-endian words) of the first `len` octets, taken as if
    /// the fragment started at an even offset, with the pointers as compiled (for `canon_qlen`).
    pub csum: u32,
}

/// A precompiled answer: everything after the question, produced by zonegen's one answer function for a
/// canonical question of `canon_qlen` octets of name. A question of another length shifts every compression
/// pointer by the difference; the fragment never points into the question below the zone cut.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Answer {
    /// Header flags as the answer function sets them, without RD (copied from the query) and TC.
    pub flags: u16,
    pub ancount: u16,
    pub nscount: u16,
    /// Number of valid cuts (at least 1).
    pub ncuts: u16,
    /// Wire length of the canonical question's name the fragment was compiled for.
    pub canon_qlen: u16,
    /// Number of valid entries in `ptrs`.
    pub nptrs: u16,
    /// 1 when the XDP program may answer from this entry; 0 sends the query up to userspace.
    pub usable: u16,
    pub reserved: u16,
    pub cuts: [Cut; MAX_CUTS],
    /// Fragment offsets of the compression pointers, ascending.
    pub ptrs: [u16; MAX_PTRS],
    pub data: [u8; MAX_FRAG],
}

impl Answer {
    /// The entry's bytes, as stored in the BPF map and in table files.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C), only integer fields, no padding (size checked below); every byte is initialised.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, core::mem::size_of::<Self>()) }
    }
    /// Read an entry back from bytes (table files). None if the length is wrong.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != core::mem::size_of::<Self>() {
            return None;
        }
        let mut a = Self::zeroed();
        // SAFETY: same layout argument; any bit pattern is a valid Answer.
        unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), &mut a as *mut Self as *mut u8, b.len()) };
        Some(a)
    }
    pub const fn zeroed() -> Self {
        Answer {
            flags: 0,
            ancount: 0,
            nscount: 0,
            ncuts: 0,
            canon_qlen: 0,
            nptrs: 0,
            usable: 0,
            reserved: 0,
            cuts: [Cut { len: 0, arcount: 0, nptrs: 0, nodd: 0, csum: 0 }; MAX_CUTS],
            ptrs: [0; MAX_PTRS],
            data: [0; MAX_FRAG],
        }
    }
}

/// Internet checksum arithmetic (RFC 1071) shared by the compiler and the XDP program.
pub mod csum {
    /// Add a 16-bit word to an unfolded sum.
    #[inline(always)]
    pub const fn add16(sum: u32, word: u16) -> u32 {
        sum + word as u32
    }
    /// Fold an unfolded sum to 16 bits (not complemented).
    #[inline(always)]
    pub const fn fold(mut sum: u32) -> u16 {
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        sum as u16
    }
    /// Sum of `data` as big-endian words starting at an even offset, an odd last byte padded with zero.
    pub fn sum_bytes(data: &[u8]) -> u32 {
        let mut s: u64 = 0;
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            s += u16::from_be_bytes([c[0], c[1]]) as u64;
        }
        if let [last] = chunks.remainder() {
            s += (*last as u64) << 8;
        }
        // Fold to at most 17 bits so the u32 keeps room for later additions.
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u32
    }
}

// No padding in Answer: header 8 x u16, cuts, pointers, data.
const _: () = assert!(core::mem::size_of::<Answer>() == 16 + MAX_CUTS * 12 + MAX_PTRS * 2 + MAX_FRAG);

/// Key of the service address map: IPv6, or IPv4 as `::ffff:a.b.c.d` (RFC 4291 2.5.5.2).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrKey {
    pub addr: [u8; 16],
}

impl AddrKey {
    /// All zero, written word by word: a zeroed array literal becomes a memset call in BPF code.
    #[inline(always)]
    pub fn zeroed() -> Self {
        let mut k = core::mem::MaybeUninit::<Self>::uninit();
        let p = k.as_mut_ptr() as *mut u64;
        // SAFETY: two aligned u64 writes fill the 16-byte, 8-aligned struct.
        unsafe {
            core::ptr::write_volatile(p, 0);
            core::ptr::write_volatile(p.add(1), 0);
            k.assume_init()
        }
    }
}

/// Per-CPU counters, one array slot each. Names follow what operators know from Knot and NSD.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Frames seen by the XDP program.
    XdpFrames = 0,
    /// Frames not for a service address/port (passed untouched).
    XdpNotForUs,
    /// DNS queries for a service address seen by XDP.
    XdpQueries,
    /// Answered by XDP_TX: referral, DO=0.
    XdpAnsReferral,
    /// Answered by XDP_TX: referral, DO=1.
    XdpAnsReferralDnssec,
    /// Answered by XDP_TX: NXDOMAIN.
    XdpAnsNxdomain,
    /// Answered by XDP_TX: apex.
    XdpAnsApex,
    /// Answered by XDP_TX: `<tld> DS` or `<tld> NSEC` (authoritative data at the cut).
    XdpAnsTldData,
    /// Answered by XDP_TX with TC=1 (the requester's buffer was too small for the required records);
    /// counted instead of the kind.
    XdpAnsTruncated,
    /// Passed: malformed or unusual header, envelope or question.
    XdpPassMalformed,
    /// Passed: query shape the fast path does not cover (CHAOS, ANY, options, DO=1 NXDOMAIN, ...).
    XdpPassUncovered,
    /// Passed: the driver's buffer could not grow to the answer's size (a hint is left in the metadata).
    XdpPassNoRoom,
    /// Passed: no table generation loaded.
    XdpPassNoTable,
    /// IPv4 queries answered.
    XdpAnsIpv4,
    /// IPv6 queries answered.
    XdpAnsIpv6,
    /// Dropped: the frame was already rewritten when a step failed (should stay 0).
    XdpDropped,
}
/// Number of counter slots (keep in step with [`Counter`]).
pub const COUNTERS: u32 = 24;

impl Counter {
    pub const ALL: [Counter; 16] = [
        Counter::XdpFrames,
        Counter::XdpNotForUs,
        Counter::XdpQueries,
        Counter::XdpAnsReferral,
        Counter::XdpAnsReferralDnssec,
        Counter::XdpAnsNxdomain,
        Counter::XdpAnsApex,
        Counter::XdpAnsTldData,
        Counter::XdpAnsTruncated,
        Counter::XdpPassMalformed,
        Counter::XdpPassUncovered,
        Counter::XdpPassNoRoom,
        Counter::XdpPassNoTable,
        Counter::XdpAnsIpv4,
        Counter::XdpAnsIpv6,
        Counter::XdpDropped,
    ];
    /// Stable name for `stats` output.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::XdpFrames => "xdp.frames",
            Counter::XdpNotForUs => "xdp.pass.not-for-us",
            Counter::XdpQueries => "xdp.queries",
            Counter::XdpAnsReferral => "xdp.answer.referral",
            Counter::XdpAnsReferralDnssec => "xdp.answer.referral-dnssec",
            Counter::XdpAnsNxdomain => "xdp.answer.nxdomain",
            Counter::XdpAnsApex => "xdp.answer.apex",
            Counter::XdpAnsTldData => "xdp.answer.tld-ds-nsec",
            Counter::XdpAnsTruncated => "xdp.answer.truncated",
            Counter::XdpPassMalformed => "xdp.pass.malformed",
            Counter::XdpPassUncovered => "xdp.pass.uncovered",
            Counter::XdpPassNoRoom => "xdp.pass.no-room",
            Counter::XdpPassNoTable => "xdp.pass.no-table",
            Counter::XdpAnsIpv4 => "xdp.answer.ipv4",
            Counter::XdpAnsIpv6 => "xdp.answer.ipv6",
            Counter::XdpDropped => "xdp.dropped",
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all are repr(C) plain data without padding-dependent invariants; any bit pattern is valid.
    unsafe impl aya::Pod for TldKey {}
    unsafe impl aya::Pod for TldValue {}
    unsafe impl aya::Pod for ApexKey {}
    unsafe impl aya::Pod for ApexValue {}
    unsafe impl aya::Pod for GenInfo {}
    unsafe impl aya::Pod for Answer {}
    unsafe impl aya::Pod for AddrKey {}
}
