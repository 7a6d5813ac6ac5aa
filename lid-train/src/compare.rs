//! Comparing the local dimensions of two models on the same token positions of several corpora:
//! the measurement of docs/reproduction.md study 1 (Ruppik et al. 2025, section 4.1), shared by the
//! fine-tuning-shift study, `lid compare` and the Python package's `lid.compare`.
//!
//! For each corpus: `M` sequences sampled from its held-out part (seed 778) are tokenised once;
//! both models go through the same LID probe (same sequences, layer, filter, sampling seed, `N`,
//! `L`), so the positions sampled are the same for both up to exact duplicates each model has. The
//! comparison reports both means and standard deviations, the standardized mean difference
//! (`lid_core::stats::standardized_mean_difference`, base minus other, pooled standard deviation,
//! positive when the second model's LID is lower) with a percentile bootstrap interval (both
//! samples resampled independently, seeded), and the token texts whose local LID dropped most,
//! over positions present in both point sets.
//!
//! Each model's point set is described too: the points kept (`N` after exact deduplication), the
//! exact duplicates removed, and the share of points whose `L`-neighbourhood holds a near-duplicate
//! pair (the guard of `lid estimate`, `lid_core::guards::NearDuplicates` at its default threshold,
//! computed by the probe on its own kNN graph): such neighbourhoods pull local estimates towards 0
//! and dilute a comparison.

use std::collections::HashMap;

use lid_core::prepare::sample_without_replacement;
use lid_embed::{SpecialIds, TextTokenizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Sequence;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::probe::{LidProbe, ProbeEstimate, ProbePoint, ProbeSettings};

/// The tokenised probe sequences of one corpus.
#[derive(Debug, Clone)]
pub struct ProbeCorpus {
    /// Corpus name.
    pub name: String,
    /// Whether the second model was fine-tuned on it.
    pub in_domain: bool,
    /// The sampled sequences' token ids.
    pub sequences: Vec<Sequence>,
    /// Their token strings (for the token table).
    pub tokens: Vec<Vec<String>>,
}

impl ProbeCorpus {
    /// Samples `m` texts of `texts` (seed `seed`; all when fewer) and tokenises them.
    ///
    /// # Errors
    /// Tokenizer failures, no text.
    pub fn sample(
        name: &str,
        in_domain: bool,
        texts: &[String],
        m: usize,
        seed: u64,
        tokenizer: &TextTokenizer,
    ) -> Result<Self> {
        if texts.is_empty() {
            return Err(Error::Input(format!(
                "corpus {name} has no held-out text to measure on"
            )));
        }
        let picks = sample_without_replacement(texts.len(), m.min(texts.len()), seed)?;
        let chosen: Vec<&str> = picks.iter().map(|&i| texts[i].as_str()).collect();
        let encoded = tokenizer.encode_batch(&chosen)?;
        Ok(Self {
            name: name.to_string(),
            in_domain,
            sequences: encoded.iter().map(Sequence::from_encoded).collect(),
            tokens: encoded.into_iter().map(|e| e.tokens).collect(),
        })
    }

    /// Tokens in all sequences.
    pub fn token_count(&self) -> usize {
        self.sequences.iter().map(|s| s.ids.len()).sum()
    }
}

/// Measures `model` on `corpus` with `settings` (exact kNN, `lid_knn::BruteForce`).
///
/// # Errors
/// Probe errors (too few unique vectors, non-finite activations).
pub fn measure(
    model: &Model,
    special: &SpecialIds,
    corpus: &ProbeCorpus,
    settings: &ProbeSettings,
    step: u64,
) -> Result<ProbeEstimate> {
    let probe = LidProbe::new(
        corpus.sequences.clone(),
        special.clone(),
        settings.clone(),
        Box::new(lid_knn::BruteForce::default()),
    )?;
    probe.estimate(model, step)
}

/// One corpus: base against other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusComparison {
    /// Corpus name.
    pub corpus: String,
    /// Whether the other model was fine-tuned on it.
    pub in_domain: bool,
    /// Mean local LID of the base model.
    pub base_mean: f64,
    /// Its standard deviation (ddof 1).
    pub base_std: f64,
    /// Mean local LID of the other model.
    pub tuned_mean: f64,
    /// Its standard deviation.
    pub tuned_std: f64,
    /// Standardized mean difference, base minus other.
    pub smd: f64,
    /// 95 % percentile bootstrap interval of the SMD: lower bound.
    pub smd_lower: f64,
    /// Upper bound.
    pub smd_upper: f64,
    /// Points of the base model's estimate.
    pub base_points: usize,
    /// Points of the other model's estimate.
    pub tuned_points: usize,
    /// Exact duplicate vectors the base model's probe removed before keeping `N`.
    pub base_duplicates_removed: usize,
    /// Exact duplicate vectors the other model's probe removed.
    pub tuned_duplicates_removed: usize,
    /// Share of the base model's points whose neighbourhood holds a near-duplicate pair.
    pub base_near_duplicate_share: f64,
    /// Share of the other model's points whose neighbourhood holds a near-duplicate pair.
    pub tuned_near_duplicate_share: f64,
    /// Tokens whose local LID fell most (mean over their positions present in both).
    pub largest_drops: Vec<TokenDrop>,
}

/// A token text and how much its local LID fell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenDrop {
    /// The token as the tokenizer spells it.
    pub token: String,
    /// Positions averaged.
    pub count: usize,
    /// Mean of base minus other.
    pub mean_drop: f64,
}

/// Percentile bootstrap of the SMD at 95 %: `resamples` times, both samples resampled with
/// replacement (ChaCha8 from `seed`).
///
/// # Errors
/// Samples the SMD rejects.
pub fn smd_interval(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Result<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(resamples);
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for _ in 0..resamples {
        for v in ra.iter_mut() {
            *v = a[rng.random_range(0..a.len() as u64) as usize];
        }
        for v in rb.iter_mut() {
            *v = b[rng.random_range(0..b.len() as u64) as usize];
        }
        values.push(lid_core::stats::standardized_mean_difference(&ra, &rb)?);
    }
    let q = lid_core::stats::quantiles(&values, &[0.025, 0.975])?;
    Ok((q[0], q[1]))
}

/// The share of a measurement's points whose neighbourhood holds a near-duplicate pair.
pub fn near_duplicate_share(point: &ProbePoint) -> f64 {
    point.near_duplicate_neighbourhoods as f64 / point.n_points.max(1) as f64
}

/// Compares the estimates of the base and the other model on `corpus`.
///
/// # Errors
/// Statistics on degenerate samples.
pub fn compare(
    corpus: &ProbeCorpus,
    base: &ProbeEstimate,
    tuned: &ProbeEstimate,
    resamples: usize,
    min_token_count: usize,
    top: usize,
) -> Result<CorpusComparison> {
    let smd = lid_core::stats::standardized_mean_difference(&base.local, &tuned.local)?;
    let (smd_lower, smd_upper) = smd_interval(&base.local, &tuned.local, resamples, 0x5EED_0001)?;
    let tuned_at: HashMap<(u32, u32), f64> = tuned
        .tokens
        .iter()
        .zip(&tuned.local)
        .map(|(t, &v)| ((t.sequence, t.position), v))
        .collect();
    let mut by_text: HashMap<&str, (usize, f64)> = HashMap::new();
    for (t, &b) in base.tokens.iter().zip(&base.local) {
        if let Some(&o) = tuned_at.get(&(t.sequence, t.position)) {
            let text = corpus.tokens[t.sequence as usize][t.position as usize].as_str();
            let e = by_text.entry(text).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += b - o;
        }
    }
    let mut drops: Vec<TokenDrop> = by_text
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_token_count)
        .map(|(token, (count, sum))| TokenDrop {
            token: token.to_string(),
            count,
            mean_drop: sum / count as f64,
        })
        .collect();
    drops.sort_by(|a, b| {
        b.mean_drop
            .total_cmp(&a.mean_drop)
            .then_with(|| a.token.cmp(&b.token))
    });
    drops.truncate(top);
    Ok(CorpusComparison {
        corpus: corpus.name.clone(),
        in_domain: corpus.in_domain,
        base_mean: base.point.mean,
        base_std: base.point.std,
        tuned_mean: tuned.point.mean,
        tuned_std: tuned.point.std,
        smd,
        smd_lower,
        smd_upper,
        base_points: base.point.n_points,
        tuned_points: tuned.point.n_points,
        base_duplicates_removed: base.point.duplicates_removed,
        tuned_duplicates_removed: tuned.point.duplicates_removed,
        base_near_duplicate_share: near_duplicate_share(&base.point),
        tuned_near_duplicate_share: near_duplicate_share(&tuned.point),
        largest_drops: drops,
    })
}

/// Checks that every sampled token of `probes` (tokenised by the base model's tokenizer) has the
/// same id in `other`'s vocabulary: both models are measured on the base model's token ids, so a
/// RoBERTa and a GPT-2 of equal vocabulary size would otherwise be compared on meaningless inputs.
///
/// # Errors
/// [`Error::Input`] naming the first token whose id differs, its corpus and both ids.
pub fn check_same_token_ids(probes: &[ProbeCorpus], other: &TextTokenizer) -> Result<()> {
    for p in probes {
        for (seq, tokens) in p.sequences.iter().zip(&p.tokens) {
            for (&id, token) in seq.ids.iter().zip(tokens) {
                let got = other.token_to_id(token);
                if got != Some(id) {
                    return Err(Error::Input(format!(
                        "token {token:?} of corpus {} has id {id} in the base model's tokenizer \
                         and {} in the other's; both models are measured on the same token ids, \
                         so compare models that share a tokenizer (a model and its fine-tuned \
                         checkpoints)",
                        p.name,
                        got.map_or_else(|| "none".to_string(), |g| g.to_string())
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The warning for an estimate that has fewer points than `settings` ask for (the corpus has fewer
/// unique token vectors), naming the setting as the caller spells it (`--n-points`, `n_points=`), or
/// `None` when it has them all. As `lid estimate --sample` does, a smaller cloud is named, never
/// silent.
pub fn fewer_points_warning(
    setting: &str,
    settings: &ProbeSettings,
    model: &str,
    corpus: &ProbeCorpus,
    estimate: &ProbeEstimate,
) -> Option<String> {
    (estimate.point.n_points < settings.n_points).then(|| {
        format!(
            "{setting}{} asks for more points than {model} has on corpus {} after deduplication; \
             its estimate uses all {}",
            settings.n_points, corpus.name, estimate.point.n_points
        )
    })
}

/// One model of a comparison: its parameters and special ids.
#[derive(Clone, Copy)]
pub struct ComparedModel<'a> {
    /// The backbone.
    pub model: &'a Model,
    /// Its special token ids (the probe's token filter).
    pub special: &'a SpecialIds,
}

/// Both models' estimates on every probe corpus and one comparison per corpus (probe order).
#[derive(Debug, Clone)]
pub struct ModelComparison {
    /// Per corpus, base against other, in the order of the probes.
    pub rows: Vec<CorpusComparison>,
    /// The base model's estimate per corpus.
    pub base: Vec<ProbeEstimate>,
    /// The other model's estimate per corpus.
    pub other: Vec<ProbeEstimate>,
}

/// Measures `base` and then `other` on every corpus of `probes` (same sequences, settings and
/// sampling seed) and compares them per corpus: 1,000 bootstrap resamples for the SMD interval,
/// and the 15 tokens whose LID fell most among those seen at least 5 times (the settings of `lid
/// compare` and study 1). `on_measured(model_index, corpus, estimate)` is called after each
/// measurement (0 = base), for progress and warnings.
///
/// # Errors
/// Probe failures (too few unique vectors, non-finite activations), degenerate statistics.
pub fn compare_models(
    base: ComparedModel<'_>,
    other: ComparedModel<'_>,
    probes: &[ProbeCorpus],
    settings: &ProbeSettings,
    mut on_measured: impl FnMut(usize, &ProbeCorpus, &ProbeEstimate),
) -> Result<ModelComparison> {
    let mut estimates: [Vec<ProbeEstimate>; 2] = [Vec::new(), Vec::new()];
    for (i, m) in [base, other].into_iter().enumerate() {
        for p in probes {
            let e = measure(m.model, m.special, p, settings, 0)?;
            on_measured(i, p, &e);
            estimates[i].push(e);
        }
    }
    let [base, other] = estimates;
    let rows = probes
        .iter()
        .zip(base.iter().zip(&other))
        .map(|(p, (a, b))| compare(p, a, b, 1000, 5, 15))
        .collect::<Result<_>>()?;
    Ok(ModelComparison { rows, base, other })
}
