//! One small bounds-checked parser per header, in the shape of xdp-tutorial's parsing_helpers.h: each
//! checks its header against the packet's end and returns where the next one starts. Every read goes
//! through [`at`] (or [`Bounds::at`]), which checks the access against `data_end` right before it, in
//! the form the verifier tracks.

use m_root_common::{
    AddrKey, Counter, DNS_HEADER_LEN, MAX_LABEL, MAX_NAME, OPT_LEN, OptOptions, PerCpu, QTYPE_QCLASS_LEN, TYPE_OPT,
    cookie::{CLIENT_LEN, SERVER_LEN},
    cookie_shape, edns_covered, is_standard_query,
};

use crate::cookie;
use crate::packet::Packet;

/// Ethernet header length.
pub const ETH_LEN: usize = 14;
/// One VLAN tag.
pub const VLAN_LEN: usize = 4;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
pub const UDP_LEN: usize = 8;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
pub const IPPROTO_UDP: u8 = 17;
pub const DNS_PORT: u16 = 53;
/// Labels the question walk follows (a 255-octet name has at most 127).
pub const MAX_LABELS: usize = 127;

/// Furthest the DNS header can start: Ethernet, two VLAN tags, IPv6, UDP.
pub const MAX_DNS_AT: usize = ETH_LEN + 2 * VLAN_LEN + IPV6_LEN + UDP_LEN;
/// Furthest a question name can end, and so the furthest its last label can start: the DNS header at its
/// furthest, then a 255-octet name.
pub const MAX_QUESTION_END: usize = MAX_DNS_AT + DNS_HEADER_LEN + MAX_NAME;
/// Furthest an answer's fragment can start: after the question's type and class.
pub const MAX_FRAG_AT: usize = MAX_QUESTION_END + QTYPE_QCLASS_LEN;
/// The longest query message the fast path answers: header, the longest question, an OPT with a client
/// and a server cookie.
pub const MAX_QUERY_MSG: usize = DNS_HEADER_LEN + MAX_NAME + QTYPE_QCLASS_LEN + OPT_LEN + 4 + CLIENT_LEN + SERVER_LEN;
/// The longest query frame the fast path answers: that message behind the deepest headers.
pub const MAX_QUERY_FRAME: usize = MAX_DNS_AT + MAX_QUERY_MSG;

/// Pointer to `T` at `off` bytes into the frame, if the frame holds it.
#[inline(always)]
pub fn at<T, P: Packet>(ctx: &P, off: usize) -> Option<*mut T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + off) as *mut T)
}

/// The frame's bounds, read once: valid until the next helper call that resizes the frame. Loops use it
/// so each access costs one compare, not two context loads and a compare.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub start: usize,
    pub end: usize,
}

impl Bounds {
    #[inline(always)]
    pub fn of<P: Packet>(ctx: &P) -> Bounds {
        Bounds { start: ctx.data(), end: ctx.data_end() }
    }
    #[inline(always)]
    pub fn at<T>(self, off: usize) -> Option<*mut T> {
        if self.start + off + core::mem::size_of::<T>() > self.end {
            return None;
        }
        Some((self.start + off) as *mut T)
    }
}

#[inline(always)]
pub fn u8_at<P: Packet>(ctx: &P, off: usize) -> Option<u8> {
    at::<u8, P>(ctx, off).map(|p| unsafe { *p })
}

#[inline(always)]
pub fn be16_at<P: Packet>(ctx: &P, off: usize) -> Option<u16> {
    at::<[u8; 2], P>(ctx, off).map(|p| u16::from_be_bytes(unsafe { *p }))
}

/// `v` through a stack slot LLVM may not see through, so the checks that follow stay separate compares
/// (the verifier keeps a spilled scalar's range). Folded into one subtraction, or into the shifts of
/// an index, they lose the bound the verifier needs.
#[inline(always)]
pub fn opaque(v: usize) -> usize {
    unsafe { core::ptr::read_volatile(&v) }
}

/// Round-trip values through a per-CPU map: the verifier then knows only what later checks establish.
#[inline(always)]
pub fn forget(pc: *mut PerCpu, v: [u64; 4]) -> Option<[u64; 4]> {
    unsafe {
        let p = core::ptr::addr_of_mut!((*pc).scratch);
        core::ptr::write_volatile(p, v);
        Some(core::ptr::read_volatile(p))
    }
}

/// Where the layers of a UDP frame for one of our addresses start.
pub struct Frame {
    pub l3: usize,
    pub ipv6: bool,
    pub l4: usize,
    pub dns: usize,
    /// DNS message length from the UDP header.
    pub dns_len: usize,
    pub dst: AddrKey,
}

/// Ethernet: the EtherType and where the next header starts.
#[inline(always)]
fn ethernet<P: Packet>(ctx: &P) -> Result<(u16, usize), Counter> {
    let proto = be16_at(ctx, ETH_LEN - 2).ok_or(Counter::NotForUs)?;
    Ok((proto, ETH_LEN))
}

/// A VLAN tag (802.1ad or 802.1Q) at `off` when `proto` says one is there: the EtherType inside it and
/// where the next header starts; anything else is returned as it came. The response keeps tags as they are.
#[inline(always)]
fn vlan<P: Packet>(ctx: &P, proto: u16, off: usize) -> Result<(u16, usize), Counter> {
    if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
        return Ok((proto, off));
    }
    let inner = be16_at(ctx, off + 2).ok_or(Counter::NotForUs)?;
    Ok((inner, off + VLAN_LEN))
}

/// IPv4 carrying UDP, without options or fragments: where UDP starts and the IP payload's length. The
/// destination goes into `dst` as `::ffff:a.b.c.d`.
#[inline(always)]
fn ipv4<P: Packet>(ctx: &P, off: usize, dst: &mut AddrKey, src: &mut AddrKey) -> Result<(usize, usize), Counter> {
    let h = at::<[u8; IPV4_LEN], P>(ctx, off).ok_or(Counter::NotForUs)?;
    let h = unsafe { &*h };
    if h[9] != IPPROTO_UDP {
        return Err(Counter::NotForUs);
    }
    dst.addr[10] = 0xff;
    dst.addr[11] = 0xff;
    dst.addr[12..16].copy_from_slice(&h[16..20]);
    src.addr[10] = 0xff;
    src.addr[11] = 0xff;
    src.addr[12..16].copy_from_slice(&h[12..16]);
    // Options or fragments: not ours to answer here.
    if h[0] != 0x45 || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
        return Err(Counter::PassMalformed);
    }
    let total = u16::from_be_bytes([h[2], h[3]]) as usize;
    if total < IPV4_LEN {
        return Err(Counter::PassMalformed);
    }
    Ok((off + IPV4_LEN, total - IPV4_LEN))
}

/// IPv6 carrying UDP, without extension headers: where UDP starts and the payload's length. The
/// destination goes into `dst`.
#[inline(always)]
fn ipv6<P: Packet>(ctx: &P, off: usize, dst: &mut AddrKey, src: &mut AddrKey) -> Result<(usize, usize), Counter> {
    let h = at::<[u8; IPV6_LEN], P>(ctx, off).ok_or(Counter::NotForUs)?;
    let h = unsafe { &*h };
    if h[6] != IPPROTO_UDP {
        return Err(Counter::NotForUs);
    }
    dst.addr.copy_from_slice(&h[24..40]);
    src.addr.copy_from_slice(&h[8..24]);
    if h[0] >> 4 != 6 {
        return Err(Counter::PassMalformed);
    }
    Ok((off + IPV6_LEN, u16::from_be_bytes([h[4], h[5]]) as usize))
}

/// UDP to port 53 from a port other than 0, as long as the IP payload and long enough for a DNS header:
/// the UDP length (that the frame holds it is checked by the caller; trailing padding is fine).
#[inline(always)]
fn udp<P: Packet>(ctx: &P, off: usize, ip_payload: usize) -> Result<usize, Counter> {
    let u = at::<[u8; UDP_LEN], P>(ctx, off).ok_or(Counter::NotForUs)?;
    let u = unsafe { &*u };
    if u16::from_be_bytes([u[2], u[3]]) != DNS_PORT {
        return Err(Counter::NotForUs);
    }
    let udp_len = u16::from_be_bytes([u[4], u[5]]) as usize;
    if u16::from_be_bytes([u[0], u[1]]) == 0 || udp_len != ip_payload || udp_len < UDP_LEN + DNS_HEADER_LEN {
        return Err(Counter::PassMalformed);
    }
    Ok(udp_len)
}

/// Ethernet (0-2 VLAN tags), IPv4 without options or fragments or IPv6 without extension headers, UDP
/// to port 53 from a port other than 0, and the DNS message inside the frame. Err is the counter of why
/// not: NotForUs when the frame is no UDP/53 packet at all, PassMalformed for one left to the stack.
#[inline(always)]
pub fn frame<P: Packet>(ctx: &P, pc: *mut PerCpu) -> Result<Frame, Counter> {
    let (proto, l3) = ethernet(ctx)?;
    // Up to two tags: 802.1ad outer, 802.1Q inner.
    let (proto, l3) = vlan(ctx, proto, l3)?;
    let (proto, l3) = vlan(ctx, proto, l3)?;
    let mut dst = AddrKey::zeroed();
    let mut src = AddrKey::zeroed();
    let (ipv6, (l4, ip_payload)) = match proto {
        ETH_P_IP => (false, ipv4(ctx, l3, &mut dst, &mut src)?),
        ETH_P_IPV6 => (true, ipv6(ctx, l3, &mut dst, &mut src)?),
        _ => return Err(Counter::NotForUs),
    };
    let udp_len = udp(ctx, l4, ip_payload)?;
    // Six header layouts (0-2 tags, v4/v6) would each have the rest checked on its own; see forget().
    let [l3, l4, family, udp_len] = forget(pc, [l3 as u64, l4 as u64, ipv6 as u64, udp_len as u64]).ok_or(Counter::PassMalformed)?;
    let (l3, l4, ipv6, udp_len) = (l3 as usize, l4 as usize, family != 0, udp_len as usize);
    if l3 > ETH_LEN + 2 * VLAN_LEN || l4 > l3 + IPV6_LEN || udp_len > 0xffff || udp_len < UDP_LEN + DNS_HEADER_LEN {
        return Err(Counter::PassMalformed);
    }
    let dns = l4 + UDP_LEN;
    if ctx.data() + dns + (udp_len - UDP_LEN) > ctx.data_end() {
        return Err(Counter::PassMalformed);
    }
    // The source goes to the per-CPU value, not the stack: read much later (rate limiting), a stack copy
    // would carry how it was written (the IPv4 and IPv6 ways) through everything in between, and the
    // verifier would check all of that once per address family.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).src), src) };
    // What the day's count needs, parked here for the same reason (counted only once the query is
    // disposed of in the kernel; see daily).
    // The family as the number it came back as: a bool made of it here is a branch, along which LLVM
    // threads the rest of the program twice (+72k instructions checked).
    crate::daily::park_query(pc, udp_len - UDP_LEN, family);
    Ok(Frame { l3, ipv6, l4, dns, dns_len: udp_len - UDP_LEN, dst })
}

/// The query as far as the fast path needs it.
pub struct Question {
    pub flags: u16,
    /// Wire length of the question name, root octet included.
    pub qlen: usize,
    /// Labels in the name (0 for the root).
    pub labels: usize,
    /// Offset (in the frame) of the last label's length octet.
    pub last_label: usize,
    pub last_len: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: bool,
    pub udp_size: u16,
    pub dnssec_ok: bool,
}

/// The DNS header of a standard query with one question, no answer or authority records and at most one
/// additional (the OPT): the flags and ARCOUNT.
#[inline(always)]
fn dns_header<P: Packet>(ctx: &P, off: usize) -> Result<(u16, u16), Counter> {
    let h = at::<[u8; DNS_HEADER_LEN], P>(ctx, off).ok_or(Counter::PassMalformed)?;
    let h = unsafe { &*h };
    let flags = u16::from_be_bytes([h[2], h[3]]);
    if !is_standard_query(flags) {
        return Err(Counter::PassMalformed);
    }
    let qd = u16::from_be_bytes([h[4], h[5]]);
    let an = u16::from_be_bytes([h[6], h[7]]);
    let ns = u16::from_be_bytes([h[8], h[9]]);
    let ar = u16::from_be_bytes([h[10], h[11]]);
    if qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return Err(Counter::PassMalformed);
    }
    Ok((flags, ar))
}

/// Where a question name's parts are.
struct Name {
    /// Offset of the root octet that ends it.
    end: usize,
    labels: usize,
    last_label: usize,
    last_len: usize,
}

/// The question name at `start`: uncompressed labels, at most 255 octets.
#[inline(always)]
fn qname<P: Packet>(ctx: &P, start: usize, pc: *mut PerCpu) -> Result<Name, Counter> {
    let mut off = start;
    let mut labels = 0usize;
    let mut last_label = start;
    let mut last_len = 0usize;
    let mut done = false;
    for _ in 0..MAX_LABELS + 1 {
        let len = u8_at(ctx, off).ok_or(Counter::PassMalformed)? as usize;
        if len == 0 {
            done = true;
            break;
        }
        // Pointers (0xc0) and the reserved label types land here too.
        if len > MAX_LABEL {
            return Err(Counter::PassMalformed);
        }
        last_label = off;
        last_len = len;
        labels += 1;
        off += 1 + len;
        if off - start >= MAX_NAME {
            return Err(Counter::PassMalformed);
        }
    }
    if !done {
        return Err(Counter::PassMalformed);
    }
    // Each way out of the walk above carries different exact offsets, and the verifier would check the
    // rest of the program once per way. Pass the results through a map so it sees them as plain
    // bounded numbers, and the rest is checked once.
    let [off, labels, last_label, last_len] =
        forget(pc, [off as u64, labels as u64, last_label as u64, last_len as u64]).ok_or(Counter::PassMalformed)?;
    let (off, labels, last_label, last_len) = (off as usize, labels as usize, last_label as usize, last_len as usize);
    // Constant bounds first: the verifier learns ranges from comparisons with constants.
    if off > MAX_QUESTION_END || last_label > MAX_QUESTION_END {
        return Err(Counter::PassMalformed);
    }
    if off < start
        || off - start >= MAX_NAME
        || labels > MAX_LABELS
        || last_len > MAX_LABEL
        || last_label < start
        || (labels > 0 && last_label >= off)
    {
        return Err(Counter::PassMalformed);
    }
    Ok(Name { end: off, labels, last_label, last_len })
}

/// The OPT record at `off`, which must end the message at `msg_end`, in the shape the table covers:
/// the requester's UDP size and DO bit. A cookie's octets and length go to the per-CPU value (see
/// cookie::process).
#[inline(always)]
fn opt<P: Packet>(ctx: &P, off: usize, msg_end: usize, pc: *mut PerCpu) -> Result<(u16, bool), Counter> {
    // Root owner, type 41, class = UDP size, TTL = ext-rcode, version, flags; RDLENGTH.
    let o = at::<[u8; OPT_LEN], P>(ctx, off).ok_or(Counter::PassMalformed)?;
    let o = unsafe { &*o };
    let rdlen = u16::from_be_bytes([o[9], o[10]]);
    if o[0] != 0 || u16::from_be_bytes([o[1], o[2]]) != TYPE_OPT || off + OPT_LEN + rdlen as usize != msg_end {
        return Err(Counter::PassUncovered);
    }
    let (udp_size, dnssec_ok) = (u16::from_be_bytes([o[3], o[4]]), o[7] & 0x80 != 0);
    let version = o[6];
    if rdlen == 0 {
        return if edns_covered(version, OptOptions::None, false) { Ok((udp_size, dnssec_ok)) } else { Err(Counter::PassUncovered) };
    }
    let at_opt = off + OPT_LEN;
    let h = at::<[u8; 4], P>(ctx, at_opt).ok_or(Counter::PassUncovered)?;
    let (code, len) = unsafe { (u16::from_be_bytes([(*h)[0], (*h)[1]]), u16::from_be_bytes([(*h)[2], (*h)[3]])) };
    if !cookie_shape(rdlen, code, len) || !edns_covered(version, OptOptions::Cookie, cookie::on()) {
        return Err(Counter::PassUncovered);
    }
    // A client cookie, and a 16-octet server cookie when the option is 24 long (cookie_shape).
    let word = |off: usize| at::<[u8; 8], P>(ctx, off).map(|w| u64::from_le_bytes(unsafe { *w })).ok_or(Counter::PassUncovered);
    let mut words = [word(at_opt + 4)?, 0, 0];
    if len as usize == CLIENT_LEN + SERVER_LEN {
        words[1] = word(at_opt + 4 + CLIENT_LEN)?;
        words[2] = word(at_opt + 4 + CLIENT_LEN + 8)?;
    }
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).cookie_in), words) };
    cookie::park(pc, if len as usize == CLIENT_LEN { cookie::QUERY_CLIENT } else { cookie::QUERY_FULL });
    Ok((udp_size, dnssec_ok))
}

/// DNS header, question and an optional OPT (bare, or with a cookie when cookies are on), exactly
/// filling the UDP payload: anything else (other options, EDNS version > 0, pointers, long names, other
/// sections) is left for userspace.
#[inline(always)]
pub fn question<P: Packet>(ctx: &P, f: &Frame, pc: *mut PerCpu) -> Result<Question, Counter> {
    cookie::park(pc, cookie::NONE);
    let (flags, ar) = dns_header(ctx, f.dns)?;
    let qstart = f.dns + DNS_HEADER_LEN;
    let Name { end: off, labels, last_label, last_len } = qname(ctx, qstart, pc)?;
    let qlen = off + 1 - qstart;
    let qtype = be16_at(ctx, off + 1).ok_or(Counter::PassMalformed)?;
    let qclass = be16_at(ctx, off + 3).ok_or(Counter::PassMalformed)?;
    let qend = off + 1 + QTYPE_QCLASS_LEN;
    let mut q = Question { flags, qlen, labels, last_label, last_len, qtype, qclass, edns: false, udp_size: 0, dnssec_ok: false };
    let msg_end = f.dns + f.dns_len;
    if ar == 0 {
        if qend != msg_end {
            return Err(Counter::PassMalformed);
        }
        return Ok(q);
    }
    // Whether it carries a cookie is parked in the per-CPU value (cookie::parked), not carried here: the
    // verifier would check the rest once with each.
    let (udp_size, dnssec_ok) = opt(ctx, qend, msg_end, pc)?;
    q.edns = true;
    q.udp_size = udp_size;
    q.dnssec_ok = dnssec_ok;
    Ok(q)
}
