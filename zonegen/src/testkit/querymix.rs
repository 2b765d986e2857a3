//! The standard root query mix ("root-mix-1", shared/querymix/SPEC.md), generated deterministically from a
//! seed and a zone. Conformance tests and benchmarks draw their queries here, so "realistic root
//! traffic" means the same thing everywhere.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::name;
use crate::rr;
use crate::wire;
use crate::zone::Zone;

/// The SPEC's classes of question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    UnderTld,
    TldItself,
    MissingTld,
    Apex,
    TrustAnchor,
    Odd,
}

impl Class {
    pub const ALL: [Class; 6] = [Class::UnderTld, Class::TldItself, Class::MissingTld, Class::Apex, Class::TrustAnchor, Class::Odd];
    pub fn name(self) -> &'static str {
        match self {
            Class::UnderTld => "under-existing-tld",
            Class::TldItself => "tld-itself",
            Class::MissingTld => "missing-tld",
            Class::Apex => "apex",
            Class::TrustAnchor => "trust-anchor",
            Class::Odd => "odd",
        }
    }
}

/// How a query is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Carrier {
    UdpV4,
    UdpV6,
    Tcp,
}

/// One generated query.
#[derive(Clone, Debug)]
pub struct MixQuery {
    pub class: Class,
    pub carrier: Carrier,
    /// The DNS message.
    pub msg: Vec<u8>,
}

/// Draws queries.
pub struct Generator {
    rng: ChaCha8Rng,
    tlds: Vec<String>,
    next_id: u16,
}

const LOCAL_NAMES: [&str; 9] = ["local", "home", "lan", "corp", "internal", "localdomain", "belkin", "invalid", "localhost"];

impl Generator {
    pub fn new(zone: &Zone, seed: u64) -> Generator {
        let tlds = zone.tlds.iter().map(|t| name::to_text(t).trim_end_matches('.').to_string()).collect();
        Generator { rng: ChaCha8Rng::seed_from_u64(seed), tlds, next_id: 1 }
    }

    fn pick<'a, T>(&mut self, weighted: &'a [(u32, T)]) -> &'a T {
        let total: u32 = weighted.iter().map(|w| w.0).sum();
        let mut x = self.rng.random_range(0..total);
        for (w, v) in weighted {
            if x < *w {
                return v;
            }
            x -= w;
        }
        &weighted[weighted.len() - 1].1
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    fn label(&mut self, min: usize, max: usize, letters_only: bool) -> String {
        let len = self.rng.random_range(min..=max);
        const L: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
        const LD: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
        (0..len)
            .map(|i| {
                let set = if letters_only || i == 0 || i + 1 == len { L } else { LD };
                set[self.rng.random_range(0..set.len())] as char
            })
            .collect()
    }

    /// qtype for names under existing or missing TLDs (SPEC: "Query types").
    fn qtype(&mut self) -> u16 {
        *self.pick(&[
            (40, rr::A),
            (25, rr::AAAA),
            (8, rr::NS),
            (6, rr::DS),
            (4, rr::MX),
            (4, rr::TXT),
            (4, 65),
            (2, rr::SOA),
            (2, 33),
            (5, 0),
        ])
    }

    fn other_qtype(&mut self) -> u16 {
        *self.pick(&[(1, 99u16), (1, 13), (1, 44), (1, 52), (1, 257), (1, 35), (1, 29), (1, 64)])
    }

    fn existing_tld(&mut self) -> String {
        let choice = *self.pick(&[(30, 0u8), (10, 1), (8, 2), (5, 3), (47, 4)]);
        match choice {
            0 => "com".into(),
            1 => "net".into(),
            2 => "arpa".into(),
            3 => "org".into(),
            _ => {
                let i = self.rng.random_range(0..self.tlds.len());
                self.tlds[i].clone()
            }
        }
    }

    /// The question name and type for a class.
    fn question(&mut self, class: Class) -> (String, u16, u16) {
        match class {
            Class::UnderTld => {
                let tld = self.existing_tld();
                if tld == "arpa" {
                    let n = if self.chance(70) {
                        let o: Vec<String> = (0..4).map(|_| self.rng.random_range(0..256u32).to_string()).collect();
                        format!("{}.in-addr.arpa", o.join("."))
                    } else {
                        let nibbles: Vec<String> = (0..32).map(|_| format!("{:x}", self.rng.random_range(0..16u32))).collect();
                        format!("{}.ip6.arpa", nibbles.join("."))
                    };
                    return (n, rr::PTR, rr::CLASS_IN);
                }
                let depth = self.rng.random_range(0..=3);
                let mut n = tld;
                for _ in 0..depth {
                    n = format!("{}.{n}", self.label(3, 12, false));
                }
                let mut t = self.qtype();
                if t == 0 {
                    t = self.other_qtype();
                }
                (n, t, rr::CLASS_IN)
            }
            Class::TldItself => {
                let i = self.rng.random_range(0..self.tlds.len());
                let t = *self.pick(&[(1, rr::NS), (1, rr::DS), (1, rr::SOA), (1, rr::DNSKEY), (1, rr::A)]);
                (self.tlds[i].clone(), t, rr::CLASS_IN)
            }
            Class::MissingTld => {
                let kind = *self.pick(&[(60, 0u8), (30, 1), (10, 2)]);
                let n = match kind {
                    0 => self.label(7, 15, true),
                    1 => {
                        let l = LOCAL_NAMES[self.rng.random_range(0..LOCAL_NAMES.len())];
                        format!("{}.{l}", self.label(3, 12, false))
                    }
                    _ => format!("{}.{}", self.label(3, 10, false), self.label(7, 15, true)),
                };
                let mut t = self.qtype();
                if t == 0 {
                    t = self.other_qtype();
                }
                (n, t, rr::CLASS_IN)
            }
            Class::Apex => {
                let t = *self.pick(&[(1, rr::NS), (1, rr::SOA), (1, rr::DNSKEY), (1, rr::A), (1, rr::AAAA), (1, rr::ANY)]);
                (".".into(), t, rr::CLASS_IN)
            }
            Class::TrustAnchor => {
                let (n, t) =
                    *self.pick(&[(1, ("_ta-4f66", 10u16)), (1, ("_ta-4f66-9728", 10)), (1, ("root-key-sentinel-is-ta-20326", rr::A))]);
                (n.into(), t, rr::CLASS_IN)
            }
            Class::Odd => unreachable!("odd queries are built whole"),
        }
    }

    /// Draw one query.
    #[allow(clippy::should_implement_trait, reason = "the mix never ends: a query, not an Option, is what callers take")]
    pub fn next(&mut self) -> MixQuery {
        let class = *self.pick(&[
            (48, Class::UnderTld),
            (4, Class::TldItself),
            (40, Class::MissingTld),
            (3, Class::Apex),
            (2, Class::TrustAnchor),
            (3, Class::Odd),
        ]);
        let carrier = *self.pick(&[(85, Carrier::UdpV4), (12, Carrier::UdpV6), (3, Carrier::Tcp)]);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let rd = self.chance(5);
        let mut flags = if rd { wire::FLAG_RD } else { 0 };
        let edns = if self.chance(90) {
            let size = *self.pick(&[(45, 1232u16), (35, 4096), (10, 1400), (5, 512), (5, 65535)]);
            Some((size, self.chance(75)))
        } else {
            None
        };
        let nsid = edns.is_some() && self.chance(5);
        let cookie = edns.is_some() && self.chance(3);
        let (qname, qtype, qclass, qdcount) = if class == Class::Odd {
            match self.rng.random_range(0..6) {
                0 => {
                    let n = ["id.server", "hostname.bind", "version.bind"][self.rng.random_range(0..3)];
                    (n.to_string(), rr::TXT, rr::CLASS_CH, 1)
                }
                1 => {
                    let tld = self.existing_tld();
                    (format!("{}.{tld}", self.label(3, 12, false)), rr::ANY, rr::CLASS_IN, 1)
                }
                2 => {
                    let tld = self.existing_tld();
                    let c = *self.pick(&[(1, 4u16), (1, 254), (1, 2), (1, 42)]);
                    (tld, rr::A, c, 1)
                }
                3 => {
                    flags |= *self.pick(&[(1, 1u16 << 11), (1, 2 << 11), (1, 4 << 11), (1, 5 << 11)]);
                    ("com".into(), rr::SOA, rr::CLASS_IN, 1)
                }
                4 => ("example.com".into(), rr::A, rr::CLASS_IN, *self.pick(&[(1, 0u16), (1, 2)])),
                _ => {
                    // A name at the 255-octet limit, under an existing or a missing TLD.
                    let tld = if self.chance(50) { self.existing_tld() } else { self.label(7, 15, true) };
                    let mut labels = Vec::new();
                    let mut len = tld.len() + 2;
                    while len + 64 <= 255 {
                        labels.push(self.label(63, 63, false));
                        len += 64;
                    }
                    if 255 - len >= 2 {
                        labels.push(self.label(255 - len - 1, 255 - len - 1, false));
                    }
                    labels.push(tld);
                    (labels.join("."), rr::A, rr::CLASS_IN, 1)
                }
            }
        } else {
            let (n, t, c) = self.question(class);
            (n, t, c, 1)
        };
        let mut qname_wire = name::from_text(&qname).unwrap_or_else(|_| name::ROOT.to_vec());
        if self.chance(6) {
            // 0x20: mix the case of the letters.
            for b in qname_wire.iter_mut() {
                if b.is_ascii_lowercase() && self.rng.random_bool(0.5) {
                    b.make_ascii_uppercase();
                }
            }
        }
        let mut msg = wire::build_query(id, flags, &qname_wire, qtype, qclass, None);
        match qdcount {
            0 => {
                msg.truncate(12);
                msg[5] = 0;
            }
            2 => {
                let q = msg[12..].to_vec();
                msg.extend_from_slice(&q);
                msg[5] = 2;
            }
            _ => {}
        }
        if let Some((size, dnssec_ok)) = edns {
            let mut rdata = Vec::new();
            if nsid {
                rdata.extend_from_slice(&wire::OPTION_NSID.to_be_bytes());
                rdata.extend_from_slice(&[0, 0]);
            }
            if cookie {
                rdata.extend_from_slice(&10u16.to_be_bytes());
                rdata.extend_from_slice(&8u16.to_be_bytes());
                let c: [u8; 8] = self.rng.random();
                rdata.extend_from_slice(&c);
            }
            msg.push(0);
            msg.extend_from_slice(&rr::OPT.to_be_bytes());
            msg.extend_from_slice(&size.to_be_bytes());
            msg.extend_from_slice(&[0, 0]);
            msg.extend_from_slice(&(if dnssec_ok { wire::EDNS_DO } else { 0 }).to_be_bytes());
            msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            msg.extend_from_slice(&rdata);
            let ar = u16::from_be_bytes([msg[10], msg[11]]) + 1;
            msg[10..12].copy_from_slice(&ar.to_be_bytes());
        }
        MixQuery { class, carrier, msg }
    }
}

/// `msg`, a query whose last record is an OPT without options (as `wire::build_query` makes it), with
/// one option `code` carrying `payload` added to that OPT.
pub fn with_option(msg: &[u8], code: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    let n = m.len();
    m[n - 2..].copy_from_slice(&((4 + payload.len()) as u16).to_be_bytes());
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn shares_follow_the_spec_and_are_deterministic() {
        let z = crate::zone::Zone::from_bytes(
            b". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.root-servers.net.\ncom. 1 IN NS a.gtld.net.\nnet. 1 IN NS a.gtld.net.\na.gtld.net. 1 IN A 192.0.2.1\narpa. 1 IN NS a.gtld.net.\norg. 1 IN NS a.gtld.net.\njp. 1 IN NS a.gtld.net.\n",
            std::path::Path::new("mini"),
            &Default::default(),
        )
        .unwrap();
        let mut g = Generator::new(&z, 7);
        let mut h = Generator::new(&z, 7);
        let mut by_class: HashMap<Class, usize> = HashMap::new();
        let mut edns = 0;
        let n = 20_000;
        for _ in 0..n {
            let a = g.next();
            let b = h.next();
            assert_eq!(a.msg, b.msg, "same seed, same queries");
            *by_class.entry(a.class).or_default() += 1;
            if let Ok(q) = wire::parse_query(&a.msg) {
                edns += q.edns.is_some() as usize;
            }
        }
        let share = |c| by_class.get(&c).copied().unwrap_or(0) as f64 / n as f64;
        assert!((share(Class::UnderTld) - 0.48).abs() < 0.02);
        assert!((share(Class::MissingTld) - 0.40).abs() < 0.02);
        assert!((share(Class::Odd) - 0.03).abs() < 0.01);
        assert!(edns as f64 / n as f64 > 0.8);
    }
}
