//! ZONEMD (RFC 8976) verification, SIMPLE scheme with SHA-384: the digest over every record of the zone in
//! canonical form and order, less the apex ZONEMD RRset and its signatures.

use sha2::{Digest, Sha384};

use crate::name;
use crate::rr;
use crate::zone::{LoadOptions, Zone, ZoneError};

const SCHEME_SIMPLE: u8 = 1;
const HASH_SHA384: u8 = 1;

/// Verify the zone's ZONEMD if it has one; a mismatch refuses the zone. Records the outcome in `zone.zonemd`.
pub fn check(zone: &mut Zone, opts: &LoadOptions, file: &str) -> Result<(), ZoneError> {
    let Some(set) = zone.apex().rrset(rr::ZONEMD).cloned() else {
        zone.zonemd = "absent (accepted without a digest check)".into();
        zone.warnings.push("zone has no ZONEMD record; contents not verified".into());
        return Ok(());
    };
    if opts.no_zonemd {
        zone.zonemd = "present, NOT verified (--no-zonemd)".into();
        return Ok(());
    }
    let mut supported = None;
    for rd in &set.rdata {
        if rd.len() < 6 {
            return Err(ZoneError::Whole { file: file.into(), reason: "ZONEMD rdata too short".into() });
        }
        let serial = u32::from_be_bytes([rd[0], rd[1], rd[2], rd[3]]);
        if rd[4] == SCHEME_SIMPLE && rd[5] == HASH_SHA384 {
            if serial != zone.serial {
                return Err(ZoneError::Whole {
                    file: file.into(),
                    reason: format!("ZONEMD serial {serial} does not match SOA serial {}", zone.serial),
                });
            }
            supported = Some(rd[6..].to_vec());
        }
    }
    let Some(expected) = supported else {
        zone.zonemd = "present with no supported scheme/algorithm (not verified)".into();
        zone.warnings.push("ZONEMD uses no supported scheme/hash (SIMPLE/SHA-384)".into());
        return Ok(());
    };
    let got = digest(zone);
    if got.as_slice() != expected.as_slice() {
        return Err(ZoneError::Whole {
            file: file.into(),
            reason: format!(
                "ZONEMD mismatch: zone digest is {}, ZONEMD record says {} (the zone was altered or damaged; --no-zonemd skips this check)",
                hex(&got),
                hex(&expected)
            ),
        });
    }
    zone.zonemd = "verified (SIMPLE, SHA-384)".into();
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<String>() + "..."
}

/// One record of an RRset in the digest: canonical rdata and TTL.
type Rr = (Vec<u8>, u32);

/// The SIMPLE SHA-384 digest of the zone (RFC 8976 3.3.1).
pub fn digest(zone: &Zone) -> Vec<u8> {
    let mut nodes: Vec<_> = zone.nodes().collect();
    nodes.sort_by(|a, b| name::canonical_cmp(&a.name, &b.name));
    let mut h = Sha384::new();
    for node in nodes {
        let owner = name::lower(&node.name);
        let is_apex = owner == name::ROOT;
        // Every type at this owner, RRSIG included as a type of its own, in numeric order.
        // (type, [(canonical rdata, ttl)]): RRSIGs of one owner form one type but keep each its own TTL
        // (the root's SOA, NS and DNSKEY signatures differ).
        let mut sets: Vec<(u16, Vec<Rr>)> = Vec::new();
        let mut sig_rrs: Vec<Rr> = Vec::new();
        for set in &node.rrsets {
            if is_apex && set.rtype == rr::ZONEMD {
                continue;
            }
            sets.push((set.rtype, set.rdata.iter().map(|rd| (canonical_rdata(set.rtype, rd), set.ttl)).collect()));
            sig_rrs.extend(set.sigs.iter().map(|rd| (canonical_rdata(rr::RRSIG, rd), set.sig_ttl)));
        }
        if !sig_rrs.is_empty() {
            sets.push((rr::RRSIG, sig_rrs));
        }
        sets.sort_by_key(|s| s.0);
        for (rtype, mut rrs) in sets {
            rrs.sort();
            rrs.dedup_by(|a, b| a.0 == b.0);
            for (rd, ttl) in rrs {
                h.update(&owner);
                h.update(rtype.to_be_bytes());
                h.update(rr::CLASS_IN.to_be_bytes());
                h.update(ttl.to_be_bytes());
                h.update((rd.len() as u16).to_be_bytes());
                h.update(&rd);
            }
        }
    }
    h.finalize().to_vec()
}

/// Rdata in canonical form (RFC 4034 6.2 as amended by RFC 6840 5.1): names lowercased in the types that
/// a root zone holds and that list requires (NS, SOA, RRSIG's signer); NSEC's next name keeps its case.
fn canonical_rdata(rtype: u16, rd: &[u8]) -> Vec<u8> {
    lower_rdata_names(rtype, rd, false)
}

/// Rdata with the names of the listed types lowercased; `nsec_next` lowercases NSEC's next name too (for
/// comparing answers, where case carries no meaning, RFC 4343).
pub fn lower_rdata_names(rtype: u16, rd: &[u8], nsec_next: bool) -> Vec<u8> {
    let mut out = rd.to_vec();
    let lower_at = |out: &mut Vec<u8>, off: usize| -> Option<usize> {
        let len = name::wire_len(out, off)?;
        out[off..off + len].make_ascii_lowercase();
        Some(len)
    };
    match rtype {
        rr::NS | rr::CNAME | rr::PTR => {
            lower_at(&mut out, 0);
        }
        rr::SOA => {
            if let Some(m) = lower_at(&mut out, 0) {
                lower_at(&mut out, m);
            }
        }
        rr::MX => {
            lower_at(&mut out, 2);
        }
        rr::RRSIG => {
            lower_at(&mut out, 18);
        }
        rr::NSEC if nsec_next => {
            lower_at(&mut out, 0);
        }
        _ => {}
    }
    out
}
