//! Both kernel programs under BPF_PROG_TEST_RUN on frames built here, with the bundled zone's table: what
//! a hook did with one query from one source. Shared by the rate-limiting and cookie tests.

use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use aya::programs::{TestRun, TestRunOptions};
use m_root_common::{Counter, Hook};
use m_root_user::dataplane::{Dataplane, counter_key};
use m_root_user::frame::{self, Spec};
use m_root_user::limits::Limits;
use zonegen::{LoadOptions, Zone, compile};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const TC_ACT_SHOT: u32 = 2;
/// TC_ACT_UNSPEC (-1): tcx's "next", what the TC program returns for what it leaves alone.
const TC_ACT_UNSPEC: u32 = u32::MAX;
const TC_ACT_REDIRECT: u32 = 7;
const SRV4: &str = "198.18.0.1";
const SRV6: &str = "2001:db8::1";

pub fn zone() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102");
        Zone::load(&p, &LoadOptions::default()).expect("bundled zone loads")
    })
}

/// What a hook did with a query: its DNS answer, a drop, a pass, or another verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Answered(Vec<u8>),
    Dropped,
    Passed,
    Other(u32),
}

pub struct Harness {
    pub dp: Dataplane,
    pub hook: Hook,
}

impl Harness {
    /// The programs with the bundled zone's table, service addresses 198.18.0.1 and 2001:db8::1, TC
    /// answering everything it covers (its XDP-less mode), XDP sending, and `limits`.
    pub fn new(hook: Hook, limits: &Limits) -> Harness {
        assert_eq!(unsafe { libc::geteuid() }, 0, "these tests load BPF programs and must run as root");
        let mut dp = Dataplane::load().expect("programs load");
        dp.set_service_addrs(&[SRV4.parse().unwrap(), SRV6.parse().unwrap()]).unwrap();
        dp.install(&compile(zone())).unwrap();
        dp.set_tc_mode(true).unwrap();
        dp.set_xdp_tx(true).unwrap();
        dp.set_limits(limits).unwrap();
        Harness { dp, hook }
    }

    /// Send `query` from `src`; what the program did (the DNS payload when it answered).
    pub fn ask(&mut self, src: &str, query: &[u8]) -> Action {
        let src: IpAddr = src.parse().unwrap();
        let dst: IpAddr = if src.is_ipv6() { SRV6.parse().unwrap() } else { SRV4.parse().unwrap() };
        let spec = Spec { src_mac: [2, 0, 0, 0, 0, 2], dst_mac: [2, 0, 0, 0, 0, 1], vlans: vec![], src, dst, sport: 40000, dport: 53 };
        let input = frame::build(&spec, query);
        let mut out = vec![0u8; 4096];
        let opts = TestRunOptions { data_in: Some(&input), data_out: Some(&mut out), repeat: 1, ..Default::default() };
        let r = match self.hook {
            Hook::Xdp => self.dp.program().unwrap().test_run(opts),
            Hook::Tc => self.dp.tc_program().unwrap().test_run(opts),
        }
        .expect("BPF_PROG_TEST_RUN");
        out.truncate(r.data_size_out as usize);
        match (self.hook, r.return_value) {
            (Hook::Xdp, XDP_TX) | (Hook::Tc, TC_ACT_REDIRECT) => {
                Action::Answered(frame::parse_checked(&out).expect("a well-formed answer frame").payload)
            }
            (Hook::Xdp, XDP_DROP) | (Hook::Tc, TC_ACT_SHOT) => Action::Dropped,
            (Hook::Xdp, XDP_PASS) | (Hook::Tc, TC_ACT_UNSPEC) => Action::Passed,
            (_, v) => Action::Other(v),
        }
    }

    pub fn counter(&self, c: Counter) -> u64 {
        let key = counter_key(self.hook, c);
        self.dp.counters().unwrap().iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| *v)
    }
}
