"""lid's Python package against scikit-dimension 0.3.4 in one Python process (issue 18).

    python python_bench.py IN.npy [L] [REPEATS]

On the same array (the embedding-like cloud of `peers.py gen`, N = 5,000, D = 768 in
benches/peers/run.sh (a)), times scikit-dimension's `TwoNN(discard_fraction=0.1).fit_pw(X,
n_neighbors=L, n_jobs=1)` on the float64 copy (what 0.3.4 needs for exact r1/r2), then
`lid.local_dimensions(X, neighbors=L)` (float32, the paper's settings: dedup, exact kNN, paper CDF)
and `lid.skdim.TwoNN().fit_pw(X, n_neighbors=L)` (the drop-in), best of REPEATS for lid; checks the
estimates agree (max abs / rel difference) and prints one JSON line with the times and ratios.
"""
import json
import sys
import time

import numpy as np


def best(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), times, out


def main(path, L=128, repeats=3):
    import lid
    import skdim

    x32 = np.load(path)
    x64 = x32.astype(np.float64)
    t = time.perf_counter()
    peer = skdim.id.TwoNN(discard_fraction=0.1).fit_pw(x64, n_neighbors=L, n_jobs=1).dimension_pw_
    skdim_s = time.perf_counter() - t
    lid_s, lid_all, result = best(lambda: lid.local_dimensions(x32, neighbors=L), repeats)
    dropin_s, dropin_all, dropin = best(
        lambda: lid.skdim.TwoNN(discard_fraction=0.1).fit_pw(x32, n_neighbors=L).dimension_pw_,
        repeats,
    )
    assert len(result.kept) == len(x32), "the bench cloud has duplicates"
    diff = np.abs(result.values - peer)
    print(json.dumps({
        "n": len(x32), "d": x32.shape[1], "L": L,
        "skdim_version": skdim.__version__, "lid_version": lid.__version__,
        "skdim_fit_pw_s": round(skdim_s, 3),
        "lid_local_dimensions_s": round(lid_s, 4), "lid_local_dimensions_runs_s": [round(v, 4) for v in lid_all],
        "lid_skdim_fit_pw_s": round(dropin_s, 4), "lid_skdim_fit_pw_runs_s": [round(v, 4) for v in dropin_all],
        "ratio_local_dimensions": round(skdim_s / lid_s, 1),
        "ratio_dropin": round(skdim_s / dropin_s, 1),
        "max_abs_diff": float(diff.max()), "max_rel_diff": float((diff / np.abs(peer)).max()),
        "dropin_equals_local_dimensions": bool(np.array_equal(dropin, result.values)),
    }))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], *(int(a) for a in args[1:]))
