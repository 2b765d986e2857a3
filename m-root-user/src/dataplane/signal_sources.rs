//! The (trust-anchor signal, source) pairs the programs answered today (TA_SOURCES, an LRU hash):
//! read for the day's report of distinct sources by key tag, and the ones read removed at 00:00 UTC.

use anyhow::Result;
use aya::maps::{HashMap, MapData};
use m_root_common::{SignalSource, maps};

use super::Dataplane;

impl Dataplane {
    /// Every pair in the map now.
    pub fn signal_sources(&self) -> Result<Vec<SignalSource>> {
        let m = HashMap::<&MapData, SignalSource, u8>::try_from(self.map(maps::TA_SOURCES)?)?;
        Ok(m.keys().filter_map(Result::ok).collect())
    }

    /// Remove `pairs` (those read for the day just closed; any added since stay for the new day).
    pub fn remove_signal_sources(&mut self, pairs: &[SignalSource]) -> Result<()> {
        let mut m = HashMap::<&mut MapData, SignalSource, u8>::try_from(self.map_mut(maps::TA_SOURCES)?)?;
        for k in pairs {
            let _ = m.remove(k);
        }
        Ok(())
    }
}
