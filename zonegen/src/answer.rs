//! The one authoritative answer function. Userspace answers every query with it, and the compiler builds
//! every XDP table entry with it, so the fast path equals the slow path by construction.
//!
//! An answer is planned as an ordered list of RRset blocks, then laid out once. Blocks are ordered
//! answer, authority, additional-required, additional-optional; the layout records a cut after the
//! required blocks and after each optional one. A requester's buffer takes the longest cut that fits
//! ("stop at the first optional RRset that does not fit"); if even the required part does not fit, the
//! answer is TC=1 with empty sections (RFC 9471 for in-domain glue, RFC 4035 3.1.1 for signatures).
//!
//! Here: the entry points and the header-only error answers. The planner is in `plan` (apex, referrals
//! and their glue, DS at the cut, CHAOS) and `negative` (NXDOMAIN and NODATA with their proofs); laying a
//! plan out and cutting it to the requester's size is in `layout`. Their public items are re-exported
//! here, so every path is `zonegen::answer::...`.

pub mod cookie;
mod layout;
mod negative;
mod plan;

pub use cookie::{CookieCtx, ReplyCookie, Verdict};
pub use layout::{Layout, finish, lay_out};
pub use plan::{Block, Plan, Section, plan_in, plan_referral};

use crate::rr;
use crate::wire::{self, Edns, QueryError, Writer};
use crate::zone::Zone;

/// Per-server settings that change answers.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Answer CHAOS TXT queries at all (`id.server.`, `hostname.bind.`, `version.bind.`).
    pub chaos: bool,
    /// Identity for `id.server.` / `hostname.bind.` and NSID; None leaves them unanswered (REFUSED).
    pub identity: Option<String>,
    /// Text for `version.bind.`; None refuses it.
    pub version: Option<String>,
    /// Send NSID (RFC 5001) when asked.
    pub nsid: bool,
}

/// Transport, for the size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What kind of answer a query got (for counters and the compiler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Referral,
    Nxdomain,
    Nodata,
    Authoritative,
    Chaos,
    Error,
}

/// The largest DNS message the requester can take: 512 without EDNS (RFC 1035), the advertised size
/// otherwise but never below 512 (RFC 6891 6.2.5) nor above our own (1232) on UDP, 65535 on TCP.
pub fn size_limit(edns: Option<&Edns>, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => 65535,
        // The programs' rule (m_root_common::udp_limit), so both paths cut an answer at the same size.
        Transport::Udp => m_root_common::udp_limit(edns.map(|e| e.udp_size)) as usize,
    }
}

/// Answer one query message. None means drop (not a query, or too short to say who asked).
pub fn answer(zone: &Zone, cfg: &ServerConfig, msg: &[u8], transport: Transport) -> Option<Vec<u8>> {
    answer_kind(zone, cfg, msg, transport).map(|(r, _)| r)
}

/// As [`answer`], also saying what kind of answer it was.
pub fn answer_kind(zone: &Zone, cfg: &ServerConfig, msg: &[u8], transport: Transport) -> Option<(Vec<u8>, Kind)> {
    answer_with(zone, cfg, msg, transport, None).map(|a| (a.msg, a.kind))
}

/// An answer, its kind, and what its query's cookie came to (None: no cookie, or cookies off).
#[derive(Clone, Debug)]
pub struct Answered {
    pub msg: Vec<u8>,
    pub kind: Kind,
    pub cookie: Option<Verdict>,
}

/// As [`answer_kind`], with DNS cookies when `cookies` is given and on: a query's client cookie gets our
/// server cookie in the answer (its option counted in the size the requester takes), a malformed COOKIE
/// option FORMERR (RFC 7873 5.2.2).
pub fn answer_with(zone: &Zone, cfg: &ServerConfig, msg: &[u8], transport: Transport, cookies: Option<&CookieCtx>) -> Option<Answered> {
    let done = |msg, kind, cookie| Some(Answered { msg, kind, cookie });
    let q = match wire::parse_query(msg) {
        Ok(q) => q,
        Err(QueryError::Drop) => return None,
        Err(QueryError::FormErr { id, flags, question, edns }) => {
            // RFC 7873 5.4: no question, nothing else but an OPT with a COOKIE asks for a server cookie.
            if question.is_none()
                && msg.get(4..12) == Some(&[0, 0, 0, 0, 0, 0, 0, 1])
                && flags & wire::OPCODE_MASK == 0
                && edns.as_ref().is_some_and(|e| e.version == 0)
                && let Some(cookie::Outcome::Answer(v, r)) = cookie::outcome(edns.as_ref(), cookies)
            {
                return done(
                    error_response(id, flags, None, edns.as_ref(), wire::RCODE_NOERROR as u16, cfg, Some(&r)),
                    Kind::Error,
                    Some(v),
                );
            }
            let question = question.map(|(a, b)| &msg[a..b]);
            return done(error_response(id, flags, question, edns.as_ref(), wire::RCODE_FORMERR as u16, cfg, None), Kind::Error, None);
        }
    };
    let outcome = cookie::outcome(q.edns.as_ref(), cookies);
    let (verdict, reply) = match outcome {
        Some(cookie::Outcome::Answer(v, r)) => (Some(v), Some(r)),
        _ => (None, None),
    };
    let error = |rcode: u16, reply: Option<&ReplyCookie>| {
        done(error_response(q.id, q.flags, Some(q.question), q.edns.as_ref(), rcode, cfg, reply), Kind::Error, verdict)
    };
    if q.opcode() != 0 {
        return error(wire::RCODE_NOTIMP as u16, reply.as_ref());
    }
    // A later EDNS version before its options (RFC 6891 6.1.3): they mean nothing to us, cookie or not.
    if let Some(e) = &q.edns
        && e.version != 0
    {
        return done(error_response(q.id, q.flags, Some(q.question), q.edns.as_ref(), wire::RCODE_BADVERS, cfg, None), Kind::Error, None);
    }
    if outcome == Some(cookie::Outcome::Malformed) {
        return error(wire::RCODE_FORMERR as u16, None);
    }
    // Zone transfers (RFC 5936, RFC 1995) are not served to others: refused, as Knot, NSD and BIND refuse
    // a transfer no ACL allows.
    if q.qtype == rr::AXFR || q.qtype == rr::IXFR {
        return error(wire::RCODE_REFUSED as u16, reply.as_ref());
    }
    let plan = match q.qclass {
        rr::CLASS_IN => plan_in(zone, &q),
        rr::CLASS_CH => match plan::plan_chaos(cfg, &q) {
            Some(p) => p,
            None => return error(wire::RCODE_REFUSED as u16, reply.as_ref()),
        },
        _ => return error(wire::RCODE_REFUSED as u16, reply.as_ref()),
    };
    let kind = plan.kind;
    let layout = lay_out(&q, &plan);
    done(finish(&layout, &q, size_limit(q.edns.as_ref(), transport), cfg, reply.as_ref()), kind, verdict)
}

/// What a server whose zone has expired (a secondary that could not refresh it in time, RFC 1035 4.3.5)
/// answers: SERVFAIL with the question echoed; a malformed query as [`answer_with`] answers it.
pub fn servfail(msg: &[u8], cfg: &ServerConfig) -> Option<Vec<u8>> {
    match wire::parse_query(msg) {
        Ok(q) => Some(error_response(q.id, q.flags, Some(q.question), q.edns.as_ref(), wire::RCODE_SERVFAIL as u16, cfg, None)),
        Err(QueryError::Drop) => None,
        Err(QueryError::FormErr { id, flags, question, edns }) => {
            let question = question.map(|(a, b)| &msg[a..b]);
            Some(error_response(id, flags, question, edns.as_ref(), wire::RCODE_FORMERR as u16, cfg, None))
        }
    }
}

/// The NSID option's payload (RFC 5001): our identity, when NSID is on and the query asked for it.
fn nsid_payload(cfg: &ServerConfig, edns: Option<&Edns>) -> Option<Vec<u8>> {
    match (cfg.nsid, edns, &cfg.identity) {
        (true, Some(e), Some(id)) if e.nsid => Some(id.as_bytes().to_vec()),
        _ => None,
    }
}

/// Header-only error answer (FORMERR, NOTIMP, REFUSED, BADVERS), question echoed when there is one.
fn error_response(
    id: u16,
    qflags: u16,
    question: Option<&[u8]>,
    edns: Option<&Edns>,
    rcode: u16,
    cfg: &ServerConfig,
    cookie: Option<&ReplyCookie>,
) -> Vec<u8> {
    let flags = wire::FLAG_QR | (qflags & (wire::COPIED_FLAGS | wire::OPCODE_MASK)) | (rcode & 0x0f);
    let mut w = Writer::new(id, flags, question, 0);
    if let Some(e) = edns {
        let nsid = nsid_payload(cfg, Some(e));
        w.buf.extend_from_slice(&wire::opt_record((rcode >> 4) as u8, e.dnssec_ok, nsid.as_deref(), cookie));
        w.set_count(3, 1);
    }
    w.buf
}

/// The minimal answer a rate limiter sends instead of `response` to `query` (its "slip"): the same
/// header with empty sections, the question, and an OPT when the query had EDNS; TC set, or, when the
/// response carries our server cookie (the query sent a client cookie), BADCOOKIE with that cookie, so the
/// client's retry with it passes the limiter. The bytes the kernel programs send for it. None if the query
/// does not parse or the response is not one to it.
pub fn slipped(query: &[u8], response: &[u8]) -> Option<Vec<u8>> {
    use m_root_common::cookie::{slip_ext_rcode, slip_flags};
    let q = crate::wire::parse_query(query).ok()?;
    if response.len() < 12 || response[..2] != query[..2] {
        return None;
    }
    // Our COOKIE option, when the response has one, ends it (wire::opt_record puts it last).
    let cookie: Option<ReplyCookie> = match response.len().checked_sub(wire::REPLY_OPTION_LEN) {
        Some(at) if q.edns.as_ref().is_some_and(|e| e.cookie.is_some()) && response[at..at + 4] == [0, 10, 0, 24] => {
            response[at + 4..].try_into().ok()
        }
        _ => None,
    };
    let edns = q.edns.is_some();
    let flags = slip_flags(u16::from_be_bytes([response[2], response[3]]), cookie.is_some());
    let mut out = Vec::with_capacity(12 + q.question.len() + m_root_common::OPT_LEN + wire::REPLY_OPTION_LEN);
    out.extend_from_slice(&response[..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, edns as u8]);
    out.extend_from_slice(q.question);
    if edns {
        out.extend_from_slice(&wire::opt_record(slip_ext_rcode(cookie.is_some()), q.dnssec_ok(), None, cookie.as_ref()));
    }
    Some(out)
}
