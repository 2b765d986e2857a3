//! Watches each interface's XDP transmit error counters (the driver statistics `ethtool -S` shows) while
//! the XDP program answers by XDP_TX there (nothing is read where it does not). A frame the device failed to send is a lost answer: it is logged
//! and counted, and under `auto` the program stops sending by XDP_TX and hands every answer to TC, at
//! once and without a restart. The explicit modes keep doing what they were told, and say so.
//!
//! The counters cannot see every loss: on veth with GRO on at the peer, XDP_TX'd frames vanish without
//! an error (measured: 16 `xdp_tx`, 0 errors, 16 queries unanswered). That is why `auto` does not wait
//! for errors on virtual devices but never sends XDP_TX there in the first place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::dataplane::Dataplane;
use crate::ethtool;

/// How often the counters are read.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// How often an explicit mode repeats its complaint while the errors go on.
const REPEAT_LOG: Duration = Duration::from_secs(60);

/// The device's XDP transmit error counters summed (None: the driver has none this program knows).
pub fn read(iface: &str) -> Option<u64> {
    match ethtool::driver_stats(iface) {
        Ok(stats) => ethtool::xdp_tx_errors(&stats),
        Err(e) => {
            log::debug!("{iface}: driver statistics: {e}");
            None
        }
    }
}

/// Read the counters of every interface where XDP sends now (the baseline was read before it began,
/// in Dataplane::attach); act on any that moved.
pub fn check(planes: &mut [Dataplane]) {
    for dp in planes.iter_mut() {
        let Some((iface, plan, _)) = &dp.attached else { continue };
        let (iface, adapts, tc, mode) = (iface.clone(), plan.adapts, plan.tc, plan.mode);
        // Not while XDP sends nothing: errors then are not ours (another program's, or frames in
        // flight at the switch), and the read is not free.
        if !dp.xdp_tx().unwrap_or(false) {
            continue;
        }
        let (Some(now), Some(before)) = (read(&iface), dp.tx_errors) else { continue };
        dp.tx_errors = Some(now);
        let moved = now.saturating_sub(before);
        if moved == 0 {
            continue;
        }
        dp.tx_errors_seen += moved;
        if adapts {
            let to = if tc { "TC" } else { "userspace (TC is off)" };
            match dp.hand_all_to_tc() {
                Ok(()) => {
                    log::error!(
                        "{iface}: the device failed to transmit {moved} answers sent by XDP_TX (driver counters); auto mode now hands every answer to {to}"
                    );
                    if let Some((_, plan, _)) = &mut dp.attached {
                        plan.reason = format!(
                            "{}; switched at {} after {moved} XDP_TX answers failed to transmit: XDP hands every answer to {to}",
                            plan.reason,
                            now_text()
                        );
                    }
                }
                Err(e) => log::error!("{iface}: {moved} XDP_TX answers lost, and turning XDP_TX off failed: {e:#}"),
            }
        } else if dp.tx_warned.is_none_or(|t| t.elapsed() >= REPEAT_LOG) {
            dp.tx_warned = Some(std::time::Instant::now());
            log::error!(
                "{iface}: the device failed to transmit {moved} answers sent by XDP_TX ({} in all); xdp_mode {mode:?} keeps sending them (xdp_mode auto would hand them to TC)",
                dp.tx_errors_seen
            );
        }
    }
}

/// Seconds since the epoch, for the record of a switch.
fn now_text() -> String {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("unix time {s}")
}

/// Check every INTERVAL until `stop`.
pub fn start(daemon: Arc<Daemon>, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("txwatch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            {
                let mut planes = daemon.planes.lock().unwrap_or_else(|p| p.into_inner());
                check(&mut planes);
            }
            // The same pass drains the rate limiter's reports into the log.
            daemon.log_rrl_reports();
            std::thread::sleep(INTERVAL);
        }
    })
}
