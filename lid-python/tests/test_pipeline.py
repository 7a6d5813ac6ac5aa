"""Preparation (sampling, dedup), determinism, guards, and the skdim class API."""

import warnings

import numpy as np
import pytest

import lid
from lid.skdim import TwoNN


def cloud(n=1500, d=10, intrinsic=4, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, intrinsic))
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (z @ q[:intrinsic]).astype(np.float32)


def test_estimates_track_the_intrinsic_dimension():
    for k in (2, 5):
        values, _ = lid.local_dimensions(cloud(intrinsic=k), neighbors=64)
        assert abs(values.mean() - k) < 0.25 * k, values.mean()
        assert abs(lid.global_dimension(cloud(intrinsic=k)) - k) < 0.25 * k


def test_same_seed_same_result_other_seed_other_sample():
    x = cloud()
    a = lid.local_dimensions(x, neighbors=32, sample=700, seed=7)
    b = lid.local_dimensions(x, neighbors=32, sample=700, seed=7)
    c = lid.local_dimensions(x, neighbors=32, sample=700, seed=8)
    np.testing.assert_array_equal(a.kept, b.kept)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(np.sort(a.kept), np.sort(c.kept))
    assert len(a.kept) == 700 and len(np.unique(a.kept)) == 700
    assert a.kept.min() >= 0 and a.kept.max() < len(x)
    # The estimates belong to the sampled rows: estimating those rows directly gives the same.
    direct = lid.local_dimensions(x[a.kept], neighbors=32, dedup=False)
    np.testing.assert_array_equal(direct.values, a.values)
    assert lid.global_dimension(x, sample=700, seed=7) == lid.global_dimension(x[a.kept])


def test_dedup_keeps_first_occurrences_in_order():
    x = cloud(n=400)
    dup = np.vstack([x[:100], x, x[50:60]])  # rows 100..199 repeat 0..99; 500..509 repeat 50..59
    result = lid.local_dimensions(dup, neighbors=20)
    expected = np.r_[np.arange(100), np.arange(200, 500)]
    np.testing.assert_array_equal(result.kept, expected)
    assert result.info["duplicates_removed"] == 110
    np.testing.assert_array_equal(result.values, lid.local_dimensions(x[np.r_[:100, 100:400]], neighbors=20).values)


def test_sample_larger_than_input_warns_and_uses_every_row():
    x = cloud(n=200)
    with pytest.warns(UserWarning, match="more rows than x has"):
        result = lid.local_dimensions(x, neighbors=20, sample=1000)
    assert sorted(result.kept.tolist()) == list(range(200))


def test_near_duplicates_warn():
    x = cloud(n=500)
    near = x[:20] + np.float32(1e-6) * np.abs(x[:20]).max()
    with pytest.warns(lid.NearDuplicateWarning, match="near duplicates"):
        result = lid.local_dimensions(np.vstack([x, near]), neighbors=32)
    assert result.info["near_duplicate_points"] >= 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lid.local_dimensions(np.vstack([x, near]), neighbors=32, near_duplicate_threshold=0.0)
        lid.local_dimensions(x, neighbors=32)


def test_results_do_not_depend_on_the_backend_for_exact_backends():
    x = cloud(d=6)
    a = lid.local_dimensions(x, neighbors=40)
    b = lid.local_dimensions(x, neighbors=40, knn="kdtree")
    np.testing.assert_array_equal(a.values, b.values)


def test_result_unpacks_and_has_a_mean():
    result = lid.local_dimensions(cloud(), neighbors=32)
    values, kept = result
    assert values is result.values and kept is result.kept
    assert result.mean() == pytest.approx(values.mean())
    assert result.smoothed is None


def test_skdim_class_api():
    x = cloud().astype(np.float64)
    est = TwoNN(discard_fraction=0.2)
    assert est.get_params() == {"discard_fraction": 0.2, "dist": False, "cdf": "paper"}
    assert est.fit(x) is est and est.transform() == est.dimension_
    assert est.fit_transform(x) == lid.global_dimension(x, discard=0.2, dedup=False)
    pw, smooth = est.fit_transform_pw(x, n_neighbors=50, smooth=True)
    np.testing.assert_array_equal(
        pw, lid.local_dimensions(x, neighbors=50, discard=0.2, dedup=False).values
    )
    assert smooth.shape == pw.shape and smooth.std() < pw.std()
    assert est.set_params(discard_fraction=0.1).discard_fraction == 0.1
    with pytest.raises(ValueError):
        est.set_params(n_neighbors=3)
    assert TwoNN().fit_pw(x, n_neighbors=50).dimension_pw_.shape == (len(x),)


def test_the_gil_is_released_during_the_work():
    import threading
    import time

    x = np.random.default_rng(3).standard_normal((6000, 256)).astype(np.float32)

    def spin(seconds):
        ticks, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            ticks += 1
        return ticks

    rate = spin(0.1) / 0.1  # loop iterations per second with the GIL to ourselves
    started, done, spent = threading.Event(), threading.Event(), []

    def work():
        started.set()
        t = time.perf_counter()
        lid.local_dimensions(x, neighbors=128)
        spent.append(time.perf_counter() - t)
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    started.wait()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.perf_counter()
    thread.join()
    # Holding the GIL, the call would leave this loop one switch interval (5 ms) of its run time at
    # most; released, the loop shares the cores with the work and runs for a good part of it.
    print("GIL test: fraction", ticks / (rate * spent[0]))
    assert ticks > 0.05 * rate * spent[0], (ticks, rate, spent)
