//! The kernel programs' dnstap sample: a thread reads their rings (m_root_common::sample) every 10 ms
//! and hands each sampled answer frame to the dnstap sink as an AUTH_RESPONSE: the answer's source is
//! the server, its destination the client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aya::maps::{MapData, RingBuf};
use m_root_common::sample::KernelSample;

use super::dnstap::Sink;

/// Read `rings` until `stop`, at one in `rate`.
pub fn spawn(sink: Arc<Sink>, mut rings: Vec<RingBuf<MapData>>, rate: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        loop {
            // Read once more after `stop`: what the programs sampled before the daemon stopped.
            let last = stop.load(Ordering::Relaxed);
            for rb in rings.iter_mut() {
                while let Some(item) = rb.next() {
                    if item.len() < std::mem::size_of::<KernelSample>() {
                        continue;
                    }
                    // SAFETY: the program wrote a KernelSample (repr(C), any bit pattern valid); read unaligned.
                    let s: KernelSample = unsafe { std::ptr::read_unaligned(item.as_ptr() as *const KernelSample) };
                    emit(&sink, &s, rate);
                }
            }
            if last {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

/// One sample as dnstap: the frame's UDP payload, between its addresses.
fn emit(sink: &Sink, s: &KernelSample, rate: u32) {
    let Some(frame) = s.frame.get(..s.len as usize) else { return };
    // The TC program's answers may leave the checksum to the device (CHECKSUM_PARTIAL).
    let Ok(p) = crate::frame::parse_checked(frame).or_else(|_| crate::frame::parse_checked_partial(frame)) else {
        log::debug!("dnstap: a kernel sample of {} octets is no UDP answer", s.len);
        return;
    };
    let hook = if s.hook == m_root_common::Hook::Xdp as u32 { "xdp" } else { "tc" };
    let (server, client) = (SocketAddr::new(p.src, p.sport), SocketAddr::new(p.dst, p.dport));
    sink.kernel_response(&client, &server, &p.payload, SystemTime::now(), format!("m-root-xdp kernel answer: {hook}, sampled 1 in {rate}"));
}
