//! The `lab-*` commands of `m-root-xdp`: inject one query as a NIC delivers it and print the answer
//! (`lab-query`), keep a pass-through XDP program on an interface (`lab-pass`).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use zonegen::testkit::print;
use zonegen::{name, rr, wire};

use super::{Injection, Injector};
use crate::frame;

/// `lab-query`: what to ask, and where.
#[derive(clap::Args)]
pub struct QueryArgs {
    /// Client interface to inject on (in this network namespace).
    #[arg(long)]
    iface: String,
    /// Server's MAC address.
    #[arg(long)]
    dst_mac: String,
    /// Our (client) address.
    #[arg(long)]
    src: IpAddr,
    /// Server address.
    #[arg(long)]
    dst: IpAddr,
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// VLAN IDs to tag with, outermost first (802.1ad outer when two).
    #[arg(long = "vlan")]
    vlans: Vec<u16>,
    qname: String,
    #[arg(default_value = "A")]
    qtype: String,
    #[arg(long = "do")]
    dnssec_ok: bool,
    /// EDNS buffer size (EDNS is sent when this or --do is given).
    #[arg(long)]
    bufsize: Option<u16>,
    /// Print the answer as hex instead of dig-like text.
    #[arg(long)]
    hex: bool,
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Query ID (random when absent).
    #[arg(long)]
    id: Option<u16>,
}

/// `lab-query`: build the query, inject it, print the answer.
pub fn query(a: QueryArgs) -> Result<()> {
    let qn = name::from_text(&a.qname).map_err(|e| anyhow!("bad name: {e}"))?;
    let qt = rr::type_from_name(&a.qtype).ok_or_else(|| anyhow!("unknown type {}", a.qtype))?;
    let edns = (a.dnssec_ok || a.bufsize.is_some()).then(|| (a.bufsize.unwrap_or(1232), a.dnssec_ok));
    let id = a.id.unwrap_or_else(|| {
        (std::process::id() as u16)
            ^ (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()) as u16)
    });
    let msg = wire::build_query(id, 0, &qn, qt, rr::CLASS_IN, edns);
    let vlans = match a.vlans.as_slice() {
        [] => vec![],
        [v] => vec![(0x8100, *v)],
        [o, i] => vec![(0x88a8, *o), (0x8100, *i)],
        _ => bail!("at most two VLAN tags"),
    };
    let how = Injection {
        iface: a.iface.clone(),
        dst_mac: frame::parse_mac(&a.dst_mac)?,
        vlans,
        src: a.src,
        dst: a.dst,
        dport: a.port,
        timeout: Duration::from_millis(a.timeout_ms),
    };
    let inj = Injector::new(&a.iface)?;
    let resp = super::query(&inj, &how, &msg)?;
    if a.hex {
        println!("{}", resp.iter().map(|b| format!("{b:02x}")).collect::<String>());
    } else {
        print!("{}", print::to_text(&resp));
    }
    Ok(())
}

/// `lab-pass`: attach the pass-through program to `iface`, its link pinned at `pin` under the pin root.
pub fn pass(iface: &str, pin: &Path) -> Result<()> {
    super::attach_pass(iface, &crate::dataplane::pin_root()?.join(pin))
}
