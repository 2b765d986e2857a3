//! Decode a DNS message and print it as dig does (for `zonegen answer`, the lab injector and tests).

use std::fmt::Write as _;

use crate::name;
use crate::rr;

/// A decoded resource record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner, decompressed, in wire form as received (case kept).
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// Rdata with names decompressed (so two encodings of the same data compare equal).
    pub rdata: Vec<u8>,
}

/// A decoded message.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: u16,
    pub flags: u16,
    pub question: Option<(Vec<u8>, u16, u16)>,
    pub sections: [Vec<Record>; 3],
    /// The OPT record, if any: (udp size, ext rcode, version, flags, rdata).
    pub opt: Option<(u16, u8, u8, u16, Vec<u8>)>,
}

impl Message {
    pub fn rcode(&self) -> u16 {
        (self.flags & 0x0f) | self.opt.as_ref().map_or(0, |o| (o.1 as u16) << 4)
    }
}

/// Decompress the name at `off`; returns the name and the offset after it in place.
pub fn read_name(msg: &[u8], off: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut pos = off;
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        if len & 0xc0 == 0xc0 {
            let target = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            if end.is_none() {
                end = Some(pos + 2);
            }
            jumps += 1;
            // A pointer must go backwards; a loop or forward pointer is malformed.
            if jumps > 127 || target >= pos {
                return None;
            }
            pos = target;
            continue;
        }
        if len > 63 {
            return None;
        }
        out.push(len as u8);
        if len == 0 {
            break;
        }
        out.extend_from_slice(msg.get(pos + 1..pos + 1 + len)?);
        pos += 1 + len;
        if out.len() > 255 {
            return None;
        }
    }
    Some((out, end.unwrap_or(pos + 1)))
}

/// Decode a whole message.
pub fn decode(msg: &[u8]) -> Option<Message> {
    if msg.len() < 12 {
        return None;
    }
    let c = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let (qd, an, ns, ar) = (c(4), c(6), c(8), c(10));
    let mut pos = 12;
    let mut question = None;
    for _ in 0..qd {
        let (n, p) = read_name(msg, pos)?;
        let t = u16::from_be_bytes([*msg.get(p)?, *msg.get(p + 1)?]);
        let cl = u16::from_be_bytes([*msg.get(p + 2)?, *msg.get(p + 3)?]);
        question = Some((n, t, cl));
        pos = p + 4;
    }
    let mut sections: [Vec<Record>; 3] = Default::default();
    let mut opt = None;
    for (si, count) in [an, ns, ar].into_iter().enumerate() {
        for _ in 0..count {
            let (owner, p) = read_name(msg, pos)?;
            let h = msg.get(p..p + 10)?;
            let rtype = u16::from_be_bytes([h[0], h[1]]);
            let class = u16::from_be_bytes([h[2], h[3]]);
            let ttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            let rdlen = u16::from_be_bytes([h[8], h[9]]) as usize;
            let rstart = p + 10;
            let raw = msg.get(rstart..rstart + rdlen)?;
            pos = rstart + rdlen;
            if rtype == rr::OPT && si == 2 {
                opt = Some((class, (ttl >> 24) as u8, (ttl >> 16) as u8, ttl as u16, raw.to_vec()));
                continue;
            }
            let rdata = decompress_rdata(msg, rtype, rstart, rdlen)?;
            sections[si].push(Record { owner, rtype, class, ttl, rdata });
        }
    }
    Some(Message { id: c(0), flags: c(2), question, sections, opt })
}

fn decompress_rdata(msg: &[u8], rtype: u16, start: usize, len: usize) -> Option<Vec<u8>> {
    let end = start + len;
    let raw = msg.get(start..end)?;
    Some(match rr::rdata_names(rtype) {
        rr::RdataNames::Whole => read_name(msg, start)?.0,
        rr::RdataNames::TwoThenRest => {
            let (m, p) = read_name(msg, start)?;
            let (r, p) = read_name(msg, p)?;
            [m, r, msg.get(p..end)?.to_vec()].concat()
        }
        rr::RdataNames::SkipTwoThenName => [raw.get(..2)?.to_vec(), read_name(msg, start + 2)?.0].concat(),
        rr::RdataNames::None => raw.to_vec(),
    })
}

/// Rdata in presentation form, for the types a root server serves; others in RFC 3597 form.
pub fn rdata_text(rtype: u16, rd: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    match rtype {
        rr::A if rd.len() == 4 => format!("{}.{}.{}.{}", rd[0], rd[1], rd[2], rd[3]),
        rr::AAAA if rd.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rd);
            std::net::Ipv6Addr::from(a).to_string()
        }
        rr::NS | rr::CNAME | rr::PTR => name::to_text(rd),
        rr::SOA => {
            let m = name::wire_len(rd, 0).unwrap_or(rd.len());
            let r = name::wire_len(rd, m).unwrap_or(0);
            let t = &rd[(m + r).min(rd.len())..];
            let n = |i: usize| t.get(i * 4..i * 4 + 4).map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            format!("{} {} {} {} {} {} {}", name::to_text(&rd[..m]), name::to_text(&rd[m..m + r]), n(0), n(1), n(2), n(3), n(4))
        }
        rr::TXT => {
            let mut out = String::new();
            let mut p = 0;
            while p < rd.len() {
                let l = rd[p] as usize;
                let s = rd.get(p + 1..p + 1 + l).unwrap_or(&[]);
                let _ = write!(out, "{}\"{}\"", if p > 0 { " " } else { "" }, String::from_utf8_lossy(s));
                p += 1 + l;
            }
            out
        }
        rr::DS if rd.len() > 4 => format!("{} {} {} {}", u16::from_be_bytes([rd[0], rd[1]]), rd[2], rd[3], hex(&rd[4..])),
        rr::RRSIG if rd.len() > 18 => {
            let signer_len = name::wire_len(rd, 18).unwrap_or(0);
            format!(
                "{} {} {} {} {} {} {} {} [{} octets]",
                rr::type_name(u16::from_be_bytes([rd[0], rd[1]])),
                rd[2],
                rd[3],
                u32::from_be_bytes([rd[4], rd[5], rd[6], rd[7]]),
                u32::from_be_bytes([rd[8], rd[9], rd[10], rd[11]]),
                u32::from_be_bytes([rd[12], rd[13], rd[14], rd[15]]),
                u16::from_be_bytes([rd[16], rd[17]]),
                name::to_text(&rd[18..18 + signer_len]),
                rd.len() - 18 - signer_len
            )
        }
        rr::NSEC => {
            let l = name::wire_len(rd, 0).unwrap_or(rd.len());
            let mut out = name::to_text(&rd[..l]);
            let mut p = l;
            while p + 2 <= rd.len() {
                let (win, blen) = (rd[p] as u16, rd[p + 1] as usize);
                for (i, byte) in rd.get(p + 2..p + 2 + blen).unwrap_or(&[]).iter().enumerate() {
                    for bit in 0..8 {
                        if byte & (0x80 >> bit) != 0 {
                            let _ = write!(out, " {}", rr::type_name(win * 256 + (i * 8 + bit) as u16));
                        }
                    }
                }
                p += 2 + blen;
            }
            out
        }
        rr::DNSKEY if rd.len() > 4 => format!("{} {} {} [{} octets]", u16::from_be_bytes([rd[0], rd[1]]), rd[2], rd[3], rd.len() - 4),
        _ => format!("\\# {} {}", rd.len(), hex(rd)),
    }
}

/// dig-like text of a message.
pub fn to_text(msg: &[u8]) -> String {
    let Some(m) = decode(msg) else {
        return format!(";; malformed message ({} octets)\n", msg.len());
    };
    let rcode = match m.rcode() {
        0 => "NOERROR".to_string(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    };
    let mut flags = Vec::new();
    for (bit, n) in [(0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"), (0x0080, "ra"), (0x0020, "ad"), (0x0010, "cd")] {
        if m.flags & bit != 0 {
            flags.push(n);
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, ";; ->>HEADER<<- opcode: {}, status: {rcode}, id: {}", (m.flags >> 11) & 0xf, m.id);
    let _ = writeln!(
        out,
        ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
        flags.join(" "),
        m.question.is_some() as u8,
        m.sections[0].len(),
        m.sections[1].len(),
        m.sections[2].len() + m.opt.is_some() as usize
    );
    if let Some((size, _, version, f, rd)) = &m.opt {
        let _ = writeln!(
            out,
            ";; EDNS: version: {version}, flags:{}; udp: {size}{}",
            if f & 0x8000 != 0 { " do" } else { "" },
            if rd.is_empty() { String::new() } else { format!("; options: {} octets", rd.len()) }
        );
    }
    if let Some((n, t, c)) = &m.question {
        let _ = writeln!(out, ";; QUESTION SECTION:\n;{}\t\t{}\t{}", name::to_text(n), class_name(*c), rr::type_name(*t));
    }
    for (title, sec) in ["ANSWER", "AUTHORITY", "ADDITIONAL"].iter().zip(&m.sections) {
        if sec.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n;; {title} SECTION:");
        for r in sec {
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                name::to_text(&r.owner),
                r.ttl,
                class_name(r.class),
                rr::type_name(r.rtype),
                rdata_text(r.rtype, &r.rdata)
            );
        }
    }
    let _ = writeln!(out, "\n;; MSG SIZE: {}", msg.len());
    out
}

fn class_name(c: u16) -> String {
    match c {
        1 => "IN".into(),
        3 => "CH".into(),
        n => format!("CLASS{n}"),
    }
}
