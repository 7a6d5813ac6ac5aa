//! The estimators by name, configured from the settings every front end shares: the one place where
//! `lid estimate --estimator`, the validation study and the Python package turn a name, a
//! neighbourhood size `L`, a TwoNN CDF convention and a discard fraction into an estimator.

use serde::Serialize;

use super::{
    CdfConvention, GlobalEstimator, Gride, Lpca, Mle, PointwiseEstimator, TwoNN, TwoNnMethod,
};
use crate::error::{Error, Result};

/// An estimator's name, as `lid estimate --estimator` and `lid.local_dimensions(estimator=...)`
/// spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorKind {
    /// TwoNN line fit (Facco et al. 2017), the paper's estimator.
    Twonn,
    /// TwoNN censored maximum likelihood (scikit-dimension 0.5.0 `method="mle"`).
    TwonnMle,
    /// Levina-Bickel MLE on the `L` neighbours.
    Mle,
    /// GRIDE (Denti et al. 2022): global only.
    Gride,
    /// Local PCA (Fukunaga-Olsen threshold) on the `L` neighbours.
    Lpca,
}

impl EstimatorKind {
    /// Every kind with its name, in the order of the documentation.
    pub const ALL: [(EstimatorKind, &'static str); 5] = [
        (EstimatorKind::Twonn, "twonn"),
        (EstimatorKind::TwonnMle, "twonn-mle"),
        (EstimatorKind::Mle, "mle"),
        (EstimatorKind::Gride, "gride"),
        (EstimatorKind::Lpca, "lpca"),
    ];

    /// The kind's name (`twonn`, `twonn-mle`, `mle`, `gride`, `lpca`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("twonn", |(_, n)| n)
    }
}

impl std::str::FromStr for EstimatorKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<String> = Self::ALL.iter().map(|(_, n)| format!("{n:?}")).collect();
                Error::invalid_parameter(
                    "estimator",
                    format!("{s:?}"),
                    format!("expected one of {}", names.join(", ")),
                )
            })
    }
}

/// A configured estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Estimator {
    /// TwoNN (line fit or censored MLE).
    Twonn(TwoNN),
    /// Levina-Bickel MLE with `k = L`.
    Mle(Mle),
    /// GRIDE, global only.
    Gride(Gride),
    /// Local PCA.
    Lpca(Lpca),
}

impl Estimator {
    /// The estimator `kind` with the shared settings, validated: TwoNN with the CDF convention
    /// `cdf` (the paper: [`CdfConvention::Skdim034`]), the discard fraction `discard` (0.1) and the
    /// fit of its kind; the MLE with `k = neighbors` (the paper's L = 128); GRIDE and lPCA with
    /// their defaults. `neighbors` and `cdf` are unused where the kind has no such setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] from the estimator's own validation (a discard fraction outside
    /// `[0, 1)`, an MLE `k` below its minimum).
    pub fn new(
        kind: EstimatorKind,
        neighbors: usize,
        cdf: CdfConvention,
        discard: f64,
    ) -> Result<Self> {
        Ok(match kind {
            EstimatorKind::Twonn | EstimatorKind::TwonnMle => {
                let method = if kind == EstimatorKind::TwonnMle {
                    TwoNnMethod::CensoredMle
                } else {
                    TwoNnMethod::LineFit
                };
                let e = TwoNN::new()
                    .cdf(cdf)
                    .discard_fraction(discard)
                    .method(method);
                e.validate()?;
                Estimator::Twonn(e)
            }
            EstimatorKind::Mle => {
                let e = Mle::new().k(neighbors);
                e.validate()?;
                Estimator::Mle(e)
            }
            EstimatorKind::Gride => {
                let e = Gride::new();
                e.validate()?;
                Estimator::Gride(e)
            }
            EstimatorKind::Lpca => {
                let e = Lpca::new();
                e.validate()?;
                Estimator::Lpca(e)
            }
        })
    }

    /// The pointwise estimator; `None` for GRIDE (global only).
    pub fn pointwise(&self) -> Option<&(dyn PointwiseEstimator + Send + Sync)> {
        match self {
            Estimator::Twonn(e) => Some(e),
            Estimator::Mle(e) => Some(e),
            Estimator::Lpca(e) => Some(e),
            Estimator::Gride(_) => None,
        }
    }

    /// The global estimator.
    pub fn global(&self) -> &(dyn GlobalEstimator + Send + Sync) {
        match self {
            Estimator::Twonn(e) => e,
            Estimator::Mle(e) => e,
            Estimator::Lpca(e) => e,
            Estimator::Gride(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for (kind, name) in EstimatorKind::ALL {
            assert_eq!(kind.name(), name);
            assert_eq!(name.parse::<EstimatorKind>().unwrap(), kind);
        }
        let e = "pca".parse::<EstimatorKind>().unwrap_err().to_string();
        assert!(e.contains("estimator") && e.contains("\"lpca\""), "{e}");
    }

    #[test]
    fn settings_reach_the_estimator_and_are_validated() {
        let Estimator::Twonn(t) =
            Estimator::new(EstimatorKind::TwonnMle, 128, CdfConvention::Corrected, 0.2).unwrap()
        else {
            panic!("not TwoNN")
        };
        assert_eq!(
            t,
            TwoNN::new()
                .cdf(CdfConvention::Corrected)
                .discard_fraction(0.2)
                .method(TwoNnMethod::CensoredMle)
        );
        let Estimator::Mle(m) =
            Estimator::new(EstimatorKind::Mle, 40, CdfConvention::Skdim034, 0.1).unwrap()
        else {
            panic!("not MLE")
        };
        assert_eq!(m, Mle::new().k(40));
        assert!(Estimator::new(EstimatorKind::Twonn, 128, CdfConvention::Skdim034, 1.0).is_err());
        assert!(
            Estimator::new(EstimatorKind::Gride, 128, CdfConvention::Skdim034, 0.1)
                .unwrap()
                .pointwise()
                .is_none()
        );
    }
}
