//! DNS cookies in the answer function (RFC 7873, RFC 9018): what a query's COOKIE option gets back, what
//! it costs in the requester's buffer, FORMERR for a malformed one, and the slipped form (BADCOOKIE).

use std::path::Path;
use std::sync::OnceLock;

use m_root_common::cookie::CookieConf;
use zonegen::answer::{self, CookieCtx, Transport, Verdict};
use zonegen::{LoadOptions, ServerConfig, Zone, name, rr, wire};

fn root() -> &'static Zone {
    static Z: OnceLock<Zone> = OnceLock::new();
    Z.get_or_init(|| {
        Zone::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones/root.zone.2026073102"), &LoadOptions::default()).unwrap()
    })
}

fn ctx() -> CookieCtx {
    CookieCtx { conf: CookieConf { now: 1_800_000_000, current: 0, keys: [[1, 2], [3, 4], [3, 4]] }, client: "192.0.2.1".parse().unwrap() }
}

/// A query with EDNS size `size` and a COOKIE option of `payload`.
fn query(qname: &str, qtype: u16, size: u16, payload: &[u8]) -> Vec<u8> {
    let m = wire::build_query(9, 0, &name::from_text(qname).unwrap(), qtype, rr::CLASS_IN, Some((size, true)));
    zonegen::testkit::querymix::with_option(&m, 10, payload)
}

fn ask(q: &[u8], cookies: Option<&CookieCtx>) -> answer::Answered {
    answer::answer_with(root(), &ServerConfig::default(), q, Transport::Udp, cookies).expect("answered")
}

#[test]
fn a_client_cookie_is_answered_with_ours_last_in_the_opt() {
    let q = query("www.example.com", rr::NS, 1232, &[7; 8]);
    let a = ask(&q, Some(&ctx()));
    assert_eq!(a.cookie, Some(Verdict::ClientOnly));
    let n = a.msg.len();
    assert_eq!(&a.msg[n - 28..n - 16], &[0, 10, 0, 24, 7, 7, 7, 7, 7, 7, 7, 7], "option head, client cookie echoed");
    assert_eq!(&a.msg[n - 16..n - 12], &[1, 0, 0, 0], "version 1, reserved zero");
    assert_eq!(u32::from_be_bytes(a.msg[n - 12..n - 8].try_into().unwrap()), 1_800_000_000);
    assert_eq!(&a.msg[n - 30..n - 28], &[0, 28], "OPT RDLENGTH");
    // Without cookies on, the option is ignored (RFC 6891 6.1.2) and the answer has a bare OPT.
    let plain = ask(&q, None);
    assert_eq!((plain.cookie, &plain.msg[plain.msg.len() - 2..]), (None, &[0u8, 0][..]));
    assert_eq!(a.msg.len(), plain.msg.len() + 28);
}

#[test]
fn the_cookie_counts_against_the_requesters_buffer() {
    // At 512 the signed com referral does not fit whole: the 28 octets of cookie take a cut's room.
    for size in [512u16, 600, 700, 900, 1232] {
        let q = query("example.com", rr::A, size, &[1; 8]);
        let a = ask(&q, Some(&ctx()));
        assert!(a.msg.len() <= size.max(512) as usize, "{size}: {} octets", a.msg.len());
        assert_eq!(a.msg[a.msg.len() - 28..a.msg.len() - 24], [0, 10, 0, 24], "{size}: the cookie is there");
    }
}

#[test]
fn malformed_cookies_are_formerr_and_foreign_ones_bad() {
    for len in [0usize, 7, 9, 15, 41] {
        let a = ask(&query("com", rr::NS, 1232, &vec![1; len]), Some(&ctx()));
        assert_eq!((a.msg[3] & 0x0f, a.kind), (1, answer::Kind::Error), "{len} octets: FORMERR");
    }
    // Another server's 8-octet server cookie: valid in form, not ours.
    let a = ask(&query("com", rr::NS, 1232, &[1; 16]), Some(&ctx()));
    assert_eq!((a.msg[3] & 0x0f, a.cookie), (0, Some(Verdict::Bad)));
}

#[test]
fn a_slipped_answer_to_a_cookie_is_badcookie_with_ours() {
    let q = query("www.example.com", rr::NS, 1232, &[7; 8]);
    let a = ask(&q, Some(&ctx()));
    let s = answer::slipped(&q, &a.msg).unwrap();
    assert_eq!(s[3] & 0x0f, 7, "BADCOOKIE (23): its low bits in the header");
    assert_eq!(s[2] & 0x02, 0, "no TC");
    assert_eq!(&s[6..12], &[0, 0, 0, 0, 0, 1], "no records but the OPT");
    let opt_at = s.len() - 28 - 11;
    assert_eq!(s[opt_at + 5], 1, "and its upper bits in the OPT");
    assert_eq!(&s[s.len() - 28..], &a.msg[a.msg.len() - 28..], "the answer's cookie");
    assert_eq!(s.len(), q.len() + 16, "the query's size plus 16 octets");
    // Without a cookie: TC=1, a bare OPT.
    let plain = wire::build_query(9, 0, &name::from_text("www.example.com").unwrap(), rr::NS, rr::CLASS_IN, Some((1232, true)));
    let s = answer::slipped(&plain, &ask(&plain, Some(&ctx())).msg).unwrap();
    assert_eq!((s[2] & 0x02, s.len()), (0x02, plain.len()));
}

#[test]
fn a_query_without_a_question_fetches_a_server_cookie() {
    // RFC 7873 5.4: header, no question, an OPT with a client cookie.
    let mut q = vec![0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8]);
    q.extend_from_slice(&[5; 8]);
    let a = ask(&q, Some(&ctx()));
    assert_eq!(a.cookie, Some(Verdict::ClientOnly));
    assert_eq!(&a.msg[..2], &[0x12, 0x34]);
    assert_eq!(a.msg[3] & 0x0f, 0, "NOERROR");
    assert_eq!(&a.msg[4..12], &[0, 0, 0, 0, 0, 0, 0, 1], "no question, no records, the OPT");
    assert_eq!(&a.msg[a.msg.len() - 28..a.msg.len() - 16], &[0, 10, 0, 24, 5, 5, 5, 5, 5, 5, 5, 5]);
    // Cookies off: FORMERR, as before.
    assert_eq!(ask(&q, None).msg[3] & 0x0f, 1);
    // With a question count of 0 but another record: FORMERR.
    let mut two = q.clone();
    two[7] = 1;
    assert_eq!(ask(&two, Some(&ctx())).msg[3] & 0x0f, 1);
}
