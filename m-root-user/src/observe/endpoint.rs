//! `[metrics]`: GET /metrics in the Prometheus text format (OpenMetrics when the client's Accept asks
//! for it), encoded by prometheus-client from [`super::prom`]. Served on a thread of its own by a small
//! HTTP/1.1 handler with bounds: one request per connection, its head at most [`MAX_HEAD`] octets and
//! [`IO_TIMEOUT`] to arrive, at most [`MAX_CONNECTIONS`] at once (more get 503). A scrape reads atomics,
//! the zone's state (lock-free) and the programs' per-CPU maps through descriptors of its own: it takes
//! no lock the serving path or a reload holds for long (not the dataplanes' lock a reload holds while
//! it writes a table).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use super::prom::{Family, Inputs, Sample, families};
use crate::daemon::Daemon;
use crate::dataplane::CounterMaps;

/// The section as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub listen: SocketAddr,
}

/// Each key with its default and meaning, for m-root-xdp.toml(5).
pub const REFERENCE: [(&str, &str, &str); 1] = [(
    "metrics.listen",
    "none (no endpoint)",
    "The address and port that serve GET /metrics, Prometheus's text format (OpenMetrics when asked), e.g. \"127.0.0.1:9153\".",
)];

/// The longest request head read (request line and headers).
pub const MAX_HEAD: usize = 8192;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 4;
/// How long a request may take to arrive, and its response to be written.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What a scrape reads: the daemon, and each attached dataplane's counter maps.
pub struct Exporter {
    daemon: Arc<Daemon>,
    kernel: Vec<CounterMaps>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("interfaces", &self.kernel.iter().map(|m| &m.iface).collect::<Vec<_>>()).finish()
    }
}

impl Exporter {
    /// Duplicates the attached dataplanes' map descriptors (the only time it takes their lock).
    pub fn new(daemon: Arc<Daemon>) -> Result<Exporter> {
        let mut kernel = Vec::new();
        for dp in daemon.planes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if let Some((iface, _, _)) = &dp.attached {
                kernel.push(dp.counter_maps(iface).with_context(|| format!("{iface}: the counter maps for [metrics]"))?);
            }
        }
        Ok(Exporter { daemon, kernel })
    }

    /// Everything one scrape shows, read now.
    pub fn inputs(&self) -> Inputs {
        let d = &self.daemon;
        let st = d.state.load();
        let (_, at, ms) = d.loaded();
        let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0.0, |x| x.as_secs_f64());
        let mut kernel = None::<[[u64; m_root_common::COUNTERS]; m_root_common::HOOKS]>;
        let mut kernel_signals = Vec::new();
        for m in &self.kernel {
            match m.totals() {
                Ok(t) => {
                    let sum = kernel.get_or_insert([[0; m_root_common::COUNTERS]; m_root_common::HOOKS]);
                    for (s, h) in sum.iter_mut().zip(t) {
                        for (a, b) in s.iter_mut().zip(h) {
                            *a += b;
                        }
                    }
                }
                Err(e) => log::warn!("metrics: {}: reading the counters: {e:#}", m.iface),
            }
            match m.signals() {
                Ok(s) => kernel_signals.extend(s),
                Err(e) => log::warn!("metrics: {}: reading the signals: {e:#}", m.iface),
            }
        }
        Inputs {
            kernel,
            kernel_signals,
            user: d.stats.snapshot(),
            user_signals: d.stats.signal_counts(),
            zone_serial: st.zone.serial,
            zone_tlds: st.zone.tlds.len(),
            zone_load_seconds: ms / 1e3,
            zone_loaded_unix: unix(at),
            zone_expired: st.expired.load(Ordering::Relaxed),
            reloads: (d.reloads.ok.load(Ordering::Relaxed), d.reloads.failed.load(Ordering::Relaxed)),
            started_unix: unix(SystemTime::now()) - d.started.elapsed().as_secs_f64(),
            signal_sources: d.rssac002.get().map(|k| k.signal_report()).unwrap_or_default(),
            dnstap: d.stats.dnstap.get().map(|t| (t.counts.written.load(Ordering::Relaxed), t.counts.dropped.load(Ordering::Relaxed))),
            secondary: d.secondary.get().map(|s| s.report()),
            anycast: d.anycast.get().map(|a| a.report()),
        }
    }
}

impl Collector for Exporter {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in families(&self.inputs()) {
            encode_family(&mut encoder, &f)?;
        }
        Ok(())
    }
}

fn encode_family(encoder: &mut DescriptorEncoder, f: &Family) -> Result<(), std::fmt::Error> {
    let ty = if f.gauge { MetricType::Gauge } else { MetricType::Counter };
    let mut m = encoder.encode_descriptor(f.name, f.help, None, ty)?;
    for (labels, v) in &f.samples {
        let e = m.encode_family(labels)?;
        match v {
            Sample::Count(n) => ConstCounter::new(*n).encode(e)?,
            // Whole numbers (a serial, a count of TLDs) as integers.
            Sample::Gauge(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => ConstGauge::new(*x as i64).encode(e)?,
            Sample::Gauge(x) => ConstGauge::new(*x).encode(e)?,
        }
    }
    Ok(())
}

/// The metrics as text: OpenMetrics (`openmetrics`) or Prometheus's format 0.0.4, with its content type.
pub fn render(registry: &Registry, openmetrics: bool) -> Result<(String, &'static str)> {
    let mut out = String::new();
    if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, registry).context("encoding the metrics")?;
        Ok((out, "application/openmetrics-text; version=1.0.0; charset=utf-8"))
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry).context("encoding the metrics")?;
        Ok((out, prometheus_client::encoding::prometheus_text::CONTENT_TYPE))
    }
}

/// Bind `section.listen` and serve GET /metrics from `exporter` until `stop`.
pub fn start(section: &Section, exporter: Exporter, stop: Arc<AtomicBool>) -> Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(section.listen).with_context(|| format!("[metrics]: binding {}", section.listen))?;
    listener.set_nonblocking(true).context("[metrics]: a non-blocking listener")?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(exporter));
    let registry = Arc::new(registry);
    log::info!("metrics: GET /metrics on http://{}", section.listen);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || accept(listener, registry, stop))
        .context("[metrics]: the listener thread")
}

fn accept(listener: TcpListener, registry: Arc<Registry>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_readable(&listener, 200);
                continue;
            }
            Err(e) => {
                log::warn!("metrics: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_nonblocking(true);
            let _ = (&stream).write_all(&response(503, "text/plain; charset=utf-8", b"busy\n", false));
            continue;
        }
        let (registry, done) = (registry.clone(), active.clone());
        let spawned = std::thread::Builder::new().name("metrics-conn".into()).spawn(move || {
            connection(stream, &registry);
            done.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            log::warn!("metrics: cannot start a connection thread: {e}");
        }
    }
}

/// Wait until `l` has a connection to accept, or `ms` pass.
fn wait_readable(l: &TcpListener, ms: i32) {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd { fd: l.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd that lives across the call.
    unsafe { libc::poll(&mut p, 1, ms) };
}

/// One request, one response, then close.
fn connection(mut s: TcpStream, registry: &Registry) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let out = match read_head(&mut s, Instant::now() + IO_TIMEOUT) {
        Ok(head) => answer(&head, registry),
        Err(None) => return,
        Err(Some(status)) => response(status, "text/plain; charset=utf-8", format!("{}\n", reason(status)).as_bytes(), false),
    };
    let _ = s.write_all(&out);
    let _ = s.shutdown(std::net::Shutdown::Write);
}

/// The request head (up to the blank line), or the status to refuse it with (None: the peer went away
/// or took too long; nothing is sent).
fn read_head(s: &mut TcpStream, deadline: Instant) -> Result<String, Option<u16>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return String::from_utf8(buf).map_err(|_| Some(400));
        }
        if buf.len() >= MAX_HEAD {
            return Err(Some(431));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return Err(Some(408));
        }
        match s.read(&mut chunk[..(MAX_HEAD + 3 - buf.len()).min(1024)]) {
            Ok(0) => return Err(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Err(Some(408)),
            Err(_) => return Err(None),
        }
    }
}

/// The response to a request head.
fn answer(head: &str, registry: &Registry) -> Vec<u8> {
    let text = "text/plain; charset=utf-8";
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || parts.next().is_some() || !target.starts_with('/') {
        return response(400, text, b"bad request\n", false);
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return response(405, text, b"only GET\n", false);
    }
    if target.split('?').next() != Some("/metrics") {
        return response(404, text, b"not found: GET /metrics\n", head_only);
    }
    let openmetrics = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("accept") && v.contains("application/openmetrics-text"))
    });
    match render(registry, openmetrics) {
        Ok((body, ctype)) => response(200, ctype, body.as_bytes(), head_only),
        Err(e) => {
            log::warn!("metrics: {e:#}");
            response(500, text, b"encoding failed\n", head_only)
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// A whole response: status line, headers, and the body unless `head_only` (HEAD).
fn response(status: u16, ctype: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let allow = if status == 405 { "Allow: GET, HEAD\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let mut r = Registry::default();
        let c: prometheus_client::metrics::counter::Counter = Default::default();
        c.inc();
        r.register("m_root_xdp_test", "A test counter", c);
        r
    }

    fn status(resp: &[u8]) -> String {
        String::from_utf8_lossy(resp).lines().next().unwrap_or("").to_string()
    }

    #[test]
    fn only_get_metrics_is_served_in_either_format() {
        let r = registry();
        let ok = answer("GET /metrics HTTP/1.1\r\nHost: x", &r);
        let text = String::from_utf8(ok).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"), "{text}");
        assert!(
            text.contains("\r\n\r\n# HELP m_root_xdp_test_total") && text.contains("m_root_xdp_test_total 1\n") && !text.contains("# EOF")
        );
        let om = String::from_utf8(answer("GET /metrics?x=1 HTTP/1.0\r\naccept: application/openmetrics-text; version=1.0.0", &r)).unwrap();
        assert!(om.contains("Content-Type: application/openmetrics-text") && om.ends_with("# EOF\n"), "{om}");
        let head = String::from_utf8(answer("HEAD /metrics HTTP/1.1", &r)).unwrap();
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
        assert_eq!(status(&answer("GET / HTTP/1.1", &r)), "HTTP/1.1 404 Not Found");
        let post = answer("POST /metrics HTTP/1.1", &r);
        assert_eq!(status(&post), "HTTP/1.1 405 Method Not Allowed");
        assert!(String::from_utf8_lossy(&post).contains("Allow: GET, HEAD\r\n"));
        for bad in ["GET /metrics", "GET metrics HTTP/1.1", "GET /metrics HTTP/2 x", ""] {
            assert_eq!(status(&answer(bad, &r)), "HTTP/1.1 400 Bad Request", "{bad:?}");
        }
    }

    #[test]
    fn the_section_takes_an_address_and_port_only() {
        let s: Section = toml::from_str("listen = \"[2001:db8::53]:9153\"").unwrap();
        assert_eq!(s.listen, "[2001:db8::53]:9153".parse().unwrap());
        assert!(toml::from_str::<Section>("listen = \"127.0.0.1\"").is_err(), "a port is needed");
        let err = toml::from_str::<Section>("listen = \"127.0.0.1:9153\"\npath = \"/m\"").unwrap_err().to_string();
        assert!(err.contains("path"), "{err}");
    }

    #[test]
    fn a_request_head_is_bounded_in_size_and_time() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = l.local_addr().unwrap();
        let head = |send: Vec<u8>, wait: Duration| {
            let mut c = TcpStream::connect(at).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let _ = c.write_all(&send);
            let t = Instant::now();
            let got = read_head(&mut s, Instant::now() + wait);
            drop(c);
            (got, t.elapsed())
        };
        assert_eq!(head(b"GET /metrics HTTP/1.1\r\nA: b\r\n\r\n".to_vec(), IO_TIMEOUT).0, Ok("GET /metrics HTTP/1.1\r\nA: b".into()));
        let mut long = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD + 100, b'a');
        assert_eq!(head(long, IO_TIMEOUT).0, Err(Some(431)));
        let (slow, took) = head(b"GET /met".to_vec(), Duration::from_millis(200));
        assert_eq!(slow, Err(Some(408)));
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(head(vec![0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'], IO_TIMEOUT).0, Err(Some(400)));
    }
}
