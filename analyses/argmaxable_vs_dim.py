"""Fraction of argmaxable words against d, per embedding kind, ± bias.

M = 1000 words (quick: 200) of isotropic Gaussian, anisotropic (power-law
spectrum, decay 1) and unit-norm embeddings, with no bias and with a bias
b ~ N(0, 1) (scaled to the logits), for d from 2 to 32. Decided exactly by
``argmaxable`` (witness or certificate for every word).

The Gaussian and anisotropic curves coincide exactly, as they must: the
anisotropic rows are an invertible linear map A of the same Gaussian draws,
and (W A) h + b = W (A h) + b, so a word is argmaxable for W A iff it is for
W. Anisotropy alone does not create unargmaxable words; it is the shape of
the point cloud up to linear maps (here, low d) that does.

    python analyses/argmaxable_vs_dim.py [--quick] [--out DIR] [--seed N]
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
from rankbottleneck.synthetic import embeddings

NAME = "argmaxable_vs_dim"
KINDS = ("gaussian", "anisotropic", "unit")


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    M = 200 if quick else 1000
    dims = (2, 3, 4, 8) if quick else (2, 3, 4, 6, 8, 12, 16, 24, 32)
    progress = Progress(NAME, len(KINDS) * len(dims) * 2)
    rows = []
    for kind in KINDS:
        for d in dims:
            W = embeddings(M, d, kind=kind, seed=seed)
            b = np.random.default_rng(seed + d).standard_normal(M) * np.sqrt(
                np.mean(np.sum(W**2, axis=1)))
            for bias in (False, True):
                rep = rb.argmaxable(W, b if bias else None, seed=seed)
                rows.append({"kind": kind, "d": d, "bias": bias,
                             "fraction_argmaxable": float(rep.mask.mean()),
                             "unargmaxable": int(len(rep.unargmaxable)),
                             "undecided": int(len(rep.undecided))})
                progress.step(f"{kind} d={d} bias={bias}")
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {"M": M, "seed": seed, "rows": rows})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, color, marker, ms in zip(KINDS, ("C0", "C1", "C2"), "os^", (8, 4, 4)):
        for bias, ls in ((False, "-"), (True, "--")):
            sel = [r for r in rows if r["kind"] == kind and r["bias"] == bias]
            ax.plot([r["d"] for r in sel], [r["fraction_argmaxable"] for r in sel],
                    ls=ls, marker=marker, ms=ms, mfc="none", color=color,
                    label=f"{kind}{' + bias' if bias else ''}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context dimension d")
    ax.set_ylabel(f"fraction of the M = {M} words argmaxable")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Argmaxable words (exact); Gaussian = anisotropic, as linear maps "
                 "of the embedding space preserve the answer", fontsize=8)
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    unit = [r["fraction_argmaxable"] for r in rows if r["kind"] == "unit"
            and not r["bias"]]
    return (f"unit-norm without bias: all argmaxable at every d: "
            f"{all(f == 1.0 for f in unit)}; Gaussian d=2: "
            f"{rows[0]['fraction_argmaxable']:.3f}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
