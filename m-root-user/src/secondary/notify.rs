//! NOTIFY (RFC 1996) to the secondary: from an allowed source, for the root zone, TSIG-verified when
//! signed (RFC 8945; an unsigned one from an allowed source is taken too: it only prompts a refresh,
//! which is itself signed), answered NOERROR with AA and acted on at once.

use std::net::IpAddr;

use domain::base::iana::{Opcode, Rcode, Rtype};
use domain::base::{Message, MessageBuilder};
use domain::rdata::tsig::Time48;
use domain::tsig::ServerTransaction;

use super::service::Secondary;

/// Is this message a NOTIFY request (by its header alone)?
pub fn is_notify(msg: &[u8]) -> bool {
    msg.len() >= 12 && msg[2] & 0x80 == 0 && (msg[2] >> 3) & 0x0f == 4
}

impl Secondary {
    /// The answer to a NOTIFY from `peer`, over TCP or UDP (None: not a message worth an answer).
    pub fn notify(&self, peer: IpAddr, tcp: bool, query: &[u8]) -> Option<Vec<u8>> {
        // The publication latency runs from the NOTIFY's arrival, its checks included.
        let arrived = std::time::Instant::now();
        let mut msg = Message::from_octets(query.to_vec()).ok()?;
        if msg.header().qr() || msg.header().opcode() != Opcode::NOTIFY {
            return None;
        }
        let answer = super::header_answer;
        let over = if tcp { "TCP" } else { "UDP" };
        if !crate::limits::contains(&self.conf.notify_from, peer) {
            log::warn!("secondary: NOTIFY from {peer} over {over}, not in notify_from: REFUSED, not acted on");
            self.notify_refused();
            return answer(&msg, Rcode::REFUSED);
        }
        let Ok(q) = msg.sole_question() else { return answer(&msg, Rcode::FORMERR) };
        if !q.qname().is_root() || q.qtype() != Rtype::SOA {
            self.notify_refused();
            return answer(&msg, Rcode::NOTAUTH);
        }
        let txn = match &self.conf.key {
            Some(key) => match ServerTransaction::request(key, &mut msg, Time48::now()) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("secondary: NOTIFY from {peer} over {over} fails TSIG ({}): not acted on", e.error());
                    self.notify_refused();
                    return e.build_message(&msg, MessageBuilder::new_vec()).ok().map(|m| m.finish());
                }
            },
            None => None,
        };
        let signed = txn.is_some();
        log::info!("secondary: NOTIFY from {peer} over {over}{}: refreshing", if signed { " (TSIG verified)" } else { "" });
        self.notified(peer, over, signed, arrived);
        let mut reply = MessageBuilder::new_vec().start_answer(&msg, Rcode::NOERROR).ok()?;
        reply.header_mut().set_aa(true);
        let mut add = reply.additional();
        if let Some(t) = txn {
            t.answer(&mut add, Time48::now()).ok()?;
        }
        Some(add.finish())
    }
}
