//! The secondary mode's lab pieces: editions of the bundled zone with the SOA timers a test needs, the
//! daemon's config file and start, its `stats` and log, the query streams that watch the serial while
//! zones change, and the kernel's referrals.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use zonegen::{name, rr, wire};

use super::{BIN, Client, Lab, in_netns, primary};

/// The bundled zone's serial.
pub const BASE: u32 = 2026073102;
pub const SECRET: &str = "a2V5LWZvci10aGUtbGFiLXRyYW5zZmVycy0wMTIzNDU=";
pub const KEY: primary::Key = ("hmac-sha256", "xfr-key", SECRET);
/// Where the primaries send NOTIFY: the daemon's service address.
pub const NOTIFY_TO: &str = "198.18.0.1@53";

/// SOA refresh, retry, expire.
pub type Timers = (u32, u32, u32);
/// A refresh of an hour: within a test only a NOTIFY (or a `reload`) brings a new serial.
pub const NOTIFY_ONLY: Timers = (3600, 900, 604800);
/// Seconds: the refresh fires, a failure is retried each second, and the zone expires 10 s after the
/// last good refresh.
pub const SECONDS: Timers = (4, 1, 10);

/// The bundled zone's text.
pub fn base() -> String {
    std::fs::read_to_string(super::bundled_zone()).expect("the bundled zone")
}

/// Edition `serial` of `base` with the SOA timers `t` and, on odd serials, the com. NS set changed;
/// ZONEMD recomputed.
pub fn edition(base: &str, serial: u32, t: Timers) -> String {
    let timed = base.replacen(&format!(" {BASE} 1800 900 604800 86400"), &format!(" {BASE} {} {} {} 86400", t.0, t.1, t.2), 1);
    assert_ne!(timed, base, "the bundled SOA has the timers expected");
    primary::edition(&timed, serial, serial % 2 == 1)
}

/// The name server com. has in an odd edition and not in the even ones.
pub fn swapped_ns(serial: u32) -> &'static str {
    if serial % 2 == 1 { "n.gtld-servers.net." } else { "m.gtld-servers.net." }
}

/// A fresh directory for one test's files (config, cache, keys).
pub fn dir(lab: &Lab) -> PathBuf {
    let d = std::env::temp_dir().join(format!("m-root-xdp-{}-{}", lab.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The daemon's control socket in this lab.
pub fn control(lab: &Lab) -> PathBuf {
    PathBuf::from(format!("/run/m-root-xdp/{}.sock", lab.name))
}

/// A config file serving 198.18.0.1 on the lab's server interface, with `sections` after the top-level
/// keys (a `[secondary]` and what else the test needs).
pub fn config(lab: &Lab, dir: &Path, sections: &str) -> PathBuf {
    let path = dir.join("m-root-xdp.toml");
    let top = format!("addresses = [\"{}\"]\ninterfaces = [\"{}\"]\ncontrol = \"{}\"\n", super::SRV4, lab.srv_if(), control(lab).display());
    std::fs::write(&path, top + sections).unwrap();
    path
}

/// `[secondary]` from the knot at `primary` with the lab's key and `cache`, and `more` lines.
pub fn section(primary: &str, cache: &Path, more: &str) -> String {
    format!(
        "[secondary]\nprimaries = [\"{primary}\"]\ntsig_key = \"{}:{}:{}\"\ncache = \"{}\"\n{more}",
        KEY.0,
        KEY.1,
        KEY.2,
        cache.display()
    )
}

/// `m-root-xdp run --config` in the server namespace, logging to `log`; does not wait.
pub fn spawn(lab: &mut Lab, config: &Path, log: &Path) -> i32 {
    let (cfg, ns) = (config.display().to_string(), lab.srv_ns());
    lab.spawn(&ns, &[BIN, "run", "--config", &cfg], log)
}

/// As [`spawn`], then waits until the control socket answers (the zone is served).
pub fn start(lab: &mut Lab, config: &Path, log: &Path) -> i32 {
    let pid = spawn(lab, config, log);
    let control = control(lab);
    super::wait_for(&format!("m-root-xdp (log {})", log.display()), 60, || {
        m_root_user::control::request(&control, "stats", Duration::from_millis(300)).is_ok()
    });
    pid
}

pub fn stats(control: &Path) -> serde_json::Value {
    m_root_user::control::request(control, "stats", Duration::from_secs(5)).expect("stats")
}

/// The secondary's part of `stats`.
pub fn sec(control: &Path) -> serde_json::Value {
    stats(control)["secondary"].clone()
}

/// `m-root-xdp reload [--force]`, as an operator types it: did it succeed, and what it printed.
pub fn reload(control: &Path, force: bool) -> (bool, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["reload", "--control"]).arg(control);
    if force {
        cmd.arg("--force");
    }
    let out = cmd.output().expect("m-root-xdp reload");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).trim().to_string())
}

pub fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

pub fn serial_of(resp: &[u8]) -> Option<u32> {
    let m = zonegen::testkit::print::decode(resp)?;
    let soa = m.sections[0].iter().find(|r| r.rtype == rr::SOA)?;
    zonegen::zone::soa_fields(&soa.rdata).map(|(s, _)| s)
}

pub fn soa_query(id: u16) -> Vec<u8> {
    wire::build_query(id, 0, name::ROOT, rr::SOA, rr::CLASS_IN, Some((1232, false)))
}

/// The serial a client gets over UDP now (None: no answer, or no SOA in it).
pub fn served_serial(lab: &Lab) -> Option<u32> {
    in_netns(&lab.cli_ns(), || Client::new().udp(super::SRV4, &soa_query(9))).as_deref().and_then(serial_of)
}

/// The serials one stream of `. SOA` saw, in order, and how many queries got no answer.
pub struct Seen {
    pub serials: Vec<u32>,
    pub lost: usize,
}

impl Seen {
    /// Nothing lost, and never an older serial after a newer one.
    pub fn check(&self, what: &str) {
        println!("  {what}: {} answers, {} lost", self.serials.len(), self.lost);
        assert_eq!(self.lost, 0, "{what}: queries lost");
        let back = self.serials.windows(2).find(|w| w[1] < w[0]);
        assert!(back.is_none(), "{what}: serial {:?} after a newer one", back);
    }
}

/// One stream of `. SOA` over UDP (answered by TC on veth) or TCP (userspace), until `stop`.
pub fn stream(lab: &Lab, tcp: bool, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    let cli = lab.cli_ns();
    std::thread::spawn(move || {
        in_netns(&cli, || {
            let c = Client::new();
            let (mut serials, mut lost, mut id) = (Vec::new(), 0, 0u16);
            while !stop.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let q = soa_query(id);
                match if tcp { c.tcp(super::SRV4, &q) } else { c.udp(super::SRV4, &q) }.as_deref().and_then(serial_of) {
                    Some(s) => serials.push(s),
                    None => lost += 1,
                }
            }
            Seen { serials, lost }
        })
    })
}

/// The name servers of com. in a referral.
pub fn com_ns(resp: &[u8]) -> Vec<String> {
    let m = zonegen::testkit::print::decode(resp).expect("a response");
    m.sections[1].iter().filter(|r| r.rtype == rr::NS).map(|r| name::to_text(&r.rdata)).collect()
}

/// Referrals the kernel programs have answered (XDP and TC).
pub fn kernel_referrals(lab: &Lab) -> u64 {
    let c = super::xdp_counters(lab);
    ["xdp", "tc"].iter().map(|h| c[format!("{h}.answer.referral")].as_u64().unwrap_or(0)).sum()
}

fn referral_query() -> Vec<u8> {
    wire::build_query(7, 0, &name::from_text("example.com.").unwrap(), rr::A, rr::CLASS_IN, Some((1232, false)))
}

/// A referral to com. asked from a socket (on veth: answered by TC).
pub fn referral(lab: &Lab) -> Vec<u8> {
    in_netns(&lab.cli_ns(), || Client::new().udp(super::SRV4, &referral_query())).expect("a referral")
}

/// The kernel path answers with `serial`'s delegation of com. (on this bare veth `auto` runs the TC
/// program alone, from the same table XDP would use).
pub fn kernel_has(lab: &Lab, serial: u32) {
    let before = kernel_referrals(lab);
    delegation_has(lab, serial);
    assert_eq!(kernel_referrals(lab), before + 1, "the referral answered in the kernel");
}

/// A socket-sent referral carries `serial`'s delegation of com., whoever answered it (while zones are
/// switched in back to back, a query can meet the programs paused and go to userspace).
pub fn delegation_has(lab: &Lab, serial: u32) {
    let ns = com_ns(&referral(lab));
    assert!(ns.iter().any(|n| n == swapped_ns(serial)), "serial {serial}: com. NS {ns:?}");
}

/// The dnspython venv scripts/setup.sh makes (an independent client).
pub const PYTHON: &str = "/opt/m-root-xdp/venv/bin/python3";

/// One NOTIFY for the root from `source` (an address of the client end) over `transport` ("udp" or
/// "tcp"), signed with `key` ("alg:name:secret") when given, by tests/clients/notify_send.py; its
/// answer as the script prints it.
pub fn dnspython_notify(lab: &Lab, source: &str, transport: &str, key: Option<&str>) -> serde_json::Value {
    let script = super::root_dir().join("m-root-user/tests/clients/notify_send.py");
    let mut args = vec![PYTHON, script.to_str().unwrap(), super::SRV4, source, transport];
    args.extend(key);
    let out = Lab::in_ns(&lab.cli_ns(), &args).output().expect("notify_send.py");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("notify_send.py: {e}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}
