//! dnstap (dnstap.info's protobuf, over Frame Streams) of what the userspace server receives and sends:
//! an AUTH_QUERY for each query, an AUTH_RESPONSE for each response, to a Unix socket (a collector such
//! as fstrm_capture or dnstap-read's) or a file, as Knot's mod-dnstap and NSD's dnstap write them.
//!
//! Answering never waits for it: messages go through a bounded queue to a writer thread and are dropped
//! (and counted) when the queue is full or the socket's reader is away; the writer reconnects every
//! second and says once per outage that it could not.

use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use prost::Message as _;
use serde::Deserialize;

use super::fstrm;

/// The content type of a dnstap stream.
pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
/// Messages waiting for the writer before new ones are dropped.
const QUEUE: usize = 65_536;

/// `[dnstap]` in the config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// A Frame Streams reader's Unix socket.
    pub socket: Option<PathBuf>,
    /// Or a file, written from its start at each daemon start.
    pub file: Option<PathBuf>,
    /// dnstap's identity (default: the host name).
    pub identity: Option<String>,
    /// One in N answers of the kernel programs; 0 (the default) none.
    #[serde(default)]
    pub kernel_sample: u32,
}

/// Each key with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 4] = [
    (
        "dnstap.socket",
        "none",
        "A Frame Streams reader's Unix socket (fstrm_capture, a dnstap collector): AUTH_QUERY and AUTH_RESPONSE of every userspace answer.",
    ),
    ("dnstap.file", "none", "Instead of socket: a file, rewritten from its start at each daemon start."),
    ("dnstap.identity", "the host name", "dnstap's identity field."),
    ("dnstap.kernel_sample", "0", "One in N answers of the kernel programs (per CPU), as AUTH_RESPONSE messages with the answer; 0 none."),
];

impl Section {
    pub fn check(&self) -> Result<()> {
        match (&self.socket, &self.file) {
            (Some(_), Some(_)) => bail!("[dnstap]: socket or file, not both"),
            (None, None) => bail!("[dnstap]: socket or file is needed"),
            _ => {}
        }
        Ok(())
    }
}

/// dnstap.proto's Dnstap (the fields written here; field numbers and types as there).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dnstap {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub identity: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub version: Option<Vec<u8>>,
    /// Set on the kernel programs' samples: which program sent the answer, at what rate sampled.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub extra: Option<Vec<u8>>,
    #[prost(message, optional, tag = "14")]
    pub message: Option<Message>,
    /// Dnstap.Type: MESSAGE = 1.
    #[prost(int32, required, tag = "15")]
    pub r#type: i32,
}

/// dnstap.proto's Message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// Message.Type: AUTH_QUERY = 1, AUTH_RESPONSE = 2.
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    /// SocketFamily: INET = 1, INET6 = 2.
    #[prost(int32, optional, tag = "2")]
    pub socket_family: Option<i32>,
    /// SocketProtocol: UDP = 1, TCP = 2.
    #[prost(int32, optional, tag = "3")]
    pub socket_protocol: Option<i32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub query_address: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub response_address: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "6")]
    pub query_port: Option<u32>,
    #[prost(uint32, optional, tag = "7")]
    pub response_port: Option<u32>,
    #[prost(uint64, optional, tag = "8")]
    pub query_time_sec: Option<u64>,
    #[prost(fixed32, optional, tag = "9")]
    pub query_time_nsec: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "10")]
    pub query_message: Option<Vec<u8>>,
    #[prost(uint64, optional, tag = "12")]
    pub response_time_sec: Option<u64>,
    #[prost(fixed32, optional, tag = "13")]
    pub response_time_nsec: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "14")]
    pub response_message: Option<Vec<u8>>,
}

pub const AUTH_QUERY: i32 = 1;
pub const AUTH_RESPONSE: i32 = 2;
pub const UDP: i32 = 1;
pub const TCP: i32 = 2;

/// Where messages go: the queue to the writer thread.
pub struct Sink {
    tx: SyncSender<Option<Item>>,
    pub counts: std::sync::Arc<Counts>,
}

/// A message for the writer, with the Dnstap's `extra` field.
type Item = (Message, Option<Vec<u8>>);

/// What the writer did: messages written, and dropped (queue full, or no reader).
#[derive(Default)]
pub struct Counts {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

fn split(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

fn addr_bytes(a: &SocketAddr) -> Vec<u8> {
    match a {
        SocketAddr::V4(v) => v.ip().octets().to_vec(),
        SocketAddr::V6(v) => v.ip().octets().to_vec(),
    }
}

/// The message of a query `query` from `peer` to `local` at `t` over `protocol` (and its response).
fn message(
    kind: i32,
    protocol: i32,
    peer: &SocketAddr,
    local: &SocketAddr,
    query: (&[u8], SystemTime),
    resp: Option<(&[u8], SystemTime)>,
) -> Message {
    let (qs, qn) = split(query.1);
    let mut m = Message {
        r#type: kind,
        socket_family: Some(if peer.is_ipv6() { 2 } else { 1 }),
        socket_protocol: Some(protocol),
        query_address: Some(addr_bytes(peer)),
        response_address: Some(addr_bytes(local)),
        query_port: Some(peer.port() as u32),
        response_port: Some(local.port() as u32),
        query_time_sec: Some(qs),
        query_time_nsec: Some(qn),
        query_message: None,
        response_time_sec: None,
        response_time_nsec: None,
        response_message: None,
    };
    match resp {
        // A response carries its message only (its query was sent as the AUTH_QUERY before it).
        Some((r, t)) => {
            let (rs, rn) = split(t);
            (m.response_time_sec, m.response_time_nsec, m.response_message) = (Some(rs), Some(rn), Some(r.to_vec()));
        }
        None => m.query_message = Some(query.0.to_vec()),
    }
    m
}

impl Sink {
    fn send(&self, m: Message, extra: Option<Vec<u8>>) {
        match self.tx.try_send(Some((m, extra))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A query received.
    pub fn query(&self, protocol: i32, peer: &SocketAddr, local: &SocketAddr, query: &[u8], t: SystemTime) {
        self.send(message(AUTH_QUERY, protocol, peer, local, (query, t), None), None);
    }

    /// A response sent to the query received at `qt`.
    pub fn response(&self, protocol: i32, peer: &SocketAddr, local: &SocketAddr, qt: SystemTime, resp: &[u8], t: SystemTime) {
        self.send(message(AUTH_RESPONSE, protocol, peer, local, (&[], qt), Some((resp, t))), None);
    }

    /// An answer the kernel programs sent (UDP), sampled: no query time (the program does not keep it),
    /// `extra` says which program and the rate.
    pub fn kernel_response(&self, peer: &SocketAddr, local: &SocketAddr, resp: &[u8], t: SystemTime, extra: String) {
        let mut m = message(AUTH_RESPONSE, UDP, peer, local, (&[], t), Some((resp, t)));
        (m.query_time_sec, m.query_time_nsec) = (None, None);
        self.send(m, Some(extra.into_bytes()));
    }

    /// Write what is queued, close the stream (STOP; FINISH from a socket's reader) and end the writer.
    pub fn close(&self) {
        let _ = self.tx.send(None);
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "m-root-xdp".into())
}

/// Start the writer of `section` (checked); returns the sink and the writer's thread.
pub fn spawn(section: &Section) -> Result<(std::sync::Arc<Sink>, std::thread::JoinHandle<()>)> {
    section.check()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let counts = std::sync::Arc::new(Counts::default());
    let sink = std::sync::Arc::new(Sink { tx, counts: counts.clone() });
    let identity = section.identity.clone().unwrap_or_else(host_name).into_bytes();
    let version = format!("m-root-xdp {}", env!("CARGO_PKG_VERSION")).into_bytes();
    let wrap = move |(m, extra): Item| Dnstap {
        identity: Some(identity.clone()),
        version: Some(version.clone()),
        extra,
        message: Some(m),
        r#type: 1,
    };
    let handle = match (&section.socket, &section.file) {
        (_, Some(path)) => {
            let f = std::fs::File::create(path).with_context(|| format!("[dnstap] file {}", path.display()))?;
            let path = path.clone();
            std::thread::spawn(move || {
                if let Err(e) = write_file(f, &rx, &wrap, &counts) {
                    log::error!("dnstap: writing {}: {e}; no more dnstap output", path.display());
                }
            })
        }
        (Some(path), None) => {
            let path = path.clone();
            std::thread::spawn(move || write_socket(&path, &rx, &wrap, &counts))
        }
        (None, None) => bail!("[dnstap]: socket or file is needed"),
    };
    Ok((sink, handle))
}

/// Frames from the queue until it is closed; flushed whenever the queue runs dry. Ok(true) when closed.
fn pump(
    w: &mut BufWriter<impl std::io::Write>,
    rx: &Receiver<Option<Item>>,
    wrap: &dyn Fn(Item) -> Dnstap,
    counts: &Counts,
) -> std::io::Result<bool> {
    loop {
        let m = match rx.try_recv() {
            Ok(m) => m,
            Err(_) => {
                w.flush()?;
                match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        let Some(m) = m else { return Ok(true) };
        fstrm::data(w, &wrap(m).encode_to_vec())?;
        counts.written.fetch_add(1, Ordering::Relaxed);
    }
}

fn write_file(f: std::fs::File, rx: &Receiver<Option<Item>>, wrap: &dyn Fn(Item) -> Dnstap, counts: &Counts) -> std::io::Result<()> {
    let mut w = BufWriter::new(f);
    fstrm::start_file(&mut w, CONTENT_TYPE)?;
    pump(&mut w, rx, wrap, counts)?;
    fstrm::stop(&mut w)
}

/// Connect, hand-shake and write; on any failure drop what comes meanwhile and connect again a second later.
fn write_socket(path: &std::path::Path, rx: &Receiver<Option<Item>>, wrap: &dyn Fn(Item) -> Dnstap, counts: &Counts) {
    let mut warned = false;
    loop {
        let r = UnixStream::connect(path).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            fstrm::start_socket(&mut s, CONTENT_TYPE)?;
            Ok(s)
        });
        match r {
            Ok(s) => {
                log::info!("dnstap: writing to {}", path.display());
                warned = false;
                let mut w = match s.try_clone() {
                    Ok(c) => BufWriter::new(c),
                    Err(e) => {
                        log::error!("dnstap: {e}");
                        return;
                    }
                };
                match pump(&mut w, rx, wrap, counts) {
                    Ok(true) => {
                        let _ = fstrm::stop(&mut w);
                        let _ = fstrm::finish(&mut &s);
                        return;
                    }
                    Ok(false) => {}
                    Err(e) => log::warn!("dnstap: {} went away ({e}); reconnecting", path.display()),
                }
            }
            Err(e) if !warned => {
                log::warn!("dnstap: cannot write to {} ({e}); retrying every second, dropping messages meanwhile", path.display());
                warned = true;
            }
            Err(_) => {}
        }
        // Drop what queued while there was no reader, and end when closed.
        let until = std::time::Instant::now() + Duration::from_secs(1);
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(Some(_)) => {
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> Result<Section> {
        let s: Section = toml::from_str(toml)?;
        s.check()?;
        Ok(s)
    }

    #[test]
    fn config_is_checked() {
        assert!(section("socket = \"/run/dnstap.sock\"").is_ok());
        assert!(section("file = \"/tmp/d.fstrm\"\nidentity = \"m1\"").is_ok());
        assert!(section("socket = \"/a\"\nkernel_sample = 1000").is_ok());
        for bad in ["", "socket = \"/a\"\nfile = \"/b\"", "socket = \"/a\"\nkernel_sample = -1", "sockets = \"/a\""] {
            assert!(section(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn messages_carry_what_dnstap_proto_says() {
        let (peer, local): (SocketAddr, SocketAddr) = ("[2001:db8::7]:4242".parse().unwrap(), "[2001:db8::1]:53".parse().unwrap());
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let q = message(AUTH_QUERY, UDP, &peer, &local, (b"query", t), None);
        let r = message(AUTH_RESPONSE, TCP, &peer, &local, (b"", t), Some((b"resp", t + Duration::from_millis(1))));
        assert_eq!((q.socket_family, q.query_port, q.response_port, q.query_time_nsec), (Some(2), Some(4242), Some(53), Some(5)));
        assert_eq!((q.query_message.as_deref(), q.response_message.as_deref()), (Some(&b"query"[..]), None));
        assert_eq!((r.query_message.as_deref(), r.response_message.as_deref()), (None, Some(&b"resp"[..])));
        // Decodes as it was encoded (the lab test reads it with dnstap-pb and the dnstap CLI).
        let d = Dnstap { identity: Some(b"m1".to_vec()), version: None, extra: None, message: Some(r.clone()), r#type: 1 };
        assert_eq!(Dnstap::decode(&d.encode_to_vec()[..]).unwrap().message, Some(r));
    }
}
