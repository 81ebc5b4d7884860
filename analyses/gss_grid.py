"""Rank of generalised sigsoftmax GSS(c, k) over a (c, k) grid.

Press and ε-effective (1e-4) ranks of GSS log-probability matrices,
N = 600, M = 400, d = 16, logit scale 2 (quick: 200 × 120, d = 8), over
c ∈ {-3, -1.5, 0, 1.5, 3} and k ∈ {0.5, 1, 1.5, 2, 2.5, 3}: the kind of grid
Parthiban et al. 2021 searched (their best PTB setting was c = -1.5,
k = 2.5; their exact grid is not published, so this one is stated
here). k = 1 is softmax: d + 1 in every row.

    python analyses/gss_grid.py [--quick] [--out DIR] [--seed N]
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

NAME = "gss_grid"
CS = (-3.0, -1.5, 0.0, 1.5, 3.0)
KS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    N, M, d = (200, 120, 8) if quick else (600, 400, 16)
    H, W, _ = contexts_and_words(N, M, d, logit_scale=2.0, seed=seed)
    progress = Progress(NAME, len(CS) * len(KS))
    rows = []
    for c in CS:
        for k in KS:
            rep = rb.rank_report(rb.log_prob_matrix(H, W, "gss", c=c, k=k), d=d,
                                 eps_values=(1e-4,))
            rows.append({"c": c, "k": k, "press": rep["press"].value,
                         "effective(1e-04)": rep["effective(1e-04)"].value})
            progress.step(f"c={c} k={k}")
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {"N": N, "M": M, "d": d, "logit_scale": 2.0,
                                          "seed": seed, "rows": rows})
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, m in zip(axes, ("press", "effective(1e-04)")):
        grid = np.array([[next(r[m] for r in rows if r["c"] == c and r["k"] == k)
                          for k in KS] for c in CS])
        im = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="w" if v < grid.max() * 0.6 else "k")
        ax.set_xticks(range(len(KS)), [str(k) for k in KS])
        ax.set_yticks(range(len(CS)), [str(c) for c in CS])
        ax.set_xlabel("k (slope; k = 1 is softmax)")
        ax.set_ylabel("c (centre)")
        ax.set_title(f"GSS {m} rank (N={N}, M={M}, d={d})", fontsize=9)
        fig.colorbar(im, ax=ax)
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    k1 = [r["press"] for r in rows if r["k"] == 1.0]
    return f"k = 1 (softmax) Press rank {set(k1)} (d+1 = {d + 1}); others up to " \
           f"{max(r['press'] for r in rows)}"


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
