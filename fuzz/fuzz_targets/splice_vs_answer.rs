//! The userspace fast table against the answer function: for any bytes the table answers (the queries
//! the XDP programs cover), its spliced response is the answer function's UDP response byte for byte,
//! under the default configuration and the deployed one (NSID and CHAOS on; the table covers neither, so
//! the configuration must not change what it takes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use m_root_fuzz::{configs, fast, root};
use zonegen::answer::{self, Transport};

fuzz_target!(|msg: &[u8]| {
    let Some(got) = fast().answer_udp(msg) else { return };
    for cfg in configs() {
        let want = answer::answer(root(), cfg, msg, Transport::Udp);
        assert_eq!(Some(&got), want.as_ref(), "fast table vs answer function ({cfg:?}) for {msg:02x?}");
    }
});
