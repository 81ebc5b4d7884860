"""Exact rank and spectrum at language-model scale, against dense LAPACK.

Three parts, each printed as ratios measured in the same run (issue 24):

(a) ``rb.spectrum(A)`` with the default method against
    ``scipy.linalg.svdvals`` on the same matrix: Gaussian squares
    (2000², 4000²: noise only), a rank-10 signal under noise
    (``noisy_low_rank``, 4000²) and a softmax log-probability matrix
    (2000 × 16000). Ratio default / svdvals (must be ≤ 1) and whether the
    numpy, Press and ε-effective(1e-5) ranks agree.
(b) Layers: for each size, activation and dtype, the project's path
    (`rb.spectrum` on the layer: structural for softmax, streamed Gram for
    sigsoftmax) against ``numpy.linalg.matrix_rank`` and
    ``scipy.linalg.svdvals`` on the materialised matrix: times, speed-up,
    peak traced memory (tracemalloc: numpy and scipy allocations, not
    LAPACK's internal workspace), whether every threshold rank agrees, the
    project's time as a multiple of the ``N²M``-flop floor at the machine's
    measured GEMM rate, and each streamed Gram pass (``Spectrum.stages``)
    against its own floor (``N²M`` for a pass, ``3 N²M`` for a refinement
    pass, which also rotates the blocks).
(c) ``analyses/noise_fragility.py``'s published-size point (n = 10⁴,
    c = 1e-22): the default spectrum against the dense SVD it replaced, and
    the four published points by the default.

    python benchmarks/bench_spectrum.py            # (b): 2000×10000, 4000×33278, 10000×33278
    python benchmarks/bench_spectrum.py --quick    # (a) at half size, (b) 1000×4000, (c) n = 3000
    python benchmarks/bench_spectrum.py --parts a c

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
from rankbottleneck.synthetic import contexts_and_words, noisy_low_rank

MEASURES = ("numpy", "press")
PUBLISHED_C = (1e-26, 1e-24, 1e-22, 1e-20)      # noise_fragility's published points


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


def timed(func, *args, **kwargs):
    gc.collect()
    tracemalloc.start()
    t = time.perf_counter()
    out = func(*args, **kwargs)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, elapsed, peak


def _ranks_of(s, shape):
    return ([rank_from_singular_values(s, m, shape=shape).value for m in MEASURES]
            + [rank_from_singular_values(s, "effective", shape=shape, eps=1e-5).value])


def _ranks(spec):
    return ([spec.rank(m).value for m in MEASURES]
            + [spec.rank("effective", eps=1e-5).value])


def _against_svdvals(name, A):
    """One line: default spectrum against svdvals on `A`, same run."""
    # best of two, interleaved: on a shared machine one run can catch a
    # slow moment, and both sides should have the same chance of that
    t_default = t_svd = math.inf
    for _ in range(2):
        spec, t, _ = timed(rb.spectrum, A)
        t_default = min(t_default, t)
        s, t, _ = timed(scipy.linalg.svdvals, A)
        t_svd = min(t_svd, t)
    same = _ranks(spec) == _ranks_of(s, A.shape)
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in spec.stages)
    print(f"(a) {name} {A.shape[0]}×{A.shape[1]}: default {spec.method} "
          f"{t_default:.1f} s, svdvals {t_svd:.1f} s, ratio {t_default / t_svd:.2f} "
          f"({'OK' if t_default <= t_svd else 'SLOWER'}); numpy/Press/eff(1e-5) "
          f"ranks {_ranks(spec)} same as svdvals': {same} [{stages}]", flush=True)
    return t_default / t_svd, same


def part_a(quick):
    n1, n2 = (1000, 2000) if quick else (2000, 4000)
    rng = np.random.default_rng(0)
    out = []
    for n in (n1, n2):
        out.append(_against_svdvals("Gaussian (noise only)", rng.standard_normal((n, n))))
    out.append(_against_svdvals("noisy_low_rank c=1e-22",
                                noisy_low_rank(n2, rank=10, c=1e-22, seed=0)))
    N, M = (1000, 8000) if quick else (2000, 16000)
    H, W, _ = contexts_and_words(N, M, 64, seed=0)
    out.append(_against_svdvals("softmax log-probabilities, d = 64",
                                rb.log_prob_matrix(H, W)))
    print(f"(a) worst ratio default / svdvals: {max(r for r, _ in out):.2f}; ranks "
          f"all equal: {all(same for _, same in out)}", flush=True)


def _pass_ratios(spec, N, M, rate):
    """Each streamed Gram pass of `spec` against its floor at `rate` (a
    refinement stage includes its Schur complement's eigen-solve)."""
    n, m = min(N, M), max(N, M)
    floor = n * n * m / rate
    parts = []
    for name, sec in spec.stages:
        if name.startswith("pass 1") or name == "deflated pass":
            parts.append(f"{name} {sec / floor:.2f}× its n²m floor")
        elif name.startswith("refinement pass"):
            parts.append(f"{name} {sec / (3 * floor):.2f}× its 3n²m floor")
    return "; ".join(parts)


def part_c(quick, compare=True):
    n = 3000 if quick else 10_000
    A = noisy_low_rank(n, rank=10, c=1e-22, seed=0)
    spec, t_default, _ = timed(rb.spectrum, A)
    line = (f"(c) noise_fragility n = {n}, c = 1e-22: default {spec.method} "
            f"{t_default:.1f} s, ranks {_ranks(spec)}")
    print(line + f" [{', '.join(f'{k} {v:.1f} s' for k, v in spec.stages)}] "
          f"[{_pass_ratios(spec, n, n, gemm_rate())}]", flush=True)
    if compare:
        dense, t_svd, _ = timed(rb.spectrum, A, method="svd")
        line += (f"; the dense SVD it replaced {t_svd:.1f} s (ranks {_ranks(dense)}, "
                 f"same: {_ranks(dense) == _ranks(spec)}); ratio "
                 f"{t_default / t_svd:.2f}")
    print(line, flush=True)
    del A
    total = 0.0
    for c in PUBLISHED_C:
        spec, t, _ = timed(rb.spectrum, noisy_low_rank(n, rank=10, c=c, seed=0))
        total += t
        print(f"(c)   c = {c:.0e}: {spec.method}, {t:.1f} s, numpy/Press/eff(1e-5) "
              f"ranks {_ranks(spec)} [{', '.join(f'{k} {v:.1f} s' for k, v in spec.stages)}]",
              flush=True)
    print(f"(c) the four published points: {total:.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"],
                        choices=["a", "b", "c"])
    parser.add_argument("--no-svd-at-10k", action="store_true",
                        help="(c): skip the dense SVD of 10⁴ × 10⁴ (4.5 to 9 min)")
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
    if "a" in args.parts:
        part_a(args.quick)
    if "c" in args.parts:
        part_c(args.quick, compare=not args.no_svd_at_10k)
    if "b" not in args.parts:
        return
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
                passes = _pass_ratios(spec, N, M, rate)
                line = (f"(b) {N}×{M} {act:<10} {np.dtype(dtype).name}: {spec.method}, "
                        f"{t_fast:.1f} s = {t_fast / floor:.2f}× the N²M floor "
                        f"({floor:.1f} s) [{stages}]"
                        + (f" [{passes}]" if passes else "")
                        + f", peak {m_fast / 2**20:.0f} MiB")
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
