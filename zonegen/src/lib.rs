//! zonegen: the zone model, the one authoritative answer function, and the compiled XDP response table.
//!
//! zonegen owns DNS meaning. The XDP program only matches and splices what [`compile()`] produced, and the
//! userspace server only runs [`answer::answer`]; both come from the same code, so they cannot disagree.
//! Around the engine, [`testkit`] holds the dig-like printer, the standard query mix and response
//! comparison, each behind a cargo feature (`print`, on by default; `testkit`).

pub mod answer;
pub mod cli;
pub mod compile;
pub mod fast;
pub mod name;
pub mod records;
pub mod rr;
pub mod signal;
pub mod tablefile;
#[cfg(feature = "print")] // `testkit` implies `print`
pub mod testkit;
pub mod validate;
pub mod wire;
pub mod zone;
pub mod zonemd;

pub use answer::{ServerConfig, Transport, answer};
pub use compile::{Table, compile};
pub use zone::{LoadOptions, Zone, ZoneError};
