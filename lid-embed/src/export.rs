//! A GGUF Llama model dequantised to f32 under Hugging Face names, in memory or as a directory
//! (`config.json`, `model.safetensors`, `tokenizer.json`) that `lid embed`, `lid-train` and PyTorch
//! `transformers` load.
//!
//! Why: training needs f32 weights, and comparing a base model with a fine-tuned one must go
//! through the same numeric path (the Q4_1 forward differs from the same weights in f32 by up to
//! 3.6 in the last hidden state on MultiWOZ utterances), which is also the fast path.
//!
//! Each quantized tensor is dequantised by candle (for Q4_1: `d * q + m` in f32, two roundings,
//! as llama.cpp and gguf-py). llama.cpp's converter permutes the rows of `attn_q` / `attn_k` per
//! head so that rotary pairs are adjacent (`w.reshape(heads, 2, d/2, in).swapaxes(1, 2)`); the
//! inverse is applied here, so the result is what `transformers` loads from the same file (checked
//! bit-exactly against it by lid-train's golden test). Names follow `LlamaForCausalLM`
//! (`model.embed_tokens.weight`, `model.layers.N.self_attn.q_proj.weight`, ...); without an
//! `output.weight` the embeddings are tied (`tie_word_embeddings: true`).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::Device;

use crate::error::{Error, Result};
use crate::models::quantized_llama::Config;

/// Tensors by name: shape and row-major f32 values.
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A dequantised model.
pub struct F32Export {
    /// `config.json` of a `LlamaForCausalLM`.
    pub config: serde_json::Value,
    /// Every weight under its Hugging Face name.
    pub tensors: TensorMap,
}

/// Reads and dequantises a GGUF Llama file.
///
/// # Errors
/// An unreadable file, a non-Llama architecture, missing tensors or inconsistent sizes.
pub fn gguf_to_f32(path: &Path) -> Result<F32Export> {
    // candle allocates whatever sizes the file announces: check them first (crate::gguf).
    crate::gguf::check_file(path)?;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: format!("not a readable GGUF file: {e}"),
    })?;
    let cfg = Config::from_gguf(&content)?;
    if cfg.heads == 0 || cfg.kv_heads == 0 || cfg.heads % cfg.kv_heads != 0 || cfg.head_dim % 2 != 0
    {
        return Err(Error::unsupported(
            "llama.attention.head_count_kv",
            (cfg.heads, cfg.kv_heads, cfg.head_dim),
            "heads must be a multiple of kv heads and head_dim even",
        ));
    }
    let mut read = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let q = content
            .tensor(&mut file, name, &Device::Cpu)
            .map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                message: format!("tensor {name}: {e}"),
            })?;
        let t = q.dequantize(&Device::Cpu)?;
        let shape = t.dims().to_vec();
        Ok((shape, t.flatten_all()?.to_vec1::<f32>()?))
    };
    let mut tensors = TensorMap::new();
    let embed = read("token_embd.weight")?;
    let vocab = embed.0[0];
    tensors.insert("model.embed_tokens.weight".into(), embed);
    let mut intermediate = 0;
    for i in 0..cfg.num_blocks {
        let hf = |s: &str| format!("model.layers.{i}.{s}.weight");
        for (gguf, name, heads) in [
            ("attn_norm", hf("input_layernorm"), 0),
            ("attn_q", hf("self_attn.q_proj"), cfg.heads),
            ("attn_k", hf("self_attn.k_proj"), cfg.kv_heads),
            ("attn_v", hf("self_attn.v_proj"), 0),
            ("attn_output", hf("self_attn.o_proj"), 0),
            ("ffn_norm", hf("post_attention_layernorm"), 0),
            ("ffn_gate", hf("mlp.gate_proj"), 0),
            ("ffn_up", hf("mlp.up_proj"), 0),
            ("ffn_down", hf("mlp.down_proj"), 0),
        ] {
            let (shape, mut values) = read(&format!("blk.{i}.{gguf}.weight"))?;
            if heads > 0 {
                values = unpermute_rows(&values, &shape, heads, cfg.head_dim, path)?;
            }
            if gguf == "ffn_up" {
                intermediate = shape[0];
            }
            tensors.insert(name, (shape, values));
        }
    }
    tensors.insert("model.norm.weight".into(), read("output_norm.weight")?);
    let tied = !content.tensor_infos.contains_key("output.weight");
    if !tied {
        tensors.insert("lm_head.weight".into(), read("output.weight")?);
    }
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": intermediate,
        "num_hidden_layers": cfg.num_blocks,
        "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "max_position_embeddings": cfg.context_length.unwrap_or(2048),
        "attention_bias": false,
        "mlp_bias": false,
        "tie_word_embeddings": tied,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "torch_dtype": "float32",
        "lid_source": path.display().to_string(),
    });
    Ok(F32Export { config, tensors })
}

/// Undoes llama.cpp's per-head row permutation of a `(heads * head_dim, in)` matrix: Hugging Face
/// row `h * hd + j * hd/2 + i` is GGUF row `h * hd + 2 i + j`.
fn unpermute_rows(
    values: &[f32],
    shape: &[usize],
    heads: usize,
    head_dim: usize,
    path: &Path,
) -> Result<Vec<f32>> {
    if shape.len() != 2 || shape[0] != heads * head_dim {
        return Err(Error::Parse {
            path: path.to_path_buf(),
            message: format!(
                "query/key weight has shape {shape:?}, expected ({} x in)",
                heads * head_dim
            ),
        });
    }
    let cols = shape[1];
    let half = head_dim / 2;
    let mut out = vec![0.0f32; values.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let dst = h * head_dim + j * half + i;
                let src = h * head_dim + 2 * i + j;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&values[src * cols..(src + 1) * cols]);
            }
        }
    }
    Ok(out)
}

/// Writes `export` as a Hugging Face directory at `dir` (created; files written to temporary names
/// and renamed): `config.json`, `model.safetensors`, and `tokenizer.json` built from the GGUF
/// vocabulary of `gguf` ([`crate::tokenize::tokenizer_from_gguf`]).
///
/// # Errors
/// I/O failures or a tokenizer that cannot be rebuilt.
pub fn write_hf_directory(export: &F32Export, gguf: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        crate::output::atomic::write_atomic(&dir.join(name), bytes).map(|_| ())
    };
    let views = export
        .tensors
        .iter()
        .map(|(name, (shape, values))| {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), shape.clone(), bytes)
        })
        .collect::<Vec<_>>();
    let tensor_views = views
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Parse {
                    path: dir.to_path_buf(),
                    message: format!("tensor {name}: {e}"),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(tensor_views, None).map_err(|e| Error::Parse {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    write("model.safetensors", &bytes)?;
    let tokenizer = crate::tokenize::tokenizer_from_gguf(gguf)?;
    let text = tokenizer
        .to_string(true)
        .map_err(|e| Error::Tokenizer(format!("cannot serialise the GGUF tokenizer: {e}")))?;
    write("tokenizer.json", text.as_bytes())?;
    let config = serde_json::to_string_pretty(&export.config).map_err(|e| Error::Parse {
        path: dir.join("config.json"),
        message: e.to_string(),
    })?;
    write("config.json", config.as_bytes())
}
