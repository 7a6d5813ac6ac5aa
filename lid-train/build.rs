//! Enables the AVX-512 kernels of `kernels::ordered` (cfg `lid_avx512`) when the compiler has the
//! AVX-512 intrinsics (stable since Rust 1.89); older compilers, down to the crate's MSRV, build
//! the AVX2 kernels only.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lid_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| {
            // "rustc 1.95.0 (...)"
            let version = v.split_whitespace().nth(1)?.to_owned();
            let mut parts = version.split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            (major == 1).then_some(minor)
        });
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=lid_avx512");
    }
}
