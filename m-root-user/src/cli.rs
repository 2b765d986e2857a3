//! The command line of `m-root-xdp` (its man pages are rendered from it, `manual`), and what each
//! command but `run` does: ask a running daemon over its control socket, or work alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use crate::dataplane::{self, Dataplane};
use crate::{config, control, lab, manual, observe};

#[derive(Parser)]
#[command(
    name = "m-root-xdp",
    version,
    about = "DNS root-server responder with an XDP fast path",
    long_about = "DNS root-server responder with an XDP fast path. `m-root-xdp run` loads the zone \
        (verifying its ZONEMD), compiles the answers the kernel gives into a table, attaches an XDP program and its TC \
        companion to the interfaces, and answers everything else authoritatively over UDP and TCP. `reload` (or \
        SIGHUP) swaps in a new zone atomically; `stats` reports every counter. The settings are described in \
        m-root-xdp.toml(5); run as its own user it needs CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_BIND_SERVICE."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Load the zone, attach the XDP program, and serve.
    Run {
        /// TOML config file; flags given here override its values.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Take the kernel programs over from the daemon running on the same control socket (an upgrade
        /// or a changed config): the covered queries lose nothing; that daemon then stops.
        #[arg(long)]
        take_over: bool,
        #[command(flatten)]
        settings: config::Options,
    },
    /// Print every counter, kernel and userspace, as the running daemon reports them on its control
    /// socket; with --iface and no daemon answering, the kernel counters from the pinned maps.
    Stats {
        /// Interface whose pinned counters to read when the daemon does not answer.
        #[arg(long)]
        iface: Option<String>,
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Reload the zone of a running daemon (validate, verify ZONEMD, compile, swap), as SIGHUP does.
    Reload {
        /// Another zone file to load (default: the one running).
        #[arg(long)]
        zone: Option<PathBuf>,
        /// Load even if the serial is not newer (a secondary: transfer the whole zone again by AXFR and
        /// serve it whatever its serial).
        #[arg(long)]
        force: bool,
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Write one UTC day's RSSAC002 files (version 5, named as RSSAC002-data names them) into --out:
    /// traffic-volume, traffic-sizes, rcode-volume, unique-sources, load-time, and the unique-source
    /// registers for a fleet to merge. The running daemon's totals; with --state and no daemon answering,
    /// what its state file holds.
    Rssac002 {
        /// The day, YYYY-MM-DD (UTC); today so far when not given.
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        out: PathBuf,
        /// The service the files name; the daemon's [rssac002] service when not given.
        #[arg(long)]
        service: Option<String>,
        /// The state file to read when no daemon answers ([rssac002] state).
        #[arg(long)]
        state: Option<PathBuf>,
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// RFC 8145's daily report: each trust-anchor key tag (key-tag queries and sentinels, answered in the
    /// kernel or in userspace) by the number of distinct sources that sent it that UTC day, most first.
    TaReport {
        /// The day, YYYY-MM-DD (UTC); today so far when not given.
        #[arg(long)]
        date: Option<String>,
        /// The state file to read when no daemon answers ([rssac002] state).
        #[arg(long)]
        state: Option<PathBuf>,
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Anycast: withdraw the service addresses (they stay answered) until `undrain`.
    Drain {
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Anycast: announce again (once the probes pass).
    Undrain {
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Remove an XDP or TC program left on an interface (e.g. by a killed process using netlink attach).
    Detach {
        #[arg(long)]
        iface: String,
    },
    /// Load the XDP program and report what the verifier processed (no attach).
    Verify,
    /// Lab: send a DNS query into a veth as a NIC would deliver it, and print the answer.
    LabQuery(lab::cli::QueryArgs),
    /// Lab: attach a pass-through XDP program to an interface and pin its link (relative to the pin
    /// directory) so XDP_TX'd frames arrive after this command exits.
    LabPass {
        #[arg(long)]
        iface: String,
        #[arg(long)]
        pin: PathBuf,
    },
    /// Print the directory pins go to (mounting a bpffs there if needed).
    PinDir,
    /// Write the manual pages and shell completions (as the package installs them) under a directory.
    #[command(hide = true)]
    Manual {
        #[arg(long)]
        out: PathBuf,
        /// The date in each page's footer (YYYY-MM-DD; the package passes its commit's).
        #[arg(long, default_value = "")]
        date: String,
    },
}

/// Every command but `run`: each asks a running daemon (or reads what a stopped one left), or works
/// alone.
pub fn client(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Run { .. } => bail!("`run` is the daemon's, not a client's"),
        Cmd::Stats { iface, control: path, json } => {
            let (user, kernel) = observe::gather(iface.as_deref(), &path)?;
            match json {
                true => println!("{}", observe::to_json(user, kernel)),
                false => print!("{}", observe::text::render(user.as_ref(), &kernel, &path)),
            }
            Ok(())
        }
        Cmd::Reload { zone, force, control: path } => reload(zone, force, &path),
        Cmd::Rssac002 { date, out, service, state, control: path } => rssac002(date, &out, service, state, &path),
        Cmd::TaReport { date, state, control: path, json } => {
            let (day, totals, _) = day_totals(date, state, &path)?;
            let report = totals.signal_report();
            if json {
                println!("{}", serde_json::json!({ "date": observe::rssac002::iso(day), "sources": report }));
            } else {
                println!("; trust-anchor signals by distinct sources, {} (UTC)", observe::rssac002::iso(day));
                for (signal, n) in report {
                    println!("{signal:<24} {n}");
                }
            }
            Ok(())
        }
        Cmd::Drain { control: path } => drain(&path, "drain"),
        Cmd::Undrain { control: path } => drain(&path, "undrain"),
        Cmd::Detach { iface } => {
            println!("{}", dataplane::detach(&iface)?);
            Ok(())
        }
        Cmd::Verify => {
            let dp = Dataplane::load()?;
            let n = |v: Option<u32>| v.map_or("?".into(), |n| n.to_string());
            println!("XDP program loaded; verifier processed {} instructions", n(dp.verified_insns));
            println!("TC program loaded; verifier processed {} instructions", n(dp.tc_verified_insns));
            Ok(())
        }
        Cmd::LabQuery(a) => lab::cli::query(a),
        Cmd::PinDir => {
            println!("{}", dataplane::pin_root()?.display());
            Ok(())
        }
        Cmd::LabPass { iface, pin } => lab::cli::pass(&iface, &pin),
        Cmd::Manual { out, date } => {
            use clap::CommandFactory;
            let files = manual::write(&out, Cli::command(), zonegen::cli::Cli::command(), &date)?;
            println!("{} files under {}", files.len(), out.display());
            Ok(())
        }
    }
}

/// `rssac002`: the day's totals from the daemon (or its state file), written as RSSAC002's files.
fn rssac002(date: Option<String>, out: &Path, service: Option<String>, state: Option<PathBuf>, path: &Path) -> Result<()> {
    let (day, totals, daemon_service) = day_totals(date, state, path)?;
    let service = service.or(daemon_service).unwrap_or_else(|| "m.root-servers.net".into());
    for p in observe::rssac002::write(out, &service, day, &totals)? {
        println!("{}", p.display());
    }
    Ok(())
}

/// A UTC day's totals (today's when no date) from the daemon on `path`, or from the state file when
/// none answers; with the service the daemon counts for.
fn day_totals(
    date: Option<String>,
    state: Option<PathBuf>,
    path: &Path,
) -> Result<(time::Date, observe::daily::DayTotals, Option<String>)> {
    use observe::{daystate, rssac002};
    let day = date.as_deref().map(rssac002::parse_date).transpose()?.unwrap_or_else(daystate::today);
    let req = serde_json::json!({ "cmd": "rssac002", "date": rssac002::iso(day) });
    let (totals, service) = match (control::request(path, &req.to_string(), Duration::from_secs(10)), &state) {
        (Ok(r), _) if r["error"].is_null() => (serde_json::from_value(r["totals"].clone())?, r["service"].as_str().map(String::from)),
        (Ok(r), None) => bail!("{}", r["error"].as_str().unwrap_or("the daemon sent no totals")),
        (Err(e), None) => bail!("no daemon answers on {} ({e:#}); give --state FILE to read its state file", path.display()),
        (_, Some(file)) => (daystate::totals_in_file(file, day, None)?, None),
    };
    Ok((day, totals, service))
}

/// `drain` / `undrain`: ask the daemon, print its anycast state.
fn drain(path: &Path, cmd: &str) -> Result<()> {
    let r = control::request(path, cmd, Duration::from_secs(10))?;
    if let Some(e) = r["error"].as_str() {
        bail!("{cmd}: {e}");
    }
    println!(
        "{}: {} ({}announced)",
        r["interface"].as_str().unwrap_or("?"),
        r["state"].as_str().unwrap_or("?"),
        if r["announced"] == true { "" } else { "not " }
    );
    Ok(())
}

fn reload(zone: Option<PathBuf>, force: bool, path: &Path) -> Result<()> {
    let zone = zone.map(|z| std::fs::canonicalize(&z).unwrap_or(z));
    let req = serde_json::json!({ "cmd": "reload", "zone": zone.map(|z| z.display().to_string()), "force": force });
    let r = control::request(path, &req.to_string(), Duration::from_secs(60))?;
    if r["ok"].as_bool() == Some(true) {
        println!(
            "reloaded {}: serial {} -> {} in {:.0} ms",
            r["zone"].as_str().unwrap_or("?"),
            r["old_serial"],
            r["new_serial"],
            r["millis"].as_f64().unwrap_or(0.0)
        );
        Ok(())
    } else {
        bail!(
            "reload refused ({} ms), serial {} still serving: {}",
            r["millis"].as_f64().unwrap_or(0.0).round(),
            r["old_serial"],
            r["error"].as_str().unwrap_or("unknown error")
        )
    }
}
