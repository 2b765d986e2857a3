//! m-root-xdp userspace: loads and attaches the kernel programs and fills their table (`dataplane`, as
//! `deploy` plans it and `txwatch` watches it), serves what they pass up (`server`), holds the zone and
//! reloads it (`daemon`), answers operators (`control`), reports counters (`observe`), hands the kernel
//! programs to a successor (`takeover`), tells its routers when it can serve (`anycast`, which asks the
//! kernel about interfaces through `netlink`), and drives labs (`lab`, `frame`).

pub mod anycast;
pub mod caps;
pub mod cli;
pub mod config;
pub mod control;
pub mod cookies;
pub mod daemon;
pub mod dataplane;
pub mod deploy;
pub mod ethtool;
pub mod frame;
pub mod lab;
pub mod limits;
pub mod manual;
pub mod netlink;
pub mod observe;
pub mod secondary;
pub mod server;
pub mod takeover;
pub mod txwatch;
