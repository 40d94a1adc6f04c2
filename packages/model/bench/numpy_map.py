"""numpy reference for model-bench.ts: mAP@all (squared Euclidean, ties ranked by gallery index via
a stable argsort), computed in query blocks with BLAS distances. Reads float32/int32 files written by
the bench, prints one JSON line."""
import argparse
import json
import time

import numpy as np


def mean_average_precision(q, g, ql, gl, block=256):
    gn = (g * g).sum(1)
    aps = np.zeros(len(q), dtype=np.float64)
    for s in range(0, len(q), block):
        qb = q[s:s + block]
        d = (qb * qb).sum(1)[:, None] + gn[None, :] - 2.0 * qb @ g.T
        order = np.argsort(d, axis=1, kind="stable")
        rel = gl[order] == ql[s:s + block, None]
        hits = np.cumsum(rel, axis=1)
        ranks = np.arange(1, g.shape[0] + 1)[None, :]
        nrel = rel.sum(1)
        prec = np.where(rel, hits / ranks, 0.0).sum(1)
        aps[s:s + block] = np.where(nrel > 0, prec / np.maximum(nrel, 1), 0.0)
    return aps.mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--nq", type=int, required=True)
    ap.add_argument("--ng", type=int, required=True)
    ap.add_argument("--dim", type=int, required=True)
    a = ap.parse_args()
    q = np.fromfile(a.prefix + "q.f32", dtype=np.float32).reshape(a.nq, a.dim)
    g = np.fromfile(a.prefix + "g.f32", dtype=np.float32).reshape(a.ng, a.dim)
    ql = np.fromfile(a.prefix + "ql.i32", dtype=np.int32)
    gl = np.fromfile(a.prefix + "gl.i32", dtype=np.int32)
    t0 = time.perf_counter()
    m = mean_average_precision(q, g, ql, gl)
    dt = time.perf_counter() - t0
    print(json.dumps({"engine": "numpy", "version": np.__version__, "mAP": float(m), "seconds": dt}))


if __name__ == "__main__":
    main()
