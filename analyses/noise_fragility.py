"""Press rank versus ε-effective rank of a rank-10 matrix plus noise.

The pitfall of Parthiban et al. 2021 (supplement): an n×n rank-10 matrix
(spectral norm n⁻⁴, see ``noisy_low_rank``) plus Gaussian noise of standard
deviation c/n²; n = 1000 (quick: 300), c from 1e-27 to 1e-19. The Press and
numpy ranks climb towards n while the ε-effective ranks stay at 10.

At the published size, n = 10⁴ (quick: 2,000), the four published points
(c = 1e-26, 1e-24, 1e-22, 1e-20) are computed with the toolkit's own
``spectrum`` (its default method: one Gram pass, the ten signal directions
deflated, one pass over the rest; about 50 s each on 2 cores against
4.5 minutes for the dense SVD, with the same ranks and errors no larger than the
SVD's; see ``rankbottleneck.spectra._gram._deflated_spectrum``) and drawn
on the published Press ranks, with a table of both in
``noise_fragility_published.csv``. The
paper does not state the scale of its rank-10 part; this one is n⁻⁴ (the
choice that puts its Press-rank crossover where theirs is), so the counts
need not agree to the unit.

    python analyses/noise_fragility.py [--quick] [--out DIR] [--seed N]
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
from rankbottleneck.synthetic import noisy_low_rank

NAME = "noise_fragility"
MEASURES = ("numpy", "press", "effective(1e-03)", "effective(1e-05)")
PUBLISHED = {1e-26: 10, 1e-24: 1159, 1e-22: 9001, 1e-20: 9899}  # Press, n = 10⁴


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    n = 300 if quick else 1000
    n_pub = 2000 if quick else 10_000
    cs = np.logspace(-27, -19, 9 if quick else 17)
    progress = Progress(NAME, len(cs) + len(PUBLISHED))
    rows = []
    for c in cs:
        rep = rb.rank_report(noisy_low_rank(n, rank=10, c=c, seed=seed),
                             eps_values=(1e-3, 1e-5))
        rows.append({"c": float(c), **{m: rep[m].value for m in MEASURES}})
        progress.step(f"c={c:.0e}")
    published = []
    for c, press in sorted(PUBLISHED.items()):
        # the default: the Gram pass resolves the ten signal values, which are
        # deflated; one more pass gives the noise bulk to the SVD's accuracy
        # (the dense SVD takes three times as long; quick: it is the default)
        spec = rb.spectrum(noisy_low_rank(n_pub, rank=10, c=c, seed=seed))
        published.append({"c": c, "n": n_pub, "published_press_n_10000": press,
                          "press": spec.rank("press").value,
                          "numpy": spec.rank("numpy").value,
                          "effective(1e-05)": spec.rank("effective", eps=1e-5).value,
                          "method": spec.method})
        progress.step(f"n={n_pub} c={c:.0e}")
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_csv(out_dir / f"{NAME}_published.csv", published)
    write_json(out_dir / f"{NAME}.json", {
        "n": n, "rank": 10, "signal_norm": f"n^-4 = {float(n) ** -4:.3g}",
        "seed": seed, "rows": rows, "at_published_size": published,
        "published_press_rank_n_10000": {f"{k:.0e}": v for k, v in PUBLISHED.items()}})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for m, style in zip(MEASURES, ("o-", "s-", "^-", "v--")):
        ax.plot([r["c"] for r in rows], [r[m] for r in rows], style, ms=4, mfc="none",
                label=f"{m} rank, n = {n}" + (" (stays 10)" if "effective" in m else ""))
    ax.plot([r["c"] for r in published], [r["press"] for r in published], "D", ms=7,
            color="C1", mfc="none", mew=1.5,
            label=f"Press rank, n = {n_pub:,} (this toolkit)")
    ax.plot(list(PUBLISHED), list(PUBLISHED.values()), "k*", ms=8,
            label="Press rank, n = 10,000 (published)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("noise coefficient c (noise std = c / n²)")
    ax.set_ylabel("rank (true rank 10)")
    ax.set_title("Threshold ranks count noise; ε-effective ranks do not", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    return (f"Press rank {rows[0]['press']} → {rows[-1]['press']}, ε-effective(1e-5) "
            f"{rows[0]['effective(1e-05)']} → {rows[-1]['effective(1e-05)']}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
