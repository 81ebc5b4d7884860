"""Reading the hidden size d off a softmax model's outputs (Finlayson et al.).

Left: the singular spectrum of doubly centred log-probability rows of a
softmax layer (d = 32, M = 500, bias) falls off a cliff after σ_d; a
sigsoftmax layer's does not. Right: how often ``estimate_hidden_size``
recovers d exactly, against the number of output rows, over 10 random layers
(quick: 3), float64 and float32.

    python analyses/hidden_size_recovery.py [--quick] [--out DIR] [--seed N]
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
from rankbottleneck.synthetic import contexts_and_words

NAME = "hidden_size_recovery"


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    d, M = 32, 500
    extra = (-8, 0, 2, 5, 10, 20, 40)
    trials = 3 if quick else 10
    progress = Progress(NAME, len(extra) * trials * 2 + 2)
    rows = []
    for dtype in (np.float64, np.float32):
        for e in extra:
            hits = 0
            for t in range(trials):
                H, W, b = contexts_and_words(d + e, M, d, has_bias=True,
                                             seed=seed + 100 * t)
                Y = rb.log_prob_matrix(H.astype(dtype), W.astype(dtype),
                                       bias=b.astype(dtype))
                hits += rb.estimate_hidden_size(Y).d == d
                progress.step(f"{np.dtype(dtype).name} rows=d{e:+d}")
            rows.append({"dtype": np.dtype(dtype).name, "rows": d + e,
                         "rows_minus_d": e, "success_rate": hits / trials,
                         "trials": trials})
    H, W, b = contexts_and_words(d + 40, M, d, has_bias=True, seed=seed)
    spectra = {}
    for name in ("softmax", "sigsoftmax"):
        est = rb.estimate_hidden_size(rb.log_prob_matrix(H, W, name, bias=b))
        spectra[name] = (est.singular_values, est.d, est.gap)
        progress.step(name)
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "d": d, "M": M, "seed": seed, "rows": rows,
        "spectra": {k: {"singular_values": v[0], "estimate": v[1], "gap": v[2]}
                    for k, v in spectra.items()}})
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, (s, est, gap) in spectra.items():
        axes[0].semilogy(np.arange(1, len(s) + 1), np.maximum(s / s[0], 1e-300),
                         label=f"{name}: estimate {est}, gap {gap:.2g}")
    axes[0].axvline(d, color="k", ls=":", lw=1)
    axes[0].set_xlabel("index i")
    axes[0].set_ylabel("σ_i / σ_1 (rows and columns centred)")
    axes[0].set_title(f"d = {d}, {d + 40} rows, M = {M}, with bias", fontsize=9)
    axes[0].legend(fontsize=7)
    for dtype, ls in (("float64", "-"), ("float32", "--")):
        sel = [r for r in rows if r["dtype"] == dtype]
        axes[1].plot([r["rows_minus_d"] for r in sel], [r["success_rate"] for r in sel],
                     ls=ls, marker="o", ms=4, label=dtype)
    axes[1].set_xlabel("number of output rows minus d")
    axes[1].set_ylabel(f"fraction of {trials} layers with d recovered")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(fontsize=7)
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    at20 = [r["success_rate"] for r in rows if r["rows_minus_d"] == 20]
    return (f"recovered d = {d} with d + 20 rows: {at20}; sigsoftmax estimate "
            f"{spectra['sigsoftmax'][1]}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
