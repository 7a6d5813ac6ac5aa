//! The LID probe of the grokking study (docs/reproduction.md study 4): in eval mode, run sequences drawn from
//! a split through the model, take the output of the last block before the final LayerNorm at the
//! chosen positions, deduplicate, keep `N` points in a seeded random order, and estimate local TwoNN
//! dimensions (scikit-dimension 0.3.4 CDF, the paper's) over `L`-neighbourhoods, plus a global TwoNN.
//!
//! The probe is lid-train's label-free monitor ([`lid_train::probe::LidProbe`]) built once per
//! split from `batches x batch_size` sequences drawn with replacement (seed = the probe seed), with
//! the layer [`ProbeLayer::LastBlock`], every token kept (or only the operand positions), no
//! subsampling before deduplication (all vectors in a seeded random order), `N` and `L` from
//! [`ProbeConfig`], and `lid-knn`'s exact brute force.

use lid_embed::{SpecialIds, TokenFilter};
use lid_train::data::Sequence;
use lid_train::probe::{LidProbe, ProbeLayer, ProbePoint, ProbeSettings};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use lid_core::estimators::CdfConvention;

use super::config::{ProbeConfig, ProbePositions};
use super::dataset::Example;
use crate::error::{ensure, Result};

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
}

impl From<&ProbePoint> for ProbeResult {
    fn from(p: &ProbePoint) -> Self {
        Self {
            mean: p.mean,
            std: p.std,
            global: p.global.unwrap_or(f64::NAN),
            n_points: p.n_points,
        }
    }
}

/// The probe of one split: `config.batches x config.batch_size` sequences drawn with replacement
/// from `examples` with `config.seed`.
///
/// # Errors
/// An empty split, invalid settings.
pub fn split_probe(examples: &[Example], config: &ProbeConfig) -> Result<LidProbe> {
    ensure!(!examples.is_empty(), "cannot probe an empty split");
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let sequences: Vec<Sequence> = (0..config.batches * config.batch_size)
        .map(|_| {
            Sequence::plain(
                examples[rng.random_range(0..examples.len())]
                    .tokens
                    .to_vec(),
            )
        })
        .collect();
    let settings = ProbeSettings {
        layer: ProbeLayer::LastBlock,
        filter: TokenFilter::AttentionMask,
        sample: None,
        sample_seed: config.seed,
        n_points: config.n_points,
        neighbors: config.neighbors,
        cdf: CdfConvention::Skdim034,
        batch_size: config.batch_size,
        positions: match config.positions {
            ProbePositions::All => None,
            ProbePositions::Operands => Some(vec![0, 2]),
        },
        global: true,
    };
    Ok(LidProbe::new(
        sequences,
        SpecialIds::default(),
        settings,
        Box::new(lid_knn::BruteForce::new()),
    )?)
}
