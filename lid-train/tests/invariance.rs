//! Bitwise invariance of the CPU forward (issue 20, study 1 point 2): a token's hidden state, at
//! every hidden-state layer (Hugging Face numbering, 0 = embedding output, plus the last block's
//! output before a decoder's final norm), is the same bit pattern whatever
//! - the sequence length: for the causal families (GPT-2, Llama, the grokking decoder) the same
//!   prefix in sequences of 10, 20 and 100 tokens, also when the rest is padding;
//! - the batch it is in and its place there: a sequence alone and at the first, a middle and the
//!   last place of a batch of 32 sequences of mixed lengths (1 to 100 tokens). A packed batch is
//!   what a padded batch with an attention mask computes, so this is also the encoders' padding
//!   case (BERT, RoBERTa);
//! - the thread count: rayon pools of 1, 2 and 8 threads.
//!
//! Exact deduplication of token vectors depends on it: copies of a shared prefix that differ in the
//! last bits survive it and collapse TwoNN. The models are tiny random ones of each family, sized
//! so that every product has edge tiles (widths that are no multiple of 8 or 16) and one reduction
//! is longer than 512 (the `gemm` crate's depth blocking).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::Path;

use lid_embed::{SpecialIds, TokenFilter};
use lid_train::data::Sequence;
use lid_train::model::load::{init_model, spec_from_config};
use lid_train::model::{Activations, Batch, Capture, Init, Mode, Model, Spec};
use lid_train::probe::{LidProbe, ProbeLayer, ProbeSettings};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const VOCAB: usize = 97;
const LONGEST: usize = 100;

/// The five families, tiny and random.
fn models() -> Vec<(&'static str, Model)> {
    let common = |v: serde_json::Value| -> Model {
        let (spec, _) = spec_from_config(&v, Path::new("config.json")).unwrap();
        init_model(&spec, &mut Init::hugging_face(7, 0.1)).unwrap()
    };
    let bert = common(json!({
        "model_type": "bert", "vocab_size": VOCAB, "hidden_size": 52, "num_attention_heads": 4,
        "num_hidden_layers": 2, "intermediate_size": 520, "max_position_embeddings": 128,
        "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0
    }));
    let roberta = common(json!({
        "model_type": "roberta", "vocab_size": VOCAB, "hidden_size": 52, "num_attention_heads": 4,
        "num_hidden_layers": 2, "intermediate_size": 520, "max_position_embeddings": 130,
        "type_vocab_size": 1, "hidden_act": "gelu", "layer_norm_eps": 1e-5, "pad_token_id": 1,
        "bos_token_id": 0, "eos_token_id": 2,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0
    }));
    let gpt2 = common(json!({
        "model_type": "gpt2", "vocab_size": VOCAB, "n_embd": 52, "n_head": 4, "n_layer": 2,
        "n_inner": 520, "n_positions": 128, "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0
    }));
    let llama = common(json!({
        "model_type": "llama", "vocab_size": VOCAB, "hidden_size": 52, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 14, "num_hidden_layers": 2,
        "intermediate_size": 520, "max_position_embeddings": 128, "hidden_act": "silu",
        "rms_norm_eps": 1e-5, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2
    }));
    let spec = Spec::grokking(VOCAB, 52, 4, 520, 2, 128, 0.0);
    let grokking = init_model(&spec, &mut Init::pytorch_defaults(7)).unwrap();
    vec![
        ("bert", bert),
        ("roberta", roberta),
        ("gpt2", gpt2),
        ("llama", llama),
        ("grokking", grokking),
    ]
}

/// Every captured state of `batch`: hidden states `0..=layers`, then the last block's output.
fn states(model: &Model, batch: &Batch) -> Vec<Vec<f32>> {
    let layers = model.net.spec.layers;
    let mut capture = Capture::new((0..=layers).collect());
    let mut acts = Activations::new();
    model
        .net
        .forward(
            &model.store,
            batch,
            Mode::Eval,
            &mut acts,
            Some(&mut capture),
        )
        .unwrap();
    let mut out = capture.states;
    out.push(acts.last_block_output().to_vec());
    out
}

/// Checks that `rows` rows of each state in `a` starting at row `ra` equal those of `b` at `rb`,
/// bit for bit; records the first differing state (count and largest difference) in `failures`.
#[allow(clippy::too_many_arguments)] // one comparison, spelled out at each call
fn compare_rows(
    failures: &mut Vec<String>,
    what: &str,
    d: usize,
    a: &[Vec<f32>],
    ra: usize,
    b: &[Vec<f32>],
    rb: usize,
    rows: usize,
) {
    for (layer, (x, y)) in a.iter().zip(b).enumerate() {
        let x = &x[ra * d..(ra + rows) * d];
        let y = &y[rb * d..(rb + rows) * d];
        let differing = x
            .iter()
            .zip(y)
            .filter(|(p, q)| p.to_bits() != q.to_bits())
            .count();
        let largest = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        if differing > 0 {
            failures.push(format!(
                "{what}: state {layer} differs in {differing} of {} values (max abs diff {largest:e})",
                x.len()
            ));
            return;
        }
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} comparisons differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn random_ids(rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
    // Ids from 3 on: 0..=2 are the special tokens of the configs above.
    (0..n).map(|_| rng.random_range(3..VOCAB as u32)).collect()
}

/// 32 sequences of mixed lengths (1 to 100 tokens) with `target` at places 0, 17 and 31.
fn mixed_batch(rng: &mut ChaCha8Rng, target: &[u32]) -> (Batch, Vec<usize>) {
    let places = vec![0, 17, 31];
    let mut seqs = Vec::new();
    for s in 0..32 {
        if places.contains(&s) {
            seqs.push(target.to_vec());
        } else {
            let n = rng.random_range(1..=LONGEST);
            seqs.push(random_ids(rng, n));
        }
    }
    (Batch::new(&seqs), places)
}

#[test]
fn causal_prefixes_are_bitwise_equal_in_sequences_of_10_20_and_100_tokens() {
    let mut failures = Vec::new();
    for (name, model) in models() {
        if !model.net.spec.causal {
            continue;
        }
        let d = model.net.spec.hidden;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let long = random_ids(&mut rng, LONGEST);
        let full = states(&model, &Batch::new(&[&long[..]]));
        for n in [10, 20] {
            let prefix = states(&model, &Batch::new(&[&long[..n]]));
            compare_rows(
                &mut failures,
                &format!("{name}: prefix of {n} vs 100 tokens"),
                d,
                &prefix,
                0,
                &full,
                0,
                n,
            );
        }
        // Right padding: the prefix followed by pad tokens up to 100.
        let pad = model.net.spec.pad_token_id.unwrap_or(0);
        for n in [10, 20] {
            let mut padded = long[..n].to_vec();
            padded.resize(LONGEST, pad);
            let with_pad = states(&model, &Batch::new(&[padded]));
            compare_rows(
                &mut failures,
                &format!("{name}: prefix of {n} vs the same padded to 100 tokens"),
                d,
                &with_pad,
                0,
                &full,
                0,
                n,
            );
        }
    }
    report(&failures);
}

#[test]
fn a_sequence_alone_equals_itself_at_any_place_of_a_batch_of_32() {
    let mut failures = Vec::new();
    for (name, model) in models() {
        let d = model.net.spec.hidden;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for n in [1, 10, 37, LONGEST] {
            let target = random_ids(&mut rng, n);
            let alone = states(&model, &Batch::new(&[&target[..]]));
            let (batch, places) = mixed_batch(&mut rng, &target);
            let together = states(&model, &batch);
            for place in places {
                compare_rows(
                    &mut failures,
                    &format!("{name}: {n} tokens alone vs at place {place} of 32"),
                    d,
                    &alone,
                    0,
                    &together,
                    batch.offsets[place],
                    n,
                );
            }
        }
    }
    report(&failures);
}

#[test]
fn states_do_not_depend_on_the_thread_count() {
    let mut failures = Vec::new();
    for (name, model) in models() {
        let d = model.net.spec.hidden;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let target = random_ids(&mut rng, 64);
        let (batch, _) = mixed_batch(&mut rng, &target);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    (
                        states(&model, &batch),
                        states(&model, &Batch::new(&[&target])),
                    )
                })
        };
        let (one_batch, one_alone) = run(1);
        for threads in [2, 8] {
            let (batch_states, alone) = run(threads);
            compare_rows(
                &mut failures,
                &format!("{name}: batch of 32 on 1 vs {threads} threads"),
                d,
                &one_batch,
                0,
                &batch_states,
                0,
                batch.rows(),
            );
            compare_rows(
                &mut failures,
                &format!("{name}: one sequence on 1 vs {threads} threads"),
                d,
                &one_alone,
                0,
                &alone,
                0,
                target.len(),
            );
        }
    }
    report(&failures);
}

/// The probe (`lid_train::probe`, which `lid compare`, `lid sweep` and the studies measure with)
/// packs its sequences without padding, so its vectors inherit the forward's invariance: the same
/// for any batch size, and, in causal models, copies of a shared prefix are bitwise equal (exact
/// deduplication removes them).
#[test]
fn probe_vectors_do_not_depend_on_its_batch_size_and_shared_prefixes_are_copies() {
    let mut failures = Vec::new();
    for (name, model) in models() {
        let d = model.net.spec.hidden;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let prefix = random_ids(&mut rng, 8);
        let sequences: Vec<Sequence> = (0..40)
            .map(|s| {
                let n = rng.random_range(1..=60);
                let mut ids = random_ids(&mut rng, n);
                if s % 4 == 0 {
                    ids = [&prefix[..], &ids[..]].concat();
                }
                Sequence::plain(ids)
            })
            .collect();
        let vectors = |batch_size: usize| {
            let settings = ProbeSettings {
                layer: ProbeLayer::Hidden(-1),
                filter: TokenFilter::AttentionMask,
                batch_size,
                ..ProbeSettings::paper()
            };
            LidProbe::new(
                sequences.clone(),
                SpecialIds::default(),
                settings,
                Box::new(lid_knn::BruteForce::new()),
            )
            .unwrap()
            .vectors(&model)
            .unwrap()
        };
        let (one, _, tokens) = vectors(1);
        for batch_size in [7, 32] {
            let (other, _, other_tokens) = vectors(batch_size);
            assert_eq!(tokens, other_tokens);
            compare_rows(
                &mut failures,
                &format!("{name}: probe vectors, batches of 1 vs {batch_size}"),
                d,
                std::slice::from_ref(&one),
                0,
                &[other],
                0,
                tokens.len(),
            );
        }
        if model.net.spec.causal {
            // Rows of the sequences that start with the shared prefix, at each prefix position.
            let starts: Vec<usize> = (0..tokens.len())
                .filter(|&r| tokens[r].position == 0 && tokens[r].sequence % 4 == 0)
                .collect();
            for &r in &starts[1..] {
                compare_rows(
                    &mut failures,
                    &format!("{name}: shared prefix of sequence {}", tokens[r].sequence),
                    d,
                    std::slice::from_ref(&one),
                    starts[0],
                    std::slice::from_ref(&one),
                    r,
                    prefix.len(),
                );
            }
        }
    }
    report(&failures);
}
