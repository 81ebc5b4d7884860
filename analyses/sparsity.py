"""r-softmax: support size and rank against r, beside sparsemax and entmax-1.5.

For N = 600 contexts, M = 400 words, d = 16, logit scale 3 (quick:
200 × 120, d = 8): the mean fraction of words with nonzero probability, the
number of distinct support patterns, the Press rank of the matrix clipped at
log 1e-30, and the Press rank of the columns that are finite in every row
(0 when none is). Sparsemax and entmax-1.5 are drawn as reference levels.

    python analyses/sparsity.py [--quick] [--out DIR] [--seed N]
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

NAME = "sparsity"


def summary(label, r, A, d):
    rep = rb.rank_report(A, d=d, eps_values=(1e-4,))
    sp = rep.sparse
    finite_rank = 0
    if sp is not None and sp.finite_column_ranks:
        finite_rank = next(x.value for x in sp.finite_column_ranks if x.measure == "press")
    elif sp is None:
        finite_rank = rep["press"].value
    return {"activation": label, "r": r,
            "support_fraction": float(np.isfinite(A).mean()),
            "support_patterns": 1 if sp is None else sp.n_support_patterns,
            "press_clipped": rep["press"].value,
            "finite_columns": A.shape[1] if sp is None else sp.n_finite_columns,
            "press_finite_columns": finite_rank}


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    N, M, d = (200, 120, 8) if quick else (600, 400, 16)
    H, W, _ = contexts_and_words(N, M, d, logit_scale=3.0, seed=seed)
    rs = np.linspace(0, 0.95, 5 if quick else 20)
    progress = Progress(NAME, len(rs) + 2)
    rows = []
    for r in rs:
        rows.append(summary("r-softmax", float(r),
                            rb.log_prob_matrix(H, W, "r_softmax", r=float(r)), d))
        progress.step(f"r={r:.2f}")
    refs = {}
    for label, name in (("sparsemax", "sparsemax"), ("entmax-1.5", "entmax")):
        refs[label] = summary(label, None, rb.log_prob_matrix(H, W, name), d)
        rows.append(refs[label])
        progress.step(label)
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {"N": N, "M": M, "d": d, "logit_scale": 3.0,
                                          "log_floor": "log(1e-30)", "seed": seed,
                                          "rows": rows})
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    rr = [x for x in rows if x["activation"] == "r-softmax"]
    axes[0].plot(rs, [x["support_fraction"] for x in rr], "o-", ms=3, label="r-softmax")
    axes[0].plot(rs, 1 - rs, "k:", lw=1, label="1 - r")
    for (label, ref), c, ls in zip(refs.items(), ("C1", "C2"), ("--", "-.")):
        axes[0].axhline(ref["support_fraction"], color=c, ls=ls, label=label)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("r (target fraction of zeros)")
    axes[0].set_ylabel("mean fraction of words with p > 0")
    axes[0].legend(fontsize=7)
    axes[1].plot(rs, [x["press_clipped"] for x in rr], "o-", ms=3,
                 label="r-softmax, clipped at log 1e-30")
    axes[1].plot(rs, [max(x["press_finite_columns"], 0.8) for x in rr], "s:", ms=3,
                 color="C4",
                 label="r-softmax, columns finite in every row (0 drawn at 0.8)")
    # each reference its own colour and dash, so equal values stay apart
    for (label, ref), c, ls in zip(refs.items(), ("C1", "C2"), ("--", "-.")):
        axes[1].axhline(ref["press_clipped"], color=c, ls=ls, lw=1.5 if ls == "--" else 1,
                        label=f"{label}, clipped")
    axes[1].axhline(d + 1, color="k", ls=":", lw=1, label="d + 1")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("r")
    axes[1].set_ylabel(f"Press rank (N={N}, M={M}, d={d})")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    return (f"r=0: support {rr[0]['support_fraction']:.2f}, r={rs[-1]:.2f}: "
            f"{rr[-1]['support_fraction']:.3f}; sparsemax support "
            f"{refs['sparsemax']['support_fraction']:.3f}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
