//! `tokenizer.json` (`lid embed --tokenizer`, or the one next to a model) on arbitrary bytes:
//! loading must give a tokenizer or an error naming the file, never panic; a tokenizer that loads
//! must encode a few texts (with truncation) without panicking.
//!
//! tokenizers 0.22 panics on some malformed files (a `decoder` it cannot parse, even a file cut
//! off after `"decoder":`); `TextTokenizer::from_file` catches that panic and returns an error (the
//! first finding of this target). libfuzzer-sys's panic hook aborts on *every* panic, caught or
//! not, so the hook is silenced around the load: a panic that escapes `from_file` still reaches
//! libfuzzer-sys's own `catch_unwind` and counts as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = base.join(format!("lid-fuzz-tokenizer-{}.json", std::process::id()));
    std::fs::write(&path, data).expect("scratch file");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loaded = lid_embed::TextTokenizer::from_file(&path, 16);
    std::panic::set_hook(hook);
    match loaded {
        Ok(tokenizer) => {
            if let Ok(encoded) = tokenizer.encode_batch(&["hello there", "", "ünïcödé 🙂 text"]) {
                for e in encoded {
                    assert!(e.ids.len() <= 16, "truncation to 16 tokens");
                    assert_eq!(e.ids.len(), e.tokens.len());
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("lid-fuzz-tokenizer"), "{e}"),
    }
});
