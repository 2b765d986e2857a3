//! The secondary's TSIG key as an operator configures it, against knotd.
//!
//! A wrong secret in the daemon's own config: started with a cache, it serves the cached zone, every
//! refresh is refused by the primary, the log and `stats` name the key and say the primary rejected it,
//! `reload` reports it, and the daemon keeps trying at the retry timer. Then `tsig_key_file` with the
//! key clause `tsig-keygen` (BIND 9) writes, HMAC-SHA256 and HMAC-SHA512: the first zone by AXFR and
//! the next edition by IXFR after Knot's NOTIFY, both signed with the key from the file.

mod common;

use std::process::Command;

use common::secondary::{self as sec, BASE, KEY, NOTIFY_ONLY, NOTIFY_TO, edition};
use common::{Lab, primary};

/// Retry a second, refresh an hour: a refused refresh is tried again each second, and nothing else
/// refreshes.
const RETRY_1S: sec::Timers = (3600, 1, 604800);

#[test]
fn wrong_key_refused_and_key_files_from_tsig_keygen() {
    let mut lab = Lab::up_with("seck", common::Peer::Bare);
    let base = sec::base();
    let dir = sec::dir(&lab);
    let control = sec::control(&lab);

    // A wrong secret, the right key name: the daemon serves its cache and keeps trying.
    let knot = primary::knot(&mut lab, &edition(&base, BASE + 1, NOTIFY_ONLY), 5301, Some(KEY), None);
    let cache = dir.join("cache.zone");
    std::fs::write(&cache, edition(&base, BASE, RETRY_1S)).unwrap();
    let wrong = format!("{}:{}:d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=", KEY.0, KEY.1);
    let section = format!("[secondary]\nprimaries = [\"{}\"]\ntsig_key = \"{wrong}\"\ncache = \"{}\"\n", knot.addr, cache.display());
    let config = sec::config(&lab, &dir, &section);
    let log = dir.join("daemon-wrong-key.log");
    let daemon = sec::start(&mut lab, &config, &log);
    common::wait_for("three refused refreshes", 30, || sec::sec(&control)["failures"].as_u64() >= Some(3));
    let s = sec::stats(&control);
    let last = s["secondary"]["last_result"].as_str().unwrap_or("").to_string();
    println!("wrong key: {last}");
    assert!(last.contains(&format!("TSIG key {}:", KEY.1)) && last.contains("the primary rejected it"), "{last}");
    assert_eq!(s["zone.serial"], BASE, "the cached zone keeps serving");
    assert_eq!(sec::served_serial(&lab), Some(BASE));
    let text = sec::read(&log);
    let line = text.lines().find(|l| l.contains("TSIG key") && l.contains("rejected")).unwrap_or_default();
    println!("  the log: {line}");
    assert!(line.contains(&format!("TSIG key {}:", KEY.1)), "the log names the key: {text}");
    let (ok, out) = sec::reload(&control, false);
    assert!(!ok && out.contains("rejected"), "reload reports it: {out}");
    // Still trying: more failures, each a retry interval later.
    let n = sec::sec(&control)["failures"].as_u64().unwrap_or(0);
    common::wait_for("more tries", 10, || sec::sec(&control)["failures"].as_u64() >= Some(n + 2));
    lab.stop(daemon);
    drop(knot);

    // Key files as tsig-keygen writes them, read through the config file.
    let keygen = which("tsig-keygen").expect("tsig-keygen (BIND 9, the bind9 package; scripts/setup.sh installs it)");
    for (i, alg) in ["hmac-sha256", "hmac-sha512"].into_iter().enumerate() {
        let name = format!("xfr-{alg}");
        let clause = common::sh(Command::new(&keygen).args(["-a", alg, &name]));
        let key_file = dir.join(format!("{name}.key"));
        std::fs::write(&key_file, &clause).unwrap();
        let secret = clause.split('"').nth(3).expect("a secret in the clause").to_string();
        let mut knot =
            primary::knot(&mut lab, &edition(&base, BASE, NOTIFY_ONLY), 5310 + i as u16, Some((alg, &name, &secret)), Some(NOTIFY_TO));
        let cache = dir.join(format!("cache-{alg}.zone"));
        let section = format!(
            "[secondary]\nprimaries = [\"{}\"]\ntsig_key_file = \"{}\"\ncache = \"{}\"\n",
            knot.addr,
            key_file.display(),
            cache.display()
        );
        let config = sec::config(&lab, &dir, &section);
        let daemon = sec::start(&mut lab, &config, &dir.join(format!("daemon-{alg}.log")));
        let s = sec::sec(&control);
        println!("{alg} key from tsig-keygen: {} ({})", s["last_transfer"], s["tsig"]);
        assert_eq!(s["tsig"], format!("{alg} {name}"), "{s}");
        assert_eq!((s["last_transfer"]["how"].clone(), s["last_transfer"]["serial"].clone()), ("AXFR".into(), BASE.into()), "{s}");
        knot.publish(&lab, &edition(&base, BASE + 1, NOTIFY_ONLY));
        common::wait_for("the next edition", 30, || sec::stats(&control)["zone.serial"] == BASE + 1);
        let s = sec::sec(&control);
        assert_eq!((s["last_transfer"]["how"].clone(), s["last_transfer"]["trigger"].clone()), ("IXFR".into(), "notify".into()), "{s}");
        assert_eq!(s["last_notify"]["tsig"], true, "Knot's NOTIFY verified with the file's key: {s}");
        lab.stop(daemon);
        knot.stop(&mut lab);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
