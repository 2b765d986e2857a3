//! One zone transfer from one primary over TCP: IXFR from the serial held (RFC 1995), or AXFR (RFC
//! 5936) when nothing is held or asked for; TSIG on the request and verified on every response message
//! (RFC 8945 5.3.1: the first signed, at most 99 unsigned in a row). `domain` signs, verifies and reads
//! the response stream; this module moves the bytes and applies what it reads to a copy of the zone.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use domain::base::iana::{Class, Rcode, Rtype};
use domain::base::message_builder::StreamTarget;
use domain::base::name::{Name, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::base::{Message, MessageBuilder, ParsedName, Record, Ttl, UnknownRecordData};
use domain::net::xfr::protocol::{IterationError, ParsedRecord, XfrResponseInterpreter};
use domain::rdata::tsig::Time48;
use domain::tsig::{ClientSequence, Key};
use domain::zonetree::types::ZoneUpdate;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use zonegen::records::{RecordSet, Rr};

/// How long to wait to connect, and for each message.
const CONNECT: Duration = Duration::from_secs(5);
const READ: Duration = Duration::from_secs(15);
/// A whole transfer: the root zone takes well under a second here; a primary that trickles is cut off.
const WHOLE: Duration = Duration::from_secs(300);
/// Records in one transfer: the root zone has about 25,000; a primary that streams forever is cut off.
const MAX_RECORDS: usize = 2_000_000;

/// What a transfer brought.
pub enum Fetched {
    /// The primary has the serial held (or an older one): nothing to do.
    Current(u32),
    /// A zone to check and serve: the whole of it, by IXFR applied to a copy, or by AXFR.
    Zone { records: RecordSet, serial: u32, ixfr: bool },
}

/// Why a transfer failed, for the log and `stats`.
#[derive(Debug, thiserror::Error)]
pub enum XfrError {
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Io(std::io::Error),
    /// The key in `key`, named in the message: an operator with two keys sees which one failed.
    #[error("TSIG key {key}: {}", tsig_what(.rejected, .why))]
    Tsig { key: String, rejected: bool, why: String },
    #[error("the primary answered {0}")]
    Rcode(String),
    #[error("malformed transfer: {0}")]
    Malformed(String),
    #[error("the IXFR does not apply to the zone held: {0}")]
    OutOfStep(String),
    #[error("the primary has serial {0}, older than the one held")]
    Behind(u32),
}

fn tsig_what(rejected: &bool, why: &str) -> String {
    match rejected {
        true => format!("the primary rejected it ({why}): is the secret the primary's?"),
        false => format!("verifying the primary's answer failed ({why})"),
    }
}

/// A TCP connection to `primary`, from `source` when given (an anycast host's unicast address).
fn connect(primary: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, XfrError> {
    let s = Socket::new(Domain::for_address(primary), Type::STREAM, Some(Protocol::TCP)).map_err(XfrError::Connect)?;
    if let Some(src) = source {
        s.bind(&SockAddr::from(SocketAddr::new(src, 0))).map_err(XfrError::Connect)?;
    }
    s.connect_timeout(&primary.into(), CONNECT).map_err(XfrError::Connect)?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(READ)).map_err(XfrError::Io)?;
    s.set_write_timeout(Some(READ)).map_err(XfrError::Io)?;
    Ok(s)
}

/// A request ready to send (length-prefixed), its ID, and the TSIG state its answers are verified with.
type Request = (u16, Vec<u8>, Option<ClientSequence<Key>>);

/// The request: AXFR, or IXFR with `held`'s SOA in the authority section; signed when `key` is given.
fn request(held: Option<&Rr>, key: Option<&Key>) -> Result<Request, XfrError> {
    let bad = |e: &dyn std::fmt::Display| XfrError::Malformed(format!("building the request: {e}"));
    let mut b = MessageBuilder::from_target(StreamTarget::new_vec()).map_err(|e| bad(&e))?;
    b.header_mut().set_random_id();
    let mut q = b.question();
    let apex = Name::root_vec();
    q.push((&apex, if held.is_some() { Rtype::IXFR } else { Rtype::AXFR })).map_err(|e| bad(&e))?;
    let mut auth = q.authority();
    if let Some(soa) = held {
        let data = UnknownRecordData::from_octets(Rtype::SOA, soa.rdata.clone()).map_err(|e| bad(&e))?;
        auth.push(Record::new(&apex, Class::IN, Ttl::from_secs(soa.ttl), data)).map_err(|e| bad(&e))?;
    }
    let mut add = auth.additional();
    let seq = match key {
        Some(k) => Some(ClientSequence::request(k.clone(), &mut add, Time48::now()).map_err(|e| bad(&e))?),
        None => None,
    };
    let id = add.header().id();
    Ok((id, add.finish().into_target(), seq))
}

/// What a failed verification says: the primary's TSIG error (RFC 8945 5.3.2: BADKEY, BADSIG, BADTIME)
/// means it refused our signature; anything else, that its answer does not verify with our key.
fn tsig_error(key: &Key, e: &domain::tsig::ValidationError) -> XfrError {
    use domain::tsig::ValidationError as V;
    let rejected = matches!(e, V::ServerBadKey | V::ServerBadSig | V::ServerBadTime { .. });
    XfrError::Tsig { key: key.name().to_string(), rejected, why: e.to_string() }
}

fn read_message(s: &mut TcpStream) -> Result<Vec<u8>, XfrError> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(XfrError::Io)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).map_err(XfrError::Io)?;
    Ok(buf)
}

/// A record as the interpreter gives it, in wire form.
fn wire(r: &ParsedRecord) -> Result<Rr, XfrError> {
    let mut rdata = Vec::new();
    r.data().compose_rdata(&mut rdata).map_err(|_| XfrError::Malformed("record data too long".into()))?;
    Ok(Rr { owner: r.owner().to_vec().into_octets(), rtype: r.rtype().to_int(), class: r.class().to_int(), ttl: r.ttl().as_secs(), rdata })
}

fn serial_of(r: &Rr) -> Option<u32> {
    zonegen::zone::soa_fields(&r.rdata).map(|(serial, _)| serial)
}

/// Transfer the root zone from `primary`: IXFR from `held` when given (applied to a copy of it), else
/// AXFR. A primary that answers an IXFR with the whole zone (it has no history from our serial) is
/// taken as an AXFR.
pub fn fetch(primary: SocketAddr, source: Option<IpAddr>, key: Option<&Key>, held: Option<&RecordSet>) -> Result<Fetched, XfrError> {
    let held_soa = held.and_then(RecordSet::soa);
    let held_serial = held_soa.and_then(serial_of);
    let (id, req, mut seq) = request(held_soa, key)?;
    let mut s = connect(primary, source)?;
    s.write_all(&req).map_err(XfrError::Io)?;
    let mut interp = XfrResponseInterpreter::new();
    let mut records = held.cloned().unwrap_or_default();
    let mut ixfr = held.is_some();
    let mut serial = None;
    let deadline = std::time::Instant::now() + WHOLE;
    while !interp.is_finished() {
        if std::time::Instant::now() > deadline || records.len() > MAX_RECORDS {
            return Err(XfrError::Malformed(format!("cut off after {WHOLE:?} or {MAX_RECORDS} records")));
        }
        let mut msg = Message::from_octets(read_message(&mut s)?).map_err(|e| XfrError::Malformed(e.to_string()))?;
        if msg.header().id() != id || !msg.header().qr() {
            return Err(XfrError::Malformed("a response with another ID, or not a response".into()));
        }
        if let Some(seq) = seq.as_mut() {
            seq.answer(&mut msg, Time48::now()).map_err(|e| tsig_error(seq.key(), &e))?;
        }
        if msg.header().rcode() != Rcode::NOERROR {
            return Err(XfrError::Rcode(msg.header().rcode().to_string()));
        }
        let msg = Message::from_octets(Bytes::from(msg.into_octets())).map_err(|e| XfrError::Malformed(e.to_string()))?;
        let first_soa = first_soa_serial(&msg);
        let updates = interp.interpret_response(msg).map_err(|e| XfrError::Malformed(e.to_string()))?;
        for u in updates {
            match u {
                Ok(ZoneUpdate::DeleteAllRecords) => {
                    records = RecordSet::default();
                    ixfr = false;
                }
                Ok(ZoneUpdate::DeleteRecord(r)) | Ok(ZoneUpdate::BeginBatchDelete(r)) => {
                    records.delete(&wire(&r)?).map_err(|e| XfrError::OutOfStep(e.to_string()))?
                }
                Ok(ZoneUpdate::AddRecord(r)) | Ok(ZoneUpdate::BeginBatchAdd(r)) => records.add(wire(&r)?),
                Ok(ZoneUpdate::Finished(r)) => {
                    let soa = wire(&r)?;
                    serial = serial_of(&soa);
                    records.add(soa);
                }
                Ok(_) => return Err(XfrError::Malformed("an update of a kind this version does not know".into())),
                // One SOA: the primary has our serial (or an older one), or no history and wants an AXFR.
                Err(IterationError::SingleSoaIxfrTcpRetrySignal) => {
                    let theirs = first_soa.ok_or_else(|| XfrError::Malformed("a single-SOA answer without a SOA".into()))?;
                    return match held_serial {
                        Some(h) if h == theirs => Ok(Fetched::Current(theirs)),
                        Some(h) if crate::daemon::serial_newer(h, theirs) => Err(XfrError::Behind(theirs)),
                        // Newer, but no history to send: the caller asks for the whole zone.
                        _ => Err(XfrError::Malformed(format!("one SOA (serial {theirs}) for an IXFR: no history from ours"))),
                    };
                }
                Err(e) => return Err(XfrError::Malformed(format!("{e:?}"))),
            }
        }
    }
    if let Some(seq) = seq {
        let key = seq.key().name().to_string();
        seq.done().map_err(|e| XfrError::Tsig { key, rejected: false, why: format!("the last message: {e}") })?;
    }
    let serial = serial.ok_or_else(|| XfrError::Malformed("no closing SOA".into()))?;
    if held_serial == Some(serial) {
        return Ok(Fetched::Current(serial));
    }
    Ok(Fetched::Zone { records, serial, ixfr })
}

/// The serial of the first answer record when it is a SOA (a single-SOA IXFR answer carries only it).
fn first_soa_serial(msg: &Message<Bytes>) -> Option<u32> {
    let rec = msg.answer().ok()?.next()?.ok()?;
    if rec.rtype() != Rtype::SOA {
        return None;
    }
    let rec = rec.to_record::<domain::rdata::Soa<ParsedName<Bytes>>>().ok()??;
    Some(rec.data().serial().into_int())
}

#[cfg(test)]
mod tests {
    use super::XfrError;

    #[test]
    fn tsig_errors_name_the_key_and_who_refused() {
        let e = XfrError::Tsig { key: "xfr-key".into(), rejected: true, why: "server failed to verify MAC".into() };
        assert_eq!(e.to_string(), "TSIG key xfr-key: the primary rejected it (server failed to verify MAC): is the secret the primary's?");
        let e = XfrError::Tsig { key: "xfr-key".into(), rejected: false, why: "bad signature".into() };
        assert_eq!(e.to_string(), "TSIG key xfr-key: verifying the primary's answer failed (bad signature)");
    }
}
