//! TCP under abuse: connection floods from many sources, slow readers, a length prefix that never gets
//! its message. The daemon's file descriptors, threads and memory stay bounded by its limits
//! (`tcp_max_connections`, `tcp_max_per_source`, `tcp_idle_seconds`), every abusive connection is closed
//! by the idle timeout, and afterwards a client is served again. The figures are printed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Lab, sh};
use zonegen::{name, rr, wire};

const SOURCES: usize = 8;
const PER_SOURCE: usize = 25;
const MAX_CONNECTIONS: usize = 64;
const MAX_PER_SOURCE: usize = 16;
const IDLE_SECONDS: u64 = 2;

/// (open file descriptors, threads, resident kB) of process `pid`.
fn usage(pid: i32) -> (usize, usize, usize) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (fds, field("Threads:"), field("VmRSS:"))
}

fn source(i: usize) -> String {
    format!("198.18.{}.2", 10 + i)
}

fn connect(src: &str) -> Option<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    s.bind(&SocketAddr::new(src.parse().ok()?, 0).into()).ok()?;
    s.connect_timeout(&SocketAddr::new(common::SRV4.parse().ok()?, 53).into(), Duration::from_secs(2)).ok()?;
    Some(s.into())
}

/// Has the server closed `s` (EOF or reset) within `wait`?
fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn tcp_floods_slow_readers_and_lying_lengths_stay_bounded() {
    let mut lab = Lab::up("tcpb");
    for i in 0..=SOURCES {
        sh(&mut Lab::in_ns(&lab.cli_ns(), &["ip", "addr", "add", &format!("{}/24", source(i)), "dev", &lab.cli_if()]));
        sh(&mut Lab::in_ns(&lab.srv_ns(), &["ip", "route", "add", &format!("198.18.{}.0/24", 10 + i), "dev", &lab.srv_if()]));
    }
    let conf = std::env::temp_dir().join(format!("m-root-xdp-{}.toml", lab.name));
    std::fs::write(
        &conf,
        format!("tcp_max_connections = {MAX_CONNECTIONS}\ntcp_max_per_source = {MAX_PER_SOURCE}\ntcp_idle_seconds = {IDLE_SECONDS}\n"),
    )
    .unwrap();
    let (pid, control) = common::start_daemon_with(&mut lab, &[common::SRV4], &["--config", conf.to_str().unwrap()]);
    let before = usage(pid);

    let big = wire::build_query(1, 0, name::ROOT, rr::DNSKEY, rr::CLASS_IN, Some((1232, true)));
    let (held, during, refused_new) = common::in_netns(&lab.cli_ns(), || {
        let mut held = Vec::new();
        for i in 0..SOURCES {
            for k in 0..PER_SOURCE {
                let Some(mut s) = connect(&source(i)) else { continue };
                // A third each: idle, a slow reader (a thousand large answers asked, none read), and a
                // length prefix of 65,535 with ten octets after it.
                match k % 3 {
                    0 => {}
                    1 => {
                        let mut burst = Vec::new();
                        for _ in 0..1000 {
                            burst.extend_from_slice(&(big.len() as u16).to_be_bytes());
                            burst.extend_from_slice(&big);
                        }
                        s.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
                        let _ = s.write_all(&burst);
                    }
                    _ => {
                        let _ = s.write_all(&[0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
                    }
                }
                held.push(s);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let during = usage(pid);
        // A client from a source not in the flood, while the table is full.
        let refused_new = connect(&source(SOURCES)).is_none_or(|mut s| {
            let mut q = (big.len() as u16).to_be_bytes().to_vec();
            q.extend_from_slice(&big);
            let _ = s.write_all(&q);
            closed_by_server(&mut s, Duration::from_millis(500))
        });
        (held, during, refused_new)
    });
    let t = Instant::now();
    let mut held = held;
    let mut closed = 0;
    for s in held.iter_mut() {
        closed += closed_by_server(s, Duration::from_secs(IDLE_SECONDS + 3)) as usize;
    }
    let all_closed_in = t.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let after = usage(pid);
    let stats = common::daemon_stats(&control);
    let u = &stats["userspace"]["server"];
    println!(
        "tcp bounds: {} connections opened from {SOURCES} sources; admitted {}, refused {}; closed by the server {closed} of {} within {:.1} s; \
         fds/threads/RSS kB before {before:?}, during {during:?}, after {after:?}; a new source during the flood refused: {refused_new}",
        SOURCES * PER_SOURCE,
        u["tcp_connections"],
        u["tcp_refused"],
        held.len(),
        all_closed_in.as_secs_f64()
    );
    assert!(u["tcp_connections"].as_u64() <= Some(MAX_CONNECTIONS as u64 + 1), "admitted at most the limit: {u}");
    assert!(during.0 <= before.0 + MAX_CONNECTIONS + 8, "file descriptors bounded: {during:?} against {before:?}");
    assert!(during.1 <= before.1 + MAX_CONNECTIONS + 2, "threads bounded: {during:?} against {before:?}");
    assert!(during.2 < before.2 + 64 * 1024, "memory bounded (under 64 MiB more): {during:?} against {before:?}");
    assert_eq!(closed, held.len(), "every held connection closed by the server (limit or idle timeout)");
    assert!(after.0 <= before.0 + 2 && after.1 <= before.1, "back to where it started: {after:?} against {before:?}");
    // Served again.
    let answered = common::in_netns(&lab.cli_ns(), || {
        let mut s = connect(&source(SOURCES))?;
        let mut q = (big.len() as u16).to_be_bytes().to_vec();
        q.extend_from_slice(&big);
        s.write_all(&q).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        Some(u16::from_be_bytes(len))
    });
    assert!(answered.is_some_and(|n| n > 500), "a client is served after the flood: {answered:?}");

    // A peer that trickles a query, an octet every half idle timeout, never goes quiet for the idle
    // timeout: the whole message must arrive within it, so the server closes the connection.
    let (closed_after, octets) = common::in_netns(&lab.cli_ns(), || {
        let mut s = connect(&source(SOURCES)).expect("connected");
        let mut q = (big.len() as u16).to_be_bytes().to_vec();
        q.extend_from_slice(&big);
        let t = Instant::now();
        let mut sent = 0;
        for b in &q {
            if s.write_all(&[*b]).is_err() || closed_by_server(&mut s, Duration::from_millis(IDLE_SECONDS * 500)) {
                break;
            }
            sent += 1;
            if t.elapsed() > Duration::from_secs(IDLE_SECONDS * 5) {
                break;
            }
        }
        (t.elapsed(), sent)
    });
    println!(
        "tcp bounds: a query trickled an octet per {} ms was closed after {:.1} s ({octets} octets)",
        IDLE_SECONDS * 500,
        closed_after.as_secs_f64()
    );
    assert!(
        closed_after < Duration::from_secs(IDLE_SECONDS * 3),
        "a trickling peer is closed ({:.1} s, {octets} octets)",
        closed_after.as_secs_f64()
    );
}
