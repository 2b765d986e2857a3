//! The test kit: what conformance tests, benchmarks and the lab tools need around the engine, and the
//! engine itself does not. Each part is behind a cargo feature: `print` is on by default (outside this
//! workspace, `default-features = false` leaves it out); `testkit` is turned on by the crates that need it
//! (in this workspace cargo unifies features, so a build of every member has it):
//!
//! - [`print`](mod@print) (feature `print`, on by default): decode a DNS message and print it as dig does (the
//!   `zonegen answer` command, m-root-xdp's lab commands, test failure messages);
//! - `querymix` (feature `testkit`): the standard root query mix, generated from a seed and a zone;
//! - `diff` (feature `testkit`): compare two responses as a resolver reads them.

#[cfg(feature = "testkit")]
pub mod diff;
#[cfg(feature = "print")]
pub mod print;
#[cfg(feature = "testkit")]
pub mod querymix;
