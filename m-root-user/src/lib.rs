//! m-root-xdp userspace: runs the XDP program (`dataplane`), serves what it passes up (`server`),
//! answers operators (`control`), and drives labs (`lab`, `frame`).

pub mod config;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod deploy;
pub mod ethtool;
pub mod frame;
pub mod kstats;
pub mod lab;
pub mod server;
pub mod txwatch;
