//! The XDP program's signed denials validate. A responder in the lab's server namespace answers a validating
//! resolver (unbound, trust anchor, clock inside the signature window) with what the XDP program itself
//! produces for each query (BPF_PROG_TEST_RUN on the query wrapped in a frame), so the validator checks the
//! program's bytes, not only their equality with the answer function. Names across the NSEC intervals.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aya::programs::{TestRun, TestRunOptions, Xdp};
use common::{Lab, in_netns};
use m_root_user::dataplane::Dataplane;
use m_root_user::frame::{self, Spec};
use zonegen::answer::{self, Transport};
use zonegen::{LoadOptions, ServerConfig, Zone, compile, name, wire};

#[test]
fn xdp_signed_denials_validate() {
    let zone = Arc::new(Zone::load(&common::bundled_zone(), &LoadOptions::default()).unwrap());
    let lab = Lab::up("mrxv");
    let stop = Arc::new(AtomicBool::new(false));
    // (qname, qtype) -> answered by XDP?
    let paths: Arc<Mutex<BTreeMap<(String, u16), bool>>> = Arc::default();
    let srv = lab.srv_ns();
    let responder = {
        let (zone, stop, paths) = (zone.clone(), stop.clone(), paths.clone());
        std::thread::spawn(move || {
            in_netns(&srv, || {
                let mut dp = Dataplane::load().unwrap();
                dp.set_service_addrs(&[common::SRV4.parse().unwrap()]).unwrap();
                dp.install(&compile(&zone)).unwrap();
                dp.set_xdp_tx(true).unwrap();
                let sock = UdpSocket::bind((common::SRV4, 53)).unwrap();
                sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = sock.recv_from(&mut buf) else { continue };
                    let msg = &buf[..n];
                    let SocketAddr::V4(p) = peer else { continue };
                    let spec = Spec {
                        src_mac: [2, 0, 0, 0, 0, 2],
                        dst_mac: [2, 0, 0, 0, 0, 1],
                        vlans: vec![],
                        src: (*p.ip()).into(),
                        dst: common::SRV4.parse().unwrap(),
                        sport: p.port(),
                        dport: 53,
                    };
                    let input = frame::build(&spec, msg);
                    let prog: &mut Xdp = dp.program().unwrap();
                    let mut out = vec![0u8; 4096];
                    let r = prog
                        .test_run(TestRunOptions { data_in: Some(&input), data_out: Some(&mut out), repeat: 1, ..Default::default() })
                        .unwrap();
                    out.truncate(r.data_size_out as usize);
                    let (resp, by_xdp) = if r.return_value == 3 {
                        (frame::parse_checked(&out).expect("XDP frame checks").payload, true)
                    } else {
                        (answer::answer(&zone, &ServerConfig::default(), msg, Transport::Udp).unwrap_or_default(), false)
                    };
                    if let Ok(q) = wire::parse_query(msg) {
                        paths.lock().unwrap().insert((name::to_text(&name::lower(q.qname)), q.qtype), by_xdp);
                    }
                    let _ = sock.send_to(&resp, peer);
                }
            })
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let dir = common::nsd::tempdir("m-root-xdp-validate");
    let cli = lab.cli_ns();
    let run = |date: &str, qname: &str| -> String {
        let conf = dir.join(format!("unbound-{date}.conf"));
        std::fs::write(&conf, format!("server:\n  val-override-date: \"{date}\"\n  trust-anchor-file: \"{}\"\n  username: \"\"\n  chroot: \"\"\n  qname-minimisation: no\n  edns-buffer-size: 1232\nstub-zone:\n  name: \".\"\n  stub-addr: {}\n", common::root_dir().join("zones/root.key.debian-2024071801").display(), common::SRV4)).unwrap();
        let out = Lab::in_ns(&cli, &["unbound-host", "-v", "-C", conf.to_str().unwrap(), "-t", "A", qname]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    // Names in different NSEC intervals: before the first TLD, around com, between, after the last.
    let names = [
        "0example.",
        "a.",
        "comz.",
        "com0.",
        "cox.",
        "Foo.Bar.nonexistent.",
        "xn--zzzzzz.",
        "zzzzzz.",
        "printer.local.",
        "_ta-4f66.",
        "root-key-sentinel-is-ta-20326.",
    ];
    for n in names {
        let out = run("20260805000000", n);
        assert!(out.contains("NXDOMAIN") && out.contains("(secure)"), "{n}: {out}");
    }
    let expired = run("20261101000000", "comz.");
    assert!(expired.contains("BOGUS"), "the validator really checks: {expired}");
    stop.store(true, Ordering::Relaxed);
    responder.join().unwrap();
    let paths = paths.lock().unwrap();
    for n in names {
        let key = (name::to_text(&name::lower(&name::from_text(n).unwrap())), 1u16);
        assert_eq!(paths.get(&key), Some(&true), "{n} A was answered by the XDP program: {paths:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
