"""Python side of benches/peers/run.sh: data generation and the peers' timings.

Subcommands (each prints one JSON line):
  gen OUT.npy N D SEED       embedding-like cloud (float32), the recipe of benches/src/lib.rs:
                             offset + one of 20 cluster centres + rank-24 Gaussian factor + 0.05 noise
  skdim IN.npy L OUT.npy     scikit-dimension TwoNN(discard_fraction=0.1).fit_pw(X, n_neighbors=L) on the
                             float64 copy of X (0.3.4 rounds r1/r2 to float32 on float32 input), n_jobs=1
  faiss IN.npy K OUT.npy     faiss IndexFlatL2 all-kNN (K includes the point itself), all threads
  compare A.npy B.npy        max abs / max rel difference of two float arrays
"""
import json
import sys
import time

import numpy as np


def gen(out, n, d, seed):
    rng = np.random.default_rng(seed)
    rank, clusters = 24, 20
    offset = 2.0 * rng.standard_normal(d)
    centres = 0.5 * rng.standard_normal((clusters, d))
    basis = rng.standard_normal((rank, d)) / np.sqrt(rank)
    labels = rng.integers(0, clusters, n)
    x = offset + centres[labels] + rng.standard_normal((n, rank)) @ basis + 0.05 * rng.standard_normal((n, d))
    np.save(out, x.astype(np.float32))
    print(json.dumps({"gen": out, "n": n, "d": d}))


def skdim_fit_pw(inp, L, out):
    import skdim

    x = np.load(inp).astype(np.float64)
    t = time.perf_counter()
    est = skdim.id.TwoNN(discard_fraction=0.1).fit_pw(x, n_neighbors=L, n_jobs=1)
    secs = time.perf_counter() - t
    np.save(out, np.asarray(est.dimension_pw_, dtype=np.float64))
    print(json.dumps({"peer": "skdim", "version": skdim.__version__, "seconds": secs, "n": len(x), "L": L}))


def faiss_knn(inp, k, out):
    import faiss

    x = np.load(inp)
    t = time.perf_counter()
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    dist, idx = index.search(x, k)
    secs = time.perf_counter() - t
    np.save(out, idx)
    print(json.dumps({"peer": "faiss", "version": faiss.__version__, "seconds": secs, "threads": faiss.omp_get_max_threads()}))


def compare(a, b):
    x, y = np.load(a), np.load(b)
    diff = np.abs(x - y)
    print(json.dumps({"max_abs": float(diff.max()), "max_rel": float((diff / np.abs(y)).max()), "n": len(x)}))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "gen":
        gen(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "skdim":
        skdim_fit_pw(args[0], int(args[1]), args[2])
    elif cmd == "faiss":
        faiss_knn(args[0], int(args[1]), args[2])
    elif cmd == "compare":
        compare(args[0], args[1])
    else:
        sys.exit(f"unknown command {cmd}")
