//! Laying a plan out once, in full, with its cuts and compression pointers, and cutting it to the
//! requester's size. The compiler measures the same layout into a table entry (`compile::from_layout`).

use super::plan::{Block, Plan};
use super::{ReplyCookie, ServerConfig, nsid_payload};
use crate::wire::{self, Query, Writer};

/// An answer laid out in full, with the cuts a smaller buffer takes.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Header + question + every block (no OPT).
    pub msg: Vec<u8>,
    /// Where the records start (end of the question).
    pub frag_start: usize,
    /// Compression pointer positions in `msg`.
    pub ptrs: Vec<usize>,
    /// (end position in msg, ARCOUNT) per cut; cut 0 ends the required records.
    pub cuts: Vec<(usize, u16)>,
    pub ancount: u16,
    pub nscount: u16,
    /// Header flags without the copied bits and TC.
    pub flags: u16,
}

/// Lay a plan out in full, recording cuts and pointer positions.
pub fn lay_out(q: &Query<'_>, plan: &Plan<'_>) -> Layout {
    let mut flags = wire::FLAG_QR | (plan.rcode & 0x0f);
    if plan.aa {
        flags |= wire::FLAG_AA;
    }
    let mut blocks: Vec<&Block<'_>> = plan.blocks.iter().collect();
    // Stable: answer, authority, additional-required, additional-optional.
    blocks.sort_by_key(|b| (b.section, !b.required));
    let mut w = Writer::new(q.id, flags | (q.flags & wire::COPIED_FLAGS), Some(q.question), plan.anchor_labels);
    let frag_start = w.buf.len();
    let mut counts = [0u16; 3];
    let mut cuts = Vec::new();
    let mut required_done = false;
    for b in &blocks {
        if !b.required && !required_done {
            cuts.push((w.buf.len(), counts[2]));
            required_done = true;
        }
        for rd in &b.rdata {
            w.record(&b.owner, b.rtype, b.class, b.ttl, rd);
            counts[b.section as usize] += 1;
        }
        if !b.required {
            cuts.push((w.buf.len(), counts[2]));
        }
    }
    if !required_done {
        cuts.push((w.buf.len(), counts[2]));
    }
    Layout { msg: w.buf, frag_start, ptrs: w.ptrs, cuts, ancount: counts[0], nscount: counts[1], flags }
}

/// Cut a layout to the requester's size and add OPT; TC with empty sections when the required part does
/// not fit.
/// `cookie`: the COOKIE option's payload when the answer carries one.
pub fn finish(layout: &Layout, q: &Query<'_>, limit: usize, cfg: &ServerConfig, cookie: Option<&ReplyCookie>) -> Vec<u8> {
    let nsid = nsid_payload(cfg, q.edns.as_ref());
    let opt = q.edns.as_ref().map(|e| wire::opt_record(0, e.dnssec_ok, nsid.as_deref(), cookie));
    let opt_len = opt.as_ref().map_or(0, Vec::len);
    let fit = layout.cuts.iter().rev().find(|(end, _)| end + opt_len <= limit);
    let mut out;
    let arcount;
    match fit {
        Some(&(end, ar)) => {
            out = layout.msg[..end].to_vec();
            out[6..8].copy_from_slice(&layout.ancount.to_be_bytes());
            out[8..10].copy_from_slice(&layout.nscount.to_be_bytes());
            arcount = ar;
        }
        None => {
            out = layout.msg[..layout.frag_start].to_vec();
            let f = u16::from_be_bytes([out[2], out[3]]) | wire::FLAG_TC;
            out[2..4].copy_from_slice(&f.to_be_bytes());
            out[6..10].copy_from_slice(&[0, 0, 0, 0]);
            arcount = 0;
        }
    }
    let arcount = arcount + opt.is_some() as u16;
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
    if let Some(o) = opt {
        out.extend_from_slice(&o);
    }
    out
}
