//! Differential test against NSD: the same bundled root zone served by NSD in a lab; queries from the
//! standard mix (shared/querymix/SPEC.md, seeded, every class and envelope) answered by zonegen's answer
//! function and by NSD, compared section by section (order inside a section ignored). Every difference
//! must be one listed in `allowed` below, with the RFC that allows it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{in_netns, Client, Lab};
use zonegen::answer::{self, Transport};
use zonegen::diff::{compare, Difference};
use zonegen::querymix::{Carrier, Class, Generator};
use zonegen::print::{decode, Message};
use zonegen::{name, rr, wire, LoadOptions, ServerConfig, Zone};

const IDENTITY: &str = "lab-srv";
const QUERIES: usize = 6000;
const SEED: u64 = 2026;

fn nsd_conf(dir: &Path, zone: &Path) -> String {
    format!(
        "server:\n  ip-address: {}\n  ip-address: {}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n  identity: \"{IDENTITY}\"\n  nsid: \"ascii_{IDENTITY}\"\n  hide-version: yes\n  verbosity: 1\n  server-count: 1\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\nremote-control:\n  control-enable: no\nzone:\n  name: \".\"\n  zonefile: \"{}\"\n",
        common::SRV4,
        common::SRV6,
        zone.display(),
        d = dir.display()
    )
}

/// Differences a standard allows, each with the reason; anything else fails the test.
fn allowed(zone: &Zone, query: &[u8], ours: &Message, nsd: &Message, d: &Difference) -> Option<&'static str> {
    const TC: u16 = 0x0200;
    const AA: u16 = 0x0400;
    let q = wire::parse_query(query).ok();
    let both_tc = ours.flags & TC != 0 && nsd.flags & TC != 0;
    if both_tc && matches!(d, Difference::Record { .. }) {
        return Some("both truncated (TC=1): RFC 2181 9 and RFC 7766 say the client retries over TCP and does not use the sections; we send them empty, NSD sends what fits");
    }
    // RFC 9471 3.1: in-domain glue that does not fit sets TC. NSD 4.6.1 (2022) predates RFC 9471 and
    // drops it instead; check that NSD really left some in-domain glue out.
    if ours.flags & TC != 0 && nsd.flags & TC == 0 && ours.sections.iter().all(Vec::is_empty) {
        if let Some(q) = &q {
            if nsd_dropped_in_domain_glue(zone, q.qname, nsd) && matches!(d, Difference::Record { ours: false, .. } | Difference::Flag { flag: "tc", .. }) {
                return Some("RFC 9471 3.1: in-domain glue that does not fit sets TC=1; NSD 4.6.1 predates RFC 9471 and omits the glue without TC");
            }
        }
    }
    // Minimal responses at the apex: NSD adds the apex NS RRset (and its glue) to positive answers.
    if ours.flags & AA != 0 && ours.rcode() == 0 && !ours.sections[0].is_empty() {
        if let Difference::Record { section, ours: false, rtype, owner } = d {
            let apex_ns = *section == 1 && owner == "." && (*rtype == rr::NS || *rtype == rr::RRSIG);
            let glue = *section == 2 && owner.ends_with(".root-servers.net.") && (*rtype == rr::A || *rtype == rr::AAAA);
            if apex_ns || glue {
                return Some("RFC 1034 4.3.2 / RFC 2181 6.1: the zone's NS in the authority section of a positive answer is optional; we answer minimally (as Knot does), NSD adds them");
            }
        }
    }
    // Sibling glue (name servers below other TLDs) is optional: how much of it fits differs.
    if ours.flags & TC == 0 {
        if let (Some(q), Difference::Record { section: 2, rtype, owner, .. }) = (&q, d) {
            let tld = name::to_text(&name::lower(name::suffix(q.qname, 1)));
            if (*rtype == rr::A || *rtype == rr::AAAA) && !owner.ends_with(&format!(".{tld}")) && nsd.flags & TC == 0 {
                return Some("RFC 9471 3.2: sibling glue is optional and is left out without TC when it does not fit; NSD fits less of it");
            }
        }
        if let Difference::Flag { flag: "tc", ours: false, .. } = d {
            if ours.sections[2].is_empty() && ours.sections[1].iter().any(|r| r.rtype == rr::NS) && nsd.sections[2].is_empty() {
                return Some("RFC 9471 3.2: sibling glue that does not fit does not set TC; NSD sets TC when no glue fits at all");
            }
        }
    }
    if (query.get(2).map_or(0, |f| (f >> 3) & 0xf)) == 4 && matches!(d, Difference::Rcode { ours: 4, .. } | Difference::Question | Difference::OptPresence { .. }) {
        return Some("opcode NOTIFY (RFC 1996): we are no secondary and do not implement it, so NOTIMP (RFC 1035); NSD processes NOTIFY and answers with its own rcode");
    }
    match d {
        Difference::Flag { flag: "rd", ours: true, .. } if ours.rcode() == 1 && ours.question.is_none() => {
            Some("RFC 1035 4.1.1: RD is copied into the response; NSD clears it in FORMERR for a query without a question")
        }
        Difference::Rcode { ours: 1, theirs: 0 } if query.get(4..6) == Some(&[0, 0]) => {
            Some("QDCOUNT 0: RFC 7873 5.4 gives it a meaning only with a COOKIE option, which we do not implement; BIND and Knot answer FORMERR, NSD 4.6 NOERROR")
        }
        Difference::OptPresence { ours: true } | Difference::Question if ours.rcode() == 4 => {
            Some("NOTIMP: RFC 6891 6.1.1 requires OPT in the response to a query with OPT, and we echo the question as RFC 1035 does; NSD omits both")
        }
        Difference::OptPresence { ours: true } if ours.rcode() == 1 => {
            Some("FORMERR: RFC 6891 6.1.1 requires OPT in the response to a query with OPT; NSD omits it when it cannot parse the question section")
        }
        Difference::Question if ours.rcode() == 5 && nsd.question.is_none() => Some("REFUSED: we echo the question (RFC 1035 4.1.1); NSD omits it"),
        Difference::OptOptions { ours, theirs } if theirs.starts_with(ours.as_str()) && theirs[ours.len()..].starts_with("000f") => {
            Some("NSD adds an Extended DNS Error (RFC 8914, optional); we send none")
        }
        _ => None,
    }
}

/// Did NSD's referral leave out an address the zone has for a name server below the delegation?
fn nsd_dropped_in_domain_glue(zone: &Zone, qname: &[u8], nsd: &Message) -> bool {
    let tld = name::lower(name::suffix(qname, 1));
    let Some(ns) = zone.rrset(&tld, rr::NS) else { return false };
    ns.rdata.iter().any(|target| {
        let in_domain = name::label_count(target) > 1 && name::lower(name::suffix(target, 1)) == tld;
        in_domain
            && [rr::A, rr::AAAA].iter().any(|&t| {
                zone.rrset(target, t).is_some_and(|set| {
                    let have = nsd.sections[2].iter().filter(|r| r.rtype == t && name::lower(&r.owner) == name::lower(target)).count();
                    have < set.rdata.len()
                })
            })
    })
}

#[test]
fn answers_match_nsd_on_the_standard_query_mix() {
    let zone_path = common::bundled_zone();
    let zone = Zone::load(&zone_path, &LoadOptions::default()).unwrap();
    let cfg = ServerConfig { chaos: true, identity: Some(IDENTITY.into()), version: None, nsid: true };
    let mut lab = Lab::up("mrxd");
    let dir = tempdir("m-root-xdp-nsd");
    std::fs::write(dir.join("nsd.conf"), nsd_conf(&dir, &zone_path)).unwrap();
    let conf = dir.join("nsd.conf");
    lab.spawn(&lab.srv_ns(), &["nsd", "-d", "-c", conf.to_str().unwrap()], &dir.join("out.log"));
    let probe = zonegen::wire::build_query(1, 0, b"\x00", 6, 1, None);
    let cli = lab.cli_ns();
    common::wait_for("nsd", 20, || in_netns(&cli, || Client::new().udp(common::SRV4, &probe).is_some()));

    let mut mix = Generator::new(&zone, SEED);
    let queries: Vec<_> = (0..QUERIES).map(|_| mix.next()).collect();
    let theirs: Vec<Option<Vec<u8>>> = in_netns(&cli, || {
        let c = Client::new();
        queries
            .iter()
            .map(|q| match q.carrier {
                Carrier::UdpV4 => c.udp(common::SRV4, &q.msg),
                Carrier::UdpV6 => c.udp(common::SRV6, &q.msg),
                Carrier::Tcp => c.tcp(common::SRV4, &q.msg),
            })
            .collect()
    });

    let mut per_class: BTreeMap<Class, (usize, usize)> = BTreeMap::new();
    let mut explained: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    let mut unexplained: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (q, t) in queries.iter().zip(&theirs) {
        let transport = if q.carrier == Carrier::Tcp { Transport::Tcp } else { Transport::Udp };
        let ours = answer::answer(&zone, &cfg, &q.msg, transport);
        let e = per_class.entry(q.class).or_default();
        e.0 += 1;
        let decoded = (ours.as_deref().and_then(decode), t.as_deref().and_then(decode));
        let diffs = match (&ours, t) {
            (None, None) => vec![],
            (Some(_), None) => vec![Difference::Undecodable { ours: false }],
            (None, Some(_)) => vec![Difference::Undecodable { ours: true }],
            (Some(o), Some(t)) => compare(o, t),
        };
        let mut bad = false;
        for d in &diffs {
            let why = match &decoded {
                (Some(o), Some(n)) => allowed(&zone, &q.msg, o, n, d),
                _ => None,
            };
            match why {
                Some(why) => explained.entry(format!("{} ({why})", d.category())).or_insert((0, why)).0 += 1,
                None => {
                    bad = true;
                    let ex = unexplained.entry(format!("{}/{}", q.class.name(), d.category())).or_insert((0, String::new()));
                    ex.0 += 1;
                    if ex.1.is_empty() {
                        ex.1 = format!(
                            "{d:?}\nquery: {}\nours:\n{}\nnsd:\n{}",
                            common::hex(&q.msg),
                            ours.as_deref().map(zonegen::print::to_text).unwrap_or_else(|| "(none)".into()),
                            t.as_deref().map(zonegen::print::to_text).unwrap_or_else(|| "(none)".into())
                        );
                    }
                }
            }
        }
        if bad {
            e.1 += 1;
        }
    }
    println!("differential vs NSD, seed {SEED}, {QUERIES} queries:");
    for c in Class::ALL {
        let (n, bad) = per_class.get(&c).copied().unwrap_or((0, 0));
        println!("  {:<20} {n:>5} queries, {bad} with unexplained differences", c.name());
    }
    for (cat, (n, why)) in &explained {
        let _ = why;
        println!("  allowed x{n}: {cat}");
    }
    for c in Class::ALL {
        assert!(per_class.get(&c).is_some_and(|x| x.0 > 0), "class {} not exercised", c.name());
    }
    // Every envelope of the SPEC was exercised.
    let mut env: BTreeMap<&str, usize> = BTreeMap::new();
    for q in &queries {
        *env.entry(match q.carrier { Carrier::UdpV4 => "udp4", Carrier::UdpV6 => "udp6", Carrier::Tcp => "tcp" }).or_default() += 1;
        let m = &q.msg;
        if m[2] & 1 != 0 {
            *env.entry("rd").or_default() += 1;
        }
        if m.iter().skip(12).take_while(|&&b| b != 0).any(u8::is_ascii_uppercase) {
            *env.entry("0x20").or_default() += 1;
        }
        if let Ok(p) = wire::parse_query(m) {
            if let Some(e) = p.edns {
                *env.entry(match e.udp_size { 512 => "edns512", 1232 => "edns1232", 1400 => "edns1400", 4096 => "edns4096", 65535 => "edns65535", _ => "edns-other" }).or_default() += 1;
                if e.dnssec_ok {
                    *env.entry("do").or_default() += 1;
                }
                if e.nsid {
                    *env.entry("nsid").or_default() += 1;
                }
                if e.other_options > 0 {
                    *env.entry("cookie").or_default() += 1;
                }
            } else {
                *env.entry("no-edns").or_default() += 1;
            }
        }
    }
    println!("  envelopes: {env:?}");
    for k in ["udp4", "udp6", "tcp", "rd", "0x20", "edns512", "edns1232", "edns1400", "edns4096", "edns65535", "do", "nsid", "cookie", "no-edns"] {
        assert!(env.get(k).copied().unwrap_or(0) > 0, "envelope {k} not exercised");
    }
    if !unexplained.is_empty() {
        let mut msg = String::new();
        for (cat, (n, ex)) in &unexplained {
            msg.push_str(&format!("\n=== {cat}: {n} times; first:\n{ex}\n"));
        }
        panic!("unexplained differences from NSD:{msg}");
    }
}

fn tempdir(prefix: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
