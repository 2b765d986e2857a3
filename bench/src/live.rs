//! The live-frames generator: BPF_PROG_RUN of `lab_gen` in live-frames mode on the client end of the lab,
//! in batches, so queries reach the server's XDP program as from a NIC (page-sized buffers) and faster than
//! kxdpgun; answers are counted on the client end by `lab_count`, not by a socket. The same generator runs
//! against a bare MAC-swap reflector on the server end, for the ratio.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aya::Ebpf;
use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use m_root_common::{LAB_TEMPLATE_MAX, LabTemplate};
use m_root_user::frame::{self, Spec};
use m_root_user::lab::{LAB_OBJECT, XdpMd, iface_info, in_netns};

/// Frames per BPF_PROG_RUN call and batch size of the kernel's live-frames loop.
const REPEAT: u32 = 65536;
const BATCH: u32 = 64;

/// Keeps a lab_reflect program attached to the server end while it lives (its Ebpf owns the link).
pub struct Reflector {
    _ebpf: Ebpf,
}

pub fn attach_reflector(srv_ns: &str, srv_if: &str) -> Result<Reflector> {
    in_netns(srv_ns, || -> Result<Reflector> {
        let mut ebpf = Ebpf::load(LAB_OBJECT)?;
        let p: &mut Xdp = ebpf.program_mut("lab_reflect").ok_or_else(|| anyhow!("lab_reflect missing"))?.try_into()?;
        p.load()?;
        p.attach(srv_if, XdpMode::Driver).map_err(|e| anyhow!("attaching the reflector to {srv_if}: {e:?}"))?;
        Ok(Reflector { _ebpf: ebpf })
    })?
}

/// Result of one generator run.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub sent_per_s: f64,
    pub replies_per_s: f64,
}

/// Send the query messages (cycling) for `secs` seconds from the client end; count what comes back.
pub fn generate(cli_ns: &str, cli_if: &str, srv_mac: [u8; 6], src: &str, dst: &str, queries: &[Vec<u8>], secs: f64) -> Result<Rates> {
    let (cli_if, src, dst) = (cli_if.to_string(), src.to_string(), dst.to_string());
    in_netns(cli_ns, move || -> Result<Rates> {
        let (ifindex, mac) = iface_info(&cli_if)?;
        let mut ebpf = Ebpf::load(LAB_OBJECT)?;
        for p in ["lab_gen", "lab_count"] {
            let prog: &mut Xdp = ebpf.program_mut(p).ok_or_else(|| anyhow!("{p} missing"))?.try_into()?;
            prog.load()?;
        }
        let count: &mut Xdp = ebpf.program_mut("lab_count").ok_or_else(|| anyhow!("lab_count missing"))?.try_into()?;
        count.attach(&cli_if, XdpMode::Driver).context("attaching the counter to the client end")?;
        let frames: Vec<Vec<u8>> = queries
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let spec = Spec {
                    src_mac: mac,
                    dst_mac: srv_mac,
                    vlans: vec![],
                    src: src.parse().unwrap(),
                    dst: dst.parse().unwrap(),
                    sport: 10000 + (i % 50000) as u16,
                    dport: 53,
                };
                frame::build(&spec, q)
            })
            .filter(|f| f.len() <= LAB_TEMPLATE_MAX)
            .collect();
        let read_count = |ebpf: &Ebpf| -> Result<u64> {
            let arr: PerCpuArray<&MapData, u64> =
                PerCpuArray::try_from(ebpf.map("LAB_COUNT").ok_or_else(|| anyhow!("LAB_COUNT missing"))?)?;
            Ok(arr.get(&0, 0)?.iter().sum())
        };
        let c0 = read_count(&ebpf)?;
        let t = Instant::now();
        let mut sent = 0u64;
        let mut i = 0usize;
        while t.elapsed() < Duration::from_secs_f64(secs) {
            let f = &frames[i % frames.len()];
            i += 1;
            let mut tmpl = LabTemplate { len: f.len() as u32, reserved: 0, data: [0; LAB_TEMPLATE_MAX] };
            tmpl.data[..f.len()].copy_from_slice(f);
            {
                let mut m: Array<&mut MapData, LabTemplate> =
                    Array::try_from(ebpf.map_mut("LAB_TEMPLATE").ok_or_else(|| anyhow!("LAB_TEMPLATE missing"))?)?;
                m.set(0, tmpl, 0)?;
            }
            let md = XdpMd::for_frame(f.len(), ifindex);
            let ctx = md.as_bytes();
            let generator: &Xdp = ebpf.program("lab_gen").ok_or_else(|| anyhow!("lab_gen missing"))?.try_into()?;
            generator
                .test_run(TestRunOptions {
                    data_in: Some(f),
                    ctx_in: Some(ctx),
                    repeat: REPEAT,
                    attrs: TestRunAttrs::new().xdp_live_frames(BATCH),
                    ..Default::default()
                })
                .context("BPF_PROG_RUN live frames")?;
            sent += REPEAT as u64;
        }
        let wall = t.elapsed().as_secs_f64();
        // Let the last frames come back.
        std::thread::sleep(Duration::from_millis(100));
        let replies = read_count(&ebpf)? - c0;
        Ok(Rates { sent_per_s: sent as f64 / wall, replies_per_s: replies as f64 / wall })
    })?
}
