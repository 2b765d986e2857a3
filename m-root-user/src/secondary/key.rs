//! The TSIG key of `[secondary]` (RFC 8945): written `[algorithm:]name:secret` as `kdig -y` and BIND take
//! it, or a key clause as `tsig-keygen` and `keymgr` write it, in a file of its own.

use anyhow::{Context, Result, anyhow, bail};
use domain::tsig::{Algorithm, Key, KeyName};

/// Without an algorithm: HMAC-SHA256, the one RFC 8945 6 requires (not BIND's old HMAC-MD5 default).
const DEFAULT_ALGORITHM: &str = "hmac-sha256";

/// A key from its parts; the secret in base64.
fn make(algorithm: &str, name: &str, secret: &str) -> Result<Key> {
    let alg: Algorithm = algorithm
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| anyhow!("TSIG algorithm {algorithm:?} is not one of hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512"))?;
    let bytes: Vec<u8> = domain::utils::base64::decode(secret).map_err(|e| anyhow!("TSIG secret of {name:?}: not base64 ({e})"))?;
    if bytes.is_empty() {
        bail!("TSIG secret of {name:?} is empty");
    }
    let name = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
    let key_name: KeyName = name.parse().map_err(|e| anyhow!("TSIG key name {name:?}: {e}"))?;
    Key::new(alg, &bytes, key_name, None, None).map_err(|e| anyhow!("TSIG key {name:?}: {e}"))
}

/// `[algorithm:]name:secret`.
pub fn from_spec(spec: &str) -> Result<Key> {
    let parts: Vec<&str> = spec.trim().split(':').collect();
    match parts[..] {
        [name, secret] => make(DEFAULT_ALGORITHM, name, secret),
        [alg, name, secret] => make(alg, name, secret),
        _ => bail!("tsig_key: expected [algorithm:]name:secret"),
    }
}

/// The first key clause of a file: `key "name" { algorithm hmac-sha256; secret "..."; };`.
pub fn from_clause(text: &str) -> Result<Key> {
    // Comments (#, // and /* */) out, but not inside quotes: a base64 secret may hold "//" (one in
    // about a hundred tsig-keygen secrets does). Then the clause is a handful of tokens.
    let text = without_comments(text);
    let spaced = text.replace(['{', '}', ';'], " $0 ").replace("$0", " ");
    let tokens: Vec<String> = spaced.split_whitespace().map(|t| t.trim_matches('"').to_string()).collect();
    let at = tokens.iter().position(|t| t == "key").ok_or_else(|| anyhow!("no key clause"))?;
    let name = tokens.get(at + 1).ok_or_else(|| anyhow!("key clause without a name"))?;
    let value = |word: &str| tokens[at..].iter().position(|t| t == word).and_then(|i| tokens.get(at + i + 1));
    let alg = value("algorithm").ok_or_else(|| anyhow!("key {name:?}: no algorithm"))?;
    let secret = value("secret").ok_or_else(|| anyhow!("key {name:?}: no secret"))?;
    make(alg, name, secret)
}

/// `text` with its comments (`#` and `//` to the end of the line, `/* ... */`) replaced by spaces,
/// what is between double quotes kept as it is.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            _ if quoted => out.push(c),
            '#' => {
                chars.by_ref().find(|&n| n == '\n');
                out.push('\n');
            }
            '/' if chars.peek() == Some(&'/') => {
                chars.by_ref().find(|&n| n == '\n');
                out.push('\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for n in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// `tsig_key_file`.
pub fn from_file(path: &std::path::Path) -> Result<Key> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading tsig_key_file {}", path.display()))?;
    from_clause(&text).with_context(|| format!("tsig_key_file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAxMjM=";

    #[test]
    fn specs_and_clauses() {
        let k = from_spec(&format!("hmac-sha512:xfr-key:{SECRET}")).unwrap();
        assert_eq!((k.algorithm(), k.name().to_string()), (Algorithm::Sha512, "xfr-key".to_string()));
        assert_eq!(from_spec(&format!("xfr-key:{SECRET}")).unwrap().algorithm(), Algorithm::Sha256);
        assert!(from_spec("hmac-md5:k:c2VjcmV0").unwrap_err().to_string().contains("hmac-sha256"));
        assert!(from_spec("k:not base64!").unwrap_err().to_string().contains("base64"));
        assert!(from_spec("just-a-name").is_err());
        let clause =
            format!("# tsig-keygen -a hmac-sha256 xfr-key\nkey \"xfr-key\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{SECRET}\";\n}};\n");
        let k = from_clause(&clause).unwrap();
        assert_eq!((k.algorithm(), k.name().to_string()), (Algorithm::Sha256, "xfr-key".to_string()));
        assert!(from_clause("key \"x\" { algorithm hmac-sha256; };").unwrap_err().to_string().contains("no secret"));
    }

    /// A secret holding "//" (a tsig-keygen secret of the fresh-clone run that failed) is not a comment;
    /// comments outside quotes still are, of all three kinds.
    #[test]
    fn comment_marks_inside_the_secret_are_its_own() {
        let secret = "gf0KYCk//bVnCqKfvNRXY6mwj37FaGIHpTQgSlX1ACY=";
        let clause = format!(
            "/* made by\n tsig-keygen */ key \"xfr-hmac-sha256\" {{ // the key\n\talgorithm hmac-sha256; # sha-256\n\tsecret \"{secret}\";\n}};\n"
        );
        // Cut at the "//", the secret would not be base64 and the clause would be refused.
        let k = from_clause(&clause).unwrap();
        assert_eq!(k.name().to_string(), "xfr-hmac-sha256");
        assert_eq!(k.algorithm(), Algorithm::Sha256);
    }
}
