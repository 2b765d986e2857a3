//! DNS wire facts the table and both programs rely on (RFC 1035, RFC 6891), and the query shape every
//! side agrees the table can answer at all.

/// Longest label (RFC 1035 2.3.4).
pub const MAX_LABEL: usize = 63;
/// Longest name in wire form (RFC 1035 2.3.4).
pub const MAX_NAME: usize = 255;
/// DNS header length.
pub const DNS_HEADER_LEN: usize = 12;
/// QTYPE and QCLASS, after a question's name.
pub const QTYPE_QCLASS_LEN: usize = 4;
/// The EDNS UDP payload size we advertise, and the largest UDP answer we ever send (DNS flag day 2020).
pub const OUR_UDP_PAYLOAD: u16 = 1232;
/// Answer limit for a query without EDNS (RFC 1035 4.2.1).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;
/// Wire length of the OPT record we append: root owner, type, class, TTL, RDLENGTH 0 (RFC 6891 6.1.2).
pub const OPT_LEN: usize = 11;

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// The OPT pseudo-type (RFC 6891).
pub const TYPE_OPT: u16 = 41;
/// The DS type, the one the parent answers for at a cut (RFC 4035 3.1.4.1).
pub const TYPE_DS: u16 = 43;

/// Header flags: TC.
pub const FLAG_TC: u16 = 0x0200;
/// Header flags: RD.
pub const FLAG_RD: u16 = 0x0100;
/// Header flags: CD.
pub const FLAG_CD: u16 = 0x0010;
/// Query flags a response copies (RD, CD).
pub const COPIED_FLAGS: u16 = FLAG_RD | FLAG_CD;
/// QR and OPCODE: zero in a standard query.
const QR_OPCODE_MASK: u16 = 0xf800;

/// Meta and query-only types (RFC 6895 3.1: 0, OPT, 128-255), which never name stored data.
pub const fn is_meta(qtype: u16) -> bool {
    qtype == 0 || qtype == TYPE_OPT || (qtype >= 128 && qtype <= 255)
}

/// The largest UDP answer a requester takes: 512 without EDNS (RFC 1035 4.2.1), else its advertised size,
/// at least 512 (RFC 6891 6.2.5) and at most ours.
pub const fn udp_limit(edns_udp_size: Option<u16>) -> u16 {
    match edns_udp_size {
        None => CLASSIC_UDP_PAYLOAD,
        Some(s) => {
            let s = if s < CLASSIC_UDP_PAYLOAD { CLASSIC_UDP_PAYLOAD } else { s };
            if s > OUR_UDP_PAYLOAD { OUR_UDP_PAYLOAD } else { s }
        }
    }
}

/// Header flags of a standard query: QR=0, OPCODE QUERY.
pub const fn is_standard_query(flags: u16) -> bool {
    flags & QR_OPCODE_MASK == 0
}

/// The OPT record we append when the query had EDNS and no options: root owner, OPT, our UDP size,
/// extended RCODE 0, version 0, the DO bit echoed, no options.
pub const fn bare_opt(dnssec_ok: bool) -> [u8; OPT_LEN] {
    opt_rr(dnssec_ok, 0, 0)
}

/// Our OPT record's fixed part: root owner, OPT, our UDP size, the extended RCODE's upper bits, version
/// 0, the DO bit echoed, and the length of the options that follow.
pub const fn opt_rr(dnssec_ok: bool, ext_rcode: u8, rdlen: u16) -> [u8; OPT_LEN] {
    let t = TYPE_OPT.to_be_bytes();
    let p = OUR_UDP_PAYLOAD.to_be_bytes();
    let l = rdlen.to_be_bytes();
    [0, t[0], t[1], p[0], p[1], ext_rcode, 0, if dnssec_ok { 0x80 } else { 0 }, 0, l[0], l[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_types_are_0_opt_and_128_to_255() {
        let meta: Vec<u16> = (0..=u16::MAX).filter(|&t| is_meta(t)).collect();
        let mut want = vec![0, TYPE_OPT];
        want.extend(128..=255);
        assert_eq!(meta, want);
    }

    #[test]
    fn standard_query_is_qr_0_opcode_0() {
        assert!(is_standard_query(0x0100 | 0x0010 | 0x0020));
        assert!(!is_standard_query(0x8000), "a response");
        assert!(!is_standard_query(0x0800), "IQUERY");
        assert!(!is_standard_query(0x2800), "UPDATE");
    }

    #[test]
    fn udp_limit_is_512_without_edns_and_clamped_with_it() {
        assert_eq!(udp_limit(None), 512);
        assert_eq!(udp_limit(Some(0)), 512);
        assert_eq!(udp_limit(Some(1000)), 1000);
        assert_eq!(udp_limit(Some(4096)), OUR_UDP_PAYLOAD);
    }

    #[test]
    fn bare_opt_is_version_0_without_options() {
        assert_eq!(bare_opt(false), [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bare_opt(true)[7], 0x80);
    }
}
