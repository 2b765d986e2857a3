//! The control socket: a Unix stream socket, one JSON request line, one JSON answer line.
//! `{"cmd":"stats"}` (or the bare word `stats`) answers `observe::report`: the zone, the userspace
//! counters and the kernel programs' (`kernel`); `{"cmd":"reload","zone":..,"force":..}` reloads and
//! answers the `daemon::ReloadReport`; `drain` and `undrain` the anycast state; `hand-over`, `resume` and `retire` are a successor's
//! (`takeover`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::daemon::Daemon;
use anyhow::{Context, Result};

pub const DEFAULT_SOCKET: &str = crate::config::DEFAULT_CONTROL;

/// The listening socket and its thread; dropping it stops the thread and removes the socket.
pub struct Control {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    /// Listen on `path` (replacing a stale socket, refusing one a live daemon answers on).
    pub fn start(path: &Path, daemon: Arc<Daemon>) -> Result<Control> {
        if path.exists() {
            // A live daemon answers; a stale socket from a killed one does not and is replaced.
            if UnixStream::connect(path).is_ok() {
                anyhow::bail!("another m-root-xdp is listening on {}", path.display());
            }
            let _ = std::fs::remove_file(path);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ok();
        }
        let l = UnixListener::bind(path).with_context(|| format!("binding control socket {}", path.display()))?;
        // Owner and group may ask (connecting needs write permission), whatever the umask: the package
        // runs the daemon as its own user and lets group m-root-xdp read stats.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| format!("chmod {}", path.display()))?;
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::Builder::new().name("control".into()).spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        // A reload takes a while; serve each client on its own thread so stats keep answering.
                        let d = daemon.clone();
                        let _ = std::thread::Builder::new().name("control-client".into()).spawn(move || {
                            let _ = handle(c, &d);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })?;
        Ok(Control { path: path.to_path_buf(), stop, thread: Some(thread) })
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn handle(c: UnixStream, d: &Arc<Daemon>) -> Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line)?;
    let line = line.trim();
    let req: serde_json::Value =
        if line == "stats" { serde_json::json!({"cmd": "stats"}) } else { serde_json::from_str(line).unwrap_or(serde_json::Value::Null) };
    let reply = match req["cmd"].as_str() {
        Some("stats") => crate::observe::report(d),
        Some("reload") => {
            let zone = req["zone"].as_str().map(PathBuf::from);
            let force = req["force"].as_bool().unwrap_or(false);
            match (d.secondary.get(), &zone) {
                // A secondary refreshes from its primaries (with force: the whole zone again, whatever its
                // serial); a file given still loads that file.
                (Some(sec), None) => serde_json::to_value(sec.refresh_now(d, force))?,
                _ => serde_json::to_value(d.reload(zone.as_deref(), force))?,
            }
        }
        // The answer carries the sockets' descriptors (SCM_RIGHTS), so it is written here.
        // A successor's requests: from this daemon's own user or root only (the group may read stats; a
        // hand-over gives away the sockets and stops this daemon).
        Some("hand-over" | "resume" | "retire") if !peer(&c).is_some_and(|(_, uid)| uid == 0 || uid == unsafe { libc::geteuid() }) => {
            serde_json::json!({ "error": "hand-over, resume and retire are for this daemon's own user or root" })
        }
        Some("hand-over") => {
            let (reply, fds) = match d.offer(peer(&c).map(|(pid, _)| pid), c.try_clone().ok()) {
                Ok(mut h) => (serde_json::to_value(&h)?, std::mem::take(&mut h.fds)),
                Err(e) => (serde_json::json!({ "error": e }), Vec::new()),
            };
            use std::os::fd::AsRawFd;
            let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
            crate::server::handoff::send_with_fds(&c, format!("{reply}\n").as_bytes(), &raw)?;
            return Ok(());
        }
        Some(c @ ("drain" | "undrain")) => match d.anycast.get() {
            Some(a) => a.drain(c == "drain"),
            None => serde_json::json!({ "error": "no [anycast] section: nothing is announced" }),
        },
        Some("rssac002") => crate::observe::daystate::answer(d, req["date"].as_str()),
        Some("resume") => {
            d.resume();
            serde_json::json!({ "ok": true })
        }
        Some("retire") => match d.retire() {
            Ok(()) => serde_json::json!({ "ok": true }),
            Err(e) => serde_json::json!({ "error": e }),
        },
        _ => serde_json::json!({ "error": format!("unknown request {line:?}") }),
    };
    let mut w = &c;
    writeln!(w, "{reply}")?;
    Ok(())
}

/// The process and user at the other end of a control connection (SO_PEERCRED).
fn peer(c: &UnixStream) -> Option<(u32, u32)> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` octets into `cred`.
    let r =
        unsafe { libc::getsockopt(c.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut _ as *mut libc::c_void, &mut len) };
    (r == 0 && cred.pid > 0).then_some((cred.pid as u32, cred.uid))
}

/// Ask a running daemon, and take the descriptors that come with its answer (`hand-over`); with the
/// connection, open still.
pub fn request_with_fds(path: &Path, cmd: &str, timeout: Duration) -> Result<(serde_json::Value, Vec<std::os::fd::OwnedFd>, UnixStream)> {
    let mut c = UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    let req = if cmd.starts_with('{') { cmd.to_string() } else { serde_json::json!({ "cmd": cmd }).to_string() };
    writeln!(c, "{req}")?;
    let (line, fds) = crate::server::handoff::recv_with_fds(&c, 16 << 20).context("no answer from the daemon")?;
    Ok((serde_json::from_slice(&line)?, fds, c))
}

/// Ask a running daemon (client side).
pub fn request(path: &Path, cmd: &str, timeout: Duration) -> Result<serde_json::Value> {
    let mut c = UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    let req = if cmd.starts_with('{') { cmd.to_string() } else { serde_json::json!({ "cmd": cmd }).to_string() };
    writeln!(c, "{req}")?;
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line).context("no answer from the daemon")?;
    Ok(serde_json::from_str(&line)?)
}
