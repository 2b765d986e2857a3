//! The zone model: a root zone read from an RFC 1035 master file, validated, held as RRsets per owner.
//!
//! Parsing is NLnet Labs' `domain` crate (it reads every legal spelling and knows ZONEMD); the store is our
//! own, because `domain`'s zone tree refuses the NSEC and RRSIG records every signed TLD has at its cut.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::Name;
use domain::base::iana::Class;
use domain::base::name::ToName;
use domain::base::rdata::ComposeRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use crate::name;
use crate::rr;

/// One RRset with the RRSIGs that cover it.
#[derive(Clone, Debug)]
pub struct RRset {
    pub rtype: u16,
    pub ttl: u32,
    /// Rdata in uncompressed wire form, in file order, duplicates removed.
    pub rdata: Vec<Vec<u8>>,
    pub sig_ttl: u32,
    /// RRSIG rdata covering this RRset.
    pub sigs: Vec<Vec<u8>>,
}

/// All RRsets of one owner name.
#[derive(Clone, Debug)]
pub struct Node {
    /// Owner as written in the file (wire form).
    pub name: Vec<u8>,
    pub rrsets: Vec<RRset>,
    /// Line of the first record of this owner.
    pub line: usize,
}

impl Node {
    pub fn rrset(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// A validated root zone.
#[derive(Clone, Debug)]
pub struct Zone {
    /// Where it came from, for messages.
    pub source: PathBuf,
    /// Owner nodes by lowercased wire name.
    nodes: HashMap<Vec<u8>, Node>,
    /// Delegated TLDs: lowercased single-label wire names, in DNSSEC canonical order.
    pub tlds: Vec<Vec<u8>>,
    pub serial: u32,
    /// SOA TTL and MINIMUM, for negative answers (RFC 2308 3).
    pub soa_ttl: u32,
    pub soa_minimum: u32,
    /// The zone carries DNSKEY at the apex.
    pub signed: bool,
    pub record_count: usize,
    /// Warnings that do not refuse the zone (expired signatures, missing ZONEMD, ...).
    pub warnings: Vec<String>,
    /// ZONEMD status line for summaries.
    pub zonemd: String,
}

/// Why a zone was refused: file, line and reason.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("{file}:{line}: {reason}")]
    At { file: String, line: usize, reason: String },
    #[error("{file}: {reason}")]
    Whole { file: String, reason: String },
}

/// Loading options.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Skip ZONEMD verification (stated in the summary).
    pub no_zonemd: bool,
}

/// A record as read, before grouping.
pub(crate) struct Raw {
    pub(crate) owner: Vec<u8>,
    pub(crate) rtype: u16,
    pub(crate) class: u16,
    pub(crate) ttl: u32,
    pub(crate) rdata: Vec<u8>,
    pub(crate) line: usize,
}

impl Zone {
    /// Read, parse and validate a zone file.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Zone, ZoneError> {
        let file = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ZoneError::Io { file: file.clone(), source })?;
        Self::from_bytes(&text, path, opts)
    }

    /// Parse and validate zone text; `path` names it in errors.
    pub fn from_bytes(text: &[u8], path: &Path, opts: &LoadOptions) -> Result<Zone, ZoneError> {
        let file = path.display().to_string();
        Self::from_raws(parse(text, &file)?, path, opts)
    }

    /// Group, validate and check (ZONEMD) records given in wire form, as a file's are after parsing;
    /// `path` names the zone in errors (a transfer: its primary).
    pub(crate) fn from_raws(raws: Vec<Raw>, path: &Path, opts: &LoadOptions) -> Result<Zone, ZoneError> {
        let file = path.display().to_string();
        let mut zone = build(raws, &file)?;
        zone.source = path.to_path_buf();
        crate::validate::validate(&zone, &file)?;
        crate::validate::check_signature_times(&mut zone);
        crate::zonemd::check(&mut zone, opts, &file)?;
        Ok(zone)
    }

    /// The node at `name` (any case).
    pub fn node(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.get(&name::lower(name))
    }

    pub fn apex(&self) -> &Node {
        // validate() guarantees the apex exists.
        self.nodes.get(name::ROOT).expect("validated zone has an apex")
    }

    pub fn rrset(&self, name: &[u8], rtype: u16) -> Option<&RRset> {
        self.node(name).and_then(|n| n.rrset(rtype))
    }

    /// The apex SOA RRset.
    pub fn soa(&self) -> &RRset {
        self.apex().rrset(rr::SOA).expect("validated zone has a SOA")
    }

    /// Is `tld` (a lowercased one-label wire name, e.g. `\x02jp\x00`) a delegated TLD?
    pub fn is_tld(&self, tld: &[u8]) -> bool {
        self.tlds.binary_search_by(|t| name::canonical_cmp(t, tld)).is_ok()
    }

    /// All nodes, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The owner of the NSEC whose interval covers `target`, a name under no delegated TLD: the last TLD
    /// sorting before `target`'s TLD label, or the apex when that label sorts before every TLD. (After the
    /// last TLD the last TLD's interval covers it: its NSEC wraps to the apex.)
    pub fn covering_nsec_owner(&self, target: &[u8]) -> &Node {
        // In a root zone the NSEC chain runs over the apex and the TLDs; names below a TLD sort after it
        // and before the next TLD, so the covering owner is found among the TLD labels alone.
        let tld = name::suffix(target, 1);
        let idx = self.tlds.partition_point(|t| name::canonical_cmp(t, tld) != std::cmp::Ordering::Greater);
        if idx == 0 {
            return self.apex();
        }
        self.node(&self.tlds[idx - 1]).unwrap_or_else(|| self.apex())
    }
}

/// Parse every record with `domain`'s scanner, each with the line it starts on.
fn parse(text: &[u8], file: &str) -> Result<Vec<Raw>, ZoneError> {
    // `domain` 0.12.3 reads the character strings of a TXT record until the line feed that ends its entry;
    // when the file ends first (no final newline, or inside parentheses), it indexes past its buffer and
    // panics (inplace.rs convert_charstr). So it is never given such a file: a missing final newline is
    // supplied, as BIND, NSD and Knot read a last line without one, and parentheses still open at the end
    // are refused here, at the line that opened them.
    let (entries, open_paren) = entry_lines(text);
    if let Some(line) = open_paren {
        return Err(ZoneError::At { file: file.to_string(), line, reason: "parenthesis not closed by the end of the file".into() });
    }
    // Nor an $INCLUDE, which is refused anyway: `domain` 0.12.3 asserts (inplace.rs scan_name, "missing
    // token prefix space") on an origin right after a quoted file name (`$INCLUDE""x.`), found by the
    // zone_file fuzz target.
    if let Some(e) = entries.iter().find(|e| e.include) {
        return Err(ZoneError::At { file: file.to_string(), line: e.line, reason: "$INCLUDE is not supported".into() });
    }
    let mut zf = Zonefile::with_capacity(text.len() + 1);
    zf.extend_from_slice(text);
    if text.last().is_some_and(|&c| c != b'\n') {
        zf.extend_from_slice(b"\n");
    }
    zf.set_origin(Name::<Bytes>::root());
    // RFC 1035 5.1 lets a record omit its class and take the last one stated, but gives none for records
    // before any class is stated; `domain` then refuses them ("missing last class"). BIND, NSD and Knot read
    // them as the zone's class, and a root zone is IN. This also makes an explicit other class an error at
    // its own line (domain's RFC 1035 5.2 "different class" check), wherever it appears.
    zf.set_default_class(Class::IN);
    let mut out = Vec::with_capacity(32 * 1024);
    // `domain` gives no position for the entries it returns, and its byte offset lags behind its reading
    // (it trims its buffer only as far as the tokens it converts in place), so the lines come from our own
    // pass over the same lexical structure: the n-th entry it returns is the n-th one that pass found.
    let mut next = 0usize;
    loop {
        let entry = match zf.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return Err(scan_error(&e.to_string(), &entries[next.min(entries.len())..], file)),
        };
        // $ORIGIN and $TTL are consumed inside next_entry; the entry returned is the next one after them.
        while entries.get(next).is_some_and(|e| e.internal) {
            next += 1;
        }
        let line = entries.get(next).or(entries.last()).map_or(0, |e| e.line);
        next += 1;
        match entry {
            Entry::Record(rec) => {
                let owner = rec.owner().to_vec().into_octets();
                let mut rdata = Vec::new();
                rec.data().compose_rdata(&mut rdata).map_err(|_| ZoneError::At {
                    file: file.to_string(),
                    line,
                    reason: "rdata too long".into(),
                })?;
                let class = rec.class();
                out.push(Raw {
                    owner,
                    rtype: rec.rtype().to_int(),
                    class: if class == Class::IN { rr::CLASS_IN } else { class.to_int() },
                    ttl: rec.ttl().as_secs(),
                    rdata,
                    line,
                });
            }
            Entry::Include { .. } => {
                return Err(ZoneError::At { file: file.to_string(), line, reason: "$INCLUDE is not supported".into() });
            }
        }
    }
    Ok(out)
}

/// Where one entry of the file sits, as `domain`'s scanner delimits entries.
struct EntryLines {
    /// Line of its first token.
    line: usize,
    /// Line of its last token's start: where an entry cut short was found to be.
    last: usize,
    /// `$ORIGIN` or `$TTL`, which `domain` applies without returning them.
    internal: bool,
    /// `$INCLUDE`.
    include: bool,
}

/// Entry positions by `domain`'s lexical rules (inplace.rs `next_item`): tokens end at blanks, parentheses,
/// `;` and `"`; `\` escapes the next character; an unescaped line feed counts a line, and ends the entry
/// outside parentheses; a `$` token at column 1 starting an entry is a directive. Also the line of the
/// outermost parenthesis still open at the end of the text, if one is.
fn entry_lines(text: &[u8]) -> (Vec<EntryLines>, Option<usize>) {
    let mut entries: Vec<EntryLines> = Vec::with_capacity(text.len() / 64);
    let (mut line, mut parens, mut open, mut i) = (1usize, 0usize, false, 0usize);
    let mut paren_line = 0usize;
    while let Some(&c) = text.get(i) {
        match c {
            b'\n' => {
                line += 1;
                open &= parens > 0;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' | b')' => {
                if c == b'(' && parens == 0 {
                    paren_line = line;
                }
                parens = if c == b'(' { parens + 1 } else { parens.saturating_sub(1) };
                i += 1;
                continue;
            }
            b';' => {
                i += text[i..].iter().position(|&c| c == b'\n').unwrap_or(text.len() - i);
                continue;
            }
            _ => {}
        }
        let (token_line, token_start) = (line, i);
        if c == b'"' {
            i += 1;
            while let Some(&c) = text.get(i) {
                match c {
                    b'"' => break,
                    b'\\' => i += 1,
                    b'\n' => line += 1,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        } else {
            while let Some(&c) = text.get(i) {
                if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b';' | b'"') {
                    break;
                }
                i += if c == b'\\' { 2 } else { 1 };
            }
        }
        if open {
            if let Some(e) = entries.last_mut() {
                e.last = token_line;
            }
            continue;
        }
        open = true;
        let token = text.get(token_start..i.min(text.len())).unwrap_or_default();
        let column_one = token_start.checked_sub(1).and_then(|p| text.get(p)).is_none_or(|&c| c == b'\n');
        let internal = column_one && (token.eq_ignore_ascii_case(b"$ORIGIN") || token.eq_ignore_ascii_case(b"$TTL"));
        let include = column_one && token.eq_ignore_ascii_case(b"$INCLUDE");
        entries.push(EntryLines { line: token_line, last: token_line, internal, include });
    }
    (entries, (parens > 0).then_some(paren_line))
}

/// A scanner error, at the line of the fault. `domain` says "LINE:COL: msg"; when it only noticed a record
/// was cut short on reading the line feed after it, that is column 1 of the next line, and the record's own
/// last line is named instead. `pending` holds the entries from the one `domain` was reading on.
fn scan_error(text: &str, pending: &[EntryLines], file: &str) -> ZoneError {
    let whole = |reason: String| ZoneError::Whole { file: file.to_string(), reason };
    let mut parts = text.splitn(3, ':');
    let line = parts.next().and_then(|s| s.parse::<usize>().ok());
    let col = parts.next().and_then(|s| s.parse::<usize>().ok());
    let (Some(line), Some(col), Some(msg)) = (line, col, parts.next()) else {
        return whole(format!("line {text}"));
    };
    let msg = msg.trim_start();
    let cut_short = if col == 1 { pending.iter().rev().find(|e| e.line < line).filter(|e| e.last < line) } else { None };
    match cut_short {
        Some(e) => whole(format!("line {}: {msg} (at the end of the line)", e.last)),
        None => whole(format!("line {line}:{col}: {msg}")),
    }
}

/// Group records into nodes and RRsets, attaching RRSIGs to the RRset they cover.
pub(crate) fn build(raws: Vec<Raw>, file: &str) -> Result<Zone, ZoneError> {
    let record_count = raws.len();
    let mut nodes: HashMap<Vec<u8>, Node> = HashMap::new();
    let mut sigs: Vec<Raw> = Vec::new();
    for r in raws {
        if r.class != rr::CLASS_IN {
            return Err(ZoneError::At { file: file.into(), line: r.line, reason: format!("class {} is not IN", r.class) });
        }
        if r.rtype == rr::RRSIG {
            sigs.push(r);
            continue;
        }
        let key = name::lower(&r.owner);
        let node = nodes.entry(key).or_insert_with(|| Node { name: r.owner.clone(), rrsets: Vec::new(), line: r.line });
        match node.rrsets.iter_mut().find(|s| s.rtype == r.rtype) {
            Some(set) => {
                // RFC 2181 5.2: one TTL per RRset; use the lowest, as servers do.
                set.ttl = set.ttl.min(r.ttl);
                if !set.rdata.contains(&r.rdata) {
                    set.rdata.push(r.rdata);
                }
            }
            None => node.rrsets.push(RRset { rtype: r.rtype, ttl: r.ttl, rdata: vec![r.rdata], sig_ttl: 0, sigs: Vec::new() }),
        }
    }
    for s in sigs {
        if s.rdata.len() < 18 {
            return Err(ZoneError::At { file: file.into(), line: s.line, reason: "RRSIG rdata too short".into() });
        }
        let covered = u16::from_be_bytes([s.rdata[0], s.rdata[1]]);
        let node = nodes.get_mut(&name::lower(&s.owner)).ok_or_else(|| ZoneError::At {
            file: file.into(),
            line: s.line,
            reason: format!("RRSIG at {} covers no data", name::to_text(&s.owner)),
        })?;
        let set = node.rrsets.iter_mut().find(|set| set.rtype == covered).ok_or_else(|| ZoneError::At {
            file: file.into(),
            line: s.line,
            reason: format!("RRSIG covers {} {}, which the zone does not have", name::to_text(&s.owner), rr::type_name(covered)),
        })?;
        set.sig_ttl = if set.sigs.is_empty() { s.ttl } else { set.sig_ttl.min(s.ttl) };
        if !set.sigs.contains(&s.rdata) {
            set.sigs.push(s.rdata);
        }
    }
    let mut tlds: Vec<Vec<u8>> =
        nodes.iter().filter(|(k, n)| name::label_count(k) == 1 && n.rrset(rr::NS).is_some()).map(|(k, _)| k.clone()).collect();
    tlds.sort_by(|a, b| name::canonical_cmp(a, b));
    let apex = nodes.get(name::ROOT).ok_or_else(|| ZoneError::Whole { file: file.into(), reason: "no records at the apex (.)".into() })?;
    let soa = apex.rrset(rr::SOA).ok_or_else(|| ZoneError::Whole { file: file.into(), reason: "no SOA at the apex".into() })?;
    let (serial, minimum) = soa_fields(&soa.rdata[0]).ok_or_else(|| ZoneError::At {
        file: file.into(),
        line: apex.line,
        reason: "malformed SOA rdata".into(),
    })?;
    let soa_ttl = soa.ttl;
    let signed = apex.rrset(rr::DNSKEY).is_some();
    Ok(Zone {
        source: PathBuf::new(),
        nodes,
        tlds,
        serial,
        soa_ttl,
        soa_minimum: minimum,
        signed,
        record_count,
        warnings: Vec::new(),
        zonemd: String::new(),
    })
}

/// The five numbers of SOA rdata, after MNAME and RNAME: SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
pub fn soa_numbers(rdata: &[u8]) -> Option<[u32; 5]> {
    let m = name::wire_len(rdata, 0)?;
    let r = name::wire_len(rdata, m)?;
    let rest = rdata.get(m + r..m + r + 20)?;
    let at = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
    Some([at(0), at(4), at(8), at(12), at(16)])
}

/// SERIAL and MINIMUM from SOA rdata.
pub fn soa_fields(rdata: &[u8]) -> Option<(u32, u32)> {
    soa_numbers(rdata).map(|n| (n[0], n[4]))
}
