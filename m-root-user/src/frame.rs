//! Ethernet/IP/UDP frames: built for the lab injector and the tests, and checked independently of the
//! XDP program (checksums recomputed here from scratch, RFC 768 / RFC 791 / RFC 8200).

use std::net::IpAddr;

use anyhow::{Result, bail};

/// What a frame carries.
#[derive(Clone, Debug)]
pub struct Spec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// VLAN tags, outermost first: (TPID, VLAN ID).
    pub vlans: Vec<(u16, u16)>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

/// RFC 1071 sum over bytes, folded. Deliberately not m_root_common::csum: the table's precomputed sums come
/// from that code, and the tests check them with this one.
pub fn ones_sum(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

fn pseudo_sum(src: &IpAddr, dst: &IpAddr, udp_len: usize) -> u32 {
    let mut s = 0;
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            s = ones_sum(&a.octets(), s);
            s = ones_sum(&b.octets(), s);
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            s = ones_sum(&a.octets(), s);
            s = ones_sum(&b.octets(), s);
        }
        _ => {}
    }
    s + 17 + udp_len as u32
}

/// Build a frame around a UDP payload, with correct IP and UDP checksums.
pub fn build(spec: &Spec, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 8 + 40 + 8 + payload.len());
    f.extend_from_slice(&spec.dst_mac);
    f.extend_from_slice(&spec.src_mac);
    for (tpid, vid) in &spec.vlans {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    let udp_len = 8 + payload.len();
    match (spec.src, spec.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            ip[6] = 0x40; // DF
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let c = !(ones_sum(&ip, 0) as u16);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let mut ip = [0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
            ip[6] = 17;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&s.octets());
            ip[24..40].copy_from_slice(&d.octets());
            f.extend_from_slice(&ip);
        }
        _ => panic!("mixed address families"),
    }
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&spec.sport.to_be_bytes());
    udp[2..4].copy_from_slice(&spec.dport.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let mut c = !(ones_sum(payload, ones_sum(&udp, pseudo_sum(&spec.src, &spec.dst, udp_len))) as u16);
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(payload);
    f
}

/// A frame taken apart and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub spec_src_mac: [u8; 6],
    pub spec_dst_mac: [u8; 6],
    pub vlans: Vec<(u16, u16)>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub payload: Vec<u8>,
}

const UDP: u8 = 17;

/// VLAN tags outermost first, as (TPID, VID).
type Vlans = Vec<(u16, u16)>;

/// The VLAN tags (TPID, VID), the ethertype after them and where the network header starts; `None` for a
/// frame cut short.
fn l2(f: &[u8]) -> Option<(Vlans, u16, usize)> {
    let be16 = |at: usize| f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let mut off = 12;
    let mut vlans = Vec::new();
    let mut proto = be16(off)?;
    while proto == 0x8100 || proto == 0x88a8 {
        vlans.push((proto, be16(off + 2)? & 0x0fff));
        off += 4;
        proto = be16(off)?;
    }
    Some((vlans, proto, off + 2))
}

/// The IP protocol (IPv4) or next header (IPv6) of a frame, after any VLAN tags; `None` when it is not IP.
/// Lets a capture tell a broken answer from the router solicitations and neighbour discovery an interface
/// sends on its own.
pub fn ip_protocol(f: &[u8]) -> Option<u8> {
    let (_, proto, off) = l2(f)?;
    match proto {
        0x0800 => f.get(off + 9).copied(),
        0x86dd => f.get(off + 6).copied(),
        _ => None,
    }
}

/// Parse a frame and check every length and checksum; errors say which.
pub fn parse_checked(f: &[u8]) -> Result<Parsed> {
    parse(f, false)
}

/// As [`parse_checked`], for a frame whose UDP checksum is left for the device or the receiving stack to
/// complete (CHECKSUM_PARTIAL; a packet socket sees TP_STATUS_CSUMNOTREADY): the field must hold the
/// folded pseudo-header sum, which completing over the segment turns into the full checksum.
pub fn parse_checked_partial(f: &[u8]) -> Result<Parsed> {
    parse(f, true)
}

fn parse(f: &[u8], partial: bool) -> Result<Parsed> {
    if f.len() < 14 {
        bail!("frame shorter than Ethernet");
    }
    let mut dst_mac = [0u8; 6];
    let mut src_mac = [0u8; 6];
    dst_mac.copy_from_slice(&f[0..6]);
    src_mac.copy_from_slice(&f[6..12]);
    let (vlans, proto, off) = l2(f).ok_or_else(|| anyhow::anyhow!("frame cut short in its VLAN tags"))?;
    if let Some(p) = ip_protocol(f).filter(|&p| p != UDP) {
        bail!("IP protocol {p} is not UDP");
    }
    let (src, dst, ttl, udp_off, udp_len) = match proto {
        0x0800 => {
            let ip = f.get(off..off + 20).ok_or_else(|| anyhow::anyhow!("short IPv4 header"))?;
            if ones_sum(ip, 0) != 0xffff {
                bail!("IPv4 header checksum wrong");
            }
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            if off + total != f.len() {
                bail!("IPv4 total length {total} does not match the frame ({} after L2)", f.len() - off);
            }
            let s: [u8; 4] = ip[12..16].try_into()?;
            let d: [u8; 4] = ip[16..20].try_into()?;
            (IpAddr::from(s), IpAddr::from(d), ip[8], off + 20, total - 20)
        }
        0x86dd => {
            let ip = f.get(off..off + 40).ok_or_else(|| anyhow::anyhow!("short IPv6 header"))?;
            let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            if off + 40 + plen != f.len() {
                bail!("IPv6 payload length {plen} does not match the frame");
            }
            let s: [u8; 16] = ip[8..24].try_into()?;
            let d: [u8; 16] = ip[24..40].try_into()?;
            (IpAddr::from(s), IpAddr::from(d), ip[7], off + 40, plen)
        }
        other => bail!("ethertype {other:#06x} is not IP"),
    };
    let udp = f.get(udp_off..udp_off + udp_len).ok_or_else(|| anyhow::anyhow!("short UDP"))?;
    if u16::from_be_bytes([udp[4], udp[5]]) as usize != udp_len {
        bail!("UDP length field {} does not match {udp_len}", u16::from_be_bytes([udp[4], udp[5]]));
    }
    let stored = u16::from_be_bytes([udp[6], udp[7]]);
    if partial {
        let want = ones_sum(&[], pseudo_sum(&src, &dst, udp_len)) as u16;
        if stored != want {
            bail!("partial UDP checksum {stored:#06x} is not the pseudo-header sum {want:#06x}");
        }
    } else if stored == 0 {
        if src.is_ipv6() {
            bail!("UDP checksum 0 on IPv6 (RFC 8200 8.1 forbids it)");
        }
    } else if ones_sum(udp, pseudo_sum(&src, &dst, udp_len)) != 0xffff {
        bail!("UDP checksum wrong");
    }
    Ok(Parsed {
        spec_src_mac: src_mac,
        spec_dst_mac: dst_mac,
        vlans,
        src,
        dst,
        sport: u16::from_be_bytes([udp[0], udp[1]]),
        dport: u16::from_be_bytes([udp[2], udp[3]]),
        ttl,
        payload: udp[8..].to_vec(),
    })
}

/// Parse a MAC address "02:00:00:00:00:01".
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() != 6 {
        bail!("bad MAC address {s:?}");
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).map_err(|_| anyhow::anyhow!("bad MAC address {s:?}"))?;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_verify_and_corruption_is_caught() {
        for (src, dst) in [("198.18.0.2", "198.18.0.1"), ("2001:db8::2", "2001:db8::1")] {
            let spec = Spec {
                src_mac: [2, 0, 0, 0, 0, 2],
                dst_mac: [2, 0, 0, 0, 0, 1],
                vlans: vec![(0x88a8, 100), (0x8100, 200)],
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                sport: 4242,
                dport: 53,
            };
            let f = build(&spec, b"hello, odd length");
            let p = parse_checked(&f).unwrap();
            assert_eq!(p.payload, b"hello, odd length");
            assert_eq!(p.vlans, spec.vlans);
            let mut bad = f.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(parse_checked(&bad).is_err());
            assert_eq!(ip_protocol(&f), Some(UDP));
            // The same frame as another protocol (an interface's own ICMPv6 router solicitation, say) is
            // told apart from a broken datagram.
            let mut other = f.clone();
            let (_, _, ip) = l2(&f).unwrap();
            other[ip + if src.contains(':') { 6 } else { 9 }] = 58;
            assert_eq!(ip_protocol(&other), Some(58));
            assert!(parse_checked(&other).unwrap_err().to_string().contains("not UDP"));
            assert_eq!(ip_protocol(&f[..16]), None, "a frame cut short in its tags");
        }
    }
}
