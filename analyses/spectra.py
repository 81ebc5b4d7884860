"""Normalised singular spectra of log-probability matrices, every layer.

One setting (N = 2000 contexts, M = 1000 words, d = 32, logit scale 2;
quick: 400 × 200, d = 8): softmax, softmax + bias, sigsoftmax, GSS(-1.5, 2.5),
PLIF (200 pieces, slope noise 1), MoS (K = 3 and 15), MoSS (K = 3), MoC
(K = 3) and the sparse maps (r-softmax r = 0.5, sparsemax, entmax-1.5; their
-inf clipped at log 1e-30, as the data file says). The d + 1 line is marked.

    python analyses/spectra.py [--quick] [--out DIR] [--seed N]
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

NAME = "spectra"


def matrices(N, M, d, seed):
    H, W, b = contexts_and_words(N, M, d, has_bias=True, logit_scale=2.0, seed=seed)
    G = np.random.default_rng(seed + 1).standard_normal((N, d))
    theta = rb.activations.plif_init(200, bound=6.0, scale=1.0, seed=seed)
    yield "softmax", lambda: rb.log_prob_matrix(H, W)
    yield "softmax+bias", lambda: rb.log_prob_matrix(H, W, bias=b)
    yield "sigsoftmax", lambda: rb.log_prob_matrix(H, W, "sigsoftmax")
    yield "GSS(-1.5,2.5)", lambda: rb.log_prob_matrix(H, W, "gss", c=-1.5, k=2.5)
    yield "PLIF", lambda: rb.log_prob_matrix(H, W, "plif", theta=theta, bound=6.0)
    for label, K, kind, base in [("MoS K=3", 3, "mos", "softmax"),
                                 ("MoS K=15", 15, "mos", "softmax"),
                                 ("MoSS K=3", 3, "mos", "sigsoftmax"),
                                 ("MoC K=3", 3, "moc", "softmax")]:
        layer = random_mixture_layer(M, d, K, kind=kind, base=base, logit_scale=2.0,
                                     seed=seed)
        yield label, lambda layer=layer: layer.log_prob_matrix(G)
    yield "r-softmax(0.5)", lambda: rb.log_prob_matrix(H, W, "r_softmax", r=0.5)
    yield "sparsemax", lambda: rb.log_prob_matrix(H, W, "sparsemax")
    yield "entmax-1.5", lambda: rb.log_prob_matrix(H, W, "entmax")


def main(out_dir="figures", quick=False, seed=0):
    out_dir = Path(out_dir)
    N, M, d = (400, 200, 8) if quick else (2000, 1000, 32)
    items = list(matrices(N, M, d, seed))
    progress = Progress(NAME, len(items))
    reports = {}
    for label, make in items:
        reports[label] = rb.rank_report(make(), d=d)
        progress.step(label)
    table = rb.RankComparison(reports)
    rows = table.rows()
    for row, rep in zip(rows, reports.values()):
        row["clipped_at_log_floor"] = rep.sparse is not None
        row["support_density"] = None if rep.sparse is None else rep.sparse.support_density
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "setting": {"N": N, "M": M, "d": d, "logit_scale": 2.0, "seed": seed},
        "rows": rows,
        "singular_values": {k: r.singular_values for k, r in reports.items()}})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    table.plot(ax)
    ax.axvline(d + 1, color="k", ls=":", lw=1)
    ax.annotate(f"d + 1 = {d + 1}", (d + 1, 1e-15), rotation=90, fontsize=7,
                ha="right")
    ax.set_ylim(1e-18, 2)
    ax.set_title(f"Singular spectra, N={N}, M={M}, d={d} (dot: Press rank; sparse "
                 "maps clipped at log 1e-30)", fontsize=9)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    return (f"Press rank softmax {reports['softmax']['press'].value} (d+1 = {d + 1}), "
            f"+bias {reports['softmax+bias']['press'].value}, sigsoftmax "
            f"{reports['sigsoftmax']['press'].value}, MoS K=15 "
            f"{reports['MoS K=15']['press'].value}")


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
