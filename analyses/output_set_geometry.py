"""The log-output set in R³ (M = 3): a plane for softmax, curved for sigsoftmax.

With d = 1 the softmax outputs log softmax(w h) trace a curve inside the
plane span(w, 1) (Kanai et al. 2018); sigsoftmax's curve leaves every plane.
With d = 2 both fill a surface. Right: the same outputs on the probability
simplex. The data file gives each d = 1 curve's distance from its best plane
(the smallest singular value of the centred points, relative).

    python analyses/output_set_geometry.py [--quick] [--out DIR] [--seed N]
"""

from pathlib import Path

import numpy as np

import rankbottleneck as rb
from rankbottleneck._output import pyplot, run_script, save_figure, write_json

NAME = "output_set_geometry"


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    W1 = np.array([[1.5], [-0.5], [-1.2]])
    W2 = rng.standard_normal((3, 2)) * 1.5
    n = 100 if quick else 400
    h1 = np.linspace(-4, 4, n)[:, None]
    g = np.linspace(-3, 3, 30 if quick else 60)
    h2 = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    out, planarity = {}, {}
    for name in ("softmax", "sigsoftmax"):
        Y1 = rb.log_prob_matrix(h1, W1, name)
        Y2 = rb.log_prob_matrix(h2, W2, name)
        out[name] = (Y1, Y2)
        s = np.linalg.svd(Y1 - Y1.mean(0), compute_uv=False)
        planarity[name] = float(s[-1] / s[0])  # 0 for points on a plane
    plt = pyplot()
    fig = plt.figure(figsize=(13, 4.3))
    ax1 = fig.add_subplot(1, 3, 1, projection="3d")
    ax2 = fig.add_subplot(1, 3, 2, projection="3d")
    ax3 = fig.add_subplot(1, 3, 3)
    colors = {"softmax": "C0", "sigsoftmax": "C3"}
    def in_box(Y, low=-8.0):
        # mplot3d draws outside its axes limits: hide what leaves the box
        return np.where(np.all(Y >= low, axis=1, keepdims=True), Y, np.nan)

    for name, (Y1, Y2) in out.items():
        ax1.plot(*in_box(Y1).T, color=colors[name], lw=2,
                 label=f"{name} (off-plane {planarity[name]:.1e})")
        ax2.scatter(*in_box(Y2).T, s=1, color=colors[name], alpha=0.4, label=name)
        for Y, style in ((Y1, "-"), (Y2, ".")):
            P = np.exp(Y)
            # simplex: barycentric → 2-D (vertices at the triangle corners)
            x = P[:, 1] + 0.5 * P[:, 2]
            y = np.sqrt(3) / 2 * P[:, 2]
            if style == "-":
                ax3.plot(x, y, "-", color=colors[name], lw=2,
                         label=f"{name}, d = 1")
            else:
                ax3.scatter(x, y, s=1, color=colors[name], alpha=0.15)
    for ax, title in ((ax1, "d = 1: log-outputs (softmax stays in span(w, 1))"),
                      (ax2, "d = 2: log-outputs")):
        ax.set_xlabel("log p₁", fontsize=8)
        ax.set_ylabel("log p₂", fontsize=8)
        ax.set_zlabel("log p₃", fontsize=8)
        ax.set_title(title, fontsize=9)
        # below the box, where no curve runs
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06))
        ax.set_xlim(-8, 0)
        ax.set_ylim(-8, 0)
        ax.set_zlim(-8, 0)
    ax3.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], "k-", lw=0.8)
    for (x, y), label in zip([(0, 0), (1, 0), (0.5, np.sqrt(3) / 2)],
                             ("word 1", "word 2", "word 3")):
        ax3.annotate(label, (x, y), fontsize=8, ha="center",
                     xytext=(0, -10 if y == 0 else 4), textcoords="offset points")
    ax3.set_aspect("equal")
    ax3.axis("off")
    ax3.set_title("on the simplex (lines d = 1, dots d = 2)", fontsize=9)
    ax3.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.04))
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    write_json(out_dir / f"{NAME}.json", {
        "W_d1": W1, "W_d2": W2, "seed": seed,
        "off_plane_d1": planarity,
        "note": "off_plane = smallest/largest singular value of the centred d = 1 "
                "log-output points: ~1e-16 on a plane"})
    return (f"d = 1 off-plane measure: softmax {planarity['softmax']:.1e}, "
            f"sigsoftmax {planarity['sigsoftmax']:.1e}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
