//! The span tracker head's gradients against central finite differences of its loss (no PyTorch
//! peer exists for this TripPy-style head), through the tiny BERT fixture, with and without
//! TripPy-R's gate class weights; the weighted gate loss against a hand computation; and its span
//! decoding.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture

use std::path::Path;

use lid_train::dst::{SpanTrackerHead, TurnLabels};
use lid_train::heads::GradTarget;
use lid_train::model::{load_model, Activations, Batch, Init, Mode, Model};
use lid_train::params::ParamId;

fn setup() -> (Model, SpanTrackerHead) {
    let mut loaded =
        load_model(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert_cls/model"))
            .unwrap();
    let (head, report) = SpanTrackerHead::attach(
        &mut loaded.model,
        Some(&mut loaded.weights),
        &mut Init::hugging_face(4, 0.2),
        3,
        4,
        2,
        0.0,
    )
    .unwrap();
    assert_eq!(
        report.initialised,
        [
            "dst.gates.weight",
            "dst.gates.bias",
            "dst.spans.weight",
            "dst.spans.bias"
        ]
    );
    (loaded.model, head)
}

fn batch() -> (Batch, Vec<TurnLabels>, Vec<Vec<bool>>) {
    let batch = Batch::new(&[vec![1u32, 7, 8, 9, 2, 11, 12, 2], vec![1, 20, 21, 2, 30, 2]]);
    let labels = vec![
        TurnLabels {
            gates: vec![2, 0, 1],
            spans: vec![Some((1, 2)), None, None],
        },
        TurnLabels {
            gates: vec![0, 2, 2],
            spans: vec![None, Some((2, 2)), Some((1, 2))],
        },
    ];
    let allowed = vec![
        vec![false, true, true, true, false, false, false, false],
        vec![false, true, true, false, false, false],
    ];
    (batch, labels, allowed)
}

fn loss(model: &Model, head: &SpanTrackerHead) -> f64 {
    let (batch, labels, allowed) = batch();
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::Eval, &mut acts, None)
        .unwrap();
    head.run(
        model,
        acts.output(),
        &batch,
        Some(&labels),
        &allowed,
        Mode::Eval,
        None,
    )
    .unwrap()
    .0
    .mean_loss()
}

#[test]
fn gradients_match_finite_differences() {
    let (model, head) = setup();
    check_gradients(&model, &head);
}

/// TripPy-R's none weight (0.1 on class 0): the gradient of the weighted loss still matches the
/// finite differences of that loss (the batch has none, dontcare and span gates).
#[test]
fn weighted_gate_gradients_match_finite_differences() {
    let (model, head) = setup();
    let head = head.with_class_weights(&[0.1, 1.0, 1.0, 1.0]).unwrap();
    check_gradients(&model, &head);
}

/// Hand computation: with the gate layer zeroed every gate's logits are 0, so each gate's
/// cross-entropy is ln 4 (4 classes). Labels with no span gate leave only the gate terms. Turn 1
/// has gates (none, none, dontcare), turn 2 (none, inform, none): unweighted each turn's loss is
/// 3 ln 4; with the none weight 0.1 it is (0.1 + 0.1 + 1) ln 4 = 1.2 ln 4 (no renormalisation by
/// the weights, as torch's `CrossEntropyLoss(weight, reduction='none')` summed per example). The
/// batch loss is the mean over the 2 turns.
#[test]
fn none_weight_scales_the_gate_loss_as_computed_by_hand() {
    let (mut model, head) = setup();
    for name in ["dst.gates.weight", "dst.gates.bias"] {
        let id = model.store.id(name).unwrap();
        model.store.get_mut(id).data.fill(0.0);
    }
    let (batch, _, allowed) = batch();
    let labels = vec![
        TurnLabels {
            gates: vec![0, 0, 1],
            spans: vec![None; 3],
        },
        TurnLabels {
            gates: vec![0, 3, 0],
            spans: vec![None; 3],
        },
    ];
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::Eval, &mut acts, None)
        .unwrap();
    let run = |head: &SpanTrackerHead| {
        head.run(
            &model,
            acts.output(),
            &batch,
            Some(&labels),
            &allowed,
            Mode::Eval,
            None,
        )
        .unwrap()
        .0
        .mean_loss()
    };
    let ln4 = 4f64.ln();
    // f32 logits and log-sum-exp: ln 4 to about 1e-7 relative.
    assert!((run(&head) - 3.0 * ln4).abs() < 1e-5, "{}", run(&head));
    assert_eq!(head.class_weights(), [1.0; 4]);
    let weighted = head.with_class_weights(&[0.1, 1.0, 1.0, 1.0]).unwrap();
    assert!(
        (run(&weighted) - 1.2 * ln4).abs() < 1e-5,
        "{}",
        run(&weighted)
    );
}

#[test]
fn class_weights_are_checked() {
    let (_, head) = setup();
    assert!(head.clone().with_class_weights(&[0.1, 1.0, 1.0]).is_err());
    assert!(head
        .clone()
        .with_class_weights(&[-0.1, 1.0, 1.0, 1.0])
        .is_err());
    assert!(head.with_class_weights(&[f32::NAN, 1.0, 1.0, 1.0]).is_err());
}

fn check_gradients(model: &Model, head: &SpanTrackerHead) {
    let model = model.clone();
    let (batch, labels, allowed) = batch();
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::TrainNoDropout, &mut acts, None)
        .unwrap();
    let mut grads = model.store.zero_grads();
    let mut d_hidden = vec![0.0f32; acts.output().len()];
    let hidden = acts.output().to_vec();
    let (out, _) = head
        .run(
            &model,
            &hidden,
            &batch,
            Some(&labels),
            &allowed,
            Mode::TrainNoDropout,
            Some(GradTarget {
                grads: &mut grads,
                d_hidden: &mut d_hidden,
                scale: 1.0,
            }),
        )
        .unwrap();
    model
        .net
        .backward(&model.store, &mut grads, &batch, &mut acts, &d_hidden)
        .unwrap();
    assert!((out.mean_loss() - loss(&model, head)).abs() < 1e-6);
    let names = [
        "dst.gates.weight",
        "dst.gates.bias",
        "dst.spans.weight",
        "dst.spans.bias",
        "bert.pooler.dense.weight",
        "bert.encoder.layer.1.output.dense.weight",
        "bert.embeddings.word_embeddings.weight",
    ];
    for name in names {
        let id: ParamId = model.store.id(name).unwrap();
        let g = grads.get(id).unwrap();
        // The largest few gradient entries, where the finite difference is well above rounding.
        let mut order: Vec<usize> = (0..g.len()).collect();
        order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        for &i in order.iter().take(4) {
            let eps = 1e-2f32;
            let mut plus = model.clone();
            plus.store.get_mut(id).data[i] += eps;
            let mut minus = model.clone();
            minus.store.get_mut(id).data[i] -= eps;
            let fd = (loss(&plus, head) - loss(&minus, head)) / (2.0 * f64::from(eps));
            let tol = 2e-2 * fd.abs().max(1e-2);
            assert!(
                (f64::from(g[i]) - fd).abs() <= tol,
                "{name}[{i}]: analytic {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}

#[test]
fn predicted_spans_stay_inside_the_allowed_positions() {
    let (model, head) = setup();
    let (batch, _, allowed) = batch();
    let mut acts = Activations::new();
    model
        .net
        .forward(&model.store, &batch, Mode::Eval, &mut acts, None)
        .unwrap();
    let (_, preds) = head
        .run(
            &model,
            acts.output(),
            &batch,
            None,
            &allowed,
            Mode::Eval,
            None,
        )
        .unwrap();
    for (p, a) in preds.iter().zip(&allowed) {
        assert_eq!(p.gates.len(), 3);
        for (s, e) in p.spans.iter().map(|x| x.unwrap()) {
            assert!(s <= e && a[s as usize] && a[e as usize]);
        }
    }
    // No allowed position: no span.
    let none = vec![vec![false; 8], vec![false; 6]];
    let (_, preds) = head
        .run(&model, acts.output(), &batch, None, &none, Mode::Eval, None)
        .unwrap();
    assert!(preds.iter().all(|p| p.spans.iter().all(Option::is_none)));
}
