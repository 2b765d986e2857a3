//! One precompiled answer as the ANSWERS map holds it: the fragment after the question, where it may be
//! cut, its compression pointers and the checksums of each cut.

use crate::dns::{DNS_HEADER_LEN, OUR_UDP_PAYLOAD, QTYPE_QCLASS_LEN};

/// Largest answer fragment (everything after the question, before OPT): the UDP limit less the header and
/// the shortest question a fragment is spliced behind (root name: 1 octet + type + class), rounded up to
/// keep [`Answer`] free of padding.
pub const MAX_FRAG: usize = OUR_UDP_PAYLOAD as usize - DNS_HEADER_LEN - 1 - QTYPE_QCLASS_LEN + 1;
/// Cut points per answer: one for the required records plus one after each optional RRset.
pub const MAX_CUTS: usize = 32;
/// Compression pointers per answer fragment that must be shifted by the question's length.
pub const MAX_PTRS: usize = 128;

// The programs mask a cut's number with MAX_CUTS - 1.
const _: () = assert!(MAX_CUTS.is_power_of_two());

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
    /// 1 when the programs may answer from this entry; 0 sends the query up to userspace.
    pub usable: u16,
    pub reserved: u16,
    pub cuts: [Cut; MAX_CUTS],
    /// The compression pointers to shift, ascending by offset.
    pub ptrs: [Ptr; MAX_PTRS],
    pub data: [u8; MAX_FRAG],
}

// No padding in Answer: header 8 x u16, cuts, pointers, data (as_bytes and from_bytes rely on it).
const _: () = assert!(core::mem::size_of::<Answer>() == 16 + MAX_CUTS * 12 + MAX_PTRS * 4 + MAX_FRAG);

impl Answer {
    /// The entry's bytes, as stored in the BPF map and in table files.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C), only integer fields, no padding (size checked above); every byte is initialised.
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
