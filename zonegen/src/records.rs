//! A zone as a set of records in wire form, the shape zone transfers carry: read out of a [`Zone`],
//! changed by an IXFR's deletions and additions, turned back into a [`Zone`] through the same grouping,
//! validation and ZONEMD check a file gets, and written as a zone file (the secondary's cache).

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};
use domain::base::name::Name;
use domain::base::rdata::ParseRecordData;
use domain::base::zonefile_fmt::{DisplayKind, ZonefileFmt};
use domain::base::{ParsedName, Record, Ttl};
use domain::dep::octseq::Parser;
use domain::rdata::ZoneRecordData;

use crate::name;
use crate::rr;
use crate::zone::{LoadOptions, Raw, Zone, ZoneError};

/// One record: owner and rdata in uncompressed wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// Why a change could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("deleting {0}, which the zone does not have")]
    NotThere(String),
}

/// The records of a zone, each once (owner compared without case), in canonical-ish order.
#[derive(Clone, Debug, Default)]
pub struct RecordSet {
    records: BTreeMap<(Vec<u8>, u16, Vec<u8>), Rr>,
}

fn key(r: &Rr) -> (Vec<u8>, u16, Vec<u8>) {
    (name::lower(&r.owner), r.rtype, r.rdata.clone())
}

impl RecordSet {
    /// Every record of `zone`: each RRset's data, and the RRSIGs covering it.
    pub fn of_zone(zone: &Zone) -> RecordSet {
        let mut set = RecordSet::default();
        for node in zone.nodes() {
            for s in &node.rrsets {
                for d in &s.rdata {
                    set.add(Rr { owner: node.name.clone(), rtype: s.rtype, class: rr::CLASS_IN, ttl: s.ttl, rdata: d.clone() });
                }
                for d in &s.sigs {
                    set.add(Rr { owner: node.name.clone(), rtype: rr::RRSIG, class: rr::CLASS_IN, ttl: s.sig_ttl, rdata: d.clone() });
                }
            }
        }
        set
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every record, by owner and type.
    pub fn iter(&self) -> impl Iterator<Item = &Rr> {
        self.records.values()
    }

    /// Add a record (replacing one with the same owner, type and data: its TTL changes).
    pub fn add(&mut self, r: Rr) {
        self.records.insert(key(&r), r);
    }

    /// Delete a record (the TTL is not compared, RFC 1995 4); an IXFR deleting what is not there is
    /// out of step with this copy.
    pub fn delete(&mut self, r: &Rr) -> Result<(), ChangeError> {
        match self.records.remove(&key(r)) {
            Some(_) => Ok(()),
            None => Err(ChangeError::NotThere(format!("{} {}", name::to_text(&r.owner), rr::type_name(r.rtype)))),
        }
    }

    /// The apex SOA's serial, when there is one SOA.
    pub fn serial(&self) -> Option<u32> {
        let mut soas = self.records.values().filter(|r| r.rtype == rr::SOA && name::lower(&r.owner) == name::ROOT);
        let soa = soas.next()?;
        if soas.next().is_some() {
            return None;
        }
        crate::zone::soa_fields(&soa.rdata).map(|(serial, _)| serial)
    }

    /// The apex SOA record.
    pub fn soa(&self) -> Option<&Rr> {
        self.records.values().find(|r| r.rtype == rr::SOA && name::lower(&r.owner) == name::ROOT)
    }

    /// The zone these records make, checked as a file is (`label` names it in errors).
    pub fn to_zone(&self, label: &Path, opts: &LoadOptions) -> Result<Zone, ZoneError> {
        let raws = self
            .ordered()
            .enumerate()
            .map(|(i, r)| Raw { owner: r.owner.clone(), rtype: r.rtype, class: r.class, ttl: r.ttl, rdata: r.rdata.clone(), line: i + 1 })
            .collect();
        Zone::from_raws(raws, label, opts)
    }

    /// SOA first, then the rest by owner and type: the order of a transfer and of the file written.
    fn ordered(&self) -> impl Iterator<Item = &Rr> {
        let soa = self.soa();
        soa.into_iter().chain(self.records.values().filter(move |r| Some(*r) != soa))
    }

    /// The records as a zone file, one per line in presentation format (as `domain` writes them, which
    /// its reader, the one every zone file goes through, reads back).
    pub fn to_text(&self) -> Result<String, String> {
        let mut out = String::with_capacity(self.records.len() * 120);
        for r in self.ordered() {
            out.push_str(&presentation(r)?);
            out.push('\n');
        }
        Ok(out)
    }
}

/// One record in presentation format.
pub fn presentation(r: &Rr) -> Result<String, String> {
    let owner = Name::<Bytes>::from_octets(Bytes::copy_from_slice(&r.owner)).map_err(|e| format!("owner: {e}"))?;
    let rdata = Bytes::copy_from_slice(&r.rdata);
    let mut p = Parser::from_ref(&rdata);
    let data = ZoneRecordData::<Bytes, ParsedName<Bytes>>::parse_rdata(Rtype::from_int(r.rtype), &mut p)
        .map_err(|e| format!("{} {}: {e}", name::to_text(&r.owner), rr::type_name(r.rtype)))?
        .ok_or_else(|| format!("{} type {}: no rdata parser", name::to_text(&r.owner), r.rtype))?;
    let rec = Record::new(owner, Class::from_int(r.class), Ttl::from_secs(r.ttl), data);
    Ok(rec.display_zonefile(DisplayKind::Simple).to_string())
}
