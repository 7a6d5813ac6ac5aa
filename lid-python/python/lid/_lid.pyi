"""Type stubs of the native module ``lid._lid`` (Rust, PyO3). Call the wrappers in ``lid``."""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

def local_dimensions(
    x: npt.NDArray[np.float32],
    neighbors: int,
    estimator: str,
    cdf: str,
    discard: float,
    knn: str,
    dedup: bool,
    sample: Optional[int],
    seed: int,
    keep: Optional[int],
    smooth: bool,
    near_duplicate_threshold: float,
) -> Tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    Dict[str, Any],
    Optional[npt.NDArray[np.float64]],
]: ...
def global_dimension(
    x: npt.NDArray[np.float32],
    estimator: str,
    cdf: str,
    discard: float,
    knn: str,
    dedup: bool,
    sample: Optional[int],
    seed: int,
    keep: Optional[int],
    neighbors: Optional[int],
) -> Tuple[float, int, int, Optional[float]]: ...
def knn(
    x: npt.NDArray[np.float32], k: int, knn: str
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...

# Only in builds with the cargo feature `embed` (check lid.EMBED_AVAILABLE).
def embed(
    model_dir: str,
    texts: List[str],
    layer: int,
    max_length: int,
    batch_size: int,
    filter: str,
) -> Tuple[npt.NDArray[np.float32], Dict[str, Any]]: ...

# Only in builds with the cargo feature `embed` (check lid.EMBED_AVAILABLE).
def compare(
    base_dir: str,
    tuned_dir: str,
    corpora: List[Tuple[str, List[str], bool]],
    sequences: int,
    sequence_seed: int,
    n_points: int,
    neighbors: int,
    max_length: int,
) -> Tuple[List[Dict[str, Any]], List[str]]: ...
