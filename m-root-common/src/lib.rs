//! Types shared by the XDP program (`m-root-ebpf`) and userspace (`zonegen`, `m-root-user`).
//!
//! Everything here is `#[repr(C)]` and fixed-size: the XDP program reads these structs straight out of
//! BPF maps. One place for each fact: map names, limits, counter indices and the table layout live here.
#![cfg_attr(not(test), no_std)]

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
pub const TLD_SLOTS: u32 = 4;
/// Apex answers per generation (qtype x DO).
pub const MAX_APEX: u32 = 128;
/// Answers per generation: TLD slots, apex answers, and the fixed ones (see [`FixedSlot`]).
pub const ANSWERS_PER_GEN: u32 = MAX_TLDS * TLD_SLOTS + MAX_APEX + FIXED_SLOTS + MAX_NSEC;
/// Signed NXDOMAIN answers per generation: one per NSEC interval (the apex's and each TLD's).
pub const MAX_NSEC: u32 = MAX_TLDS + 1;
/// Generations held at once: the one serving and the one being written by a reload.
pub const GENERATIONS: u32 = 2;
/// Service addresses the program answers for (scanned linearly: a hash lookup costs more than this).
pub const MAX_SERVICE_ADDRS: usize = 16;

/// Answers that do not depend on a TLD.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedSlot {
    /// NXDOMAIN for a name whose TLD does not exist, DO=0.
    NxdomainDo0 = 0,
    /// Unused: signed NXDOMAIN depends on the NSEC interval (see [`nsec_answer_index`]).
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
}

/// The DS type, the one the parent answers for at a cut.
const TYPE_DS: u16 = 43;

impl TldSlot {
    pub const ALL: [TldSlot; TLD_SLOTS as usize] = [TldSlot::ReferralDo0, TldSlot::ReferralDo1, TldSlot::DsDo0, TldSlot::DsDo1];
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
/// Index of a TLD's answer in generation `generation` (`tld` is the TLD's ordinal in that generation).
pub const fn tld_answer_index(generation: u32, tld: u32, slot: u32) -> u32 {
    gen_base(generation) + tld * TLD_SLOTS + slot
}
/// Index of an apex answer.
pub const fn apex_answer_index(generation: u32, apex: u32) -> u32 {
    gen_base(generation) + MAX_TLDS * TLD_SLOTS + apex
}
/// Index of the signed NXDOMAIN answer for NSEC interval `interval` (0: the apex's NSEC; k: the NSEC of
/// the k-th TLD in canonical order, counting from 1).
pub const fn nsec_answer_index(generation: u32, interval: u32) -> u32 {
    gen_base(generation) + MAX_TLDS * TLD_SLOTS + MAX_APEX + FIXED_SLOTS + interval
}
/// Index of a fixed answer.
pub const fn fixed_answer_index(generation: u32, slot: FixedSlot) -> u32 {
    gen_base(generation) + MAX_TLDS * TLD_SLOTS + MAX_APEX + slot as u32
}

/// Map names, shared so both sides agree.
pub mod maps {
    pub const TLDIDX: &str = "TLDIDX";
    pub const TLDSORT: &str = "TLDSORT";
    pub const TLDDIR: &str = "TLDDIR";
    /// Trust-anchor signals answered in XDP, per-CPU, key [`signal_key`].
    pub const TA_SIGNALS: &str = "TA_SIGNALS";
    pub const APEXIDX: &str = "APEXIDX";
    pub const ANSWERS: &str = "ANSWERS";
    pub const ACTIVE: &str = "ACTIVE";
    pub const GENINFO: &str = "GENINFO";
    pub const SERVICE_ADDRS: &str = "SERVICE_ADDRS";
    /// Per-CPU state: the counters, and scratch space (one lookup per packet serves both).
    pub const PERCPU: &str = "PERCPU";
    pub const TC_MODE: &str = "TC_MODE";
    /// [`super::XDP_TX_ON`] or [`super::XDP_TX_OFF`].
    pub const XDP_TX: &str = "XDP_TX";
    pub const SPILL: &str = "SPILL";
    pub const SPILL_CPUS: &str = "SPILL_CPUS";
}

/// Slots of the TLD index per generation (a power of two, about three times MAX_TLDS: short probes).
pub const TLD_BUCKETS: u32 = 8192;
/// Longest probe sequence in the TLD index; userspace picks a hash seed under which no TLD needs more.
pub const TLD_MAX_PROBE: u32 = 4;
/// Apex answers are found by qtype below this (every type a root apex holds); others get NODATA or pass.
pub const APEX_QTYPES: u32 = 256;

/// A TLD label as the index stores it: the label in wire form (length octet, then the label lowercased),
/// zero-padded to 64 octets, read as eight native-endian words.
pub type LabelWords = [u64; 8];

/// One slot of the TLD index (an array map, [`TLD_BUCKETS`] slots per generation, open addressing with
/// linear probing). Array lookups are inlined by the JIT; a hash map lookup with a 64-octet key cost
/// 45-90 ns here.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TldEntry {
    pub label: LabelWords,
    /// The TLD's ordinal in its generation (where its answers are).
    pub ordinal: u32,
    /// 1 when the slot holds a TLD; an empty slot ends a probe.
    pub used: u32,
}

impl TldEntry {
    pub const EMPTY: TldEntry = TldEntry { label: [0; 8], ordinal: 0, used: 0 };
}

/// The TLD index's hash: a multiply-xor mix, seeded per generation, of the first label word (length
/// octet and seven octets) and of the other seven, each rotated by its place and folded together by xor
/// (rotated, so that equal words in different places do not cancel). Two dependent multiplies, not
/// eight: most TLDs fit in the first two words, and the full key is compared on every probe anyway.
#[inline(always)]
pub fn tld_hash(w: &LabelWords, seed: u64) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let rest = w[1]
        ^ w[2].rotate_left(8)
        ^ w[3].rotate_left(16)
        ^ w[4].rotate_left(24)
        ^ w[5].rotate_left(32)
        ^ w[6].rotate_left(40)
        ^ w[7].rotate_left(48);
    let mut h = (seed ^ K ^ w[0]).wrapping_mul(K);
    h ^= h >> 29;
    h = (h ^ rest).wrapping_mul(K);
    h ^= h >> 29;
    (h >> 32) as u32 & (TLD_BUCKETS - 1)
}

/// Index of a TLD-index slot.
pub const fn tld_bucket_index(generation: u32, bucket: u32) -> u32 {
    generation * TLD_BUCKETS + (bucket & (TLD_BUCKETS - 1))
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

/// A TLD label as the sorted list holds it: the label's octets lowercased, without the length octet,
/// zero-padded to 64, read as big-endian words, so comparing the words in order is DNSSEC canonical order
/// (RFC 4034 6.1) for labels without zero octets.
pub type SortKey = [u64; 8];

/// The sort key of a label's octets (already lowercased).
pub fn sort_key(label: &[u8]) -> SortKey {
    let mut b = [0u8; 64];
    let n = if label.len() < 64 { label.len() } else { 64 };
    b[..n].copy_from_slice(&label[..n]);
    let mut k = [0u64; 8];
    let mut i = 0;
    while i < 8 {
        k[i] = u64::from_be_bytes([
            b[8 * i],
            b[8 * i + 1],
            b[8 * i + 2],
            b[8 * i + 3],
            b[8 * i + 4],
            b[8 * i + 5],
            b[8 * i + 6],
            b[8 * i + 7],
        ]);
        i += 1;
    }
    k
}

/// Entries of [`SortDir`]: one per value of a label's first two octets, one for the end, padding.
pub const SORT_DIR_LEN: usize = 65536 + 8;

/// The sorted TLD list's directory, one value per generation: `first[p]` is how many TLDs sort before
/// every label whose first two octets are `p` (big-endian; a one-octet label is followed by 0), and
/// `first[65536]` the count. The TLDs a label falls among are `first[p]..first[p + 1]`: the binary search
/// for a missing TLD's NSEC interval starts there, a few steps instead of eleven, each step a branch the
/// CPU cannot predict.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SortDir {
    pub first: [u16; SORT_DIR_LEN],
}

/// The directory of a sorted list of sort keys.
pub fn sort_dir_fill(dir: &mut SortDir, keys: &[SortKey]) {
    let mut k = 0usize;
    let mut p = 0usize;
    while p <= 65536 {
        while k < keys.len() && ((keys[k][0] >> 48) as usize) < p {
            k += 1;
        }
        dir.first[p] = k as u16;
        p += 1;
    }
    while p < SORT_DIR_LEN {
        dir.first[p] = k as u16;
        p += 1;
    }
}

/// Index into the sorted TLD list.
pub const fn tld_sorted_index(generation: u32, k: u32) -> u32 {
    generation * MAX_TLDS + (k % MAX_TLDS)
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

/// One compression pointer of a fragment: where it sits and what it holds as compiled. The program writes
/// `val` plus the shift without reading the packet (a read of octets just copied in stalled on the copy).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ptr {
    /// Offset in the fragment.
    pub off: u16,
    /// The pointer's two octets as compiled (0xC000 | target), as a number.
    pub val: u16,
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
    /// The compression pointers to shift, ascending by offset.
    pub ptrs: [Ptr; MAX_PTRS],
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
            ptrs: [Ptr { off: 0, val: 0 }; MAX_PTRS],
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
const _: () = assert!(core::mem::size_of::<Answer>() == 16 + MAX_CUTS * 12 + MAX_PTRS * 4 + MAX_FRAG);

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

/// Per-CPU counters, one array slot per counter and hook. Names follow what operators know from Knot
/// and NSD; `stats` prints them as `<hook>.<name>` (xdp.answer.referral, tc.pass.no-room, ...).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Frames (XDP) or packets (TC) seen by the program.
    Frames = 0,
    /// Frames not for a service address/port (passed untouched).
    NotForUs,
    /// DNS queries for a service address seen by the program.
    Queries,
    /// Answered: referral, DO=0.
    AnsReferral,
    /// Answered: referral, DO=1.
    AnsReferralDnssec,
    /// Answered: NXDOMAIN, DO=0.
    AnsNxdomain,
    /// Answered: NXDOMAIN with its NSEC proofs, DO=1.
    AnsNxdomainDnssec,
    /// Answered: apex.
    AnsApex,
    /// Answered: `<tld> DS` (the parent's own data at the cut).
    AnsTldDs,
    /// Answered with TC=1 (the requester's buffer was too small for the required records); counted
    /// instead of the kind.
    AnsTruncated,
    /// Passed: malformed or unusual header, envelope or question.
    PassMalformed,
    /// Passed: query shape the fast path does not cover (CHAOS, ANY, options, ...).
    PassUncovered,
    /// Passed: the buffer could not grow to the answer's size (XDP leaves a hint in the metadata for TC).
    PassNoRoom,
    /// Passed: no table generation loaded.
    PassNoTable,
    /// IPv4 queries answered.
    AnsIpv4,
    /// IPv6 queries answered.
    AnsIpv6,
    /// Dropped: the frame was already rewritten when a step failed (should stay 0).
    Dropped,
    /// TC only, beside XDP: a packet XDP passed for a reason other than room (no hint: not DNS, not ours,
    /// or not covered), left to the stack and the next TC program.
    PassNotHinted,
    /// TC only: the query arrived with a partial UDP checksum (offloaded by the sender; veth, containers),
    /// so the answer carries one too, for the device or the peer's stack to complete.
    CsumPartial,
    /// XDP only: a no-room query for which the driver had no metadata room for the hint (counted
    /// beside pass.no-room); TC cannot know to answer it, so userspace does.
    NoHint,
    /// XDP only: a query left to TC (no room, or XDP_TX off) handed to another CPU (cpumap) to become an
    /// skb there (counted beside pass.no-room or pass.to-tc).
    Spilled,
    /// XDP only: a covered query handed to TC (with the hint) because XDP_TX is off on this device: the
    /// device cannot deliver it (veth with a peer that runs no XDP program), or its transmit errors moved.
    PassToTc,
    /// XDP only: a query handed to another CPU that arrived there (the cpumap's program counts it);
    /// pass.to-cpu less this is what the cpumap's queue dropped (a few may be in flight).
    SpillArrived,
}
/// Number of counter slots per hook.
pub const COUNTERS: usize = 24;
const _: () = assert!(Counter::ALL.len() <= COUNTERS && Counter::ALL[Counter::ALL.len() - 1] as usize == Counter::ALL.len() - 1);

/// Where a packet was answered or passed: the XDP program in the driver, or its TC companion.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Xdp = 0,
    Tc = 1,
}
pub const HOOKS: usize = 2;

impl Hook {
    pub const ALL: [Hook; HOOKS] = [Hook::Xdp, Hook::Tc];
    pub const fn name(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::Tc => "tc",
        }
    }
}

/// The one value of the per-CPU map.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PerCpu {
    pub counters: [[u64; COUNTERS]; HOOKS],
    /// For the programs' own use (see m-root-ebpf parse::forget); meaningless outside them.
    pub scratch: [u64; 4],
    /// Trust-anchor signals of the packet being answered, counted once it is sent (program use only).
    pub signals: [u32; 4],
    pub nsignals: u64,
}

/// What the TC program answers (the TC_MODE map's one value).
pub const TC_MODE_HINTED: u32 = 0;
/// TC answers every query it covers: XDP is not attached.
pub const TC_MODE_ALL: u32 = 1;
/// Whether the XDP program may send answers with XDP_TX (the XDP_TX map's one value). Off (the map's
/// zero) it hands every covered query to TC instead: the safe state until userspace has decided.
pub const XDP_TX_OFF: u32 = 0;
pub const XDP_TX_ON: u32 = 1;
/// CPUs the XDP program can hand no-room queries to (the SPILL cpumap's size).
pub const MAX_SPILL_CPUS: u32 = 256;

/// The service addresses, as one array-map value: `addrs[..count]`, each an [`AddrKey`] as two words.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ServiceAddrs {
    pub count: u32,
    pub reserved: u32,
    pub addrs: [[u64; 2]; MAX_SERVICE_ADDRS],
}

impl Counter {
    pub const ALL: [Counter; 23] = [
        Counter::Frames,
        Counter::NotForUs,
        Counter::Queries,
        Counter::AnsReferral,
        Counter::AnsReferralDnssec,
        Counter::AnsNxdomain,
        Counter::AnsNxdomainDnssec,
        Counter::AnsApex,
        Counter::AnsTldDs,
        Counter::AnsTruncated,
        Counter::PassMalformed,
        Counter::PassUncovered,
        Counter::PassNoRoom,
        Counter::PassNoTable,
        Counter::AnsIpv4,
        Counter::AnsIpv6,
        Counter::Dropped,
        Counter::PassNotHinted,
        Counter::CsumPartial,
        Counter::NoHint,
        Counter::Spilled,
        Counter::PassToTc,
        Counter::SpillArrived,
    ];
    /// The counters of answers sent, one per answer (the per-family ones double them).
    pub const ANSWERS: [Counter; 7] = [
        Counter::AnsReferral,
        Counter::AnsReferralDnssec,
        Counter::AnsNxdomain,
        Counter::AnsNxdomainDnssec,
        Counter::AnsApex,
        Counter::AnsTldDs,
        Counter::AnsTruncated,
    ];
    /// The one hook that moves this counter, for those only one does.
    pub const fn only(self) -> Option<Hook> {
        match self {
            Counter::PassNotHinted | Counter::CsumPartial => Some(Hook::Tc),
            Counter::NoHint | Counter::Spilled | Counter::PassToTc | Counter::SpillArrived => Some(Hook::Xdp),
            _ => None,
        }
    }
    /// Stable name for `stats` output, after the hook's name and a dot.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::Frames => "frames",
            Counter::NotForUs => "pass.not-for-us",
            Counter::Queries => "queries",
            Counter::AnsReferral => "answer.referral",
            Counter::AnsReferralDnssec => "answer.referral-dnssec",
            Counter::AnsNxdomain => "answer.nxdomain",
            Counter::AnsNxdomainDnssec => "answer.nxdomain-dnssec",
            Counter::AnsApex => "answer.apex",
            Counter::AnsTldDs => "answer.tld-ds",
            Counter::AnsTruncated => "answer.truncated",
            Counter::PassMalformed => "pass.malformed",
            Counter::PassUncovered => "pass.uncovered",
            Counter::PassNoRoom => "pass.no-room",
            Counter::PassNoTable => "pass.no-table",
            Counter::AnsIpv4 => "answer.ipv4",
            Counter::AnsIpv6 => "answer.ipv6",
            Counter::Dropped => "dropped",
            Counter::PassNotHinted => "pass.not-hinted",
            Counter::CsumPartial => "csum-partial",
            Counter::NoHint => "pass.no-room.no-hint",
            Counter::Spilled => "pass.to-cpu",
            Counter::PassToTc => "pass.to-tc",
            Counter::SpillArrived => "pass.to-cpu.arrived",
        }
    }
}

/// Kinds of trust-anchor signal (RFC 8145 key-tag queries, RFC 8509 sentinels), as zonegen::signal has them.
pub const SIGNAL_TA: u32 = 0;
pub const SIGNAL_SENTINEL_IS_TA: u32 = 1;
pub const SIGNAL_SENTINEL_NOT_TA: u32 = 2;
/// Entries of the signal map (distinct kind and key tag pairs).
pub const MAX_SIGNALS: u32 = 4096;
/// Key of the signal map.
pub const fn signal_key(kind: u32, tag: u16) -> u32 {
    (kind << 16) | tag as u32
}

/// Largest frame the lab generator sends.
pub const LAB_TEMPLATE_MAX: usize = 1536;

/// The lab generator's frame.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LabTemplate {
    pub len: u32,
    pub reserved: u32,
    pub data: [u8; LAB_TEMPLATE_MAX],
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all are repr(C) plain data without padding-dependent invariants; any bit pattern is valid.
    unsafe impl aya::Pod for TldEntry {}
    unsafe impl aya::Pod for GenInfo {}
    unsafe impl aya::Pod for Answer {}
    unsafe impl aya::Pod for SortDir {}
    unsafe impl aya::Pod for AddrKey {}
    unsafe impl aya::Pod for PerCpu {}
    unsafe impl aya::Pod for ServiceAddrs {}
    unsafe impl aya::Pod for LabTemplate {}
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
}
