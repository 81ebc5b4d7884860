"""Exact rank and spectrum at language-model scale, against dense LAPACK.

For each size, activation and dtype: the project's path (`rb.spectrum` on the
layer: structural for softmax, streamed Gram for sigsoftmax) against
``numpy.linalg.matrix_rank`` and ``scipy.linalg.svdvals`` on the materialised
matrix. Prints, as each result arrives: times, speed-up, peak traced memory
(tracemalloc: numpy and scipy allocations, not LAPACK's internal workspace),
whether every threshold rank agrees, and the project's time as a multiple of
the ``N²M``-flop floor at the machine's measured GEMM rate.

    python benchmarks/bench_spectrum.py            # 2000×10000, 4000×33278, 10000×33278
    python benchmarks/bench_spectrum.py --quick    # 1000×4000

A baseline whose predicted time (cost ∝ N²M, from the largest size measured)
exceeds ``--max-baseline`` seconds (default 600) is skipped and extrapolated,
and the line says so.
"""

import argparse
import gc
import math
import time
import tracemalloc

import numpy as np
import scipy.linalg

import rankbottleneck as rb
from rankbottleneck.rank import rank_from_singular_values
from rankbottleneck.synthetic import contexts_and_words

MEASURES = ("numpy", "press")


def gemm_rate(n=4000, repeats=3):
    """Best of `repeats` n×n products: one product on a shared machine can
    catch a slow moment and make every floor ratio look better than it is."""
    a = np.random.default_rng(0).standard_normal((n, n))
    a @ a
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def timed(func, *args):
    gc.collect()
    tracemalloc.start()
    t = time.perf_counter()
    out = func(*args)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, elapsed, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-baseline", type=float, default=600.0)
    parser.add_argument("--d", type=int, default=400)
    parser.add_argument("--sizes", nargs="+", metavar="NxM",
                        help="sizes to run instead of the default three")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--activations", nargs="+", default=["softmax", "sigsoftmax"])
    parser.add_argument("--baselines", nargs="+", default=["svdvals", "matrix_rank"],
                        choices=["svdvals", "matrix_rank"],
                        help="svdvals is needed for the rank check")
    parser.add_argument("--svd-cost", type=float, default=0.0, metavar="S",
                        help="seconds per N²M of svdvals measured earlier, for "
                             "extrapolating when only large sizes are run")
    args = parser.parse_args()
    sizes = [(1000, 4000)] if args.quick else [(2000, 10000), (4000, 33278),
                                               (10000, 33278)]
    if args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    rate = gemm_rate()
    print(f"GEMM rate: {rate / 1e9:.1f} GFLOP/s (2 flops per multiply-add)", flush=True)
    # seconds per N²M, per dtype, from the last measurement
    svd_cost = {dt: args.svd_cost for dt in args.dtypes}
    for N, M in sizes:
        floor = N * N * M / rate
        H, W, _ = contexts_and_words(N, M, args.d, seed=0)
        for dtype in map(np.dtype, args.dtypes):
            Hd, Wd = H.astype(dtype), W.astype(dtype)
            for act in args.activations:
                layer = rb.PointwiseLayer(Wd, activation=act)
                spec, t_fast, m_fast = timed(rb.spectrum, layer, Hd)
                stages = ", ".join(f"{name} {sec:.1f} s" for name, sec in spec.stages)
                line = (f"{N}×{M} {act:<10} {np.dtype(dtype).name}: {spec.method}, "
                        f"{t_fast:.1f} s = {t_fast / floor:.2f}× the N²M floor "
                        f"({floor:.1f} s) [{stages}], peak {m_fast / 2**20:.0f} MiB")
                key = np.dtype(dtype).name
                predicted = svd_cost.get(key, 0) * N * N * M
                if predicted > args.max_baseline:
                    print(f"{line}; svdvals skipped: predicted {predicted:.0f} s "
                          f"(cost ∝ N²M from the smaller size) → speed-up "
                          f"≈ {predicted / t_fast:.1f}× (extrapolated)", flush=True)
                    continue
                A, t_build, _ = timed(layer.log_prob_matrix, Hd)
                s, t_svd, m_svd = timed(scipy.linalg.svdvals, A)
                svd_cost[key] = t_svd / (N * N * M)
                t_np = math.nan
                if "matrix_rank" in args.baselines:
                    _, t_np, _ = timed(np.linalg.matrix_rank, A)
                agree = all(
                    spec.rank(m).value == rank_from_singular_values(
                        s, m, shape=A.shape, computed_in=dtype).value
                    for m in MEASURES)
                ranks = [spec.rank(m).value for m in MEASURES]
                err = float(np.max(np.abs(spec.values - s.astype(np.float64)))
                            / s[0])
                print(f"{line}; svdvals {t_svd:.1f} s (speed-up {t_svd / t_fast:.1f}×, "
                      f"peak {m_svd / 2**20:.0f} MiB + the matrix "
                      f"{A.nbytes / 2**20:.0f} MiB, memory ratio "
                      f"{(m_svd + A.nbytes) / max(m_fast, 1):.1f}×), "
                      + (f"matrix_rank {t_np:.1f} s ({t_np / t_fast:.1f}×)"
                         if t_np == t_np else "matrix_rank not run")
                      + f"; numpy/Press ranks "
                      f"{ranks} agree: {agree}; max |Δσ|/σ1 = {err:.1e}", flush=True)
                del A, s
                gc.collect()


if __name__ == "__main__":
    main()
