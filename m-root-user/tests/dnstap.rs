//! dnstap as a collector receives it: the daemon (userspace answering everything, xdp_mode = "off", as
//! dnstap covers userspace's answers) in a lab behind a bare peer writes to Debian's fstrm_capture on a
//! Unix socket; dnspython sends a fixed mix over UDP and TCP from IPv4 and IPv6 sources. The capture,
//! decoded by dnstap-pb (Python's dnstap.proto bindings) and by the dnstap CLI (golang-dnstap), holds an
//! AUTH_QUERY and an AUTH_RESPONSE for every exchange, with the client's address and port, the server's,
//! the transport, and the query and response octet for octet as the client sent and received them; the
//! stream is closed with STOP when the daemon stops. Then the same with `file =`, read by the dnstap CLI.
//! When the collector restarts, the writer connects again and what is sent after is all there.
//! With no reader on the socket every query is still answered, and the dropped messages counted.
//! Then the daemon in its default mode, where TC answers the covered UDP queries, with kernel_sample = 1:
//! each kernel answer is in the stream as an AUTH_RESPONSE with the answer the client received, and
//! with kernel_sample = 3 one in three per CPU.
//!
//! Needs root, iproute2, fstrm-bin, golang-github-dnstap-golang-dnstap-cli and the venv's dnspython
//! and dnstap-pb (scripts/setup.sh).

mod common;

use std::path::Path;
use std::process::Command;

use common::{CLI4, CLI6, Lab, SRV4, SRV6, root_dir, sh};
use serde_json::Value;

const PYTHON: &str = "/opt/m-root-xdp/venv/bin/python3";

fn client(name: &str) -> String {
    root_dir().join("m-root-user/tests/clients").join(name).display().to_string()
}

fn traffic(lab: &Lab, sources: &[&str]) -> Vec<Value> {
    let script = client("dnstap_traffic.py");
    let mut args = vec![PYTHON, script.as_str(), SRV4, SRV6];
    args.extend_from_slice(sources);
    serde_json::from_str(&sh(&mut Lab::in_ns(&lab.cli_ns(), &args))).expect("traffic JSON")
}

fn read(capture: &Path) -> Value {
    serde_json::from_str(&sh(Command::new(PYTHON).arg(client("dnstap_read.py")).arg(capture))).expect("dnstap JSON")
}

/// AUTH_QUERY and AUTH_RESPONSE lines in the dnstap CLI's quiet output of `file`.
fn cli_counts(file: &Path) -> (usize, usize) {
    let out = sh(Command::new("dnstap").arg("-q").arg("-r").arg(file));
    (out.lines().filter(|l| l.contains(" AQ ")).count(), out.lines().filter(|l| l.contains(" AR ")).count())
}

/// Until the collector's socket is there (5 s at most).
fn wait_for(sock: &Path) {
    for _ in 0..100 {
        if sock.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn config(dir: &Path, section: &str) -> String {
    let p = dir.join(format!("m-root-xdp-{}.toml", section.len()));
    std::fs::write(&p, section).unwrap();
    p.display().to_string()
}

#[test]
fn dnstap_holds_every_query_and_response_as_sent() {
    let mut lab = Lab::up("dtp");
    let (cli, cif, srv) = (lab.cli_ns(), lab.cli_if(), lab.srv_ns());
    sh(&mut Lab::in_ns(&cli, &["ip", "addr", "add", "198.18.0.30/24", "dev", &cif]));
    sh(&mut Lab::in_ns(&cli, &["ip", "addr", "add", "2001:db8::30/64", "dev", &cif, "nodad"]));
    let sources = [CLI4, "198.18.0.30", CLI6, "2001:db8::30"];

    let dir = std::env::temp_dir().join(format!("m-root-xdp-dnstap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (sock, capture) = (dir.join("dnstap.sock"), dir.join("capture.fstrm"));
    let (sock_s, capture_s) = (sock.display().to_string(), capture.display().to_string());
    let collector = lab.spawn(
        &srv,
        &["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", &sock_s, "-w", &capture_s],
        &dir.join("fstrm_capture.log"),
    );
    wait_for(&sock);
    let cfg = config(&dir, &format!("[dnstap]\nsocket = \"{sock_s}\"\nidentity = \"m-lab\"\n"));
    let (pid, _) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg, "--xdp-mode", "off"]);
    let sent = traffic(&lab, &sources);
    // Stopping the daemon closes the stream (STOP); the collector then writes out its file.
    lab.stop(pid);
    lab.stop(collector);
    let got = read(&capture);
    assert_eq!(got["content_type"], "protobuf:dnstap.Dnstap");
    assert_eq!(got["stopped"], true, "the capture file was closed");
    let msgs = got["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2 * sent.len(), "a query and a response for each of {} exchanges", sent.len());
    // Each exchange's query and response, found by their contents (a source port can come round again
    // for a later socket of the same source; the query IDs are random).
    for m in msgs {
        assert_eq!(m["identity"], "m-lab");
        assert!(m["version"].as_str().unwrap().starts_with("m-root-xdp "), "{m}");
    }
    for e in &sent {
        let key = (e["transport"].as_str().unwrap(), e["src"].as_str().unwrap(), e["port"].as_u64().unwrap());
        let is =
            |m: &&Value| m["protocol"].as_str().unwrap().to_lowercase() == key.0 && m["query_address"] == key.1 && m["query_port"] == key.2;
        let q = msgs
            .iter()
            .filter(is)
            .find(|m| m["type"] == "AUTH_QUERY" && m["query_message"] == e["query"])
            .unwrap_or_else(|| panic!("{key:?}: no AUTH_QUERY with the query as sent"));
        let r = msgs
            .iter()
            .filter(is)
            .find(|m| m["type"] == "AUTH_RESPONSE" && m["response_message"] == e["response"])
            .unwrap_or_else(|| panic!("{key:?}: no AUTH_RESPONSE with the response as received"));
        let fam = if key.1.contains(':') { "INET6" } else { "INET" };
        for m in [q, r] {
            assert_eq!(m["family"], fam, "{key:?}");
            assert_eq!(m["response_address"], e["server"], "{key:?}");
            assert_eq!(m["response_port"], 53, "{key:?}");
        }
        assert!(r["response_time"].as_u64().unwrap() >= q["query_time"].as_u64().unwrap());
    }
    assert_eq!(cli_counts(&capture), (sent.len(), sent.len()), "the dnstap CLI reads the same");
    println!("dnstap over fstrm_capture: {} exchanges, {} messages, each as sent", sent.len(), msgs.len());

    // The collector restarts under a running daemon: the writer connects again, and what is sent
    // once it has is all in the new capture.
    let first = lab.spawn(
        &srv,
        &["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", &sock_s, "-w", &capture_s],
        &dir.join("fstrm_capture2.log"),
    );
    wait_for(&sock);
    let (pid, _) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg, "--xdp-mode", "off"]);
    traffic(&lab, &[CLI4]);
    lab.stop(first);
    let _ = std::fs::remove_file(&sock);
    // Sent while no reader listens: dropped; the writer finds the socket gone and retries each second.
    traffic(&lab, &[CLI4]);
    let again = dir.join("again.fstrm");
    let second = lab.spawn(
        &srv,
        &["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", &sock_s, "-w", &again.display().to_string()],
        &dir.join("fstrm_capture3.log"),
    );
    wait_for(&sock);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let after = traffic(&lab, &[CLI4, CLI6]);
    lab.stop(pid);
    lab.stop(second);
    let got = read(&again);
    let msgs = got["messages"].as_array().unwrap();
    for e in &after {
        let has = |field: &str, want: &Value| msgs.iter().any(|m| m[field] == *want && m["query_port"] == e["port"]);
        assert!(
            has("query_message", &e["query"]) && has("response_message", &e["response"]),
            "{e}: query and response after the reconnect"
        );
    }

    // To a file instead: the dnstap CLI reads it.
    let file = dir.join("dnstap.fstrm");
    let cfg = config(&dir, &format!("[dnstap]\nfile = \"{}\"\n", file.display()));
    let (pid, _) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg, "--xdp-mode", "off"]);
    let sent = traffic(&lab, &[CLI4, CLI6]);
    lab.stop(pid);
    assert_eq!(cli_counts(&file), (sent.len(), sent.len()), "the file holds every exchange");
    assert_eq!(read(&file)["stopped"], true);

    // No reader on the socket: every query is still answered (the messages are dropped, and counted).
    let cfg =
        config(&dir, &format!("[dnstap]\nsocket = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:9153\"\n", dir.join("nobody.sock").display()));
    let (pid, _) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg, "--xdp-mode", "off"]);
    let sent = traffic(&lab, &[CLI4, CLI6]);
    // The writer takes them off its queue as they come; a moment for the last ones.
    let dropped = format!("m_root_xdp_dnstap_messages_total{{result=\"dropped\"}} {}", 2 * sent.len());
    let mut scrape = String::new();
    for _ in 0..20 {
        scrape = sh(&mut Lab::in_ns(&srv, &["curl", "-s", "http://127.0.0.1:9153/metrics"]));
        if scrape.lines().any(|l| l == dropped) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(scrape.lines().any(|l| l == dropped), "{dropped} in:\n{scrape}");
    lab.stop(pid);

    // The kernel programs' answers, sampled.
    for rate in [1u64, 3] {
        let file = dir.join(format!("kernel-{rate}.fstrm"));
        let cfg = config(&dir, &format!("[dnstap]\nfile = \"{}\"\nkernel_sample = {rate}\n", file.display()));
        let (pid, control) = common::start_daemon_with(&mut lab, &[SRV4, SRV6], &["--config", &cfg]);
        let sent = traffic(&lab, &sources);
        let kernel = common::xdp_answered(&common::daemon_stats(&control));
        lab.stop(pid);
        let msgs = read(&file)["messages"].as_array().unwrap().clone();
        let sampled: Vec<&Value> = msgs.iter().filter(|m| m["extra"].as_str().is_some_and(|e| e.contains("kernel answer"))).collect();
        let userspace = msgs.iter().filter(|m| m["type"] == "AUTH_QUERY").count() as u64;
        assert!(kernel > 0, "the kernel answered part of the mix");
        assert_eq!(userspace + kernel, sent.len() as u64, "every exchange answered by one path");
        for m in &sampled {
            assert_eq!(m["type"], "AUTH_RESPONSE");
            assert_eq!(m["protocol"], "UDP");
            // The sampled answer is one a client received, to that client.
            let e = sent
                .iter()
                .find(|e| e["response"] == m["response_message"] && e["port"] == m["query_port"] && e["transport"] == "udp")
                .unwrap_or_else(|| panic!("a kernel sample no client exchange received: {m}"));
            assert_eq!((&m["query_address"], &m["response_address"]), (&e["src"], &e["server"]));
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let n = sampled.len() as u64;
        println!("kernel_sample = {rate}: {n} of {kernel} kernel answers in the stream");
        if rate == 1 {
            assert_eq!(n, kernel, "every kernel answer sampled");
        } else {
            // One in `rate` per CPU: each CPU's count rounds down.
            assert!(n <= kernel / rate && n + cpus >= kernel / rate, "{n} of {kernel} sampled at 1 in {rate}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
