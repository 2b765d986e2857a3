//! Writes the seed corpora: `seeds OUT_DIR [MIX_QUERIES]` fills OUT_DIR/{zone_file,query_answer,
//! splice_vs_answer}. Deterministic (fixed query-mix seed, fixed zone), so the corpus is reproduced from the
//! repository instead of committing thousands of files; `fuzz/seeds.sh` runs it.
//!
//! Queries: the standard root query mix over the bundled zone (shared/querymix/SPEC.md), which reaches
//! every kind of answer, and the envelopes the mix does not draw (malformed counts, compression, odd OPTs).
//! Zones: parts of the bundled zone (its apex, a few TLDs with their glue and DNSSEC records, with the
//! original ZONEMD and with one recomputed so that verification passes), and small hand-written zones that
//! use the master-file syntax the bundled zone does not ($ORIGIN, $TTL, parentheses, relative names,
//! omitted class and TTL, escapes) or break one rule each.

use std::fs;
use std::path::{Path, PathBuf};

use m_root_fuzz::{bundled_zone_path, root};
use zonegen::testkit::querymix::Generator;
use zonegen::{LoadOptions, Zone, name, rr, wire};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("usage: seeds OUT_DIR [MIX_QUERIES]"));
    let mix: usize = args.next().map_or(2000, |n| n.parse().expect("MIX_QUERIES is a number"));
    let queries = queries(mix);
    for target in ["query_answer", "splice_vs_answer"] {
        write_all(&out.join(target), &queries);
    }
    let zones = zones();
    write_all(&out.join("zone_file"), &zones);
    eprintln!("seeds: {} queries, {} zones in {}", queries.len(), zones.len(), out.display());
}

fn write_all(dir: &Path, seeds: &[(String, Vec<u8>)]) {
    fs::create_dir_all(dir).expect("create the corpus directory");
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).expect("write a seed");
    }
}

/// `qname` `qtype` IN with EDNS (`size`, DO) or without.
fn query(qname: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    wire::build_query(0x1234, 0, &name::from_text(qname).expect("a valid seed name"), qtype, rr::CLASS_IN, edns)
}

/// A query with an OPT carrying `options` (code, payload), version `version`.
fn query_with_options(qname: &str, qtype: u16, version: u8, options: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = query(qname, qtype, None);
    let rdata: Vec<u8> =
        options.iter().flat_map(|(code, data)| [&code.to_be_bytes()[..], &(data.len() as u16).to_be_bytes(), data].concat()).collect();
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, version, 0x80, 0]);
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(&rdata);
    m[11] = 1;
    m
}

fn queries(mix: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut g = Generator::new(root(), 1);
    for i in 0..mix {
        out.push((format!("mix-{i:05}"), g.next().msg));
    }
    let com_a = query("www.example.com", rr::A, Some((1232, true)));
    let mut edge: Vec<(&str, Vec<u8>)> = vec![
        ("short", com_a[..11].to_vec()),
        ("header-only", { com_a[..12].iter().enumerate().map(|(i, &b)| if i == 5 { 0 } else { b }).collect() }),
        ("response", {
            let mut m = com_a.clone();
            m[2] |= 0x80;
            m
        }),
        ("notify", {
            let mut m = com_a.clone();
            m[2] |= 4 << 3;
            m
        }),
        ("flags-tc-ad-cd", {
            let mut m = com_a.clone();
            m[2] |= 0x03;
            m[3] |= 0x30;
            m
        }),
        ("trailing-octet", [&com_a[..], &[0]].concat()),
        ("truncated-opt", com_a[..com_a.len() - 3].to_vec()),
        ("answer-count", {
            let mut m = com_a.clone();
            m[7] = 1;
            m
        }),
        ("two-opts", {
            let opt = com_a[com_a.len() - 11..].to_vec();
            let mut m = [&com_a[..], &opt].concat();
            m[11] = 2;
            m
        }),
        ("opt-owner-not-root", {
            let mut m = query("jp", rr::NS, None);
            m.extend_from_slice(&[1, b'a', 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
            m[11] = 1;
            m
        }),
        ("qname-pointer", {
            let mut m = query("jp", rr::NS, None);
            m.truncate(12);
            m.extend_from_slice(&[0xc0, 12, 0, 2, 0, 1]);
            m
        }),
        ("qname-label-64", {
            let mut m = query("jp", rr::NS, None);
            m.truncate(12);
            m.push(64);
            m.extend_from_slice(&[b'a'; 64]);
            m.extend_from_slice(&[0, 0, 1, 0, 1]);
            m
        }),
        ("edns-v1", query_with_options("jp", rr::SOA, 1, &[])),
        ("nsid", query_with_options("jp", rr::NS, 0, &[(3, b"")])),
        ("cookie-padding", query_with_options(".", rr::DNSKEY, 0, &[(10, &[7; 8]), (12, &[0; 40])])),
        ("option-overrun", {
            let mut m = query_with_options("com", rr::DS, 0, &[(3, b"")]);
            let n = m.len();
            m[n - 1] = 9;
            m
        }),
        ("chaos-id", wire::build_query(7, 0, &name::from_text("id.server").expect("name"), rr::TXT, rr::CLASS_CH, Some((1232, false)))),
        ("chaos-version", wire::build_query(7, 0, &name::from_text("version.bind").expect("name"), rr::TXT, rr::CLASS_CH, None)),
        ("class-any", wire::build_query(7, 0, &name::from_text("com").expect("name"), rr::NS, 255, None)),
        ("case-0x20", query("wWw.ExAmPlE.CoM", rr::AAAA, Some((4096, true)))),
        ("nxdomain-do", query("no-such-tld-at-all", rr::A, Some((1232, true)))),
        ("nxdomain-after-last", query("zzzzzzzz", rr::A, Some((1232, true)))),
        ("nxdomain-escape", wire::build_query(1, 0, b"\x03a\x00b\x00", rr::A, rr::CLASS_IN, Some((1232, true)))),
        ("priming-512", query(".", rr::NS, None)),
        ("priming-do-1232", query(".", rr::NS, Some((1232, true)))),
        ("dnskey-do-512", query(".", rr::DNSKEY, Some((512, true)))),
        ("any-apex", query(".", rr::ANY, Some((1232, true)))),
        ("ds-jp", query("jp", rr::DS, Some((1232, true)))),
        ("nsec-jp", query("jp", rr::NSEC, Some((1232, true)))),
        ("axfr", query(".", 252, None)),
        ("rrsig-com", query("com", rr::RRSIG, Some((1232, true)))),
        ("size-0", query("com", rr::NS, Some((0, false)))),
        ("size-1233", query("com", rr::NS, Some((1233, true)))),
        ("size-65535", query("ae", rr::NS, Some((65535, true)))),
        ("arpa-ptr", query("1.2.0.192.in-addr.arpa", rr::PTR, Some((1232, false)))),
        ("trust-anchor", query("_ta-4f66", 10, Some((1232, true)))),
    ];
    out.extend(edge.drain(..).map(|(n, m)| (format!("edge-{n}"), m)));
    out
}

/// The bundled zone's records whose owner is the apex, one of `tlds` (in canonical order) or below one of
/// them: a small zone in the bundled zone's own spelling (tab-separated, absolute names, every record with
/// TTL and class). Its NSEC records are relinked over the TLDs kept, as validation wants a closed chain.
fn part_of_bundled(tlds: &[&str]) -> String {
    let text = fs::read_to_string(bundled_zone_path()).expect("read the bundled zone");
    let chain: Vec<String> = std::iter::once(".".to_string()).chain(tlds.iter().map(|t| format!("{t}."))).collect();
    let mut out = String::new();
    for line in text.lines() {
        let mut fields: Vec<&str> = line.split('\t').filter(|f| !f.is_empty()).collect();
        let Some(owner) = fields.first().map(|o| o.to_ascii_lowercase()) else { continue };
        if owner != "." && !tlds.iter().any(|t| owner == format!("{t}.") || owner.ends_with(&format!(".{t}."))) {
            continue;
        }
        let next;
        if fields.get(3) == Some(&"NSEC")
            && let Some(i) = chain.iter().position(|c| *c == owner)
        {
            next = format!("{} {}", chain[(i + 1) % chain.len()], fields[4].split_once(' ').map_or("", |(_, types)| types));
            fields[4] = &next;
        }
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

/// `text` with its ZONEMD digest replaced by the zone's own (SIMPLE, SHA-384), so that verification passes.
fn with_own_zonemd(text: &str) -> String {
    let zone = Zone::from_bytes(text.as_bytes(), Path::new("seed"), &LoadOptions { no_zonemd: true }).expect("the seed zone loads");
    let digest: String = zonegen::zonemd::digest(&zone).iter().map(|b| format!("{b:02X}")).collect();
    let mut out = String::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.iter().position(|f| *f == "ZONEMD") {
            Some(i) if fields.len() == i + 5 => out.push_str(&format!("{} {digest}\n", fields[..i + 4].join(" "))),
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    let check = Zone::from_bytes(out.as_bytes(), Path::new("seed"), &LoadOptions::default()).expect("the recomputed ZONEMD verifies");
    assert!(check.zonemd.starts_with("verified"), "{}", check.zonemd);
    out
}

/// A small zone in relative names, with $ORIGIN, $TTL, parentheses, comments, omitted TTL and class.
const HANDWRITTEN: &str = "\
$ORIGIN .
$TTL 86400
@   IN SOA a.root-servers.net. nstld.verisign-grs.com. (
        2026073102 ; serial
        1800 900 604800 86400 )
    518400 NS a.root-servers.net.
@          NS b.root-servers.net.
@ 86400 IN ZONEMD 2026073102 1 1 000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
$ORIGIN example.
@ 172800 IN NS ns1
  172800    NS ns2.other.
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
@ 86400 DS 12345 8 2 ( 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE
                      6E4D9D2D2E8A6E3D9A7C2F4B )
$ORIGIN .
other. 172800 IN NS ns2.other.
ns2.other. 172800 IN A 192.0.2.2
xn--p1ai. NS ns.xn--p1ai.
ns.xn--p1ai. A 198.51.100.7
\\065b\\.c. NS ns1.example.
";

/// Zones that break one rule each (the reader must refuse them cleanly, at the right line).
const BROKEN: &[(&str, &str)] = &[
    ("no-soa", ". 86400 IN NS a.root-servers.net.\n"),
    ("two-soa", ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN SOA a. b. 2 2 3 4 5\n. 86400 IN NS a.\n"),
    ("class-ch", ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 CH NS a.\n"),
    ("include", ". 86400 IN SOA a. b. 1 2 3 4 5\n$INCLUDE other.zone\n"),
    ("tld-without-ns", ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.\ncom. 86400 IN A 192.0.2.1\n"),
    (
        "deep-delegation",
        ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.\ncom. 1 IN NS a.com.\na.com. 1 IN A 192.0.2.1\nb.com. 1 IN NS a.com.\n",
    ),
    ("missing-glue", ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.\ncom. 1 IN NS ns.com.\n"),
    (
        "rrsig-nothing",
        ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.\n. 86400 IN RRSIG A 8 0 86400 20260813200000 20260731190000 1 . AAAA\n",
    ),
    ("unterminated-paren", ". 86400 IN SOA a. b. ( 1 2 3 4 5\n. 86400 IN NS a.\n"),
    ("bad-zonemd-serial", ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.\n. 86400 IN ZONEMD 2 1 1 00112233445566778899AABBCCDDEEFF\n"),
    ("quoted-and-escaped", ". 86400 IN SOA a. b. 1 2 3 4 5\n. 86400 IN NS a.\n. 86400 IN TXT \"a \\\"quoted\\\" ; not a comment\" \\# 0\n"),
];

fn zones() -> Vec<(String, Vec<u8>)> {
    let text = fs::read_to_string(bundled_zone_path()).expect("read the bundled zone");
    let head: String = text.lines().take(30).map(|l| format!("{l}\n")).collect();
    // ae: in-domain and sibling name servers; arpa: the infrastructure TLD; jp: in-domain glue only; no:
    // sibling name servers only. In canonical order, for the NSEC chain.
    let part = part_of_bundled(&["ae", "arpa", "jp", "no"]);
    let mut out = vec![
        ("bundled-head".to_string(), head.into_bytes()),
        ("bundled-part".to_string(), part.clone().into_bytes()),
        ("bundled-part-zonemd".to_string(), with_own_zonemd(&part).into_bytes()),
        ("handwritten".to_string(), HANDWRITTEN.as_bytes().to_vec()),
        ("handwritten-zonemd".to_string(), with_own_zonemd(HANDWRITTEN).into_bytes()),
    ];
    out.extend(BROKEN.iter().map(|(n, z)| (format!("broken-{n}"), z.as_bytes().to_vec())));
    out
}
