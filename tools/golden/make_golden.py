"""Golden fixtures for the lid-core estimators, computed by the Python peers.

Run through tools/golden/run.sh (it creates the pinned venvs). Steps:
  python make_golden.py clouds    OUT   # the input clouds (float32 .npy) and their exact kNN indices
  python make_golden.py skdim034  OUT   # scikit-dimension 0.3.4: TwoNN F_j=(j-1)/n, global + pointwise
  python make_golden.py skdim050  OUT   # scikit-dimension 0.5.0 (TwoNN, MLE, lPCA) + dadapy 0.3.4 GRIDE

Inputs are generated as float32 (seeded numpy), saved as float32 for Rust, and given to the peers as
float64 (astype): scikit-dimension 0.3.4 rounds r1/r2 to float32 on float32 input.
The neighbourhoods of the pointwise fits (precomputed_knn) come from exact float64 distances computed
with the direct formula sqrt(sum((x - y)^2)), ordered by (distance, index) like lid-core's
ExhaustiveSearch; the peers then compute everything else themselves.
"""
import sys
import os
import json
import warnings

import numpy as np

warnings.filterwarnings("ignore")

LS = (64, 128)


def make_clouds():
    """Two clouds: a union of manifolds of different dimensions in D = 256, and a 5-d ball in D = 16."""
    rng = np.random.default_rng(20250601)
    D = 256
    parts = []
    # (points, intrinsic dimension, curved?)
    for n, d, curved in ((300, 2, True), (300, 6, False), (200, 12, False)):
        z = rng.standard_normal((n, d))
        if curved:
            # A 2-d sheet bent through sin/cos into 4 coordinates, then embedded.
            z = np.column_stack([np.cos(z[:, 0]), np.sin(z[:, 0]), z[:, 1], np.sin(z[:, 1])])
        q, _ = np.linalg.qr(rng.standard_normal((D, z.shape[1])))
        offset = rng.standard_normal(D) * 3.0
        parts.append(z @ q.T + offset)
    union = np.vstack(parts).astype(np.float32)
    # 5-d ball in D = 16 (uniform in the ball, then a random rotation).
    d, n = 5, 600
    g = rng.standard_normal((n, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    r = rng.random(n) ** (1.0 / d)
    ball = np.zeros((n, 16))
    ball[:, :d] = g * r[:, None]
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    ball = (ball @ q.T).astype(np.float32)
    return {"union": union, "ball": ball}


def exact_knn(x, k):
    """k nearest neighbours (self excluded) by exact direct distances, ties by index."""
    n = len(x)
    idx = np.zeros((n, k), dtype=np.int64)
    for i in range(n):
        dist = np.sqrt(((x - x[i]) ** 2).sum(axis=1))
        dist[i] = np.inf
        order = np.lexsort((np.arange(n), dist))[:k]
        idx[i] = order
    return idx


def load(out, name):
    x32 = np.load(os.path.join(out, f"{name}_cloud.npy"))
    knn = np.load(os.path.join(out, f"{name}_knn128.npy")).astype(np.int64)
    return x32.astype(np.float64), knn


def save(out, name, value):
    np.save(os.path.join(out, name + ".npy"), np.asarray(value, dtype=np.float64))


def step_clouds(out):
    for name, x in make_clouds().items():
        np.save(os.path.join(out, f"{name}_cloud.npy"), x)
        knn = exact_knn(x.astype(np.float64), max(LS))
        np.save(os.path.join(out, f"{name}_knn128.npy"), knn.astype(np.int32))


def step_skdim034(out):
    import skdim

    for name in ("union", "ball"):
        x, knn = load(out, name)
        # Global TwoNN, F_j = (j - 1) / n.
        save(out, f"{name}_twonn_global_skdim034", [skdim.id.TwoNN().fit(x).dimension_])
        for L in LS:
            est = skdim.id.TwoNN()
            est.fit_pw(x, precomputed_knn=knn[:, :L], smooth=True, n_neighbors=L)
            save(out, f"{name}_twonn_pw_L{L}_skdim034", est.dimension_pw_)
            save(out, f"{name}_twonn_pw_L{L}_skdim034_smooth", est.dimension_pw_smooth_)


def step_skdim050(out):
    import skdim
    from dadapy import Data

    for name in ("union", "ball"):
        x, knn = load(out, name)
        # Global TwoNN, F_j = j / n, and the censored MLE.
        save(out, f"{name}_twonn_global_skdim050", [skdim.id.TwoNN().fit(x).dimension_])
        save(out, f"{name}_twonn_global_skdim050_mle",
             [skdim.id.TwoNN(method="mle").fit(x).dimension_])
        for L in LS:
            est = skdim.id.TwoNN()
            est.fit_pw(x, precomputed_knn=knn[:, :L], smooth=True, n_neighbors=L)
            save(out, f"{name}_twonn_pw_L{L}_skdim050", est.dimension_pw_)
            save(out, f"{name}_twonn_pw_L{L}_skdim050_smooth", est.dimension_pw_smooth_)
        # Pointwise censored MLE (method="mle") on the L = 64 neighbourhoods.
        est = skdim.id.TwoNN(method="mle")
        est.fit_pw(x, precomputed_knn=knn[:, :64], n_neighbors=64)
        save(out, f"{name}_twonn_pw_L64_skdim050_mle", est.dimension_pw_)
        # Levina-Bickel MLE with 20 neighbours (defaults), aggregates 'mle' (MacKay-Ghahramani) and 'mean'.
        mle = skdim.id.MLE().fit(x, n_neighbors=20, comb="mle", smooth=True)
        save(out, f"{name}_mle_pw_k20_skdim050", mle.dimension_pw_)
        save(out, f"{name}_mle_pw_k20_skdim050_smooth", mle.dimension_pw_smooth_)
        save(out, f"{name}_mle_global_k20_skdim050_mle", [mle.dimension_])
        save(out, f"{name}_mle_global_k20_skdim050_mean",
             [skdim.id.MLE().fit(x, n_neighbors=20, comb="mean").dimension_])
        # lPCA: FO and Fan, global and pointwise on the L = 64 neighbourhoods; ratio global.
        for ver in ("FO", "Fan", "ratio"):
            save(out, f"{name}_lpca_{ver}_global_skdim050", [skdim.id.lPCA(ver=ver).fit(x).dimension_])
        for ver in ("FO", "Fan", "ratio"):
            est = skdim.id.lPCA(ver=ver)
            est.fit_pw(x, precomputed_knn=knn[:, :64], n_neighbors=64)
            save(out, f"{name}_lpca_{ver}_pw_L64_skdim050", est.dimension_pw_)
        # GRIDE (dadapy): scales (n1, n2) = (1, 2) and (2, 4), with the Fisher-information error.
        data = Data(coordinates=x, maxk=8, verbose=False)
        ids, errs, _ = data.return_id_scaling_gride(range_max=4)
        save(out, f"{name}_gride_dadapy034", np.column_stack([ids, errs]))


def main():
    step, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    {"clouds": step_clouds, "skdim034": step_skdim034, "skdim050": step_skdim050}[step](out)
    print(f"{step}: done")


if __name__ == "__main__":
    main()
