//! A byte stream as a cache would send it, through the decoder and a
//! client: `sluice_rpki::replay` says what must hold.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_rpki::replay::replay(data);
});
