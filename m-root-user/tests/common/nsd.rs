//! NSD as the reference peer: its configuration, and the differences from it that a standard allows.

use std::path::{Path, PathBuf};

use zonegen::testkit::diff::Difference;
use zonegen::testkit::print::Message;
use zonegen::{Zone, name, rr, wire};

use super::{Client, Lab, in_netns};

pub const IDENTITY: &str = "lab-srv";

/// Start NSD on the lab's server addresses (198.18.0.1, 2001:db8::1) serving `zone`; waits until it answers.
pub fn start(lab: &mut Lab, zone: &Path) -> PathBuf {
    let dir = tempdir(&format!("m-root-xdp-nsd-{}", lab.name));
    std::fs::write(dir.join("nsd.conf"), m_root_user::lab::nsd_conf(&dir, zone, &[super::SRV4, super::SRV6], IDENTITY)).unwrap();
    let conf = dir.join("nsd.conf");
    let ns = lab.srv_ns();
    lab.spawn(&ns, &["nsd", "-d", "-c", conf.to_str().unwrap()], &dir.join("out.log"));
    let probe = wire::build_query(1, 0, b"\x00", 6, 1, None);
    let cli = lab.cli_ns();
    super::wait_for("nsd", 20, || in_netns(&cli, || Client::new().udp(super::SRV4, &probe).is_some()));
    dir
}

/// Differences a standard allows, each with the reason; anything else fails the test.
pub fn allowed(zone: &Zone, query: &[u8], ours: &Message, nsd: &Message, d: &Difference) -> Option<&'static str> {
    const TC: u16 = 0x0200;
    const AA: u16 = 0x0400;
    let q = wire::parse_query(query).ok();
    let both_tc = ours.flags & TC != 0 && nsd.flags & TC != 0;
    if both_tc && matches!(d, Difference::Record { .. }) {
        return Some(
            "both truncated (TC=1): RFC 2181 9 and RFC 7766 say the client retries over TCP and does not use the sections; we send them empty, NSD sends what fits",
        );
    }
    // RFC 9471 3.1: in-domain glue that does not fit sets TC. NSD 4.6.1 (2022) predates RFC 9471 and
    // drops it instead; check that NSD really left some in-domain glue out.
    if ours.flags & TC != 0
        && nsd.flags & TC == 0
        && ours.sections.iter().all(Vec::is_empty)
        && let Some(q) = &q
        && nsd_dropped_in_domain_glue(zone, q.qname, nsd)
        && matches!(d, Difference::Record { ours: false, .. } | Difference::Flag { flag: "tc", .. })
    {
        return Some("RFC 9471 3.1: in-domain glue that does not fit sets TC=1; NSD 4.6.1 predates RFC 9471 and omits the glue without TC");
    }
    // RFC 9471 3.1 again, when everything fits for us: we put all in-domain glue (required) first and add
    // sibling glue as room allows; NSD 4.6.1 puts every A before every AAAA and so can drop in-domain AAAA.
    if ours.flags & TC == 0
        && nsd.flags & TC == 0
        && let (Some(q), Difference::Record { section: 2, rtype, .. }) = (&q, d)
        && (*rtype == rr::A || *rtype == rr::AAAA)
        && nsd_dropped_in_domain_glue(zone, q.qname, nsd)
        && !nsd_dropped_in_domain_glue(zone, q.qname, ours)
    {
        return Some(
            "RFC 9471 3.1: in-domain glue is required, so we send all of it before any sibling glue; NSD 4.6.1 sends every A before any AAAA and drops in-domain AAAA",
        );
    }
    // Minimal responses at the apex: NSD adds the apex NS RRset (and its glue) to positive answers.
    if ours.flags & AA != 0
        && ours.rcode() == 0
        && !ours.sections[0].is_empty()
        && let Difference::Record { section, ours: false, rtype, owner } = d
    {
        let apex_ns = *section == 1 && owner == "." && (*rtype == rr::NS || *rtype == rr::RRSIG);
        let glue = *section == 2 && owner.ends_with(".root-servers.net.") && (*rtype == rr::A || *rtype == rr::AAAA);
        if apex_ns || glue {
            return Some(
                "RFC 1034 4.3.2 / RFC 2181 6.1: the zone's NS in the authority section of a positive answer is optional; we answer minimally (as Knot does), NSD adds them",
            );
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
        if let Difference::Flag { flag: "tc", ours: false, .. } = d
            && ours.sections[2].is_empty()
            && ours.sections[1].iter().any(|r| r.rtype == rr::NS)
            && nsd.sections[2].is_empty()
        {
            return Some("RFC 9471 3.2: sibling glue that does not fit does not set TC; NSD sets TC when no glue fits at all");
        }
    }
    if (query.get(2).map_or(0, |f| (f >> 3) & 0xf)) == 4
        && matches!(d, Difference::Rcode { ours: 4, .. } | Difference::Question | Difference::OptPresence { .. })
    {
        return Some(
            "opcode NOTIFY (RFC 1996): we are no secondary and do not implement it, so NOTIMP (RFC 1035); NSD processes NOTIFY and answers with its own rcode",
        );
    }
    match d {
        Difference::Flag { flag: "rd", ours: true, .. } if ours.rcode() == 1 && ours.question.is_none() => {
            Some("RFC 1035 4.1.1: RD is copied into the response; NSD clears it in FORMERR for a query without a question")
        }
        Difference::Rcode { ours: 1, theirs: 0 } if query.get(4..6) == Some(&[0, 0]) => Some(
            "QDCOUNT 0: RFC 7873 5.4 gives it a meaning only with a COOKIE option and cookies on (off here); BIND and Knot answer FORMERR, NSD 4.6 NOERROR",
        ),
        Difference::OptPresence { ours: true } | Difference::Question if ours.rcode() == 4 => Some(
            "NOTIMP: RFC 6891 6.1.1 requires OPT in the response to a query with OPT, and we echo the question as RFC 1035 does; NSD omits both",
        ),
        Difference::OptPresence { ours: true } if ours.rcode() == 1 => Some(
            "FORMERR: RFC 6891 6.1.1 requires OPT in the response to a query with OPT; NSD omits it when it cannot parse the question section",
        ),
        Difference::Question if ours.rcode() == 5 && nsd.question.is_none() => {
            Some("REFUSED: we echo the question (RFC 1035 4.1.1); NSD omits it")
        }
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

pub fn tempdir(prefix: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
