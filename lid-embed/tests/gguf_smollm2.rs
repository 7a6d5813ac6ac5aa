//! The quantized GGUF path on the real SmolLM2-135M-Instruct Q4_1 file (asset `smollm2`, fetched by
//! `scripts/fetch-assets.sh`; skipped with a message when absent). SmolLM2 ties its output head to the
//! token embedding, so the last hidden state (after the final norm) times the embedding matrix gives
//! the next-token logits: greedy predictions for plain factual prompts must be the obvious tokens.
//! The bit-exact comparison with candle-transformers' own quantized Llama is in
//! `gguf_candle_reference.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor, D};
use lid_embed::{load_model, HiddenStateModel, TextTokenizer};

fn gguf_path() -> PathBuf {
    let assets = std::env::var_os("LID_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"));
    assets.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
fn smollm2_gguf_predicts_obvious_next_tokens() {
    let path = gguf_path();
    if !path.is_file() {
        // With CI set, a missing asset is a failure: a green CI run means the test ran.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the asset is missing at {}: run scripts/fetch-assets.sh smollm2 first",
            path.display()
        );
        eprintln!(
            "SKIPPED smollm2 GGUF test: asset missing at {} (run scripts/fetch-assets.sh smollm2)",
            path.display()
        );
        return;
    }
    let device = Device::Cpu;
    let loaded = load_model(&path, &device).unwrap();
    let model: &dyn HiddenStateModel = loaded.model.as_ref();
    assert_eq!((model.num_blocks(), model.hidden_size()), (30, 576));
    assert_eq!(
        (
            loaded.special.bos,
            loaded.special.eos.clone(),
            loaded.special.pad
        ),
        (Some(1), vec![2], Some(2))
    );
    let tok = TextTokenizer::new(
        lid_embed::tokenize::tokenizer_from_gguf(&path).unwrap(),
        512,
    )
    .unwrap();

    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let embedding = content
        .tensor(&mut file, "token_embd.weight", &device)
        .unwrap()
        .dequantize(&device)
        .unwrap();

    for (prompt, want) in [
        ("The capital of France is", " Paris"),
        ("One, two, three, four,", " five"),
    ] {
        let enc = &tok.encode_batch(&[prompt]).unwrap()[0];
        let t = enc.ids.len();
        let ids = Tensor::from_vec(enc.ids.clone(), (1, t), &device).unwrap();
        let mask = Tensor::ones((1, t), candle_core::DType::U32, &device).unwrap();
        let states = model.hidden_states(&ids, &mask, &[30, 0]).unwrap();
        let last = states[0].narrow(1, t - 1, 1).unwrap().squeeze(0).unwrap();
        let logits = last.matmul(&embedding.t().unwrap()).unwrap();
        let best = logits
            .argmax(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<u32>()
            .unwrap()[0];
        let want_id = tok.token_to_id(&want.replace(' ', "Ġ")).unwrap();
        println!("{prompt:?} -> token {best} (want {want:?} = {want_id})");
        assert_eq!(best, want_id, "{prompt:?}");
        // Index 0 is the (dequantized) embedding lookup itself.
        let emb0 = embedding
            .index_select(&ids.flatten_all().unwrap(), 0)
            .unwrap();
        let d = (states[1].squeeze(0).unwrap() - emb0)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
    }
}
