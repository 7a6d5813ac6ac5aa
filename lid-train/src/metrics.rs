//! Task metrics: accuracy, macro and weighted F1 (scikit-learn's `f1_score` definitions, a class
//! without predictions or labels contributing F1 = 0 as with `zero_division=0`).

/// Accuracy and F1 scores of predictions against labels over `classes` classes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassificationScores {
    /// Fraction correct.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 over the classes that occur in the labels or the
    /// predictions (scikit-learn `average="macro"` over the present labels).
    pub macro_f1: f64,
    /// Per-class F1 weighted by the class's support in the labels (`average="weighted"`).
    pub weighted_f1: f64,
}

/// Scores of `predictions` against `labels`.
///
/// # Panics
/// When the lengths differ or a value is `>= classes` (callers check labels when examples are
/// built).
pub fn classification_scores(
    predictions: &[u32],
    labels: &[u32],
    classes: usize,
) -> ClassificationScores {
    assert_eq!(predictions.len(), labels.len());
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut support = vec![0usize; classes];
    for (&p, &l) in predictions.iter().zip(labels) {
        support[l as usize] += 1;
        if p == l {
            tp[l as usize] += 1;
        } else {
            fp[p as usize] += 1;
        }
    }
    let f1: Vec<f64> = (0..classes)
        .map(|c| {
            let fn_ = support[c] - tp[c];
            let denom = 2 * tp[c] + fp[c] + fn_;
            if denom == 0 {
                0.0
            } else {
                2.0 * tp[c] as f64 / denom as f64
            }
        })
        .collect();
    let present: Vec<usize> = (0..classes)
        .filter(|&c| support[c] > 0 || fp[c] > 0)
        .collect();
    let n = labels.len().max(1) as f64;
    ClassificationScores {
        accuracy: tp.iter().sum::<usize>() as f64 / n,
        macro_f1: if present.is_empty() {
            0.0
        } else {
            present.iter().map(|&c| f1[c]).sum::<f64>() / present.len() as f64
        },
        weighted_f1: (0..classes).map(|c| f1[c] * support[c] as f64).sum::<f64>() / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: labels [0,0,1,1,2,2,2], predictions [0,1,1,1,2,0,2].
    /// Class 0: tp 1, fp 1, fn 1 -> F1 0.5; class 1: tp 2, fp 1, fn 0 -> 0.8; class 2: tp 2, fp 0,
    /// fn 1 -> 0.8. Macro = 2.1 / 3 = 0.7; weighted = (0.5*2 + 0.8*2 + 0.8*3) / 7 = 5.0 / 7.
    #[test]
    fn f1_scores_match_hand_computed_values() {
        let s = classification_scores(&[0, 1, 1, 1, 2, 0, 2], &[0, 0, 1, 1, 2, 2, 2], 4);
        assert!((s.accuracy - 5.0 / 7.0).abs() < 1e-12);
        assert!((s.macro_f1 - 0.7).abs() < 1e-12);
        assert!((s.weighted_f1 - 5.0 / 7.0).abs() < 1e-12);
    }
}
