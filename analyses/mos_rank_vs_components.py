"""MoS rank against the number of components K, beside the published PTB table.

Press and ε-effective (1e-3, 1e-5) ranks of MoS log-probability matrices,
N = 1500 contexts, M = 1000 words, d = 16 (quick: 300 × 200, d = 8), against
K. The published Penn Treebank ranks (trained AWD-LSTM-MoS, d = 280,
M = 10,000; Yang et al. 2018, reproduced by Parthiban et al. 2021) are drawn
as a separate, labelled series, as a fraction of M.

    python analyses/mos_rank_vs_components.py [--quick] [--out DIR] [--seed N]
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
from rankbottleneck.synthetic import random_mixture_layer

NAME = "mos_rank_vs_components"
PUBLISHED_PTB = {1: 282, 3: 5575, 5: 8057, 10: 9976, 15: 9979, 20: 9980}


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    N, M, d = (300, 200, 8) if quick else (1500, 1000, 16)
    Ks = (1, 2, 3, 5) if quick else (1, 2, 3, 5, 10, 15, 20)
    G = np.random.default_rng(seed + 1).standard_normal((N, d))
    progress = Progress(NAME, len(Ks))
    rows = []
    for K in Ks:
        layer = random_mixture_layer(M, d, K, logit_scale=2.0, seed=seed)
        rep = rb.rank_report(layer.log_prob_matrix(G), d=d, eps_values=(1e-3, 1e-5))
        rows.append({"K": K, "press": rep["press"].value,
                     "effective(1e-03)": rep["effective(1e-03)"].value,
                     "effective(1e-05)": rep["effective(1e-05)"].value,
                     "published_ptb_press": PUBLISHED_PTB.get(K)})
        progress.step(f"K={K}")
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "N": N, "M": M, "d": d, "logit_scale": 2.0, "seed": seed, "rows": rows,
        "published_ptb": {"model": "AWD-LSTM-MoS, d = 280, M = 10,000",
                          "press_rank": PUBLISHED_PTB}})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m in ("press", "effective(1e-03)", "effective(1e-05)"):
        ax.plot(Ks, [r[m] / M for r in rows], "o-", ms=4, label=f"synthetic: {m} rank")
    ax.plot(list(PUBLISHED_PTB), [v / 10000 for v in PUBLISHED_PTB.values()], "k*--",
            ms=8, lw=1, label="published PTB Press rank (trained, d = 280)")
    ax.set_xlabel("number of mixture components K")
    ax.set_ylabel("rank / vocabulary size M")
    ax.set_yscale("log")
    ax.set_title(f"MoS rank vs K (synthetic: N={N}, M={M}, d={d})", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    return (f"Press rank K=1: {rows[0]['press']} (d+1 = {d + 1}), "
            f"K={Ks[-1]}: {rows[-1]['press']} of {min(N, M)}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
