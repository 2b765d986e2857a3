//! Real primaries for the secondary mode: knotd and NSD in the lab's client namespace (198.18.0.2),
//! serving the root zone to the server end (198.18.0.1) by AXFR (both) and IXFR (Knot), with TSIG and
//! NOTIFY as configured. Each runs from a temp dir of its own and is registered with the Lab, so it ends
//! by PID when the Lab drops. Also the editions they serve: new serials with ZONEMD recomputed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zonegen::{LoadOptions, Zone};

use super::{CLI4, Lab, SRV4, sh, wait_for};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Knot,
    Nsd,
}

/// A running (or stopped) primary.
pub struct Primary {
    pub kind: Kind,
    pub dir: PathBuf,
    pub pid: i32,
    /// Where it listens, e.g. "198.18.0.2:5301".
    pub addr: String,
    port: u16,
    /// How often it was started: each start logs to a file of its own, so a restart keeps the first log.
    starts: u32,
}

/// TSIG key as (algorithm name e.g. "hmac-sha256", key name e.g. "xfr-key", base64 secret).
pub type Key<'a> = (&'a str, &'a str, &'a str);

const ZONE_FILE: &str = "root.zone";

/// Start knotd as primary for "." from `zone_text` on CLI4:`port`: AXFR and IXFR only to SRV4 (and only
/// with `key` when given), NOTIFY to `notify` (e.g. "198.18.0.1@53"; Knot 3.2 sends it over TCP only, signed
/// with the key) at start and on every new serial. Waits until it answers SOA over TCP. Knot runs its zone
/// events one at a time: a NOTIFY that is accepted but never answered holds a later reload back until it
/// times out (5 s).
pub fn knot(lab: &mut Lab, zone_text: &str, port: u16, key: Option<Key>, notify: Option<&str>) -> Primary {
    knot_allowing(lab, zone_text, port, key, notify, SRV4)
}

/// As [`knot`], with transfers allowed only to `xfr_from` (its ACL): a transfer that succeeds came
/// from that address.
pub fn knot_allowing(lab: &mut Lab, zone_text: &str, port: u16, key: Option<Key>, notify: Option<&str>, xfr_from: &str) -> Primary {
    let dir = fresh_dir(lab, &format!("knot-{port}"));
    std::fs::write(dir.join(ZONE_FILE), zone_text).unwrap();
    std::fs::write(dir.join("knot.conf"), knot_conf(&dir, port, key, notify, xfr_from)).unwrap();
    start(lab, Kind::Knot, dir, port)
}

/// Start knotd as a *secondary* of `primary` (e.g. "198.18.0.1@53", the daemon under test) on CLI4:`port`:
/// it transfers "." from there (signed with `key` when given), verifies its ZONEMD (Knot's own check), and
/// answers once it has the zone (the wait). Its zone file is never written: the journal holds it.
pub fn knot_secondary(lab: &mut Lab, port: u16, primary: &str, key: Option<Key>) -> Primary {
    let dir = fresh_dir(lab, &format!("knot-secondary-{port}"));
    let base = knot_conf(&dir, port, None, None, SRV4);
    // The server, control, log and database parts of a primary's configuration; then the secondary's own.
    let mut c = base[..base.find("acl:").unwrap_or(base.len())].to_string();
    let key_line = match key {
        Some((alg, name, secret)) => {
            c += &format!("key:\n  - id: {name}\n    algorithm: {alg}\n    secret: {secret}\n");
            format!("    key: {name}\n")
        }
        None => String::new(),
    };
    let d = dir.display();
    c += &format!("remote:\n  - id: primary\n    address: {primary}\n{key_line}");
    c += &format!(
        "zone:\n  - domain: .\n    file: {d}/{ZONE_FILE}\n    master: primary\n    zonefile-sync: -1\n    \
         semantic-checks: off\n    dnssec-signing: off\n    zonemd-verify: on\n"
    );
    std::fs::write(dir.join("knot.conf"), c).unwrap();
    start(lab, Kind::Knot, dir, port)
}

/// Start NSD likewise (AXFR only: NSD 4.6 builds no IXFR from zone files).
pub fn nsd(lab: &mut Lab, zone_text: &str, port: u16, key: Option<Key>, notify: Option<&str>) -> Primary {
    let dir = fresh_dir(lab, &format!("nsd-{port}"));
    std::fs::write(dir.join(ZONE_FILE), zone_text).unwrap();
    std::fs::write(dir.join("nsd.conf"), nsd_conf(&dir, port, key, notify)).unwrap();
    start(lab, Kind::Nsd, dir, port)
}

fn start(lab: &mut Lab, kind: Kind, dir: PathBuf, port: u16) -> Primary {
    let mut p = Primary { kind, dir, pid: 0, addr: format!("{CLI4}:{port}"), port, starts: 0 };
    p.launch(lab);
    p
}

/// Its directory goes with it, unless the test failed (the logs say why).
impl Drop for Primary {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A new empty dir (one per primary: name, lab, port, test process): a journal or xfrd state left by an
/// earlier run would change what is served.
fn fresh_dir(lab: &Lab, what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("m-root-xdp-{what}-{}-{}", lab.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn knot_conf(dir: &Path, port: u16, key: Option<Key>, notify: Option<&str>, xfr_from: &str) -> String {
    let d = dir.display();
    // One worker of each kind: the machine is shared with other labs, and one zone needs no more.
    let mut c = format!(
        "server:\n  rundir: {d}\n  listen: {CLI4}@{port}\n  identity: \"\"\n  version: \"\"\n  nsid: \"\"\n  \
         udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
         control:\n  listen: {d}/knot.sock\n\
         log:\n  - target: stdout\n    any: info\n\
         database:\n  storage: {d}\n  journal-db-max-size: 256M\n"
    );
    let key_line = match key {
        Some((alg, name, secret)) => {
            c += &format!("key:\n  - id: {name}\n    algorithm: {alg}\n    secret: {secret}\n");
            format!("    key: {name}\n")
        }
        None => String::new(),
    };
    if let Some(to) = notify {
        c += &format!("remote:\n  - id: secondary\n    address: {to}\n{key_line}");
    }
    c += &format!("acl:\n  - id: xfr\n    address: {xfr_from}\n{key_line}    action: transfer\n");
    // difference + journal: a reload stores the change, so IXFR from the old serial works. zonefile-sync
    // -1: Knot never rewrites the file the test wrote. Signing, ZONEMD generation and verification and the
    // extra semantic checks off: the zone is served exactly as given, a bad ZONEMD included.
    c += &format!(
        "zone:\n  - domain: .\n    file: {d}/{ZONE_FILE}\n    zonefile-load: difference\n    journal-content: changes\n    \
         zonefile-sync: -1\n    semantic-checks: off\n    dnssec-signing: off\n    zonemd-verify: off\n    \
         zonemd-generate: none\n    acl: xfr\n"
    );
    if notify.is_some() {
        c += "    notify: secondary\n";
    }
    c
}

fn nsd_conf(dir: &Path, port: u16, key: Option<Key>, notify: Option<&str>) -> String {
    let d = dir.display();
    let mut c = format!(
        "server:\n  ip-address: {CLI4}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  \
         database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  pidfile: \"{d}/nsd.pid\"\n  \
         logfile: \"{d}/nsd.log\"\n  hide-version: yes\n  verbosity: 2\n  server-count: 1\n\
         remote-control:\n  control-enable: no\n"
    );
    let key_name = match key {
        Some((alg, name, secret)) => {
            c += &format!("key:\n  name: \"{name}\"\n  algorithm: {alg}\n  secret: \"{secret}\"\n");
            name
        }
        None => "NOKEY",
    };
    c += &format!("zone:\n  name: \".\"\n  zonefile: \"{d}/{ZONE_FILE}\"\n  provide-xfr: {SRV4} {key_name}\n");
    if let Some(to) = notify {
        c += &format!("  notify: {to} {key_name}\n");
    }
    c
}

impl Primary {
    fn launch(&mut self, lab: &mut Lab) {
        self.starts += 1;
        let log = self.dir.join(format!("out-{}.log", self.starts));
        let args: Vec<String> = match self.kind {
            Kind::Knot => vec!["/usr/sbin/knotd".into(), "-c".into(), self.conf()],
            // -d: in the foreground, so the PID the Lab holds is NSD's main process (it takes SIGHUP).
            Kind::Nsd => vec!["/usr/sbin/nsd".into(), "-d".into(), "-c".into(), self.conf()],
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let ns = lab.cli_ns();
        self.pid = lab.spawn(&ns, &argv, &log);
        wait_for(&format!("{:?} on {} (log {})", self.kind, self.addr, log.display()), 30, || self.serial(lab).is_some());
    }

    fn conf(&self) -> String {
        let name = if self.kind == Kind::Knot { "knot.conf" } else { "nsd.conf" };
        self.dir.join(name).display().to_string()
    }

    /// Replace the zone with `zone_text` (a new serial) and have the primary load it; returns once it
    /// serves the new serial. Knot then sends NOTIFY and serves IXFR from the old serial.
    pub fn publish(&self, lab: &Lab, zone_text: &str) {
        let serial = text_serial(zone_text).expect("the new zone text has an SOA");
        let path = self.dir.join(ZONE_FILE);
        let before = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        // Written aside and renamed: the primary never reads half a file.
        let tmp = self.dir.join(format!("{ZONE_FILE}.new"));
        std::fs::write(&tmp, zone_text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        // NSD reloads on SIGHUP only a file whose mtime changed: make sure it moves forward.
        if let Some(before) = before
            && std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|now| now <= before + Duration::from_secs(1))
        {
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(before.max(SystemTime::now()) + Duration::from_secs(1)).unwrap();
        }
        match self.kind {
            // zone-reload reads the file whatever its mtime; -b waits until the load is done.
            Kind::Knot => {
                let sock = self.dir.join("knot.sock");
                sh(std::process::Command::new("/usr/sbin/knotc").arg("-s").arg(&sock).args(["-b", "zone-reload", "."]));
            }
            Kind::Nsd => assert_eq!(unsafe { libc::kill(self.pid, libc::SIGHUP) }, 0, "SIGHUP to NSD {}", self.pid),
        }
        wait_for(&format!("{:?} serving serial {serial}", self.kind), 30, || self.serial(lab) == Some(serial));
    }

    /// The SOA serial the primary serves now (kdig over TCP from the server end).
    pub fn serial(&self, lab: &Lab) -> Option<u32> {
        let port = self.port.to_string();
        let at = format!("@{CLI4}");
        let out = Lab::in_ns(&lab.srv_ns(), &["kdig", "-b", SRV4, &at, "-p", &port, ".", "SOA", "+tcp", "+short", "+time=1", "+retry=0"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().next()?.split_whitespace().nth(2)?.parse().ok()
    }

    /// Everything it logged, over all its starts (Knot logs to stdout, NSD to its logfile).
    pub fn log(&self) -> String {
        let mut text = String::new();
        for i in 1..=self.starts {
            text += &std::fs::read_to_string(self.dir.join(format!("out-{i}.log"))).unwrap_or_default();
        }
        text + &std::fs::read_to_string(self.dir.join("nsd.log")).unwrap_or_default()
    }

    /// SIGTERM by PID (the Lab's stop).
    pub fn stop(&mut self, lab: &mut Lab) {
        lab.stop(self.pid);
    }

    /// Start it again on the same dir, configuration and port (Knot keeps its journal, so IXFR from
    /// older serials still works); waits until it answers.
    pub fn restart(&mut self, lab: &mut Lab) {
        self.launch(lab);
    }
}

/// The serial of the first SOA record in zone text (tab or space separated, one record a line).
pub fn text_serial(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let at = f.iter().position(|t| *t == "SOA")?;
        f.get(at + 3)?.parse().ok()
    })
}

const NS_OWNER: &str = "com.";
const NS_NAMES: [&str; 2] = ["m.gtld-servers.net.", "n.gtld-servers.net."];

/// `base_text` (a root zone, e.g. the bundled one) as serial `serial`, with its ZONEMD recomputed so the
/// edition verifies. With `ns_change` one name server of com. is swapped as well (m.gtld-servers.net. for
/// n.gtld-servers.net. or back: sibling glue, so n needs no address): an edition whose IXFR carries a
/// delegation change. The RRSIGs are kept as they are (nothing here verifies them).
pub fn edition(base_text: &str, serial: u32, ns_change: bool) -> String {
    let mut soa_done = false;
    let mut ns_done = false;
    let new_serial = serial.to_string();
    let mut text = String::with_capacity(base_text.len() + 64);
    for line in base_text.split_inclusive('\n') {
        let mut f: Vec<&str> = line.split_whitespace().collect();
        if !soa_done && f.len() >= 7 && f[3] == "SOA" {
            f[6] = &new_serial;
            soa_done = true;
        } else if ns_change && !ns_done && f.len() == 5 && f[0] == NS_OWNER && f[3] == "NS" && NS_NAMES.contains(&f[4]) {
            f[4] = if f[4] == NS_NAMES[0] { NS_NAMES[1] } else { NS_NAMES[0] };
            ns_done = true;
        } else {
            text += line;
            continue;
        }
        text += &f.join("\t");
        text += "\n";
    }
    assert!(soa_done, "no SOA record (owner TTL class SOA ...) in the base text");
    assert!(!ns_change || ns_done, "no {NS_OWNER} NS {} or {} in the base text", NS_NAMES[0], NS_NAMES[1]);
    let zone = Zone::from_bytes(text.as_bytes(), Path::new("edition"), &LoadOptions { no_zonemd: true }).expect("the edition loads");
    let digest: String = zonegen::zonemd::digest(&zone).iter().map(|b| format!("{b:02X}")).collect();
    replace_zonemd(&text, |ttl, _| format!(".\t{ttl}\tIN\tZONEMD\t{serial} 1 1 {digest}"))
}

/// `text` with its ZONEMD digest altered (last hex digit changed): still a valid zone file that a primary
/// serves, but one that fails ZONEMD verification.
pub fn bad_zonemd(text: &str) -> String {
    replace_zonemd(text, |ttl, f| {
        let digest = f.last().expect("a digest");
        let (head, last) = digest.split_at(digest.len() - 1);
        let flipped = if last.eq_ignore_ascii_case("0") { "1" } else { "0" };
        format!(".\t{ttl}\tIN\tZONEMD\t{} {} {} {head}{flipped}", f[4], f[5], f[6])
    })
}

/// Replace the apex ZONEMD line (one line, digest unsplit, as the bundled zones have it) by `make(ttl,
/// fields)`.
fn replace_zonemd(text: &str, make: impl Fn(&str, &[&str]) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !done && f.len() >= 8 && f[0] == "." && f[3] == "ZONEMD" {
            out += &make(f[1], &f);
            out += "\n";
            done = true;
        } else {
            out += line;
        }
    }
    assert!(done, "no apex ZONEMD record on one line");
    out
}
