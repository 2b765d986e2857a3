//! DNS cookies in both programs: the query's cookie (parse::opt left it in the per-CPU value) checked
//! against the secrets and clock userspace publishes, and the server cookie for the answer. The rule
//! is m_root_common::cookie's, shared with the answer function; here only the map it reads.

use aya_ebpf::{macros::map, maps::Array};
use m_root_common::{
    PerCpu,
    cookie::{self, CookieConf, Key, Verdict, decide_by},
};

/// The current UNIX second and the SipHash keys (see CookieConf); all zero (cookies off) until
/// userspace writes it.
#[map]
static COOKIES: Array<CookieConf> = Array::with_max_entries(1, 0);

/// What parse::opt parks: the query's cookie is a client cookie alone, or with a server cookie.
pub const QUERY_CLIENT: u64 = 8;
pub const QUERY_FULL: u64 = 24;
/// What [`process`] parks: no cookie, or its verdict.
pub const NONE: u64 = 0;
pub const CLIENT_ONLY: u64 = 1;
pub const VALID: u64 = 2;
pub const BAD: u64 = 3;

/// Are cookies on (a query with one is answered here)?
#[inline(always)]
pub fn on() -> bool {
    COOKIES.get(0).is_some_and(|c| c.on())
}

/// Check the query's cookie in `pc.cookie_in` (parse::opt parked its length, 8 or 24; NONE: no cookie,
/// nothing to do) from a client at `pc.src` (over IPv6 if `pc.cookie_v6`), write the answer's COOKIE payload to `pc.cookie_out`, and
/// park the verdict. Part of rrl::verdict's subprogram.
#[inline(always)]
pub fn process(pc: *mut PerCpu) {
    let query = parked(pc);
    if query == NONE {
        return;
    }
    let Some(conf) = COOKIES.get(0) else { return park(pc, NONE) };
    if !conf.on() {
        return park(pc, NONE);
    }
    let server = if query == QUERY_FULL {
        let c = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_in)) };
        Some([c[1], c[2]])
    } else {
        None
    };
    let d = decide_by(conf, server, false, |key, head| hash(pc, (key == Key::Previous) as u64, head));
    unsafe {
        let client = core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_in) as *const u64);
        core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).cookie_out), [client, d.reply[0], d.reply[1]]);
    }
    park(
        pc,
        match d.verdict {
            Verdict::ClientOnly => CLIENT_ONLY,
            Verdict::Valid => VALID,
            Verdict::Bad => BAD,
        },
    )
}

/// RFC 9018's hash of the query's client cookie and source (from the per-CPU value) under the current
/// secret (or the previous, `previous` 1) with head word `head`. A subprogram of its own: SipHash's
/// state fills the registers, and inlined in [`process`] its spills took the stack past the verifier's
/// 512 octets.
#[inline(never)]
fn hash(pc: *mut PerCpu, previous: u64, head: u64) -> u64 {
    let Some(conf) = COOKIES.get(0) else { return 0 };
    let k = if previous != 0 { conf.previous_key() } else { conf.current_key() };
    let (client, src, ipv6) = unsafe {
        (
            core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_in) as *const u64),
            core::ptr::read_volatile(core::ptr::addr_of!((*pc).src) as *const [u64; 2]),
            core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_v6)),
        )
    };
    cookie::hash(k, client, head, src, ipv6 != 0)
}

#[inline(always)]
pub fn park(pc: *mut PerCpu, v: u64) {
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).cookie), v) };
}

/// The parked verdict, read afresh (see rrl::parked).
#[inline(always)]
pub fn parked(pc: *mut PerCpu) -> u64 {
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie)) }
}
