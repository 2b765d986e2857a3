//! DNS cookies (RFC 7873, RFC 9018) in both kernel programs, under BPF_PROG_TEST_RUN on crafted frames
//! (each test once per hook; the TC program in its XDP-less mode). A client cookie gets an answer with
//! a fresh server cookie, byte for byte the answer function's, whose hash an independent implementation
//! (NLnet Labs' `domain`) accepts; a valid server cookie is exempt from rate limiting, an altered,
//! expired or foreign one is not (and its slipped answers are BADCOOKIE with a fresh cookie, the bytes
//! zonegen::answer::slipped gives); the previous secret is accepted; with cookies off such queries are
//! left to userspace. Needs root (CAP_BPF).

mod common;

use common::test_run::{Action, Harness, zone};
use domain::base::Serial;
use domain::base::opt::cookie::{ClientCookie, StandardServerCookie};
use m_root_common::cookie::CookieConf;
use m_root_common::{Counter, Hook};
use m_root_user::cookies::{Keys, parse_secret};
use m_root_user::limits::{Limits, Rrl};
use zonegen::answer::{self, CookieCtx, Transport};
use zonegen::{ServerConfig, name, rr, wire};

const RATE: u32 = 5;
/// RFC 9018 Appendix A's secrets, as hex and as the 16 octets `domain` takes.
const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
const OLD_SECRET: &str = "dd3bdf9344b678b185a6f5cb60fca715";
const CLIENT: [u8; 8] = [0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57];

fn octets(hex: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, o) in b.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    b
}

/// The settings the programs are given: a fixed key (the file's first line) and a previous one, at a
/// second well after RFC 9018's examples.
fn conf() -> CookieConf {
    let keys = Keys { secret: parse_secret(SECRET).unwrap(), previous: parse_secret(OLD_SECRET).unwrap(), rotation_seconds: 0 };
    keys.conf_at(1_800_000_000)
}

/// The programs with `rate` responses a second (0: off) and these cookie settings.
fn harness(hook: Hook, rate: u32, cookies: CookieConf) -> Harness {
    let mut h = Harness::new(hook, &Limits { rrl: Rrl { responses_per_second: rate, slip: 2, ..Rrl::default() }, ..Limits::default() });
    h.dp.set_cookies(cookies).unwrap();
    h
}

/// A query for `qname` with EDNS (1232, `dnssec_ok`) and a COOKIE option with `cookie` (client cookie,
/// then a server cookie when given).
fn query(qname: &str, qtype: u16, dnssec_ok: bool, cookie: &[u8]) -> Vec<u8> {
    let m = wire::build_query(0x5151, wire::FLAG_RD, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, Some((1232, dnssec_ok)));
    zonegen::testkit::querymix::with_option(&m, 10, cookie)
}

/// The answer function's answer to `q` from `src` under the same settings.
fn expected(q: &[u8], src: &str) -> answer::Answered {
    let ctx = CookieCtx { conf: conf(), client: src.parse().unwrap() };
    answer::answer_with(zone(), &ServerConfig::default(), q, Transport::Udp, Some(&ctx)).expect("answered")
}

/// The COOKIE option's payload at the end of an answer.
fn reply_cookie(resp: &[u8]) -> (ClientCookie, StandardServerCookie) {
    let n = resp.len();
    assert_eq!(&resp[n - 28..n - 24], &[0, 10, 0, 24], "the answer ends with our COOKIE option");
    let client = ClientCookie::from_octets(resp[n - 24..n - 16].try_into().unwrap());
    let s = &resp[n - 16..];
    let ts = u32::from_be_bytes(s[4..8].try_into().unwrap());
    let server = StandardServerCookie::new(s[0], [s[1], s[2], s[3]], Serial(ts), s[8..16].try_into().unwrap());
    (client, server)
}

/// A server cookie for `src` stamped `ts`, made by `domain` under `secret`.
fn server_cookie(secret: &str, src: &str, ts: u32) -> Vec<u8> {
    let s = StandardServerCookie::calculate(ClientCookie::from_octets(CLIENT), Serial(ts), src.parse().unwrap(), &octets(secret));
    let mut c = CLIENT.to_vec();
    c.push(s.version());
    c.extend_from_slice(&s.reserved());
    c.extend_from_slice(&s.timestamp().0.to_be_bytes());
    c.extend_from_slice(&s.hash());
    c
}

macro_rules! both_hooks {
    ($($check:ident),+ $(,)?) => {
        mod xdp { $(#[test] fn $check() { super::$check(m_root_common::Hook::Xdp) })+ }
        mod tc { $(#[test] fn $check() { super::$check(m_root_common::Hook::Tc) })+ }
    };
}

both_hooks!(
    a_client_cookie_gets_a_fresh_server_cookie,
    a_valid_server_cookie_is_exempt_and_an_altered_one_is_not,
    the_previous_secret_is_accepted_and_expired_cookies_are_not,
    with_cookies_off_they_go_to_userspace,
);

fn a_client_cookie_gets_a_fresh_server_cookie(hook: Hook) {
    let mut h = harness(hook, 0, conf());
    for (src, q) in [
        ("198.51.100.100", query("www.example.com", rr::A, true, &CLIENT)),
        ("2001:db8:220:1:59de:d0f4:8769:82b8", query("example.org", rr::NS, false, &CLIENT)),
        ("198.51.100.100", query(".", rr::DNSKEY, true, &CLIENT)),
        ("198.51.100.100", query("no-such-tld-zz", rr::A, true, &CLIENT)),
    ] {
        let want = expected(&q, src);
        assert_eq!(want.cookie, Some(answer::Verdict::ClientOnly));
        let Action::Answered(got) = h.ask(src, &q) else { panic!("{src}: not answered") };
        assert_eq!(got, want.msg, "{src}: the answer function's bytes");
        let (client, server) = reply_cookie(&got);
        assert_eq!(client.as_ref(), &CLIENT);
        assert_eq!(server.timestamp(), Serial(conf().now), "stamped with the published second");
        assert!(server.check_hash(client, src.parse().unwrap(), &octets(SECRET)), "{src}: domain accepts the hash");
    }
    assert_eq!((h.counter(Counter::CookieValid), h.counter(Counter::CookieBad)), (0, 0));
}

fn a_valid_server_cookie_is_exempt_and_an_altered_one_is_not(hook: Hook) {
    let mut h = harness(hook, RATE, conf());
    let src = "198.51.100.100";
    let now = conf().now;
    let good = query("www.example.com", rr::A, true, &server_cookie(SECRET, src, now - 100));
    for i in 0..20 {
        let want = expected(&good, src);
        assert_eq!(want.cookie, Some(answer::Verdict::Valid));
        assert_eq!(h.ask(src, &good), Action::Answered(want.msg.clone()), "valid cookie, response {}", i + 1);
        // Recent and made with the current secret: sent back as it came.
        assert_eq!(&want.msg[want.msg.len() - 24..], &good[good.len() - 24..]);
    }
    assert_eq!(h.counter(Counter::CookieValid), 20);
    assert_eq!(h.counter(Counter::RrlDropped) + h.counter(Counter::RrlSlipped), 0, "not charged");
    // One octet of the hash changed: a client cookie alone, limited as any (the bucket is fresh).
    let mut altered = server_cookie(SECRET, src, now - 100);
    altered[23] ^= 0x40;
    let bad = query("www.example.com", rr::A, true, &altered);
    let full = expected(&bad, src);
    assert_eq!(full.cookie, Some(answer::Verdict::Bad));
    let slipped = answer::slipped(&bad, &full.msg).expect("slipped");
    assert_eq!(slipped[3] & 0x0f, 7, "BADCOOKIE's low bits");
    assert_eq!(slipped[2] & 0x02, 0, "not TC: the client retries with the cookie");
    assert_eq!(&slipped[6..10], &[0, 0, 0, 0], "no records");
    assert!(slipped.len() <= bad.len() + 16);
    for i in 0..12 {
        let want = if i < RATE as usize {
            Action::Answered(full.msg.clone())
        } else if (i + 1 - RATE as usize).is_multiple_of(2) {
            Action::Answered(slipped.clone())
        } else {
            Action::Dropped
        };
        assert_eq!(h.ask(src, &bad), want, "altered cookie, response {}", i + 1);
    }
    assert_eq!(h.counter(Counter::CookieBad), 5 + 3, "counted where answered");
    // Another client's valid cookie from this address: not ours for it.
    let foreign = query("www.example.com", rr::A, true, &server_cookie(SECRET, "198.51.100.101", now - 100));
    assert_eq!(expected(&foreign, src).cookie, Some(answer::Verdict::Bad));
    assert_ne!(h.ask(src, &foreign), Action::Answered(expected(&foreign, src).msg), "limited: the bucket is spent");
}

fn the_previous_secret_is_accepted_and_expired_cookies_are_not(hook: Hook) {
    let mut h = harness(hook, RATE, conf());
    let src = "2001:db8:220:1:59de:d0f4:8769:82b8";
    let now = conf().now;
    let old = query("example.net", rr::A, false, &server_cookie(OLD_SECRET, src, now - 60));
    let want = expected(&old, src);
    assert_eq!(want.cookie, Some(answer::Verdict::Valid));
    for _ in 0..10 {
        assert_eq!(h.ask(src, &old), Action::Answered(want.msg.clone()));
    }
    // Valid under the previous secret: answered with a fresh cookie under the current one.
    let (client, server) = reply_cookie(&want.msg);
    assert!(server.check_hash(client, src.parse().unwrap(), &octets(SECRET)));
    // An hour and a second old: not valid, charged.
    let stale = query("example.net", rr::A, false, &server_cookie(SECRET, src, now - 3601));
    assert_eq!(expected(&stale, src).cookie, Some(answer::Verdict::Bad));
    let answered = (0..10).filter(|_| h.ask(src, &stale) == Action::Answered(expected(&stale, src).msg)).count();
    assert_eq!(answered, RATE as usize, "limited after the burst");
    assert_eq!(h.counter(Counter::CookieValid), 10);
}

fn with_cookies_off_they_go_to_userspace(hook: Hook) {
    let mut h = harness(hook, 0, CookieConf::default());
    let q = query("www.example.com", rr::A, true, &CLIENT);
    assert_eq!(h.ask("198.51.100.100", &q), Action::Passed);
    // A length the programs do not take (another server's 8-octet cookie): userspace's.
    let mut h = harness(hook, 0, conf());
    let mut other = CLIENT.to_vec();
    other.extend_from_slice(&[1; 8]);
    assert_eq!(h.ask("198.51.100.100", &query("www.example.com", rr::A, true, &other)), Action::Passed);
}
