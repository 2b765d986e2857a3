//! Any bytes as a query to the answer function over the bundled zone, on UDP and on TCP, under the default
//! and the deployed server configuration. A message too short for a header, or that is itself a response
//! (QR=1), gets no answer; every other one gets a response that `domain` parses to the last octet, that
//! echoes the query's ID, opcode, RD and CD and its question byte for byte, has QR=1, fits the requester's
//! buffer (`answer::size_limit` on UDP, 65535 on TCP), and whose rcode agrees with the kind of answer.
#![no_main]

use domain::base::iana::{Opcode, OptRcode};
use libfuzzer_sys::fuzz_target;
use m_root_fuzz::{configs, decode, query_edns, question_end, root};
use zonegen::answer::{self, Kind, Transport};
use zonegen::wire::{self, QueryError};

fuzz_target!(|msg: &[u8]| {
    let no_answer = msg.len() < 12 || msg[2] & 0x80 != 0;
    // zonegen's own reading of the envelope, for the size limit; checked against domain's where it has one.
    let limit = match wire::parse_query(msg) {
        Ok(q) => {
            if let Some(e) = &q.edns {
                // A query zonegen accepts is well formed, so domain finds the same OPT in it.
                assert_eq!(query_edns(msg), Some((e.udp_size, e.dnssec_ok)), "the two parsers read the same EDNS");
            }
            answer::size_limit(q.edns.as_ref(), Transport::Udp)
        }
        Err(QueryError::Drop) => {
            assert!(no_answer, "dropped a query with a full header and QR=0");
            0
        }
        // Refused as malformed: header, the question if any and an OPT, which fit the classic 512.
        Err(QueryError::FormErr { .. }) => 512,
    };
    let question = question_end(msg).map(|end| &msg[12..end]);
    for cfg in configs() {
        let mut responses = Vec::with_capacity(2);
        for transport in [Transport::Udp, Transport::Tcp] {
            let got = answer::answer_kind(root(), cfg, msg, transport);
            let Some((resp, kind)) = got else {
                assert!(no_answer, "{transport:?}: no answer to a message with a full header and QR=0");
                continue;
            };
            assert!(!no_answer, "{transport:?}: answered a message it must drop");
            check(msg, question, &resp, kind, transport, limit);
            responses.push(resp);
        }
        // The same answer on both transports when the whole of it fits the UDP buffer.
        if let [udp, tcp] = &responses[..]
            && tcp.len() <= limit
        {
            assert_eq!(udp, tcp, "a response that fits UDP is the same on TCP");
        }
    }
});

fn check(msg: &[u8], question: Option<&[u8]>, resp: &[u8], kind: Kind, transport: Transport, limit: usize) {
    let d = decode(resp).unwrap_or_else(|e| panic!("{transport:?}: the response does not parse: {e}\n{resp:02x?}"));
    let qflags = u16::from_be_bytes([msg[2], msg[3]]);
    assert!(d.qr, "QR=1");
    assert_eq!(d.id, u16::from_be_bytes([msg[0], msg[1]]), "the query's ID");
    assert_eq!(d.opcode, Opcode::from_int(((qflags >> 11) & 0xf) as u8), "the query's opcode");
    assert_eq!(d.rd, qflags & wire::FLAG_RD != 0, "RD copied");
    assert_eq!(d.cd, qflags & wire::FLAG_CD != 0, "CD copied");
    match question {
        // Every answer echoes a question it could read, errors (FORMERR for the rest of the message) too.
        Some(q) => {
            assert_eq!(d.counts[0], 1, "QDCOUNT for a query with a readable question ({kind:?})");
            assert_eq!(&resp[12..12 + q.len()], q, "the question echoed byte for byte");
        }
        None => assert_eq!(d.counts[0], 0, "a question in the response to a query without a readable one"),
    }
    match transport {
        Transport::Udp => assert!(resp.len() <= limit, "UDP: {} octets for a buffer of {limit}", resp.len()),
        // TCP takes 65535: the whole answer, never truncated.
        Transport::Tcp => assert!(resp.len() <= 65535 && !d.tc, "TCP: {} octets, TC={}", resp.len(), d.tc),
    }
    if d.tc {
        // RFC 2181 9 as the answer function applies it: a truncated answer is sent with empty sections.
        assert_eq!(d.counts[1..3], [0, 0], "TC with records in the answer or authority section");
    }
    let rcode = d.rcode;
    let fits = match kind {
        Kind::Nxdomain => rcode == OptRcode::NXDOMAIN,
        Kind::Error => [OptRcode::FORMERR, OptRcode::NOTIMP, OptRcode::REFUSED, OptRcode::BADVERS].contains(&rcode),
        Kind::Referral | Kind::Nodata | Kind::Authoritative | Kind::Chaos => rcode == OptRcode::NOERROR,
    };
    assert!(fits, "rcode {rcode} for a {kind:?} answer");
}
