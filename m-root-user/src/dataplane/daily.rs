//! The programs' RSSAC002 day counts (m_root_common::daily): which slot they count into, and each slot's
//! counts and unique-source registers, summed (registers: merged) over CPUs.

use anyhow::{Context, Result};
use aya::maps::{Array, MapData, PerCpuArray, PerCpuValues};
use m_root_common::daily::{DAY_OFF, DAY_SLOTS, DailyCounts, HllRegisters, SOURCE_SETS, day_value};
use m_root_common::maps;

use super::Dataplane;

impl Dataplane {
    /// Count into `slot` from now on (None: count nothing).
    pub fn set_day(&mut self, slot: Option<u32>) -> Result<()> {
        let v = match slot {
            Some(s) if s < DAY_SLOTS => day_value(s),
            Some(s) => anyhow::bail!("day slot {s} out of range"),
            None => DAY_OFF,
        };
        let mut m = Array::<&mut MapData, u32>::try_from(self.map_mut(maps::DAY_SLOT)?)?;
        m.set(0, v, 0).context("writing the day slot")
    }

    /// What the programs counted in `slot`, over every CPU; and the registers of each source set.
    pub fn day_counts(&self, slot: u32) -> Result<(DailyCounts, Vec<HllRegisters>)> {
        let counts = PerCpuArray::<&MapData, DailyCounts>::try_from(self.map(maps::DAILY)?)?;
        let mut total = DailyCounts::ZERO;
        for c in counts.get(&slot, 0).context("reading the day counts")?.iter() {
            total.add(c);
        }
        let sources = PerCpuArray::<&MapData, HllRegisters>::try_from(self.map(maps::SOURCES)?)?;
        let mut regs = Vec::with_capacity(SOURCE_SETS as usize);
        for set in 0..SOURCE_SETS {
            let mut merged = HllRegisters::ZERO;
            for r in sources.get(&(slot * SOURCE_SETS + set), 0).context("reading the source registers")?.iter() {
                merged.merge(r);
            }
            regs.push(merged);
        }
        Ok((total, regs))
    }

    /// Zero `slot` (the programs no longer count into it).
    pub fn zero_day(&mut self, slot: u32) -> Result<()> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| e).context("counting CPUs")?;
        {
            let mut counts = PerCpuArray::<&mut MapData, DailyCounts>::try_from(self.map_mut(maps::DAILY)?)?;
            let zero = PerCpuValues::try_from(vec![DailyCounts::ZERO; cpus])?;
            counts.set(slot, zero, 0).context("clearing the day counts")?;
        }
        let mut sources = PerCpuArray::<&mut MapData, HllRegisters>::try_from(self.map_mut(maps::SOURCES)?)?;
        for set in 0..SOURCE_SETS {
            let zero = PerCpuValues::try_from(vec![HllRegisters::ZERO; cpus])?;
            sources.set(slot * SOURCE_SETS + set, zero, 0).context("clearing the source registers")?;
        }
        Ok(())
    }
}
