//! GGUF model files (`lid embed --model x.gguf`) on arbitrary bytes: the structural check of
//! `lid_embed::gguf` must refuse what it cannot vouch for with an error, never panic or allocate
//! what a corrupt header announces; a file it accepts is handed to the real readers (candle's GGUF
//! reader through `load_model`, and the GGUF tokenizer builder), which must then fail cleanly or
//! succeed, never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if lid_embed::gguf::check_bytes(data).is_err() {
        return;
    }
    let dir = scratch_dir();
    let path = dir.join("fuzz.gguf");
    std::fs::write(&path, data).expect("scratch file");
    if let Err(e) = lid_embed::load_model(&path, &candle_core::Device::Cpu) {
        assert!(e.to_string().contains("fuzz.gguf") || !e.to_string().is_empty());
    }
    // tokenizers may panic on odd vocabularies; `tokenizer_from_gguf` catches it, so libfuzzer-sys's
    // abort-on-any-panic hook is silenced around the call (an escaping panic still aborts).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let _ = lid_embed::tokenize::tokenizer_from_gguf(&path);
    std::panic::set_hook(hook);
});

/// One scratch folder per process (in memory where /dev/shm exists).
fn scratch_dir() -> std::path::PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("lid-fuzz-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
