"""Drop-in replacements for scikit-dimension estimators (``skdim.id``), computed by ``lid``.

``lid.skdim.TwoNN`` has the constructor, methods and fitted attributes of scikit-dimension
0.3.4's ``skdim.id.TwoNN`` (the code path of the paper's numbers): ``fit(X).dimension_`` and
``fit_pw(X, n_neighbors=...).dimension_pw_`` (and ``dimension_pw_smooth_`` with ``smooth=True``)
agree with it point for point (tested to 1e-5 relative on the committed scikit-dimension fixtures).

    >>> from lid.skdim import TwoNN                  # instead of: from skdim.id import TwoNN
    >>> local = TwoNN().fit_pw(X, n_neighbors=128).dimension_pw_

Differences: the neighbours come from ``lid``'s exact search (ties by index) instead of
scikit-learn; ``n_jobs`` is accepted and ignored (all cores are used, results do not depend on
it); ``dist=True`` (a precomputed distance matrix) is not supported; duplicate rows raise
``ValueError`` instead of producing ``inf``/``nan`` (remove them first, or use
:func:`lid.local_dimensions`, which does). The convention is 0.3.4's (``F_j = (j - 1)/n``);
pass ``cdf="corrected"`` for scikit-dimension 0.4 and later.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

import lid

__all__ = ["TwoNN"]


class TwoNN:
    """TwoNN (Facco et al. 2017), scikit-dimension 0.3.4 compatible.

    Args:
        discard_fraction: fraction of the largest ratios ``r2 / r1`` left out of the line fit.
        dist: must be False (precomputed distance matrices are not supported).
        cdf: ``"paper"`` (scikit-dimension 0.3.4, default) or ``"corrected"`` (0.4 and later).

    Attributes (after fitting):
        dimension_: global estimate (``fit``).
        dimension_pw_: pointwise estimates, one per row of ``X`` (``fit_pw``).
        dimension_pw_smooth_: with ``smooth=True``, each estimate averaged over the point and its
            neighbours.
        is_fitted_: True after a fit.
    """

    def __init__(self, discard_fraction: float = 0.1, dist: bool = False, cdf: str = "paper"):
        self.discard_fraction = discard_fraction
        self.dist = dist
        self.cdf = cdf

    def _check(self) -> None:
        if self.dist:
            raise ValueError(
                "lid.skdim.TwoNN does not take precomputed distance matrices (dist=True); "
                "pass the points"
            )

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn convention)."""
        return {"discard_fraction": self.discard_fraction, "dist": self.dist, "cdf": self.cdf}

    def set_params(self, **params: Any) -> "TwoNN":
        """Sets constructor arguments (scikit-learn convention)."""
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"invalid parameter {key!r} for TwoNN")
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any = None) -> "TwoNN":
        """Global TwoNN on all rows of ``X`` (two neighbours per point); sets ``dimension_``."""
        self._check()
        self.dimension_ = lid.global_dimension(
            X,
            estimator="twonn",
            cdf=self.cdf,
            discard=self.discard_fraction,
            dedup=False,
        )
        self.is_fitted_ = True
        return self

    def fit_transform(self, X: Any, y: Any = None) -> float:
        """``fit(X).dimension_``."""
        return self.fit(X).dimension_

    def transform(self, X: Any = None) -> float:
        """The fitted ``dimension_``."""
        if not getattr(self, "is_fitted_", False):
            raise ValueError("this TwoNN instance is not fitted yet; call fit(X) first")
        return self.dimension_

    def fit_pw(
        self,
        X: Any,
        precomputed_knn: Optional[np.ndarray] = None,
        smooth: bool = False,
        n_neighbors: int = 100,
        n_jobs: int = 1,
    ) -> "TwoNN":
        """Pointwise TwoNN: each row's estimate from its ``n_neighbors`` nearest neighbours alone
        (the row itself excluded), as scikit-dimension's ``fit_pw``; sets ``dimension_pw_`` (and
        ``dimension_pw_smooth_`` with ``smooth``).

        ``precomputed_knn`` (an ``n x L`` index array) is not supported: ``lid`` computes the
        exact neighbours itself.
        """
        self._check()
        if precomputed_knn is not None:
            raise ValueError(
                "lid.skdim.TwoNN.fit_pw does not take precomputed_knn; it computes the exact "
                "n_neighbors nearest neighbours itself (ties by index)"
            )
        result = lid.local_dimensions(
            X,
            neighbors=n_neighbors,
            estimator="twonn",
            cdf=self.cdf,
            discard=self.discard_fraction,
            dedup=False,
            near_duplicate_threshold=0.0,
            smooth=smooth,
        )
        self.dimension_pw_ = result.values
        if smooth:
            self.dimension_pw_smooth_ = result.smoothed
        self.is_fitted_ = True
        return self

    def fit_transform_pw(
        self,
        X: Any,
        precomputed_knn: Optional[np.ndarray] = None,
        smooth: bool = False,
        n_neighbors: int = 100,
        n_jobs: int = 1,
    ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """``fit_pw`` and return ``dimension_pw_`` (and ``dimension_pw_smooth_`` with ``smooth``)."""
        self.fit_pw(X, precomputed_knn, smooth, n_neighbors, n_jobs)
        if smooth:
            return self.dimension_pw_, self.dimension_pw_smooth_
        return self.dimension_pw_
