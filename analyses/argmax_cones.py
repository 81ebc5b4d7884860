"""Where each word is the argmax, in 2-D: an interior word has no region.

Eight words in R² (six on a rough hexagon, two inside it), no bias. Every
context h on a grid is coloured by argmax(W h); the interior words never
appear, and ``argmaxable`` certifies them with convex weights over hull
words (written to the data file).

    python analyses/argmax_cones.py [--quick] [--out DIR] [--seed N]
"""

from pathlib import Path

import numpy as np

import rankbottleneck as rb
from rankbottleneck._output import pyplot, run_script, save_figure, write_json

NAME = "argmax_cones"


def words(seed):
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False) + 0.2 * rng.standard_normal(6)
    hull = np.c_[np.cos(angles), np.sin(angles)] * (1 + 0.2 * rng.random((6, 1)))
    inner = np.array([[0.25, 0.1], [-0.2, -0.3]])
    return np.vstack([hull, inner])


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    W = words(seed)
    rep = rb.argmaxable(W)
    n = 201 if quick else 601
    x = np.linspace(-3, 3, n)
    X, Y = np.meshgrid(x, x)
    H = np.c_[X.ravel(), Y.ravel()]
    winner = np.argmax(H @ W.T, axis=1).reshape(n, n)
    seen = np.unique(winner)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5))
    cmap = plt.get_cmap("tab10")
    ax.imshow(winner, origin="lower", extent=(-3, 3, -3, 3), cmap=cmap, vmin=0,
              vmax=9, alpha=0.35, interpolation="nearest")
    for i, w in enumerate(W):
        inside = not rep.mask[i]
        ax.plot(*w, "x" if inside else "o", color=cmap(i), ms=9, mew=2,
                mec="k" if not inside else cmap(i))
        ax.annotate(f"{i}{' (interior)' if inside else ''}", w,
                    xytext=(6, -12) if inside else (5, 5),
                    textcoords="offset points", fontsize=8)
    ax.set_xlabel("context h₁ (and word coordinate 1)")
    ax.set_ylabel("context h₂ (and word coordinate 2)")
    ax.set_title("argmax of W h over contexts; words 6 and 7 never win", fontsize=9)
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    write_json(out_dir / f"{NAME}.json", {
        "W": W, "argmaxable": rep.mask, "words_winning_somewhere_on_grid": seen,
        "certificates": {int(i): {"words": j, "weights": lam}
                         for i, (j, lam) in rep.certificates.items()},
        "grid": {"range": [-3, 3], "points_per_axis": n}, "seed": seed})
    return (f"argmaxable {rep.mask.astype(int).tolist()}; words winning on the grid "
            f"{seen.tolist()}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
