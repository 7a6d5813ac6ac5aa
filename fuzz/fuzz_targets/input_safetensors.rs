//! The safetensors reader of `lid estimate` / `lid knn` on arbitrary bytes: it may refuse them (with
//! an error that names the file), never panic; what it accepts is a valid cloud of the announced
//! shape. Tried with no tensor name, a name that is absent, and every name the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The CLI's reader, compiled from its own source (see fuzz/Cargo.toml for why not as a dependency).
#[allow(dead_code)]
#[path = "../../lid-experiments/src/cli/input.rs"]
mod input;

fn check(data: &[u8], tensor: Option<&str>) {
    let path = std::path::Path::new("fuzz.safetensors");
    match input::parse_safetensors(data, tensor, path) {
        Ok((cloud, info)) => {
            assert_eq!((cloud.n_points(), cloud.dim()), (info.n_points, info.dim));
            assert!(cloud.as_slice().iter().all(|x| x.is_finite()));
        }
        Err(e) => assert!(e.to_string().contains("fuzz.safetensors"), "{e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, None);
    check(data, Some("\u{0}absent"));
    if let Ok(file) = safetensors::SafeTensors::deserialize(data) {
        for name in file.names() {
            check(data, Some(name));
        }
    }
});
