r"""One report for a real model's output layer.

:func:`analyze_output_layer` takes the output embedding ``W`` (M words × d)
of a trained model, and its bias if it has one, and measures:

1. **The spectrum of W and its anisotropy.** Singular values of ``W`` and of
   ``W`` with its mean row removed; how many directions hold 90% and 99% of
   the energy ``Σσ_i²``; the mean row's norm against the typical row norm;
   and the exact mean cosine between two distinct words,
   ``(‖Σ_i ŵ_i‖² − M) / (M(M−1))`` with ``ŵ_i = w_i/‖w_i‖`` (Ethayarajh
   2019 reports it by sampling pairs; the identity makes it exact in O(Md)).
2. **Argmaxable words** (Demeter et al. 2020; Grivas et al. 2022): which
   words can be the strict argmax of ``W h + b`` for some ``h``, decided
   exactly by :func:`rankbottleneck.argmaxable`, with the first unargmaxable
   tokens by name.
3. **The bottleneck on this W.** For ``N`` sampled contexts, every rank
   measure of the log-probability matrix under softmax and under
   sigsoftmax and GSS with the *same* ``W`` (:func:`rankbottleneck.rank_report`),
   and the hidden size read off the softmax outputs
   (:func:`rankbottleneck.estimate_hidden_size`, Finlayson et al. 2024),
   which must equal ``rank(W − w̄)``, i.e. ``d`` for a full-rank head.

Sampled contexts are isotropic Gaussians scaled so that a word's logit has
standard deviation `logit_std` on average (real hidden states are
anisotropic: pass ``contexts=`` to use your own). Every rank and spectrum is
computed in float64; thresholds use float64's ε because the log-probability
matrices are computed in float64 from the stored values (exact upcasts).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg

from . import io as _io
from ._lapack import _exponent, _fortran_copy, _peak, _qr_r, _scaled, _unscaled
from ._measures import Rank, rank_from_singular_values
from ._progress import progress_bar
from ._result import Result, json_safe
from ._validation import (
    _as_bool,
    _as_float_array,
    _as_int,
    _as_rng,
    _as_scalar,
    _check_fits_in_memory,
)
from .activations import logsumexp, plif_init
from .argmax import ArgmaxReport, argmaxable
from .layers import PointwiseLayer
from .reports import rank_report
from .spectra._auto import _dense_is_cheap
from .spectra._hidden_size import _hidden_size_by_rows, hidden_size_by_rows

__all__ = ["OutputLayerReport", "analyze_output_layer", "energy_dimension",
           "LogitsReport", "analyze_logits"]

#: the activations every report compares, with their parameters; the first
#: is the baseline (the model's own, whose thresholds and bound the figure
#: draws and whose hidden-size estimate is followed against N). PLIF has no
#: trained slopes here: 64 pieces on [-20, 20] with slopes softplus(θ),
#: θ = log(e - 1) + 0.5·N(0, 1) (seed 0), a fixed strictly increasing map.
ACTIVATIONS = {"softmax": {}, "sigsoftmax": {}, "gss": {"c": 1.0, "k": 3.0},
               "plif": {"theta": plif_init(64, bound=20.0, scale=0.5, seed=0),
                        "bound": 20.0}}
# GSS(c, k) of Parthiban et al. 2021 other than sigsoftmax's (0, 2)
N_TOKENS_SHOWN = 10


def energy_dimension(singular_values, fraction):
    r"""Fewest leading directions holding `fraction` of ``Σσ_i²``.

    ``min{k : Σ_{i≤k} σ_i² ≥ fraction · Σ_i σ_i²}``.

    See Also
    --------
    rankbottleneck.analyze_output_layer : reports it for ``W`` at 90% and
        99%.

    Examples
    --------
    >>> energy_dimension([4.0, 1.0, 0.1], 0.9), energy_dimension([4.0, 1.0, 0.1], 0.99)
    (1, 2)
    """
    s = np.asarray(singular_values, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"singular_values must be a non-empty 1-D array; got shape "
                         f"{s.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1]; got {fraction}")
    # values far from 1 (σ² would overflow or underflow): a power of two out
    s = _scaled(s, _exponent(_peak(s)))
    energy = np.cumsum(s**2)
    if energy[-1] == 0:
        return 0
    # a rounding margin so that fraction=1 counts every non-zero value
    k = np.searchsorted(energy, fraction * energy[-1] * (1 - 1e-12), side="left")
    return int(min(k + 1, s.size))


@dataclass(frozen=True, eq=False, kw_only=True)
class OutputLayerReport(Result):
    """Everything :func:`analyze_output_layer` measured.

    Attributes
    ----------
    shape : (M, d)
    dtype : str
        dtype of ``W`` as given (the analysis runs in float64).
    has_bias : bool
    singular_values, singular_values_centred : ndarray
        Of ``W`` and of ``W`` minus its mean row.
    energy_dims, energy_dims_centred : dict
        ``{0.9: k, 0.99: k}``: directions holding that share of the energy.
    rank_W : Rank
        Press rank of ``W`` (float64 ε, or the stored dtype's when coarser).
    rank_W_centred : Rank
        Press rank of ``W − w̄`` (threshold scaled by σ_1 of ``W``): the hidden
        size the softmax outputs reveal, ``d`` for a full-rank head.
    mean_norm_ratio : float
        ``‖w̄‖ / mean_i ‖w_i‖``: 0 for a centred head, near 1 when one common
        direction dominates.
    mean_cosine : float
        Exact mean cosine over pairs of distinct words.
    argmax : ArgmaxReport or None
    unargmaxable_tokens : tuple of str
        The first unargmaxable words by name (or ``#index`` without names).
    n_contexts, context_scale, logit_std : int, float, float
    ranks : dict
        ``{activation: RankReport}`` of the N × M log-probability matrix.
    hidden_size : dict
        ``{activation: HiddenSizeEstimate}``.
    seconds : dict
        Wall time of each stage.
    notes : tuple of str
    source : str
        The file or model the head came from.
    contexts_source : str
        Which contexts the log-probability matrices use: real hidden states
        (and where from) or sampled ones.
    configured_d : int or None
        The model's configured hidden size, when known.
    context_anisotropy : dict or None
        For given contexts ``H``: ``energy_dims`` (90/99%), ``mean_cosine``
        and ``mean_norm_ratio``, as for ``W``.
    hidden_size_by_n : tuple of (int, HiddenSizeEstimate)
        The estimate from the first ``n`` softmax outputs, for several ``n``:
        how many the estimate needs before it settles.

    See Also
    --------
    analyze_output_layer : makes one.
    rankbottleneck.RankReport : each entry of `ranks`.
    rankbottleneck.ArgmaxReport : `argmax`.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from rankbottleneck import analyze_output_layer
    >>> rep = analyze_output_layer(np.random.default_rng(0).standard_normal((60, 4)),
    ...                            seed=0, argmax=False)
    >>> rep.d, rep.settled_at
    (4, 6)
    >>> print(rep.summary().splitlines()[0])
    output layer 60×4 float64
    >>> json.loads(json.dumps(rep.as_dict()))["shape"]
    [60, 4]
    """

    shape: tuple
    dtype: str
    has_bias: bool
    singular_values: np.ndarray
    singular_values_centred: np.ndarray
    energy_dims: dict
    energy_dims_centred: dict
    rank_W: Rank
    rank_W_centred: Rank
    mean_norm_ratio: float
    mean_cosine: float
    argmax: ArgmaxReport | None
    unargmaxable_tokens: tuple
    n_contexts: int
    context_scale: float
    logit_std: float | None
    ranks: dict
    hidden_size: dict
    seconds: dict
    notes: tuple = ()
    source: str = ""
    contexts_source: str = ""
    configured_d: int | None = None
    context_anisotropy: dict | None = None
    hidden_size_by_n: tuple = field(default=(), repr=False)

    @property
    def d(self):
        return self.shape[1]

    def replace(self, **changes):
        """A copy with some fields changed (:func:`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)

    @property
    def settled_at(self):
        """The fewest outputs from which the hidden-size estimate equals its
        final value at every larger ``n`` tried (None without a cliff)."""
        if not self.hidden_size_by_n:
            return None
        final = self.hidden_size_by_n[-1][1].d
        if final is None:
            return None
        n_settled = self.hidden_size_by_n[-1][0]
        for n, est in reversed(self.hidden_size_by_n):
            if est.d != final:
                break
            n_settled = n
        return n_settled

    def summary(self):
        """A few lines for a terminal."""
        M, d = self.shape
        s = self.singular_values
        lines = [
            f"output layer {M}×{d} {self.dtype}" + (" + bias" if self.has_bias else "")
            + (f" from {self.source}" if self.source else ""),
            f"  W: Press rank {self.rank_W.value}, σ1/σd = "
            f"{s[0] / s[-1] if s[-1] > 0 else math.inf:.3g}; 90%/99% of the energy "
            f"in {self.energy_dims[0.9]}/{self.energy_dims[0.99]} directions "
            f"({self.energy_dims_centred[0.9]}/{self.energy_dims_centred[0.99]} "
            f"centred); ‖mean‖/mean‖w‖ = {self.mean_norm_ratio:.3f}, mean cosine "
            f"{self.mean_cosine:.3f}",
        ]
        if self.argmax is None:
            lines.append("  argmaxable: not computed")
        else:
            a = self.argmax
            line = (f"  argmaxable: {int(a.mask.sum())} of {M}; unargmaxable "
                    f"{len(a.unargmaxable)}")
            if len(a.undecided):
                line += f", undecided {len(a.undecided)}"
            if self.unargmaxable_tokens:
                more = len(a.unargmaxable) - len(self.unargmaxable_tokens)
                line += (": " + ", ".join(self.unargmaxable_tokens)
                         + (f", … ({more} more)" if more > 0 else ""))
            lines.append(line)
        lines.append(f"  contexts: {self.contexts_source}")
        if self.context_anisotropy is not None:
            a = self.context_anisotropy
            lines.append(f"  H: 90%/99% of the energy in {a['energy_dims'][0.9]}/"
                         f"{a['energy_dims'][0.99]} directions; ‖mean‖/mean‖h‖ = "
                         f"{a['mean_norm_ratio']:.3f}, mean cosine {a['mean_cosine']:.3f}")
        lines.append(f"  log-probabilities of {self.n_contexts} contexts "
                     f"(softmax bound d+{1 + self.has_bias} = {d + 1 + self.has_bias}):")
        for act, rep in self.ranks.items():
            eff = ", ".join(f"{r.label} {r.value}" for r in rep.ranks
                            if r.measure == "effective")
            hs = self.hidden_size.get(act)
            lines.append(f"    {act:<10} numpy {rep['numpy'].value}, Press "
                         f"{rep['press'].value}, {eff}; hidden size "
                         + ("not estimated" if hs is None else
                            f"{hs.d} (gap 10^{math.log10(hs.gap):.1f})" if hs.cliff
                            else "no cliff"))
        hs = self.hidden_size.get("softmax")
        if hs is not None:
            expected = self.rank_W_centred.value
            if expected >= min(self.n_contexts, M) - 1:
                verdict = ("not identifiable: the centred outputs have at most "
                           f"min(N, M) - 1 = {min(self.n_contexts, M) - 1} directions")
            else:
                verdict = "found" if hs.d == expected else "MISSED"
            lines.append(f"  hidden size from softmax outputs: {hs.d}; rank(W − w̄) = "
                         f"{expected}: {verdict}"
                         + ("" if self.configured_d is None else
                            f"; configured d = {self.configured_d}"))
            if self.settled_at is not None:
                lines.append(f"  the estimate settles from {self.settled_at} outputs on "
                             f"(tried n = {[n for n, _ in self.hidden_size_by_n]})")
        return "\n".join(lines)

    def __repr__(self):
        M, d = self.shape
        am = ("" if self.argmax is None else
              f", {len(self.argmax.unargmaxable)} unargmaxable")
        ranks = ", ".join(f"{a} {r['press'].value}" for a, r in self.ranks.items())
        hs = self.hidden_size.get("softmax")
        return (f"OutputLayerReport({M}×{d}, 90/99% energy in "
                f"{self.energy_dims[0.9]}/{self.energy_dims[0.99]} dims{am}; Press "
                f"rank of {self.n_contexts} contexts: {ranks}; hidden size "
                f"{None if hs is None else hs.d})")

    def as_dict(self):
        """Every number as plain Python, which ``json.dumps`` accepts (arrays
        become lists, a non-finite float its string)."""
        out = {
            "source": self.source,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "has_bias": self.has_bias,
            "notes": list(self.notes),
            "W": {
                "singular_values": self.singular_values,
                "singular_values_centred": self.singular_values_centred,
                "press_rank": self.rank_W.value,
                "press_threshold": self.rank_W.threshold,
                "press_rank_centred": self.rank_W_centred.value,
                "energy_dims": {str(k): v for k, v in self.energy_dims.items()},
                "energy_dims_centred": {str(k): v
                                        for k, v in self.energy_dims_centred.items()},
                "mean_norm_ratio": self.mean_norm_ratio,
                "mean_cosine": self.mean_cosine,
            },
            "contexts": {"n": self.n_contexts, "scale": self.context_scale,
                         "logit_std": self.logit_std, "source": self.contexts_source,
                         "anisotropy": self.context_anisotropy},
            "configured_d": self.configured_d,
            "hidden_size_by_n": [{"n": n, "d": e.d, "gap": e.gap}
                                 for n, e in self.hidden_size_by_n],
            "hidden_size_settled_at": self.settled_at,
            "log_prob_ranks": {
                act: {"ranks": {r.label: {"value": r.value, "threshold": r.threshold,
                                          "rule": r.rule} for r in rep.ranks},
                      "shift_invariant": {r.label: r.value for r in rep.shift_invariant},
                      "bound": rep.bound, "method": rep.method,
                      "singular_values": rep.singular_values}
                for act, rep in self.ranks.items()},
            "hidden_size": {
                act: {"d": h.d, "gap": h.gap, "cliff": h.cliff, "message": h.message}
                for act, h in self.hidden_size.items()},
            "seconds": self.seconds,
        }
        if self.argmax is not None:
            a = self.argmax
            out["argmax"] = {
                "argmaxable": int(a.mask.sum()),
                "unargmaxable": len(a.unargmaxable),
                "undecided": len(a.undecided),
                "unargmaxable_indices": a.unargmaxable,
                "undecided_indices": a.undecided,
                "first_unargmaxable_tokens": list(self.unargmaxable_tokens),
                "by_method": a.counts(),
                "n_lp": a.n_lp,
            }
        return json_safe(out)

    def plot(self, axes=None):
        """Three panels: the spectrum of W, the log-probability spectra, and
        the word norms of argmaxable against unargmaxable words.

        `axes`: three matplotlib axes, or None for a new figure. Returns the
        figure.
        """
        import matplotlib.pyplot as plt

        if axes is None:
            fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        fig = axes[0].figure
        ax = axes[0]
        for s, label in ((self.singular_values, "W"),
                         (self.singular_values_centred, "W − mean row")):
            ax.semilogy(np.arange(1, s.size + 1), s / self.singular_values[0],
                        label=label)
        for frac, style in ((0.9, ":"), (0.99, "--")):
            k = self.energy_dims[frac]
            ax.axvline(k, color="0.4", ls=style, lw=0.8)
            ax.annotate(f"{frac:.0%} energy: {k}", (k, ax.get_ylim()[1]),
                        rotation=90, va="top", ha="right", fontsize=7)
        ax.set(xlabel="index i", ylabel="σ_i / σ_1",
               title=f"spectrum of W ({self.shape[0]}×{self.shape[1]})")
        ax.legend(fontsize=8)

        ax = axes[1]
        for k, (act, rep) in enumerate(self.ranks.items()):
            if k == 0:   # the baseline's thresholds and bound stand for all
                rep.plot(ax=ax, label=f"{act} (Press {rep['press'].value})")
            else:
                v = rep.singular_values
                ax.semilogy(np.arange(1, v.size + 1), v / v[0],
                            label=f"{act} (Press {rep['press'].value})")
        ax.set_ylim(bottom=1e-18)
        ax.set_title(f"log-probabilities of {self.n_contexts} contexts")
        ax.legend(fontsize=8)

        ax = axes[2]
        if self.argmax is None:
            ax.text(0.5, 0.5, "argmaxable words not computed", ha="center",
                    transform=ax.transAxes)
        else:
            norms = self._norms
            mask = self.argmax.mask
            bins = np.histogram_bin_edges(norms, bins=50)
            ax.hist(norms[mask], bins=bins, label=f"argmaxable ({int(mask.sum())})")
            if (~mask).any():
                ax.hist(norms[~mask], bins=bins, color="C3",
                        label=f"not argmaxable ({int((~mask).sum())})")
            ax.set_yscale("log")
            ax.legend(fontsize=8)
        ax.set(xlabel="‖w_i‖", ylabel="words", title="argmaxable words by norm")
        fig.tight_layout()
        return fig

    # the norms are needed only for the figure; kept out of the JSON
    _norms: np.ndarray = field(default=None, repr=False)


def _peak_bytes(M, d, N, itemsize):
    """Peak memory of the analysis: float64 W, its SVD copy and centred copy,
    argmax witnesses (M×d), the N×M float64 logits (computed once for
    every activation) and three N×M float64 matrices while a
    log-probability matrix is built and analysed."""
    return M * d * (itemsize + 8 * 4) + 4 * N * M * 8


def _stage(name, seconds, bar):
    """Start stage `name`; the returned ``done()`` records its wall seconds
    and advances the progress bar."""
    start = time.perf_counter()
    bar.set_postfix_str(name, refresh=False)

    def done():
        seconds[name] = time.perf_counter() - start
        bar.update()

    return done


def analyze_output_layer(W, bias=None, *, words=None, n_contexts=None, contexts=None,
                         logit_std=3.0, seed=0, argmax=True, key=None, bias_key=None,
                         vocab=None, configured_d=None, contexts_source=None,
                         progress=None, client=None):
    r"""Spectrum, anisotropy, argmaxable words and the bottleneck of a real W.

    Parameters
    ----------
    W : (M, d) array_like, path, or :class:`rankbottleneck.io.Embeddings`
        The output embedding; a path is read by
        :func:`rankbottleneck.io.load_embeddings` with `key`, `bias_key` and
        `vocab` (after checking the analysis fits in memory).
    bias : (M,) array_like, optional
    words : sequence of str, optional
        Row names (tokens), to name unargmaxable words.
    n_contexts : int, optional
        Contexts sampled for the log-probability matrices; default
        ``d + 100``. At least ``d + 2``: the hidden-size estimate needs more
        rows than ``d + 1``.
    contexts : (N, d) array_like, optional
        Your own hidden states instead of sampled ones.
    logit_std : float
        Scale of the sampled contexts: ``h ~ N(0, s² I)`` with
        ``s = logit_std / sqrt(mean_i ‖w_i‖²)``, so a word's logit has standard
        deviation `logit_std` on average over words.
    seed : None, int or numpy.random.Generator
        For the contexts and the argmax search.
    argmax : bool
        Decide the argmaxable words (the slowest stage for large ``d``).
    configured_d : int, optional
        The model's configured hidden size, reported beside the estimate.
    contexts_source : str, optional
        Where `contexts` came from, for the report (default: "given").
    progress : bool, optional
        A progress bar of the stages on stderr (default: when stderr is a
        terminal); stage times are in the report's ``seconds`` either way.
    client : distributed.Client, optional
        Run the counterfactual spectra's Gram passes and the argmax search on
        a Dask cluster (:mod:`rankbottleneck.cluster`); softmax's structural
        spectrum stays local.

    Returns
    -------
    OutputLayerReport

    See Also
    --------
    rankbottleneck.load_embeddings : how a path is read.
    rankbottleneck.argmaxable : the argmax stage alone.
    rankbottleneck.rank_report : the rank measures of each matrix.
    rankbottleneck.estimate_hidden_size : the hidden size read off the
        softmax outputs.
    rankbottleneck.lm.analyze_model : the same with a real model's contexts.

    Examples
    --------
    Softmax outputs of 60 words in d = 4 have rank d + 1 = 5, and the hidden
    size read off them is 4; sigsoftmax's are of full rank:

    >>> import numpy as np
    >>> from rankbottleneck import analyze_output_layer
    >>> W = np.random.default_rng(0).standard_normal((60, 4))
    >>> rep = analyze_output_layer(W, seed=0)
    >>> rep.hidden_size["softmax"].d, rep.ranks["softmax"]["press"].value
    (4, 5)
    >>> rep.ranks["sigsoftmax"]["press"].value
    60
    >>> int(rep.argmax.mask.sum()) + len(rep.argmax.unargmaxable)
    60
    """

    if isinstance(W, (str, Path)):
        shape, stored, _ = _io.describe_embeddings(W, key=key, bias_key=bias_key)
        if len(shape) == 2:
            N = n_contexts if isinstance(n_contexts, int) else shape[1] + 100
            _check_memory(shape[0], shape[1], N, _io._itemsize(stored))
        W = _io.load_embeddings(W, key=key, bias_key=bias_key, vocab=vocab)
    elif vocab is not None or key is not None or bias_key is not None:
        raise TypeError("key, bias_key and vocab are for a file path; W is an array "
                        "(pass words= and bias= instead)")
    notes = []
    source = ""
    if isinstance(W, _io.Embeddings):
        emb = W
        W, source, notes = emb.W, emb.path, list(emb.notes)
        bias = emb.bias if bias is None else bias
        words = emb.words if words is None else words
    W = _as_float_array(W, "W", ndim=2)
    M, d = W.shape
    if M < 2:
        raise ValueError(f"W must have at least 2 rows (words); got shape {W.shape}")
    stored = W.dtype
    if bias is not None:
        bias = _as_float_array(bias, "bias", ndim=1)
        if bias.shape[0] != M:
            raise ValueError(f"bias must have shape ({M},) to match W {W.shape}; got "
                             f"shape {bias.shape}")
    if words is not None:
        words = tuple(str(w) for w in words)
        if len(words) != M:
            raise ValueError(f"words must name every row of W: expected {M} words, got "
                             f"{len(words)}")
    if contexts is not None:
        H = _as_float_array(contexts, "contexts", ndim=2)
        if H.shape[1] != d:
            raise ValueError(f"contexts must have shape (N, {d}) to match W {W.shape}; "
                             f"got shape {H.shape}")
        if n_contexts is not None and n_contexts != H.shape[0]:
            raise ValueError(f"n_contexts ({n_contexts}) disagrees with the "
                             f"{H.shape[0]} contexts given; pass one of them")
        n_contexts = H.shape[0]
    if n_contexts is None:
        n_contexts = d + 100
    n_contexts = _as_int(n_contexts, "n_contexts")
    if n_contexts < d + 2:
        raise ValueError(f"n_contexts must be an integer ≥ d + 2 = {d + 2} (the hidden "
                         f"size is read off more than d + 1 outputs); got {n_contexts!r}")
    if contexts is None and logit_std is not None:
        logit_std = _as_scalar(logit_std, "logit_std", low=0, low_open=True)
    argmax = _as_bool(argmax, "argmax")
    _check_memory(M, d, n_contexts, stored.itemsize)
    rng = _as_rng(seed)
    seconds = {}
    bar = progress_bar(2 + len(ACTIVATIONS) if argmax else 1 + len(ACTIVATIONS),
                       "analyze", progress, unit="stage")
    done = _stage("spectrum of W", seconds, bar)
    W64 = W.astype(np.float64)
    b64 = None if bias is None else bias.astype(np.float64)
    shape_W = _anisotropy(W64)
    s, s_centred, norms = shape_W["s"], shape_W["s_centred"], shape_W["norms"]
    mean_cosine, mean_norm_ratio = shape_W["mean_cosine"], shape_W["mean_norm_ratio"]
    dims, dims_c = shape_W["energy_dims"], shape_W["energy_dims_centred"]
    computed_in = stored if stored == np.float64 else np.float32
    rank_W = rank_from_singular_values(s, "press", shape=W.shape, computed_in=computed_in)
    rank_Wc = rank_from_singular_values(s_centred, "press", shape=W.shape,
                                        computed_in=computed_in, scale=s[0])
    if rank_W.value < d:
        notes.append(f"W has Press rank {rank_W.value} < d = {d}: the outputs cannot "
                     "reveal more than that.")
    done()

    context_anisotropy = None
    if contexts is None:
        # 1 / the root mean square of the norms, by a power of two when they
        # are far from 1 (their squares would overflow or underflow)
        e = _exponent(_peak(norms))
        rms = math.sqrt(np.mean(_scaled(norms, e)**2))
        scale = _unscaled(logit_std / rms, -e) if np.any(norms) else 1.0
        H = scale * rng.standard_normal((n_contexts, d))
        contexts_source = (f"{n_contexts} sampled isotropic Gaussian contexts, logit "
                           f"std {logit_std:g} (synthetic)")
    else:
        H, scale = H.astype(np.float64), float("nan")
        contexts_source = contexts_source or f"{n_contexts} given contexts"
        a = _anisotropy(H)
        context_anisotropy = {k: a[k] for k in ("energy_dims", "mean_cosine",
                                                "mean_norm_ratio")}
    ranks, hidden, by_n = {}, {}, ()
    # every activation's hidden size too where its matrix is cheap to build
    small = _dense_is_cheap(n_contexts * M)
    Z = None
    for k, (act, params) in enumerate(ACTIVATIONS.items()):
        done = _stage(f"log-probabilities under {act}", seconds, bar)
        layer = PointwiseLayer(W64, b64, activation=act, params=params)
        if k == 0 and client is None:
            # the logits H Wᵀ + b, once for every activation's passes (a
            # cluster's tasks compute their own blocks)
            Z = layer.logits(H)
        if Z is not None:
            layer = layer._with_logits(H, Z)
        # the spectra from the layer: structural for softmax, streamed Gram
        # otherwise, never a dense SVD of an N × M matrix
        ranks[act] = rank_report(layer, contexts=H, d=d, has_bias=bias is not None,
                                 computed_in=np.float64, shift_invariant=k == 0 or small,
                                 client=client)
        if k == 0 or small:
            # the hidden size is read off the outputs alone, as from a model
            # behind an API: the baseline's against n (one QR serves every
            # prefix), the counterfactuals' at n = N when that is cheap
            steps = _hidden_size_by_rows(layer.log_prob_matrix(H),
                                         None if k == 0 else [n_contexts],
                                         min_gap=1e3, computed_in=np.float64,
                                         overwrite=True)
            hidden[act] = steps[-1][1]
            if k == 0:
                by_n = tuple(steps)
        done()
    del Z
    if not small:
        notes.append(f"hidden size and shift-invariant ranks for "
                     f"{next(iter(ACTIVATIONS))} only: at N × M = {n_contexts} × {M} "
                     "each would cost the counterfactuals another full pass.")

    report_argmax, tokens = None, ()
    if argmax:
        done = _stage("argmaxable words", seconds, bar)
        report_argmax = argmaxable(W64, b64, seed=rng, progress=progress,
                                   client=client)
        first = report_argmax.unargmaxable[:N_TOKENS_SHOWN]
        tokens = tuple(words[i] if words is not None else f"#{i}" for i in first)
        done()
    bar.close()
    return OutputLayerReport(
        shape=(M, d), dtype=stored.name, has_bias=bias is not None,
        singular_values=s, singular_values_centred=s_centred, energy_dims=dims,
        energy_dims_centred=dims_c, rank_W=rank_W, rank_W_centred=rank_Wc,
        mean_norm_ratio=mean_norm_ratio, mean_cosine=mean_cosine,
        argmax=report_argmax, unargmaxable_tokens=tokens, n_contexts=n_contexts,
        context_scale=float(scale),
        logit_std=None if contexts is not None else float(logit_std), ranks=ranks,
        hidden_size=hidden, seconds=seconds, notes=tuple(notes), source=source,
        contexts_source=contexts_source,
        configured_d=None if configured_d is None else _as_int(configured_d,
                                                                "configured_d"),
        context_anisotropy=context_anisotropy, hidden_size_by_n=by_n, _norms=norms)


def _anisotropy(X):
    """Spectra, energy dimensions, mean-row ratio and exact mean cosine of
    the rows of `X` (float64).

    Entries far from 1 are scaled by a power of two first (exactly), and the
    spectra and norms scaled back: ``s·X`` gives ``s`` times the spectra and
    norms of ``X`` and the same ratios, dimensions and cosines.
    """
    n = X.shape[0]
    e = _exponent(_peak(X))
    X = _scaled(X, e)
    mean = X.mean(axis=0)
    # one Fortran buffer for both QRs (each overwrites it); the norms by row
    # blocks (np.linalg.norm squares the whole array first): the same values
    work = np.empty(X.shape, order="F")
    s, s_centred = _tall_svdvals(X, out=work), _tall_svdvals(X, mean, out=work)
    del work
    norms = np.concatenate([np.linalg.norm(X[a:a + 4096], axis=1)
                            for a in range(0, n, 4096)])
    unit = X / np.where(norms > 0, norms, 1.0)[:, None]
    total = unit.sum(axis=0)
    s, s_centred = _unscaled(s, e), _unscaled(s_centred, e)
    return {"s": s, "s_centred": s_centred, "norms": _unscaled(norms, e),
            "mean_cosine": float((total @ total - np.sum(norms > 0)) / (n * (n - 1))),
            "mean_norm_ratio": float(np.linalg.norm(mean) / np.mean(norms)),
            "energy_dims": {f: energy_dimension(s, f) for f in (0.9, 0.99)},
            "energy_dims_centred": {f: energy_dimension(s_centred, f)
                                    for f in (0.9, 0.99)}}


def _tall_svdvals(X, shift=0.0, out=None):
    """Singular values of ``X - shift``; a tall one's from the ``R`` of its
    QR, as ``dgesdd`` itself proceeds, in two thirds of its time (equal to
    the last bit on SmolLM2's 49,152 × 576 head; to rounding in general).
    `out`: a float64 Fortran array of the shape of `X` to work in (it is
    overwritten)."""
    F = _fortran_copy(X, np.empty(X.shape, order="F") if out is None else out, shift)
    if X.shape[0] >= 2 * X.shape[1]:
        F = _qr_r(F)
    return scipy.linalg.svdvals(F, check_finite=False)


def _check_memory(M, d, N, itemsize):
    _check_fits_in_memory(
        _peak_bytes(M, d, N, itemsize),
        f"analysing a {M}×{d} output layer with {N} contexts",
        "pass fewer contexts (n_contexts / --contexts), or analyse a subset of the "
        "rows of W")


# ---------------------------------------------------------------------------
# A matrix of outputs dumped from any model
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class LogitsReport(Result):
    """What the outputs of an unknown model reveal (:func:`analyze_logits`).

    Attributes
    ----------
    shape : (N, V)
    kind : str
        ``"logits"`` (turned into log-probabilities by log-softmax) or
        ``"log-probabilities"`` (every row's ``lse`` is 0).
    computed_in : str
        The dtype the numbers came in; thresholds use its ε.
    ranks : RankReport
        Of the N × V log-probability matrix (float64).
    hidden_size : HiddenSizeEstimate
        From all N rows.
    hidden_size_by_n : tuple of (int, HiddenSizeEstimate)
    source : str
    seconds : float
    """

    shape: tuple
    kind: str
    computed_in: str
    ranks: object = field(repr=False)
    hidden_size: object = field(repr=False)
    hidden_size_by_n: tuple = field(repr=False, default=())
    source: str = ""
    seconds: float = 0.0

    def summary(self):
        N, V = self.shape
        hs = self.hidden_size
        lines = [f"{N} output rows × {V} tokens ({self.kind}, {self.computed_in})"
                 + (f" from {self.source}" if self.source else "")]
        eff = ", ".join(f"{r.label} {r.value}" for r in self.ranks.ranks
                        if r.measure == "effective")
        lines.append(f"  ranks: numpy {self.ranks['numpy'].value}, Press "
                     f"{self.ranks['press'].value}, {eff}")
        lines.append("  hidden size: " + (f"{hs.d} (gap 10^{math.log10(hs.gap):.1f})"
                                          if hs.cliff else hs.message))
        return "\n".join(lines)

    def __repr__(self):
        return (f"LogitsReport({self.shape[0]}×{self.shape[1]} {self.kind}: Press rank "
                f"{self.ranks['press'].value}, hidden size {self.hidden_size.d})")

    def as_dict(self):
        """Every number as plain Python, which ``json.dumps`` accepts."""
        return json_safe({"source": self.source, "shape": list(self.shape), "kind": self.kind,
                "computed_in": self.computed_in,
                "ranks": {r.label: {"value": r.value, "threshold": r.threshold,
                                    "rule": r.rule} for r in self.ranks.ranks},
                "shift_invariant": {r.label: r.value for r in self.ranks.shift_invariant},
                "singular_values": self.ranks.singular_values,
                "hidden_size": {"d": self.hidden_size.d, "gap": self.hidden_size.gap,
                                "message": self.hidden_size.message},
                "hidden_size_by_n": [{"n": n, "d": e.d, "gap": e.gap}
                                     for n, e in self.hidden_size_by_n],
                "seconds": self.seconds})

    def plot(self, axes=None):
        """The normalised spectrum with its tolerances, and the hidden-size
        estimate against the number of rows. Returns the figure."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        self.ranks.plot(ax=axes[0], label=self.kind)
        axes[0].set_title(f"spectrum of {self.shape[0]} output rows")
        _plot_hidden_by_n(axes[1], self.hidden_size_by_n)
        axes[0].figure.tight_layout()
        return axes[0].figure


def _plot_hidden_by_n(ax, steps, d=None):
    n = [k for k, _ in steps]
    est = [np.nan if e.d is None else e.d for _, e in steps]
    ax.plot(n, est, "o-", ms=4, label="estimate (no cliff: gap)")
    for k, e in steps:
        if e.d is None:
            ax.plot(k, 0, "x", color="C3", ms=5)
    if d is not None:
        ax.axhline(d, color="0.4", ls="--", lw=0.8, label=f"configured d = {d}")
    ax.set(xscale="log", xlabel="output rows used n", ylabel="hidden size read off",
           title="hidden-size estimate against n (× : no cliff)")
    ax.legend(fontsize=8)
    return ax


def analyze_logits(logits, *, computed_in=None, n_rows=None):
    """Ranks and hidden size of an N × V matrix of logits or log-probabilities.

    For outputs dumped from any model or API: the rows are turned into
    log-probabilities (log-softmax, in float64) unless they already are (every
    row's ``lse`` within ``1e3 ε V`` of 0), then every rank measure
    (:func:`~rankbottleneck.rank_report`) and the hidden size read off the
    spectrum cliff (:func:`~rankbottleneck.estimate_hidden_size`, against the
    number of rows too).

    Parameters
    ----------
    logits : (N, V) array_like or path to a ``.npy`` file
    computed_in : dtype, optional
        The precision the numbers were produced in; default their dtype
        (a float32 dump keeps float32's ε in every threshold).
    n_rows : sequence of int, optional
        Row counts for the hidden-size curve (see
        :func:`~rankbottleneck.output_set.hidden_size_by_rows`).

    Returns
    -------
    LogitsReport

    See Also
    --------
    rankbottleneck.analyze_output_layer : when the head ``W`` itself is at
        hand.
    rankbottleneck.estimate_hidden_size : the hidden size of given rows.

    Examples
    --------
    The logits of a model with d = 5, as an API would return them:

    >>> import rankbottleneck as rb
    >>> from rankbottleneck.outputlayer import analyze_logits
    >>> H, W, _ = rb.contexts_and_words(60, 200, 5, seed=0)
    >>> analyze_logits(H @ W.T)
    LogitsReport(60×200 logits: Press rank 6, hidden size 5)
    """
    start = time.perf_counter()
    source = ""
    if isinstance(logits, (str, Path)):
        source = str(logits)
        path = Path(logits)
        if not path.is_file():
            raise ValueError(f"logits file {source!r} does not exist")
        if path.suffix.lower() != ".npy":
            raise ValueError(f"logits file {source!r} must be a .npy array (N × V)")
        try:
            logits = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"logits file {source!r} is not a readable .npy array: "
                             f"{exc}") from None
    Z = _as_float_array(logits, "logits", ndim=2)
    N, V = Z.shape
    if N < 3 or V < 3:
        raise ValueError(f"logits must have at least 3 rows and 3 columns; got shape "
                         f"{Z.shape}")
    computed = np.dtype(computed_in or Z.dtype)
    Z64 = Z.astype(np.float64)
    lse = logsumexp(Z64, axis=1)
    tol = 1e3 * np.finfo(computed).eps * V
    kind = "log-probabilities" if np.all(np.abs(lse) <= tol) else "logits"
    A = Z64 - lse[:, None] if kind == "logits" else Z64
    ranks = rank_report(A, computed_in=computed)
    steps = hidden_size_by_rows(A, n_rows, computed_in=computed)
    return LogitsReport(shape=(N, V), kind=kind, computed_in=computed.name, ranks=ranks,
                        hidden_size=steps[-1][1], hidden_size_by_n=tuple(steps),
                        source=source, seconds=time.perf_counter() - start)
