//! The control socket: a Unix stream socket, one request line, one JSON answer line. `stats` reports the
//! userspace counters and the zone; `reload` comes with the daemon issue.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;

use crate::server::{State, Stats};

pub const DEFAULT_SOCKET: &str = "/run/m-root-xdp.sock";

pub struct Control {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    pub fn start(path: &Path, state: Arc<ArcSwap<State>>, stats: Arc<Stats>, started: Instant) -> Result<Control> {
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
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::Builder::new().name("control".into()).spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = handle(c, &state, &stats, started);
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

fn handle(c: UnixStream, state: &ArcSwap<State>, stats: &Stats, started: Instant) -> Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line)?;
    let reply = match line.trim() {
        "stats" => {
            let st = state.load();
            serde_json::json!({
                "zone.serial": st.zone.serial,
                "zone.tlds": st.zone.tlds.len(),
                "uptime_s": started.elapsed().as_secs(),
                "server": stats.snapshot(),
            })
        }
        other => serde_json::json!({ "error": format!("unknown command {other:?}") }),
    };
    let mut w = &c;
    writeln!(w, "{reply}")?;
    Ok(())
}

/// Ask a running daemon (client side).
pub fn request(path: &Path, cmd: &str, timeout: Duration) -> Result<serde_json::Value> {
    let mut c = UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    writeln!(c, "{cmd}")?;
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line).context("no answer from the daemon")?;
    Ok(serde_json::from_str(&line)?)
}
