//! Trust-anchor signals in a missing TLD's label (RFC 8145 key tags, RFC 8509 sentinels): parsed from
//! the label as the TLD index keys it, parked in the per-CPU value, and counted in TA_SIGNALS once the
//! answer goes out (a query passed up is counted by userspace, with zonegen::signal). The kinds, names
//! and label prefixes are m_root_common's.

use aya_ebpf::{macros::map, maps::LruHashMap};
use m_root_common::{
    LabelWords, MAX_LABEL_SIGNALS, MAX_SIGNAL_SOURCES, PerCpu, SENTINEL_DIGITS, SENTINEL_IS_TA_PREFIX, SENTINEL_NOT_TA_PREFIX,
    SIGNAL_SENTINEL_IS_TA, SIGNAL_SENTINEL_NOT_TA, SIGNAL_TA, SignalSource, TA_PREFIX, signal_key,
};

use crate::TA_SIGNALS;

/// The (signal, source) pairs of the answers sent: userspace counts each key tag's distinct sources per
/// day from them (RFC 8145's report, as the 2017 rollover analysis counted), and clears them at 00:00 UTC.
#[map]
static TA_SOURCES: LruHashMap<SignalSource, u8> = LruHashMap::with_max_entries(MAX_SIGNAL_SOURCES, 0);

/// The signals of one label: up to four key tags, or one sentinel.
struct Signals {
    keys: [u32; MAX_LABEL_SIGNALS],
    n: usize,
}

impl Signals {
    const NONE: Signals = Signals { keys: [0; MAX_LABEL_SIGNALS], n: 0 };
}

/// Nothing parked yet: for every packet before its lookup.
#[inline(always)]
pub fn clear(pc: *mut PerCpu) {
    unsafe { (*pc).nsignals = 0 };
}

/// Park the signals of a missing TLD's label (its index key) until the answer is sent.
#[inline(always)]
pub fn park(pc: *mut PerCpu, label: &LabelWords) {
    let sig = parse(label);
    unsafe {
        (*pc).signals = sig.keys;
        (*pc).nsignals = sig.n as u64;
    }
}

/// Count the parked signals: the answer went out.
#[inline(always)]
pub fn count_parked(pc: *mut PerCpu) {
    let (keys, n) = unsafe { ((*pc).signals, core::ptr::read_volatile(core::ptr::addr_of!((*pc).nsignals))) };
    for (i, &key) in keys.iter().enumerate() {
        if (i as u64) < n {
            count(key);
            source(pc, key);
        }
    }
}

#[inline(always)]
fn count(key: u32) {
    match TA_SIGNALS.get_ptr_mut(key) {
        Some(p) => unsafe { *p += 1 },
        None => {
            let _ = TA_SIGNALS.insert(key, 1u64, 0);
        }
    }
}

/// Note that the packet's source sent signal `key`; the map key is built in the per-CPU value (the
/// stack is at its limit).
#[inline(always)]
fn source(pc: *mut PerCpu, key: u32) {
    unsafe {
        (*pc).signal_source.key = key;
        (*pc).signal_source.pad = 0;
        (*pc).signal_source.addr = core::ptr::read_volatile(core::ptr::addr_of!((*pc).src));
        // By reference: by value, the key would be copied onto the stack, which has no room.
        #[allow(clippy::needless_borrows_for_generic_args)]
        let _ = TA_SOURCES.insert(&(*pc).signal_source, &1u8, 0);
    }
}

#[inline(always)]
fn hex_digit(c: u8) -> Option<u16> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u16),
        b'a'..=b'f' => Some((c - b'a' + 10) as u16),
        _ => None,
    }
}

/// The signals of a label (its index key: length octet, then the label lowercased): `_ta-` and up to
/// four groups of four hex digits, or a sentinel prefix and five decimal digits; a malformed label
/// carries none.
#[inline(always)]
fn parse(label: &LabelWords) -> Signals {
    // SAFETY: eight u64 words are 64 initialised octets.
    let b: &[u8; 64] = unsafe { &*(label as *const LabelWords as *const [u8; 64]) };
    let len = b[0] as usize;
    let ta = TA_PREFIX;
    if len >= 8 && b[1] == ta[0] && b[2] == ta[1] && b[3] == ta[2] && b[4] == ta[3] {
        let mut s = Signals::NONE;
        for g in 0..MAX_LABEL_SIGNALS {
            let p = 1 + ta.len() + 5 * g;
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
    const IS: &[u8; 24] = SENTINEL_IS_TA_PREFIX;
    const NOT: &[u8; 25] = SENTINEL_NOT_TA_PREFIX;
    let (kind, start) = if len == IS.len() + SENTINEL_DIGITS && b[1..1 + IS.len()] == IS[..] {
        (SIGNAL_SENTINEL_IS_TA, 1 + IS.len())
    } else if len == NOT.len() + SENTINEL_DIGITS && b[1..1 + NOT.len()] == NOT[..] {
        (SIGNAL_SENTINEL_NOT_TA, 1 + NOT.len())
    } else {
        return Signals::NONE;
    };
    let mut tag = 0u32;
    for k in 0..SENTINEL_DIGITS {
        let c = b[start + k];
        if !c.is_ascii_digit() {
            return Signals::NONE;
        }
        tag = tag * 10 + (c - b'0') as u32;
    }
    if tag > u16::MAX as u32 {
        return Signals::NONE;
    }
    let mut s = Signals::NONE;
    s.keys[0] = signal_key(kind, tag as u16);
    s.n = 1;
    s
}
