//! Secondary service (`[secondary]`): the zone from primaries by IXFR/AXFR with TSIG (`xfr`), at the
//! SOA timers and on NOTIFY (`notify`), checked and switched in as a reload is, kept in a cache
//! (`service`); transfers to others (`outgoing`); the settings (`conf`, `key`).

pub mod conf;
pub mod key;
pub mod notify;
pub mod outgoing;
pub mod service;
pub mod xfr;

pub use service::Secondary;
