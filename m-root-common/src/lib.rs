//! Types and rules shared by the programs (`m-root-ebpf`) and userspace (`zonegen`, `m-root-user`).
//!
//! Everything the programs read out of BPF maps is `#[repr(C)]` and fixed-size. One place for each fact,
//! one module per concept, re-exported here (`maps` and `csum` by module):
//! - [`dns`]: wire limits and constants, the meta-type test;
//! - [`coverage`]: which queries the table answers;
//! - [`layout`]: where each answer sits in the ANSWERS map, the TLD and fixed slots;
//! - [`entry`]: one precompiled answer (fragment, cuts, pointers, sums);
//! - [`tldindex`]: the TLD index (label words, hash, lowercase);
//! - [`sortkey`]: canonical order for the NSEC interval search (sort keys, directory);
//! - [`csum`]: Internet checksum arithmetic;
//! - [`counters`]: counters, hooks and the per-CPU value;
//! - [`signal`]: trust-anchor signal kinds, names and keys;
//! - [`cookie`]: DNS cookies (RFC 7873, RFC 9018's server cookie): the rule and the map value;
//! - [`rrl`]: response rate limiting: buckets, classes, the rule;
//! - [`daily`]: per-UTC-day counts for RSSAC002: size buckets, unique-source registers, day slots;
//! - [`maps`], [`control`]: map names, and what userspace tells the programs besides the table;
//! - [`lab`]: the lab generator's frame.
#![cfg_attr(not(test), no_std)]

pub mod control;
pub mod cookie;
pub mod counters;
pub mod coverage;
pub mod csum;
pub mod daily;
pub mod dns;
pub mod entry;
pub mod lab;
pub mod layout;
pub mod maps;
pub mod rrl;
pub mod sample;
pub mod signal;
pub mod sortkey;
pub mod tldindex;

pub use control::*;
pub use counters::*;
pub use coverage::*;
pub use dns::*;
pub use entry::*;
pub use lab::*;
pub use layout::*;
pub use signal::*;
pub use sortkey::*;
pub use tldindex::*;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all are repr(C) plain data without padding-dependent invariants; any bit pattern is valid.
    unsafe impl aya::Pod for TldEntry {}
    unsafe impl aya::Pod for GenInfo {}
    unsafe impl aya::Pod for Answer {}
    unsafe impl aya::Pod for SortDir {}
    unsafe impl aya::Pod for AddrKey {}
    unsafe impl aya::Pod for PerCpu {}
    unsafe impl aya::Pod for ServiceAddrs {}
    unsafe impl aya::Pod for LabTemplate {}
    unsafe impl aya::Pod for rrl::RrlConf {}
    unsafe impl aya::Pod for rrl::RrlKey {}
    unsafe impl aya::Pod for rrl::RrlBucket {}
    unsafe impl aya::Pod for rrl::RrlSlot {}
    unsafe impl aya::Pod for rrl::RrlReport {}
    unsafe impl aya::Pod for cookie::CookieConf {}
    unsafe impl aya::Pod for daily::DailyCounts {}
    unsafe impl aya::Pod for SignalSource {}
    unsafe impl aya::Pod for daily::HllRegisters {}
    unsafe impl aya::Pod for sample::KernelSample {}
}
