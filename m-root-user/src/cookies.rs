//! The `[cookies]` section: DNS cookies (RFC 7873) with RFC 9018's server cookie, in the kernel
//! programs and in userspace alike. This module holds the secret (read from a file, created there if
//! missing), turns it into the keys of each rotation period, and says, each second, what the programs
//! and the answer function use ([`CookieConf`]).
//!
//! Rotation: with `rotation_seconds` N > 0 the key of period n = floor(UNIX time / N) is derived from the
//! file's secret S as SipHash-2-4 under S of (n, 0) and of (n, 1), so instances that share the file (an
//! anycast service) rotate together without talking to each other; the previous period's key stays
//! valid, as RFC 7873 7.1 asks. With N = 0 the file's first line is the key itself (as Knot, BIND and
//! NSD take theirs, so a mixed anycast service can share it) and a second line, if any, the previous
//! one, still accepted (NSD's cookie-secret-file).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use m_root_common::cookie::{CookieConf, KEY_SLOTS, siphash24};
use serde::Deserialize;

/// Each key of the section with its default and meaning, for m-root-xdp.toml(5) and docs/configuration.md.
pub const REFERENCE: [(&str, &str, &str); 4] = [
    (
        "cookies.enabled",
        "false",
        "Answer DNS cookies (RFC 7873, RFC 9018 server cookies): a valid server cookie exempts a query from rate limiting.",
    ),
    (
        "cookies.secret_file",
        "\"/var/lib/m-root-xdp/cookie-secret\"",
        "The secret: 32 hex digits (16 octets) on the first line; created with a random one if missing. Instances that share it share their cookies.",
    ),
    ("cookies.secret", "(none)", "The secret itself (32 hex digits), instead of the file."),
    (
        "cookies.rotation_seconds",
        "86400",
        "A new key every this many seconds, derived from the secret (the previous one still accepted); 0: the secret is the key, a second line of the file the previous one.",
    ),
];

/// `[cookies]` as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Cookies {
    pub enabled: bool,
    pub secret_file: PathBuf,
    pub secret: Option<String>,
    pub rotation_seconds: u64,
}

impl Default for Cookies {
    fn default() -> Cookies {
        Cookies { enabled: false, secret_file: PathBuf::from("/var/lib/m-root-xdp/cookie-secret"), secret: None, rotation_seconds: 86400 }
    }
}

/// The secrets in force: the key source and how it rotates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// The secret (rotating) or the current key (fixed).
    pub secret: [u64; 2],
    /// Fixed keys only: the previous key (the file's second line, else the current one).
    pub previous: [u64; 2],
    pub rotation_seconds: u64,
}

/// 32 hex digits as a SipHash key (two little-endian words, as SipHash reads a 16-octet key).
pub fn parse_secret(text: &str) -> Result<[u64; 2]> {
    let t = text.trim();
    // Never the text itself in the message: a secret one digit short is nearly the whole secret.
    if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hex = t.bytes().all(|b| b.is_ascii_hexdigit());
        bail!("a cookie secret is 32 hex digits (16 octets), not {} octets{}", t.len(), if hex { "" } else { " with other characters" });
    }
    let mut b = [0u8; 16];
    for (i, o) in b.iter_mut().enumerate() {
        *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
    }
    Ok([u64::from_le_bytes(b[..8].try_into()?), u64::from_le_bytes(b[8..].try_into()?)])
}

fn random_secret() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).context("reading /dev/urandom")?;
    Ok(b.iter().map(|o| format!("{o:02x}")).collect())
}

/// Create the secret file with a random secret (mode 0600, written then renamed into place).
fn create(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    let tmp = path.with_file_name(name);
    // A leftover from an interrupted start could have other permissions: made afresh, 0600.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    std::io::Write::write_all(&mut f, format!("{}\n", random_secret()?).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    }
    // Loud: instances meant to share a secret would now hand out cookies the others refuse.
    log::warn!("cookies: no secret in {}: created a new random one", path.display());
    Ok(())
}

impl Cookies {
    pub fn check(&self) -> Result<()> {
        if let Some(s) = &self.secret {
            parse_secret(s).context("cookies.secret")?;
        }
        if self.rotation_seconds != 0 && self.rotation_seconds < 3600 {
            bail!(
                "cookies.rotation_seconds: {} is below 3600 (a server cookie lives an hour), or 0 for a fixed secret",
                self.rotation_seconds
            );
        }
        Ok(())
    }

    /// The keys, from the config or the file (created if missing); None when cookies are off.
    pub fn load(&self) -> Result<Option<Keys>> {
        if !self.enabled {
            return Ok(None);
        }
        let lines: Vec<String> = match &self.secret {
            Some(s) => vec![s.clone()],
            None => {
                match std::fs::metadata(&self.secret_file) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&self.secret_file)
                        .with_context(|| format!("cookies.secret_file: creating {}", self.secret_file.display()))?,
                    _ => {}
                }
                let text = std::fs::read_to_string(&self.secret_file)
                    .with_context(|| format!("cookies.secret_file: reading {}", self.secret_file.display()))?;
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
            }
        };
        let whence = match &self.secret {
            Some(_) => "cookies.secret".to_string(),
            None => format!("cookies.secret_file {}", self.secret_file.display()),
        };
        let secret = parse_secret(lines.first().map_or("", String::as_str)).with_context(|| whence.clone())?;
        let previous = match lines.get(1) {
            Some(l) => parse_secret(l).with_context(|| format!("{whence}, line 2"))?,
            None => secret,
        };
        Ok(Some(Keys { secret, previous, rotation_seconds: self.rotation_seconds }))
    }
}

/// The key of rotation period `n` under `secret`.
pub fn period_key(secret: [u64; 2], n: u64) -> [u64; 2] {
    let last = 16u64 << 56;
    [siphash24(secret, &[n, 0, 0, 0], 2, last), siphash24(secret, &[n, 1, 0, 0], 2, last)]
}

impl Keys {
    /// What the programs and the answer function use at UNIX second `now`: the keys of this period, the
    /// previous and the next (in slots n mod 3, so the switch to the next period changes only `current`).
    pub fn conf_at(&self, now: u64) -> CookieConf {
        // Zero means off to the programs; a clock before 1970 is no clock.
        let now32 = (now as u32).max(1);
        if self.rotation_seconds == 0 {
            return CookieConf { now: now32, current: 0, keys: [self.secret, self.previous, self.previous] };
        }
        let n = now / self.rotation_seconds;
        let mut keys = [[0; 2]; KEY_SLOTS];
        for p in [n.wrapping_sub(1), n, n + 1] {
            keys[(p % KEY_SLOTS as u64) as usize] = period_key(self.secret, p);
        }
        CookieConf { now: now32, current: (n % KEY_SLOTS as u64) as u32, keys }
    }
}

/// The current UNIX second.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_and_bad_ones_are_named() {
        let k = parse_secret("e5e973e5a6b2a43f48e7dc849e37bfcf\n").unwrap();
        assert_eq!(k[0].to_le_bytes()[0], 0xe5);
        let err = parse_secret("e5e973e5a6b2a43f48e7dc849e37bfc").unwrap_err().to_string();
        assert!(err.contains("32 hex digits") && err.contains("31 octets") && !err.contains("e5e9"), "{err}");
        assert!(parse_secret(&"é".repeat(30)).is_err(), "no panic on other characters");
        let c = Cookies { secret: Some("zz".into()), ..Default::default() };
        assert!(format!("{:#}", c.check().unwrap_err()).starts_with("cookies.secret"));
        let c = Cookies { rotation_seconds: 60, ..Default::default() };
        assert!(c.check().unwrap_err().to_string().starts_with("cookies.rotation_seconds"));
    }

    #[test]
    fn missing_file_is_created_and_read_back() {
        let dir = std::env::temp_dir().join(format!("mrx-cookie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = Cookies { enabled: true, secret_file: dir.join("secret"), ..Default::default() };
        let a = c.load().unwrap().unwrap();
        let b = c.load().unwrap().unwrap();
        assert_eq!(a, b, "the same secret the second time");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.join("secret")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Cookies::default().load().unwrap(), None, "off");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn periods_rotate_in_three_slots() {
        let k = Keys { secret: [1, 2], previous: [1, 2], rotation_seconds: 86400 };
        let day = 20_000u64;
        let a = k.conf_at(day * 86400 + 5);
        assert_eq!(a.current_key(), period_key([1, 2], day));
        assert_eq!(a.previous_key(), period_key([1, 2], day - 1));
        let b = k.conf_at((day + 1) * 86400);
        assert_eq!(b.previous_key(), a.current_key(), "today's key is tomorrow's previous");
        assert_eq!(b.current_key(), a.keys[((day + 1) % 3) as usize], "written a period ahead");
        let fixed = Keys { secret: [1, 2], previous: [3, 4], rotation_seconds: 0 }.conf_at(1000);
        assert_eq!((fixed.current_key(), fixed.previous_key()), ([1, 2], [3, 4]));
    }
}
