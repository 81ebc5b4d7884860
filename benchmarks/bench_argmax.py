"""Argmaxable words at vocabulary scale, against one LP per word.

Anisotropic embeddings (power-law spectrum, decay 1) with a fraction of
planted interior words (half a convex combination of three others, half
their mean: strictly inside the hull), so that both
the cheap path and the exact LP path are exercised. The baseline solves the
full Chebyshev LP (all M - 1 competitors) for a sample of words, half of them
planted, and is extrapolated to the whole vocabulary.

    python benchmarks/bench_argmax.py            # M = 30,000, d = 384
    python benchmarks/bench_argmax.py --quick    # M = 3,000, d = 64
    python benchmarks/bench_argmax.py --size 262144 640   # today's small LMs
    python benchmarks/bench_argmax.py --smollm2  # SmolLM2-135M's real head

Prints words per second, the fraction decided without an LP, the speed-up
over the baseline, and the time against the floor of checking one witness
per word against every word (``2 M² d`` flops at this machine's float64 and
float32 GEMM rates, measured in the same run) as ratios.
"""

import argparse
import time

import numpy as np

from rankbottleneck.argmax import argmaxable, argmaxable_lp_baseline
from rankbottleneck.synthetic import embeddings


def planted(M, d, fraction, seed):
    """Embeddings with `fraction` of the words planted strictly inside the
    hull: half a convex combination of three other words, half their mean.

    (A combination of three words alone lies, in 64 or 384 dimensions, on a
    2-face of the hull: random polytopes are neighbourly. After rounding
    such a word is argmaxable or not by a hair, and only exact arithmetic
    over the whole vocabulary could say which.)
    """
    W = embeddings(M, d, kind="anisotropic", decay=1.0, seed=seed)
    rng = np.random.default_rng(seed + 1)
    inner = rng.choice(M, int(fraction * M), replace=False)
    outer = np.setdiff1d(np.arange(M), inner)
    centre = W[outer].mean(axis=0)
    for i in inner:
        W[i] = 0.5 * (rng.dirichlet(np.ones(3)) @ W[rng.choice(outer, 3, replace=False)]
                      + centre)
    return W, inner


def gemm_rates(W, n=256, repeats=3):
    """This machine's float64 and float32 rates (flop/s) for the product
    that checks `n` contexts against every row of `W`."""
    H = np.random.default_rng(0).standard_normal((n, W.shape[1]))
    rates = {}
    for dtype in (np.float64, np.float32):
        Wt, Ht = W.astype(dtype, copy=False), H.astype(dtype)
        Ht @ Wt.T                                   # warm up
        t = time.perf_counter()
        for _ in range(repeats):
            Ht @ Wt.T
        rates[np.dtype(dtype).name] = 2.0 * n * W.size * repeats / (
            time.perf_counter() - t)
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", nargs=2, type=int, metavar=("M", "D"))
    parser.add_argument("--smollm2", action="store_true",
                        help="SmolLM2-135M's head instead of planted embeddings")
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--baseline-words", type=int, default=2,
                        help="words solved by the baseline (half of them planted; "
                             "0 skips it)")
    args = parser.parse_args()
    M, d = (3000, 64) if args.quick else args.size or (30000, 384)
    if args.smollm2:
        from rankbottleneck.io import load_embeddings
        from rankbottleneck.lm import smollm2_file

        W = load_embeddings(smollm2_file()).W.astype(np.float64)
        M, d = W.shape
        inner = np.zeros(0, dtype=int)
    else:
        W, inner = planted(M, d, args.fraction, seed=0)
    rates = gemm_rates(W)

    t = time.perf_counter()
    rep = argmaxable(W, progress=not args.quick)
    ours = time.perf_counter() - t
    found = np.isin(inner, rep.unargmaxable).mean() if len(inner) else 1.0
    t = time.perf_counter()
    assert len(rep.verify(W)) == 0, "a witness or certificate failed"
    checked = time.perf_counter() - t

    print(f"M = {M}, d = {d}, {len(inner)} planted interior words")
    print(f"argmaxable: {ours:.1f} s, {M / ours:,.0f} words/s; {rep}")
    floor = 2.0 * M * M * d
    print(f"  against checking one witness per word (2 M^2 d = {floor:.2e} flops): "
          + ", ".join(f"{ours / (floor / r):.2f}x its {name} floor ({floor / r:.1f} s)"
                      for name, r in rates.items()))
    print(f"  verify (every witness and certificate re-proved): {checked:.1f} s")
    if len(inner):
        print(f"  planted interior words certified: {100 * found:.1f}%")
    print(f"  decided without an LP: {100 * rep.fraction_cheap:.2f}% "
          f"({rep.counts()})", flush=True)

    if args.baseline_words == 0:       # a huge head: its full LP alone takes minutes
        return
    rng = np.random.default_rng(1)
    k = max(1, args.baseline_words // 2)
    pool = inner if len(inner) else rep.unargmaxable
    sample = np.concatenate([rng.choice(pool, min(k, len(pool)), replace=False),
                             rng.choice(np.flatnonzero(rep.mask), k, replace=False)])
    times = []
    for i in sample:
        t = time.perf_counter()
        status = argmaxable_lp_baseline(W, words=[i])[0]
        times.append(time.perf_counter() - t)
        print(f"  baseline word {i}: {times[-1]:.1f} s, "
              f"{'agrees' if (status == 1) == rep.mask[i] else 'DISAGREES'}",
              flush=True)
    per_word = float(np.mean(times))
    print(f"baseline: {per_word:.2f} s per word (full LP over all {M - 1} "
          f"competitors) -> {per_word * M / 3600:.1f} h for M words, "
          f"{1 / per_word:.3f} words/s")
    print(f"speed-up over one LP per word: {per_word * M / ours:,.0f}x")

if __name__ == "__main__":
    main()
