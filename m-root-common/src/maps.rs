//! Map names, shared so both sides agree: the programs declare the maps under these names, userspace
//! finds and pins them by them.

pub const TLDIDX: &str = "TLDIDX";
pub const TLDSORT: &str = "TLDSORT";
pub const TLDDIR: &str = "TLDDIR";
/// Trust-anchor signals answered in the kernel, per-CPU, key [`crate::signal_key`].
pub const TA_SIGNALS: &str = "TA_SIGNALS";
/// The (signal, source) pairs answered in the kernel today, key [`crate::SignalSource`] (LRU hash).
pub const TA_SOURCES: &str = "TA_SOURCES";
pub const APEXIDX: &str = "APEXIDX";
pub const ANSWERS: &str = "ANSWERS";
pub const ACTIVE: &str = "ACTIVE";
pub const GENINFO: &str = "GENINFO";
pub const SERVICE_ADDRS: &str = "SERVICE_ADDRS";
/// Per-CPU state: the counters, and scratch space (one lookup per packet serves both).
pub const PERCPU: &str = "PERCPU";
pub const TC_MODE: &str = "TC_MODE";
/// [`crate::XDP_TX_ON`] or [`crate::XDP_TX_OFF`].
pub const XDP_TX: &str = "XDP_TX";
pub const SPILL: &str = "SPILL";
pub const SPILL_CPUS: &str = "SPILL_CPUS";
/// Response rate limiting: [`crate::rrl::RrlConf`], the buckets (LRU hash), the exempt and drop lists
/// (LPM tries), and the ring buffer of limiting reports.
pub const RRL_CONF: &str = "RRL_CONF";
pub const RRL: &str = "RRL";
pub const RRL_EXEMPT: &str = "RRL_EXEMPT";
pub const ACL_DROP: &str = "ACL_DROP";
pub const RRL_REPORTS: &str = "RRL_REPORTS";
/// DNS cookies: [`crate::cookie::CookieConf`], the UNIX second and the keys, written every second.
pub const COOKIES: &str = "COOKIES";
/// Per-UTC-day counts for RSSAC002 (see [`crate::daily`]): which slot is today's, the counts per slot
/// ([`crate::daily::DailyCounts`], per-CPU) and the unique-source registers per slot and set
/// ([`crate::daily::HllRegisters`], per-CPU).
pub const DAY_SLOT: &str = "DAY_SLOT";
pub const DAILY: &str = "DAILY";
pub const SOURCES: &str = "SOURCES";
/// dnstap's sample of kernel answers (see [`crate::sample`]): the ring, and one in how many (0: none).
pub const DNSTAP_RING: &str = "DNSTAP_RING";
pub const DNSTAP_RATE: &str = "DNSTAP_RATE";
