//! Transfers to others (`[transfer]`, off by default): AXFR (RFC 5936) and IXFR (RFC 1995) over TCP to
//! the prefixes allowed, TSIG-signed when a key is set (then an unsigned request is refused), as some root
//! instances serve the zone to RFC 8806 local copies. An IXFR from the serial served gets the single SOA
//! that says so; from any other serial the whole zone (RFC 1995 4 allows it: no history is kept here).
//! Everything else (a source not allowed, UDP) is answered REFUSED by the answer function.

use std::net::IpAddr;

use anyhow::{Result, anyhow};
use bytes::Bytes;
use domain::base::iana::{Class, Rcode, Rtype};
use domain::base::message_builder::AnswerBuilder;
use domain::base::{Message, MessageBuilder, Name, Record, Ttl, UnknownRecordData};
use domain::rdata::tsig::Time48;
use domain::tsig::{Key, ServerSequence};
use ipnet::IpNet;
use serde::Deserialize;
use zonegen::Zone;
use zonegen::records::{RecordSet, Rr};

/// The section as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TransferSection {
    #[serde(default)]
    pub allow: Vec<IpNet>,
    #[serde(default)]
    pub tsig_key: Option<String>,
}

/// Each key with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 2] = [
    ("transfer.allow", "[] (none)", "Prefixes allowed to transfer the zone from this server (AXFR, IXFR over TCP)."),
    (
        "transfer.tsig_key",
        "none",
        "When set, a transfer request must be signed with this key ([algorithm:]name:secret); the answer is signed too.",
    ),
];

/// Octets of answer records per message (a TCP message may hold 65,535).
const MESSAGE_FILL: usize = 16_000;

#[derive(Clone, Debug)]
pub struct Outgoing {
    pub allow: Vec<IpNet>,
    pub key: Option<Key>,
}

impl TransferSection {
    /// None when nothing is allowed (transfers off).
    pub fn resolve(&self) -> Result<Option<Outgoing>> {
        let key = match &self.tsig_key {
            Some(spec) => Some(super::key::from_spec(spec).map_err(|e| anyhow!("transfer.tsig_key: {e:#}"))?),
            None => None,
        };
        Ok((!self.allow.is_empty()).then_some(Outgoing { allow: self.allow.clone(), key }))
    }
}

/// REFUSED for a transfer request this server does not serve (no `[transfer]`, or a source it does not
/// allow), whatever else the request carries (a TSIG record, which the answer function does not read).
pub fn refuse(query: &[u8]) -> Option<Vec<u8>> {
    let msg = Message::from_octets(query.to_vec()).ok()?;
    let q = msg.sole_question().ok()?;
    if msg.header().qr() || (q.qtype() != Rtype::AXFR && q.qtype() != Rtype::IXFR) {
        return None;
    }
    super::header_answer(&msg, Rcode::REFUSED)
}

fn header_only(msg: &Message<Vec<u8>>, rcode: Rcode) -> Option<Vec<Vec<u8>>> {
    super::header_answer(msg, rcode).map(|m| vec![m])
}

impl Outgoing {
    /// The messages answering a transfer request from `peer` over TCP; None when `query` is not one this
    /// serves (another query, or a source not allowed: the answer function answers it).
    pub fn answer(&self, zone: &Zone, peer: IpAddr, query: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut msg = Message::from_octets(query.to_vec()).ok()?;
        let q = msg.sole_question().ok()?;
        let qtype = q.qtype();
        if (qtype != Rtype::AXFR && qtype != Rtype::IXFR) || !crate::limits::contains(&self.allow, peer) {
            return None;
        }
        if !q.qname().is_root() || q.qclass() != Class::IN {
            return header_only(&msg, Rcode::NOTAUTH);
        }
        // The client's serial (IXFR): the SOA in the authority section.
        let theirs = msg.authority().ok().and_then(|mut a| a.next()).and_then(|r| r.ok()).and_then(|r| {
            let soa = r.to_record::<domain::rdata::Soa<domain::base::ParsedName<&[u8]>>>().ok().flatten()?;
            Some(soa.data().serial().into_int())
        });
        let mut seq = match &self.key {
            Some(key) => match ServerSequence::request(key, &mut msg, Time48::now()) {
                Ok(Some(s)) => Some(s),
                Ok(None) => {
                    log::warn!("transfer: unsigned {qtype} from {peer}: REFUSED (transfer.tsig_key is set)");
                    return header_only(&msg, Rcode::REFUSED);
                }
                Err(e) => {
                    log::warn!("transfer: {qtype} from {peer} fails TSIG ({})", e.error());
                    return e.build_message(&msg, MessageBuilder::new_vec()).ok().map(|m| vec![m.finish()]);
                }
            },
            None => None,
        };
        let set = RecordSet::of_zone(zone);
        let soa = set.soa()?.clone();
        let records: Vec<&Rr> = if qtype == Rtype::IXFR && theirs == Some(zone.serial) {
            // Up to date: the one SOA (RFC 1995 4).
            vec![&soa]
        } else {
            std::iter::once(&soa).chain(set.iter().filter(|r| **r != soa)).chain(std::iter::once(&soa)).collect()
        };
        let mut out = Vec::new();
        let mut chunk: Vec<&Rr> = Vec::new();
        let mut fill = 0;
        for r in records {
            if fill + r.owner.len() + r.rdata.len() + 10 > MESSAGE_FILL && !chunk.is_empty() {
                out.push(message(&msg, &chunk, seq.as_mut())?);
                chunk.clear();
                fill = 0;
            }
            fill += r.owner.len() + r.rdata.len() + 10;
            chunk.push(r);
        }
        out.push(message(&msg, &chunk, seq.as_mut())?);
        log::info!("transfer: {qtype} of serial {} to {peer}: {} messages", zone.serial, out.len());
        Some(out)
    }
}

/// One message of the answer: the question, `records`, AA, and the TSIG of the sequence when signed.
fn message(query: &Message<Vec<u8>>, records: &[&Rr], seq: Option<&mut ServerSequence<Key>>) -> Option<Vec<u8>> {
    let mut a: AnswerBuilder<Vec<u8>> = MessageBuilder::new_vec().start_answer(query, Rcode::NOERROR).ok()?;
    a.header_mut().set_aa(true);
    for r in records {
        let owner = Name::<Bytes>::from_octets(Bytes::copy_from_slice(&r.owner)).ok()?;
        let data = UnknownRecordData::from_octets(Rtype::from_int(r.rtype), Bytes::copy_from_slice(&r.rdata)).ok()?;
        a.push(Record::new(owner, Class::from_int(r.class), Ttl::from_secs(r.ttl), data)).ok()?;
    }
    let mut add = a.additional();
    if let Some(s) = seq {
        s.answer(&mut add, Time48::now()).ok()?;
    }
    Some(add.finish())
}
