"""``lid.Probe``: the mean local dimension of a model's token vectors, every k steps of a training
loop (Ruppik et al., NeurIPS 2025: a label-free training monitor).

The Python counterpart of lid-train's ``LidProbe`` for loops that run elsewhere (PyTorch): you
run the forward pass, the probe takes the hidden states and their attention mask. Each
measurement prepares the token vectors as ``LidProbe`` does (a seeded sample in random order,
exact duplicates removed keeping the first, the first N kept) and estimates local TwoNN over
L-neighbourhoods with :func:`lid.local_dimensions`.

    probe = lid.Probe(n_points=10_000, neighbors=128)
    for step, batch in enumerate(loader):
        ...                                                   # your update
        if step % 500 == 0:
            with torch.no_grad():
                out = model(**probe_batch, output_hidden_states=True)
            probe.measure(step, out.hidden_states[-1], probe_batch["attention_mask"])
    probe.to_csv("lid.csv")
"""

from __future__ import annotations

import csv
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, List, Optional

import numpy as np

from . import _to_numpy, local_dimensions

__all__ = ["Probe", "ProbePoint"]


@dataclass(frozen=True)
class ProbePoint:
    """One measurement (the fields of lid-train's ``ProbePoint``)."""

    #: Training step it was taken at.
    step: int
    #: Mean local dimension.
    mean: float
    #: Standard deviation (ddof 1).
    std: float
    #: Median.
    median: float
    #: Points estimated (``min(N, unique vectors)``).
    n_points: int
    #: Exact duplicates removed.
    duplicates_removed: int
    #: Points with a near duplicate (``0 < r1 <= t r_L``).
    near_duplicate_points: int
    #: Neighbourhoods holding a near-duplicate pair (their estimates may be pulled towards 0).
    near_duplicate_neighbourhoods: int


class Probe:
    """Mean-LID series of a training run, from hidden states you pass in.

    Args:
        n_points: N, the points kept per measurement after sampling and dedup (paper 60,000).
        neighbors: L, the neighbourhood size (paper 128).
        sample: token vectors drawn (seeded, random order) before dedup; None draws all of them,
            in a seeded random order (paper 150,000).
        seed: seed of that draw (paper 42); the same in every measurement.
        dedup: remove exact duplicate vectors (keep the first); on by default, as in the paper.
        cdf: TwoNN CDF convention (``"paper"``: scikit-dimension 0.3.4).
        near_duplicate_threshold: the near-duplicate guard of ``lid estimate``; a measurement
            that finds near duplicates raises a :class:`lid.NearDuplicateWarning` naming the step.
        knn: neighbour search backend of :func:`lid.local_dimensions`.

    Raises:
        ValueError: ``neighbors < 3`` or ``n_points <= neighbors``.
    """

    def __init__(
        self,
        n_points: int = 60_000,
        neighbors: int = 128,
        sample: Optional[int] = 150_000,
        seed: int = 42,
        dedup: bool = True,
        cdf: str = "paper",
        near_duplicate_threshold: float = 1e-4,
        knn: str = "exact",
    ):
        if neighbors < 3:
            raise ValueError(f"neighbors = {neighbors}: local TwoNN needs L >= 3")
        if n_points <= neighbors:
            raise ValueError(f"n_points = {n_points} must exceed neighbors = {neighbors}")
        self.n_points = n_points
        self.neighbors = neighbors
        self.sample = sample
        self.seed = seed
        self.dedup = dedup
        self.cdf = cdf
        self.near_duplicate_threshold = near_duplicate_threshold
        self.knn = knn
        self._series: List[ProbePoint] = []

    @staticmethod
    def tokens(hidden: Any, mask: Any = None) -> np.ndarray:
        """The token vectors a measurement uses: ``hidden`` of shape ``(batch, seq, dim)`` with the
        positions where ``mask`` (``(batch, seq)``, nonzero = real token) is set, in row-major
        order; or ``hidden`` of shape ``(tokens, dim)`` as it is (``mask`` then ``(tokens,)`` or
        None)."""
        h = _to_numpy(hidden)
        if h.ndim == 3:
            if mask is None:
                return h.reshape(-1, h.shape[-1])
            m = _to_numpy(mask)
            if m.shape != h.shape[:2]:
                raise ValueError(
                    f"mask has shape {m.shape}; expected (batch, seq) = {h.shape[:2]} of hidden "
                    f"{h.shape}"
                )
            return h[m.astype(bool)]
        if h.ndim == 2:
            if mask is None:
                return h
            m = _to_numpy(mask)
            if m.shape != h.shape[:1]:
                raise ValueError(f"mask has shape {m.shape}; expected ({h.shape[0]},)")
            return h[m.astype(bool)]
        raise ValueError(
            f"hidden has shape {h.shape}; expected (batch, seq, dim) or (tokens, dim)"
        )

    def measure(self, step: int, hidden: Any, mask: Any = None) -> ProbePoint:
        """Measures the hidden states of ``step`` and appends the result to :attr:`series`.

        Raises:
            ValueError: fewer unique token vectors than ``neighbors + 1``, NaN activations, bad
                shapes (the library's message, naming the step).
        """
        x = self.tokens(hidden, mask)
        rows = x.shape[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = local_dimensions(
                    x,
                    neighbors=self.neighbors,
                    estimator="twonn",
                    cdf=self.cdf,
                    dedup=self.dedup,
                    # lid-train's LidProbe: a seeded draw of min(sample, rows), all rows when None.
                    sample=max(min(self.sample if self.sample is not None else rows, rows), 1),
                    seed=self.seed,
                    keep=self.n_points,
                    knn=self.knn,
                    near_duplicate_threshold=self.near_duplicate_threshold,
                )
            except ValueError as e:
                raise ValueError(f"step {step}: {e}") from e
        for w in caught:  # re-raised naming the step (NearDuplicateWarning above all)
            warnings.warn(f"step {step}: {w.message}", w.category, stacklevel=2)
        values = result.values
        info = result.info
        point = ProbePoint(
            step=int(step),
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
            median=float(np.median(values)),
            n_points=int(len(values)),
            duplicates_removed=int(info["duplicates_removed"]),
            near_duplicate_points=int(info["near_duplicate_points"]),
            near_duplicate_neighbourhoods=int(info["near_duplicate_neighbourhoods_affected"]),
        )
        self._series.append(point)
        return point

    @property
    def series(self) -> List[ProbePoint]:
        """The measurements so far, in the order taken (a copy)."""
        return list(self._series)

    def to_csv(self, path: "os.PathLike[str] | str") -> None:
        """Writes the series as CSV (one row per measurement, the :class:`ProbePoint` fields as
        columns), under a temporary name renamed at the end: the file is complete or absent."""
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".lid-probe-", suffix=".csv.tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(ProbePoint)])
                writer.writeheader()
                for point in self._series:
                    writer.writerow(asdict(point))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
