//! Building a [`Model`] from a Hugging Face directory or a GGUF file, or from a seeded
//! initialisation, with the parameter names of each family.
//!
//! `config.json` is parsed with lid-embed's config types (the same reading as inference); the
//! training-only keys (dropout probabilities, `tie_word_embeddings`, `initializer_range`,
//! `num_labels`) are read from the same JSON. A GGUF file is dequantised to f32 by lid-embed
//! ([`lid_embed::export`]), with llama.cpp's query/key row permutation undone, so the model trains
//! in exactly the f32 form `transformers` would load.

use std::path::{Path, PathBuf};

use lid_embed::models::{bert, gpt2, llama};
use lid_embed::SpecialIds;

use super::spec::{DropoutRates, Family, Positions, Spec};
use super::{EmbeddingParams, Init, LayerParams, Layout, Linear, Model, ParamSource, Transformer};
use crate::error::{Error, Result};
use crate::kernels::norm::NormKind;
use crate::params::{ParamKind, ParamStore, WeightFile};

/// A model read from disk, with what is needed to attach a head and tokenise.
pub struct LoadedModel {
    /// The backbone, parameters loaded.
    pub model: Model,
    /// Tensors of the checkpoint not used by the backbone (task heads take theirs from here).
    pub weights: WeightFile,
    /// Special token ids (for padding, filters and MLM masking).
    pub special: SpecialIds,
    /// `tokenizer.json` next to the weights, when present (for GGUF: written next to nothing;
    /// use [`lid_embed::tokenize::tokenizer_from_gguf`]).
    pub tokenizer: Option<PathBuf>,
    /// The path given.
    pub path: PathBuf,
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })
}

fn parse<T: serde::de::DeserializeOwned>(value: &serde_json::Value, path: &Path) -> Result<T> {
    T::deserialize(value).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn f32_key(value: &serde_json::Value, key: &str, default: f32) -> f32 {
    value
        .get(key)
        .and_then(|v| v.as_f64())
        .map_or(default, |v| v as f32)
}

/// The backbone spec and special ids of a `config.json`.
///
/// # Errors
/// An unknown `model_type`, or a configuration lid-embed rejects.
pub fn spec_from_config(value: &serde_json::Value, path: &Path) -> Result<(Spec, SpecialIds)> {
    let model_type = value
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    match model_type {
        "bert" | "roberta" => {
            let cfg: bert::Config = parse(value, path)?;
            cfg.validate()?;
            let roberta = model_type == "roberta";
            let head_dim = cfg.hidden_size / cfg.num_attention_heads;
            let pad = cfg.pad_token_id.unwrap_or(if roberta { 1 } else { 0 });
            let spec = Spec {
                family: if roberta { Family::Roberta } else { Family::Bert },
                vocab: cfg.vocab_size,
                hidden: cfg.hidden_size,
                layers: cfg.num_hidden_layers,
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_attention_heads,
                head_dim,
                intermediate: cfg.intermediate_size,
                norm: NormKind::Layer,
                norm_eps: cfg.layer_norm_eps as f32,
                pre_norm: false,
                act: cfg.hidden_act.into(),
                gated: false,
                positions: Positions::Learned {
                    max: cfg.max_position_embeddings,
                    offset: if roberta { pad as usize + 1 } else { 0 },
                },
                token_types: cfg.type_vocab_size,
                embedding_norm: true,
                embedding_scale: 1.0,
                final_norm: false,
                causal: false,
                attn_scales: vec![1.0 / (head_dim as f32).sqrt(); cfg.num_hidden_layers],
                qkv_bias: true,
                out_bias: true,
                mlp_bias: true,
                dropout: DropoutRates {
                    embedding: f32_key(value, "hidden_dropout_prob", 0.1),
                    attention: f32_key(value, "attention_probs_dropout_prob", 0.1),
                    hidden: f32_key(value, "hidden_dropout_prob", 0.1),
                },
                pad_token_id: Some(pad),
            };
            let special = if roberta {
                SpecialIds {
                    bos: cfg.bos_token_id,
                    eos: cfg.eos_token_id.into_iter().collect(),
                    pad: Some(pad),
                }
            } else {
                SpecialIds {
                    bos: None,
                    eos: Vec::new(),
                    pad: Some(pad),
                }
            };
            Ok((spec, special))
        }
        "gpt2" => {
            let cfg: gpt2::Config = parse(value, path)?;
            if cfg.add_cross_attention {
                return Err(Error::Unsupported("GPT-2 with cross-attention".into()));
            }
            if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
                return Err(Error::Unsupported(format!("n_head {} does not divide n_embd {}", cfg.n_head, cfg.n_embd)));
            }
            let head_dim = cfg.n_embd / cfg.n_head;
            let scales = (0..cfg.n_layer)
                .map(|l| {
                    let mut s = if cfg.scale_attn_weights { 1.0 / (head_dim as f32).sqrt() } else { 1.0 };
                    if cfg.scale_attn_by_inverse_layer_idx {
                        s /= (l + 1) as f32;
                    }
                    s
                })
                .collect();
            let spec = Spec {
                family: Family::Gpt2,
                vocab: cfg.vocab_size,
                hidden: cfg.n_embd,
                layers: cfg.n_layer,
                heads: cfg.n_head,
                kv_heads: cfg.n_head,
                head_dim,
                intermediate: cfg.n_inner.unwrap_or(4 * cfg.n_embd),
                norm: NormKind::Layer,
                norm_eps: cfg.layer_norm_epsilon as f32,
                pre_norm: true,
                act: cfg.activation_function.into(),
                gated: false,
                positions: Positions::Learned {
                    max: cfg.n_positions,
                    offset: 0,
                },
                token_types: 0,
                embedding_norm: false,
                embedding_scale: 1.0,
                final_norm: true,
                causal: true,
                attn_scales: scales,
                qkv_bias: true,
                out_bias: true,
                mlp_bias: true,
                dropout: DropoutRates {
                    embedding: f32_key(value, "embd_pdrop", 0.1),
                    attention: f32_key(value, "attn_pdrop", 0.1),
                    hidden: f32_key(value, "resid_pdrop", 0.1),
                },
                pad_token_id: cfg.pad_token_id,
            };
            let special = SpecialIds {
                bos: cfg.bos_token_id,
                eos: cfg.eos_token_id.into_iter().collect(),
                pad: cfg.pad_token_id,
            };
            Ok((spec, special))
        }
        "llama" | "mistral" | "qwen2" => {
            let cfg: llama::Config = parse(value, path)?;
            cfg.validate()?;
            let (theta, scaling) = cfg.rope();
            let inv_freq = llama::inverse_frequencies(theta, cfg.head_dim(), scaling)?;
            let qkv_bias = cfg.attention_bias || model_type == "qwen2";
            let spec = Spec {
                family: Family::Llama,
                vocab: cfg.vocab_size,
                hidden: cfg.hidden_size,
                layers: cfg.num_hidden_layers,
                heads: cfg.num_attention_heads,
                kv_heads: cfg.kv_heads(),
                head_dim: cfg.head_dim(),
                intermediate: cfg.intermediate_size,
                norm: NormKind::Rms,
                norm_eps: cfg.rms_norm_eps as f32,
                pre_norm: true,
                act: cfg.hidden_act.into(),
                gated: true,
                positions: Positions::Rotary {
                    inv_freq,
                    trained_max: cfg.max_position_embeddings,
                },
                token_types: 0,
                embedding_norm: false,
                embedding_scale: 1.0,
                final_norm: true,
                causal: true,
                attn_scales: vec![1.0 / (cfg.head_dim() as f32).sqrt(); cfg.num_hidden_layers],
                qkv_bias,
                out_bias: cfg.attention_bias,
                mlp_bias: cfg.mlp_bias,
                dropout: DropoutRates {
                    embedding: 0.0,
                    attention: f32_key(value, "attention_dropout", 0.0),
                    hidden: 0.0,
                },
                pad_token_id: cfg.pad_token_id.as_ref().and_then(|p| p.to_vec().first().copied()),
            };
            let special = SpecialIds {
                bos: cfg.bos_token_id.as_ref().and_then(|b| b.to_vec().first().copied()),
                eos: cfg.eos_token_id.as_ref().map(|e| e.to_vec()).unwrap_or_default(),
                pad: spec.pad_token_id,
            };
            Ok((spec, special))
        }
        other => Err(Error::Unsupported(format!(
            "model_type {other:?} in {} (lid-train trains bert, roberta, gpt2, llama, mistral, qwen2)",
            path.display()
        ))),
    }
}

/// Registers the backbone parameters of `spec` (names of its family, see [`Family::prefix`])
/// from `source` and returns the structure.
///
/// # Errors
/// Missing weights (without an initialiser) or wrong shapes.
pub fn build_backbone(
    spec: &Spec,
    store: &mut ParamStore,
    source: &mut ParamSource<'_>,
) -> Result<Transformer> {
    let p = spec.family.prefix();
    let bare = |name: &str| -> Vec<String> {
        if p.is_empty() {
            Vec::new()
        } else {
            vec![name.to_string()]
        }
    };
    let (d, inter) = (spec.hidden, spec.intermediate);
    let (qw, kw) = (spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim);
    let names = Names::of(spec.family);
    let word_name = names.word;
    let word = source.param(
        store,
        &format!("{p}{word_name}"),
        &bare(word_name),
        &[spec.vocab, d],
        ParamKind::Weight,
        d,
        true,
    )?;
    let position = match (&spec.positions, names.position) {
        (Positions::Learned { max, .. }, Some(n)) => Some(source.param(
            store,
            &format!("{p}{n}"),
            &bare(n),
            &[*max, d],
            ParamKind::Weight,
            d,
            true,
        )?),
        _ => None,
    };
    let token_type = match (spec.token_types, names.token_type) {
        (t, Some(n)) if t > 0 => Some(source.param(
            store,
            &format!("{p}{n}"),
            &bare(n),
            &[t, d],
            ParamKind::Weight,
            d,
            true,
        )?),
        _ => None,
    };
    let emb_norm = match (spec.embedding_norm, names.embedding_norm) {
        (true, Some(n)) => Some(source.norm(store, &format!("{p}{n}"), &bare(n), d, spec.norm)?),
        _ => None,
    };
    let mut layers = Vec::with_capacity(spec.layers);
    for l in 0..spec.layers {
        let name = |template: &str| template.replace("{l}", &l.to_string());
        let full = |template: &str| format!("{p}{}", name(template));
        let alt = |template: &str| bare(&name(template));
        let layout = names.layout;
        let (q, k, v) = match names.qkv {
            Qkv::Split(qn, kn, vn) => (
                source.linear(store, &full(qn), &alt(qn), d, qw, spec.qkv_bias, layout)?,
                source.linear(store, &full(kn), &alt(kn), d, kw, spec.qkv_bias, layout)?,
                source.linear(store, &full(vn), &alt(vn), d, kw, spec.qkv_bias, layout)?,
            ),
            Qkv::Fused(n) => {
                let fused = source.linear(
                    store,
                    &full(n),
                    &alt(n),
                    d,
                    qw + 2 * kw,
                    spec.qkv_bias,
                    layout,
                )?;
                let slice = |r: std::ops::Range<usize>| Linear {
                    out_rows: r,
                    ..fused.clone()
                };
                (
                    slice(0..qw),
                    slice(qw..qw + kw),
                    slice(qw + kw..qw + 2 * kw),
                )
            }
        };
        let o = source.linear(
            store,
            &full(names.o),
            &alt(names.o),
            qw,
            d,
            spec.out_bias,
            layout,
        )?;
        let attn_norm = source.norm(
            store,
            &full(names.attn_norm),
            &alt(names.attn_norm),
            d,
            spec.norm,
        )?;
        let mlp_norm = source.norm(
            store,
            &full(names.mlp_norm),
            &alt(names.mlp_norm),
            d,
            spec.norm,
        )?;
        let gate = match names.gate {
            Some(g) if spec.gated => {
                Some(source.linear(store, &full(g), &alt(g), d, inter, spec.mlp_bias, layout)?)
            }
            _ => None,
        };
        let up = source.linear(
            store,
            &full(names.up),
            &alt(names.up),
            d,
            inter,
            spec.mlp_bias,
            layout,
        )?;
        let down = source.linear(
            store,
            &full(names.down),
            &alt(names.down),
            inter,
            d,
            spec.mlp_bias,
            layout,
        )?;
        layers.push(LayerParams {
            attn_norm,
            q,
            k,
            v,
            o,
            mlp_norm,
            up,
            gate,
            down,
        });
    }
    let final_norm = match (spec.final_norm, names.final_norm) {
        (true, Some(n)) => Some(source.norm(store, &format!("{p}{n}"), &bare(n), d, spec.norm)?),
        _ => None,
    };
    Ok(Transformer {
        spec: spec.clone(),
        embeddings: EmbeddingParams {
            word,
            position,
            token_type,
            norm: emb_norm,
        },
        layers,
        final_norm,
    })
}

enum Qkv {
    Split(&'static str, &'static str, &'static str),
    Fused(&'static str),
}

/// Weight names of a family (without the task prefix; `{l}` is the block index).
struct Names {
    word: &'static str,
    position: Option<&'static str>,
    token_type: Option<&'static str>,
    embedding_norm: Option<&'static str>,
    qkv: Qkv,
    o: &'static str,
    attn_norm: &'static str,
    mlp_norm: &'static str,
    up: &'static str,
    gate: Option<&'static str>,
    down: &'static str,
    final_norm: Option<&'static str>,
    layout: Layout,
}

impl Names {
    fn of(family: Family) -> Self {
        match family {
            Family::Bert | Family::Roberta => Self {
                word: "embeddings.word_embeddings.weight",
                position: Some("embeddings.position_embeddings.weight"),
                token_type: Some("embeddings.token_type_embeddings.weight"),
                embedding_norm: Some("embeddings.LayerNorm"),
                qkv: Qkv::Split(
                    "encoder.layer.{l}.attention.self.query",
                    "encoder.layer.{l}.attention.self.key",
                    "encoder.layer.{l}.attention.self.value",
                ),
                o: "encoder.layer.{l}.attention.output.dense",
                attn_norm: "encoder.layer.{l}.attention.output.LayerNorm",
                mlp_norm: "encoder.layer.{l}.output.LayerNorm",
                up: "encoder.layer.{l}.intermediate.dense",
                gate: None,
                down: "encoder.layer.{l}.output.dense",
                final_norm: None,
                layout: Layout::OutIn,
            },
            Family::Gpt2 => Self {
                word: "wte.weight",
                position: Some("wpe.weight"),
                token_type: None,
                embedding_norm: None,
                qkv: Qkv::Fused("h.{l}.attn.c_attn"),
                o: "h.{l}.attn.c_proj",
                attn_norm: "h.{l}.ln_1",
                mlp_norm: "h.{l}.ln_2",
                up: "h.{l}.mlp.c_fc",
                gate: None,
                down: "h.{l}.mlp.c_proj",
                final_norm: Some("ln_f"),
                layout: Layout::InOut,
            },
            Family::Llama => Self {
                word: "embed_tokens.weight",
                position: None,
                token_type: None,
                embedding_norm: None,
                qkv: Qkv::Split(
                    "layers.{l}.self_attn.q_proj",
                    "layers.{l}.self_attn.k_proj",
                    "layers.{l}.self_attn.v_proj",
                ),
                o: "layers.{l}.self_attn.o_proj",
                attn_norm: "layers.{l}.input_layernorm",
                mlp_norm: "layers.{l}.post_attention_layernorm",
                up: "layers.{l}.mlp.up_proj",
                gate: Some("layers.{l}.mlp.gate_proj"),
                down: "layers.{l}.mlp.down_proj",
                final_norm: Some("norm"),
                layout: Layout::OutIn,
            },
            Family::Grokking => Self {
                word: "tok.weight",
                position: Some("pos.weight"),
                token_type: None,
                embedding_norm: None,
                qkv: Qkv::Fused("blocks.{l}.qkv"),
                o: "blocks.{l}.out",
                attn_norm: "blocks.{l}.ln1",
                mlp_norm: "blocks.{l}.ln2",
                up: "blocks.{l}.ff1",
                gate: None,
                down: "blocks.{l}.ff2",
                final_norm: Some("ln_f"),
                layout: Layout::OutIn,
            },
        }
    }
}

/// Loads the backbone of a Hugging Face directory (`config.json`, `model.safetensors` or a sharded
/// index) or a `.gguf` file (dequantised to f32).
///
/// # Errors
/// Missing or corrupt files, unsupported configurations, missing weights, wrong shapes.
pub fn load_model(path: &Path) -> Result<LoadedModel> {
    let is_gguf = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    let (config, mut weights, tokenizer) = if is_gguf {
        let exported = lid_embed::export::gguf_to_f32(path)?;
        (
            exported.config,
            WeightFile::from_tensors(exported.tensors),
            None,
        )
    } else {
        if !path.is_dir() {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                message:
                    "expected a model directory (config.json, model.safetensors) or a .gguf file"
                        .into(),
            });
        }
        let config_path = path.join("config.json");
        let config = read_json(&config_path)?;
        let files = lid_embed::load::weight_files(path)?;
        let tok = path.join("tokenizer.json");
        (
            config,
            WeightFile::read(&files)?,
            tok.is_file().then_some(tok),
        )
    };
    let (spec, special) = spec_from_config(&config, &path.join("config.json"))?;
    let mut store = ParamStore::new();
    let mut source = ParamSource {
        weights: Some(&mut weights),
        init: None,
        initialised: Vec::new(),
    };
    let net = build_backbone(&spec, &mut store, &mut source)?;
    Ok(LoadedModel {
        model: Model {
            store,
            net,
            config: Some(config),
        },
        weights,
        special,
        tokenizer,
        path: path.to_path_buf(),
    })
}

/// A backbone with every parameter initialised from `init` (no checkpoint).
///
/// # Errors
/// Invalid sizes.
pub fn init_model(spec: &Spec, init: &mut Init) -> Result<Model> {
    if spec.heads == 0
        || spec.kv_heads == 0
        || !spec.heads.is_multiple_of(spec.kv_heads)
        || spec.head_dim == 0
    {
        return Err(Error::Unsupported(format!(
            "heads {} / kv heads {} / head width {}",
            spec.heads, spec.kv_heads, spec.head_dim
        )));
    }
    let mut store = ParamStore::new();
    let mut source = ParamSource {
        weights: None,
        init: Some(init),
        initialised: Vec::new(),
    };
    let net = build_backbone(spec, &mut store, &mut source)?;
    Ok(Model {
        store,
        net,
        config: None,
    })
}

/// A model with its tokenizer: what a measurement or a fine-tuning run needs from a path.
pub struct PreparedModel {
    /// The loaded model (parameters in memory).
    pub loaded: LoadedModel,
    /// Its tokenizer, truncating to the maximum length asked for.
    pub tokenizer: lid_embed::TextTokenizer,
    /// The tokenizer as `tokenizer.json` text (copied into checkpoints).
    pub tokenizer_json: String,
}

impl PreparedModel {
    /// Loads a model ([`load_model`]: a Hugging Face directory or a `.gguf` file) and its tokenizer
    /// (`tokenizer.json` next to the weights, or rebuilt from the GGUF vocabulary), truncating to
    /// `max_length` tokens (the paper: 512), which must fit the model's positions.
    ///
    /// # Errors
    /// Loading failures, a missing tokenizer, and `lid_embed::Error::InvalidOption` (option
    /// `max-length`) for a limit the tokenizer cannot use or the model's positions cannot hold.
    pub fn load(path: &Path, max_length: usize) -> Result<Self> {
        let loaded = load_model(path)?;
        let (tokenizer, tokenizer_json) = match &loaded.tokenizer {
            Some(p) => (
                lid_embed::TextTokenizer::from_file(p, max_length)?,
                std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
            ),
            None => {
                let tok = lid_embed::tokenize::tokenizer_from_gguf(path)?;
                let json = tok.to_string(false).map_err(|e| Error::Parse {
                    path: path.to_path_buf(),
                    message: format!("cannot serialise its tokenizer: {e}"),
                })?;
                (lid_embed::TextTokenizer::new(tok, max_length)?, json)
            }
        };
        if let Some(max) = loaded.model.net.spec.max_sequence() {
            if max_length > max {
                return Err(lid_embed::Error::InvalidOption {
                    option: "max-length",
                    reason: format!(
                        "{max_length} exceeds the {max} positions of {} (lower it)",
                        path.display()
                    ),
                }
                .into());
            }
        }
        Ok(Self {
            loaded,
            tokenizer,
            tokenizer_json,
        })
    }
}
