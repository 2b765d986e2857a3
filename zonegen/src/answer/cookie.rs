//! DNS cookies in the answer (RFC 7873, RFC 9018): what a query's COOKIE option means and which COOKIE
//! option the answer carries. The rule itself (hash, ages, which cookie goes back) is
//! m_root_common::cookie's, which the programs apply to the same octets; here it is applied to a parsed
//! query, for the answer function.

use std::net::IpAddr;

pub use m_root_common::cookie::{CookieConf, Verdict};
use m_root_common::{AddrKey, cookie};

use crate::wire::{CLIENT_LEN, Edns, QueryCookie, SERVER_LEN};

/// What the server knows when it answers a query with a cookie: the secrets and the time (the map the
/// programs read), and who asked.
#[derive(Clone, Copy, Debug)]
pub struct CookieCtx {
    pub conf: CookieConf,
    pub client: IpAddr,
}

/// The payload of the COOKIE option an answer carries: the client cookie, then our server cookie.
pub type ReplyCookie = [u8; CLIENT_LEN + SERVER_LEN];

/// What a query's cookie comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A COOKIE option of a length RFC 7873 5.2.2 answers with FORMERR.
    Malformed,
    /// The verdict, and the option the answer carries.
    Answer(Verdict, ReplyCookie),
}

/// The address as the programs key it: IPv6, or IPv4 mapped (and whether it is IPv6).
pub fn addr_key(ip: IpAddr) -> (AddrKey, bool) {
    match ip {
        IpAddr::V4(v4) => (AddrKey { addr: v4.to_ipv6_mapped().octets() }, false),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // A v4-mapped peer on a dual-stack socket is an IPv4 client (its packets are IPv4).
            Some(v4) => (AddrKey { addr: v4.to_ipv6_mapped().octets() }, false),
            None => (AddrKey { addr: v6.octets() }, true),
        },
    }
}

/// Apply the cookie rule to a query's OPT; None when cookies are off or the query sent no cookie.
pub fn outcome(edns: Option<&Edns>, ctx: Option<&CookieCtx>) -> Option<Outcome> {
    let ctx = ctx.filter(|c| c.conf.on())?;
    let (client, server, server_len) = match edns?.cookie? {
        QueryCookie::Malformed => return Some(Outcome::Malformed),
        QueryCookie::Present { client, server, server_len } => (client, server, server_len as usize),
    };
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let ours = (server_len == SERVER_LEN).then(|| [word(&server[..8]), word(&server[8..16])]);
    let (addr, ipv6) = addr_key(ctx.client);
    let d = cookie::decide(&ctx.conf, word(&client), ours, server_len != 0 && ours.is_none(), cookie::addr_words(&addr), ipv6);
    let mut reply = [0u8; CLIENT_LEN + SERVER_LEN];
    reply[..CLIENT_LEN].copy_from_slice(&client);
    reply[CLIENT_LEN..CLIENT_LEN + 8].copy_from_slice(&d.reply[0].to_le_bytes());
    reply[CLIENT_LEN + 8..].copy_from_slice(&d.reply[1].to_le_bytes());
    Some(Outcome::Answer(d.verdict, reply))
}
