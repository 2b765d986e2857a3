//! What the fuzz targets share: the bundled zone and its compiled table (loaded once: the zone is 2 MB and
//! takes seconds to read and compile, far longer than one input), the server configurations answers are
//! checked under, and the response checks made with an independent parser (`domain`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use domain::base::Message;
use domain::base::iana::{Opcode, OptRcode};
use domain::base::name::ParsedName;
use domain::rdata::AllRecordData;
use zonegen::fast::FastTable;
use zonegen::{LoadOptions, ServerConfig, Zone};

/// The zone every query target answers from: the one the project ships and serves in its tests.
pub fn bundled_zone_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102")
}

pub fn root() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| Zone::load(&bundled_zone_path(), &LoadOptions::default()).expect("the bundled zone loads"))
}

/// The userspace fast table over the bundled zone, as the daemon builds it.
pub fn fast() -> &'static FastTable {
    static F: OnceLock<FastTable> = OnceLock::new();
    F.get_or_init(|| FastTable::new(zonegen::compile(root())))
}

/// The two configurations answers are checked under: the library default (no CHAOS, no NSID) and one as
/// deployed, with CHAOS, an identity, a version and NSID on, so that those paths are fuzzed too.
pub fn configs() -> &'static [ServerConfig; 2] {
    static C: OnceLock<[ServerConfig; 2]> = OnceLock::new();
    C.get_or_init(|| {
        [
            ServerConfig::default(),
            ServerConfig { chaos: true, identity: Some("m1.fuzz".into()), version: Some("m-root-xdp fuzz".into()), nsid: true },
        ]
    })
}

/// The question section a query carries, by RFC 1035 alone (not zonegen's parser): QDCOUNT 1, an
/// uncompressed name of labels of at most 63 octets and at most 255 octets in all, then type and class.
/// Its end offset, or None when there is no such question to echo.
pub fn question_end(msg: &[u8]) -> Option<usize> {
    if msg.len() < 12 || msg[4..6] != [0, 1] {
        return None;
    }
    let mut pos = 12;
    loop {
        let len = *msg.get(pos)? as usize;
        if len > 63 {
            return None;
        }
        pos += 1 + len;
        if len == 0 {
            break;
        }
    }
    if pos - 12 > 255 || msg.len() < pos + 4 {
        return None;
    }
    Some(pos + 4)
}

/// What a response said, as `domain` read it.
pub struct Decoded {
    pub id: u16,
    pub qr: bool,
    pub opcode: Opcode,
    pub rd: bool,
    pub cd: bool,
    pub tc: bool,
    pub rcode: OptRcode,
    pub counts: [u16; 4],
}

/// Parse a response completely with `domain`: the header, every question, every record with its rdata
/// parsed by type, and nothing left over after the last section. Err says what did not parse.
pub fn decode(resp: &[u8]) -> Result<Decoded, String> {
    let msg = Message::from_octets(resp).map_err(|e| format!("header: {e}"))?;
    let h = msg.header();
    let c = msg.header_counts();
    let mut question = msg.question();
    for q in &mut question {
        q.map_err(|e| format!("question: {e}"))?;
    }
    let mut section = question.answer().map_err(|e| format!("question section: {e}"))?;
    let mut end = 0;
    for name in ["answer", "authority", "additional"] {
        // Iterate a copy for the records, then move the original on: next_section skips what it has not read.
        let mut records = section;
        for rec in &mut records {
            let rec = rec.map_err(|e| format!("{name}: {e}"))?;
            rec.into_any_record::<AllRecordData<_, ParsedName<_>>>().map_err(|e| format!("{name} rdata: {e}"))?;
        }
        end = records.pos();
        match section.next_section().map_err(|e| format!("{name}: {e}"))? {
            Some(next) => section = next,
            None => break,
        }
    }
    if end != resp.len() {
        return Err(format!("{} octets after the last record (it ends at {end})", resp.len() - end));
    }
    Ok(Decoded {
        id: h.id(),
        qr: h.qr(),
        opcode: h.opcode(),
        rd: h.rd(),
        cd: h.cd(),
        tc: h.tc(),
        rcode: msg.opt_rcode(),
        counts: [c.qdcount(), c.ancount(), c.nscount(), c.arcount()],
    })
}

/// The EDNS a query carries as `domain` reads it: (UDP payload size, DO). None without OPT, or when
/// `domain` cannot walk the message to its additional section.
pub fn query_edns(msg: &[u8]) -> Option<(u16, bool)> {
    let m = Message::from_octets(msg).ok()?;
    let opt = m.opt()?;
    Some((opt.udp_payload_size(), opt.dnssec_ok()))
}
