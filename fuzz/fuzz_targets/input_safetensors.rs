//! The safetensors parser of `lid estimate` on arbitrary bytes: it may refuse them, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.safetensors");
    let _ = lid_experiments::input::parse_safetensors(data, None, path);
    let _ = lid_experiments::input::parse_safetensors(data, Some("x"), path);
});
