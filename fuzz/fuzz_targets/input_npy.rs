//! The `.npy` parser of `lid estimate` on arbitrary bytes: it may refuse them, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lid_experiments::input::parse_npy(data, std::path::Path::new("fuzz.npy"));
});
