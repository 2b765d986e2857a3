//! m-root-xdp userspace: runs the XDP program (`dataplane`), serves what it passes up (`server`),
//! answers operators (`control`), and drives labs (`lab`, `frame`).

pub mod control;
pub mod dataplane;
pub mod frame;
pub mod lab;
pub mod server;
