//! Domain names in uncompressed wire form (`Vec<u8>` / `&[u8]`: length-prefixed labels ending in the root
//! label). The zone keeps names as written; lookups use lowercased copies.

use std::cmp::Ordering;

/// The root name.
pub const ROOT: &[u8] = &[0];

/// Iterate the labels of a wire name (without the final root label). The name must be well formed, as every
/// name built by this crate is.
pub fn labels(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let len = *name.get(pos)? as usize;
        if len == 0 {
            return None;
        }
        let label = name.get(pos + 1..pos + 1 + len)?;
        pos += 1 + len;
        Some(label)
    })
}

/// Number of labels, root not counted.
pub fn label_count(name: &[u8]) -> usize {
    labels(name).count()
}

/// ASCII-lowercased copy (RFC 4343: only A-Z fold).
pub fn lower(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

/// The suffix of `name` made of its last `n` labels (the root name for 0).
pub fn suffix(name: &[u8], n: usize) -> &[u8] {
    let total = label_count(name);
    let mut skip = total.saturating_sub(n);
    let mut pos = 0usize;
    while skip > 0 {
        pos += 1 + name[pos] as usize;
        skip -= 1;
    }
    &name[pos..]
}

/// Offsets at which each suffix of `name` starts, longest first (the root label not included).
pub fn suffix_offsets(name: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Some(&len) = name.get(pos) {
        if len == 0 {
            break;
        }
        out.push(pos);
        pos += 1 + len as usize;
    }
    out
}

/// Length of the uncompressed name at `buf[off..]`, or None if it is not a well-formed uncompressed name.
pub fn wire_len(buf: &[u8], off: usize) -> Option<usize> {
    let mut pos = off;
    loop {
        let len = *buf.get(pos)? as usize;
        if len == 0 {
            let total = pos + 1 - off;
            return (total <= m_root_common::MAX_NAME).then_some(total);
        }
        if len > m_root_common::MAX_LABEL {
            return None;
        }
        pos += 1 + len;
    }
}

/// DNSSEC canonical order of two names (RFC 4034 6.1): compare label by label from the root, each label as
/// lowercased octets, a label that is a prefix of another sorting first.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let la: Vec<&[u8]> = labels(a).collect();
    let lb: Vec<&[u8]> = labels(b).collect();
    for (x, y) in la.iter().rev().zip(lb.iter().rev()) {
        let ord = label_cmp(x, y);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    la.len().cmp(&lb.len())
}

/// Canonical order of two single labels.
pub fn label_cmp(a: &[u8], b: &[u8]) -> Ordering {
    a.iter().map(u8::to_ascii_lowercase).cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// Presentation form (RFC 1035 5.1), with `\DDD` and `\.` escapes.
pub fn to_text(name: &[u8]) -> String {
    let mut out = String::new();
    for label in labels(name) {
        for &c in label {
            match c {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(c as char);
                }
                0x21..=0x7e => out.push(c as char),
                _ => out.push_str(&format!("\\{c:03}")),
            }
        }
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Parse an absolute name in presentation form ("www.example.jp", trailing dot optional, "." for the root).
pub fn from_text(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 2);
    if text == "." || text.is_empty() {
        out.push(0);
        return Ok(out);
    }
    let mut label: Vec<u8> = Vec::new();
    let mut i = 0;
    let flush = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err(format!("empty label in {text:?}"));
        }
        if label.len() > m_root_common::MAX_LABEL {
            return Err(format!("label longer than 63 octets in {text:?}"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label);
        label.clear();
        Ok(())
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\\' => {
                let rest = &bytes[i + 1..];
                if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                    let v: u32 = std::str::from_utf8(&rest[..3])
                        .map_err(|e| e.to_string())?
                        .parse()
                        .map_err(|e: std::num::ParseIntError| e.to_string())?;
                    if v > 255 {
                        return Err(format!("bad escape in {text:?}"));
                    }
                    label.push(v as u8);
                    i += 4;
                } else if let Some(&n) = rest.first() {
                    label.push(n);
                    i += 2;
                } else {
                    return Err(format!("dangling backslash in {text:?}"));
                }
            }
            b'.' => {
                flush(&mut label, &mut out)?;
                i += 1;
            }
            _ => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        flush(&mut label, &mut out)?;
    }
    out.push(0);
    if out.len() > m_root_common::MAX_NAME {
        return Err(format!("name longer than 255 octets: {text:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        for t in ["www.example.jp.", ".", "a\\.b.c.", "xn--p1ai."] {
            assert_eq!(to_text(&from_text(t).unwrap()), t);
        }
        assert_eq!(from_text("JP").unwrap(), b"\x02JP\x00");
    }

    #[test]
    fn canonical_order_rfc4034_example() {
        // RFC 4034 6.1 example, in order.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let wire: Vec<Vec<u8>> = names.iter().map(|n| from_text(n).unwrap()).collect();
        for w in wire.windows(2) {
            assert_eq!(canonical_cmp(&w[0], &w[1]), Ordering::Less, "{} < {}", to_text(&w[0]), to_text(&w[1]));
        }
    }

    #[test]
    fn suffixes() {
        let n = from_text("www.example.jp").unwrap();
        assert_eq!(suffix(&n, 1), b"\x02jp\x00");
        assert_eq!(suffix(&n, 0), ROOT);
        assert_eq!(suffix_offsets(&n), vec![0, 4, 12]);
        assert_eq!(wire_len(&n, 0), Some(n.len()));
    }
}
