//! `zonegen`: check a zone, compile it into the XDP table, inspect a table, or show the answer to a query.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

use zonegen::cli::{Cli, Cmd};
use zonegen::testkit::print;
use zonegen::{LoadOptions, ServerConfig, Transport, Zone, answer, compile, name, rr, tablefile, wire};

fn load(path: &Path, no_zonemd: bool) -> Result<(Zone, f64)> {
    let t = Instant::now();
    let zone = Zone::load(path, &LoadOptions { no_zonemd }).map_err(|e| anyhow::anyhow!("zone refused: {e}"))?;
    Ok((zone, t.elapsed().as_secs_f64()))
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonegen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Check { zone, no_zonemd } => {
            let (z, load_s) = load(&zone, no_zonemd)?;
            let t = Instant::now();
            let table = compile(&z);
            let compile_s = t.elapsed().as_secs_f64();
            let with_ds = z.tlds.iter().filter(|t| z.rrset(t, rr::DS).is_some()).count();
            println!("zone:         {}", zone.display());
            println!("serial:       {}", z.serial);
            println!("records:      {}", z.record_count);
            println!("delegations:  {} ({} signed with DS, {} without)", z.tlds.len(), with_ds, z.tlds.len() - with_ds);
            println!("dnssec:       {}", if z.signed { "signed (DNSKEY, NSEC chain and RRSIGs present)" } else { "unsigned" });
            println!("zonemd:       {}", z.zonemd);
            println!(
                "table:        {} answers ({} usable by XDP), {:.1} MiB per generation",
                table.answer_count(),
                table.usable_count(),
                table.bytes() as f64 / 1048576.0
            );
            println!("unusable:     {}", table.summary);
            println!("time:         load+validate+zonemd {:.0} ms, compile {:.0} ms", load_s * 1e3, compile_s * 1e3);
            for w in &z.warnings {
                println!("warning:      {w}");
            }
        }
        Cmd::Compile { zone, output, no_zonemd } => {
            let (z, _) = load(&zone, no_zonemd)?;
            let table = compile(&z);
            let mut f = std::fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
            tablefile::write(&table, &mut f).with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{}: serial {}, {} TLDs, {} answers; {}",
                output.display(),
                table.serial,
                table.tlds.len(),
                table.answer_count(),
                table.summary
            );
        }
        Cmd::Inspect { table } => {
            let mut f = std::fs::File::open(&table).with_context(|| format!("opening {}", table.display()))?;
            let t = tablefile::read(&mut f).with_context(|| format!("reading {}", table.display()))?;
            println!(
                "serial {}, {} TLDs, {} apex answers, {} fixed, {} usable, {:.1} MiB",
                t.serial,
                t.tlds.len(),
                t.apex.len(),
                t.fixed.len(),
                t.usable_count(),
                t.bytes() as f64 / 1048576.0
            );
            let mut sizes: Vec<usize> = t
                .tlds
                .iter()
                .flat_map(|(_, a)| a.iter())
                .filter(|a| a.ncuts > 0)
                .map(|a| a.cuts[a.ncuts as usize - 1].len as usize)
                .collect();
            sizes.sort();
            if let (Some(min), Some(max)) = (sizes.first(), sizes.last()) {
                println!("referral fragments: {} to {} octets, median {}", min, max, sizes[sizes.len() / 2]);
            }
            for (key, answers) in t.tlds.iter().take(5) {
                let label = name::to_text(&[&key[..key[0] as usize + 1], &[0u8][..]].concat());
                let desc: Vec<String> = answers
                    .iter()
                    .map(|a| format!("{} octets/{} cuts/{} ptrs", a.cuts[a.ncuts.max(1) as usize - 1].len, a.ncuts, a.nptrs))
                    .collect();
                println!("  {label:<12} {}", desc.join(" | "));
            }
            if t.tlds.len() > 5 {
                println!("  ... {} more", t.tlds.len() - 5);
            }
        }
        Cmd::Answer { zone, qname, qtype, dnssec_ok, bufsize, tcp, class, no_zonemd } => {
            let (z, _) = load(&zone, no_zonemd)?;
            let qn = name::from_text(&qname).map_err(|e| anyhow::anyhow!("bad name: {e}"))?;
            let Some(t) = rr::type_from_name(&qtype) else { bail!("unknown type {qtype}") };
            let c = match class.to_ascii_uppercase().as_str() {
                "IN" => rr::CLASS_IN,
                "CH" => rr::CLASS_CH,
                other => other.strip_prefix("CLASS").and_then(|n| n.parse().ok()).with_context(|| format!("unknown class {class}"))?,
            };
            let edns = (dnssec_ok || bufsize.is_some()).then(|| (bufsize.unwrap_or(1232), dnssec_ok));
            let q = wire::build_query(0x1234, 0, &qn, t, c, edns);
            let cfg = ServerConfig { chaos: true, identity: Some("zonegen".into()), version: None, nsid: true };
            let transport = if tcp { Transport::Tcp } else { Transport::Udp };
            match answer::answer(&z, &cfg, &q, transport) {
                Some(r) => print!("{}", print::to_text(&r)),
                None => println!(";; no answer (dropped)"),
            }
        }
    }
    Ok(())
}
