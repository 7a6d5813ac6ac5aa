//! Tokenisation with the `tokenizers` crate.
//!
//! The padding and truncation stored in a `tokenizer.json` are always overridden: no padding (batches
//! are padded by the extractor, and padding is never stored), truncation to `max_length` tokens
//! including the special tokens the post-processor adds (as `transformers` does with
//! `truncation=True, max_length=...`; the paper uses 512).

use std::collections::HashSet;
use std::path::Path;

use tokenizers::{PostProcessor, Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// One tokenised sequence: ids, token strings, and which positions are special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, special tokens included, at most `max_length` of them.
    pub ids: Vec<u32>,
    /// Token strings as the tokenizer's vocabulary spells them (`convert_ids_to_tokens`).
    pub tokens: Vec<String>,
    /// True where the token is special (added by the post-processor or a special added token).
    pub special: Vec<bool>,
    /// Whether the text was cut at `max_length`.
    pub truncated: bool,
    /// Byte offsets `(start, end)` of each token in the text (`(0, 0)` for added special tokens).
    pub offsets: Vec<(usize, usize)>,
}

/// A tokenizer with the extraction's padding/truncation settings applied.
pub struct TextTokenizer {
    inner: Tokenizer,
    max_length: usize,
    special_ids: HashSet<u32>,
}

impl TextTokenizer {
    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
                what: "tokenizer.json is needed to tokenise the corpus".into(),
            });
        }
        // Invalid JSON (a truncated file) gets serde_json's located message, and never reaches
        // the tokenizers deserialisers that panic on some malformed files (see `without_panic`).
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&text) {
            return Err(Error::Tokenizer(format!(
                "cannot load {}: not valid JSON: {e}",
                path.display()
            )));
        }
        let inner = without_panic(|| Tokenizer::from_file(path))
            .map_err(|e| Error::Tokenizer(format!("cannot load {}: {e}", path.display())))?;
        Self::new(inner, max_length).map_err(|e| match e {
            Error::Tokenizer(message) => {
                Error::Tokenizer(format!("cannot load {}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Wraps a tokenizer, overriding its padding and truncation.
    pub fn new(mut inner: Tokenizer, max_length: usize) -> Result<Self> {
        if max_length == 0 {
            return Err(Error::InvalidOption {
                option: "max-length",
                reason: "must be at least 1".into(),
            });
        }
        // tokenizers 0.22 truncates the text to `max_length` minus the special tokens its
        // post-processor adds, in unchecked `usize` arithmetic: a limit below that count wraps
        // around to "no limit", and every sequence was embedded whole while the manifest said
        // `max_length: 1` (issue 22). Such a limit is refused here; every encoding is checked
        // against the limit in `encode_batch` as well.
        let added = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_length <= added {
            return Err(Error::InvalidOption {
                option: "max-length",
                reason: format!(
                    "{max_length} tokens cannot hold the {added} special tokens this tokenizer adds \
                     and one token of text: give at least {}",
                    added + 1
                ),
            });
        }
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(format!("cannot set truncation to {max_length}: {e}")))?;
        // tokenizers 0.22 accepts a `TemplateProcessing` post-processor whose template names a
        // special token missing from its `special_tokens` map, then panics on every encode ("no
        // entry found for key"; found by the `tokenizer_json` fuzz target). One trial encode
        // here turns that into an error at load time, before any corpus is read.
        without_panic(|| inner.encode("a", true))
            .map_err(|e| Error::Tokenizer(format!("it cannot encode a one-letter text: {e}")))?;
        let special_ids = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        Ok(Self {
            inner,
            max_length,
            special_ids,
        })
    }

    /// The truncation length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The largest token id the tokenizer can produce (its vocabulary with added tokens), or
    /// `None` for an empty vocabulary: a model whose embedding has no row for it cannot take this
    /// tokenizer's output.
    pub fn largest_id(&self) -> Option<u32> {
        self.inner.get_vocab(true).into_values().max()
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Tokenises a batch of texts (with the special tokens of the model's post-processor).
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Encoded>> {
        let encodings = without_panic(|| self.inner.encode_batch(texts.to_vec(), true))
            .map_err(Error::Tokenizer)?;
        if let Some(long) = encodings
            .iter()
            .find(|e| e.get_ids().len() > self.max_length)
        {
            return Err(Error::Tokenizer(format!(
                "an encoding of {} tokens exceeds the truncation length {}: the tokenizer did not \
                 truncate (its post-processor is not supported)",
                long.get_ids().len(),
                self.max_length
            )));
        }
        Ok(encodings
            .into_iter()
            .map(|enc| {
                let ids = enc.get_ids().to_vec();
                let special = enc
                    .get_special_tokens_mask()
                    .iter()
                    .zip(&ids)
                    .map(|(&m, id)| m == 1 || self.special_ids.contains(id))
                    .collect();
                Encoded {
                    offsets: enc.get_offsets().to_vec(),
                    tokens: enc.get_tokens().to_vec(),
                    truncated: !enc.get_overflowing().is_empty(),
                    special,
                    ids,
                }
            })
            .collect())
    }
}

/// Runs a `tokenizers` call that can panic on malformed input and turns the panic into an error
/// message: tokenizers 0.22 deserialises some parts of `tokenizer.json` with `expect` (a malformed
/// `decoder` object panics in `decoders/mod.rs`) and indexes a post-processor's special-token map
/// without checking (both found by the `tokenizer_json` fuzz target, see docs/fuzzing.md). The panic message is still printed by the default panic hook (a process-wide
/// setting this library does not change), followed by the error.
fn without_panic<T, E: std::fmt::Display>(
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Err(format!(
                "the tokenizers library failed on this file ({message}); the file is malformed"
            ))
        }
    }
}

/// Builds a `tokenizers` tokenizer from the vocabulary stored in a GGUF file (byte-level BPE,
/// `tokenizer.ggml.model = gpt2`), for GGUF models shipped without a `tokenizer.json`.
///
/// Supported pre-tokenizers (`tokenizer.ggml.pre`): `smollm` (single digits, then byte-level, as
/// SmolLM2's `tokenizer.json`), `gpt2` and `default` (byte-level). Control and user-defined tokens
/// become special added tokens; `tokenizer.ggml.add_bos_token` adds the bos token in front. Anything
/// else is an error suggesting an explicit `tokenizer.json`.
pub fn tokenizer_from_gguf(path: &Path) -> Result<Tokenizer> {
    use candle_core::quantized::gguf_file;
    use serde_json::{json, Value};

    if path.is_dir() {
        // A model directory without its tokenizer.json reaches here; "not a readable GGUF file:
        // Is a directory" named the wrong problem (issue 22).
        return Err(Error::MissingFile {
            path: path.join("tokenizer.json"),
            what: "the tokenizer of this model directory (only a .gguf file can build its \
                   tokenizer from its own vocabulary)"
                .into(),
        });
    }
    crate::gguf::check_file(path)?;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: format!("not a readable GGUF file: {e}"),
    })?;
    let md = &content.metadata;
    let text = |key: &str| md.get(key).and_then(|v| v.to_string().ok()).cloned();
    let strings = |key: &str| -> Result<Vec<String>> {
        let values = md.get(key).and_then(|v| v.to_vec().ok()).ok_or_else(|| {
            Error::Tokenizer(format!("GGUF file {} has no {key}", path.display()))
        })?;
        values
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|e| Error::Tokenizer(format!("{key}: {e}")))
            })
            .collect()
    };
    let hint = "pass a tokenizer.json instead";
    let model = text("tokenizer.ggml.model").unwrap_or_default();
    if model != "gpt2" {
        return Err(Error::Tokenizer(format!(
            "GGUF tokenizer model {model:?} is not supported (only byte-level BPE \"gpt2\"); {hint}"
        )));
    }
    let pre = text("tokenizer.ggml.pre").unwrap_or_else(|| "default".into());
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match pre.as_str() {
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level.clone()]}),
        "gpt2" | "default" => byte_level.clone(),
        other => {
            return Err(Error::Tokenizer(format!(
                "GGUF pre-tokenizer {other:?} is not supported (smollm, gpt2, default); {hint}"
            )))
        }
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges: Vec<Value> = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(Value::String)
        .collect();
    let types: Vec<i64> = md
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|vs| {
            vs.iter()
                .map(|v| v.to_i32().map(i64::from).unwrap_or(1))
                .collect()
        })
        .unwrap_or_default();
    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(types.get(*i), Some(3) | Some(4)))
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                             "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let add_bos = md
        .get("tokenizer.ggml.add_bos_token")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    let bos = md
        .get("tokenizer.ggml.bos_token_id")
        .and_then(|v| v.to_u32().ok());
    let post_processor = match (add_bos, bos) {
        (true, Some(id)) => {
            let bos_text = tokens.get(id as usize).cloned().unwrap_or_default();
            json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_text, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos_text.clone(): {"id": bos_text, "ids": [id], "tokens": [bos_text]}}})
        }
        _ => Value::Null,
    };
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges},
    });
    without_panic(|| spec.to_string().parse::<Tokenizer>()).map_err(|e| {
        Error::Tokenizer(format!(
            "cannot build the tokenizer from {}: {e}",
            path.display()
        ))
    })
}
