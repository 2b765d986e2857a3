//! What the counters read from a message: its question's name, type and last label, the rcode of a
//! response (extended ones included), and the key tags of a query's edns-key-tag option.

use super::user::RCODES;

/// EDNS option code of edns-key-tag (RFC 8145 section 5).
const OPTION_EDNS_KEY_TAG: u16 = 14;
/// Key tags counted from one option at most (a longer list is counted up to here).
const MAX_KEY_TAGS: usize = 16;

/// The question of a message: its name's offset past the header and length, if it has one.
pub(super) fn question(msg: &[u8]) -> Option<(&[u8], usize)> {
    if msg.len() < 12 || msg[4..6] == [0, 0] {
        return None;
    }
    let l = zonegen::name::wire_len(msg, 12)?;
    Some((&msg[12..12 + l], 12 + l))
}

/// The last (top-level) label of a message's question name.
pub(super) fn last_label(msg: &[u8]) -> Option<&[u8]> {
    let t = zonegen::name::suffix(question(msg)?.0, 1);
    (t.len() > 1).then(|| &t[1..t.len() - 1])
}

/// The rcode of a response, its OPT's upper eight bits included (daily::extended_rcode); the header's
/// four bits alone when the whole would be past what is counted.
pub(super) fn rcode_of(resp: &[u8]) -> usize {
    let r = super::daily::extended_rcode(resp) as usize;
    if r < RCODES { r } else { (resp.get(3).copied().unwrap_or(0) & 0x0f) as usize }
}

/// The key tags of a query's edns-key-tag option (RFC 8145 section 5: a list of 16-bit tags), when it
/// parses as a query with one; an option whose length is odd carries none.
pub fn edns_key_tags(query: &[u8]) -> Vec<u16> {
    let Ok(q) = zonegen::wire::parse_query(query) else { return Vec::new() };
    if q.edns.is_none() {
        return Vec::new();
    }
    // parse_query refuses answer and authority records and anything in the additional section but
    // one OPT (root owner), so the OPT's RDATA follows the question.
    let opt = 12 + q.question.len();
    let Some(rdlen) = query.get(opt + 9..opt + 11).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else { return Vec::new() };
    let Some(mut rdata) = query.get(opt + 11..opt + 11 + rdlen) else { return Vec::new() };
    while let [c0, c1, l0, l1, rest @ ..] = rdata {
        let (code, len) = (u16::from_be_bytes([*c0, *c1]), u16::from_be_bytes([*l0, *l1]) as usize);
        let Some(payload) = rest.get(..len) else { break };
        if code == OPTION_EDNS_KEY_TAG && len % 2 == 0 {
            return payload.chunks_exact(2).take(MAX_KEY_TAGS).map(|t| u16::from_be_bytes([t[0], t[1]])).collect();
        }
        rdata = &rest[len..];
    }
    Vec::new()
}

/// The qtype of a message's first question, if it has one.
pub(super) fn question_type(msg: &[u8]) -> Option<u16> {
    let (_, end) = question(msg)?;
    Some(u16::from_be_bytes([*msg.get(end)?, *msg.get(end + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zonegen::{name, rr, wire};

    /// `. NS` with EDNS and these options in its OPT.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut q = wire::build_query(7, 0, &name::from_text(".").unwrap(), rr::NS, rr::CLASS_IN, Some((1232, false)));
        let n = q.len();
        let rdlen = u16::from_be_bytes([q[n - 2], q[n - 1]]) as usize + options.len();
        q[n - 2..].copy_from_slice(&(rdlen as u16).to_be_bytes());
        q.extend_from_slice(options);
        q
    }

    #[test]
    fn key_tags_come_from_the_edns_key_tag_option() {
        // NSID, then edns-key-tag with 20326 and 38696.
        let q = with_options(&[0, 3, 0, 0, 0, 14, 0, 4, 0x4f, 0x66, 0x97, 0x28]);
        assert_eq!(edns_key_tags(&q), vec![20326, 38696]);
        assert!(edns_key_tags(&with_options(&[0, 14, 0, 3, 0x4f, 0x66, 0x97])).is_empty(), "odd length");
        assert!(edns_key_tags(&with_options(&[0, 14, 0, 8, 0x4f, 0x66])).is_empty(), "runs past the RDATA");
        assert!(edns_key_tags(&with_options(&[])).is_empty());
        assert!(edns_key_tags(&q[..q.len() - 1]).is_empty());
        assert!(edns_key_tags(&[0u8; 5]).is_empty());
    }

    #[test]
    fn extended_rcodes_are_read_from_the_opt() {
        // A response to `. NS` with empty sections and an OPT whose extended rcode is 1: BADVERS (16).
        let mut r = with_options(&[]);
        r[2] |= 0x80;
        let opt = 12 + 1 + 4;
        r[opt + 5] = 1;
        assert_eq!(rcode_of(&r), 16);
        r[3] = 7;
        assert_eq!(rcode_of(&r), 23, "BADCOOKIE");
        r[opt + 5] = 0x40;
        assert_eq!(rcode_of(&r), 7, "past what is counted: the header's bits");
        r[opt + 5] = 0;
        r[3] = 3;
        assert_eq!(rcode_of(&r), 3);
        assert_eq!(rcode_of(&r[..4]), 3);
    }
}
