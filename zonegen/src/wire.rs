//! DNS messages on the wire: parsing a query, and writing a response with name compression.
//!
//! Compression policy (one place, because the XDP splice depends on it): names compress against names
//! already written in the answer sections, and against the question only at the suffix that is the owner
//! of the answer's data (the TLD for referrals), never deeper. So a response is "header + question +
//! fragment", where the fragment depends on the question only through its length.

use m_root_common::OptOptions;
pub use m_root_common::cookie::{CLIENT_LEN, MAX_SERVER_LEN, MIN_SERVER_LEN, OPTION_COOKIE, RCODE_BADCOOKIE, REPLY_OPTION_LEN, SERVER_LEN};

use crate::name;
use crate::rr;

pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
/// TC, RD, CD and the flags a response copies (RFC 1035 4.1.1: RD; RFC 4035 3.2.2: CD): the programs'.
pub use m_root_common::{COPIED_FLAGS, FLAG_CD, FLAG_RD, FLAG_TC};
pub const OPCODE_MASK: u16 = 0x7800;
pub const EDNS_DO: u16 = 0x8000;
pub const OPTION_NSID: u16 = 3;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
/// Extended rcode 16 (RFC 6891 9): upper 8 bits go in the OPT TTL.
pub const RCODE_BADVERS: u16 = 16;

/// The EDNS part of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    pub nsid: bool,
    /// The first COOKIE option (RFC 7873); later ones count as other options.
    pub cookie: Option<QueryCookie>,
    /// Options other than NSID and the first COOKIE, ignored (RFC 6891 6.1.2: unknown options are ignored).
    pub other_options: usize,
}

/// A query's COOKIE option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryCookie {
    /// Not 8 octets, nor 8 plus 8 to 32 (RFC 7873 5.2.2: FORMERR).
    Malformed,
    /// A client cookie and the `server_len` octets of a server cookie (0: none yet).
    Present { client: [u8; 8], server: [u8; 32], server_len: u8 },
}

impl QueryCookie {
    /// The option's payload as it came.
    pub fn parse(payload: &[u8]) -> QueryCookie {
        let n = payload.len();
        let ok = n == CLIENT_LEN || (CLIENT_LEN + MIN_SERVER_LEN..=CLIENT_LEN + MAX_SERVER_LEN).contains(&n);
        if !ok {
            return QueryCookie::Malformed;
        }
        let mut client = [0u8; 8];
        client.copy_from_slice(&payload[..CLIENT_LEN]);
        let mut server = [0u8; 32];
        server[..n - CLIENT_LEN].copy_from_slice(&payload[CLIENT_LEN..]);
        QueryCookie::Present { client, server, server_len: (n - CLIENT_LEN) as u8 }
    }
}

impl Edns {
    /// The options as m_root_common's coverage rule sees them.
    pub fn options(&self) -> OptOptions {
        match self.cookie {
            _ if self.nsid || self.other_options > 0 => OptOptions::Other,
            None => OptOptions::None,
            Some(QueryCookie::Present { server_len, .. }) if server_len == 0 || server_len as usize == SERVER_LEN => OptOptions::Cookie,
            Some(_) => OptOptions::Other,
        }
    }
}

/// A parsed question and envelope.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub id: u16,
    pub flags: u16,
    /// The question name as sent (case preserved), uncompressed wire form.
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    /// The question section's bytes (name, type, class), echoed byte for byte.
    pub question: &'a [u8],
    pub edns: Option<Edns>,
}

impl Query<'_> {
    pub fn opcode(&self) -> u8 {
        ((self.flags & OPCODE_MASK) >> 11) as u8
    }
    pub fn dnssec_ok(&self) -> bool {
        self.edns.as_ref().is_some_and(|e| e.dnssec_ok)
    }
}

/// How a query failed to parse, and what the response should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// Not answerable at all (shorter than a header, or a response): drop silently.
    Drop,
    /// Answer FORMERR; `question` is the question to echo when one could be read.
    FormErr { id: u16, flags: u16, question: Option<(usize, usize)>, edns: Option<Edns> },
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

/// Parse a query message.
pub fn parse_query(msg: &[u8]) -> Result<Query<'_>, QueryError> {
    if msg.len() < 12 {
        return Err(QueryError::Drop);
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & FLAG_QR != 0 {
        return Err(QueryError::Drop);
    }
    let qd = be16(msg, 4).unwrap_or(0);
    let an = be16(msg, 6).unwrap_or(0);
    let ns = be16(msg, 8).unwrap_or(0);
    let ar = be16(msg, 10).unwrap_or(0);
    let formerr = |question, edns| QueryError::FormErr { id, flags, question, edns };
    if qd != 1 {
        // Still answer with OPT when the query carried one (RFC 6891 6.1.1).
        return Err(formerr(None, best_effort_edns(msg, qd, an, ns, ar)));
    }
    // Question name: uncompressed (RFC 1035 4.1.4 allows pointers, but there is nothing before it to point at).
    let qlen = name::wire_len(msg, 12).ok_or_else(|| formerr(None, None))?;
    let qend = 12 + qlen + 4;
    if msg.len() < qend {
        return Err(formerr(None, None));
    }
    let qname = &msg[12..12 + qlen];
    let qtype = u16::from_be_bytes([msg[12 + qlen], msg[13 + qlen]]);
    let qclass = u16::from_be_bytes([msg[14 + qlen], msg[15 + qlen]]);
    let question = &msg[12..qend];
    let qpos = Some((12, qend));
    if an != 0 || ns != 0 {
        return Err(formerr(qpos, None));
    }
    let mut pos = qend;
    let mut edns = None;
    for _ in 0..ar {
        // Additional records: one OPT with the root owner, nothing else we understand (no TSIG here).
        let owner_len = skip_name(msg, pos).ok_or_else(|| formerr(qpos, None))?;
        let p = pos + owner_len;
        let rtype = be16(msg, p).ok_or_else(|| formerr(qpos, None))?;
        let class = be16(msg, p + 2).ok_or_else(|| formerr(qpos, None))?;
        let ttl_hi = be16(msg, p + 4).ok_or_else(|| formerr(qpos, None))?;
        let ttl_lo = be16(msg, p + 6).ok_or_else(|| formerr(qpos, None))?;
        let rdlen = be16(msg, p + 8).ok_or_else(|| formerr(qpos, None))? as usize;
        let rdata = msg.get(p + 10..p + 10 + rdlen).ok_or_else(|| formerr(qpos, None))?;
        if rtype != rr::OPT || edns.is_some() || msg[pos] != 0 {
            return Err(formerr(qpos, None));
        }
        let mut e = Edns {
            udp_size: class,
            version: (ttl_hi & 0xff) as u8,
            dnssec_ok: ttl_lo & EDNS_DO != 0,
            nsid: false,
            cookie: None,
            other_options: 0,
        };
        parse_options(rdata, &mut e).ok_or_else(|| formerr(qpos, None))?;
        edns = Some(e);
        pos = p + 10 + rdlen;
    }
    if pos != msg.len() {
        return Err(formerr(qpos, edns));
    }
    Ok(Query { id, flags, qname, qtype, qclass, question, edns })
}

/// Read an OPT's options into `e`: NSID, the first COOKIE, a count of the rest. None when an option runs
/// past the RDATA.
fn parse_options(rdata: &[u8], e: &mut Edns) -> Option<()> {
    let mut o = 0;
    while o < rdata.len() {
        let code = be16(rdata, o)?;
        let len = be16(rdata, o + 2)? as usize;
        let payload = rdata.get(o + 4..o + 4 + len)?;
        if code == OPTION_NSID {
            e.nsid = true;
        } else if code == OPTION_COOKIE && e.cookie.is_none() {
            e.cookie = Some(QueryCookie::parse(payload));
        } else {
            e.other_options += 1;
        }
        o += 4 + len;
    }
    Some(())
}

/// The OPT of a query we refuse as malformed, if the rest of it can be walked.
fn best_effort_edns(msg: &[u8], qd: u16, an: u16, ns: u16, ar: u16) -> Option<Edns> {
    let mut pos = 12;
    for _ in 0..qd {
        pos += skip_name(msg, pos)? + 4;
    }
    for i in 0..(an as u32 + ns as u32 + ar as u32) {
        let owner = skip_name(msg, pos)?;
        let p = pos + owner;
        let rtype = be16(msg, p)?;
        let rdlen = be16(msg, p + 8)? as usize;
        if i >= an as u32 + ns as u32 && rtype == rr::OPT && msg.get(pos) == Some(&0) {
            let ttl_hi = be16(msg, p + 4)?;
            let ttl_lo = be16(msg, p + 6)?;
            let mut e = Edns {
                udp_size: be16(msg, p + 2)?,
                version: (ttl_hi & 0xff) as u8,
                dnssec_ok: ttl_lo & EDNS_DO != 0,
                nsid: false,
                cookie: None,
                other_options: 0,
            };
            // The options too, where they can be read (a cookie may ask for a server cookie, RFC 7873 5.4).
            if let Some(rdata) = msg.get(p + 10..p + 10 + rdlen) {
                let _ = parse_options(rdata, &mut e);
                // Only the cookie: an error answer to a malformed query carries no NSID, as before.
                e.nsid = false;
            }
            return Some(e);
        }
        pos = p + 10 + rdlen;
        if pos > msg.len() {
            return None;
        }
    }
    None
}

/// Length of a possibly compressed name at `off` (its bytes in place, not following pointers).
fn skip_name(msg: &[u8], off: usize) -> Option<usize> {
    let mut p = off;
    loop {
        let len = *msg.get(p)?;
        match len {
            0 => return Some(p + 1 - off),
            1..=63 => p += 1 + len as usize,
            0xc0..=0xff => {
                msg.get(p + 1)?;
                return Some(p + 2 - off);
            }
            _ => return None,
        }
    }
}

/// A response being written, with its compression dictionary and the positions of the pointers written.
pub struct Writer {
    pub buf: Vec<u8>,
    /// Compression targets: (start, end) of a lowercased suffix in `arena`, and its offset in `buf`.
    dict: Vec<(u32, u32, u16)>,
    arena: Vec<u8>,
    /// Offsets of every compression pointer written.
    pub ptrs: Vec<usize>,
}

impl Writer {
    /// Start a response: header (counts zero) and the question echoed. The question's suffix of
    /// `anchor_labels` labels (and its own suffixes) may be pointed at; nothing deeper.
    pub fn new(id: u16, flags: u16, question: Option<&[u8]>, anchor_labels: usize) -> Writer {
        let mut w =
            Writer { buf: Vec::with_capacity(1232), dict: Vec::with_capacity(64), arena: Vec::with_capacity(1024), ptrs: Vec::new() };
        w.buf.extend_from_slice(&id.to_be_bytes());
        w.buf.extend_from_slice(&flags.to_be_bytes());
        w.buf.extend_from_slice(&[0, question.is_some() as u8, 0, 0, 0, 0, 0, 0]);
        if let Some(q) = question {
            w.buf.extend_from_slice(q);
            if anchor_labels > 0
                && let Some(qlen) = name::wire_len(q, 0)
            {
                let qname = &q[..qlen];
                let total = name::label_count(qname);
                let offs = name::suffix_offsets(qname);
                for (i, &o) in offs.iter().enumerate() {
                    if total - i <= anchor_labels {
                        w.add_target(&qname[o..], (12 + o) as u16);
                    }
                }
            }
        }
        w
    }

    pub fn set_count(&mut self, section: usize, n: u16) {
        let o = 4 + 2 * section;
        self.buf[o..o + 2].copy_from_slice(&n.to_be_bytes());
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    fn add_target(&mut self, suffix: &[u8], at: u16) {
        let start = self.arena.len() as u32;
        self.arena.extend(suffix.iter().map(u8::to_ascii_lowercase));
        self.dict.push((start, self.arena.len() as u32, at));
    }

    fn find_target(&self, suffix: &[u8]) -> Option<u16> {
        self.dict.iter().find(|(a, b, _)| self.arena[*a as usize..*b as usize].eq_ignore_ascii_case(suffix)).map(|t| t.2)
    }

    /// Write a name, compressing against earlier names when `compress`.
    pub fn name(&mut self, n: &[u8], compress: bool) {
        // Label offsets on the stack: a name has at most 127 labels.
        let mut offs = [0u8; 128];
        let mut count = 0usize;
        let mut pos = 0usize;
        while let Some(&len) = n.get(pos) {
            if len == 0 || count == offs.len() {
                break;
            }
            offs[count] = pos as u8;
            count += 1;
            pos += 1 + len as usize;
        }
        let offs = &offs[..count];
        let mut hit = None;
        if compress {
            for (i, &o) in offs.iter().enumerate() {
                if let Some(at) = self.find_target(&n[o as usize..]) {
                    hit = Some((i, at));
                    break;
                }
            }
        }
        let literal_labels = hit.map_or(offs.len(), |(i, _)| i);
        let start = self.buf.len();
        if compress {
            for &o in offs.iter().take(literal_labels) {
                let p = start + o as usize;
                // Only names written in compressible places become targets, and only below the pointer limit.
                if p < 0x3fff {
                    self.add_target(&n[o as usize..], p as u16);
                }
            }
        }
        let literal_end = offs.get(literal_labels).map(|&o| o as usize).unwrap_or(n.len() - 1);
        self.buf.extend_from_slice(&n[..literal_end]);
        match hit {
            Some((_, at)) => {
                self.ptrs.push(self.buf.len());
                self.buf.extend_from_slice(&(0xc000 | at).to_be_bytes());
            }
            None => self.buf.push(0),
        }
    }

    /// Write one resource record.
    pub fn record(&mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
        self.name(owner, true);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        let data_start = self.buf.len();
        match rr::rdata_names(rtype) {
            rr::RdataNames::Whole => match name::wire_len(rdata, 0) {
                Some(l) if l == rdata.len() => self.name(rdata, true),
                _ => self.buf.extend_from_slice(rdata),
            },
            rr::RdataNames::TwoThenRest => {
                let m = name::wire_len(rdata, 0);
                let r = m.and_then(|m| name::wire_len(rdata, m).map(|r| (m, r)));
                match r {
                    Some((m, r)) => {
                        self.name(&rdata[..m], true);
                        self.name(&rdata[m..m + r], true);
                        self.buf.extend_from_slice(&rdata[m + r..]);
                    }
                    None => self.buf.extend_from_slice(rdata),
                }
            }
            rr::RdataNames::SkipTwoThenName => match name::wire_len(rdata, 2) {
                Some(l) if 2 + l == rdata.len() => {
                    self.buf.extend_from_slice(&rdata[..2]);
                    self.name(&rdata[2..], true);
                }
                _ => self.buf.extend_from_slice(rdata),
            },
            rr::RdataNames::None => self.buf.extend_from_slice(rdata),
        }
        let len = (self.buf.len() - data_start) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Append our OPT record (RFC 6891 6.1): our payload size, extended rcode, DO echoed, NSID if given.
    pub fn opt(&mut self, ext_rcode: u8, dnssec_ok: bool, nsid: Option<&[u8]>) {
        self.buf.extend_from_slice(&opt_record(ext_rcode, dnssec_ok, nsid, None));
    }
}

/// Our OPT record's bytes: NSID when given, then our COOKIE option (client cookie and server cookie)
/// when given. The programs write the same bytes for a cookie ([`m_root_common::cookie`]).
pub fn opt_record(ext_rcode: u8, dnssec_ok: bool, nsid: Option<&[u8]>, cookie: Option<&[u8; CLIENT_LEN + SERVER_LEN]>) -> Vec<u8> {
    let rdlen = nsid.map_or(0, |n| 4 + n.len()) + cookie.map_or(0, |_| REPLY_OPTION_LEN);
    let mut b = Vec::with_capacity(m_root_common::OPT_LEN + rdlen);
    b.extend_from_slice(&m_root_common::opt_rr(dnssec_ok, ext_rcode, rdlen as u16));
    if let Some(n) = nsid {
        b.extend_from_slice(&OPTION_NSID.to_be_bytes());
        b.extend_from_slice(&(n.len() as u16).to_be_bytes());
        b.extend_from_slice(n);
    }
    if let Some(c) = cookie {
        b.extend_from_slice(&OPTION_COOKIE.to_be_bytes());
        b.extend_from_slice(&(c.len() as u16).to_be_bytes());
        b.extend_from_slice(c);
    }
    b
}

/// Build a query message (for tests, the compiler and the lab tools).
pub fn build_query(id: u16, flags: u16, qname: &[u8], qtype: u16, qclass: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + qname.len() + 4 + 11);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&flags.to_be_bytes());
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, edns.is_some() as u8]);
    b.extend_from_slice(qname);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&qclass.to_be_bytes());
    if let Some((size, dnssec_ok)) = edns {
        b.push(0);
        b.extend_from_slice(&rr::OPT.to_be_bytes());
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(if dnssec_ok { EDNS_DO } else { 0 }).to_be_bytes());
        b.extend_from_slice(&[0, 0]);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_points_only_at_anchor() {
        let qname = name::from_text("dns.jp").unwrap();
        let q = [qname.clone(), vec![0, 1, 0, 1]].concat();
        let mut w = Writer::new(1, 0, Some(&q), 1);
        let target = name::from_text("a.dns.jp").unwrap();
        w.name(&target, true);
        // "a.dns" literal, then a pointer to "jp" in the question (offset 12 + 4), not to "dns.jp" at 12.
        let tail = &w.buf[12 + q.len()..];
        assert_eq!(tail, &[1, b'a', 3, b'd', b'n', b's', 0xc0, 16]);
        assert_eq!(w.ptrs, vec![12 + q.len() + 6]);
    }

    #[test]
    fn parse_rejects_and_accepts() {
        let qn = name::from_text("example.jp").unwrap();
        let q = build_query(7, FLAG_RD, &qn, rr::A, rr::CLASS_IN, Some((1232, true)));
        let p = parse_query(&q).unwrap();
        assert_eq!(p.id, 7);
        assert!(p.dnssec_ok());
        assert_eq!(p.qname, qn.as_slice());
        assert!(matches!(parse_query(&q[..5]), Err(QueryError::Drop)));
        let mut resp = q.clone();
        resp[2] |= 0x80;
        assert!(matches!(parse_query(&resp), Err(QueryError::Drop)));
        let mut two = q.clone();
        two[5] = 2;
        assert!(matches!(parse_query(&two), Err(QueryError::FormErr { .. })));
        let mut trailing = q.clone();
        trailing.push(0);
        assert!(matches!(parse_query(&trailing), Err(QueryError::FormErr { .. })));
    }
}
