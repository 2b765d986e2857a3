//! `m-root-xdp`: a DNS root-server responder. `run` loads the zone, attaches the kernel fast path (XDP
//! and its TC companion) and serves the rest; `reload` and `stats` ask the running daemon; `detach`,
//! `verify` and `pin-dir` are for operators; the `lab-*` commands drive test labs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Parser;
use m_root_user::cli::{Cli, Cmd};
use m_root_user::daemon::{self, Daemon};
use m_root_user::dataplane::{Dataplane, Mode};
use m_root_user::observe::{self, Stats};
use m_root_user::secondary::Secondary;
use m_root_user::secondary::conf::Conf as SecondaryConf;
use m_root_user::secondary::outgoing::Outgoing;
use m_root_user::server::{NotifyHook, ServeOptions, Server, TransferHook};
use m_root_user::{caps, config, control, deploy, takeover, txwatch};
use zonegen::{LoadOptions, ServerConfig, Zone};

fn main() -> std::process::ExitCode {
    // Everything passes the logger's own filter; the level is set by log::set_max_level (RUST_LOG, or the
    // config's log_level once it is read).
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("trace")).format_target(false).init();
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Info);
    }
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
        Cmd::Run { config, take_over, settings } => {
            let (s, limits, services) = config::of_run(config.as_deref(), settings)?;
            let secondary = services.secondary.map(|sec| sec.resolve()).transpose()?;
            let outgoing = services.transfer.map(|t| t.resolve()).transpose()?.flatten();
            serve(
                s,
                config.as_deref(),
                limits,
                (secondary, outgoing, services.anycast, services.rssac002),
                (services.metrics, services.dnstap),
                take_over,
            )
        }
        other => m_root_user::cli::client(other),
    }
}

/// `[anycast]`: the announcement device, created, or adopted from the daemon taken over when it handed
/// its own (`tun`) and it is the one configured; otherwise that daemon's device goes with its process,
/// which has just exited (the kernel may take a moment to remove it, and the name may be the same).
fn start_anycast(
    a: m_root_user::anycast::Section,
    daemon: &Arc<Daemon>,
    s: &config::Settings,
    take_over: bool,
    tun: Option<(String, std::fs::File)>,
) -> Result<Option<Arc<m_root_user::anycast::Anycast>>> {
    let tun = tun.filter(|(name, _)| *name == a.interface).map(|(_, f)| f);
    if take_over && tun.is_none() {
        let t = Instant::now();
        while m_root_user::anycast::announce::exists(&a.interface) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let adopted = tun.is_some();
    let a = match m_root_user::anycast::Anycast::start(a, &s.addresses, s.port, tun) {
        Ok(a) => a,
        // Having taken over, this daemon is the one serving: not announcing is better than stopping
        // (the old one is gone, and with this one the kernel programs would go).
        Err(e) if take_over => {
            log::error!("anycast: {e:#}; serving WITHOUT announcing (restart to announce)");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let _ = daemon.anycast.set(a.clone());
    match adopted {
        true => log::info!("anycast: {} taken over as it was ({})", a.conf.interface, a.report()["state"]),
        false => {
            log::info!("anycast: {} created; the service addresses go on it once {} probes in a row pass", a.conf.interface, a.conf.rise)
        }
    }
    Ok(Some(a))
}

/// `run`: load the zone, set up each interface's dataplane, serve until SIGTERM / SIGINT (SIGHUP reloads).
/// With `take_over`, the interfaces' programs are taken from the daemon running on the control socket.
fn serve(
    s: config::Settings,
    config: Option<&Path>,
    limits: m_root_user::limits::Limits,
    (secondary, outgoing, anycast, rssac002): (
        Option<SecondaryConf>,
        Option<Outgoing>,
        Option<m_root_user::anycast::Section>,
        Option<observe::daystate::Section>,
    ),
    (metrics, dnstap): (Option<observe::endpoint::Section>, Option<observe::dnstap::Section>),
    take_over: bool,
) -> Result<()> {
    log::set_max_level(s.log_level.parse().unwrap_or(log::LevelFilter::Info));
    // Before anything is loaded: a daemon started with too few capabilities names the missing ones.
    if let Some(have) = caps::CapSet::effective() {
        caps::check(have, &caps::needed(s.xdp_mode != Mode::Off, s.port, caps::unprivileged_port_start())).map_err(|e| anyhow!(e))?;
    }

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // From here on the signals are caught: one that arrives while the zone is loaded or the first
    // transfer awaited (which can last) waits in `signals` for the loop below, and SIGTERM / SIGINT also
    // set `starting`, which ends that wait.
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let starting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT] {
        signal_hook::flag::register(sig, starting.clone())?;
    }
    let t = Instant::now();
    let (zone, zone_path, age, first_transfer) = match &secondary {
        Some(c) => match Secondary::starting_zone(c, s.zone.as_deref(), s.zonemd, &starting) {
            Some(start) => (start.zone, start.path, start.age, start.transfer),
            None => {
                log::info!("stopped before any primary gave the zone; nothing was served");
                return Ok(());
            }
        },
        None => {
            let path = s.zone.clone().ok_or_else(|| anyhow!("zone: no zone file given"))?;
            (Zone::load(&path, &LoadOptions { no_zonemd: !s.zonemd }).map_err(|e| anyhow!("zone refused: {e}"))?, path, None, None)
        }
    };
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    for w in &zone.warnings {
        log::warn!("zone: {w}");
    }
    log::info!(
        "zone {} serial {}: {} TLDs, ZONEMD {}, loaded in {load_ms:.0} ms",
        zone_path.display(),
        zone.serial,
        zone.tlds.len(),
        zone.zonemd
    );
    let cfg = ServerConfig { chaos: s.chaos, identity: s.identity.clone(), version: s.version.clone(), nsid: s.nsid };

    let mut planes = Vec::new();
    let mut plans = Vec::new();
    let table = daemon::compile(&zone);
    if s.xdp_mode != Mode::Off {
        for iface in &s.interfaces {
            let device = deploy::Device::of(iface);
            let plan = deploy::plan(s.xdp_mode, s.tc, s.xdp_tx_peer, &device);
            log::info!("{iface}: {}", plan.reason);
            if let Some(w) = &plan.warning {
                log::warn!("{iface}: {w}");
            }
            let mut dp = Dataplane::load()?;
            dp.set_service_addrs(&s.addresses)?;
            dp.install(&table)?;
            if !take_over {
                dp.attach(iface, &plan)?;
                dp.log_attached(&device, table.answer_count())?;
            }
            plans.push((iface.clone(), device, plan));
            planes.push(dp);
        }
    }

    let stats = Arc::new(Stats::default());
    // dnstap from the first query on.
    let dnstap = match dnstap {
        Some(d) => {
            let (sink, writer) = observe::dnstap::spawn(&d)?;
            let _ = stats.dnstap.set(sink.clone());
            // And one in kernel_sample of the programs' answers, through their rings.
            let mut kernel = None;
            if d.kernel_sample > 0 && !planes.is_empty() {
                let mut rings = Vec::new();
                for dp in planes.iter_mut() {
                    dp.set_dnstap_rate(d.kernel_sample)?;
                    rings.push(dp.take_dnstap_ring()?);
                }
                log::info!("dnstap: sampling one in {} kernel answers", d.kernel_sample);
                kernel = Some(observe::dnstap_kernel::spawn(sink.clone(), rings, d.kernel_sample, stop.clone()));
            }
            Some((sink, writer, kernel))
        }
        None => None,
    };
    let serial = zone.serial;
    let answers = table.answer_count();
    let daemon = Arc::new(Daemon::new(zone, table, &zone_path, load_ms, cfg, s.zonemd, planes, stats.clone()));
    daemon.set_limits(config.map(|c| std::fs::canonicalize(c).unwrap_or(c.to_path_buf())).as_deref(), limits).map_err(|e| anyhow!(e))?;
    let mut opts = ServeOptions {
        addrs: s.addresses.clone(),
        port: s.port,
        workers: s.workers,
        tcp_max_connections: s.tcp_max_connections,
        tcp_max_per_source: s.tcp_max_per_source,
        tcp_idle: Duration::from_secs(s.tcp_idle_seconds),
        notify: None,
        transfer: None,
    };
    if let Some(out) = outgoing {
        log::info!("transfers (AXFR, IXFR over TCP) allowed to {:?}{}", out.allow, if out.key.is_some() { ", TSIG required" } else { "" });
        opts.transfer = Some(TransferHook(Arc::new(move |zone, peer, msg| out.answer(zone, peer, msg))));
    }
    let secondary = secondary.map(|c| Secondary::new(c, s.zonemd, &daemon.state.load().zone, age, first_transfer));
    if let Some(sec) = &secondary {
        let _ = daemon.secondary.set(sec.clone());
        let hook = sec.clone();
        opts.notify = Some(NotifyHook(Arc::new(move |peer, tcp, msg| hook.notify(peer, tcp, msg))));
    }
    if take_over {
        // Before any socket is bound beside it: a zone older than the one running is never served.
        let running = control::request(&s.control, "stats", Duration::from_secs(5))?;
        if let Some(r) = running["zone.serial"].as_u64().map(|v| v as u32)
            && daemon::serial_newer(r, serial)
        {
            bail!("this zone's serial {serial} is older than the running {r} (RFC 1982): not taking over");
        }
    }
    // RSSAC002's day: the programs count into today's slot from before they serve (a successor's are
    // swapped in just below).
    let day_keeper = rssac002.map(|r| {
        log::info!("rssac002: counting UTC days for {}, kept in {}", r.service, r.state.display());
        observe::daystate::spawn(&daemon, r, stop.clone())
    });
    // Taking over: the running daemon's links and sockets (it stops reading them now); served here,
    // gated until this daemon's programs are in the links, so userspace and the kernel switch zones
    // together. Sockets it did not hand are bound beside its own (SO_REUSEPORT).
    let (mut handing, offered_at) = match take_over {
        true => (Some(takeover::ask_offer(&s.control)?), Some(std::time::Instant::now())),
        false => (None, None),
    };
    let (inherited, mut inherited_tun) = handing.as_mut().map(|h| h.take_handed()).unwrap_or_default();
    let gate = Arc::new(match take_over {
        true => m_root_user::server::handoff::Gate::held(),
        false => m_root_user::server::handoff::Gate::default(),
    });
    let mut server = match Server::start(daemon.state.clone(), stats, &opts, inherited, gate.clone()) {
        Ok(server) => server,
        Err(e) => {
            if take_over {
                takeover::ask_resume(&s.control);
            }
            return Err(e);
        }
    };
    *daemon.handoff.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(m_root_user::server::handoff::Handoff { gate: gate.clone(), sockets: std::mem::take(&mut server.listening) });
    if let (Some(h), Some(at)) = (&handing, offered_at) {
        takeover::take_over(&daemon, &s.control, &plans, (serial, answers), (h, at), &gate)?;
    }
    for dp in daemon.planes.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
        let Some((iface, _, _)) = dp.attached.clone() else { continue };
        // Not fatal: the pins only let `stats --iface` read the counters of a daemon that no longer
        // answers; the control socket reports them while it runs.
        if let Err(e) = dp.pin_counters(&iface) {
            log::warn!("{iface}: counters not pinned ({e:#}): `stats --iface` cannot read them once this daemon stops");
        }
    }
    let ctl = control::Control::start(&s.control, daemon.clone())?;
    // After a take-over: the counter maps are those of the programs attached now.
    let metrics = match metrics {
        Some(m) => Some(observe::endpoint::start(&m, observe::endpoint::Exporter::new(daemon.clone())?, stop.clone())?),
        None => None,
    };
    if s.watch && secondary.is_some() {
        log::warn!("watch: off with [secondary]; the zone comes from the primaries");
    }
    let watcher = (s.watch && secondary.is_none()).then(|| daemon.watch(stop.clone()));
    let refresher = secondary.as_ref().map(|sec| sec.run(daemon.clone(), stop.clone()));
    // Anycast: the announcement interface, withdrawn until the probes say healthy.
    let anycast = match anycast {
        Some(a) => start_anycast(a, &daemon, &s, take_over, inherited_tun.take())?,
        None => None,
    };
    let prober = anycast.as_ref().map(|a| a.run(daemon.clone(), stop.clone()));
    let tx_watcher = txwatch::start(daemon.clone(), stop.clone())?;
    let cookie_clock = daemon.cookie_clock(stop.clone());
    log::info!(
        "serving on {:?} port {} ({} UDP workers per address), control socket {}",
        s.addresses,
        s.port,
        s.workers,
        s.control.display()
    );

    // Ready for systemd (Type=notify): the zone is served, by the kernel paths where they are on.
    daemon::notify_ready(&daemon);

    // SIGHUP reloads (a secondary refreshes, as `reload` has it do); SIGTERM / SIGINT stop serving and
    // detach (dropping the links detaches), unless a successor has taken the links over (then it is the
    // one that retired this daemon).
    for sig in signals.forever() {
        if sig == SIGHUP {
            log::info!("SIGHUP: reloading");
            let _ = match &secondary {
                Some(sec) => sec.refresh_now(&daemon, false),
                None => daemon.reload(None, false),
            };
            continue;
        }
        log::info!("signal {sig}: shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        // Withdraw first, and keep answering while the routers move the traffic elsewhere.
        if let Some(a) = &anycast
            && !daemon.retired.load(std::sync::atomic::Ordering::SeqCst)
        {
            let wait = a.withdraw_for_stop();
            log::info!("anycast: withdrawn; answering for {wait:?} more before stopping");
            std::thread::sleep(wait);
        }
        break;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let _ = tx_watcher.join();
    let _ = cookie_clock.join();
    if let Some(r) = refresher {
        let _ = r.join();
    }
    if let Some(p) = prober {
        let _ = p.join();
    }
    if let Some(m) = metrics {
        let _ = m.join();
    }
    // The descriptors kept for a successor first, so the listeners close with the server.
    daemon.handoff.lock().unwrap_or_else(|p| p.into_inner()).take();
    server.stop();
    // What the server sent is written, and the stream closed (STOP, and a socket's reader's FINISH).
    if let Some((sink, writer, kernel)) = dnstap {
        if let Some(k) = kernel {
            let _ = k.join();
        }
        sink.close();
        let _ = writer.join();
    }
    // Its last write reads the programs' counts: before the dataplanes go.
    if let Some(k) = day_keeper {
        let _ = k.join();
    }
    // The dataplanes (and their counter pins) before the control socket: a successor waits for the
    // socket to go before it pins its own.
    daemon.planes.lock().unwrap_or_else(|p| p.into_inner()).clear();
    drop(ctl);
    match daemon.retired.load(std::sync::atomic::Ordering::SeqCst) {
        true => log::info!("stopped; the kernel programs stay with the successor"),
        false => log::info!("stopped; XDP detached"),
    }
    Ok(())
}
