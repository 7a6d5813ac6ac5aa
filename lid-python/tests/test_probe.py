"""lid.Probe on a toy training loop without PyTorch, and the `keep` (N) preparation step."""

import csv
import warnings

import numpy as np
import pytest

import lid


def hidden_states(step, batch=8, seq=40, dim=32, rng_seed=0):
    """Toy hidden states whose intrinsic dimension falls from 8 (step 0) to 5 (100) to 2 (200)."""
    rng = np.random.default_rng(rng_seed)
    intrinsic = (8, 5, 2)[min(step // 100, 2)]
    z = rng.standard_normal((batch * seq, intrinsic))
    basis = np.linalg.qr(np.random.default_rng(99).standard_normal((dim, dim)))[0][:intrinsic]
    return (z @ basis).reshape(batch, seq, dim).astype(np.float32)


def test_keep_is_the_prefix_of_the_prepared_rows():
    x = hidden_states(0).reshape(-1, 32)
    full = lid.local_dimensions(x, neighbors=20, sample=len(x), seed=3)
    first = lid.local_dimensions(x, neighbors=20, sample=len(x), seed=3, keep=100)
    np.testing.assert_array_equal(first.kept, full.kept[:100])
    direct = lid.local_dimensions(x[full.kept[:100]], neighbors=20, dedup=False)
    np.testing.assert_array_equal(first.values, direct.values)
    with pytest.raises(ValueError, match="keep"):
        lid.local_dimensions(x, keep=0)


def test_probe_follows_a_toy_training_loop(tmp_path):
    mask = np.ones((8, 40), dtype=np.int64)
    mask[:, 30:] = 0  # padding: 80 positions that must not be measured
    probe = lid.Probe(n_points=200, neighbors=32, sample=1000, seed=1)
    for step in range(0, 300, 100):
        h = hidden_states(step)
        h[:, 30:] = 0.0  # what a model puts at padded positions does not matter
        point = probe.measure(step, h, mask)
        assert point.step == step and point.n_points == 200
    means = [p.mean for p in probe.series]
    assert means[0] > 6 and means[-1] < 3, means
    assert all(a > b for a, b in zip(means, means[1:])), means
    # Same settings, same data: the same series.
    again = lid.Probe(n_points=200, neighbors=32, sample=1000, seed=1)
    h = hidden_states(0)
    h[:, 30:] = 0.0
    assert again.measure(0, h, mask) == probe.series[0]

    out = tmp_path / "lid.csv"
    probe.to_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert [int(r["step"]) for r in rows] == list(range(0, 300, 100))
    assert float(rows[0]["mean"]) == pytest.approx(means[0])
    assert [p.name for p in tmp_path.iterdir()] == ["lid.csv"]  # no temporary left behind


def test_probe_uses_only_masked_tokens():
    h = hidden_states(0)
    mask = np.zeros((8, 40), dtype=bool)
    mask[:, :25] = True
    tokens = lid.Probe.tokens(h, mask)
    np.testing.assert_array_equal(tokens, h[:, :25].reshape(-1, 32))
    with pytest.raises(ValueError, match="mask has shape"):
        lid.Probe.tokens(h, mask[:, :10])
    with pytest.raises(ValueError, match="hidden has shape"):
        lid.Probe.tokens(h[0, 0])


def test_probe_warns_on_near_duplicates_naming_the_step():
    h = hidden_states(0).reshape(-1, 32)
    near = h[:40] + np.float32(1e-7) * np.abs(h).max()
    probe = lid.Probe(n_points=500, neighbors=32, sample=None)
    with pytest.warns(lid.NearDuplicateWarning, match="step 7: "):
        point = probe.measure(7, np.vstack([h, near]))
    assert point.near_duplicate_points >= 40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probe.measure(8, h)


def test_probe_errors():
    with pytest.raises(ValueError, match="L >= 3"):
        lid.Probe(neighbors=2)
    with pytest.raises(ValueError, match="must exceed"):
        lid.Probe(n_points=100, neighbors=128)
    probe = lid.Probe(n_points=1000, neighbors=128)
    with pytest.raises(ValueError, match="step 3: .*too few points"):
        probe.measure(3, np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32))
    bad = hidden_states(0)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="step 4: non-finite"):
        probe.measure(4, bad)
    assert probe.series == []
