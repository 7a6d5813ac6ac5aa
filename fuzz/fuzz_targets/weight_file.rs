//! lid-train's safetensors weight reader (`lid_train::params::WeightFile::read`, used for
//! checkpoints and pretrained weights) on arbitrary bytes: tensors converted to f32 with as many
//! values as their shape says, or an error naming the file, never a panic or an allocation of what
//! a corrupt header announces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = base.join(format!("lid-fuzz-weights-{}.safetensors", std::process::id()));
    std::fs::write(&path, data).expect("scratch file");
    match lid_train::params::WeightFile::read(std::slice::from_ref(&path)) {
        Ok(mut weights) => {
            let names: Vec<String> = weights.names().cloned().collect();
            for name in names {
                if let Some((shape, values)) = weights.take(&name) {
                    assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("lid-fuzz-weights"), "{e}"),
    }
});
