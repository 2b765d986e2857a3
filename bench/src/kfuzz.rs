//! `bench fuzz-kernel`: both kernel programs under BPF_PROG_TEST_RUN on mutated frames, every verdict
//! checked against a model written here, apart from the programs.
//!
//! Frames start from the standard query mix (with and without EDNS, cookies of every length, over IPv4
//! and IPv6, behind 0-3 VLAN tags) and are mutated at the DNS level (EDNS option soup, several OPTs,
//! compression pointers in the question, other flags and counts, responses (QR=1) and other opcodes,
//! trailing bytes) and at the frame level (bit flips, truncation, padding, lengths that lie, IPv4 options
//! of several kinds and fragments, IPv6 extension headers alone or chained, fragment headers among them,
//! other protocols, ports and addresses). A frame the programs answer must be one they may answer (UDP to
//! port 53 of a service address, IPv4 without options or fragments or IPv6 without extension headers,
//! lengths that agree), the query must be one the coverage rule covers, and the answer a well-formed
//! frame with correct checksums, MACs, addresses and ports swapped, whose DNS bytes are the answer
//! function's for that query (cookies included). A frame passed on must be unchanged; one XDP passes
//! with its hint for TC must be one TC may answer. The last tenth of the frames run with XDP_TX off,
//! where XDP must send nothing. Nothing may be dropped (rate limiting and the drop list are off).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aya::programs::{TestRun, TestRunOptions};
use m_root_common::cookie::{self, CookieConf};
use m_root_user::cookies::{Keys, parse_secret};
use m_root_user::dataplane::Dataplane;
use m_root_user::frame::{self, Spec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zonegen::answer::{self, CookieCtx, Transport};
use zonegen::testkit::querymix::{Carrier, Generator};
use zonegen::{LoadOptions, ServerConfig, Zone, compile};

const SRV4: &str = "198.18.0.1";
const SRV6: &str = "2001:db8::1";
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
pub(crate) const XDP_TX: u32 = 3;
const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;
pub(crate) const TC_ACT_REDIRECT: u32 = 7;
const TC_ACT_UNSPEC: u32 = u32::MAX;

pub struct Options {
    pub zone: PathBuf,
    pub frames: u64,
    pub seed: u64,
    /// Where frames that broke a rule are written (hex, one per file).
    pub out: PathBuf,
}

/// What one program did with the frames, and the rules broken.
#[derive(Default)]
struct Tally {
    answered: u64,
    passed: u64,
    /// Passed, though the model says the program could have answered (allowed: passing is always safe).
    passed_covered: u64,
    /// Frames BPF_PROG_TEST_RUN would not run the program on.
    refused: u64,
    /// Passed with the hint for TC (XDP with XDP_TX off, or no room).
    hinted: u64,
    violations: Vec<(String, Vec<u8>)>,
}

/// A frame the programs may answer, as the model reads it.
struct Admissible {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    vlans: usize,
    payload: Vec<u8>,
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

/// The model: Ethernet, at most two VLAN tags, IPv4 (header of 20 octets, no fragment) or IPv6 (no
/// extension header) carrying UDP to port 53 of a service address from a port other than 0, the UDP
/// length equal to the IP payload's and the frame holding it (padding after it allowed).
fn admissible(f: &[u8], service: &[IpAddr]) -> Option<Admissible> {
    let mut off = 12;
    let mut vlans = 0;
    let mut proto = be16(f, off)?;
    while (proto == 0x8100 || proto == 0x88a8) && vlans < 2 {
        vlans += 1;
        off += 4;
        proto = be16(f, off)?;
    }
    off += 2;
    let (src, dst, udp_at, ip_payload) = match proto {
        0x0800 => {
            let ip = f.get(off..off + 20)?;
            if ip[0] != 0x45 || ip[9] != 17 || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return None;
            }
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            let s: [u8; 4] = ip[12..16].try_into().ok()?;
            let d: [u8; 4] = ip[16..20].try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), off + 20, total.checked_sub(20)?)
        }
        0x86dd => {
            let ip = f.get(off..off + 40)?;
            if ip[0] >> 4 != 6 || ip[6] != 17 {
                return None;
            }
            let s: [u8; 16] = ip[8..24].try_into().ok()?;
            let d: [u8; 16] = ip[24..40].try_into().ok()?;
            (IpAddr::from(s), IpAddr::from(d), off + 40, u16::from_be_bytes([ip[4], ip[5]]) as usize)
        }
        _ => return None,
    };
    let udp = f.get(udp_at..udp_at + 8)?;
    let (sport, dport, len) = (be16(udp, 0)?, be16(udp, 2)?, be16(udp, 4)? as usize);
    if dport != 53 || sport == 0 || len != ip_payload || len < 8 + 12 || !service.contains(&dst) {
        return None;
    }
    let payload = f.get(udp_at + 8..udp_at + len)?.to_vec();
    let dst_mac: [u8; 6] = f.get(0..6)?.try_into().ok()?;
    let src_mac: [u8; 6] = f.get(6..12)?.try_into().ok()?;
    Some(Admissible { src_mac, dst_mac, src, dst, sport, vlans, payload })
}

/// A query with an OPT carrying `options` (code, payload) instead of the one it had (if any).
fn with_options(msg: &[u8], rng: &mut ChaCha8Rng, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let Ok(q) = zonegen::wire::parse_query(msg) else { return msg.to_vec() };
    let mut m = msg[..12 + q.question.len()].to_vec();
    m[10..12].copy_from_slice(&[0, 1]);
    let rdata: Vec<u8> = options
        .iter()
        .flat_map(|(c, p)| c.to_be_bytes().into_iter().chain((p.len() as u16).to_be_bytes()).chain(p.iter().copied()))
        .collect();
    let size: u16 = if rng.random_bool(0.8) { 1232 } else { rng.random() };
    let version = if rng.random_bool(0.9) { 0 } else { rng.random() };
    let flags: u16 = if rng.random_bool(0.5) { 0x8000 } else { 0 };
    m.extend_from_slice(&[0, 0, 41]);
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(&[0, version]);
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(&rdata);
    m
}

/// DNS-level mutations (the frame around them is built correctly).
fn mutate_message(msg: &mut Vec<u8>, rng: &mut ChaCha8Rng, cookie_for: IpAddr, conf: &CookieConf) {
    match rng.random_range(0..10) {
        // Cookies of every length, ours (valid for this client or not) or not.
        0..=2 => {
            let client: [u8; 8] = rng.random();
            let mut payload = client.to_vec();
            match rng.random_range(0..5) {
                0 => {}
                1 => {
                    // A valid one for this client, stamped up to two minutes ago.
                    let head = cookie::head_word(cookie::VERSION, [0; 3], conf.now - rng.random_range(0..120));
                    let (addr, v6) = zonegen::answer::cookie::addr_key(cookie_for);
                    let mac = cookie::hash(conf.current_key(), u64::from_le_bytes(client), head, cookie::addr_words(&addr), v6);
                    payload.extend_from_slice(&head.to_le_bytes());
                    payload.extend_from_slice(&mac.to_le_bytes());
                }
                2 => payload.extend_from_slice(&rng.random::<[u8; 16]>()),
                3 => payload.truncate(rng.random_range(0..8)),
                _ => payload.extend((0..rng.random_range(1..40)).map(|_| rng.random::<u8>())),
            }
            *msg = with_options(msg, rng, &[(10, payload)]);
        }
        // Option soup: NSID, padding, unknown codes, several cookies.
        3 => {
            let n = rng.random_range(0..4);
            let opts: Vec<(u16, Vec<u8>)> = (0..n)
                .map(|_| {
                    let code = [3u16, 10, 12, rng.random()][rng.random_range(0..4)];
                    (code, (0..rng.random_range(0..24)).map(|_| rng.random()).collect())
                })
                .collect();
            *msg = with_options(msg, rng, &opts);
        }
        // Header flags and counts.
        4 => {
            let at = rng.random_range(2..12);
            msg[at] = rng.random();
        }
        // A compression pointer in the question, at a random label boundary or anywhere.
        5 if msg.len() > 14 => {
            let at = rng.random_range(12..msg.len() - 1);
            msg[at] = 0xc0 | (rng.random::<u8>() & 0x3f);
            msg[at + 1] = rng.random();
        }
        // Trailing bytes after the message; or a response (QR=1), or another opcode: never answered.
        6 => match rng.random_range(0..3) {
            0 => msg.extend((0..rng.random_range(1..16)).map(|_| rng.random::<u8>())),
            1 => msg[2] |= 0x80,
            _ => msg[2] = (msg[2] & 0x87) | (rng.random_range(1..16u8) << 3),
        },
        // A second OPT, or an OPT that is not last.
        7 => {
            if let Some(ar) = msg.get_mut(11) {
                *ar = ar.wrapping_add(1);
            }
            msg.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
        }
        // Unchanged.
        _ => {}
    }
}

/// Frame-level mutations: offsets of the L3 header after `vlans` tags.
fn mutate_frame(f: &mut Vec<u8>, rng: &mut ChaCha8Rng, vlans: usize, v6: bool) {
    let l3 = 14 + 4 * vlans;
    match rng.random_range(0..16) {
        0..=2 => {
            // Bit flips, mostly in the headers.
            for _ in 0..rng.random_range(1..5) {
                let span = if rng.random_bool(0.7) { (l3 + 60).min(f.len()) } else { f.len() };
                let at = rng.random_range(0..span);
                f[at] ^= 1 << rng.random_range(0..8);
            }
        }
        3 => {
            let n = rng.random_range(14..f.len());
            f.truncate(n);
        }
        // Ethernet padding: allowed, must still be answered as the same query.
        4 => f.extend(std::iter::repeat_n(0, rng.random_range(1..40))),
        // IP lengths that lie.
        5 => {
            let at = if v6 { l3 + 4 } else { l3 + 2 };
            let v = be16(f, at).unwrap_or(0).wrapping_add(rng.random_range(0..9u16).wrapping_sub(4));
            f[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
        // UDP lengths that lie.
        6 => {
            let at = l3 + if v6 { 40 } else { 20 } + 4;
            let v = be16(f, at).unwrap_or(0).wrapping_add(rng.random_range(0..9u16).wrapping_sub(4));
            f[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
        // IPv4 options, or IPv6 extension headers, inserted.
        // (IPv6: hop-by-hop, routing, destination options or a fragment header, one or a chain of two,
        // the payload length grown to match or not; IPv4: NOPs, router alert, record route, end of list.)
        7 => {
            if v6 {
                let n = rng.random_range(1..3);
                let kinds: Vec<u8> = (0..n).map(|_| [0u8, 43, 60, 44][rng.random_range(0..4)]).collect();
                let mut exts = Vec::new();
                for (i, _) in kinds.iter().enumerate() {
                    let next = kinds.get(i + 1).copied().unwrap_or(17);
                    // A fragment header is 8 octets with an offset and id; the others 8 octets of padding.
                    let frag: u16 = [0u16, 1, 8 << 3][rng.random_range(0..3)];
                    exts.extend_from_slice(&[next, 0, (frag >> 8) as u8, frag as u8, 0, 0, 0, 1]);
                }
                f[l3 + 6] = kinds[0];
                if rng.random_bool(0.5) {
                    let plen = be16(f, l3 + 4).unwrap_or(0).wrapping_add(exts.len() as u16);
                    f[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
                }
                f.splice(l3 + 40..l3 + 40, exts);
            } else {
                let words = rng.random_range(1..11);
                let mut opts = Vec::new();
                while opts.len() < 4 * words {
                    match rng.random_range(0..4) {
                        0 => opts.extend_from_slice(&[0x94, 4, 0, 0]),
                        1 => opts.extend_from_slice(&[7, 7, 4, 0, 0, 0, 0]),
                        2 => opts.push(0),
                        _ => opts.push(1),
                    }
                }
                opts.truncate(4 * words);
                f[l3] = 0x40 | (5 + words as u8);
                if rng.random_bool(0.5) {
                    let total = be16(f, l3 + 2).unwrap_or(0).wrapping_add(opts.len() as u16);
                    f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
                }
                f.splice(l3 + 20..l3 + 20, opts);
            }
        }
        // IPv4 fragments.
        8 if !v6 => {
            let v = [0x2000u16, 0x0001, 0x2005, 0x1fff][rng.random_range(0..4)];
            f[l3 + 6..l3 + 8].copy_from_slice(&v.to_be_bytes());
        }
        // Another protocol, another port, source port 0.
        9 => {
            let at = l3 + if v6 { 6 } else { 9 };
            f[at] = [6u8, 1, 58, 132][rng.random_range(0..4)];
        }
        10 => {
            let at = l3 + if v6 { 40 } else { 20 } + rng.random_range(0..2) * 2;
            let v: u16 = [0, 5353, 853, rng.random()][rng.random_range(0..4)];
            f[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
        // Another destination, or an IPv4 header in an IPv6 EtherType (and the other way).
        11 => {
            let at = l3 + if v6 { 24 + rng.random_range(0..16) } else { 16 + rng.random_range(0..4) };
            f[at] ^= 1 << rng.random_range(0..8);
        }
        12 => {
            let et = if v6 { 0x0800u16 } else { 0x86dd };
            f[l3 - 2..l3].copy_from_slice(&et.to_be_bytes());
        }
        _ => {}
    }
}

/// One fuzz frame and whether it is IPv6.
fn make_frame(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>], conf: &CookieConf) -> Vec<u8> {
    let v6 = rng.random_bool(0.4);
    let src: IpAddr = if v6 {
        IpAddr::from([0x2001, 0x0db8, 0x0100, rng.random(), 0, 0, 0, rng.random_range(1..0xffff)])
    } else {
        IpAddr::from([198, 18, rng.random_range(1..255), rng.random_range(1..255)])
    };
    let dst: IpAddr = if v6 { SRV6.parse().unwrap_or(src) } else { SRV4.parse().unwrap_or(src) };
    let n_vlans = [0usize, 0, 0, 1, 2, 3][rng.random_range(0..6)];
    let vlans: Vec<(u16, u16)> =
        (0..n_vlans).map(|i| (if i == 0 && n_vlans > 1 { 0x88a8 } else { 0x8100 }, rng.random_range(1..4095))).collect();
    let spec =
        Spec { src_mac: [2, 0, 0, 0, 0, 2], dst_mac: [2, 0, 0, 0, 0, 1], vlans, src, dst, sport: rng.random_range(1..65535), dport: 53 };
    let mut msg = seeds[rng.random_range(0..seeds.len())].clone();
    mutate_message(&mut msg, rng, src, conf);
    let mut f = frame::build(&spec, &msg);
    if rng.random_bool(0.5) {
        mutate_frame(&mut f, rng, n_vlans, v6);
    }
    f
}

/// What the verdicts are checked against: the zone, the cookie settings the programs have, the service
/// addresses.
struct Checker<'a> {
    /// XDP may send (XDP_TX on); off, it must pass every frame unchanged (TC answers it with the hint).
    xdp_sends: bool,
    zone: &'a Zone,
    conf: CookieConf,
    service: &'a [IpAddr],
}

impl Checker<'_> {
    /// Check what a program (XDP when `xdp`, else TC) did with `input`: it returned `ret` and left `out`.
    fn check(&self, tally: &mut Tally, input: &[u8], ret: u32, out: &[u8], xdp: bool) {
        if let Some(why) = self.broken(tally, input, ret, out, xdp) {
            tally.violations.push((why, input.to_vec()));
        }
    }

    /// The rule the verdict broke, if any.
    fn broken(&self, tally: &mut Tally, input: &[u8], ret: u32, out: &[u8], xdp: bool) -> Option<String> {
        let (zone, conf, service) = (self.zone, &self.conf, self.service);
        let answered = if xdp { ret == XDP_TX } else { ret == TC_ACT_REDIRECT };
        let passed = if xdp { ret == XDP_PASS } else { ret == TC_ACT_UNSPEC || ret == TC_ACT_OK };
        let model = admissible(input, service);
        if answered {
            tally.answered += 1;
            if xdp && !self.xdp_sends {
                return Some("XDP answered with XDP_TX off".into());
            }
            let Some(q) = model else { return Some("answered a frame it must pass".into()) };
            if !m_root_user::dataplane::xdp_covers_with(zone, &q.payload, true) {
                return Some("answered a query the coverage rule leaves to userspace".into());
            }
            let got = match frame::parse_checked(out) {
                Ok(p) => p,
                Err(e) => return Some(format!("answer frame: {e}")),
            };
            if (got.src, got.dst, got.sport, got.dport) != (q.dst, q.src, 53, q.sport) || got.vlans.len() != q.vlans {
                return Some(format!("answer addressed {}:{} -> {}:{}", got.src, got.sport, got.dst, got.dport));
            }
            if (got.spec_src_mac, got.spec_dst_mac) != (q.dst_mac, q.src_mac) {
                return Some(format!("answer's MACs not swapped: {:02x?} -> {:02x?}", got.spec_src_mac, got.spec_dst_mac));
            }
            let ctx = CookieCtx { conf: *conf, client: q.src };
            let want = answer::answer_with(zone, &ServerConfig::default(), &q.payload, Transport::Udp, Some(&ctx)).map(|a| a.msg);
            if want.as_deref() != Some(&got.payload[..]) {
                return Some("answer differs from the answer function's".into());
            }
        } else if passed {
            tally.passed += 1;
            // XDP may leave a hint for TC in the metadata, which BPF_PROG_TEST_RUN returns before the
            // frame: only for a query it may answer and the coverage rule covers, naming an answer.
            let hint = std::mem::size_of::<m_root_common::XdpHint>();
            let hinted = xdp
                && out.len() == input.len() + hint
                && out.get(..4).is_some_and(|m| u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) == m_root_common::XDP_HINT_MAGIC);
            let frame_out = if hinted { &out[hint..] } else { out };
            if frame_out != input {
                return Some("passed a changed frame".into());
            }
            if hinted {
                tally.hinted += 1;
                if !model.as_ref().is_some_and(|q| m_root_user::dataplane::xdp_covers_with(zone, &q.payload, true)) {
                    return Some("hinted a frame TC must not answer".into());
                }
                let index = u32::from_ne_bytes([out[4], out[5], out[6], out[7]]);
                if index >= m_root_common::ANSWERS_PER_GEN * m_root_common::GENERATIONS {
                    return Some(format!("hint names no answer: {index}"));
                }
            }
            if !hinted && model.is_some_and(|q| m_root_user::dataplane::xdp_covers_with(zone, &q.payload, true)) {
                tally.passed_covered += 1;
            }
        } else {
            return Some(match (xdp, ret) {
                (true, XDP_DROP) | (false, TC_ACT_SHOT) => "dropped".to_string(),
                _ => format!("returned {ret}"),
            });
        }
        None
    }
}

pub fn run(o: &Options) -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!("bench fuzz-kernel loads BPF programs: run it as root");
    }
    let zone = Zone::load(&o.zone, &LoadOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let table = compile(&zone);
    let service: Vec<IpAddr> = vec![SRV4.parse()?, SRV6.parse()?];
    let keys = Keys {
        secret: parse_secret("e5e973e5a6b2a43f48e7dc849e37bfcf")?,
        previous: parse_secret("dd3bdf9344b678b185a6f5cb60fca715")?,
        rotation_seconds: 0,
    };
    let conf = keys.conf_at(m_root_user::cookies::unix_now());
    let mut dp = Dataplane::load().context("loading the programs")?;
    dp.set_service_addrs(&service)?;
    dp.install(&table)?;
    dp.set_tc_mode(true)?;
    dp.set_xdp_tx(true)?;
    dp.set_cookies(conf)?;
    let mut mix = Generator::new(&zone, o.seed);
    let seeds: Vec<Vec<u8>> =
        std::iter::from_fn(|| Some(mix.next())).filter(|q| q.carrier != Carrier::Tcp).take(4096).map(|q| q.msg).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut checker = Checker { xdp_sends: true, zone: &zone, conf, service: &service };
    let (mut xdp, mut tc) = (Tally::default(), Tally::default());
    let mut out = vec![0u8; 8192];
    // The last tenth of the frames with XDP_TX off (a virtual device, or `auto` after XDP_TX errors): XDP
    // must then pass every frame unchanged, the covered ones with the hint in metadata.
    let tx_off_from = o.frames - o.frames / 10;
    let started = Instant::now();
    let mut spent = [Duration::ZERO; 2];
    for i in 0..o.frames {
        if i == tx_off_from {
            dp.set_xdp_tx(false)?;
            checker.xdp_sends = false;
        }
        let f = make_frame(&mut rng, &seeds, &conf);
        for (is_xdp, tally) in [(true, &mut xdp), (false, &mut tc)] {
            let t = Instant::now();
            let opts = TestRunOptions { data_in: Some(&f), data_out: Some(&mut out), repeat: 1, ..Default::default() };
            let r = if is_xdp { dp.program_ref()?.test_run(opts) } else { dp.tc_program_ref()?.test_run(opts) };
            let r = match r {
                Ok(r) => r,
                // The skb harness refuses a frame whose EtherType says IP but that is shorter than the IP
                // header (it pulls the header first); XDP takes every frame.
                Err(_) if !is_xdp => {
                    tally.refused += 1;
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("BPF_PROG_TEST_RUN on frame {i} ({} octets)", f.len())),
            };
            let n = (r.data_size_out as usize).min(out.len());
            checker.check(tally, &f, r.return_value, &out[..n], is_xdp);
            spent[!is_xdp as usize] += t.elapsed();
        }
        if i > 0 && i % 1_000_000 == 0 {
            eprintln!(
                "{i} frames, {:.0} s, {} + {} violations",
                started.elapsed().as_secs_f64(),
                xdp.violations.len(),
                tc.violations.len()
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = crate::attack::cpu_model();
    println!(
        "bench fuzz-kernel: {} frames, each through both programs ({} of them with XDP_TX off), seed {}, {secs:.0} s ({cpu})",
        o.frames,
        o.frames - tx_off_from,
        o.seed
    );
    for (k, (name, t)) in [("XDP", &xdp), ("TC", &tc)].into_iter().enumerate() {
        let run = o.frames - t.refused;
        println!(
            "  {name}: {run} frames run ({} refused by the harness): {} answered, {} passed ({} with the hint for TC, {} coverable \
             without), {} violations; {:.0} frames/s for this program with its checks",
            t.refused,
            t.answered,
            t.passed,
            t.hinted,
            t.passed_covered,
            t.violations.len(),
            run as f64 / spent[k].as_secs_f64().max(1e-9)
        );
    }
    let all: Vec<&(String, Vec<u8>)> = xdp.violations.iter().chain(&tc.violations).collect();
    if all.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(&o.out)?;
    for (k, (why, f)) in all.iter().take(20).enumerate() {
        let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(o.out.join(format!("violation-{k}.hex")), format!("{why}\n{hex}\n"))?;
        eprintln!("  {why}: {hex}");
    }
    bail!("{} violations (the first 20 in {})", all.len(), o.out.display())
}
