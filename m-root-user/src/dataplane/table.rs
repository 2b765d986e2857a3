//! What the programs answer from: the service addresses, and the compiled table written into the maps a
//! generation at a time. A generation is written while the other serves (`prepare`), then published by
//! one store (`activate`); `pause` in between lets userspace swap its zone with no answer from either
//! zone. The table comes compiled, TLD index and all (`zonegen::compile`): this only writes maps.

use std::net::IpAddr;

use anyhow::{Context, Result, bail};
use aya::maps::{Array, MapData};
use m_root_common::{
    APEX_QTYPES, AddrKey, Answer, GENERATIONS, GenInfo, MAX_APEX, MAX_SERVICE_ADDRS, MAX_TLDS, SORT_DIR_LEN, ServiceAddrs, SortDir,
    SortKey, TldEntry, apex_answer_index, apex_qtype_index, fixed_answer_index, maps, nsec_answer_index, sort_dir_fill, sort_key,
    tld_answer_index, tld_bucket_index, tld_sorted_index,
};
use zonegen::Table;

use super::Dataplane;

/// A generation no program answers from.
const RETIRED: GenInfo = GenInfo { serial: 0, ready: 0, tld_seed: 0, tld_count: 0, signed_nx: 0 };

impl Dataplane {
    /// Tell the program which destination addresses are ours.
    pub fn set_service_addrs(&mut self, addrs: &[IpAddr]) -> Result<()> {
        if addrs.len() > MAX_SERVICE_ADDRS {
            bail!("{} service addresses; the XDP program takes at most {MAX_SERVICE_ADDRS}", addrs.len());
        }
        let mut v = ServiceAddrs { count: addrs.len() as u32, reserved: 0, addrs: [[0; 2]; MAX_SERVICE_ADDRS] };
        for (slot, a) in v.addrs.iter_mut().zip(addrs) {
            let k = addr_key(a).addr;
            *slot = [u64::from_ne_bytes(k[..8].try_into()?), u64::from_ne_bytes(k[8..].try_into()?)];
        }
        let mut map: Array<&mut MapData, ServiceAddrs> = Array::try_from(self.map_mut(maps::SERVICE_ADDRS)?)?;
        map.set(0, v, 0).context("setting the service addresses")?;
        Ok(())
    }

    /// Write `table` and switch to it at once (start-up). A reload uses prepare / pause / activate so
    /// that userspace can swap its zone in between.
    pub fn install(&mut self, table: &Table) -> Result<u32> {
        let (generation, info) = self.prepare(table)?;
        self.activate(generation, info)?;
        Ok(generation)
    }

    /// Write `table` into the idle generation (not yet used by the program). Returns the generation and
    /// what `activate` publishes for it.
    pub fn prepare(&mut self, table: &Table) -> Result<(u32, GenInfo)> {
        if table.tlds.len() > MAX_TLDS as usize {
            bail!("zone has {} TLDs; the table holds at most {MAX_TLDS}", table.tlds.len());
        }
        if table.apex.len() > MAX_APEX as usize {
            bail!("{} apex answers; the table holds at most {MAX_APEX}", table.apex.len());
        }
        let index = table.tld_index.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let generation = match self.generation {
            Some(g) => (g + 1) % GENERATIONS,
            None => 0,
        };
        {
            let mut info: Array<&mut MapData, GenInfo> = Array::try_from(self.map_mut(maps::GENINFO)?)?;
            info.set(generation, GenInfo { serial: table.serial, ..RETIRED }, 0)?;
        }
        {
            let mut answers: Array<&mut MapData, Answer> = Array::try_from(self.map_mut(maps::ANSWERS)?)?;
            for (ordinal, (_, slots)) in table.tlds.iter().enumerate() {
                for (slot, a) in slots.iter().enumerate().take(m_root_common::TLD_SLOTS as usize) {
                    answers.set(tld_answer_index(generation, ordinal as u32, slot as u32), **a, 0)?;
                }
            }
            for (i, (_, _, a)) in table.apex.iter().enumerate() {
                answers.set(apex_answer_index(generation, i as u32), **a, 0)?;
            }
            for (slot, a) in &table.fixed {
                answers.set(fixed_answer_index(generation, *slot), **a, 0)?;
            }
        }
        {
            // Every slot of the generation is written, so nothing of an older use of it survives.
            let mut idx: Array<&mut MapData, TldEntry> = Array::try_from(self.map_mut(maps::TLDIDX)?)?;
            for (b, e) in index.slots.iter().enumerate() {
                idx.set(tld_bucket_index(generation, b as u32), *e, 0)?;
            }
        }
        {
            let mut apex: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::APEXIDX)?)?;
            let mut held = vec![0u32; (APEX_QTYPES * 2) as usize];
            for (i, (qtype, dnssec, _)) in table.apex.iter().enumerate() {
                if m_root_common::apex_covered(*qtype) {
                    held[(apex_qtype_index(0, *qtype, *dnssec)) as usize] = i as u32 + 1;
                }
            }
            for (j, v) in held.iter().enumerate() {
                apex.set(apex_qtype_index(generation, 0, false) + j as u32, *v, 0)?;
            }
        }
        // Signed NXDOMAIN: the TLDs in canonical order for the program's binary search, and one answer per
        // NSEC interval.
        let signed_nx = table.signed_nx();
        if signed_nx {
            {
                let keys: Vec<SortKey> = table.tlds.iter().map(|(label, _)| sort_key(&label[1..1 + label[0] as usize])).collect();
                let mut sorted: Array<&mut MapData, SortKey> = Array::try_from(self.map_mut(maps::TLDSORT)?)?;
                for (k, key) in keys.iter().enumerate() {
                    sorted.set(tld_sorted_index(generation, k as u32), *key, 0)?;
                }
                // On the heap: the directory is 128 KiB.
                let mut dir = Box::new(SortDir { first: [0; SORT_DIR_LEN] });
                sort_dir_fill(&mut dir, &keys);
                let mut dirs: Array<&mut MapData, SortDir> = Array::try_from(self.map_mut(maps::TLDDIR)?)?;
                dirs.set(generation, dir, 0).context("writing the sorted TLD directory")?;
            }
            let mut answers: Array<&mut MapData, Answer> = Array::try_from(self.map_mut(maps::ANSWERS)?)?;
            for (i, a) in table.nsec.iter().enumerate() {
                answers.set(nsec_answer_index(generation, i as u32), **a, 0)?;
            }
        }
        Ok((
            generation,
            GenInfo {
                serial: table.serial,
                ready: 1,
                tld_seed: index.seed,
                tld_count: table.tlds.len() as u32,
                signed_nx: signed_nx as u32,
            },
        ))
    }

    /// Stop answering from the running generation: until `activate`, the program passes every query up,
    /// so userspace can swap its zone without XDP and userspace ever answering from different zones.
    pub fn pause(&mut self) -> Result<()> {
        if let Some(g) = self.generation {
            self.retire(g)?;
        }
        Ok(())
    }

    /// Make a prepared generation the one the program answers from (one 4-byte store of ACTIVE).
    pub fn activate(&mut self, generation: u32, gen_info: GenInfo) -> Result<()> {
        {
            let mut info: Array<&mut MapData, GenInfo> = Array::try_from(self.map_mut(maps::GENINFO)?)?;
            info.set(generation, gen_info, 0)?;
            let mut active: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::ACTIVE)?)?;
            active.set(0, generation, 0)?;
        }
        if let Some(old) = self.generation.filter(|&g| g != generation) {
            self.retire(old)?;
        }
        self.generation = Some(generation);
        Ok(())
    }

    /// Retire a generation: programs stop using it (its slots are rewritten in full on its next use).
    fn retire(&mut self, generation: u32) -> Result<()> {
        let mut info: Array<&mut MapData, GenInfo> = Array::try_from(self.map_mut(maps::GENINFO)?)?;
        info.set(generation, RETIRED, 0)?;
        Ok(())
    }
}

/// The service-address map key for an address (IPv4 as IPv4-mapped IPv6).
pub fn addr_key(a: &IpAddr) -> AddrKey {
    let mut k = AddrKey::zeroed();
    match a {
        IpAddr::V4(v4) => k.addr = v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => k.addr = v6.octets(),
    }
    k
}

/// Does the kernel answer this DNS query itself (with the full table of `zone` loaded)? The programs'
/// own rule, m_root_common::covers, on the query's facts; for tests and benchmarks.
pub fn xdp_covers(zone: &zonegen::Zone, msg: &[u8]) -> bool {
    xdp_covers_with(zone, msg, false)
}

/// As [`xdp_covers`], with cookies on (`cookies`) or off in the programs.
pub fn xdp_covers_with(zone: &zonegen::Zone, msg: &[u8], cookies: bool) -> bool {
    use zonegen::{name, wire};
    let Ok(q) = wire::parse_query(msg) else { return false };
    let labels = name::label_count(q.qname);
    let tld_exists = labels > 0 && zone.is_tld(&name::lower(name::suffix(q.qname, 1)));
    let facts =
        m_root_common::QueryFacts { cookies, ..zonegen::fast::query_facts(&q, tld_exists, zonegen::compile::holds_signed_nx(zone)) };
    m_root_common::covers(&facts).is_some()
}
