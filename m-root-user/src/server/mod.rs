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

pub mod handoff;
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
    /// Held while a successor takes over (or, in a successor, until its programs are in place).
    pub gate: Arc<handoff::Gate>,
    /// A descriptor of every socket served, for a successor.
    pub listening: Vec<handoff::Listening>,
}

impl Server {
    /// Serve every address: UDP on `workers` sockets (SO_REUSEPORT), TCP on one listener; sockets
    /// `inherited` from a daemon taken over are served first (all of them for an address still
    /// configured, so none keeps a queue nobody reads), and only what they lack is bound. The threads
    /// read nothing while `gate` is held.
    pub fn start(
        state: Arc<ArcSwap<State>>,
        stats: Arc<Stats>,
        opts: &ServeOptions,
        inherited: Vec<handoff::Listening>,
        gate: Arc<handoff::Gate>,
    ) -> Result<Server> {
        use handoff::Kind;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut listening = Vec::new();
        let mut inherited: Vec<Option<handoff::Listening>> = inherited.into_iter().map(Some).collect();
        let mut take = |kind: Kind, sa: SocketAddr| -> Vec<std::os::fd::OwnedFd> {
            inherited
                .iter_mut()
                .filter(|l| l.as_ref().is_some_and(|l| l.info.kind == kind && l.info.addr == sa))
                .filter_map(|l| l.take().map(|l| l.fd))
                .collect()
        };
        for addr in &opts.addrs {
            let sa = SocketAddr::new(*addr, opts.port);
            let mut udp: Vec<std::net::UdpSocket> = take(Kind::Udp, sa).into_iter().map(std::net::UdpSocket::from).collect();
            while udp.len() < opts.workers.max(1) {
                udp.push(udp::socket(sa).with_context(|| format!("binding UDP {sa}"))?);
            }
            for (w, sock) in udp.into_iter().enumerate() {
                listening
                    .push(handoff::Listening { info: handoff::SocketInfo { kind: Kind::Udp, addr: sa }, fd: sock.try_clone()?.into() });
                let (state, stats, stop, notify, reader) = (state.clone(), stats.clone(), stop.clone(), opts.notify.clone(), gate.reader());
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("udp-{w}"))
                        .spawn(move || udp::worker(sock, state, stats, stop, notify, reader))?,
                );
            }
            let listener = match take(Kind::Tcp, sa).into_iter().next() {
                Some(fd) => std::net::TcpListener::from(fd),
                None => tcp::listener(sa).with_context(|| format!("binding TCP {sa}"))?,
            };
            listening
                .push(handoff::Listening { info: handoff::SocketInfo { kind: Kind::Tcp, addr: sa }, fd: listener.try_clone()?.into() });
            let (state, stats, stop, o, reader) = (state.clone(), stats.clone(), stop.clone(), opts.clone(), gate.reader());
            threads.push(
                std::thread::Builder::new()
                    .name("tcp-accept".into())
                    .spawn(move || tcp::acceptor(listener, state, stats, stop, o, reader))?,
            );
        }
        // Inherited sockets of addresses no longer served close here (the old daemon's copies with it).
        let dropped = inherited.iter().flatten().count();
        if dropped > 0 {
            log::info!("{dropped} sockets of the daemon taken over are for addresses not configured here: closed");
        }
        Ok(Server { stop, threads, gate, listening })
    }

    /// Stop every thread and wait for them (each notices within its socket timeout). The descriptors
    /// kept for a successor close first, so the listeners close as their threads let go of them.
    pub fn stop(mut self) {
        self.listening.clear();
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
