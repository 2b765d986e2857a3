//! Internet checksum arithmetic (RFC 1071) shared by the compiler and the programs.

/// Add a 16-bit word to an unfolded sum.
#[inline(always)]
pub const fn add16(sum: u32, word: u16) -> u32 {
    sum + word as u32
}

/// Fold an unfolded sum to 16 bits (not complemented).
#[inline(always)]
pub const fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Fold a sum of 32-bit quantities to 16 bits (not complemented).
#[inline(always)]
pub const fn fold64(s: u64) -> u16 {
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff_ffff) + (s >> 32);
    fold(s as u32)
}

/// The UDP checksum field for an unfolded sum over pseudo-header and datagram: complemented, and never 0
/// (0 means "no checksum" over IPv4 and is invalid over IPv6).
#[inline(always)]
pub const fn udp_checksum(sum: u32) -> u16 {
    match !fold(sum) {
        0 => 0xffff,
        c => c,
    }
}

/// Sum of `data` as big-endian words starting at an even offset, an odd last byte padded with zero.
pub fn sum_bytes(data: &[u8]) -> u32 {
    let mut s: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        s += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        s += (*last as u64) << 8;
    }
    // Fold to at most 17 bits so the u32 keeps room for later additions.
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (folded).
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_bytes(&d)), 0xddf2);
        assert_eq!(fold(add16(add16(0, 0xffff), 0x0001)), 0x0001);
    }

    #[test]
    fn odd_lengths_pad_with_zero_and_sums_stay_small() {
        assert_eq!(sum_bytes(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        let big = sum_bytes(&[0xff; 4001]);
        assert!(big <= 0x1_ffff);
        assert_eq!(fold(big), fold(sum_bytes(&[0xff; 4000]) + 0xff00));
    }

    #[test]
    fn fold64_agrees_with_folding_words() {
        let words = [0xffff_ffffu64, 0x1234_5678, 0xdead_beef, 0x0000_0001];
        let by16: u32 = words.iter().map(|w| fold((w & 0xffff) as u32 + (w >> 16) as u32) as u32).sum();
        assert_eq!(fold64(words.iter().sum()), fold(by16));
        assert_eq!(fold64(u64::MAX), 0xffff);
    }

    #[test]
    fn udp_checksum_is_complemented_and_never_zero() {
        assert_eq!(udp_checksum(0x1234), !0x1234);
        assert_eq!(udp_checksum(0xffff), 0xffff, "a sum of all ones complements to 0, sent as ffff");
        assert_eq!(udp_checksum(0), 0xffff);
    }
}
