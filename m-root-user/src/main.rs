//! `m-root-xdp`: a DNS root-server responder. `run` loads the zone, attaches the XDP fast path and serves
//! the rest; `stats` reads the counters; the `lab-*` commands drive test labs.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use arc_swap::ArcSwap;
use clap::{Args, Parser, Subcommand};
use m_root_user::dataplane::{self, Dataplane, Mode};
use m_root_user::server::{ServeOptions, Server, State, Stats};
use m_root_user::{control, frame, lab};
use zonegen::{compile, name, print, rr, wire, LoadOptions, ServerConfig, Zone};

#[derive(Parser)]
#[command(name = "m-root-xdp", version, about = "DNS root-server responder with an XDP fast path")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Load the zone, attach the XDP program, and serve.
    Run(RunArgs),
    /// Print counters: XDP (from the pinned map, works while the daemon is stopped) and userspace.
    Stats {
        /// Interface whose XDP counters to read.
        #[arg(long)]
        iface: Option<String>,
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove an XDP program left on an interface (e.g. by a killed process using netlink attach).
    Detach {
        #[arg(long)]
        iface: String,
    },
    /// Load the XDP program and report what the verifier processed (no attach).
    Verify,
    /// Lab: send a DNS query into a veth as a NIC would deliver it, and print the answer.
    LabQuery(LabQueryArgs),
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
}

#[derive(Args)]
struct RunArgs {
    /// Zone file (RFC 1035 master format).
    #[arg(long)]
    zone: PathBuf,
    /// Interface(s) to attach the XDP program to.
    #[arg(long = "iface")]
    ifaces: Vec<String>,
    /// Service address(es): queries to these are answered; everything else passes.
    #[arg(long = "addr", required = true)]
    addrs: Vec<IpAddr>,
    #[arg(long, value_enum, default_value = "native")]
    xdp_mode: Mode,
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// UDP worker threads per address (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Identity for id.server / hostname.bind / NSID.
    #[arg(long)]
    identity: Option<String>,
    /// Text for version.bind (not answered when absent).
    #[arg(long)]
    version_string: Option<String>,
    /// Do not answer CHAOS queries at all.
    #[arg(long)]
    no_chaos: bool,
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    control: PathBuf,
    #[arg(long)]
    no_zonemd: bool,
}

#[derive(Args)]
struct LabQueryArgs {
    /// Client interface to inject on (in this network namespace).
    #[arg(long)]
    iface: String,
    /// Server's MAC address.
    #[arg(long)]
    dst_mac: String,
    /// Our (client) address.
    #[arg(long)]
    src: IpAddr,
    /// Server address.
    #[arg(long)]
    dst: IpAddr,
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// VLAN IDs to tag with, outermost first (802.1ad outer when two).
    #[arg(long = "vlan")]
    vlans: Vec<u16>,
    qname: String,
    #[arg(default_value = "A")]
    qtype: String,
    #[arg(long = "do")]
    dnssec_ok: bool,
    /// EDNS buffer size (EDNS is sent when this or --do is given).
    #[arg(long)]
    bufsize: Option<u16>,
    /// Print the answer as hex instead of dig-like text.
    #[arg(long)]
    hex: bool,
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Query ID (random when absent).
    #[arg(long)]
    id: Option<u16>,
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).format_target(false).init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("m-root-xdp: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Run(a) => serve(a),
        Cmd::Stats { iface, control: path, json } => stats(iface.as_deref(), &path, json),
        Cmd::Detach { iface } => detach(&iface),
        Cmd::Verify => {
            let dp = Dataplane::load()?;
            println!("XDP program loaded; verifier processed {} instructions", dp.verified_insns.map_or("?".into(), |n| n.to_string()));
            Ok(())
        }
        Cmd::LabQuery(a) => lab_query(a),
        Cmd::PinDir => {
            println!("{}", dataplane::pin_root()?.display());
            Ok(())
        }
        Cmd::LabPass { iface, pin } => {
            let root = dataplane::pin_root()?;
            lab::attach_pass(&iface, &root.join(pin))
        }
    }
}

fn serve(a: RunArgs) -> Result<()> {
    let started = Instant::now();
    if a.xdp_mode != Mode::Off && a.ifaces.is_empty() {
        bail!("--iface is required unless --xdp-mode off");
    }
    let zone = Zone::load(&a.zone, &LoadOptions { no_zonemd: a.no_zonemd }).map_err(|e| anyhow!("zone refused: {e}"))?;
    for w in &zone.warnings {
        log::warn!("zone: {w}");
    }
    log::info!("zone {} serial {}: {} TLDs, ZONEMD {}", a.zone.display(), zone.serial, zone.tlds.len(), zone.zonemd);
    let cfg = ServerConfig { chaos: !a.no_chaos, identity: a.identity.clone(), version: a.version_string.clone(), nsid: a.identity.is_some() };

    let mut planes = Vec::new();
    if a.xdp_mode != Mode::Off {
        let table = compile(&zone);
        for iface in &a.ifaces {
            let mut dp = Dataplane::load()?;
            dp.set_service_addrs(&a.addrs)?;
            let generation = dp.install(&table)?;
            dp.attach(iface, a.xdp_mode)?;
            dp.pin_counters(iface)?;
            log::info!(
                "XDP attached to {iface} ({:?} mode, driver {}), table generation {generation}: {} answers, verifier {} insns",
                a.xdp_mode,
                dataplane::driver_name(iface).unwrap_or_default(),
                table.answer_count(),
                dp.verified_insns.unwrap_or(0)
            );
            planes.push(dp);
        }
    }

    let state = Arc::new(ArcSwap::from_pointee(State { zone, cfg }));
    let stats = Arc::new(Stats::default());
    let workers = a.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let opts = ServeOptions { addrs: a.addrs.clone(), port: a.port, workers, tcp_max_connections: 512, tcp_max_per_source: 32, tcp_idle: Duration::from_secs(10) };
    let server = Server::start(state.clone(), stats.clone(), &opts)?;
    let ctl = control::Control::start(&a.control, state, stats, started)?;
    log::info!("serving on {:?} port {} ({} UDP workers per address), control socket {}", a.addrs, a.port, workers, a.control.display());

    // Wait for SIGTERM / SIGINT; then stop serving and detach (dropping the links detaches).
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
    if let Some(sig) = signals.forever().next() {
        log::info!("signal {sig}: shutting down");
    }
    server.stop();
    drop(ctl);
    drop(planes);
    log::info!("stopped; XDP detached");
    Ok(())
}

fn stats(iface: Option<&str>, path: &PathBuf, json: bool) -> Result<()> {
    let xdp = match iface {
        Some(i) => Some(dataplane::pinned_counters(i)?),
        None => None,
    };
    let user = control::request(path, "stats", Duration::from_millis(500)).ok();
    if json {
        let mut o = serde_json::Map::new();
        if let Some(x) = &xdp {
            for (c, v) in x {
                o.insert(c.name().into(), (*v).into());
            }
        }
        o.insert("userspace".into(), user.clone().unwrap_or(serde_json::Value::Null));
        println!("{}", serde_json::Value::Object(o));
        return Ok(());
    }
    if let Some(x) = &xdp {
        for (c, v) in x {
            println!("{:<32} {v}", c.name());
        }
    }
    match user {
        Some(u) => println!("userspace: {u}"),
        None => println!("userspace: no answer on {} (daemon stopped or not running)", path.display()),
    }
    Ok(())
}

fn detach(iface: &str) -> Result<()> {
    // Links made by `run` go away with the process; a netlink-attached program stays. `ip` removes it.
    let status = std::process::Command::new("ip").args(["link", "set", "dev", iface, "xdp", "off"]).status().context("running ip")?;
    if !status.success() {
        bail!("ip link set dev {iface} xdp off failed");
    }
    for root in [dataplane::PIN_ROOT, dataplane::PIN_ROOT_FALLBACK] {
        let _ = std::fs::remove_file(PathBuf::from(root).join(iface).join(m_root_common::maps::PERCPU));
    }
    println!("XDP removed from {iface}");
    Ok(())
}

fn lab_query(a: LabQueryArgs) -> Result<()> {
    let qn = name::from_text(&a.qname).map_err(|e| anyhow!("bad name: {e}"))?;
    let qt = rr::type_from_name(&a.qtype).ok_or_else(|| anyhow!("unknown type {}", a.qtype))?;
    let edns = (a.dnssec_ok || a.bufsize.is_some()).then(|| (a.bufsize.unwrap_or(1232), a.dnssec_ok));
    let id = a.id.unwrap_or_else(|| (std::process::id() as u16) ^ (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()) as u16));
    let msg = wire::build_query(id, 0, &qn, qt, rr::CLASS_IN, edns);
    let vlans = match a.vlans.as_slice() {
        [] => vec![],
        [v] => vec![(0x8100, *v)],
        [o, i] => vec![(0x88a8, *o), (0x8100, *i)],
        _ => bail!("at most two VLAN tags"),
    };
    let how = lab::Injection { iface: a.iface.clone(), dst_mac: frame::parse_mac(&a.dst_mac)?, vlans, src: a.src, dst: a.dst, dport: a.port, timeout: Duration::from_millis(a.timeout_ms) };
    let inj = lab::Injector::new(&a.iface)?;
    let resp = lab::query(&inj, &how, &msg)?;
    if a.hex {
        println!("{}", resp.iter().map(|b| format!("{b:02x}")).collect::<String>());
    } else {
        print!("{}", print::to_text(&resp));
    }
    Ok(())
}
