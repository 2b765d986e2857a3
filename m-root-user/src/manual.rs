//! Manual pages and shell completions, generated from the command-line definitions and the settings
//! table themselves, so they cannot drift from what the binaries accept: m-root-xdp(8) with a page per
//! command (m-root-xdp-run(8), ...), zonegen(1) likewise, m-root-xdp.toml(5) from `config::reference`,
//! and bash, zsh and fish completions for both. `scripts/package.sh` runs `m-root-xdp manual`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap_complete::Shell;
use roff::{Roff, bold, italic, roman};

use crate::config;

/// Where the package puts what it names (the FILES sections).
pub const CONFIG_FILE: &str = "/etc/m-root-xdp/m-root-xdp.toml";
pub const STATE_DIR: &str = "/var/lib/m-root-xdp";

/// Write every page under `out/man{1,5,8}/` and the completions under `out/completions/{bash,zsh,fish}/`;
/// `date` (YYYY-MM-DD) goes in each page's footer. Returns the files written.
pub fn write(out: &Path, m_root_xdp: clap::Command, zonegen: clap::Command, date: &str) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (cmd, section) in [(m_root_xdp.clone(), "8"), (zonegen.clone(), "1")] {
        let dir = out.join(format!("man{section}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        pages(&cmd, section, date, &dir, &mut written)?;
    }
    let dir = out.join("man5");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("m-root-xdp.toml.5");
    std::fs::write(&path, config_page(&m_root_xdp, date)).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let dir = out.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for cmd in [m_root_xdp.clone(), zonegen.clone()] {
            let name = cmd.get_name().to_string();
            let mut cmd = cmd;
            let path = clap_complete::generate_to(shell, &mut cmd, &name, &dir).with_context(|| format!("{shell} completion of {name}"))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The page of `cmd` and, recursively, of each visible subcommand (`name-sub.N`).
fn pages(cmd: &clap::Command, section: &str, date: &str, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub, section, date, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone()).section(section).date(date).manual("m-root-xdp");
    let path = man.generate_to(dir).with_context(|| format!("writing the page of {} in {}", cmd.get_name(), dir.display()))?;
    written.push(path);
    Ok(())
}

/// m-root-xdp.toml(5): every key of the config file with its default, its flag and its meaning.
pub fn config_page(m_root_xdp: &clap::Command, date: &str) -> String {
    let flags = run_flags(m_root_xdp);
    let mut r = Roff::new();
    r.control("TH", ["M-ROOT-XDP.TOML", "5", date, "m-root-xdp", "m-root-xdp"]);
    r.control("SH", ["NAME"]).text([roman("m-root-xdp.toml - configuration of the m-root-xdp DNS root-server responder")]);
    r.control("SH", ["SYNOPSIS"]).text([bold(CONFIG_FILE)]);
    r.control("SH", ["DESCRIPTION"]).text([roman(
        "The settings of m-root-xdp run, in TOML. A flag given to run wins over the file, the file over the default. \
         Unknown keys and bad values are errors naming the field, and so are settings that contradict each other; \
         m-root-xdp refuses to start rather than guess.",
    )]);
    r.control("SH", ["SETTINGS"]);
    for s in config::reference() {
        r.control("TP", []).text([bold(s.key)]);
        let mut line = vec![roman(format!("{} ", s.doc))];
        match &s.default {
            Some(d) => line.extend([roman("Default: "), bold(d.clone()), roman(".")]),
            None if s.key == "zone" => line.push(roman("Required.")),
            None => line.push(roman("Default: not set.")),
        }
        if let Some(f) = flags.iter().find(|(id, _)| id == s.key || id.strip_prefix(s.key).is_some_and(|r| r.starts_with('_'))) {
            line.extend([roman(" Flag: "), bold(format!("--{}", f.1)), roman(".")]);
        } else {
            line.push(roman(" Config file only."));
        }
        r.text(line);
    }
    r.control("SH", ["RATE LIMITING, THE DROP LIST AND COOKIES"]).text([roman(
        "The sections [rrl], [acl] and [cookies], read at start and on every reload, which keeps the limiter's buckets. \
         Rate limiting applies to answers over UDP, in the kernel programs and in userspace alike; a valid \
         server cookie (RFC 7873, RFC 9018) exempts a query from it.",
    )]);
    for (key, default, doc) in crate::limits::sections_reference() {
        r.control("TP", []).text([bold(*key)]);
        r.text([roman(format!("{doc} Default: ")), bold(*default), roman(".")]);
    }
    r.control("SH", ["SECONDARY"]).text([roman(
        "The section [secondary]: the zone comes from primaries by IXFR (AXFR when that fails), TSIG-signed, \
         at the SOA refresh timer, on NOTIFY from notify_from (UDP or TCP) and on m-root-xdp reload or SIGHUP \
         (reload --force: the whole zone again by AXFR, whatever its serial); on failure again at the retry timer; past expire without a refresh the zone is expired (SERVFAIL, the kernel programs pass \
         everything) until a refresh succeeds. Each zone is checked as a file is (ZONEMD included) and must have a \
         newer serial. With [secondary], zone is optional: the cache, then zone, then the primaries. [transfer] serves \
         AXFR and IXFR over TCP to the prefixes it allows (off by default). Both are read at start only.",
    )]);
    for (key, default, doc) in crate::secondary::conf::REFERENCE.iter().chain(crate::secondary::outgoing::REFERENCE.iter()) {
        r.control("TP", []).text([bold(*key)]);
        r.text([roman(format!("{doc} Default: ")), bold(*default), roman(".")]);
    }
    r.control("SH", ["ANYCAST"]).text([roman(
        "The section [anycast]: health is probed every interval (the zone loaded and not expired; each interface up and \
         running this daemon's programs in the mode planned, as the kernel says; the programs answering a probe frame \
         to an IPv4 and an IPv6 service address under BPF_PROG_TEST_RUN; userspace answering on each service address \
         over UDP and TCP); rise good probes in a row put the service addresses on the interface, fall bad ones take \
         them off; m-root-xdp drain holds them off until undrain. Every probe the interface is made to carry what the \
         state says: a change the kernel refused is tried again, one made from outside undone, both counted in stats. \
         The interface is a TUN device that exists only while the daemon holds it, so a crashed daemon's announcement \
         goes with it. On SIGTERM the addresses go first, answering goes on for drain_seconds. Read at start only.",
    )]);
    for (key, default, doc) in crate::anycast::REFERENCE.iter() {
        r.control("TP", []).text([bold(*key)]);
        r.text([roman(format!("{doc} Default: ")), bold(*default), roman(".")]);
    }
    r.control("SH", ["METRICS"]).text([roman(
        "The section [metrics]: GET /metrics on listen, in Prometheus's text format (OpenMetrics when the client asks \
         for it), for every counter of m-root-xdp stats; each query is counted once, under the path that disposed of it \
         (xdp, tc, userspace). Read at start only.",
    )]);
    for (key, default, doc) in crate::observe::endpoint::REFERENCE.iter() {
        r.control("TP", []).text([bold(*key)]);
        r.text([roman(format!("{doc} Default: ")), bold(*default), roman(".")]);
    }
    r.control("SH", ["RSSAC002"]).text([roman(
        "The section [rssac002]: RSSAC002 version 5's metrics per UTC day, kernel answers included, kept across \
         restarts in a state file; m-root-xdp rssac002 writes the day's files. Read at start only.",
    )]);
    for (key, default, doc) in crate::observe::daystate::REFERENCE.iter() {
        r.control("TP", []).text([bold(*key)]);
        r.text([roman(format!("{doc} Default: ")), bold(*default), roman(".")]);
    }
    r.control("SH", ["DNSTAP"]).text([roman(
        "The section [dnstap]: dnstap messages (AUTH_QUERY, AUTH_RESPONSE) of what the userspace server receives \
         and sends, over Frame Streams to a Unix socket or a file; never delays an answer (a full queue drops). \
         Read at start only.",
    )]);
    for (key, default, doc) in crate::observe::dnstap::REFERENCE.iter() {
        r.control("TP", []).text([bold(*key)]);
        r.text([roman(format!("{doc} Default: ")), bold(*default), roman(".")]);
    }
    r.control("SH", ["EXAMPLE"]);
    r.control("nf", []);
    r.text([roman(
        "zone = \"/var/lib/m-root-xdp/root.zone\"\n\
         interfaces = [\"eth1\"]\n\
         addresses = [\"192.0.2.53\", \"2001:db8::53\"]\n\
         identity = \"m1.example\"",
    )]);
    r.control("fi", []);
    r.control("SH", ["FILES"]);
    r.control("TP", []).text([bold(CONFIG_FILE)]).text([roman("The configuration the systemd unit passes to m-root-xdp run --config.")]);
    r.control("TP", []).text([bold(STATE_DIR)]).text([roman("The daemon's state: zone files and caches, owned by its user.")]);
    r.control("TP", []).text([bold(config::DEFAULT_CONTROL)]).text([roman("The control socket m-root-xdp stats and reload ask.")]);
    r.control("SH", ["SEE ALSO"]).text([
        italic("m-root-xdp"),
        roman("(8), "),
        italic("m-root-xdp-run"),
        roman("(8), "),
        italic("zonegen"),
        roman("(1)"),
    ]);
    r.render()
}

/// (argument id, long flag) of every flag of `run`.
fn run_flags(m_root_xdp: &clap::Command) -> Vec<(String, String)> {
    let Some(run) = m_root_xdp.find_subcommand("run") else { return Vec::new() };
    run.get_arguments().filter_map(|a| Some((a.get_id().to_string(), a.get_long()?.to_string()))).collect()
}
