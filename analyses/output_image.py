"""The output image of SmolLM2-135M: membership, model edits, full outputs via an API.

SmolLM2-135M-Instruct (d = 576, V = 49,152; the GGUF of real_lm) on the
Python documentation's topics (``pydoc_data.topics``): the image is taken
from its log-probabilities (float64 from the float32 final states, as in
real_lm) at the first d + 24 = 600 positions of the first half of the topics;
members are its outputs at held-out positions of the second half (quick: 40,
full: 120). Left: their residuals in the image beside those of a copy with 1%
Gaussian noise on the head W (relative to W's RMS; the head untied from the
input embedding), of the architecture at random initialisation (seed fixed)
and of two edits that keep the image: a rank-8 edit of a middle MLP
(``down_proj += B A``, as LoRA makes) and a change of the final norm's
weights (which the ellipse tells). Right: API calls to recover one full
output against top-k, with the image and token by token (``1 + ⌈(V −
k)/(k − 1)⌉``, counted analytically: 49,151 calls at k = 2).

Needs the [lm] extra. Writes ``output_image.json`` (AUCs, verdicts, calls,
errors) and ``output_image.csv`` (the residuals). Stage times go to stderr.

    python analyses/output_image.py [--quick] [--out DIR] [--seed N]
"""

import copy
import math
import sys
import time
from pathlib import Path

import numpy as np

import rankbottleneck as rb
from rankbottleneck._output import (
    lm_unavailable,
    pyplot,
    run_script,
    save_figure,
    smollm2,
    write_csv,
    write_json,
)

NAME = "output_image"
KS = (2, 5, 20)


# why this figure cannot be made here (the [lm] extra missing), or None
unavailable = lm_unavailable


def documents():
    """The topics, in two halves: the image's and the held-out one."""
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    docs = [topics[k] for k in sorted(topics)]
    return docs[: len(docs) // 2], docs[len(docs) // 2:]


class _Clock:
    def __init__(self):
        self.seconds, self._t = {}, time.perf_counter()

    def __call__(self, stage):
        now = time.perf_counter()
        self.seconds[stage] = now - self._t
        self._t = now
        print(f"{NAME}: {stage} {self.seconds[stage]:.1f} s", file=sys.stderr, flush=True)


def _copy(model, edit, seed):
    """A copy of a LanguageModel with `edit(net, generator)` applied."""
    import torch

    from rankbottleneck import lm

    net = copy.deepcopy(model.model)
    with torch.no_grad():
        edit(net, torch.Generator().manual_seed(seed))
    return lm.load_model(net, tokenizer=model.tokenizer)


def _lora(net, g):
    import torch

    layers = net.model.layers
    w = layers[len(layers) // 2].mlp.down_proj.weight
    w += 0.02 * torch.randn(w.shape[0], 8, generator=g) @ torch.randn(
        8, w.shape[1], generator=g)


def _norm(net, g):
    import torch

    net.model.norm.weight.mul_(1 + 0.5 * torch.randn(net.model.norm.weight.shape,
                                                     generator=g))


def main(out_dir="figures", quick=False, seed=0):
    import torch
    import transformers

    from rankbottleneck import lm

    out_dir = Path(out_dir)
    clock = _Clock()
    model = smollm2()
    d = model.hidden_size
    clock("load model")
    image_docs, held_docs = documents()
    n_test = 40 if quick else 120
    ctx = lm.collect_contexts(model, image_docs, n_contexts=d + 24, window=512)
    held = lm.collect_contexts(model, held_docs, n_contexts=n_test, window=512)
    clock("forward passes (model)")
    image = rb.output_image(ctx.log_prob_matrix(), computed_in=np.float32)
    members = held.log_prob_matrix()
    clock("image")

    W = held.W.astype(np.float64)
    rng = np.random.default_rng(seed)
    noisy = W + 0.01 * np.sqrt(np.mean(W ** 2)) * rng.standard_normal(W.shape)
    others = {"head + 1% noise": rb.log_softmax(held.H.astype(np.float64) @ noisy.T,
                                                axis=1)}
    torch.manual_seed(seed)
    fresh = transformers.AutoModelForCausalLM.from_config(model.model.config).eval()
    others["random init"] = lm.collect_contexts(
        lm.load_model(fresh, tokenizer=model.tokenizer), held_docs,
        n_contexts=n_test, window=512).log_prob_matrix()
    del fresh
    edits = {}
    for name, edit, s in (("rank-8 MLP edit", _lora, seed + 1),
                          ("final norm edit", _norm, seed + 2)):
        edits[name] = lm.collect_contexts(_copy(model, edit, s), held_docs,
                                          n_contexts=n_test, window=512
                                          ).log_prob_matrix()
    clock("forward passes (other models)")
    verdicts = {name: rb.compare_outputs(image, members, Y, model=model,
                                         computed_in=np.float32)
                for name, Y in {**others, **edits}.items()}
    own = image.residual(members)
    rocs = {name: rb.membership_roc(own, c.residual, tolerance=image.tolerance)
            for name, c in verdicts.items()}
    own_ellipse = rb.ellipse_residual(model, members)
    clock("membership and ellipse")

    # a restricted API on a held-out prompt: the window the members came from
    prompt = model.tokenizer(held_docs[0])["input_ids"][:64]
    recovery = []
    for k in KS:
        api = rb.RestrictedAPI(model, top_k=k)
        got = rb.recover_logprobs(api, prompt, image=image)
        truth = api.logprobs(prompt)
        recovery.append({
            "k": k, "calls_image": got.calls,
            "calls_bound": math.ceil((d + 1) / (k - 1)) + 5,
            "calls_token_by_token": 1 + math.ceil((api.V - k) / (k - 1)),
            "relative_error": float(np.linalg.norm(got.logprobs - truth)
                                    / np.linalg.norm(truth)),
            "max_abs_error": float(np.abs(got.logprobs - truth).max())})
    clock("recovery through the API")

    rows = [{"outputs": "members", "residual": float(r)} for r in
            next(iter(rocs.values())).members]
    rows += [{"outputs": name, "residual": float(r)}
             for name, roc in rocs.items() for r in roc.others]
    write_csv(out_dir / f"{NAME}.csv", rows)
    write_json(out_dir / f"{NAME}.json", {
        "description": f"SmolLM2-135M-Instruct (Q4_1 GGUF): image from {d + 24} "
                       f"positions of the first half of pydoc_data.topics, members "
                       f"at {n_test} positions of the second half; log-probabilities "
                       "in float64 from the float32 final states",
        "d": d, "V": image.V, "image_d": image.d, "gap": image.hidden_size.gap,
        "noise": image.noise, "tolerance": image.tolerance, "n_test": n_test,
        "auc": {name: roc.auc for name, roc in rocs.items()},
        "separated": {name: roc.separated for name, roc in rocs.items()},
        "smallest_residual": {name: float(roc.others.min()) for name, roc in
                              rocs.items()},
        "largest_member_residual": float(next(iter(rocs.values())).members.max()),
        "verdicts": {name: {"verdict": c.verdict, "change": c.change,
                            "members": c.members,
                            "output_difference": c.output_difference,
                            "ellipse_max": (None if c.ellipse is None else
                                            float(c.ellipse.residual.max())),
                            "ellipse_tolerance": (None if c.ellipse is None else
                                                  c.ellipse.tolerance)}
                     for name, c in verdicts.items()},
        "own_ellipse": {"holds": own_ellipse.holds,
                        "max": float(own_ellipse.residual.max()),
                        "min": float(own_ellipse.residual.min()),
                        "tolerance": own_ellipse.tolerance},
        "foreign_model": "none at hand offline with SmolLM2's vocabulary",
        "recovery": recovery})

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    groups = {"members (held out)": rocs["head + 1% noise"].members,
              **{name: roc.others for name, roc in rocs.items()}}
    everything = np.concatenate(list(groups.values()))
    bins = np.logspace(np.log10(max(everything.min(), 1e-17)) - 0.2,
                       np.log10(everything.max()) + 0.2, 60)
    for name, r in groups.items():
        label = name if name not in rocs else f"{name} (AUC {rocs[name].auc:.3g})"
        ax.hist(np.maximum(r, bins[0]), bins=bins, histtype="step",
                lw=3 if name in groups and name not in rocs else 1.2, label=label)
    ax.axvline(image.tolerance, color="0.3", ls="--", lw=0.8)
    ax.annotate("tolerance", (image.tolerance, ax.get_ylim()[1] * 0.9), rotation=90,
                fontsize=8, ha="right", va="top")
    ax.set(xscale="log", xlabel="residual ‖(I − BBᵀ)(y − ȳ)‖ / ‖y‖",
           ylabel="outputs",
           title=f"SmolLM2-135M: residuals in its image (d + 1 = {image.d + 1})")
    ax.legend(fontsize=7, loc="upper center")
    ax = axes[1]
    ks = [r["k"] for r in recovery]
    ax.plot(ks, [r["calls_token_by_token"] for r in recovery], "s-",
            label="token by token: 1 + ⌈(V − k)/(k − 1)⌉")
    ax.plot(ks, [r["calls_image"] for r in recovery], "o-",
            label="with the image (measured)")
    for r in recovery:
        ax.annotate(f"err {r['relative_error']:.0e}", (r["k"], r["calls_image"]),
                    textcoords="offset points", xytext=(-4, -12), fontsize=7,
                    ha="right")
    ax.set(xscale="log", yscale="log", xlabel="top-k returned per call",
           ylabel="API calls for one full output",
           title=f"recovering all V = {image.V} log-probabilities")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xticks([], minor=True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_dir, NAME)
    plt.close(fig)
    clock("files")
    total = sum(clock.seconds.values())
    print(f"{NAME}: stages " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                         clock.seconds.items())
          + f"; total {total:.1f} s", file=sys.stderr, flush=True)
    aucs = ", ".join(f"{n} {r.auc:.3g}" for n, r in rocs.items())
    return (f"AUC {aucs}; edits: " + ", ".join(
        f"{n}: {c.verdict} ({c.change})" for n, c in verdicts.items() if n in edits)
        + "; calls with the image " + ", ".join(
            f"k={r['k']}: {r['calls_image']} (token by token "
            f"{r['calls_token_by_token']})" for r in recovery))


if __name__ == "__main__":
    run_script(NAME, main, __doc__)
