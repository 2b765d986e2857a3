//! Packet access for the two hooks. The DNS fast path (parse, lookup, splice) is written once against
//! [`Packet`]; only what differs between a driver frame (XDP) and a socket buffer (TC) lives here:
//! where the bytes are, how the packet is resized, and how the UDP checksum is left.

use aya_ebpf::{
    bindings::BPF_F_PSEUDO_HDR,
    helpers::generated::{
        bpf_l4_csum_replace, bpf_skb_change_tail, bpf_skb_load_bytes, bpf_xdp_adjust_meta, bpf_xdp_adjust_tail, bpf_xdp_load_bytes,
        bpf_xdp_store_bytes,
    },
    programs::{TcContext, XdpContext},
};
use m_root_common::{Counter, Hook, MAX_FRAG, XDP_HINT_MAGIC, XdpHint, rrl::Verdict, sample::SAMPLE_FRAME_MAX};

use crate::parse::Bounds;

pub trait Packet {
    /// Which counters this hook's outcomes go to.
    const HOOK: Hook;
    /// First byte of the Ethernet header.
    fn data(&self) -> usize;
    /// One past the last byte the program may access directly.
    fn data_end(&self) -> usize;
    /// The packet's whole length (for an XDP frame, its one buffer).
    fn len(&self) -> usize {
        self.data_end() - self.data()
    }
    /// Resize the packet at its tail from `old_len` to `new_len` bytes. Packet pointers are stale
    /// afterwards: re-read data()/data_end(). Err is the counter that says why it could not.
    fn resize(&self, old_len: usize, new_len: usize) -> Result<(), Counter>;
    /// Leave the UDP checksum at `off`: `full` is the finished checksum; `pseudo` the folded
    /// pseudo-header sum, which a packet whose checksum the device completes wants instead.
    fn set_udp_csum(&self, off: usize, full: u16, pseudo: u16) -> Result<(), Counter>;
    /// The answer `answer` is not this hook's to send (no room for it, or XDP_TX off): the packet goes up
    /// unchanged, with whatever this hook leaves for the next one, the rate limiter's verdict (`charged`)
    /// among it (`rrl_hint`, [`Verdict::hint`]) when this hook charged the response.
    fn no_room(&self, _answer: u32, _rrl_hint: u32) {}
    /// May this hook send answers itself (XDP: XDP_TX is on)? Only the hook that sends charges the rate
    /// limiter, so a query is charged once.
    fn may_send(&self) -> bool {
        true
    }
    /// The verdict an earlier hook charged this query with (TC: from XDP's hint).
    fn charged(&self) -> Option<Verdict> {
        None
    }
    /// Copy the first `len` (8..=MAX_FRAG) octets of `src` into the packet at `off`.
    fn copy_in(&self, off: usize, src: &[u8; MAX_FRAG], len: usize) -> Option<()>;
    /// Copy the packet's first `len` (1..=SAMPLE_FRAME_MAX) octets out to `dst` (dnstap's sample).
    fn copy_out(&self, dst: *mut u8, len: usize) -> Option<()>;
}

impl Packet for XdpContext {
    const HOOK: Hook = Hook::Xdp;
    #[inline(always)]
    fn copy_out(&self, dst: *mut u8, len: usize) -> Option<()> {
        let len = sample_len(len)?;
        (unsafe { bpf_xdp_load_bytes(self.ctx, 0, dst as *mut _, len as u32) } == 0).then_some(())
    }
    #[inline(always)]
    fn data(&self) -> usize {
        XdpContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        XdpContext::data_end(self)
    }
    #[inline(always)]
    fn resize(&self, old_len: usize, new_len: usize) -> Result<(), Counter> {
        // XDP_TX off: the device cannot deliver what XDP sends; TC answers, and nothing is written yet.
        if !crate::xdp_tx_on() {
            return Err(Counter::PassToTc);
        }
        let delta = new_len as i32 - old_len as i32;
        // The driver's buffer cannot hold the answer: leave it to the stack (and the TC companion).
        if delta != 0 && unsafe { bpf_xdp_adjust_tail(self.ctx, delta) } != 0 {
            return Err(Counter::PassNoRoom);
        }
        Ok(())
    }
    #[inline(always)]
    fn set_udp_csum(&self, off: usize, full: u16, _pseudo: u16) -> Result<(), Counter> {
        // A frame sent by XDP_TX leaves as it is: the checksum must be complete.
        let p = crate::parse::at::<[u8; 2], _>(self, off).ok_or(Counter::Dropped)?;
        unsafe { *p = full.to_be_bytes() };
        Ok(())
    }
    /// bpf_xdp_store_bytes (a memcpy): measured on the Intel host, a signed `com` referral under live
    /// frames cost ~10 % less (median of alternating runs) than with the direct-store loop the skb uses
    /// (the AMD host of earlier sessions, where helper calls return through the SRSO thunk, had measured
    /// the loop cheaper).
    #[inline(always)]
    fn copy_in(&self, off: usize, src: &[u8; MAX_FRAG], len: usize) -> Option<()> {
        // The constant bound lets the verifier check the source: `len` octets within the map value.
        if len < 8 || len > MAX_FRAG {
            return None;
        }
        let r = unsafe { bpf_xdp_store_bytes(self.ctx, off as u32, src.as_ptr() as *mut _, len as u32) };
        (r == 0).then_some(())
    }
    #[inline(always)]
    fn may_send(&self) -> bool {
        crate::xdp_tx_on()
    }
    /// Tell the TC companion which answer this query wants (the frame's data stays untouched).
    #[inline(always)]
    fn no_room(&self, answer: u32, rrl: u32) {
        let len = core::mem::size_of::<XdpHint>();
        if unsafe { bpf_xdp_adjust_meta(self.ctx, -(len as i32)) } != 0 {
            // A driver without XDP metadata: TC will not know to answer; userspace does.
            if let Some(pc) = crate::PERCPU.get_ptr_mut(0) {
                crate::count::<XdpContext>(pc, Counter::NoHint);
            }
            return;
        }
        let meta = self.metadata();
        if meta + len > XdpContext::data(self) {
            return;
        }
        unsafe { *(meta as *mut XdpHint) = XdpHint { magic: XDP_HINT_MAGIC, answer, rrl } };
    }
}

/// The hint the XDP program left when it passed this packet up for TC to answer, for lack of room or with
/// XDP_TX off (at the start of the metadata).
#[inline(always)]
pub fn xdp_hint(ctx: &TcContext) -> Option<XdpHint> {
    let meta = unsafe { (*ctx.skb.skb).data_meta } as usize;
    if meta + core::mem::size_of::<XdpHint>() > ctx.data() {
        return None;
    }
    let h = unsafe { *(meta as *const XdpHint) };
    (h.magic == XDP_HINT_MAGIC).then_some(h)
}

impl Packet for TcContext {
    const HOOK: Hook = Hook::Tc;
    #[inline(always)]
    fn copy_out(&self, dst: *mut u8, len: usize) -> Option<()> {
        let len = sample_len(len)?;
        (unsafe { bpf_skb_load_bytes(self.skb.skb as *const _, 0, dst as *mut _, len as u32) } == 0).then_some(())
    }
    #[inline(always)]
    fn charged(&self) -> Option<Verdict> {
        Verdict::from_hint(xdp_hint(self)?.rrl)
    }
    /// skb->len: the TC program pulls only a query's worth into the linear part, so the linear part
    /// can be shorter than the packet.
    #[inline(always)]
    fn len(&self) -> usize {
        TcContext::len(self) as usize
    }
    #[inline(always)]
    fn data(&self) -> usize {
        TcContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        TcContext::data_end(self)
    }
    #[inline(always)]
    fn resize(&self, old_len: usize, new_len: usize) -> Result<(), Counter> {
        let skb = self.skb.skb as *mut _;
        // Changing the length turns CHECKSUM_COMPLETE (a NIC's sum over the query) into NONE; an answer
        // as long as its query (TC=1 with empty sections, no padding) would keep the stale sum, so it
        // grows by one octet first. (Rare; a query for which even this fails passes unchanged.)
        if old_len == new_len && unsafe { bpf_skb_change_tail(skb, new_len as u32 + 1, 0) } != 0 {
            return Err(Counter::PassNoRoom);
        }
        if unsafe { bpf_skb_change_tail(skb, new_len as u32, 0) } != 0 {
            return Err(if old_len == new_len { Counter::Dropped } else { Counter::PassNoRoom });
        }
        // The answer is written with direct access: the grown tail must be in the linear part.
        if self.data_end() - self.data() < new_len {
            return Err(Counter::Dropped);
        }
        Ok(())
    }
    #[inline(always)]
    fn set_udp_csum(&self, off: usize, full: u16, pseudo: u16) -> Result<(), Counter> {
        // A query sent from a local socket with checksum offload (veth, containers) arrives
        // CHECKSUM_PARTIAL, and so leaves the answer: the device or the receiving stack completes it from
        // the pseudo-header sum in the field. __sk_buff does not say which, but bpf_l4_csum_replace does:
        // with a pseudo-header change of 0 -> 0 it leaves a full checksum's field as it is (0 stays 0)
        // and complements a partial one's (0 becomes 0xffff).
        let skb = self.skb.skb;
        let p = crate::parse::at::<[u8; 2], _>(self, off).ok_or(Counter::Dropped)?;
        unsafe { *p = [0, 0] };
        if unsafe { bpf_l4_csum_replace(skb, off as u32, 0, 0, (BPF_F_PSEUDO_HDR | 4) as u64) } != 0 {
            return Err(Counter::Dropped);
        }
        let p = crate::parse::at::<[u8; 2], _>(self, off).ok_or(Counter::Dropped)?;
        let partial = unsafe { *p } != [0, 0];
        unsafe { *p = if partial { pseudo } else { full }.to_be_bytes() };
        if partial {
            let pc = crate::PERCPU.get_ptr_mut(0).ok_or(Counter::Dropped)?;
            crate::count::<TcContext>(pc, Counter::CsumPartial);
        }
        Ok(())
    }
    #[inline(always)]
    fn copy_in(&self, off: usize, src: &[u8; MAX_FRAG], len: usize) -> Option<()> {
        copy_words(Bounds::of(self), off, src, len)
    }
}

/// Octets [`copy_words`] moves per bounds check.
const BLOCK: usize = 64;

/// The skb's copy: eight octets at a time with direct stores (bpf_skb_store_bytes was not measured
/// against it); `len` is 8..=MAX_FRAG. Whole blocks, then words, then the last eight octets of the
/// fragment again (overlapping what is already there), so no store passes the end.
#[inline(always)]
fn copy_words(b: Bounds, off: usize, src: &[u8; MAX_FRAG], len: usize) -> Option<()> {
    if len < 8 || len > MAX_FRAG {
        return None;
    }
    let src = src.as_ptr();
    let mut done = 0;
    for _ in 0..MAX_FRAG / BLOCK {
        if done + BLOCK > len {
            break;
        }
        let d = b.at::<[u64; BLOCK / 8]>(off + done)? as *mut u64;
        // SAFETY: done + BLOCK <= len <= MAX_FRAG octets of `src`; the frame holds the block (checked).
        unsafe {
            let s = src.add(done) as *const u64;
            for k in 0..BLOCK / 8 {
                d.add(k).write_unaligned(s.add(k).read_unaligned());
            }
        }
        done += BLOCK;
    }
    for _ in 0..BLOCK / 8 {
        if done + 8 > len {
            break;
        }
        let d = b.at::<u64>(off + done)?;
        // SAFETY: as above, one word.
        unsafe { d.write_unaligned((src.add(done) as *const u64).read_unaligned()) };
        done += 8;
    }
    if done < len {
        // Through the stack: keep LLVM from rewriting the bound as "data + off + len" (see tld_label).
        let last = len - 8;
        let last = unsafe { core::ptr::read_volatile(&last) };
        if last > MAX_FRAG - 8 {
            return None;
        }
        let d = b.at::<u64>(off + last)?;
        // SAFETY: octets last..last + 8 of `src` and of the frame's fragment area.
        unsafe { d.write_unaligned((src.add(last) as *const u64).read_unaligned()) };
    }
    Some(())
}

/// `len` as the copy helpers want it, in 1..=SAMPLE_FRAME_MAX as the verifier sees it: two checks kept
/// apart (as one, LLVM folds them into a subtraction whose range the verifier loses).
#[inline(always)]
fn sample_len(len: usize) -> Option<usize> {
    if len > SAMPLE_FRAME_MAX {
        return None;
    }
    let len = crate::parse::opaque(len);
    if len == 0 { None } else { Some(len) }
}
