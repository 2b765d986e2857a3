//! The programs' counters: one per outcome and hook, per CPU, named as operators know them from Knot and
//! NSD; and the per-CPU value that holds them.

use crate::signal::MAX_LABEL_SIGNALS;

/// Per-CPU counters, one array slot per counter and hook. Names follow what operators know from Knot
/// and NSD; `stats` prints them as `<hook>.<name>` (xdp.answer.referral, tc.pass.no-room, ...).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Frames (XDP) or packets (TC) seen by the program.
    Frames = 0,
    /// Frames not for a service address/port (passed untouched).
    NotForUs,
    /// DNS queries for a service address seen by the program.
    Queries,
    /// Answered: referral, DO=0.
    AnsReferral,
    /// Answered: referral, DO=1.
    AnsReferralDnssec,
    /// Answered: NXDOMAIN, DO=0.
    AnsNxdomain,
    /// Answered: NXDOMAIN with its NSEC proofs, DO=1.
    AnsNxdomainDnssec,
    /// Answered: apex.
    AnsApex,
    /// Answered: `<tld> DS` (the parent's own data at the cut).
    AnsTldDs,
    /// Answered with TC=1 (the requester's buffer was too small for the required records); counted
    /// instead of the kind.
    AnsTruncated,
    /// Passed: malformed or unusual header, envelope or question.
    PassMalformed,
    /// Passed: query shape the fast path does not cover (CHAOS, ANY, options, ...).
    PassUncovered,
    /// Passed: the buffer could not grow to the answer's size (XDP leaves a hint in the metadata for TC).
    PassNoRoom,
    /// Passed: no table generation loaded.
    PassNoTable,
    /// IPv4 queries answered.
    AnsIpv4,
    /// IPv6 queries answered.
    AnsIpv6,
    /// Dropped: the frame was already rewritten when a step failed (should stay 0).
    Dropped,
    /// TC only, beside XDP: a packet XDP passed for a reason other than room (no hint: not DNS, not ours,
    /// or not covered), left to the stack and the next TC program.
    PassNotHinted,
    /// TC only: the query arrived with a partial UDP checksum (offloaded by the sender; veth, containers),
    /// so the answer carries one too, for the device or the peer's stack to complete.
    CsumPartial,
    /// XDP only: a no-room query for which the driver had no metadata room for the hint (counted
    /// beside pass.no-room); TC cannot know to answer it, so userspace does.
    NoHint,
    /// XDP only: a query left to TC (no room, or XDP_TX off) handed to another CPU (cpumap) to become an
    /// skb there (counted beside pass.no-room or pass.to-tc).
    Spilled,
    /// XDP only: a covered query handed to TC (with the hint) because XDP_TX is off on this device: the
    /// device cannot deliver it (veth with a peer that runs no XDP program), or its transmit errors moved.
    PassToTc,
    /// XDP only: a query handed to another CPU that arrived there (the cpumap's program counts it);
    /// pass.to-cpu less this is what the cpumap's queue dropped (a few may be in flight).
    SpillArrived,
    /// Response rate limiting: over the limit, nothing sent.
    RrlDropped,
    /// Response rate limiting: over the limit, sent as TC=1 with empty sections (every `slip`-th).
    RrlSlipped,
    /// Response rate limiting: the source is on the exempt list, answered unlimited.
    RrlExempt,
    /// Response rate limiting in dry run: would have been limited, answered.
    RrlWouldLimit,
    /// The source is on the drop list: the query was dropped.
    AclDropped,
    /// A valid server cookie of ours (the client proved its address): answered, exempt from rate limiting.
    CookieValid,
    /// A server cookie that is not ours (altered, expired, another address): treated as a client cookie alone.
    CookieBad,
    /// Rate limiting by response class, counted by the hook that charged: dropped and slipped referrals
    /// and DS answers (one class per TLD), NXDOMAIN, apex answers (one class per type).
    RrlDroppedTld,
    RrlDroppedNxdomain,
    RrlDroppedApex,
    RrlSlippedTld,
    RrlSlippedNxdomain,
    RrlSlippedApex,
    /// Queries the hook dropped by the drop list or rate limiting (acl.dropped + rrl.dropped), by the
    /// family they came over: with answer.ipv4 and answer.ipv6, every query the hook disposed of.
    ShedIpv4,
    ShedIpv6,
    /// Answers sent with rcode NXDOMAIN (truncated and slipped ones included), and with BADCOOKIE (a
    /// slip to a query with a cookie); every other answer the programs send is NOERROR.
    RcodeNxdomain,
    RcodeBadcookie,
}
/// Number of counter slots per hook.
pub const COUNTERS: usize = 40;
const _: () = assert!(Counter::ANSWERS[Counter::ANSWERS.len() - 1] as u32 == Counter::AnsTruncated as u32);
const _: () = assert!(Counter::ALL.len() <= COUNTERS && Counter::ALL[Counter::ALL.len() - 1] as usize == Counter::ALL.len() - 1);

/// Where a packet was answered or passed: the XDP program in the driver, or its TC companion.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Xdp = 0,
    Tc = 1,
}
pub const HOOKS: usize = 2;

impl Hook {
    pub const ALL: [Hook; HOOKS] = [Hook::Xdp, Hook::Tc];
    pub const fn name(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::Tc => "tc",
        }
    }
}

/// The one value of the per-CPU map.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PerCpu {
    pub counters: [[u64; COUNTERS]; HOOKS],
    /// For the programs' own use (see m-root-ebpf parse::forget); meaningless outside them.
    pub scratch: [u64; 4],
    /// Trust-anchor signals of the packet being answered, counted once it is sent (program use only).
    pub signals: [u32; MAX_LABEL_SIGNALS],
    pub nsignals: u64,
    /// The rate limiter's verdict on the packet being answered, and its response class (program use only).
    pub rrl: u64,
    pub rrl_class: u64,
    /// The limiter's clock (program use only): the jiffies of the last tick seen, and the coarse clock then.
    pub rrl_clock: [u64; 2],
    /// The source address of the packet being answered (program use only), as [`crate::AddrKey`].
    pub src: crate::AddrKey,
    /// Keys and values the rate limiter hands to map helpers, built here rather than on the stack (the
    /// programs' stack, with the limiter's subprogram on top, is at the verifier's 512-octet limit):
    /// an LPM trie key (prefix length, then the 16 octets) and a bucket key.
    pub lpm_key: [u32; 5],
    pub rrl_key: crate::rrl::RrlKey,
    /// The query's cookie (program use only): the client cookie, then the server cookie (two words,
    /// when sent); then the COOKIE option's payload of the answer (client cookie, our server cookie).
    pub cookie_in: [u64; 3],
    pub cookie_out: [u64; 3],
    /// The query's cookie length, then what was decided about it; and whether the query came over IPv6
    /// (program use only).
    pub cookie: u64,
    pub cookie_v6: u64,
    /// The key of the signal-source map, built here (program use only).
    pub signal_source: crate::SignalSource,
    /// What the day's counts need of the packet being answered, parked until it is disposed of
    /// (program use only): see m-root-ebpf's daily module. The query's facts, then the answer's DNS length.
    pub day: [u64; 2],
}

// The programs load the source as two words (m-root-ebpf daily).
const _: () = assert!(core::mem::offset_of!(PerCpu, src) % 8 == 0);

impl Counter {
    pub const ALL: [Counter; 40] = [
        Counter::Frames,
        Counter::NotForUs,
        Counter::Queries,
        Counter::AnsReferral,
        Counter::AnsReferralDnssec,
        Counter::AnsNxdomain,
        Counter::AnsNxdomainDnssec,
        Counter::AnsApex,
        Counter::AnsTldDs,
        Counter::AnsTruncated,
        Counter::PassMalformed,
        Counter::PassUncovered,
        Counter::PassNoRoom,
        Counter::PassNoTable,
        Counter::AnsIpv4,
        Counter::AnsIpv6,
        Counter::Dropped,
        Counter::PassNotHinted,
        Counter::CsumPartial,
        Counter::NoHint,
        Counter::Spilled,
        Counter::PassToTc,
        Counter::SpillArrived,
        Counter::RrlDropped,
        Counter::RrlSlipped,
        Counter::RrlExempt,
        Counter::RrlWouldLimit,
        Counter::AclDropped,
        Counter::CookieValid,
        Counter::CookieBad,
        Counter::RrlDroppedTld,
        Counter::RrlDroppedNxdomain,
        Counter::RrlDroppedApex,
        Counter::RrlSlippedTld,
        Counter::RrlSlippedNxdomain,
        Counter::RrlSlippedApex,
        Counter::ShedIpv4,
        Counter::ShedIpv6,
        Counter::RcodeNxdomain,
        Counter::RcodeBadcookie,
    ];
    /// The counters of answers sent, one per answer (the per-family ones double them): the run of
    /// [`Counter::ALL`] from AnsReferral to AnsTruncated.
    pub const ANSWERS: [Counter; 7] = {
        let mut a = [Counter::AnsReferral; 7];
        let mut i = 0;
        while i < a.len() {
            a[i] = Counter::ALL[Counter::AnsReferral as usize + i];
            i += 1;
        }
        a
    };
    /// The one hook that moves this counter, for those only one does.
    pub const fn only(self) -> Option<Hook> {
        match self {
            Counter::PassNotHinted | Counter::CsumPartial => Some(Hook::Tc),
            Counter::NoHint | Counter::Spilled | Counter::PassToTc | Counter::SpillArrived => Some(Hook::Xdp),
            _ => None,
        }
    }
    /// Stable name for `stats` output, after the hook's name and a dot.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::Frames => "frames",
            Counter::NotForUs => "pass.not-for-us",
            Counter::Queries => "queries",
            Counter::AnsReferral => "answer.referral",
            Counter::AnsReferralDnssec => "answer.referral-dnssec",
            Counter::AnsNxdomain => "answer.nxdomain",
            Counter::AnsNxdomainDnssec => "answer.nxdomain-dnssec",
            Counter::AnsApex => "answer.apex",
            Counter::AnsTldDs => "answer.tld-ds",
            Counter::AnsTruncated => "answer.truncated",
            Counter::PassMalformed => "pass.malformed",
            Counter::PassUncovered => "pass.uncovered",
            Counter::PassNoRoom => "pass.no-room",
            Counter::PassNoTable => "pass.no-table",
            Counter::AnsIpv4 => "answer.ipv4",
            Counter::AnsIpv6 => "answer.ipv6",
            Counter::Dropped => "dropped",
            Counter::PassNotHinted => "pass.not-hinted",
            Counter::CsumPartial => "csum-partial",
            Counter::NoHint => "pass.no-room.no-hint",
            Counter::Spilled => "pass.to-cpu",
            Counter::PassToTc => "pass.to-tc",
            Counter::SpillArrived => "pass.to-cpu.arrived",
            Counter::RrlDropped => "rrl.dropped",
            Counter::RrlSlipped => "rrl.slipped",
            Counter::RrlExempt => "rrl.exempt",
            Counter::RrlWouldLimit => "rrl.would-limit",
            Counter::AclDropped => "acl.dropped",
            Counter::CookieValid => "cookie.valid",
            Counter::CookieBad => "cookie.bad",
            Counter::RrlDroppedTld => "rrl.dropped.tld",
            Counter::RrlDroppedNxdomain => "rrl.dropped.nxdomain",
            Counter::RrlDroppedApex => "rrl.dropped.apex",
            Counter::RrlSlippedTld => "rrl.slipped.tld",
            Counter::RrlSlippedNxdomain => "rrl.slipped.nxdomain",
            Counter::RrlSlippedApex => "rrl.slipped.apex",
            Counter::ShedIpv4 => "shed.ipv4",
            Counter::ShedIpv6 => "shed.ipv6",
            Counter::RcodeNxdomain => "rcode.nxdomain",
            Counter::RcodeBadcookie => "rcode.badcookie",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_are_distinct_and_every_counter_is_listed_in_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert!(Counter::ALL[..i].iter().all(|d| d.name() != c.name()), "{}", c.name());
        }
    }
}
