//! The extraction pipeline end to end on the committed tiny models: rows land in corpus order, only
//! the filtered tokens are stored, values equal the `transformers` hidden states (<= 1e-4), and bad
//! inputs give clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use lid_embed::output::TokenRecord;
use lid_embed::{
    extract, load_model, write_manifest, ExtractOptions, LayerIndex, OutputTarget, Sequence,
    TextTokenizer, TokenFilter,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn texts() -> Vec<String> {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inputs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    meta["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Reads a 2-D little-endian f32 .npy written by lid-embed: (rows, cols, data).
fn read_npy(path: &Path) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10;
    let header = String::from_utf8_lossy(&bytes[10..hlen]).to_string();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data: Vec<f32> = bytes[hlen..]
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data.len(), dims[0] * dims[1]);
    (dims[0], dims[1], data)
}

fn read_tokens(path: &Path) -> Vec<TokenRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn expected(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(name).join("expected.safetensors"), &Device::Cpu)
        .unwrap()
}

/// Max abs difference between the stored rows and the reference hidden state at (sequence, position).
fn max_diff(rows: &[f32], cols: usize, tokens: &[TokenRecord], reference: &Tensor) -> f32 {
    let reference = reference.to_vec3::<f32>().unwrap();
    let mut max = 0.0f32;
    for (r, tok) in tokens.iter().enumerate() {
        let ours = &rows[r * cols..(r + 1) * cols];
        let theirs = &reference[tok.sequence][tok.position];
        for (a, b) in ours.iter().zip(theirs) {
            max = max.max((a - b).abs());
        }
    }
    max
}

#[test]
fn directory_output_roberta_two_layers_in_corpus_order() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model(&fixture("tiny_roberta"), &Device::Cpu).unwrap();
    let tok = TextTokenizer::from_file(&fixture("tiny_roberta/tokenizer.json"), 512).unwrap();
    let texts = texts();
    let seqs: Vec<Sequence> = texts
        .iter()
        .enumerate()
        .map(|(id, text)| Sequence { id, text })
        .collect();
    let opts = ExtractOptions {
        layers: vec![LayerIndex(-1), LayerIndex(0)],
        batch_size: 3,
        ..Default::default()
    };
    let target = OutputTarget::Directory {
        dir: dir.path().to_path_buf(),
        shard_rows: 50,
        resume: false,
    };
    let mut calls = 0;
    let summary = extract(&model, &tok, &seqs, &opts, &target, &mut |_| calls += 1).unwrap();
    assert_eq!(calls, 2, "4 sequences in batches of 3");
    write_manifest(
        dir.path(),
        &summary,
        &opts,
        serde_json::json!({"test": true}),
    )
    .unwrap();

    let exp = expected("tiny_roberta");
    let ids = exp["input_ids"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec2::<u32>()
        .unwrap();
    let mask = exp["attention_mask"].to_vec2::<i64>().unwrap();
    let tokens = read_tokens(&dir.path().join("tokens.jsonl"));
    // Paper filter for RoBERTa: <s> (0) kept, </s> (2) and <pad> (1) dropped; corpus order.
    let mut want = Vec::new();
    for (b, row) in ids.iter().enumerate() {
        for (p, &id) in row.iter().enumerate() {
            if mask[b][p] == 1 && id != 2 && id != 1 {
                want.push((b, p, id));
            }
        }
    }
    let got: Vec<(usize, usize, u32)> = tokens
        .iter()
        .map(|t| (t.sequence, t.position, t.token_id))
        .collect();
    assert_eq!(got, want);
    assert_eq!(summary.tokens_kept, want.len());
    assert!(tokens
        .iter()
        .filter(|t| t.position == 0)
        .all(|t| t.token == "<s>"));

    for (layer, index) in [(&summary.layers[0], 3usize), (&summary.layers[1], 0)] {
        assert_eq!(layer.index, index);
        let mut rows = Vec::new();
        let mut cols = 0;
        for shard in &layer.shards {
            let (_, c, data) = read_npy(&dir.path().join(&shard.file));
            cols = c;
            rows.extend(data);
        }
        assert!(layer.shards.len() > 1, "shards of 50 rows");
        let d = max_diff(&rows, cols, &tokens, &exp[&format!("hidden_{index}")]);
        println!("tiny_roberta pipeline hidden_{index}: max abs diff {d}");
        assert!(d <= 1e-4, "hidden_{index}: {d}");
    }
    let (r, c, d) = lid_embed::output::read_layer(dir.path(), Some(-1)).unwrap();
    assert_eq!((r, c), (want.len(), 32));
    let (_, _, d3) = lid_embed::output::read_layer(dir.path(), Some(3)).unwrap();
    assert_eq!(d, d3);
    assert!(
        lid_embed::output::read_layer(dir.path(), None).is_err(),
        "two layers stored"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["summary"]["tokens_kept"], want.len());
}

#[test]
fn single_npy_output_llama_with_token_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vectors.npy");
    let tokens_out = dir.path().join("tokens.jsonl");
    let model = load_model(&fixture("tiny_llama"), &Device::Cpu).unwrap();
    let tok = TextTokenizer::from_file(&fixture("tiny_llama/tokenizer.json"), 512).unwrap();
    let texts = texts();
    // Sequence ids as a sampled subset would carry them (ids 1 and 3 of the corpus).
    let seqs = [
        Sequence {
            id: 0,
            text: &texts[0],
        },
        Sequence {
            id: 1,
            text: &texts[1],
        },
        Sequence {
            id: 2,
            text: &texts[2],
        },
        Sequence {
            id: 3,
            text: &texts[3],
        },
    ];
    let opts = ExtractOptions {
        batch_size: 2,
        ..Default::default()
    };
    let target = OutputTarget::NpyFile {
        path: out.clone(),
        tokens: Some(tokens_out.clone()),
    };
    let summary = extract(&model, &tok, &seqs, &opts, &target, &mut |_| {}).unwrap();
    let (rows, cols, data) = read_npy(&out);
    let tokens = read_tokens(&tokens_out);
    assert_eq!((rows, cols), (summary.tokens_kept, 32));
    assert_eq!(tokens.len(), rows);
    // Llama: bos <s> (0) kept at position 0 of every sequence; pad = eos (1) never stored.
    assert!(tokens.iter().all(|t| t.token_id != 1));
    assert_eq!(
        tokens
            .iter()
            .filter(|t| t.position == 0 && t.token_id == 0)
            .count(),
        4
    );
    assert!(tokens
        .windows(2)
        .all(|w| (w[0].sequence, w[0].position) < (w[1].sequence, w[1].position)));
    let exp = expected("tiny_llama");
    let d = max_diff(&data, cols, &tokens, &exp["hidden_3"]);
    println!("tiny_llama pipeline hidden_3 (.npy): max abs diff {d}");
    assert!(d <= 1e-4, "{d}");

    // Truncation: max_length 5 keeps at most 5 positions per sequence.
    let short = TextTokenizer::from_file(&fixture("tiny_llama/tokenizer.json"), 5).unwrap();
    let out2 = dir.path().join("short.npy");
    let s = extract(
        &model,
        &short,
        &seqs,
        &opts,
        &OutputTarget::NpyFile {
            path: out2,
            tokens: None,
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s.truncated_sequences, 3);
    assert!(s.tokens_total <= 20);

    // Keeping special tokens changes nothing here but dropping them removes the bos rows.
    let out3 = dir.path().join("nospecial.npy");
    let opts3 = ExtractOptions {
        filter: TokenFilter::SpecialTokens,
        ..opts.clone()
    };
    let s3 = extract(
        &model,
        &tok,
        &seqs,
        &opts3,
        &OutputTarget::NpyFile {
            path: out3,
            tokens: None,
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(s3.tokens_kept, summary.tokens_kept - 4);
}

#[test]
fn gpt2_layer_sweep_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model(&fixture("tiny_gpt2"), &Device::Cpu).unwrap();
    let tok = TextTokenizer::from_file(&fixture("tiny_gpt2/tokenizer.json"), 512).unwrap();
    let texts = texts();
    let seqs: Vec<Sequence> = texts
        .iter()
        .enumerate()
        .map(|(id, text)| Sequence { id, text })
        .collect();
    let opts = ExtractOptions {
        layers: vec![LayerIndex(1), LayerIndex(-2), LayerIndex(3)],
        batch_size: 4,
        ..Default::default()
    };
    let summary = extract(
        &model,
        &tok,
        &seqs,
        &opts,
        &OutputTarget::Directory {
            dir: dir.path().into(),
            shard_rows: 1_000,
            resume: false,
        },
        &mut |_| {},
    )
    .unwrap();
    let tokens = read_tokens(&dir.path().join("tokens.jsonl"));
    let exp = expected("tiny_gpt2");
    for layer in &summary.layers {
        let (_, cols, data) = read_npy(&dir.path().join(&layer.shards[0].file));
        let d = max_diff(
            &data,
            cols,
            &tokens,
            &exp[&format!("hidden_{}", layer.index)],
        );
        println!(
            "tiny_gpt2 pipeline hidden_{}: max abs diff {d}",
            layer.index
        );
        assert!(d <= 1e-4);
    }
}

#[test]
fn clear_errors_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model(&fixture("tiny_gpt2"), &Device::Cpu).unwrap();
    let tok = TextTokenizer::from_file(&fixture("tiny_gpt2/tokenizer.json"), 512).unwrap();
    let seqs = [Sequence {
        id: 0,
        text: "hello there",
    }];
    let run = |opts: ExtractOptions, target: OutputTarget| {
        extract(&model, &tok, &seqs, &opts, &target, &mut |_| {})
            .unwrap_err()
            .to_string()
    };
    let npy = OutputTarget::NpyFile {
        path: dir.path().join("a.npy"),
        tokens: None,
    };
    let err = run(
        ExtractOptions {
            layers: vec![LayerIndex(4)],
            ..Default::default()
        },
        npy.clone(),
    );
    assert!(
        err.contains("out of range") && err.contains("0..=3"),
        "{err}"
    );
    let err = run(
        ExtractOptions {
            layers: vec![LayerIndex(-1), LayerIndex(3)],
            ..Default::default()
        },
        OutputTarget::Directory {
            dir: dir.path().into(),
            shard_rows: 10,
            resume: false,
        },
    );
    assert!(err.contains("same hidden state"), "{err}");
    let err = run(
        ExtractOptions {
            layers: vec![LayerIndex(1), LayerIndex(2)],
            ..Default::default()
        },
        npy.clone(),
    );
    assert!(err.contains("one layer"), "{err}");
    let err = run(
        ExtractOptions {
            batch_size: 0,
            ..Default::default()
        },
        npy,
    );
    assert!(err.contains("batch-size"), "{err}");

    // Unknown model type and unsupported rope scaling.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(
        fixture("tiny_llama/model.safetensors"),
        bad.join("model.safetensors"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(fixture("tiny_llama/config.json")).unwrap();
    std::fs::write(bad.join("config.json"), cfg.replace("\"llama\"", "\"t5\"")).unwrap();
    let err = load_model(&bad, &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("unsupported model_type \"t5\""), "{err}");
    std::fs::write(
        bad.join("config.json"),
        cfg.replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\""),
    )
    .unwrap();
    let err = load_model(&bad, &Device::Cpu).err().unwrap().to_string();
    assert!(
        err.contains("yarn") && err.contains("rotary scaling"),
        "{err}"
    );
    let err = load_model(&dir.path().join("nope"), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("expected a model directory"), "{err}");
    std::fs::write(bad.join("x.gguf"), b"not gguf").unwrap();
    let err = load_model(&bad.join("x.gguf"), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("GGUF"), "{err}");
}
