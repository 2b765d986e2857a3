//! Every input the fuzzers once failed on (fuzz/regressions/<target>/), replayed on the stable
//! toolchain with every test run, so a regression shows without the nightly fuzz build: the zone-file
//! reader returns a zone or a clean error for each, with and without ZONEMD verification, and a zone it
//! reads answers its apex. (The fuzz tier replays them under libFuzzer too, with the targets' full checks.)

use std::path::{Path, PathBuf};

use zonegen::answer::{self, Transport};
use zonegen::{LoadOptions, ServerConfig, Zone, rr, wire};

fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn zone_file_regressions_load_or_fail_cleanly() {
    let files = regressions("zone_file");
    assert!(!files.is_empty(), "the regression inputs are there");
    let cfg = ServerConfig::default();
    for f in files {
        let data = std::fs::read(&f).expect("a regression input");
        for no_zonemd in [false, true] {
            match Zone::from_bytes(&data, Path::new("fuzz.zone"), &LoadOptions { no_zonemd }) {
                Ok(zone) => {
                    let q = wire::build_query(1, 0, b"\0", rr::SOA, rr::CLASS_IN, Some((1232, true)));
                    assert!(answer::answer(&zone, &cfg, &q, Transport::Udp).is_some(), "{}: the apex answered", f.display());
                }
                Err(e) => assert!(!e.to_string().is_empty(), "{}: an error that says something", f.display()),
            }
        }
    }
}
