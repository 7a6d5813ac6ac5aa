//! The `.npy` reader of `lid estimate` / `lid knn` on arbitrary bytes: it may refuse them (with an
//! error that names the file), never panic; what it accepts is a valid cloud of the announced shape.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The CLI's reader, compiled from its own source (see fuzz/Cargo.toml for why not as a dependency).
#[allow(dead_code)]
#[path = "../../lid-experiments/src/cli/input.rs"]
mod input;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.npy");
    match input::parse_npy(data, path) {
        Ok((cloud, info)) => {
            assert_eq!((cloud.n_points(), cloud.dim()), (info.n_points, info.dim));
            assert!(cloud.as_slice().iter().all(|x| x.is_finite()));
        }
        Err(e) => assert!(e.to_string().contains("fuzz.npy"), "{e}"),
    }
});
