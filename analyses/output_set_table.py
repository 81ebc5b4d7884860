"""Span and local dimension of the log-output set, per activation.

For every activation and d ∈ {2, 8, 32}, M ∈ {64, 256}: the linear and affine
span of M + 20 sampled log-outputs (Press threshold), the same with rows
centred, the Jacobian rank (local dimension), the proven bounds and whether
the estimate converged. Writes ``output_set_table.csv`` / ``.json`` and a
figure of span and local dimension against d.

    python analyses/output_set_table.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import rankbottleneck as rb
from rankbottleneck._output import (
    Progress,
    run_script,
    save_figure,
    write_csv,
    write_json,
)
from rankbottleneck.synthetic import contexts_and_words, random_mixture_layer

NAME = "output_set_table"


def layers(M, d, seed):
    """The layers compared, all from the same word embeddings."""
    _, W, b = contexts_and_words(4, M, d, has_bias=True, logit_scale=2.0, seed=seed)
    theta = rb.activations.plif_init(200, bound=6.0, scale=1.0, seed=seed)
    pointwise = [
        ("softmax", None, {}), ("softmax+bias", "softmax", {}),
        ("sigsoftmax", None, {}), ("gss c=-1.5 k=2.5", "gss", {"c": -1.5, "k": 2.5}),
        ("sigmoid", "sigmoid_normalized", {}),
        ("plif", "plif", {"theta": theta, "bound": 6.0}),
        ("sparsemax", None, {}), ("entmax1.5", "entmax", {}),
        ("r_softmax(0.5)", "r_softmax", {"r": 0.5}),
    ]
    for label, name, params in pointwise:
        bias = b if label.endswith("+bias") else None
        yield label, rb.PointwiseLayer(W, bias, name or label, params)
    for label, kind, base in [("MoS K=3", "mos", "softmax"),
                              ("MoSS K=3", "mos", "sigsoftmax"),
                              ("MoC K=3", "moc", "softmax")]:
        yield label, random_mixture_layer(M, d, K=3, kind=kind, base=base,
                                          logit_scale=2.0, seed=seed)


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    dims = (2, 8) if quick else (2, 8, 32)
    sizes = (64,) if quick else (64, 256)
    n_layers = 12
    progress = Progress(NAME, len(dims) * len(sizes) * n_layers)
    rows = []
    for M in sizes:
        for d in dims:
            for label, layer in layers(M, d, seed):
                r = rb.output_set_dimension(layer, seed=seed + 1)
                rows.append({
                    "activation": label, "M": M, "d": d,
                    "linear_span": r.linear.value, "affine_span": r.affine.value,
                    "centred_linear": r.centred_linear.value,
                    "centred_affine": r.centred_affine.value,
                    "local_dimension": r.local.value,
                    "bound_linear": r.bounds["linear"],
                    "bound_affine": r.bounds["affine"],
                    "converged": r.converged, "clipped": r.clipped,
                    "n_samples": r.n_samples,
                })
                progress.step(f"{label} M={M} d={d}")
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "description": "span (Press threshold, σ1 of the raw outputs) and Jacobian "
                       "rank of the log-output set; M + 20 contexts h ~ N(0, I/d); "
                       "W with logit scale 2; sparse outputs clipped at log(1e-30)",
        "seed": seed, "rows": rows})
    _plot(rows, out_dir, sizes, dims)
    soft = [r for r in rows if r["activation"] == "softmax"]
    return (f"softmax span = d+1 at every (M, d): "
            f"{all(r['linear_span'] == r['d'] + 1 for r in soft)}; "
            f"{len(rows)} rows -> {out_dir / (NAME + '.csv')}")


def _plot(rows, out_dir, sizes, dims):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4.2),
                             squeeze=False)
    labels = list(dict.fromkeys(r["activation"] for r in rows))
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, 20))[: len(labels)]
    markers = "os^vD<>phx*+"
    for ax, M in zip(axes[0], sizes):
        for k, (label, color, marker) in enumerate(zip(labels, colors, markers)):
            sel = [r for r in rows if r["M"] == M and r["activation"] == label]
            # most layers span all of R^M: a small horizontal offset per
            # series keeps the coinciding ones visible (the data are exact)
            shift = 2 ** (0.04 * (k - (len(labels) - 1) / 2))
            ax.plot([r["d"] * shift for r in sel], [r["linear_span"] for r in sel],
                    marker=marker, ms=5, lw=1, color=color, label=label,
                    mfc="none")
        ax.plot(dims, list(dims), "k--", lw=1, label="d (local dimension of the dense layers)")
        ax.plot(dims, [d + 1 for d in dims], "k:", lw=1, label="d + 1")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("context dimension d")
        ax.set_ylabel("dimension of the linear span")
        ax.set_title(f"M = {M}: span of log-outputs (Press), M + 20 samples\n"
                     "(series offset slightly in d so that equal ones stay apart)",
                     fontsize=9)
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    save_figure(fig, out_dir, NAME)
    plt.close(fig)


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
