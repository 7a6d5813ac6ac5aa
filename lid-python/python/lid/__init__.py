"""Local intrinsic dimensions (LID) of point clouds and language-model embeddings.

The method of Ruppik et al., "Less is More: Local Intrinsic Dimensions of Contextual Language
Models" (NeurIPS 2025), computed by the Rust crates of `lid` (lid-core, lid-knn): the same numbers
as scikit-dimension 0.3.4's ``TwoNN().fit_pw`` (the paper's code path), many times faster.

Functions take a 2-D array of points, one per row (numpy, or anything ``numpy.asarray`` accepts,
such as a CPU torch tensor). A C-contiguous float32 array is used in place, without a copy; other
float dtypes and layouts are converted to C-contiguous float32 first. The GIL is released while
the work runs, which uses all cores (results do not depend on the thread count).

    >>> import numpy as np, lid
    >>> x = np.random.default_rng(0).standard_normal((2000, 5)).astype(np.float32)
    >>> values, kept = lid.local_dimensions(x, neighbors=64)
    >>> 3.5 < values.mean() < 6.0
    True

Errors from the library (bad settings, too few points, NaN, duplicates) raise ``ValueError`` with
the library's message; a dtype that is not floating-point raises ``TypeError``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _lid

__all__ = [
    "EMBED_AVAILABLE",
    "LocalDimensions",
    "NearDuplicateWarning",
    "Probe",
    "ProbePoint",
    "compare",
    "embed",
    "global_dimension",
    "knn",
    "local_dimensions",
    "skdim",
]

__version__: str = _lid.__version__

#: The paper's neighbourhood size L (docs/method.md step 7).
PAPER_NEIGHBORS = 128

#: Whether this build has :func:`embed` (the cargo feature ``embed``; off by default).
EMBED_AVAILABLE: bool = hasattr(_lid, "embed")


class NearDuplicateWarning(UserWarning):
    """Some points have a nearest neighbour far closer than the rest of their neighbourhood.

    Their TwoNN ratios ``r2 / r1`` are huge and can drive the fits of the neighbourhoods that hold
    them (see docs/reliability.md). ``local_dimensions`` warns; the estimates are still returned.
    """


def _to_numpy(a: Any) -> np.ndarray:
    """A numpy view of ``a``; a torch tensor is detached and moved to the CPU first (no copy when it
    already is a CPU tensor; bfloat16, which numpy lacks, is widened to float32). torch is never
    imported here."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        t = a.detach()
        if str(getattr(t, "dtype", "")) == "torch.bfloat16":
            t = t.float()
        a = t.cpu().numpy()
    return np.asarray(a)


def _as_points(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as a C-contiguous float32 matrix: the same object when it already is one."""
    x = _to_numpy(x)
    if x.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {x.dtype}; expected a floating-point array (float32 is used "
            f"without a copy; float16 and float64 are converted to float32)"
        )
    if x.ndim != 2:
        raise ValueError(
            f"{name} has shape {x.shape}; expected a 2-D array (n_points, n_dims), one point per row"
        )
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        with np.errstate(over="ignore"):
            x = np.ascontiguousarray(x, dtype=np.float32)
    return x


def _check_count(value: Any, name: str, minimum: int) -> int:
    """An int argument that Rust takes as an unsigned integer (ranges are the library's)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} = {value}: must be at least {minimum}")
    return int(value)


@dataclass(frozen=True)
class LocalDimensions:
    """Result of :func:`local_dimensions`; unpacks as ``values, kept = ...``.

    Attributes:
        values: float64, one estimate per prepared point.
        kept: int64, for each estimate the row of the input it belongs to (after sampling and
            exact-duplicate removal, in the order of ``values``).
        info: what preparation and the guards found: ``duplicates_removed``, ``sample_capped``,
            ``dropped_duplicates``, ``near_duplicate_points``,
            ``near_duplicate_neighbourhoods_affected``, ``near_duplicate_neighbourhoods_dominated``,
            ``near_duplicate_threshold``.
        smoothed: with ``smooth=True``, each value averaged over the point and its neighbours
            (scikit-dimension ``dimension_pw_smooth_``); otherwise None.
    """

    values: np.ndarray
    kept: np.ndarray
    info: Dict[str, Any] = field(default_factory=dict)
    smoothed: Optional[np.ndarray] = None

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.values
        yield self.kept

    def __len__(self) -> int:
        return 2

    def mean(self) -> float:
        """The mean local dimension (the paper's training signal)."""
        return float(self.values.mean())


def local_dimensions(
    x: Any,
    neighbors: int = PAPER_NEIGHBORS,
    estimator: str = "twonn",
    cdf: str = "paper",
    discard: float = 0.1,
    knn: str = "exact",
    dedup: bool = True,
    sample: Optional[int] = None,
    seed: int = 42,
    *,
    keep: Optional[int] = None,
    smooth: bool = False,
    near_duplicate_threshold: float = 1e-4,
) -> LocalDimensions:
    """Local intrinsic dimension of every point from its ``neighbors`` nearest neighbours.

    The steps of ``lid estimate`` (docs/method.md steps 4-7): draw ``sample`` rows without
    replacement (seeded, random order kept), drop exact duplicate rows (first occurrence kept),
    find each point's ``neighbors`` nearest neighbours (the point itself excluded), and fit the
    estimator on that neighbourhood alone.

    Args:
        x: points, shape ``(n, d)``, floating point; float32 C-contiguous is used without a copy.
        neighbors: neighbourhood size L (the paper's 128).
        estimator: ``"twonn"`` (the paper's), ``"twonn-mle"`` (censored MLE, scikit-dimension
            0.5.0 ``method="mle"``), ``"mle"`` (Levina-Bickel, k = L), ``"lpca"``.
        cdf: TwoNN CDF convention: ``"paper"`` (F_j = (j - 1)/n, scikit-dimension 0.3.4) or
            ``"corrected"`` (F_j = j/n, scikit-dimension 0.4 and later, about 2.5 % higher).
        discard: TwoNN fraction of the largest ratios left out, in [0, 1).
        knn: ``"exact"`` (blocked brute force), ``"hnsw"`` (approximate) or ``"kdtree"``
            (exact, up to 16 dimensions).
        dedup: remove exact duplicate rows first (TwoNN fails on them otherwise, naming the count).
        sample: draw this many rows first (all rows, shuffled, when larger than ``n``; a
            ``UserWarning`` says so).
        seed: seed of the sampling.
        keep: keep only the first ``keep`` rows after sampling and dedup (the paper's N =
            60,000; ``lid estimate --keep``).
        smooth: also compute ``smoothed``, each value averaged over the point and its neighbours
            (scikit-dimension ``fit_pw(smooth=True)``).
        near_duplicate_threshold: a point whose nearest neighbour is closer than this times the
            distance to its L-th neighbour is a near duplicate (0 turns the check off); any
            raise a :class:`NearDuplicateWarning`.

    Returns:
        :class:`LocalDimensions` ``(values, kept)`` with ``info``.

    Raises:
        TypeError: ``x`` is not floating point.
        ValueError: bad shape, NaN or infinity, bad settings, too few points for ``neighbors``,
            duplicates with ``dedup=False``: the library's message.
    """
    points = _as_points(x)
    neighbors = _check_count(neighbors, "neighbors", 0)
    if sample is not None:
        sample = _check_count(sample, "sample", 0)
    seed = _check_count(seed, "seed", 0)
    if keep is not None:
        keep = _check_count(keep, "keep", 1)
    values, kept, info, smoothed = _lid.local_dimensions(
        points,
        neighbors,
        estimator,
        cdf,
        float(discard),
        knn,
        bool(dedup),
        sample,
        seed,
        keep,
        bool(smooth),
        float(near_duplicate_threshold),
    )
    if info["sample_capped"]:
        warnings.warn(
            f"sample={sample} asks for more rows than x has ({points.shape[0]}); all rows are "
            f"used, in the seeded random order",
            UserWarning,
            stacklevel=2,
        )
    if info["near_duplicate_points"] > 0:
        warnings.warn(
            f"{info['near_duplicate_points']} of the {len(values)} points are near duplicates "
            f"(nearest neighbour closer than {info['near_duplicate_threshold']:g} times the "
            f"distance to the L-th neighbour); they affect "
            f"{info['near_duplicate_neighbourhoods_affected']} neighbourhoods and dominate "
            f"{info['near_duplicate_neighbourhoods_dominated']} (more near duplicates than the "
            f"discard fraction removes)",
            NearDuplicateWarning,
            stacklevel=2,
        )
    return LocalDimensions(values=values, kept=kept, info=info, smoothed=smoothed)


def global_dimension(
    x: Any,
    estimator: str = "twonn",
    cdf: str = "paper",
    discard: float = 0.1,
    knn: str = "exact",
    dedup: bool = True,
    sample: Optional[int] = None,
    seed: int = 42,
    neighbors: Optional[int] = None,
    *,
    keep: Optional[int] = None,
) -> float:
    """One intrinsic dimension for the whole cloud.

    Same preparation as :func:`local_dimensions` (``sample``, ``seed``, ``dedup``, ``keep``), then the global
    estimator on every prepared point: ``"twonn"`` (two neighbours per point, scikit-dimension
    ``TwoNN().fit``), ``"twonn-mle"``, ``"mle"`` (``neighbors`` = its k; the library default when
    None), ``"gride"``, ``"lpca"``.

    Raises:
        TypeError, ValueError: as :func:`local_dimensions`.
    """
    points = _as_points(x)
    if sample is not None:
        sample = _check_count(sample, "sample", 0)
    if neighbors is not None:
        neighbors = _check_count(neighbors, "neighbors", 0)
    seed = _check_count(seed, "seed", 0)
    if keep is not None:
        keep = _check_count(keep, "keep", 1)
    dimension, _used, _discarded, _std_error = _lid.global_dimension(
        points, estimator, cdf, float(discard), knn, bool(dedup), sample, seed, keep, neighbors
    )
    return float(dimension)


def knn(x: Any, k: int, backend: str = "exact") -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of every row, the row itself excluded.

    Rows are sorted by (distance, index): ties go to the smaller index, so the result does not
    depend on the thread count. Distances are Euclidean, computed in float64 on the float32 input.

    Args:
        x: points, shape ``(n, d)``.
        k: neighbours per point, 1 to ``n - 1``.
        backend: ``"exact"``, ``"hnsw"`` (approximate) or ``"kdtree"``.

    Returns:
        ``(distances, indices)``: float64 and int64 arrays of shape ``(n, k)``.

    Raises:
        TypeError, ValueError: as :func:`local_dimensions`.
    """
    points = _as_points(x)
    k = _check_count(k, "k", 0)
    return _lid.knn(points, k, backend)


def _need_models(name: str) -> None:
    """Refuses a call that runs a model in a build without the cargo feature ``embed``."""
    if not EMBED_AVAILABLE:
        raise RuntimeError(
            f"this build of lid has no {name} (the cargo feature `embed`, off by default because it "
            'compiles candle); reinstall with: pip install ./lid-python --config-settings=build-args="--features embed"'
        )


def embed(
    model_dir: "os.PathLike[str] | str",
    texts: Sequence[str],
    layer: int = -1,
    max_length: int = 512,
    batch_size: int = 32,
    filter: str = "pad-eos",
) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Token vectors of one hidden state of a local model, for every text (``lid embed``).

    Loads the model from ``model_dir`` (a folder with ``config.json``, safetensors weights and
    ``tokenizer.json``; BERT, RoBERTa, GPT-2, Llama family; or a ``.gguf`` file), tokenises with
    truncation at ``max_length``, runs our forward pass on the CPU in batches and keeps the tokens
    that pass ``filter`` (``"pad-eos"``: the paper's, drop pad and eos, keep bos; ``"mask"``: every
    real token; ``"special"``: drop all special tokens). Nothing is downloaded.

    Args:
        layer: hidden state in Hugging Face numbering (0 = embeddings, -1 = the last).

    Returns:
        ``(vectors, tokens)``: float32 ``(n_tokens, hidden)`` in text order, and a dict with
        ``sequence``, ``position``, ``token_id`` (int64 arrays, one per row), ``token`` (list of
        str), ``layer`` (absolute index), ``truncated_sequences``, ``empty_sequences``,
        ``warnings``.

    Raises:
        RuntimeError: this build has no ``embed`` (reinstall with
            ``pip install ./lid-python --config-settings=build-args="--features embed"``).
        ValueError: a model, tokenizer or setting the library refuses (its message).
    """
    _need_models("embed")
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    texts = [str(t) for t in texts]
    return _lid.embed(
        os.fspath(model_dir),
        texts,
        int(layer),
        _check_count(max_length, "max_length", 0),
        _check_count(batch_size, "batch_size", 0),
        filter,
    )


def compare(
    base_dir: "os.PathLike[str] | str",
    tuned_dir: "os.PathLike[str] | str",
    corpora: "Dict[str, Sequence[str]]",
    in_domain: Sequence[str] = (),
    sequences: int = 2000,
    sequence_seed: int = 778,
    n_points: int = 20_000,
    neighbors: int = PAPER_NEIGHBORS,
    max_length: int = 512,
) -> List[Dict[str, Any]]:
    """The per-corpus table of ``lid compare``: which data was the second model tuned on?

    For each corpus, ``sequences`` texts are sampled (seed ``sequence_seed``; the paper's M = 10,000
    and seed 778) and tokenised by the base model's tokenizer; both models go through the same LID
    probe (last hidden state, the paper's token filter, exact deduplication, ``n_points`` points,
    exact kNN with ``neighbors`` neighbours, TwoNN with the paper's settings), and the two samples
    of local LIDs are compared by the standardized mean difference, base minus tuned (positive: the
    tuned model's LID is lower), with a 95 % bootstrap interval. The models must share a tokenizer.
    The same library function as the command and study 1 (Ruppik et al. 2025, section 4.1).

    Args:
        corpora: corpus name -> its texts (held-out text: not what the tuned model trained on).
        in_domain: names of the corpora the tuned model was fine-tuned on (marked in the rows).

    Returns:
        One dict per corpus, ranked by ``smd`` (largest first): ``rank``, ``corpus``,
        ``in_domain``, ``base_mean``, ``base_std``, ``tuned_mean``, ``tuned_std``, ``smd``,
        ``smd_lower``, ``smd_upper``, ``base_points``, ``tuned_points``,
        ``base_duplicates_removed``, ``tuned_duplicates_removed``,
        ``base_near_duplicate_share``, ``tuned_near_duplicate_share`` and ``largest_drops`` (list
        of ``(token, count, mean_drop)``). A corpus with fewer points than ``n_points`` after
        deduplication is measured on all it has, with a ``UserWarning``.

    Raises:
        RuntimeError: this build has no ``embed`` feature.
        ValueError: unreadable models, different tokenizers, bad settings (the library's message).
    """
    _need_models("compare")
    if not isinstance(corpora, dict) or not corpora:
        raise TypeError("corpora must be a non-empty dict of corpus name -> list of texts")
    unknown = sorted(set(in_domain) - set(corpora))
    if unknown:
        raise ValueError(f"in_domain names corpora not given: {unknown}")
    items = []
    for name, texts in corpora.items():
        if isinstance(texts, str):
            raise TypeError(f"corpus {name!r}: give a sequence of strings, not one string")
        items.append((str(name), [str(t) for t in texts], name in set(in_domain)))
    rows, notes = _lid.compare(
        os.fspath(base_dir),
        os.fspath(tuned_dir),
        items,
        _check_count(sequences, "sequences", 2),
        int(sequence_seed),
        _check_count(n_points, "n_points", 0),
        _check_count(neighbors, "neighbors", 0),
        _check_count(max_length, "max_length", 0),
    )
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return rows


# Imported last: lid.skdim and lid.probe build on the functions above.
from . import skdim  # noqa: E402
from .probe import Probe, ProbePoint  # noqa: E402
