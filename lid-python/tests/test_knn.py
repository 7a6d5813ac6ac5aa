"""lid.knn against a numpy brute force (float64 direct distances, ties by index)."""

import numpy as np
import pytest

import lid


def brute_force(x: np.ndarray, k: int):
    """Exact k nearest neighbours, self excluded, ordered by (distance, index)."""
    x = x.astype(np.float64)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    n = len(x)
    idx = np.stack([np.lexsort((np.arange(n), d[i]))[:k] for i in range(n)])
    return np.take_along_axis(d, idx, axis=1), idx


@pytest.mark.parametrize("n,d,k", [(300, 3, 10), (500, 40, 25), (200, 300, 199)])
def test_exact_equals_brute_force(n, d, k):
    x = np.random.default_rng(n + d).standard_normal((n, d)).astype(np.float32)
    dist, idx = lid.knn(x, k)
    ref_dist, ref_idx = brute_force(x, k)
    assert dist.dtype == np.float64 and idx.dtype == np.int64
    assert dist.shape == idx.shape == (n, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)


def test_ties_go_to_the_smaller_index():
    # Integer grid: many exactly equal distances; the order must be (distance, index).
    g = np.arange(6, dtype=np.float32)
    x = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    x = x[np.random.default_rng(0).permutation(len(x))]
    dist, idx = lid.knn(x, 12)
    ref_dist, ref_idx = brute_force(x, 12)
    np.testing.assert_array_equal(dist, ref_dist)
    np.testing.assert_array_equal(idx, ref_idx)


def test_kdtree_equals_exact_and_hnsw_recall():
    x = np.random.default_rng(1).standard_normal((1000, 8)).astype(np.float32)
    exact = lid.knn(x, 16)
    kd = lid.knn(x, 16, backend="kdtree")
    np.testing.assert_array_equal(kd[1], exact[1])
    np.testing.assert_allclose(kd[0], exact[0], rtol=1e-12)
    approx_idx = lid.knn(x, 16, backend="hnsw")[1]
    hits = sum(len(set(a) & set(b)) for a, b in zip(approx_idx, exact[1]))
    assert hits / exact[1].size > 0.9


def test_duplicates_have_distance_zero():
    x = np.random.default_rng(2).standard_normal((50, 4)).astype(np.float32)
    x = np.vstack([x, x[:5]])
    dist, idx = lid.knn(x, 3)
    for i in range(5):
        assert dist[i, 0] == 0.0 and idx[i, 0] == 50 + i
        assert dist[50 + i, 0] == 0.0 and idx[50 + i, 0] == i
