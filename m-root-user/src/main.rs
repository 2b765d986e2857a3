fn main() {
    static OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/m-root"));
    let mut ebpf = aya::Ebpf::load(OBJ).expect("load");
    let p: &mut aya::programs::Xdp = ebpf.program_mut("m_root").unwrap().try_into().unwrap();
    match p.load() {
        Ok(()) => println!("loaded; verified insns {:?}", p.info().ok().and_then(|i| i.verified_instruction_count())),
        Err(e) => { println!("load failed: {e:?}"); }
    }
}
