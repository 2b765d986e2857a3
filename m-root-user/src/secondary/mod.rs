//! Secondary service (`[secondary]`): the zone from primaries by IXFR/AXFR with TSIG (`xfr`), at the
//! SOA timers and on NOTIFY (`notify`), checked and switched in as a reload is, kept in a cache
//! (`service`); the first zone, from the cache or awaited (`start`); transfers to others (`outgoing`);
//! the settings (`conf`, `key`).

pub mod conf;
pub mod key;
pub mod notify;
pub mod outgoing;
pub mod service;
pub mod start;
pub mod xfr;

pub use service::Secondary;

/// A header-only answer to `msg` (its ID, opcode and question) with `rcode`: NOTIFY's answers and the
/// refusals of transfers.
pub(crate) fn header_answer(msg: &domain::base::Message<Vec<u8>>, rcode: domain::base::iana::Rcode) -> Option<Vec<u8>> {
    domain::base::MessageBuilder::new_vec().start_answer(msg, rcode).ok().map(|a| a.finish())
}
