//! Loading a model from a local directory (`config.json`, `model.safetensors` or a sharded
//! `model.safetensors.index.json`, `tokenizer.json`) or from a `.gguf` file. No hub access.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::error::{Error, Result};
use crate::filter::SpecialIds;
use crate::models::{bert, gpt2, llama, quantized_llama, HiddenStateModel};

/// The architectures this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Architecture {
    /// BERT and BERT-shaped encoders (MiniLM).
    Bert,
    /// RoBERTa.
    Roberta,
    /// GPT-2.
    Gpt2,
    /// Llama family from safetensors (`llama`, `mistral`, `qwen2`).
    Llama,
    /// Llama architecture from a quantized GGUF file.
    QuantizedLlama,
}

/// How long a sequence the model can take, as read from its configuration at load time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PositionLimit {
    /// Learned position embeddings (BERT, RoBERTa, GPT-2) or an unimplemented sliding window: a
    /// longer sequence cannot be run at all.
    Hard {
        /// Longest sequence in tokens, special tokens included.
        max_tokens: usize,
        /// Where the number comes from, for messages (`n_positions = 1024 in config.json`).
        source: String,
    },
    /// Rotary positions (Llama family, GGUF): longer sequences run, but the model was trained up
    /// to this length only.
    Trained {
        /// The trained length in tokens.
        max_tokens: usize,
        /// Where the number comes from, for messages.
        source: String,
    },
    /// The configuration states no limit.
    Unknown,
}

/// A loaded model with what extraction needs to know about it.
pub struct LoadedModel {
    /// The forward pass.
    pub model: Box<dyn HiddenStateModel>,
    /// Which implementation runs it.
    pub architecture: Architecture,
    /// Special token ids from the config (used by the token filter and for padding).
    pub special: SpecialIds,
    /// The tokenizer.json found next to the weights, if any.
    pub tokenizer_path: Option<PathBuf>,
    /// The model path as given.
    pub path: PathBuf,
    /// The device the weights live on.
    pub device: Device,
    /// The longest sequence the model takes (see [`LoadedModel::check_max_length`]).
    pub position_limit: PositionLimit,
    /// Rows of the token embedding (`vocab_size` in config.json; `None` for a GGUF file, whose
    /// tokenizer is read from the same file); see [`LoadedModel::check_tokenizer`].
    pub vocab_size: Option<usize>,
}

impl LoadedModel {
    /// The id used to pad batches: the pad id, else the first eos id, else 0. Padded positions are
    /// masked and never stored, so the choice only matters for RoBERTa's position ids (pad id).
    pub fn padding_id(&self) -> u32 {
        self.special
            .pad
            .or_else(|| self.special.eos.first().copied())
            .unwrap_or(0)
    }

    /// Checks a truncation length (the `--max-length` flag of `lid embed`) against
    /// [`LoadedModel::position_limit`], so that a too-long setting fails at load time and not when
    /// a long sequence reaches the model hours into a corpus. Returns a warning to show the user
    /// when the length exceeds a rotary model's trained length (allowed, but outside what the model
    /// saw in training).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for `max-length` when it exceeds a hard limit; the message names the
    /// limit, where it comes from and the value to pass instead.
    pub fn check_max_length(&self, max_length: usize) -> Result<Option<String>> {
        match &self.position_limit {
            PositionLimit::Hard { max_tokens, source } if max_length > *max_tokens => {
                Err(Error::InvalidOption {
                    option: "max-length",
                    reason: format!(
                        "{max_length} tokens is more than model {} can take: it has {max_tokens} \
                         positions ({source}); pass --max-length {max_tokens} or less",
                        self.path.display()
                    ),
                })
            }
            PositionLimit::Trained { max_tokens, source } if max_length > *max_tokens => {
                Ok(Some(format!(
                    "--max-length {max_length} exceeds the length model {} was trained on \
                     ({max_tokens} tokens, {source}); rotary positions beyond it run, but the \
                     vectors of later tokens come from positions the model never saw",
                    self.path.display()
                )))
            }
            _ => Ok(None),
        }
    }

    /// Checks that every id `tokenizer` can produce has a row in the model's token embedding, so
    /// that a tokenizer of another model is refused before any folder is written, instead of
    /// failing in the embedding lookup of the first batch that holds a large id.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for `tokenizer`, naming both sizes.
    pub fn check_tokenizer(&self, tokenizer: &crate::tokenize::TextTokenizer) -> Result<()> {
        match (self.vocab_size, tokenizer.largest_id()) {
            (Some(rows), Some(id)) if id as usize >= rows => Err(Error::InvalidOption {
                option: "tokenizer",
                reason: format!(
                    "it produces token ids up to {id}, but model {} embeds {rows} tokens \
                     (vocab_size in config.json): the tokenizer belongs to another model; use the \
                     tokenizer.json saved with this model",
                    self.path.display()
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// The position limit of a BERT or RoBERTa configuration (RoBERTa numbers positions from
/// `pad_token_id + 1`, so it has `pad_token_id + 1` fewer usable positions).
fn encoder_position_limit(cfg: &bert::Config, roberta: bool) -> PositionLimit {
    let n = cfg.max_position_embeddings;
    if roberta {
        let offset = cfg.pad_token_id.unwrap_or(1) as usize + 1;
        PositionLimit::Hard {
            max_tokens: n.saturating_sub(offset),
            source: format!(
                "max_position_embeddings = {n} in config.json, minus {offset} because RoBERTa \
                 positions start at pad_token_id + 1"
            ),
        }
    } else {
        PositionLimit::Hard {
            max_tokens: n,
            source: format!("max_position_embeddings = {n} in config.json"),
        }
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn parse_config<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    path: &Path,
) -> Result<T> {
    T::deserialize(value).map_err(|e| {
        // A value-level error has no position; parsing the text again gives one (line, column).
        let located = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<T>(&text).err());
        Error::Parse {
            path: path.to_path_buf(),
            message: located.map_or_else(|| e.to_string(), |l| l.to_string()),
        }
    })
}

/// The safetensors files of a model directory: `model.safetensors`, or the shards named by
/// `model.safetensors.index.json`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let value = read_json(&index)?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Parse {
                path: index.clone(),
                message: "no weight_map object".into(),
            })?;
        let files: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        let paths: Vec<PathBuf> = files.into_iter().map(|f| dir.join(f)).collect();
        if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
            return Err(Error::MissingFile {
                path: missing.clone(),
                what: format!("shard listed in {}", index.display()),
            });
        }
        return Ok(paths);
    }
    Err(Error::MissingFile {
        path: single,
        what: "model weights (model.safetensors or model.safetensors.index.json); .bin files are not supported".into(),
    })
}

/// Loads a model from a directory or a `.gguf` file onto `device`, weights in f32 (quantized
/// weights stay quantized).
pub fn load_model(path: &Path, device: &Device) -> Result<LoadedModel> {
    if path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return load_gguf(path, device);
    }
    if !path.is_dir() {
        return Err(Error::MissingFile {
            path: path.to_path_buf(),
            what: "expected a model directory (config.json, model.safetensors, tokenizer.json) or a .gguf file".into(),
        });
    }
    let config_path = path.join("config.json");
    if !config_path.is_file() {
        return Err(Error::MissingFile {
            path: config_path,
            what: "model configuration".into(),
        });
    }
    let value = read_json(&config_path)?;
    let model_type = value
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let files = weight_files(path)?;
    // SAFETY: the files are memory-mapped read-only; candle's documented requirement is that they are
    // not modified while mapped, which holds for model files we only read.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, device)? };
    let (model, architecture, special, position_limit): (Box<dyn HiddenStateModel>, _, _, _) =
        match model_type.as_str() {
            "bert" | "roberta" => {
                let cfg: bert::Config = parse_config(&value, &config_path)?;
                let special = SpecialIds {
                    bos: cfg.bos_token_id,
                    eos: cfg.eos_token_id.into_iter().collect(),
                    pad: cfg.pad_token_id,
                };
                let limit = encoder_position_limit(&cfg, model_type == "roberta");
                if model_type == "bert" {
                    // BERT configs carry no bos/eos in the sense of the paper's filter ([CLS]/[SEP] kept).
                    let special = SpecialIds {
                        bos: None,
                        eos: Vec::new(),
                        pad: special.pad.or(Some(0)),
                    };
                    (
                        Box::new(bert::Bert::load(vb, &cfg)?),
                        Architecture::Bert,
                        special,
                        limit,
                    )
                } else {
                    let special = SpecialIds {
                        pad: special.pad.or(Some(1)),
                        ..special
                    };
                    (
                        Box::new(crate::models::roberta::Roberta::load(vb, &cfg)?),
                        Architecture::Roberta,
                        special,
                        limit,
                    )
                }
            }
            "gpt2" => {
                let cfg: gpt2::Config = parse_config(&value, &config_path)?;
                let special = SpecialIds {
                    bos: cfg.bos_token_id,
                    eos: cfg.eos_token_id.into_iter().collect(),
                    pad: cfg.pad_token_id,
                };
                let limit = PositionLimit::Hard {
                    max_tokens: cfg.n_positions,
                    source: format!("n_positions = {} in config.json", cfg.n_positions),
                };
                (
                    Box::new(gpt2::Gpt2::load(vb, &cfg)?),
                    Architecture::Gpt2,
                    special,
                    limit,
                )
            }
            "llama" | "mistral" | "qwen2" => {
                let cfg: llama::Config = parse_config(&value, &config_path)?;
                let special = SpecialIds {
                    bos: cfg
                        .bos_token_id
                        .as_ref()
                        .and_then(|b| b.to_vec().first().copied()),
                    eos: cfg
                        .eos_token_id
                        .as_ref()
                        .map(|e| e.to_vec())
                        .unwrap_or_default(),
                    pad: cfg
                        .pad_token_id
                        .as_ref()
                        .and_then(|p| p.to_vec().first().copied()),
                };
                let limit = match (cfg.sliding_window, cfg.max_position_embeddings) {
                    (Some(window), _) => PositionLimit::Hard {
                        max_tokens: window,
                        source: format!(
                            "sliding_window = {window} in config.json; sliding-window attention \
                             is not implemented"
                        ),
                    },
                    (None, Some(n)) => PositionLimit::Trained {
                        max_tokens: n,
                        source: format!("max_position_embeddings = {n} in config.json"),
                    },
                    (None, None) => PositionLimit::Unknown,
                };
                (
                    Box::new(llama::Llama::load(vb, &cfg)?),
                    Architecture::Llama,
                    special,
                    limit,
                )
            }
            _ => {
                return Err(Error::UnknownModelType {
                    model_type,
                    path: config_path,
                })
            }
        };
    let tokenizer = path.join("tokenizer.json");
    let vocab_size = value
        .get("vocab_size")
        .and_then(serde_json::Value::as_u64)
        .map(|v| v as usize);
    Ok(LoadedModel {
        vocab_size,
        model,
        architecture,
        special,
        tokenizer_path: tokenizer.is_file().then_some(tokenizer),
        path: path.to_path_buf(),
        device: device.clone(),
        position_limit,
    })
}

fn load_gguf(path: &Path, device: &Device) -> Result<LoadedModel> {
    let model = quantized_llama::QuantizedLlama::load(path, device)?;
    let cfg = model.config();
    let special = SpecialIds {
        bos: cfg.bos_token_id,
        eos: cfg.eos_token_id.into_iter().collect(),
        pad: cfg.pad_token_id,
    };
    let sibling = path.with_file_name("tokenizer.json");
    let position_limit = match cfg.context_length {
        Some(n) => PositionLimit::Trained {
            max_tokens: n,
            source: format!("llama.context_length = {n} in the GGUF metadata"),
        },
        None => PositionLimit::Unknown,
    };
    Ok(LoadedModel {
        vocab_size: None,
        model: Box::new(model),
        architecture: Architecture::QuantizedLlama,
        special,
        tokenizer_path: sibling.is_file().then_some(sibling),
        path: path.to_path_buf(),
        device: device.clone(),
        position_limit,
    })
}
