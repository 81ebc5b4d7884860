"""Numerical and ε-effective ranks against the context dimension d.

numpy, Press and ε-effective (1e-3, 1e-4, 1e-5) ranks of the log-probability
matrices of softmax, sigsoftmax, GSS(-1.5, 2.5), PLIF and MoS (K = 3), for
N = 1000 contexts and M = 500 words at logit scale 2 (quick: 300 × 150).

    python analyses/rank_vs_dim.py [--quick] [--out DIR] [--seed N]
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
from rankbottleneck.synthetic import contexts_and_words, random_mixture_layer

NAME = "rank_vs_dim"
MEASURES = ("numpy", "press", "effective(1e-03)", "effective(1e-04)",
            "effective(1e-05)")


def build(name, N, M, d, seed):
    if name == "MoS K=3":
        G = np.random.default_rng(seed + 1).standard_normal((N, d))
        return random_mixture_layer(M, d, 3, logit_scale=2.0, seed=seed)(G)
    H, W, _ = contexts_and_words(N, M, d, logit_scale=2.0, seed=seed)
    params = {"gss": {"c": -1.5, "k": 2.5},
              "plif": {"theta": rb.activations.plif_init(200, 6.0, 1.0, seed=seed),
                       "bound": 6.0}}.get(name, {})
    return rb.log_prob_matrix(H, W, name, **params)


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    N, M = (300, 150) if quick else (1000, 500)
    dims = (2, 4, 8, 16) if quick else (2, 4, 8, 16, 32, 64, 128)
    names = ("softmax", "sigsoftmax", "gss", "plif", "MoS K=3")
    progress = Progress(NAME, len(names) * len(dims))
    rows = []
    for name in names:
        for d in dims:
            rep = rb.rank_report(build(name, N, M, d, seed), d=d)
            rows.append({"activation": name, "d": d,
                         **{m: rep[m].value for m in MEASURES}})
            progress.step(f"{name} d={d}")
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {"N": N, "M": M, "logit_scale": 2.0,
                                          "seed": seed, "rows": rows})
    plt = pyplot()
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(15, 3.4), sharey=True)
    for ax, m in zip(axes, MEASURES):
        for name in names:
            sel = [r for r in rows if r["activation"] == name]
            ax.plot([r["d"] for r in sel], [r[m] for r in sel], "o-", ms=3, label=name)
        ax.plot(dims, [d + 1 for d in dims], "k:", lw=1, label="d + 1")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(m + (" rank" if "effective" not in m else " rank (ε)"), fontsize=9)
        ax.set_xlabel("context dimension d")
    axes[0].set_ylabel(f"rank (of min(N, M) = {min(N, M)})")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    ok = all(r["numpy"] == r["d"] + 1 for r in rows if r["activation"] == "softmax")
    return f"softmax numpy rank = d + 1 at every d: {ok}; {len(rows)} rows"


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
