//! The LID probe of the grokking study (REFERENCE.md study 4): in eval mode, run sequences drawn from
//! a split through the model, take the output of the last block before the final LayerNorm at the
//! chosen positions, deduplicate, keep `N` points in a seeded random order, and estimate local TwoNN
//! dimensions (scikit-dimension 0.3.4 CDF, the paper's) over `L`-neighbourhoods, plus a global TwoNN.
//!
//! The data preparation is `lid_core::prepare::Preparation` (a seeded permutation of all rows, exact
//! dedup keeping first occurrences, the first `N`), the estimator `lid_core::estimators::TwoNN`; the
//! neighbour search is whatever [`NeighborSearch`] the caller passes (the study uses `lid-knn`'s exact
//! brute force).

use crate::error::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use lid_core::estimators::{CdfConvention, GlobalEstimator, PointwiseEstimator, TwoNN};
use lid_core::prepare::Preparation;
use lid_core::{NeighborSearch, PointCloud};

use super::config::{ProbeConfig, ProbePositions};
use super::dataset::{Example, SEQ_LEN};
use super::model::Transformer;

/// Summary of one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Mean of the local estimates.
    pub mean: f64,
    /// Standard deviation (ddof 1) of the local estimates.
    pub std: f64,
    /// Global TwoNN on the same points.
    pub global: f64,
    /// Points the estimates were made on (`min(N, unique rows)`).
    pub n_points: usize,
    /// Unique rows among the collected vectors.
    pub n_unique: usize,
}

/// The collected vectors of one probe, before preparation: `(rows, dim)` row-major.
///
/// # Errors
/// An empty split or a candle failure.
pub fn collect_vectors(
    model: &Transformer,
    examples: &[Example],
    config: &ProbeConfig,
) -> Result<(Vec<f32>, usize)> {
    ensure!(!examples.is_empty(), "cannot probe an empty split");
    let d = model.config().d_model;
    let positions: &[usize] = match config.positions {
        ProbePositions::All => &[0, 1, 2, 3],
        ProbePositions::Operands => &[0, 2],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut out = Vec::with_capacity(config.batches * config.batch_size * positions.len() * d);
    for _ in 0..config.batches {
        let batch: Vec<Example> = (0..config.batch_size)
            .map(|_| examples[rng.random_range(0..examples.len())])
            .collect();
        let (tokens, _) = model.batch_tensors(&batch)?;
        let hidden = model.forward(&tokens, None)?.last_block.to_vec2::<f32>()?;
        for seq in 0..batch.len() {
            for &pos in positions {
                out.extend_from_slice(&hidden[seq * SEQ_LEN + pos]);
            }
        }
    }
    Ok((out, d))
}

/// Runs the probe on sequences drawn from `examples`.
///
/// # Errors
/// Fewer unique vectors than `L + 1`, non-finite activations, or estimator failures.
pub fn probe_split(
    model: &Transformer,
    examples: &[Example],
    config: &ProbeConfig,
    search: &dyn NeighborSearch,
) -> Result<ProbeResult> {
    let (values, dim) = collect_vectors(model, examples, config)?;
    let n_rows = values.len() / dim;
    let cloud = PointCloud::from_vec(values, n_rows, dim)?;
    let prep = Preparation::builder()
        .sample(n_rows, config.seed)
        .dedup(true)
        .keep_first(config.n_points)
        .build()?;
    let (points, report) = prep.run(&cloud)?;
    let n_unique = report.n_before_prefix;
    ensure!(
        points.n_points() > config.neighbors,
        "the probe found only {} unique vectors, not more than L = {}",
        points.n_points(),
        config.neighbors
    );
    let twonn = TwoNN::new().cdf(CdfConvention::Skdim034);
    let graph = search.knn_graph(&points, config.neighbors)?;
    let local = twonn.estimate_pointwise(&points, &graph)?.values;
    let mean = lid_core::stats::mean(&local)?;
    let std = lid_core::stats::std(&local, 1)?;
    let global = twonn.estimate_global(&points, search)?.dimension;
    Ok(ProbeResult {
        mean,
        std,
        global,
        n_points: points.n_points(),
        n_unique,
    })
}
