//! The userspace server: answers, with zonegen's one answer function, every query the kernel programs
//! passed up (or all of them with `--xdp-mode off`), over UDP (`udp`) and TCP (`tcp`), IPv4 and IPv6.
//! Its counters are in `observe`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use zonegen::{ServerConfig, Zone};

use crate::observe::Stats;

pub mod limiter;
mod tcp;
mod udp;

/// What the server answers from: swapped whole on reload.
pub struct State {
    pub zone: Zone,
    pub cfg: ServerConfig,
    /// The compiled table, for the UDP queries it covers (same bytes as the answer function, faster).
    pub fast: zonegen::fast::FastTable,
    /// Rate limiting and the drop list (kept from one zone to the next).
    pub limiter: Arc<limiter::Limiter>,
    /// The zone has expired (a secondary that could not refresh it): every query gets SERVFAIL.
    pub expired: AtomicBool,
}

impl State {
    pub fn new(zone: Zone, cfg: ServerConfig, fast: zonegen::fast::FastTable, limiter: Arc<limiter::Limiter>) -> State {
        State { zone, cfg, fast, limiter, expired: AtomicBool::new(false) }
    }
}

/// Given a NOTIFY's sender, whether it came over TCP, and the message, the answer (None: none).
pub type NotifyFn = dyn Fn(IpAddr, bool, &[u8]) -> Option<Vec<u8>> + Send + Sync;

/// What answers a NOTIFY (the secondary service).
#[derive(Clone)]
pub struct NotifyHook(pub Arc<NotifyFn>);

impl std::fmt::Debug for NotifyHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotifyHook")
    }
}

/// Given a request over TCP (the zone served, the sender, the message), the messages of a zone
/// transfer; None: not a transfer this serves.
pub type TransferFn = dyn Fn(&Zone, IpAddr, &[u8]) -> Option<Vec<Vec<u8>>> + Send + Sync;

/// What serves zone transfers to others (`[transfer]`).
#[derive(Clone)]
pub struct TransferHook(pub Arc<TransferFn>);

impl std::fmt::Debug for TransferHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransferHook")
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addrs: Vec<IpAddr>,
    pub port: u16,
    /// UDP sockets (and threads) per address.
    pub workers: usize,
    pub tcp_max_connections: usize,
    pub tcp_max_per_source: usize,
    pub tcp_idle: Duration,
    /// NOTIFY over UDP goes here (a secondary); without one it gets NOTIMP like any other opcode.
    pub notify: Option<NotifyHook>,
    /// AXFR and IXFR over TCP go here (`[transfer]`); without one they are REFUSED.
    pub transfer: Option<TransferHook>,
}

/// Running server threads.
pub struct Server {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Bind every address (UDP: `workers` sockets with SO_REUSEPORT; TCP: one listener) and start
    /// serving.
    pub fn start(state: Arc<ArcSwap<State>>, stats: Arc<Stats>, opts: &ServeOptions) -> Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for addr in &opts.addrs {
            let sa = SocketAddr::new(*addr, opts.port);
            for w in 0..opts.workers.max(1) {
                let sock = udp::socket(sa).with_context(|| format!("binding UDP {sa}"))?;
                let (state, stats, stop, notify) = (state.clone(), stats.clone(), stop.clone(), opts.notify.clone());
                threads.push(
                    std::thread::Builder::new().name(format!("udp-{w}")).spawn(move || udp::worker(sock, state, stats, stop, notify))?,
                );
            }
            let listener = tcp::listener(sa).with_context(|| format!("binding TCP {sa}"))?;
            let (state, stats, stop, o) = (state.clone(), stats.clone(), stop.clone(), opts.clone());
            threads
                .push(std::thread::Builder::new().name("tcp-accept".into()).spawn(move || tcp::acceptor(listener, state, stats, stop, o))?);
        }
        Ok(Server { stop, threads })
    }

    /// Stop every thread and wait for them (each notices within its socket timeout).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
