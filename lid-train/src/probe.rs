//! A label-free training monitor: the mean local intrinsic dimension of a model's token vectors on
//! fixed sequences (Ruppik et al., NeurIPS 2025), measured every `k` steps of any training loop.
//!
//! Built once from fixed sequences and settings; each [`LidProbe::measure`] runs the model in eval
//! mode, collects the token vectors of one layer (Hugging Face numbering, or the last block before
//! the final norm), drops tokens by id (paper: pad and eos; [`TokenFilter`]), samples (paper:
//! 150,000, seed 42), removes exact duplicates keeping the first, keeps the first `N` (paper
//! 60,000), and estimates local TwoNN over `L`-neighbourhoods (paper 128; scikit-dimension 0.3.4's
//! CDF, [`CdfConvention::Skdim034`]). The series and its change point
//! ([`lid_core::stats::change_point`]) tell when training has stopped changing the representation.
//!
//! ```no_run
//! # fn main() -> lid_train::Result<()> {
//! use lid_train::model::load_model;
//! use lid_train::probe::{LidProbe, ProbeSettings};
//! use lid_train::data::Sequence;
//! let loaded = load_model("my-model".as_ref())?;
//! let sequences: Vec<Sequence> = vec![Sequence::plain(vec![1, 2, 3, 4, 5])]; // your tokenised probe texts
//! let settings = ProbeSettings { n_points: 3000, neighbors: 64, ..ProbeSettings::paper() };
//! let mut probe = LidProbe::new(sequences, loaded.special.clone(), settings, Box::new(lid_knn::BruteForce::default()))?;
//! let mut model = loaded.model;
//! for step in 0..10_000u64 {
//!     // ... one update of your own training loop on `model` ...
//!     if step % 500 == 0 {
//!         let point = probe.measure(&model, step)?;
//!         println!("step {step}: mean LID {:.2}", point.mean);
//!     }
//! }
//! println!("LID change point: {:?}", probe.change_point()?);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};

use lid_core::estimators::{CdfConvention, GlobalEstimator, PointwiseEstimator, TwoNN};
use lid_core::prepare::Preparation;
use lid_core::{NeighborSearch, PointCloud};
use lid_embed::{LayerIndex, SpecialIds, TokenFilter};

use crate::data::{pack, Sequence};
use crate::error::{Error, Result};
use crate::model::{Activations, Capture, Mode, Model};

/// Which vectors the probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeLayer {
    /// Hidden state in Hugging Face numbering (paper: `-1`).
    Hidden(i64),
    /// The last block's output before the final norm (the grokking study).
    LastBlock,
}

/// Probe settings. [`ProbeSettings::paper`]: docs/method.md's pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSettings {
    /// Layer.
    pub layer: ProbeLayer,
    /// Token filter.
    pub filter: TokenFilter,
    /// Token vectors sampled before deduplication (`None`: all, in a seeded random order).
    pub sample: Option<usize>,
    /// Seed of that sample.
    pub sample_seed: u64,
    /// Points kept after deduplication, `N`.
    pub n_points: usize,
    /// Neighbourhood size `L`.
    pub neighbors: usize,
    /// TwoNN's CDF convention.
    pub cdf: CdfConvention,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// Keep only these token positions of every sequence (`None`: all that pass the filter).
    pub positions: Option<Vec<u32>>,
    /// Also estimate a global TwoNN on the same points.
    pub global: bool,
}

impl ProbeSettings {
    /// The paper's: last hidden state, drop pad and eos, sample 150,000 (seed 42), dedup, N =
    /// 60,000, L = 128, scikit-dimension 0.3.4's CDF.
    pub fn paper() -> Self {
        Self {
            layer: ProbeLayer::Hidden(-1),
            filter: TokenFilter::PadAndEos,
            sample: Some(150_000),
            sample_seed: 42,
            n_points: 60_000,
            neighbors: 128,
            cdf: CdfConvention::Skdim034,
            batch_size: 32,
            positions: None,
            global: false,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// `L < 3`, `N <= L`, batch size 0.
    pub fn check(&self) -> Result<()> {
        if self.neighbors < 3 {
            return Err(Error::setting(
                "neighbors",
                format!("local TwoNN needs L >= 3, got {}", self.neighbors),
            ));
        }
        if self.n_points <= self.neighbors {
            return Err(Error::setting(
                "n-points",
                format!("N = {} must exceed L = {}", self.n_points, self.neighbors),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::setting("batch-size", "must be at least 1"));
        }
        Ok(())
    }
}

/// Where a token vector came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRef {
    /// Index of the probe sequence.
    pub sequence: u32,
    /// Position in it.
    pub position: u32,
    /// Token id.
    pub id: u32,
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbePoint {
    /// Training step it was taken at.
    pub step: u64,
    /// Mean local LID.
    pub mean: f64,
    /// Standard deviation (ddof 1).
    pub std: f64,
    /// Median.
    pub median: f64,
    /// Points estimated (`min(N, unique vectors)`).
    pub n_points: usize,
    /// Exact duplicates removed.
    pub duplicates_removed: usize,
    /// Points with a near duplicate (`lid_core::guards::NearDuplicates` at its default threshold,
    /// the guard of `lid estimate`: `0 < r1 <= 1e-4 r_L`).
    pub near_duplicate_points: usize,
    /// Points whose `L`-neighbourhood holds a near-duplicate pair
    /// (`NearDuplicateReport::neighbourhoods_affected`): their estimates may be pulled towards 0.
    pub near_duplicate_neighbourhoods: usize,
    /// Global TwoNN on the same points, when asked for.
    pub global: Option<f64>,
}

/// A measurement with every local estimate and its token.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEstimate {
    /// The summary.
    pub point: ProbePoint,
    /// Local estimates, one per point.
    pub local: Vec<f64>,
    /// The token of each point.
    pub tokens: Vec<TokenRef>,
}

/// The probe (see the module docs).
pub struct LidProbe {
    sequences: Vec<Sequence>,
    special: SpecialIds,
    settings: ProbeSettings,
    search: Box<dyn NeighborSearch + Send + Sync>,
    series: Vec<ProbePoint>,
}

impl LidProbe {
    /// A probe over `sequences` (token ids; `special` marks tokens for the filter).
    ///
    /// # Errors
    /// Invalid settings, no sequences.
    pub fn new(
        sequences: Vec<Sequence>,
        special: SpecialIds,
        settings: ProbeSettings,
        search: Box<dyn NeighborSearch + Send + Sync>,
    ) -> Result<Self> {
        settings.check()?;
        if sequences.iter().all(|s| s.ids.is_empty()) {
            return Err(Error::Input("the probe has no tokens".into()));
        }
        Ok(Self {
            sequences,
            special,
            settings,
            search,
            series: Vec::new(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    /// The token vectors of the probe layer that pass the filter: `(values, dim, tokens)`.
    ///
    /// # Errors
    /// A layer outside the model, model errors.
    pub fn vectors(&self, model: &Model) -> Result<(Vec<f32>, usize, Vec<TokenRef>)> {
        let spec = &model.net.spec;
        let d = spec.hidden;
        let index = match self.settings.layer {
            ProbeLayer::Hidden(i) => Some(LayerIndex(i).resolve(spec.layers)?),
            ProbeLayer::LastBlock => None,
        };
        let mut values = Vec::new();
        let mut tokens = Vec::new();
        let mut acts = Activations::new();
        for (b, chunk) in self.sequences.chunks(self.settings.batch_size).enumerate() {
            let nonempty: Vec<(usize, &Sequence)> = chunk
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.ids.is_empty())
                .collect();
            if nonempty.is_empty() {
                continue;
            }
            let batch = pack(nonempty.iter().map(|(_, s)| *s));
            let mut capture = index.map(|i| Capture::new(vec![i]));
            model.net.forward(
                &model.store,
                &batch,
                Mode::Eval,
                &mut acts,
                capture.as_mut(),
            )?;
            let states: &[f32] = match &capture {
                Some(c) => &c.states[0],
                None => acts.last_block_output(),
            };
            for (k, (i, s)) in nonempty.iter().enumerate() {
                let mut keep = self.settings.filter.keep(&s.ids, &s.special, &self.special);
                if let Some(positions) = &self.settings.positions {
                    for (pos, k) in keep.iter_mut().enumerate() {
                        *k = *k && positions.contains(&(pos as u32));
                    }
                }
                let start = batch.offsets[k];
                for (pos, &kept) in keep.iter().enumerate() {
                    if kept {
                        values.extend_from_slice(&states[(start + pos) * d..(start + pos + 1) * d]);
                        tokens.push(TokenRef {
                            sequence: (b * self.settings.batch_size + i) as u32,
                            position: pos as u32,
                            id: s.ids[pos],
                        });
                    }
                }
            }
        }
        Ok((values, d, tokens))
    }

    /// Local estimates on the current model, without recording them.
    ///
    /// # Errors
    /// Fewer unique vectors than `L + 1`, non-finite activations, estimator failures.
    pub fn estimate(&self, model: &Model, step: u64) -> Result<ProbeEstimate> {
        let (values, dim, tokens) = self.vectors(model)?;
        self.estimate_vectors(values, dim, tokens, step)
    }

    /// Local estimates on vectors collected elsewhere (e.g. a model run on a GPU), with the
    /// probe's preparation and estimator: `values` holds one row of `dim` per entry of `tokens`.
    ///
    /// # Errors
    /// As [`LidProbe::estimate`], or inconsistent lengths.
    pub fn estimate_vectors(
        &self,
        values: Vec<f32>,
        dim: usize,
        tokens: Vec<TokenRef>,
        step: u64,
    ) -> Result<ProbeEstimate> {
        let rows = tokens.len();
        if values.len() != rows * dim {
            return Err(Error::Input(format!(
                "{} values for {rows} vectors of width {dim}",
                values.len()
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "the model produced non-finite activations at step {step}"
            )));
        }
        let cloud = PointCloud::from_vec(values, rows, dim)?;
        let s = &self.settings;
        let prep = Preparation::builder()
            .sample(s.sample.unwrap_or(rows), s.sample_seed)
            .dedup(true)
            .keep_first(s.n_points)
            .build()?;
        let (points, report) = prep.run(&cloud)?;
        if points.n_points() <= s.neighbors {
            return Err(Error::Input(format!(
                "the probe found {} unique token vectors, not more than L = {} (use more probe sequences or a smaller L)",
                points.n_points(),
                s.neighbors
            )));
        }
        let graph = self.search.knn_graph(&points, s.neighbors)?;
        let twonn = TwoNN::new().cdf(s.cdf);
        let local = twonn.estimate_pointwise(&points, &graph)?.values;
        let global = match s.global {
            true => Some(
                twonn
                    .estimate_global(&points, self.search.as_ref())?
                    .dimension,
            ),
            false => None,
        };
        let near = lid_core::guards::NearDuplicates::default().check(&graph);
        let summary = lid_core::stats::describe(&local)?;
        let point = ProbePoint {
            step,
            mean: summary.mean,
            std: lid_core::stats::std(&local, 1)?,
            median: summary.median,
            n_points: points.n_points(),
            duplicates_removed: report.n_duplicates_removed,
            near_duplicate_points: near.points,
            near_duplicate_neighbourhoods: near.neighbourhoods_affected,
            global,
        };
        let kept = report.kept_rows.iter().map(|&r| tokens[r]).collect();
        Ok(ProbeEstimate {
            point,
            local,
            tokens: kept,
        })
    }

    /// Measures the model at `step` and records the result in the series.
    ///
    /// # Errors
    /// As [`LidProbe::estimate`].
    pub fn measure(&mut self, model: &Model, step: u64) -> Result<ProbePoint> {
        let point = self.estimate(model, step)?.point;
        self.series.push(point.clone());
        Ok(point)
    }

    /// The measurements so far.
    pub fn series(&self) -> &[ProbePoint] {
        &self.series
    }

    /// The least-squares single change point of the mean-LID series
    /// ([`lid_core::stats::change_point`]).
    ///
    /// # Errors
    /// Fewer than the measurements the statistic needs.
    pub fn change_point(&self) -> Result<lid_core::stats::ChangePoint> {
        let means: Vec<f64> = self.series.iter().map(|p| p.mean).collect();
        Ok(lid_core::stats::change_point(&means)?)
    }
}
