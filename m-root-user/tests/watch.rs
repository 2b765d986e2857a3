//! `--watch`: the daemon reloads when its zone file changes (no XDP needed for this part).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use m_root_user::daemon::Daemon;
use m_root_user::observe::Stats;
use zonegen::{LoadOptions, ServerConfig, Zone, compile};

#[test]
fn a_changed_zone_file_is_reloaded() {
    let zones = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones");
    let dir = std::env::temp_dir().join(format!("m-root-xdp-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("root.zone");
    std::fs::copy(zones.join("root.zone.2023042001"), &file).unwrap();
    let zone = Zone::load(&file, &LoadOptions::default()).unwrap();
    let table = compile(&zone);
    let d = Arc::new(Daemon::new(zone, table, &file, 0.0, ServerConfig::default(), true, Vec::new(), Arc::new(Stats::default())));
    let stop = Arc::new(AtomicBool::new(false));
    let w = d.watch(stop.clone());
    std::thread::sleep(Duration::from_millis(1200));
    // A broken write is refused and the old zone keeps serving.
    std::fs::write(&file, ". 3600 IN SOA a. b. 1 2 3\n").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.state.load().zone.serial, 2023042001);
    std::fs::copy(zones.join("root.zone.2026073102"), &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.state.load().zone.serial != 2026073102 {
        assert!(Instant::now() < deadline, "the changed file was not reloaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    w.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
