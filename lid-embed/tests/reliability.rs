//! The bad-input matrix of docs/reliability.md, column "library" (lid-embed): one test per row,
//! named `matrix_<input class>_library_embed`, the regression tests of what the fuzz targets found
//! (`fuzz_regression_*`), the resume of an interrupted extraction, and the `Send + Sync`
//! assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use candle_core::Device;
use lid_embed::output::{read_layer, read_manifest, MANIFEST_FILE, PARTIAL_MARKER, PROGRESS_FILE};
use lid_embed::{
    extract, load_model, read_corpus, read_corpus_from, write_manifest, CorpusFormat, Error,
    ExtractOptions, LayerIndex, OutputTarget, Selection, Sequence, TextTokenizer,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of a fixture model folder, to break one of its files.
fn model_copy(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture(name).join(file), out.join(file)).unwrap();
    }
    out
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let words = [
                "the", "hotel", "in", "the", "north", "has", "free", "parking",
            ];
            (0..3 + i % 11)
                .map(|j| words[(i * 7 + j * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn load_error(path: &Path) -> String {
    match load_model(path, &Device::Cpu) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn matrix_corrupt_config_json_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    std::fs::write(
        model.join("config.json"),
        "{\"model_type\": \"roberta\", \"hidden_size\": ",
    )
    .unwrap();
    let err = load_error(&model);
    assert!(
        err.contains("config.json") && err.contains("cannot parse"),
        "{err}"
    );
    // Well-formed JSON with a wrong type for a field.
    std::fs::write(
        model.join("config.json"),
        r#"{"model_type": "roberta", "hidden_size": "big"}"#,
    )
    .unwrap();
    let err = load_error(&model);
    assert!(
        err.contains("config.json") && err.contains("line 1 column"),
        "{err}"
    );
    // Empty file.
    std::fs::write(model.join("config.json"), "").unwrap();
    assert!(load_error(&model).contains("config.json"));
}

#[test]
fn matrix_unknown_model_config_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let text = std::fs::read_to_string(model.join("config.json"))
        .unwrap()
        .replace("\"roberta\"", "\"t5\"");
    std::fs::write(model.join("config.json"), text).unwrap();
    let err = load_error(&model);
    assert!(
        err.contains("\"t5\"") && err.contains("supported: bert"),
        "{err}"
    );
    std::fs::remove_file(model.join("config.json")).unwrap();
    let err = load_error(&model);
    assert!(
        err.contains("config.json") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn matrix_inconsistent_model_config_library_embed() {
    // A config whose sizes make no model: a zero head count (a division by zero if unchecked).
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let text = std::fs::read_to_string(model.join("config.json"))
        .unwrap()
        .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 0");
    std::fs::write(model.join("config.json"), text).unwrap();
    let err = load_error(&model);
    assert!(err.contains("num_attention_heads"), "{err}");
}

#[test]
fn matrix_truncated_safetensors_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy("tiny_roberta", dir.path());
    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&weights, &bytes[..cut]).unwrap();
        let err = load_error(&model);
        assert!(!err.is_empty(), "cut {cut}");
    }
    std::fs::remove_file(&weights).unwrap();
    let err = load_error(&model);
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn matrix_corrupt_tokenizer_json_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    for bad in ["", "{", "{\"model\": 3}", "[1, 2, 3]"] {
        std::fs::write(&path, bad).unwrap();
        let err = TextTokenizer::from_file(&path, 128)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("tokenizer.json"), "{bad:?}: {err}");
    }
    let err = TextTokenizer::from_file(&dir.path().join("missing.json"), 128)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.json"), "{err}");
    let err = TextTokenizer::from_file(&fixture("tiny_roberta/tokenizer.json"), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("max-length"), "{err}");
}

/// Issue 22, item 2: `--max-length 1` on a tokenizer that adds `<s>` and `</s>` wrapped around in
/// tokenizers' arithmetic and embedded whole sequences while reporting the limit; a limit that
/// cannot hold the special tokens and one token of text is refused naming the flag, and the
/// smallest limit that can truncates every text to it.
#[test]
fn matrix_max_length_below_the_special_tokens_library_embed() {
    let path = fixture("tiny_roberta/tokenizer.json");
    for limit in [1, 2] {
        let err = TextTokenizer::from_file(&path, limit)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("max-length")
                && err.contains("special tokens")
                && err.contains("at least 3"),
            "{limit}: {err}"
        );
    }
    let tok = TextTokenizer::from_file(&path, 3).unwrap();
    let long = "a fairly long sentence with many words in it";
    let enc = tok.encode_batch(&[long, "a"]).unwrap();
    assert_eq!(enc[0].ids.len(), 3);
    assert!(enc[0].truncated);
    assert!(enc[1].ids.len() <= 3);
}

/// Issue 22, item 6: a model directory without tokenizer.json, given where a tokenizer is built
/// from a GGUF vocabulary, was reported as "not a readable GGUF file: Is a directory"; the error
/// names the missing tokenizer.json.
#[test]
fn matrix_model_folder_without_tokenizer_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let err = lid_embed::tokenize::tokenizer_from_gguf(dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("tokenizer.json") && !err.contains("GGUF file"),
        "{err}"
    );
}

/// Found by the `tokenizer_json` fuzz target (minimized to 11 bytes): a `tokenizer.json` cut off
/// right after `"decoder":` made tokenizers 0.22 panic (`expect("Helper")` in its decoder
/// deserialiser) instead of returning an error; a real file truncated at its decoder does the same.
#[test]
fn fuzz_regression_tokenizer_json_truncated_at_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    for bad in [
        &b"{\"decoder\":"[..],
        b"{  \"decoder\": ",
        b"{\"decoder\": {\"type\": 7}}",
    ] {
        std::fs::write(&path, bad).unwrap();
        let err = TextTokenizer::from_file(&path, 128)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }
    // A real tokenizer.json cut inside its decoder object.
    let real = std::fs::read_to_string(fixture("tiny_roberta/tokenizer.json")).unwrap();
    let cut = real.find("\"decoder\"").unwrap() + "\"decoder\": {".len();
    std::fs::write(&path, &real[..cut]).unwrap();
    assert!(TextTokenizer::from_file(&path, 128).is_err());
}

/// A `TemplateProcessing` post-processor that names a special token missing from its map loads in
/// tokenizers 0.22 and then panics on every encode (the second `tokenizer_json` fuzz finding): it
/// is now an error at load time naming the file.
#[test]
fn fuzz_regression_tokenizer_json_template_without_its_special_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("tiny_roberta/tokenizer.json")).unwrap(),
    )
    .unwrap();
    json["post_processor"] = serde_json::json!({
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<missing>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}}
        ],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {}
    });
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = TextTokenizer::from_file(&path, 16)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    assert!(err.contains("encode"), "{err}");
}

/// Truncated and corrupt GGUF files are errors that name the file, never an allocation of what the
/// header announces (the `gguf` fuzz target found those: see `lid_embed::gguf`).
#[test]
fn matrix_truncated_gguf_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let mut header = Vec::new();
    header.extend_from_slice(b"GGUF");
    header.extend_from_slice(&3u32.to_le_bytes());
    header.extend_from_slice(&1u64.to_le_bytes());
    header.extend_from_slice(&1u64.to_le_bytes());
    for bytes in [
        Vec::new(),
        b"GGUF".to_vec(),
        header.clone(),
        b"not a gguf file at all".to_vec(),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = load_error(&path);
        assert!(err.contains("model.gguf") && err.contains("GGUF"), "{err}");
        let err = lid_embed::tokenize::tokenizer_from_gguf(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.gguf"), "{err}");
    }
}

#[test]
fn fuzz_regression_gguf_sizes_beyond_the_file_are_errors() {
    // Each of these made candle 0.9 allocate the announced size (an abort) or divide by zero.
    let mut b = Vec::new();
    b.extend_from_slice(b"GGUF");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    let key = |b: &mut Vec<u8>, k: &str| {
        b.extend_from_slice(&(k.len() as u64).to_le_bytes());
        b.extend_from_slice(k.as_bytes());
    };
    // 1. A string value of 2^62 bytes.
    let mut s = b.clone();
    key(&mut s, "general.name");
    s.extend_from_slice(&8u32.to_le_bytes());
    s.extend_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(lid_embed::gguf::check_bytes(&s)
        .unwrap_err()
        .contains("bytes remain"));
    // 2. An array of 2^40 u64.
    let mut a = b.clone();
    key(&mut a, "tokenizer.ggml.merges");
    a.extend_from_slice(&9u32.to_le_bytes());
    a.extend_from_slice(&10u32.to_le_bytes());
    a.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(lid_embed::gguf::check_bytes(&a)
        .unwrap_err()
        .contains("does not fit"));
    // 3. general.alignment = 0 (candle divides by it).
    let mut z = b.clone();
    key(&mut z, "general.alignment");
    z.extend_from_slice(&4u32.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    assert!(lid_embed::gguf::check_bytes(&z)
        .unwrap_err()
        .contains("alignment"));
    // The real SmolLM2 file passes (when the offline assets are there).
    let smol = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if smol.is_file() {
        lid_embed::gguf::check_file(&smol).unwrap();
    } else if std::env::var_os("CI").is_some() {
        panic!("{} is missing (scripts/fetch-assets.sh)", smol.display());
    }
}

/// Found by the `gguf` fuzz target (docs/fuzzing.md): a tensor with a zero dimension made candle 0.9
/// view an empty byte buffer through a pointer misaligned for `f32` (undefined behaviour; an abort
/// in a debug-assertion build). The minimized input is committed; it is now refused up front.
#[test]
fn fuzz_regression_gguf_zero_dim_tensor() {
    let path = fixture("fuzz/gguf_zero_dim_tensor.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let err = lid_embed::gguf::check_bytes(&bytes).unwrap_err();
    assert!(err.contains("zero dimension"), "{err}");
    let err = load_error(&path);
    assert!(
        err.contains("gguf_zero_dim_tensor.gguf") && err.contains("zero dimension"),
        "{err}"
    );
    assert!(lid_embed::tokenize::tokenizer_from_gguf(&path).is_err());
}

/// Found by the `gguf` fuzz target: a structurally sound file whose `llama.block_count` is huge made
/// the loader reserve room for that many blocks (an out-of-memory abort under AddressSanitizer,
/// 0xa9cfff5000 bytes). The metadata are now checked against the tensors the file holds.
#[test]
fn fuzz_regression_gguf_huge_block_count() {
    let path = fixture("fuzz/gguf_huge_block_count.gguf");
    lid_embed::gguf::check_file(&path).unwrap();
    let err = load_error(&path);
    assert!(
        err.contains("llama.block_count") || err.contains("rope.dimension_count"),
        "{err}"
    );
}

#[test]
fn matrix_empty_corpus_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("empty.txt", ""),
        ("blank.txt", "\n  \n\t\n"),
        ("blank.jsonl", "{\"text\": \"  \"}\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = read_corpus(&path, &CorpusFormat::infer(&path, None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name) && err.contains("no non-empty sequences"),
            "{err}"
        );
    }
}

#[test]
fn matrix_corrupt_corpus_library_embed() {
    let p = Path::new("corpus.jsonl");
    let err = read_corpus_from(
        &b"{\"text\": \"ok\"}\n{\"text\": 3}\n"[..],
        &CorpusFormat::infer(p, None),
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("corpus.jsonl") && err.contains("line 2"),
        "{err}"
    );
    let err = read_corpus_from(
        &b"{\"text\": \"ok\"}\n{oops\n"[..],
        &CorpusFormat::infer(p, None),
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 2") && err.contains("invalid JSON"),
        "{err}"
    );
    let p = Path::new("corpus.txt");
    let err = read_corpus_from(&b"fine\n\xff\xfe bad\n"[..], &CorpusFormat::Lines, p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    let p = Path::new("corpus.csv");
    let format = CorpusFormat::infer(p, Some("utterance"));
    let err = read_corpus_from(&b"id,text\n1,hi\n"[..], &format, p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no column \"utterance\""), "{err}");
    let err = read_corpus_from(&b"id,utterance\n1,hi\n2,a,b\n"[..], &format, p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("record 2"), "{err}");
}

/// Issue 22, item 3: a CSV corpus with a quoted field that is never closed is refused (the csv
/// reader alone took the rest of the file as one sequence, exit 0), naming the line where the quote
/// opens; closed quotes, doubled quotes and quoted line breaks still read; a UTF-8 byte order mark
/// is dropped in every format (it broke the first JSONL line).
#[test]
fn matrix_unclosed_csv_quote_and_bom_library_embed() {
    let p = Path::new("corpus.csv");
    let format = CorpusFormat::infer(p, None);
    let err = read_corpus_from(
        &b"id,text\n1,fine\n2,\"starts here\n3,swallowed\n4,too\n"[..],
        &format,
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("corpus.csv") && err.contains("line 3") && err.contains("never closed"),
        "{err}"
    );
    let texts = read_corpus_from(
        &b"id,text\n1,\"a \"\"quoted\"\" word\"\n2,\"two\nlines\"\n3,5\" tall\n"[..],
        &format,
        p,
    )
    .unwrap();
    assert_eq!(texts, vec!["a \"quoted\" word", "two\nlines", "5\" tall"]);
    let bom = |body: &str| [&b"\xEF\xBB\xBF"[..], body.as_bytes()].concat();
    let p = Path::new("corpus.jsonl");
    let texts = read_corpus_from(
        &bom("{\"text\": \"first\"}\n{\"text\": \"second\"}\n")[..],
        &CorpusFormat::infer(p, None),
        p,
    )
    .unwrap();
    assert_eq!(texts, vec!["first", "second"]);
    let p = Path::new("corpus.txt");
    let texts = read_corpus_from(&bom("first\nsecond\n")[..], &CorpusFormat::Lines, p).unwrap();
    assert_eq!(texts, vec!["first", "second"]);
    let p = Path::new("corpus.csv");
    let texts = read_corpus_from(&bom("text\nfirst\n")[..], &format, p).unwrap();
    assert_eq!(texts, vec!["first"]);
}

#[test]
fn matrix_sample_larger_than_corpus_library_embed() {
    for selection in [
        Selection::First(11),
        Selection::Sample { m: 11, seed: 778 },
        Selection::First(0),
    ] {
        let err = selection.choose(10).unwrap_err().to_string();
        assert!(err.contains("the corpus has 10"), "{err}");
    }
}

/// A model whose weights hold a NaN produces NaN hidden states; the extraction refuses them,
/// naming the layer, sequence and position, and leaves no output file.
#[test]
fn matrix_nan_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = model_copy("tiny_roberta", dir.path());
    let weights = model_dir.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
        .collect();
    let (_, _, data) = tensors
        .iter_mut()
        .find(|(name, _, _)| name.contains("layer.1.output.dense.weight"))
        .unwrap();
    data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(&weights, safetensors::serialize(views, None).unwrap()).unwrap();
    let model = load_model(&model_dir, &Device::Cpu).unwrap();
    let tok = TextTokenizer::from_file(&model_dir.join("tokenizer.json"), 128).unwrap();
    let texts = texts(3);
    let seqs: Vec<Sequence> = texts
        .iter()
        .enumerate()
        .map(|(id, text)| Sequence { id, text })
        .collect();
    let out = dir.path().join("v.npy");
    let err = extract(
        &model,
        &tok,
        &seqs,
        &ExtractOptions::default(),
        &OutputTarget::NpyFile {
            path: out.clone(),
            tokens: None,
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::NonFiniteOutput { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("hidden state") && text.contains("NaN"),
        "{text}"
    );
    assert!(!out.exists(), "no output for a failed extraction");
    // Earlier layers are fine: layer 1 is computed before the broken block 2.
    extract(
        &model,
        &tok,
        &seqs,
        &ExtractOptions {
            layers: vec![LayerIndex(1)],
            ..Default::default()
        },
        &OutputTarget::NpyFile {
            path: out.clone(),
            tokens: None,
        },
        &mut |_| {},
    )
    .unwrap();
}

/// Everything in a folder, file name -> bytes (for byte-for-byte comparisons).
fn folder_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// An extraction interrupted after its first checkpoint (a panic in the progress callback unwinds
/// through it, leaving the folder as a kill would: PARTIAL marker, resumable temporary shards,
/// progress.json) is refused by readers, resumed without redoing the checkpointed batches, and
/// gives the bytes of an uninterrupted run. The kill itself is tested with a child process in
/// lid-experiments/tests/resume_embed.rs.
#[test]
fn matrix_killed_run_library_embed() {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model(&fixture("tiny_roberta"), &Device::Cpu).unwrap();
    let tok = TextTokenizer::from_file(&fixture("tiny_roberta/tokenizer.json"), 128).unwrap();
    let texts = texts(60);
    let seqs: Vec<Sequence> = texts
        .iter()
        .enumerate()
        .map(|(id, text)| Sequence { id, text })
        .collect();
    let opts = ExtractOptions {
        layers: vec![LayerIndex(-1), LayerIndex(1)],
        batch_size: 4,
        ..Default::default()
    };
    let target = |dir: &Path, resume: bool| OutputTarget::Directory {
        dir: dir.to_path_buf(),
        shard_rows: 100,
        resume,
    };
    let full = dir.path().join("full");
    let summary = extract(
        &model,
        &tok,
        &seqs,
        &opts,
        &target(&full, false),
        &mut |_| {},
    )
    .unwrap();
    write_manifest(&full, &summary, &opts, serde_json::json!({})).unwrap();
    assert_eq!(summary.batches_resumed, 0);

    let cut = dir.path().join("cut");
    let mut batches = 0;
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract(
            &model,
            &tok,
            &seqs,
            &opts,
            &target(&cut, false),
            &mut |_| {
                batches += 1;
                if batches == 3 {
                    panic!("interrupted");
                }
            },
        )
    }));
    assert!(interrupted.is_err());
    assert!(cut.join(PARTIAL_MARKER).is_file());
    assert!(
        cut.join(PROGRESS_FILE).is_file(),
        "checkpoint after the first batch"
    );
    let err = read_manifest(&cut).unwrap_err().to_string();
    assert!(
        err.contains("incomplete") && err.contains("PARTIAL"),
        "{err}"
    );
    assert!(read_layer(&cut, None).is_err());

    // A resume with other settings is refused.
    let other = ExtractOptions {
        batch_size: 5,
        ..opts.clone()
    };
    let err = extract(
        &model,
        &tok,
        &seqs,
        &other,
        &target(&cut, true),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("other settings"), "{err}");

    let resumed = extract(&model, &tok, &seqs, &opts, &target(&cut, true), &mut |_| {}).unwrap();
    assert!(resumed.batches_resumed >= 1, "{resumed:?}");
    write_manifest(&cut, &resumed, &opts, serde_json::json!({})).unwrap();
    assert!(!cut.join(PARTIAL_MARKER).exists() && !cut.join(PROGRESS_FILE).exists());
    let (a, b) = (folder_bytes(&full), folder_bytes(&cut));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&a),
        names(&b),
        "the same files, no temporary ones left"
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        if name == MANIFEST_FILE {
            continue; // holds timings and the resumed batch count
        }
        assert!(x == y, "{name} differs after resume");
    }
    assert_eq!(
        read_layer(&cut, Some(-1)).unwrap(),
        read_layer(&full, Some(-1)).unwrap()
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ExtractOptions>();
    send_sync::<OutputTarget>();
    send_sync::<lid_embed::Summary>();
    send_sync::<lid_embed::output::Manifest>();
    send_sync::<CorpusFormat>();
    send_sync::<Selection>();
    send_sync::<TextTokenizer>();
    send_sync::<Error>();
    send_sync::<lid_embed::output::atomic::AtomicFile>();
}
