//! Rules a zone must meet before anything is served from it; each failure names the file, line and reason.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::name;
use crate::rr;
use crate::zone::{Zone, ZoneError};

pub fn validate(zone: &Zone, file: &str) -> Result<(), ZoneError> {
    let at = |line: usize, reason: String| ZoneError::At { file: file.into(), line, reason };
    let apex = zone.apex();
    let soa = apex.rrset(rr::SOA).ok_or_else(|| at(apex.line, "no SOA at the apex".into()))?;
    if soa.rdata.len() != 1 {
        return Err(at(apex.line, format!("{} SOA records at the apex; exactly one is allowed", soa.rdata.len())));
    }
    if apex.rrset(rr::NS).is_none() {
        return Err(at(apex.line, "no NS RRset at the apex".into()));
    }
    for node in zone.nodes() {
        let labels = name::label_count(&node.name);
        if labels == 0 {
            continue;
        }
        if labels == 1 {
            if node.rrset(rr::NS).is_none() {
                // A TLD without NS is authoritative data in the root zone: refuse, root zones hold none.
                return Err(at(
                    node.line,
                    format!("{} has data but no NS: a root zone holds only delegations below the apex", name::to_text(&node.name)),
                ));
            }
            for set in &node.rrsets {
                if !matches!(set.rtype, rr::NS | rr::DS | rr::NSEC | rr::A | rr::AAAA) {
                    return Err(at(
                        node.line,
                        format!(
                            "{} {} at a delegation point: only NS, DS, NSEC and glue belong there",
                            name::to_text(&node.name),
                            rr::type_name(set.rtype)
                        ),
                    ));
                }
            }
            continue;
        }
        // Below a TLD: only glue, and only under a delegated TLD.
        if node.rrset(rr::NS).is_some() {
            return Err(at(node.line, format!("delegation {} is more than one label below the apex", name::to_text(&node.name))));
        }
        let tld = name::lower(name::suffix(&node.name, 1));
        if !zone.is_tld(&tld) {
            return Err(at(node.line, format!("{} is below {}, which is not delegated", name::to_text(&node.name), name::to_text(&tld))));
        }
        for set in &node.rrsets {
            if !matches!(set.rtype, rr::A | rr::AAAA) {
                return Err(at(
                    node.line,
                    format!(
                        "{} {} below a delegation: only glue (A/AAAA) is allowed there",
                        name::to_text(&node.name),
                        rr::type_name(set.rtype)
                    ),
                ));
            }
        }
    }
    // Glue for in-domain name servers (RFC 9471: a name server below its own delegation cannot be reached
    // without it). Sibling name servers (below another TLD) may lack glue.
    for tld in &zone.tlds {
        let Some(node) = zone.node(tld) else { continue };
        let Some(ns) = node.rrset(rr::NS) else { continue };
        for target in &ns.rdata {
            let target_tld = name::lower(name::suffix(target, 1));
            if name::label_count(target) < 2 || target_tld != *tld {
                continue;
            }
            let has_glue = zone.node(target).is_some_and(|n| n.rrset(rr::A).is_some() || n.rrset(rr::AAAA).is_some());
            if !has_glue {
                return Err(at(
                    node.line,
                    format!("{} NS {}: no glue address for an in-bailiwick name server", name::to_text(&node.name), name::to_text(target)),
                ));
            }
        }
    }
    if zone.signed {
        validate_dnssec(zone, file)?;
    }
    Ok(())
}

/// A signed zone: the NSEC chain is closed in canonical order over the apex and every TLD, and every
/// authoritative RRset carries an RRSIG.
fn validate_dnssec(zone: &Zone, file: &str) -> Result<(), ZoneError> {
    let at = |line: usize, reason: String| ZoneError::At { file: file.into(), line, reason };
    let mut chain: Vec<&[u8]> = vec![name::ROOT];
    chain.extend(zone.tlds.iter().map(Vec::as_slice));
    for (i, owner) in chain.iter().enumerate() {
        let node = zone.node(owner).ok_or_else(|| at(0, format!("{} vanished", name::to_text(owner))))?;
        let nsec = node.rrset(rr::NSEC).ok_or_else(|| at(node.line, format!("{} has no NSEC in a signed zone", name::to_text(owner))))?;
        let next_len = name::wire_len(&nsec.rdata[0], 0).ok_or_else(|| at(node.line, "malformed NSEC".into()))?;
        let next = name::lower(&nsec.rdata[0][..next_len]);
        let want = chain[(i + 1) % chain.len()];
        if next != want {
            return Err(at(
                node.line,
                format!(
                    "NSEC chain broken: {} NSEC points to {}, the next name in canonical order is {}",
                    name::to_text(owner),
                    name::to_text(&next),
                    name::to_text(want)
                ),
            ));
        }
        for set in &node.rrsets {
            let authoritative = i == 0 || matches!(set.rtype, rr::DS | rr::NSEC);
            if authoritative && set.sigs.is_empty() {
                return Err(at(node.line, format!("{} {} has no RRSIG in a signed zone", name::to_text(owner), rr::type_name(set.rtype))));
            }
        }
    }
    Ok(())
}

/// Expired or not-yet-valid signatures are a warning, not a refusal: a server serves what it is given.
pub fn check_signature_times(zone: &mut Zone) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut expired = 0usize;
    let mut future = 0usize;
    let mut earliest_expiry = u64::MAX;
    for node in zone.nodes() {
        for set in &node.rrsets {
            for sig in &set.sigs {
                let exp = u32::from_be_bytes([sig[8], sig[9], sig[10], sig[11]]) as u64;
                let inc = u32::from_be_bytes([sig[12], sig[13], sig[14], sig[15]]) as u64;
                // RFC 4034 3.1.5 serial arithmetic; plain comparison is right until 2106.
                if exp < now {
                    expired += 1;
                }
                if inc > now {
                    future += 1;
                }
                earliest_expiry = earliest_expiry.min(exp);
            }
        }
    }
    if expired > 0 {
        zone.warnings
            .push(format!("{expired} RRSIGs have expired (earliest expiry {} s since epoch); serving them anyway", earliest_expiry));
    }
    if future > 0 {
        zone.warnings.push(format!("{future} RRSIGs are not yet valid"));
    }
}
