//! The lab generator's frame (m-root-ebpf's lab programs, bench and the lab tests).

/// Largest frame the lab generator sends.
pub const LAB_TEMPLATE_MAX: usize = 1536;

/// The lab generator's frame.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LabTemplate {
    pub len: u32,
    pub reserved: u32,
    pub data: [u8; LAB_TEMPLATE_MAX],
}
