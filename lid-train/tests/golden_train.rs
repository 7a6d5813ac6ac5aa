//! Training equivalence with PyTorch `transformers` 5.24.0 / torch 2.15.0 on tiny fixtures written
//! by `tools/golden/train/make_train_fixtures.py` (dropout off, fixed MLM corruption): the loss and
//! every parameter gradient of one step, and the weights after 3 AdamW steps with gradient
//! accumulation 2, clipping 1.0 and the Hugging Face schedule and weight-decay groups.
//!
//! Tolerances: loss 1e-5 relative; gradients 1e-4 absolute (issue 10); weights after 3 steps 1e-5
//! absolute, except the elements the fixture lists as `adam_noise_elements` (gradients that are
//! zero in exact arithmetic, pure float32 rounding noise that Adam's normalisation magnifies; the
//! fixture's own check reproduces them only to 7e-5 across implementations), and elements whose
//! full-batch gradient is below 1e-5 of their parameter's largest (the same float32 noise, which
//! Adam turns into a step of about `lr` in either direction), compared at 2e-3.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lid_train::heads::{
    CausalLmHead, ClassifierHead, GradTarget, HeadOutput, LastTokenHead, MaskedLmHead,
    MaskedTargets,
};
use lid_train::model::load::{build_backbone, load_model};
use lid_train::model::{Activations, Batch, Init, Mode, Model, ParamSource, Spec};
use lid_train::optim::{AdamW, AdamWConfig, Schedule};
use lid_train::params::{DecayPolicy, ParamStore, WeightFile};
use safetensors::{Dtype, SafeTensors};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Tensors of a safetensors file: f32 as values, i64 converted to f64 (ids and labels).
struct Tensors(BTreeMap<String, (Vec<usize>, Vec<f64>)>);

impl Tensors {
    fn read(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut map = BTreeMap::new();
        for (name, view) in st.tensors() {
            let values: Vec<f64> = match view.dtype() {
                Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                Dtype::I64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{name}: dtype {other:?}"),
            };
            map.insert(name, (view.shape().to_vec(), values));
        }
        Self(map)
    }
    fn get(&self, name: &str) -> &(Vec<usize>, Vec<f64>) {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
    }
    /// A 2-D integer tensor as rows (a 1-D one as one row per value).
    fn rows(&self, name: &str) -> Vec<Vec<i64>> {
        let (shape, v) = self.get(name);
        if shape.len() == 1 {
            return v.iter().map(|&x| vec![x as i64]).collect();
        }
        v.chunks(shape[1])
            .map(|r| r.iter().map(|&x| x as i64).collect())
            .collect()
    }
}

fn meta(case: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(case).join("meta.json")).unwrap())
        .unwrap()
}

/// The padded rows `rows` of the fixture as a packed batch, and each padded (row, col)'s packed row.
fn packed(t: &Tensors, rows: &[usize]) -> (Batch, Vec<Vec<Option<usize>>>) {
    let ids = t.rows("input_ids");
    let mask = match t.0.contains_key("attention_mask") {
        true => t.rows("attention_mask"),
        false => ids.iter().map(|r| vec![1; r.len()]).collect(),
    };
    let types =
        t.0.contains_key("token_type_ids")
            .then(|| t.rows("token_type_ids"));
    let mut batch = Batch::new::<Vec<u32>>(&[]);
    let mut index = Vec::new();
    for &r in rows {
        let len = mask[r].iter().filter(|&&m| m == 1).count();
        let seq: Vec<u32> = ids[r][..len].iter().map(|&x| x as u32).collect();
        let tt: Option<Vec<u32>> = types
            .as_ref()
            .map(|t| t[r][..len].iter().map(|&x| x as u32).collect());
        let start = batch.rows();
        batch.push(&seq, tt.as_deref());
        index.push(
            (0..ids[r].len())
                .map(|c| (c < len).then_some(start + c))
                .collect(),
        );
    }
    (batch, index)
}

enum Head {
    Masked(MaskedLmHead),
    Causal(CausalLmHead),
    Classifier(ClassifierHead),
    Last(LastTokenHead),
}

struct Case {
    model: Model,
    head: Head,
    policy: DecayPolicy,
    adam: AdamWConfig,
    schedule: Schedule,
}

fn load_case(name: &'static str) -> Case {
    let mut init = Init::hugging_face(0, 0.02);
    let hf_adam = AdamWConfig {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        decay_policy: DecayPolicy::HuggingFace,
        max_grad_norm: Some(1.0),
    };
    let hf_schedule = Schedule::LinearWarmupDecay {
        warmup: 1,
        total: 4,
    };
    if name == "grokking" {
        let dir = fixture(name).join("model");
        let mut weights = WeightFile::read(&[dir.join("model.safetensors")]).unwrap();
        let spec = Spec::grokking(13, 32, 4, 64, 2, 5, 0.0);
        let mut store = ParamStore::new();
        let mut src = ParamSource {
            weights: Some(&mut weights),
            init: None,
            initialised: Vec::new(),
        };
        let net = build_backbone(&spec, &mut store, &mut src).unwrap();
        let mut model = Model {
            store,
            net,
            config: None,
        };
        let (head, report) =
            LastTokenHead::attach(&mut model, Some(&mut weights), &mut init, 13).unwrap();
        assert!(report.initialised.is_empty());
        return Case {
            model,
            head: Head::Last(head),
            policy: DecayPolicy::All,
            adam: AdamWConfig {
                beta2: 0.98,
                eps: 1e-6,
                decay_policy: DecayPolicy::All,
                ..hf_adam
            },
            schedule: Schedule::ThirdWarmupDecay {
                warmup: 10,
                total: 400_000,
            },
        };
    }
    let mut loaded = load_model(&fixture(name).join("model")).unwrap();
    let head = match name {
        "bert_mlm" | "roberta_mlm" => {
            let (h, report) =
                MaskedLmHead::attach(&mut loaded.model, Some(&mut loaded.weights), &mut init)
                    .unwrap();
            assert!(report.initialised.is_empty(), "{:?}", report.initialised);
            Head::Masked(h)
        }
        "gpt2_clm" | "llama_clm" => Head::Causal(
            CausalLmHead::attach(&mut loaded.model, Some(&mut loaded.weights))
                .unwrap()
                .0,
        ),
        "bert_cls" => {
            let (h, report) = ClassifierHead::attach(
                &mut loaded.model,
                Some(&mut loaded.weights),
                &mut init,
                7,
                0.0,
            )
            .unwrap();
            assert!(report.initialised.is_empty(), "{:?}", report.initialised);
            Head::Classifier(h)
        }
        other => panic!("unknown case {other}"),
    };
    Case {
        model: loaded.model,
        head,
        policy: DecayPolicy::HuggingFace,
        adam: hf_adam,
        schedule: hf_schedule,
    }
}

/// Mean loss of the padded rows `rows` without gradients.
fn eval_loss(case: &Case, t: &Tensors, rows: &[usize]) -> f64 {
    let (batch, index) = packed(t, rows);
    let model = &case.model;
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::TrainNoDropout, &mut acts, None)
        .unwrap();
    let labels = t.rows("labels");
    let (_, lv) = t.get("labels");
    let seq_labels = || rows.iter().map(|&r| lv[r] as u32).collect::<Vec<u32>>();
    run_head(
        case,
        &batch,
        acts.output(),
        &labels,
        &index,
        rows,
        &seq_labels,
        None,
    )
    .mean_loss()
}

#[allow(clippy::too_many_arguments)]
fn run_head(
    case: &Case,
    batch: &Batch,
    hidden: &[f32],
    labels: &[Vec<i64>],
    index: &[Vec<Option<usize>>],
    rows: &[usize],
    seq_labels: &dyn Fn() -> Vec<u32>,
    grad: Option<GradTarget<'_>>,
) -> HeadOutput {
    let model = &case.model;
    let out = match &case.head {
        Head::Masked(h) => {
            let mut targets = MaskedTargets::default();
            for (i, &r) in rows.iter().enumerate() {
                for (c, &l) in labels[r].iter().enumerate() {
                    if l >= 0 {
                        targets
                            .rows
                            .push(index[i][c].expect("labelled position is a real token"));
                        targets.labels.push(l as u32);
                    }
                }
            }
            h.run(model, hidden, batch, &targets, grad).unwrap()
        }
        Head::Causal(h) => h.run(model, hidden, batch, grad).unwrap(),
        Head::Classifier(h) => h
            .run(
                model,
                hidden,
                batch,
                &seq_labels(),
                Mode::TrainNoDropout,
                grad,
            )
            .unwrap(),
        Head::Last(h) => h.run(model, hidden, batch, &seq_labels(), grad).unwrap(),
    };
    out
}

/// One forward/backward of `rows`, gradients of `scale * mean loss` added to `grads`.
fn forward_backward(
    case: &Case,
    t: &Tensors,
    rows: &[usize],
    grads: &mut lid_train::params::Grads,
    scale: f32,
) -> f64 {
    let (batch, index) = packed(t, rows);
    let model = &case.model;
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::TrainNoDropout, &mut acts, None)
        .unwrap();
    let hidden = acts.output().to_vec();
    let mut d_hidden = vec![0.0f32; hidden.len()];
    let labels = t.rows("labels");
    let (_, lv) = t.get("labels");
    let seq_labels = || rows.iter().map(|&r| lv[r] as u32).collect::<Vec<u32>>();
    let target = GradTarget {
        grads: &mut *grads,
        d_hidden: &mut d_hidden,
        scale,
    };
    let out = run_head(
        case,
        &batch,
        &hidden,
        &labels,
        &index,
        rows,
        &seq_labels,
        Some(target),
    );
    model
        .net
        .backward(&model.store, grads, &batch, &mut acts, &d_hidden)
        .unwrap();
    out.mean_loss()
}

fn max_abs(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).abs())
        .fold(0.0, f64::max)
}

fn check_case(name: &'static str) {
    let mut case = load_case(name);
    let t = Tensors::read(&fixture(name).join("step.safetensors"));
    let meta = meta(name);
    let all: Vec<usize> = (0..t.get("input_ids").0[0]).collect();
    // Loss without gradients equals the loss with them.
    let plain = eval_loss(&case, &t, &all);
    let mut grads = case.model.store.zero_grads();
    let loss = forward_backward(&case, &t, &all, &mut grads, 1.0);
    let want = t.get("loss").1[0];
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{name}: loss {loss} vs {want}"
    );
    assert_eq!(plain, loss);
    // Every trainable parameter of the fixture has a gradient here, and they agree.
    let trainable: Vec<String> = meta["trainable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut worst = (0.0f64, String::new());
    for pname in &trainable {
        let id = case
            .model
            .store
            .id(pname)
            .unwrap_or_else(|| panic!("{name}: no parameter {pname}"));
        let g = grads.get(id).unwrap();
        let d = max_abs(g, &t.get(&format!("grad.{pname}")).1);
        if d > worst.0 {
            worst = (d, pname.clone());
        }
    }
    assert!(
        worst.0 <= 1e-4,
        "{name}: gradient of {} differs by {}",
        worst.1,
        worst.0
    );
    assert_eq!(
        trainable.len(),
        case.model.store.len(),
        "{name}: parameter count differs from PyTorch"
    );
    // The weight-decay groups are Hugging Face's.
    let no_decay: Vec<&str> = meta["no_decay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (_, p) in case.model.store.iter() {
        assert_eq!(
            !p.decays(case.policy),
            no_decay.contains(&p.name.as_str()),
            "{name}: decay group of {}",
            p.name
        );
    }
    // Three AdamW steps, accumulation 2, clipping, schedule.
    let mut adam = AdamW::new(case.adam.clone(), &case.model.store).unwrap();
    for s in 0..3u64 {
        let mut g = case.model.store.zero_grads();
        forward_backward(&case, &t, &[0, 1], &mut g, 0.5);
        forward_backward(&case, &t, &[2, 3], &mut g, 0.5);
        let lr = case.adam.lr * case.schedule.factor(s);
        let info = adam.step(&mut case.model.store, &mut g, lr).unwrap();
        let want_norm = meta["grad_norm_before_clip"][s as usize].as_f64().unwrap();
        assert!(
            (info.grad_norm - want_norm).abs() <= 1e-5 * want_norm,
            "{name}: step {s} grad norm {} vs {want_norm}",
            info.grad_norm
        );
        assert!((lr - meta["lr_per_step"][s as usize].as_f64().unwrap()).abs() < 1e-15);
    }
    let noise = &meta["adam_noise_elements"];
    let mut worst = (0.0f64, String::new());
    for pname in &trainable {
        let id = case.model.store.id(pname).unwrap();
        let ours = case.model.store.data(id);
        let theirs = &t.get(&format!("after3.{pname}")).1;
        let mut noisy: Vec<usize> = noise
            .get(pname)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|x| x.as_u64().unwrap() as usize).collect())
            .unwrap_or_default();
        // Also noise: elements whose full-batch gradient is below 1e-5 of the parameter's largest
        // (float32 rounding level; Adam turns its sign into a step of about lr).
        let g = &t.get(&format!("grad.{pname}")).1;
        let top = g.iter().fold(0.0f64, |m, &v| m.max(v.abs()));
        noisy.extend(
            g.iter()
                .enumerate()
                .filter(|(_, &v)| v.abs() < 1e-5 * top)
                .map(|(i, _)| i),
        );
        for (i, (&x, &y)) in ours.iter().zip(theirs).enumerate() {
            let d = (f64::from(x) - y).abs();
            let tol = if noisy.contains(&i) { 2e-3 } else { 1e-5 };
            assert!(d <= tol, "{name}: {pname}[{i}] after 3 steps: {x} vs {y}");
            if !noisy.contains(&i) && d > worst.0 {
                worst = (d, pname.clone());
            }
        }
    }
    eprintln!(
        "{name}: loss {loss:.7} (PyTorch {want:.7}); after 3 steps max abs diff {:.2e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn bert_masked_lm_matches_pytorch() {
    check_case("bert_mlm");
}

#[test]
fn roberta_masked_lm_matches_pytorch() {
    check_case("roberta_mlm");
}

#[test]
fn gpt2_causal_lm_matches_pytorch() {
    check_case("gpt2_clm");
}

#[test]
fn llama_causal_lm_matches_pytorch() {
    check_case("llama_clm");
}

#[test]
fn bert_classifier_matches_pytorch() {
    check_case("bert_cls");
}

#[test]
fn grokking_model_matches_pytorch() {
    check_case("grokking");
}

/// Every hidden state of the eval forward equals `transformers`' (`output_hidden_states`).
#[test]
fn hidden_states_match_pytorch() {
    for name in [
        "bert_mlm",
        "roberta_mlm",
        "gpt2_clm",
        "llama_clm",
        "bert_cls",
    ] {
        let case = load_case(name);
        let t = Tensors::read(&fixture(name).join("step.safetensors"));
        let rows: Vec<usize> = (0..4).collect();
        let (batch, index) = packed(&t, &rows);
        let n = case.model.net.spec.num_hidden_states();
        let mut capture = lid_train::model::Capture::new((0..n).collect());
        let mut acts = Activations::new();
        case.model
            .net
            .forward(
                &case.model.store,
                &batch,
                Mode::Eval,
                &mut acts,
                Some(&mut capture),
            )
            .unwrap();
        let d = case.model.net.spec.hidden;
        for (i, state) in capture.states.iter().enumerate() {
            let (shape, want) = t.get(&format!("hidden_{i}"));
            let mut worst = 0.0f64;
            for (r, cols) in index.iter().enumerate() {
                for (c, packed_row) in cols.iter().enumerate() {
                    if let Some(p) = packed_row {
                        for k in 0..d {
                            let w = want[(r * shape[1] + c) * d + k];
                            worst = worst.max((f64::from(state[p * d + k]) - w).abs());
                        }
                    }
                }
            }
            assert!(worst <= 1e-5, "{name}: hidden state {i} differs by {worst}");
        }
    }
}

/// LoRA (PEFT 0.21.2, rsLoRA r 4 alpha 8 on q/k/v/o of the tiny Llama): loss and adapter
/// gradients of one step, adapters after 3 steps, and the merged weights equal to PEFT's
/// `merge_and_unload` (1e-6) and giving the adapter-applied hidden states (1e-5).
#[test]
fn llama_lora_matches_peft() {
    use lid_train::lora::{self, LoraConfig};
    let dir = fixture("llama_lora");
    let t = Tensors::read(&dir.join("step.safetensors"));
    let meta = meta("llama_lora");
    let mut loaded = load_model(&dir.join("model")).unwrap();
    let (head, _) = CausalLmHead::attach(&mut loaded.model, Some(&mut loaded.weights)).unwrap();
    let config = LoraConfig {
        rank: 4,
        alpha: 8.0,
        rslora: true,
        targets: lora::LoraTarget::ATTENTION.to_vec(),
        seed: 0,
    };
    let mut adapter = WeightFile::read(&[dir.join("adapter/adapter_model.safetensors")]).unwrap();
    lora::attach(&mut loaded.model, &config, Some(&mut adapter)).unwrap();
    let mut case = Case {
        model: loaded.model,
        head: Head::Causal(head),
        policy: DecayPolicy::HuggingFace,
        adam: AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decay_policy: DecayPolicy::HuggingFace,
            max_grad_norm: Some(1.0),
        },
        schedule: Schedule::LinearWarmupDecay {
            warmup: 1,
            total: 4,
        },
    };
    let peft = |name: &str| {
        name.replace(".lora_A.weight", ".lora_A.default.weight")
            .replace(".lora_B.weight", ".lora_B.default.weight")
    };
    // Adapter-applied hidden states equal PEFT's.
    let rows: Vec<usize> = (0..4).collect();
    let (batch, index) = packed(&t, &rows);
    let hidden_of = |model: &Model| {
        let n = model.net.spec.num_hidden_states();
        let mut capture = lid_train::model::Capture::new((0..n).collect());
        let mut acts = Activations::new();
        model
            .net
            .forward(
                &model.store,
                &batch,
                Mode::Eval,
                &mut acts,
                Some(&mut capture),
            )
            .unwrap();
        capture.states
    };
    let compare = |states: &[Vec<f32>], tol: f64| {
        let d = case.model.net.spec.hidden;
        for (i, state) in states.iter().enumerate() {
            let (shape, want) = t.get(&format!("hidden_{i}"));
            for (r, cols) in index.iter().enumerate() {
                for (c, p) in cols.iter().enumerate() {
                    let Some(p) = p else { continue };
                    for k in 0..d {
                        let w = want[(r * shape[1] + c) * d + k];
                        assert!(
                            (f64::from(states[i][p * d + k]) - w).abs() <= tol,
                            "hidden {i} differs"
                        );
                    }
                }
            }
            let _ = state;
        }
    };
    compare(&hidden_of(&case.model), 1e-5);
    // Gradients reach only the adapters, and equal PEFT's.
    let all: Vec<usize> = (0..4).collect();
    let mut grads = case.model.store.zero_grads();
    let loss = forward_backward(&case, &t, &all, &mut grads, 1.0);
    assert!((loss - t.get("loss").1[0]).abs() < 1e-5);
    let mut n_trainable = 0;
    for (id, p) in case.model.store.iter() {
        match grads.get(id) {
            Some(g) => {
                n_trainable += 1;
                let d = max_abs(g, &t.get(&format!("grad.{}", peft(&p.name))).1);
                assert!(d <= 1e-4, "gradient of {} differs by {d}", p.name);
            }
            None => assert!(!p.trainable),
        }
    }
    assert_eq!(n_trainable, meta["trainable"].as_array().unwrap().len());
    // Merging the initial adapters gives PEFT's merged weights and the same outputs.
    let mut merged = case.model.clone();
    lora::merge(&mut merged).unwrap();
    for name in ["q_proj", "k_proj", "v_proj", "o_proj"] {
        for l in 0..2 {
            let w = format!("model.layers.{l}.self_attn.{name}.weight");
            let d = max_abs(
                merged.store.data(merged.store.id(&w).unwrap()),
                &t.get(&format!("merged.{w}")).1,
            );
            assert!(d <= 1e-6, "merged {w} differs by {d}");
        }
    }
    assert!(merged.store.iter().all(|(_, p)| !p.name.contains("lora_")));
    compare(&hidden_of(&merged), 1e-5);
    // Three steps on the adapters.
    let mut adam = AdamW::new(case.adam.clone(), &case.model.store).unwrap();
    for s in 0..3u64 {
        let mut g = case.model.store.zero_grads();
        forward_backward(&case, &t, &[0, 1], &mut g, 0.5);
        forward_backward(&case, &t, &[2, 3], &mut g, 0.5);
        let lr = case.adam.lr * case.schedule.factor(s);
        adam.step(&mut case.model.store, &mut g, lr).unwrap();
    }
    for (_, p) in case.model.store.iter().filter(|(_, p)| p.trainable) {
        let d = max_abs(&p.data, &t.get(&format!("after3.{}", peft(&p.name))).1);
        assert!(d <= 1e-5, "{} after 3 steps differs by {d}", p.name);
    }
}
