//! What the programs counted: their per-CPU counters and trust-anchor signals, read from the loaded maps
//! or, for a daemon that does not answer, from the maps it pinned; and the names `stats` gives them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use aya::maps::{Map, MapData, PerCpuArray, PerCpuHashMap};
use std::os::fd::AsFd;

use m_root_common::{COUNTERS, Counter, HOOKS, Hook, PerCpu, maps};

use super::Dataplane;
use super::attach::{pin_paths, pin_root};

impl Dataplane {
    /// Pin the counters and signals under <pin root>/<iface>/ so other processes can read them (removed
    /// again when this is dropped).
    pub fn pin_counters(&mut self, iface: &str) -> Result<()> {
        let dir = pin_root()?.join(iface);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {} (is bpffs mounted at /sys/fs/bpf?)", dir.display()))?;
        for (map, what) in [(maps::PERCPU, "counters"), (maps::TA_SIGNALS, "signals")] {
            let path = dir.join(map);
            let _ = std::fs::remove_file(&path);
            self.map_mut(map)?.pin(&path).with_context(|| format!("pinning {what} at {}", path.display()))?;
        }
        self.pin_dir = Some(dir);
        Ok(())
    }

    /// Trust-anchor signals answered in the kernel: (kind, key tag, count), summed over CPUs.
    pub fn signals(&self) -> Result<Vec<(u32, u16, u64)>> {
        read_signals(&PerCpuHashMap::<&MapData, u32, u64>::try_from(self.map(maps::TA_SIGNALS)?)?)
    }

    /// Counters summed over CPUs, named as `stats` names them.
    pub fn counters(&self) -> Result<Vec<(String, u64)>> {
        read_counters(&PerCpuArray::<&MapData, PerCpu>::try_from(self.map(maps::PERCPU)?)?)
    }
}

/// One dataplane's counter and signal maps through descriptors of their own, read at any time without
/// the dataplanes' lock (a reload holds it while it writes a table).
pub struct CounterMaps {
    pub iface: String,
    counters: PerCpuArray<MapData, PerCpu>,
    signals: PerCpuHashMap<MapData, u32, u64>,
}

/// A second descriptor of a loaded map.
fn duplicate(m: &Map) -> Result<MapData> {
    let data = match m {
        Map::PerCpuArray(d) | Map::PerCpuHashMap(d) => d,
        _ => anyhow::bail!("not a per-CPU map"),
    };
    let fd = data.fd().as_fd().try_clone_to_owned().context("duplicating a map descriptor")?;
    Ok(MapData::from_fd(fd)?)
}

impl Dataplane {
    /// Handles of this dataplane's counters and signals of their own, for `iface`.
    pub fn counter_maps(&self, iface: &str) -> Result<CounterMaps> {
        let counters = PerCpuArray::try_from(Map::PerCpuArray(duplicate(self.map(maps::PERCPU)?)?))?;
        let signals = PerCpuHashMap::try_from(Map::PerCpuHashMap(duplicate(self.map(maps::TA_SIGNALS)?)?))?;
        Ok(CounterMaps { iface: iface.to_string(), counters, signals })
    }
}

impl CounterMaps {
    /// Every counter slot of both hooks, summed over CPUs.
    pub fn totals(&self) -> Result<[[u64; COUNTERS]; HOOKS]> {
        let per_cpu = self.counters.get(&0, 0)?;
        let mut out = [[0u64; COUNTERS]; HOOKS];
        for v in per_cpu.iter() {
            for (o, c) in out.iter_mut().zip(&v.counters) {
                for (a, b) in o.iter_mut().zip(c) {
                    *a = a.wrapping_add(*b);
                }
            }
        }
        Ok(out)
    }

    /// Trust-anchor signals: (kind, key tag, count), summed over CPUs.
    pub fn signals(&self) -> Result<Vec<(u32, u16, u64)>> {
        read_signals(&self.signals)
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        // Links offered to a successor that never took them: unpinned, they go with this process.
        self.release();
        if let Some(dir) = self.pin_dir.take() {
            let _ = std::fs::remove_file(dir.join(maps::PERCPU));
            let _ = std::fs::remove_file(dir.join(maps::TA_SIGNALS));
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// A counter's name in `stats`: `<hook>.<counter>`.
pub fn counter_key(hook: Hook, c: Counter) -> String {
    format!("{}.{}", hook.name(), c.name())
}

/// Every counter of both hooks, summed over CPUs, named as `stats` prints them. Counters a hook never
/// moves (TC's own ones, for XDP) are left out.
fn read_counters<T: std::borrow::Borrow<MapData>>(arr: &PerCpuArray<T, PerCpu>) -> Result<Vec<(String, u64)>> {
    let per_cpu = arr.get(&0, 0)?;
    let mut out = Vec::new();
    for hook in Hook::ALL {
        for c in Counter::ALL {
            if c.only().is_some_and(|h| h != hook) {
                continue;
            }
            out.push((counter_key(hook, c), per_cpu.iter().map(|v| v.counters[hook as usize][c as usize]).sum()));
        }
    }
    Ok(out)
}

/// The signal map's entries, keyed (kind << 16 | key tag), summed over CPUs, sorted.
fn read_signals<T: std::borrow::Borrow<MapData>>(m: &PerCpuHashMap<T, u32, u64>) -> Result<Vec<(u32, u16, u64)>> {
    let mut out = Vec::new();
    for item in m.iter() {
        let (k, v) = item?;
        out.push((k >> 16, k as u16, v.iter().sum()));
    }
    out.sort();
    Ok(out)
}

/// Answers sent in the kernel (XDP and TC), from `m-root-xdp stats --json` output.
pub fn answered_in_stats(stats: &serde_json::Value) -> u64 {
    Hook::ALL.iter().map(|&h| answered_by(stats, h)).sum()
}

/// Answers one hook sent, from `m-root-xdp stats --json` output.
pub fn answered_by(stats: &serde_json::Value, hook: Hook) -> u64 {
    Counter::ANSWERS.iter().map(|&c| stats[counter_key(hook, c)].as_u64().unwrap_or(0)).sum()
}

/// Where the daemon serving `iface` pinned map `map`: under the first pin root that holds one.
fn pinned_path(iface: &str, map: &str) -> PathBuf {
    let [system, fallback] = pin_paths(iface, map);
    if !system.exists() && fallback.exists() { fallback } else { system }
}

/// Read the pinned trust-anchor signal counts of the daemon serving `iface`.
pub fn pinned_signals(iface: &str) -> Result<Vec<(u32, u16, u64)>> {
    let path = pinned_path(iface, maps::TA_SIGNALS);
    let md = MapData::from_pin(&path).with_context(|| format!("no signal map pinned at {}", path.display()))?;
    read_signals(&PerCpuHashMap::<MapData, u32, u64>::try_from(Map::PerCpuHashMap(md))?)
}

/// Read the pinned counters of the daemon serving `iface`.
pub fn pinned_counters(iface: &str) -> Result<Vec<(String, u64)>> {
    let path = pinned_path(iface, maps::PERCPU);
    let md = MapData::from_pin(&path)
        .with_context(|| format!("no XDP counters pinned at {} (is m-root-xdp running with XDP on {iface}?)", path.display()))?;
    read_counters(&PerCpuArray::<MapData, PerCpu>::try_from(Map::PerCpuArray(md))?)
}
