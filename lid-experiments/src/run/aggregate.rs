//! Aggregates over seeds or runs, from [`lid_core::stats`]: [`MeanStd`] of a set of values (for
//! tables) and [`band_over_runs`] (mean +- std of several runs' curves at shared steps, for
//! [`crate::run::plot::Series`]).

use serde::{Deserialize, Serialize};

/// Mean and sample standard deviation (ddof 1) of `n` values; `std` is `None` for a single value,
/// where it is undefined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (ddof 1), `None` when `n == 1`.
    pub std: Option<f64>,
    /// Number of values.
    pub n: usize,
}

impl MeanStd {
    /// The mean and std of `values`; `None` when there are none or one is not finite.
    pub fn of(values: &[f64]) -> Option<Self> {
        let s = lid_core::stats::describe(values).ok()?;
        Some(Self {
            mean: s.mean,
            std: s.std,
            n: s.count,
        })
    }

    /// `mean ± std` with `digits` decimals (just the mean for one value).
    pub fn display(&self, digits: usize) -> String {
        match self.std {
            Some(s) => format!("{:.digits$} ± {s:.digits$}", self.mean),
            None => format!("{:.digits$}", self.mean),
        }
    }
}

/// `(x, mean, std)` of several runs' curves: at every `x` of the first run where all runs have a
/// value, the mean and std (0 for a single run) over the runs. Each run is a list of `(x, y)` points;
/// `x` values are matched exactly (steps, checkpoint numbers).
pub fn band_over_runs(runs: &[Vec<(f64, f64)>]) -> Vec<(f64, f64, f64)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter_map(|&(x, _)| {
            let ys: Vec<f64> = runs
                .iter()
                .map(|run| run.iter().find(|p| p.0 == x).map(|p| p.1))
                .collect::<Option<_>>()?;
            let ms = MeanStd::of(&ys)?;
            Some((x, ms.mean, ms.std.unwrap_or(0.0)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_and_bands() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((m.mean, m.std, m.n), (2.0, Some(1.0), 3));
        assert_eq!(m.display(1), "2.0 ± 1.0");
        let one = MeanStd::of(&[4.0]).unwrap();
        assert_eq!((one.std, one.display(0)), (None, "4".to_string()));
        assert!(MeanStd::of(&[]).is_none());
        assert!(MeanStd::of(&[f64::NAN]).is_none());
        let runs = vec![
            vec![(0.0, 1.0), (10.0, 3.0), (20.0, 5.0)],
            vec![(0.0, 3.0), (10.0, 5.0)],
        ];
        // x = 20 is missing from the second run: left out.
        assert_eq!(
            band_over_runs(&runs),
            vec![(0.0, 2.0, 2f64.sqrt()), (10.0, 4.0, 2f64.sqrt())]
        );
    }
}
