//! Rate limiting and the drop list on the kernel side: the settings (RRL_CONF), the exempt and drop
//! lists (LPM tries), and the reports of limiting buckets the programs write to a ring buffer. The
//! buckets themselves (RRL) are the programs' and are never touched here, so new settings keep the
//! limiter's state.

use anyhow::{Context, Result};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, MapData, RingBuf};
use ipnet::IpNet;
use m_root_common::maps;
use m_root_common::rrl::{CLASS_APEX, CLASS_ERROR, CLASS_NXDOMAIN, CLASS_TLD, RrlReport};

use super::Dataplane;
use crate::limits::{Limits, lpm_key};

impl Dataplane {
    /// Apply `l`: the lists first, then the settings that say whether to look at them.
    pub fn set_limits(&mut self, l: &Limits) -> Result<()> {
        self.set_list(maps::RRL_EXEMPT, &l.rrl.exempt).context("writing the rate limiter's exempt list")?;
        self.set_list(maps::ACL_DROP, &l.acl.drop).context("writing the drop list")?;
        let mut c = l.kernel_conf();
        // The bucket table's hash seed: random, and the same for the life of these programs (a new one
        // would scatter the buckets).
        c.seed = self.rrl_seed;
        let mut conf: Array<&mut MapData, m_root_common::rrl::RrlConf> = Array::try_from(self.map_mut(maps::RRL_CONF)?)?;
        conf.set(0, c, 0).context("writing the rate limiter's settings")?;
        Ok(())
    }

    /// Tell the programs the cookie settings of this second (all zero: cookies off).
    pub fn set_cookies(&mut self, c: m_root_common::cookie::CookieConf) -> Result<()> {
        let mut map: Array<&mut MapData, m_root_common::cookie::CookieConf> = Array::try_from(self.map_mut(maps::COOKIES)?)?;
        map.set(0, c, 0).context("writing the cookie settings")
    }

    /// Make the LPM trie `name` hold exactly `nets`.
    fn set_list(&mut self, name: &str, nets: &[IpNet]) -> Result<()> {
        let mut trie: LpmTrie<&mut MapData, [u8; 16], u32> = LpmTrie::try_from(self.map_mut(name)?)?;
        let wanted: Vec<Key<[u8; 16]>> = nets.iter().map(lpm_key).map(|(len, addr)| Key::new(len, addr)).collect();
        let present: Vec<Key<[u8; 16]>> = trie.keys().filter_map(|k| k.ok()).collect();
        for k in &present {
            if !wanted.iter().any(|w| w.prefix_len() == k.prefix_len() && w.data() == k.data()) {
                trie.remove(k)?;
            }
        }
        for k in &wanted {
            trie.insert(k, 1, 0)?;
        }
        Ok(())
    }

    /// The reports the programs wrote since the last call: one per bucket that started limiting (at
    /// most every 30 s per bucket).
    pub fn rrl_reports(&mut self) -> Result<Vec<RrlReport>> {
        if self.reports.is_none() {
            let map = self.ebpf.take_map(maps::RRL_REPORTS).context("map RRL_REPORTS missing from the object")?;
            self.reports = Some(RingBuf::try_from(map)?);
        }
        let mut out = Vec::new();
        if let Some(rb) = self.reports.as_mut() {
            while let Some(item) = rb.next() {
                if item.len() >= std::mem::size_of::<RrlReport>() {
                    // SAFETY: the program wrote an RrlReport (repr(C), any bit pattern valid); read unaligned.
                    out.push(unsafe { std::ptr::read_unaligned(item.as_ptr() as *const RrlReport) });
                }
            }
        }
        Ok(out)
    }
}

/// A report as the log says it: the prefix (address and length) and the class.
pub fn describe_report(r: &RrlReport, l: &Limits) -> String {
    let mut octets = [0u8; 16];
    for (i, w) in r.key_addr.iter().enumerate() {
        octets[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
    }
    let v6 = std::net::Ipv6Addr::from(octets);
    let prefix = match v6.to_ipv4_mapped() {
        Some(v4) => format!("{v4}/{}", l.rrl.ipv4_prefix),
        None => format!("{v6}/{}", l.rrl.ipv6_prefix),
    };
    // The kernel numbers a TLD by its ordinal in the table, userspace by a hash of its label.
    let class = match r.class & 0xff00_0000 {
        CLASS_TLD => format!("TLD #{}", r.class & 0xff_ffff),
        CLASS_NXDOMAIN => "NXDOMAIN".to_string(),
        CLASS_APEX => format!("apex type {}", r.class & 0xffff),
        CLASS_ERROR => "errors".to_string(),
        _ => format!("class {:#x}", r.class),
    };
    format!("{prefix}, {class}: {} responses limited", r.limited)
}
