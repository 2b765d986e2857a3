//! dnstap's sample of the programs' answers (m_root_common::sample): its rate, and its ring buffer.

use anyhow::{Context, Result};
use aya::maps::{Array, MapData, RingBuf};
use m_root_common::maps;

use super::Dataplane;

impl Dataplane {
    /// Sample one in `n` answers from now on (0: none).
    pub fn set_dnstap_rate(&mut self, n: u32) -> Result<()> {
        let mut m = Array::<&mut MapData, u32>::try_from(self.map_mut(maps::DNSTAP_RATE)?)?;
        m.set(0, n, 0).context("writing the dnstap sample rate")
    }

    /// The ring the samples arrive in, taken out of the object (for a reader of its own).
    pub fn take_dnstap_ring(&mut self) -> Result<RingBuf<MapData>> {
        let map = self.ebpf.take_map(maps::DNSTAP_RING).context("map DNSTAP_RING missing from the object (taken already?)")?;
        Ok(RingBuf::try_from(map)?)
    }
}
