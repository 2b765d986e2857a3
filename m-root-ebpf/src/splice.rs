//! Turn the query frame into the response: grow or shrink the frame, write the header fields, copy the
//! fragment (cut to the requester's buffer), shift its compression pointers by the question's length,
//! append OPT, swap the addresses, and set lengths and checksums. No DNS meaning here: the entry says
//! everything.

use m_root_common::{
    Answer, COPIED_FLAGS, Counter, DNS_HEADER_LEN, MAX_CUTS, MAX_FRAG, MAX_PTRS, OPT_LEN, PerCpu, Ptr, QTYPE_QCLASS_LEN,
    cookie::{OPTION_COOKIE, REPLY_OPTION_LEN, slip_ext_rcode, slip_flags},
    csum::{self, fold64, udp_checksum},
    opt_rr, udp_limit,
};

use crate::packet::Packet;
use crate::parse::{Bounds, Frame, IPPROTO_UDP, IPV4_LEN, MAX_FRAG_AT, MAX_QUERY_MSG, Question, UDP_LEN, at, be16_at, forget};

/// TTL / hop limit of our responses.
const RESPONSE_TTL: u8 = 64;

/// Why a splice did not happen. Before the frame is resized every failure passes the frame unchanged;
/// after it, the frame is no longer the query and is dropped. Shed: a query dropped on purpose (rate
/// limited, or its source on the drop list), counted by the counter that says why.
pub enum Failed {
    Pass(Counter),
    Drop,
    Shed(Counter),
}

/// Build the response in place. On success the packet is ready to send (XDP_TX, or TC's redirect); returns
/// whether it is TC=1. When the rate limiter parked a slip verdict, the minimal answer instead: TC=1 with
/// empty sections, as if no cut fitted (BADCOOKIE for a query with a cookie). A query with a cookie gets
/// the COOKIE option cookie::process left in the per-CPU value, after the OPT, its length counted
/// against the requester's buffer as the answer function counts it.
#[inline(always)]
pub fn respond<P: Packet>(ctx: &P, f: &Frame, q: &Question, a: &Answer, pc: *mut PerCpu) -> Result<bool, Failed> {
    let slip = crate::rrl::parked(pc) == m_root_common::HINT_RRL_SLIP;
    // The requester's buffer.
    let limit = udp_limit(if q.edns { Some(q.udp_size) } else { None }) as usize;
    let cookie_len = if has_cookie(pc) { REPLY_OPTION_LEN } else { 0 };
    let opt_len = if q.edns { OPT_LEN + cookie_len } else { 0 };
    let head = DNS_HEADER_LEN + q.qlen + QTYPE_QCLASS_LEN;
    if head + opt_len > limit {
        return Err(Failed::Pass(Counter::PassUncovered));
    }
    let avail = limit - head - opt_len;
    // Longest cut that fits; none means TC=1 with empty sections. Cuts ascend in length and the largest
    // usually fits (EDNS 1232 and up), so search from the top.
    let ncuts = a.ncuts as usize;
    let mut chosen: Option<usize> = None;
    for j in 0..MAX_CUTS {
        if j >= ncuts || slip {
            break;
        }
        // The mask only restates i < MAX_CUTS (true as ncuts <= MAX_CUTS) for the verifier.
        let i = (ncuts - 1 - j) & (MAX_CUTS - 1);
        if a.cuts[i].len as usize <= avail {
            chosen = Some(i);
            break;
        }
    }
    // One way out of the cut search per cut: forget which (see parse::forget); and the OPT's length,
    // so the ways with and without a cookie go on as one.
    let [chosen_slot, opt_len, _, _] =
        forget(pc, [chosen.map_or(MAX_CUTS as u64, |i| i as u64), opt_len as u64, 0, 0]).ok_or(Failed::Pass(Counter::PassNoTable))?;
    let chosen = if (chosen_slot as usize) < MAX_CUTS { Some(chosen_slot as usize) } else { None };
    let opt_len = opt_len as usize;
    if opt_len > OPT_LEN + REPLY_OPTION_LEN {
        return Err(Failed::Pass(Counter::PassNoTable));
    }
    let (frag_len, arcount, nptrs, nodd, frag_sum, flags, an, ns) = match chosen {
        Some(i) => {
            let c = a.cuts.get(i).ok_or(Failed::Pass(Counter::PassNoTable))?;
            (c.len as usize, c.arcount, c.nptrs as usize, c.nodd as u32, c.csum, a.flags, a.ancount, a.nscount)
        }
        None => (0, 0, 0, 0, 0, slip_flags(a.flags, slip && has_cookie(pc)), 0, 0),
    };
    if frag_len > MAX_FRAG || nptrs > MAX_PTRS {
        return Err(Failed::Pass(Counter::PassNoTable));
    }
    // The question's length minus the canonical one's: positive or negative. Pointers move by it (two's
    // complement wrapping add); the checksum adds it in one's complement (a negative d is !|d|).
    let (shift, csum_shift) = if q.qlen >= a.canon_qlen as usize {
        let d = (q.qlen - a.canon_qlen as usize) as u16;
        (d, d)
    } else {
        let d = (a.canon_qlen as usize - q.qlen) as u16;
        (d.wrapping_neg(), !d)
    };
    let dns_len = head + frag_len + opt_len;
    let frame_len = f.dns + dns_len;
    crate::daily::park_response(pc, dns_len);
    let kept = Kept::read(ctx, f, q.qlen, pc).ok_or(Failed::Pass(Counter::PassMalformed))?;
    match ctx.resize(ctx.len(), frame_len) {
        Ok(()) => {}
        Err(c @ (Counter::PassNoRoom | Counter::PassToTc)) => return Err(Failed::Pass(c)),
        Err(_) => return Err(Failed::Drop),
    }
    // From here on the frame is changed: failures drop.
    let frag_off = f.dns + head;
    // A constant bound keeps the verifier's range for the offset non-negative.
    if frag_off > MAX_FRAG_AT {
        return Err(Failed::Drop);
    }
    if frag_len > 0 {
        // Through the per-CPU scratch (see parse::forget): the copy loop has a way out per block, and
        // each would leave these values narrowed differently for the verifier to check the rest with.
        let [off, len, n, sh] = forget(pc, [frag_off as u64, frag_len as u64, nptrs as u64, shift as u64]).ok_or(Failed::Drop)?;
        let job = Fill { off: off as usize, len: len as usize, nptrs: n as usize, shift: sh as u16 };
        if !fill_fragment(ctx, &job, a) {
            return Err(Failed::Drop);
        }
    }
    // Stores from here on, but for the IP header, read just before it is rewritten (see Kept).
    let dnssec_ok = q.dnssec_ok;
    if q.edns {
        let o = at::<[u8; OPT_LEN], P>(ctx, frag_off + frag_len).ok_or(Failed::Drop)?;
        unsafe { *o = our_opt(dnssec_ok, pc) };
        if has_cookie(pc) {
            let c = at::<[u8; REPLY_OPTION_LEN], P>(ctx, frag_off + frag_len + OPT_LEN).ok_or(Failed::Drop)?;
            let w = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_out)) };
            unsafe {
                let c = c as *mut u8;
                *(c as *mut [u8; 4]) = COOKIE_OPTION_HEAD;
                *(c.add(4) as *mut [u64; 3]) = w;
            }
        }
    }
    // DNS header: ID and QDCOUNT stay; flags and the other counts from the entry.
    let rflags = flags | (q.flags & COPIED_FLAGS);
    let ar = arcount + q.edns as u16;
    let h = at::<[u8; DNS_HEADER_LEN], P>(ctx, f.dns).ok_or(Failed::Drop)?;
    unsafe {
        let h = h as *mut u8;
        *(h.add(2) as *mut [u8; 2]) = rflags.to_be_bytes();
        *(h.add(4) as *mut [u8; 8]) = ((1u64 << 48) | ((an as u64) << 32) | ((ns as u64) << 16) | ar as u64).to_be_bytes();
    }
    let dns_sum = kept.id as u32 + rflags as u32 + 1 + an as u32 + ns as u32 + ar as u32;

    // Ethernet: swap MACs (VLAN tags stay as they are). Octets 0..6 and 6..12, from two words.
    let e = at::<[u8; 12], P>(ctx, 0).ok_or(Failed::Drop)?;
    let dst_mac = kept.mac_lo & 0xffff_ffff_ffff;
    let src_mac = (kept.mac_lo >> 48) | ((kept.mac_hi as u64) << 16);
    unsafe {
        let e = e as *mut u8;
        *(e as *mut [u8; 8]) = (src_mac | (dst_mac << 48)).to_le_bytes();
        *(e.add(8) as *mut [u8; 4]) = ((dst_mac >> 16) as u32).to_le_bytes();
    }

    let udp_len = (UDP_LEN + dns_len) as u16;
    // The IP header: each field read just before it is written, and nothing else there was written.
    // (Reading it with the rest before the resize would put a branch on the IP version ahead of the
    // copy and the pointers, and the verifier checked those once per version.)
    // Pseudo-header sum: both addresses (order does not matter), protocol, UDP length.
    let pseudo: u32 = if f.ipv6 {
        let ip = at::<[u8; 40], P>(ctx, f.l3).ok_or(Failed::Drop)?;
        unsafe {
            let ip = ip as *mut u8;
            let a = *(ip.add(8) as *const [u64; 4]);
            *(ip.add(4) as *mut [u8; 2]) = udp_len.to_be_bytes();
            *ip.add(7) = RESPONSE_TTL;
            *(ip.add(8) as *mut [u64; 4]) = [a[2], a[3], a[0], a[1]];
            ipv6_addr_sum(&a) + IPPROTO_UDP as u32 + udp_len as u32
        }
    } else {
        let ip = at::<[u8; IPV4_LEN], P>(ctx, f.l3).ok_or(Failed::Drop)?;
        let total = (IPV4_LEN as u16) + udp_len;
        unsafe {
            let ip = ip as *mut u8;
            let w = |k: usize| u16::from_be_bytes(*(ip.add(k) as *const [u8; 2])) as u32;
            // Version to TOS, identification, fragment field: kept.
            let rest = w(0) + w(4) + w(6);
            let addrs = *(ip.add(12) as *const u64);
            let addr_sum = ipv4_addr_sum(&*(ip as *const [u8; IPV4_LEN]));
            let hs = !csum::fold(rest + addr_sum + total as u32 + (((RESPONSE_TTL as u32) << 8) | IPPROTO_UDP as u32));
            *(ip.add(2) as *mut [u8; 2]) = total.to_be_bytes();
            *ip.add(8) = RESPONSE_TTL;
            *(ip.add(10) as *mut [u8; 2]) = hs.to_be_bytes();
            // Source and destination swapped: the two halves of the word at 12.
            *(ip.add(12) as *mut u64) = addrs.rotate_left(32);
            addr_sum + IPPROTO_UDP as u32 + udp_len as u32
        }
    };
    let u = at::<[u8; UDP_LEN], P>(ctx, f.l4).ok_or(Failed::Drop)?;
    unsafe {
        let u = u as *mut u8;
        *(u as *mut u32) = kept.ports.rotate_left(16);
        *(u.add(4) as *mut [u8; 2]) = udp_len.to_be_bytes();
    }
    let mut sum = pseudo + kept.port_sum + udp_len as u32 + dns_sum + kept.qsum as u32;
    // Fragment: precompiled sum, plus each pointer's shift (byte-swapped for pointers at odd offsets),
    // then swapped as a whole when the fragment starts at an odd offset of the UDP segment.
    let even = (nptrs as u32) - nodd;
    let frag = frag_sum + even * csum_shift as u32 + nodd * (csum_shift.swap_bytes() as u32);
    let frag = csum::fold(frag);
    sum += if head % 2 == 1 { frag.swap_bytes() } else { frag } as u32;
    if q.edns {
        let o = opt_sum(&our_opt(dnssec_ok, pc));
        sum += if (head + frag_len) % 2 == 1 { o.swap_bytes() } else { o } as u32;
        if has_cookie(pc) {
            let c = cookie_sum(pc);
            sum += if (head + frag_len + OPT_LEN) % 2 == 1 { c.swap_bytes() } else { c } as u32;
        }
    }
    ctx.set_udp_csum(f.l4 + 6, udp_checksum(sum), csum::fold(pseudo)).map_err(|_| Failed::Drop)?;
    Ok(chosen.is_none())
}

/// What the response keeps from the query outside the IP header, read before anything is written. A
/// load that overlaps a store still waiting in the CPU's store buffer, and is not exactly that store,
/// waits until the buffer drains, which after the fragment's copy is a couple of hundred stores:
/// measured, re-reading the rewritten headers and question for the checksums cost 20-27 ns per referral. So
/// checksums come from values read before the writes, never from the frame as rewritten.
struct Kept {
    /// Frame octets 0..8 and 8..12 (destination and source MAC), little-endian.
    mac_lo: u64,
    mac_hi: u32,
    /// UDP ports as loaded, and their sum.
    ports: u32,
    port_sum: u32,
    /// DNS ID.
    id: u16,
    /// Sum of the question (name, type, class), folded.
    qsum: u16,
}

impl Kept {
    #[inline(always)]
    fn read<P: Packet>(ctx: &P, f: &Frame, qlen: usize, pc: *mut PerCpu) -> Option<Kept> {
        let e = at::<[u8; 12], P>(ctx, 0)?;
        let (mac_lo, mac_hi) =
            unsafe { (u64::from_le_bytes(*(e as *const [u8; 8])), u32::from_le_bytes(*((e as *const u8).add(8) as *const [u8; 4]))) };
        let u = unsafe { &*at::<[u8; UDP_LEN], P>(ctx, f.l4)? };
        let ports = u32::from_le_bytes([u[0], u[1], u[2], u[3]]);
        let port_sum = u16::from_be_bytes([u[0], u[1]]) as u32 + u16::from_be_bytes([u[2], u[3]]) as u32;
        let id = be16_at(ctx, f.dns)?;
        // The question's length through the scratch (see parse::forget): the verifier links it to qlen,
        // and each way out of the summing loop would narrow qlen differently for the rest.
        let [len, _, _, _] = forget(pc, [(qlen + QTYPE_QCLASS_LEN) as u64, 0, 0, 0])?;
        let qsum = sum_region(ctx, f.dns + DNS_HEADER_LEN, len as usize)?;
        Some(Kept { mac_lo, mac_hi, ports, port_sum, id, qsum })
    }
}

/// Sum (big-endian words, folded, not complemented) of an IPv6 header's two addresses, as loaded from
/// octets 8..40 in four little-endian words.
#[inline(always)]
fn ipv6_addr_sum(a: &[u64; 4]) -> u32 {
    let mut s: u64 = 0;
    for w in a {
        s += (w & 0xffff_ffff) + (w >> 32);
    }
    fold64(s).swap_bytes() as u32
}

/// Sum (big-endian words, unfolded) of an IPv4 header's two addresses.
#[inline(always)]
fn ipv4_addr_sum(ip: &[u8; IPV4_LEN]) -> u32 {
    (12..20).step_by(2).map(|k| u16::from_be_bytes([ip[k], ip[k + 1]]) as u32).sum()
}

/// Put a full UDP checksum on a query that goes up to the stack after all. A query the XDP program handed
/// to another CPU (no room to answer in place) arrives there as a new skb with no checksum state; if it
/// was sent from a local socket with checksum offload (veth, containers), its checksum field holds only
/// the pseudo-header sum, and the stack would drop it as corrupt. (When TC answers, the query's checksum
/// does not matter; it passes one up only if the table was swapped in between.) A query whose checksum
/// was already complete keeps the same value.
#[inline(always)]
pub fn complete_query_csum<P: Packet>(ctx: &P, f: &Frame, pc: *mut PerCpu) -> Option<()> {
    let u = at::<[u8; UDP_LEN], P>(ctx, f.l4)?;
    let (ports, udp_len) = unsafe { (*(u as *const [u8; 4]), u16::from_be_bytes([(*u)[4], (*u)[5]])) };
    let mut sum = u16::from_be_bytes([ports[0], ports[1]]) as u32
        + u16::from_be_bytes([ports[2], ports[3]]) as u32
        + 2 * udp_len as u32
        + IPPROTO_UDP as u32;
    sum += if f.ipv6 {
        let ip = at::<[u8; 40], P>(ctx, f.l3)? as *const u8;
        ipv6_addr_sum(unsafe { &*(ip.add(8) as *const [u64; 4]) })
    } else {
        ipv4_addr_sum(unsafe { &*at::<[u8; IPV4_LEN], P>(ctx, f.l3)? })
    };
    let [len, _, _, _] = forget(pc, [f.dns_len as u64, 0, 0, 0])?;
    sum += sum_region(ctx, f.dns, len as usize)? as u32;
    let p = at::<[u8; 2], P>(ctx, f.l4 + 6)?;
    unsafe { *p = udp_checksum(sum).to_be_bytes() };
    Some(())
}

/// What [`fill_fragment`] needs: where the fragment goes, how much of it, and the pointers to shift
/// (those inside the cut) and by how much.
struct Fill {
    off: usize,
    len: usize,
    nptrs: usize,
    shift: u16,
}

/// Copy the fragment's first `len` octets into the frame and shift its compression pointers by the
/// question's extra length (they were compiled for canon_qlen).
#[inline(always)]
fn fill_fragment<P: Packet>(ctx: &P, job: &Fill, a: &Answer) -> bool {
    // Constant bounds for the verifier (the values came back from the scratch unknown).
    if job.off > MAX_FRAG_AT || job.nptrs > MAX_PTRS {
        return false;
    }
    if ctx.copy_in(job.off, &a.data, job.len).is_none() {
        return false;
    }
    let b = Bounds::of(ctx);
    job.shift == 0 || shift_pointers(b.start + job.off, b.end, a.ptrs.as_ptr(), job.nptrs, job.shift)
}

/// What [`shift_pointers`] masks a pointer's offset with (written into its assembly as 0x7ff): it keeps
/// every offset a fragment can hold.
const PTR_OFF_MASK: usize = 0x7ff;
const _: () = assert!(MAX_FRAG <= PTR_OFF_MASK + 1);

/// Add `shift` to the `n` (0..=MAX_PTRS) compression pointers listed at `ptrs`, in the fragment at
/// `base`; false if one would pass `end`. Written in eBPF assembly: a com referral has ~50 pointers, and
/// compiled from Rust this loop ran short of registers (everything the splice keeps for after it is live
/// across it) and reloaded the frame's end, the shift and the list from the stack each turn, 25
/// instructions a pointer; here it has 14 (as jited) and no memory access but the pointer's. zonegen
/// puts pointers inside the fragment (below MAX_FRAG): the mask [`PTR_OFF_MASK`] says so to the verifier
/// more cheaply than a compare, and the frame's end is checked anyway. The list's offsets are taken from `base + 2`
/// and each store goes 2 octets back, so the bound check compares the pointer's own address with the
/// frame's end (no separate "address + 2"). The 2 is added here in the assembly, so the verifier sees it
/// as a constant in the pointer's fixed offset and accepts the store at -2 (added in Rust, LLVM may fold
/// it into the variable part, and the verifier would refuse the negative offset).
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn shift_pointers(base: usize, end: usize, ptrs: *const Ptr, n: usize, shift: u16) -> bool {
    // The loop below runs at least once and counts down to zero.
    if n == 0 || n > MAX_PTRS {
        return n == 0;
    }
    let ok: u64;
    // SAFETY: reads n entries of the list (n <= MAX_PTRS, its length); each store is two octets checked
    // against the frame's end. The verifier checks all of it again.
    unsafe {
        core::arch::asm!(
            "{ok} = 1",
            "{base} += 2",
            "2:",
            "{w} = *(u16 *)({cur} + 0)",
            "{v} = *(u16 *)({cur} + 2)",
            "{w} &= 0x7ff",
            "{w} += {base}",
            "if {w} > {end} goto 3f",
            "{v} += {shift}",
            "{v} = be16 {v}",
            "*(u16 *)({w} - 2) = {v}",
            "{cur} += 4",
            "{cnt} += -1",
            "if {cnt} > 0 goto 2b",
            "goto 4f",
            "3:",
            "{ok} = 0",
            "4:",
            ok = out(reg) ok,
            cur = inout(reg) ptrs as u64 => _,
            cnt = inout(reg) n as u64 => _,
            base = inout(reg) base as u64 => _,
            end = in(reg) end as u64,
            shift = in(reg) shift as u64,
            w = out(reg) _,
            v = out(reg) _,
            options(nostack),
        );
    }
    ok != 0
}

/// The same loop in Rust, for the host build of this crate (never run there).
#[cfg(not(target_arch = "bpf"))]
fn shift_pointers(base: usize, end: usize, ptrs: *const Ptr, n: usize, shift: u16) -> bool {
    for i in 0..n.min(MAX_PTRS) {
        // SAFETY: as above.
        let p = unsafe { *ptrs.add(i) };
        let w = base + (p.off as usize & PTR_OFF_MASK);
        if w + 2 > end {
            return false;
        }
        unsafe { *(w as *mut [u8; 2]) = p.val.wrapping_add(shift).to_be_bytes() };
    }
    true
}

/// The COOKIE option's code and length, as they go on the wire.
const COOKIE_OPTION_HEAD: [u8; 4] = {
    let c = OPTION_COOKIE.to_be_bytes();
    let l = ((REPLY_OPTION_LEN - 4) as u16).to_be_bytes();
    [c[0], c[1], l[0], l[1]]
};

/// Does the answer carry a COOKIE option (cookie::process decided on the query's)? Read afresh at each
/// use (see rrl::parked).
#[inline(always)]
fn has_cookie(pc: *mut PerCpu) -> bool {
    crate::cookie::parked(pc) != crate::cookie::NONE
}

/// Our OPT record: with the COOKIE option's length when there is one, and BADCOOKIE's upper bits when
/// a slip answers a query with a cookie.
#[inline(always)]
fn our_opt(dnssec_ok: bool, pc: *mut PerCpu) -> [u8; OPT_LEN] {
    let cookie = has_cookie(pc);
    let slip = crate::rrl::parked(pc) == m_root_common::HINT_RRL_SLIP;
    opt_rr(dnssec_ok, slip_ext_rcode(slip && cookie), if cookie { REPLY_OPTION_LEN as u16 } else { 0 })
}

/// Sum of the COOKIE option (from an even offset), folded: its head, then the payload's words as the
/// per-CPU value holds them (little-endian: summed as in sum_region, swapped once).
#[inline(always)]
fn cookie_sum(pc: *mut PerCpu) -> u16 {
    let w = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*pc).cookie_out)) };
    let mut s: u64 = 0;
    for x in w {
        s += (x & 0xffff_ffff) + (x >> 32);
    }
    let head = u16::from_be_bytes([COOKIE_OPTION_HEAD[0], COOKIE_OPTION_HEAD[1]]) as u32
        + u16::from_be_bytes([COOKIE_OPTION_HEAD[2], COOKIE_OPTION_HEAD[3]]) as u32;
    csum::fold(fold64(s).swap_bytes() as u32 + head)
}

/// Sum of an OPT record as big-endian words from an even offset.
#[inline(always)]
fn opt_sum(b: &[u8; OPT_LEN]) -> u16 {
    let mut s: u32 = 0;
    let mut k = 0;
    while k + 1 < OPT_LEN {
        s += u16::from_be_bytes([b[k], b[k + 1]]) as u32;
        k += 2;
    }
    s += (b[OPT_LEN - 1] as u32) << 8;
    csum::fold(s)
}

/// One's-complement sum (RFC 1071, big-endian words, folded) of `len` frame bytes from `off`, an even
/// offset of the UDP segment at least 8 octets into the frame; `len` is 1..=MAX_QUERY_MSG. Read eight
/// octets at a time (little-endian: the sum comes out byte-swapped, and is swapped back once); the
/// last, partial word is the eight octets that end with the region, shifted down, so no read passes its
/// end.
#[inline(always)]
fn sum_region<P: Packet>(ctx: &P, off: usize, len: usize) -> Option<u16> {
    if len == 0 || len > MAX_QUERY_MSG || off < 8 {
        return None;
    }
    let b = Bounds::of(ctx);
    let mut s: u64 = 0;
    let words = len / 8;
    for i in 0..MAX_QUERY_MSG / 8 {
        if i >= words {
            break;
        }
        let w = u64::from_le_bytes(unsafe { *b.at::<[u8; 8]>(off + 8 * i)? });
        s += (w & 0xffff_ffff) + (w >> 32);
    }
    let r = len % 8;
    if r != 0 {
        // Through the stack, as in tld_label: LLVM would otherwise bound "data + off + len" and read
        // below that pointer, which the verifier refuses.
        let from = off + len - 8;
        let from = unsafe { core::ptr::read_volatile(&from) };
        let w = u64::from_le_bytes(unsafe { *b.at::<[u8; 8]>(from)? }) >> (8 * (8 - r));
        s += (w & 0xffff_ffff) + (w >> 32);
    }
    Some(fold64(s).swap_bytes())
}
