r"""Which top-k sets and top-k orderings an output layer can produce, exactly.

:func:`~rankbottleneck.argmaxable` asks whether one word can ever come first.
A distribution is seen through more than its mode: a sampler and a user see
its top-k list, and Chang & McCallum (2022) [1]_ show that a softmax layer
cannot put some sets of words above all others at once. For logits
``z = W x + b``:

* a **set** ``S`` is *realizable* if ``z_s > z_j`` for every ``s ∈ S``,
  ``j ∉ S`` at some context (the top-``|S|`` set, in any order);
* an **ordering** ``π`` is realizable if ``z_{π1} > … > z_{πk} > z_j`` for
  every other ``j`` (the top-k list, in this order; ``k = M`` is a full
  ranking).

Both are feasibility questions of open polyhedra, decided as
:func:`~rankbottleneck.argmaxable` decides words: cheap candidate contexts
first, then an LP (scipy's HiGHS) with constraint generation. Every answer
comes with proof:

* **realizable**: a witness context whose margin (the smallest gap the
  question needs) exceeds the rounding error of the scores;
* **not realizable**: multipliers from Motzkin's transposition theorem. For
  a set they are convex weights ``λ`` on ``S`` and ``μ`` on the other words
  with ``Σ λ_s w_s = Σ μ_j w_j`` and ``Σ λ_s b_s ≤ Σ μ_j b_j``: then
  ``min_S z ≤ Σ λ_s z_s ≤ Σ μ_j z_j ≤ max_{j∉S} z_j`` at every context. (No
  bias: the hulls of ``S``'s embeddings and of the others' meet.) For an
  ordering the weights sit on the gaps ``z_{πl} - z_{πl+1}``.

**Under other activations.** *Any strictly increasing pointwise map*
(``p = softmax(φ(z))``, ``φ`` strictly increasing: sigsoftmax, GSS with
``k > 0``, PLIF, sigmoid-normalisation) realises exactly the linear layer's
sets and orderings. *Proof.* ``p_i`` is a strictly increasing function of
``z_i`` alone, up to the common normaliser: ``p_i > p_j ⟺ φ(z_i) > φ(z_j)
⟺ z_i > z_j``. So the order of the probabilities at every context is the
order of the logits, and a set or ordering is realised at ``x`` under ``φ``
iff it is under softmax; the witness and the certificate carry over
unchanged. ∎ *Mixtures* (MoS) are not pointwise maps of one logit vector and
can realise more: :func:`realizable_set` and :func:`realizable_fraction`
measure that by sampling contexts (a lower bound, with the linear layer's
exact answer beside it). *Sparse activations* (:func:`realizable_support`):
whether ``S`` can be exactly the set of nonzero probabilities.

**Counting.** For embeddings in general position the number of realizable
full rankings depends only on ``(M, d)`` and on whether there is a bias
(:func:`ranking_count`, Cover 1967 [2]_; Zaslavsky's theorem for the affine
case [3]_).

References
----------
.. [1] H.-S. Chang, A. McCallum, "Softmax bottleneck makes language models
   unable to represent multi-mode word distributions", ACL 2022.
.. [2] T. M. Cover, "The number of linearly inducible orderings of points in
   d-space", SIAM J. Appl. Math. 15(2), 1967.
.. [3] T. Zaslavsky, "Facing up to arrangements: face-count formulas for
   partitions of space by hyperplanes", Mem. AMS 154, 1975.
"""

from __future__ import annotations

import itertools
import math
import operator
import time
from dataclasses import dataclass, field

import numpy as np

from ._progress import progress_bar
from ._result import Result, Verification
from ._validation import _as_int, _as_scalar, _check_embeddings, _has_bias
from .feasibility._candidates import whitening
from .feasibility._lp import decide
from .feasibility._scale import to_unit
from .feasibility._scores import Scores, project
from .feasibility._systems import (
    Multipliers,
    at,
    certificate_holds,
    holds,
    order_certificate,
    order_system,
    set_system,
)
from .layers import MixtureLayer, PointwiseLayer

__all__ = [
    "Certificate",
    "RealizableReport",
    "RealizableFraction",
    "realizable_set",
    "realizable_order",
    "realizable_support",
    "realizable_fraction",
    "ranking_count",
]

#: Motzkin multipliers: ``nu`` on the question's own conditions, ``mu`` on
#: the other words ``rest`` (see :mod:`rankbottleneck.feasibility._systems`).
Certificate = Multipliers


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RealizableReport(Result):
    """Whether one set, ordering or support can be produced, with its proof.

    Attributes
    ----------
    question : {"set", "order", "support"}
    words : tuple of int
        The set (sorted), the ordering (first word first) or the support.
    feasible : bool or None
        True: realised at `witness` (verified). False: never (verified
        `certificate`, or the exact theorem named in `note`). None: not
        decided (a sampled search found no witness, or a numerically
        degenerate question).
    kind : {"exact", "lower-bound"}
        ``"lower-bound"`` when a False would only mean "not seen".
    witness : (d,) ndarray or None
        A context realising it (a mixture's: its last hidden state).
    margin, margin_tolerance : float
        The question's smallest gap at the witness and the rounding bound
        it exceeds (a sampled witness: the gap of the log-probabilities
        relative to ``1 + max |log p|``).
    certificate : Certificate or None
    method : str
        ``"candidate"``, ``"projection"``, ``"lp"``, ``"exact"`` (the exact
        rational simplex), ``"sampled"``, ``"scaled"`` or
        ``"theorem"``.
    n_lp : int
    note : str

    See Also
    --------
    realizable_set, realizable_order, realizable_support : make one.
    rankbottleneck.ArgmaxReport : the same for single words.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> rep = rb.realizable_set(W, [0, 2])         # two opposite words: never the top 2
    >>> rep
    RealizableReport(set (0, 2): not realizable; exact, by lp)
    >>> rep.feasible, bool(rep.verify(W))            # the certificate checks
    (False, True)
    """

    question: str
    words: tuple
    feasible: bool | None
    kind: str = "exact"
    witness: np.ndarray | None = field(default=None, repr=False)
    margin: float = float("nan")
    margin_tolerance: float = float("nan")
    certificate: Certificate | None = field(default=None, repr=False)
    method: str = ""
    n_lp: int = 0
    note: str = ""

    def verify(self, W, bias=None):
        """Re-check the witness or the certificate against `W`, `bias`.

        Only for the linear-layer questions (``"set"`` and ``"order"``).

        Returns
        -------
        Verification
            Truthy iff the witness (or certificate) holds, as before when
            this returned a bool; ``.failing`` is ``[0]`` (the question)
            when it fails or when there is no evidence (undecided).

        Raises
        ------
        ValueError
            For a support question, or `W` of another shape.
        """
        if self.question not in ("set", "order"):
            raise ValueError(f"verify checks set and order questions; this report "
                             f"answers {self.question!r}")
        W, b = _check_embeddings(W, bias)
        words = np.array(self.words)
        if words.max() >= W.shape[0] or (
                self.witness is not None and W.shape[1] != len(self.witness)):
            d = "d" if self.witness is None else len(self.witness)
            raise ValueError(f"W must have more than {words.max()} rows and {d} "
                             f"columns (the layer this report decided); got shape "
                             f"{W.shape}")
        system = (set_system if self.question == "set" else order_system)(words)
        if self.feasible and self.witness is not None:
            _, margin, tol = at(system, W, b, self.witness)
            ok, note = holds(system, W, b, self.witness, margin, tol), "witness fails"
        elif self.feasible is False and self.certificate is not None:
            ok = certificate_holds(system, W, b, self.certificate)
            note = "certificate fails"
        else:
            ok, note = False, "no witness or certificate to check"
        return Verification(failing=[] if ok else [0], n_checked=1, what="question",
                            note="" if ok else note)

    def __repr__(self):
        answer = {True: "realizable", False: "not realizable",
                  None: "undecided"}[self.feasible]
        what = {"set": "set", "order": "ordering", "support": "support"}[self.question]
        words = ", ".join(map(str, self.words[:8])) + (", …" if len(self.words) > 8
                                                        else "")
        how = f"{self.kind}, by {self.method}" + (f"; {self.note}" if self.note else "")
        return f"RealizableReport({what} ({words}): {answer}; {how})"


@dataclass(frozen=True, eq=False)
class RealizableFraction(Result):
    """The fraction of a vocabulary's top-k sets or orderings that are realizable.

    Attributes
    ----------
    question : {"set", "order"}
    k, M : int
    n_total : int
        All top-k sets ``C(M, k)`` or orderings ``M!/(M-k)!``.
    n_asked : int
        Questions decided: all of them (``method="exact"``) or a uniform
        sample; for mixtures, the contexts sampled.
    n_realizable, n_not, n_undecided : int
    fraction : float
        ``n_realizable / n_asked`` (undecided counted as not realizable);
        for mixtures ``n_realizable / n_total``.
    interval : (float, float)
        Exact enumeration: the point twice (undecided questions widen it).
        Sampled: the Clopper–Pearson interval at `confidence` with undecided
        questions counted both ways. Mixture sampling: ``(fraction, 1)``.
    method : {"exact", "sampled", "sampled-contexts"}
    confidence : float
    fraction_cheap : float
        Share of the realizable answers found without an LP.
    n_lp : int
    seconds : float
    questions : (n, k) int ndarray
        The questions decided (sets sorted; for mixtures, the distinct sets
        or orderings seen).
    answers : (n,) object ndarray
        True, False or None for each of `questions`.

    See Also
    --------
    realizable_fraction : makes one.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> rb.realizable_fraction(W, 2)
    RealizableFraction(top-2 sets of 4 words: 0.6667 (exact, all 6; 0 undecided))
    """

    question: str
    k: int
    M: int
    n_total: int
    n_asked: int
    n_realizable: int
    n_not: int
    n_undecided: int
    interval: tuple
    method: str
    confidence: float = 0.95
    fraction_cheap: float = 0.0
    n_lp: int = 0
    seconds: float = 0.0
    questions: np.ndarray | None = field(default=None, repr=False)
    answers: np.ndarray | None = field(default=None, repr=False)

    @property
    def fraction(self):
        if self.method == "sampled-contexts":     # distinct ones seen, of all
            return self.n_realizable / self.n_total
        return self.n_realizable / max(self.n_asked, 1)

    def _as_dict_fields(self):
        return {**super()._as_dict_fields(), "fraction": self.fraction}

    def __repr__(self):
        lo, hi = self.interval
        what = "sets" if self.question == "set" else "orderings"
        if self.method == "exact":
            how = f"exact, all {self.n_total:,}"
        elif self.method == "sampled":
            how = (f"sampled {self.n_asked:,} of {self.n_total:,}, "
                   f"{100 * self.confidence:g}% CI [{lo:.4f}, {hi:.4f}]")
        else:
            how = f"lower bound from {self.n_asked:,} sampled contexts"
        return (f"RealizableFraction(top-{self.k} {what} of {self.M:,} words: "
                f"{self.fraction:.4f} ({how}; {self.n_undecided} undecided))")


# ---------------------------------------------------------------------------
# Checking the questions
# ---------------------------------------------------------------------------


def _check_words(words, M, name, *, unique=True, allow_all=False):
    """Word indices as an int array: distinct, in range, not too many."""
    if isinstance(words, (str, bytes)) or np.ndim(words) != 1:
        raise TypeError(f"{name} must be a 1-D sequence of word indices; got "
                        f"{words!r}")
    arr = np.asarray(words)
    if arr.size == 0:
        raise ValueError(f"{name} must name at least one word; got {list(arr)}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers; got dtype {arr.dtype}")
    bad = arr[(arr < 0) | (arr >= M)]
    if len(bad):
        raise ValueError(f"{name} must hold indices in [0, {M - 1}] (the layer has "
                         f"{M} words); got {bad[:5].tolist()}")
    if unique and len(np.unique(arr)) != len(arr):
        vals, counts = np.unique(arr, return_counts=True)
        twice = vals[counts > 1].tolist()
        raise ValueError(f"{name} must not repeat a word; got {twice} more than "
                         "once")
    if not allow_all and len(arr) >= M:
        raise ValueError(f"{name} must leave at least one other word (the layer "
                         f"has {M}); got {len(arr)} words")
    return arr.astype(int)


def _linear_of(layer_or_W, bias):
    """(W, b, layer or None): the linear layer a question is decided on."""
    if isinstance(layer_or_W, (PointwiseLayer, MixtureLayer)):
        if bias is not None:
            raise TypeError("bias is part of the layer; pass it to the layer, not "
                            "here")
        W, b = _check_embeddings(layer_or_W.W, layer_or_W.bias)
        return W, b, layer_or_W
    W, b = _check_embeddings(layer_or_W, bias)
    return W, b, None


# ---------------------------------------------------------------------------
# Cheap candidate contexts, many questions at once
# ---------------------------------------------------------------------------


def _candidates(W, Q, question, mu, whiten):
    """Candidate contexts for the questions `Q` (n, k): (n_candidates, n, d)."""
    k = Q.shape[1]
    if question == "set":
        weights = [np.full(k, 1.0 / k)]
    else:
        # a falling weight puts the first word of the ordering first
        weights = [np.linspace(1.0, 1.0 / k, k), 2.0 ** -np.arange(k)]
    out = []
    for c in weights:
        c = c / c.sum()
        mean = np.einsum("k,nkd->nd", c, W[Q])
        out.append((mean - mu) @ whiten)
        out.append(mean)
    return np.stack(out)


def _decide_many(W, b, Q, question, *, box=None, block=256, progress=None,
                 desc="questions"):
    """Decide every question (row of `Q`): candidates in blocks, then LPs.

    Orderings that share their set (all ``k!`` orderings of each set, as
    :func:`realizable_fraction` enumerates them) ask their set first: an
    ordering's top-k set is its set, so a certificate that the set cannot
    be the top k is one for each of its orderings
    (:func:`~rankbottleneck.feasibility._systems.order_certificate`: the
    same identity, so the set's proof is theirs). At d = 3 and M = 16 this
    settles nine in ten orderings with one LP per set instead of one per
    ordering.

    Returns (feasible (n,) object array, method (n,), n_lp, witnesses dict,
    certificates dict).
    """
    # the search may overflow far from the data's scale; every answer is proved
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        n = len(Q)
        # unit scale (exact): the witnesses and multipliers hold unchanged for
        # the data as given
        W, b, _ = to_unit(W, b)
        mu, whiten = whitening(W)
        scores = Scores(W, b)
        feasible = np.full(n, None, dtype=object)
        method = np.full(n, "", dtype="<U10")
        best_h = np.zeros((n, W.shape[1]))
        witnesses, certificates = {}, {}
        n_lp = 0
        system_of = set_system if question == "set" else order_system
        # sets asked by more than one ordering: None until asked, then the
        # set's Decision if it proved the set not realizable, else True (each
        # ordering is asked itself: the set is realizable, or was undecided)
        sets = {}
        if question == "order" and n > 1:
            keys, counts = np.unique(np.sort(Q, axis=1), axis=0, return_counts=True)
            sets = {tuple(key): None for key in keys[counts > 1].tolist()}

        def check(q, H):
            ok, margin, _ = scores.witnesses(q, H, question)
            if box is not None:
                inside = np.all(np.abs(H) <= box, axis=1)
                ok, margin = ok & inside, np.where(inside, margin, -np.inf)
            return ok, margin

        with progress_bar(n, desc, progress) as bar:
            for s in range(0, n, block):
                q = Q[s:s + block]
                cands = _candidates(W, q, question, mu, whiten)
                best = np.full(len(q), -np.inf)
                for H in cands:
                    ok, margin = check(q, H)
                    better = margin > best
                    best[better] = margin[better]
                    best_h[s:s + len(q)][better] = H[better]
                    ok &= feasible[s:s + len(q)] == None  # noqa: E711
                    for i in np.flatnonzero(ok):
                        feasible[s + i], method[s + i] = True, "candidate"
                        witnesses[s + i] = H[i]
                todo = np.flatnonzero(feasible[s:s + len(q)] == None)  # noqa: E711
                if len(todo):
                    H = project(scores, q[todo], best_h[s + todo], question, whiten, 30)
                    ok, margin = check(q[todo], H)
                    for j in np.flatnonzero(ok):
                        feasible[s + todo[j]], method[s + todo[j]] = True, "projection"
                        witnesses[s + todo[j]] = H[j]
                    better = margin > best[todo]
                    best_h[s + todo[better]] = H[better]
                if sets:
                    for i in np.flatnonzero(feasible[s:s + len(q)] == True):  # noqa: E712
                        if (key := tuple(sorted(q[i].tolist()))) in sets:
                            sets[key] = True
                for i in range(len(q)):
                    key = tuple(sorted(q[i].tolist())) if sets else None
                    if feasible[s + i] is None and sets.get(key, True) is not True:
                        if sets[key] is None:
                            got = decide(set_system(key), W, b, best_h[s + i],
                                         box=box, w1=scores.w1)
                            n_lp += got.n_lp
                            sets[key] = got if got.feasible is False else True
                        if sets[key] is not True:
                            # proved with the set's: the identity is exact
                            feasible[s + i], method[s + i] = False, sets[key].method
                            certificates[s + i] = order_certificate(
                                q[i], sets[key].certificate)
                    if feasible[s + i] is None:
                        got = decide(system_of(q[i]), W, b, best_h[s + i], box=box,
                                     w1=scores.w1)
                        n_lp += got.n_lp
                        feasible[s + i], method[s + i] = got.feasible, got.method
                        if got.feasible:
                            witnesses[s + i] = got.witness
                        elif got.feasible is False:
                            certificates[s + i] = got.certificate
                    bar.update(1)
        return feasible, method, n_lp, witnesses, certificates


# ---------------------------------------------------------------------------
# One question
# ---------------------------------------------------------------------------


def _ask(layer_or_W, words, bias, question, box, n_contexts, seed):
    W, b, layer = _linear_of(layer_or_W, bias)
    # checked even where only a sampled answer would use it
    n_contexts = _as_int(n_contexts, "n_contexts", low=1)
    M = W.shape[0]
    name = "words" if question == "set" else "order"
    words = _check_words(words, M, name, allow_all=question == "order")
    if question == "set":
        words = np.sort(words)
    if box is not None:
        box = _as_scalar(box, "box", low=0, low_open=True)
    act = None if layer is None else (
        layer.base if isinstance(layer, MixtureLayer) else layer.activation)
    if act is not None and act.sparse:
        raise TypeError(
            f"{act.name} gives exact zeros, so its top-k list is its support: ask "
            "realizable_support(layer, words) instead")
    if isinstance(layer, MixtureLayer) or (act is not None and not act.increasing):
        return _sampled(layer, words, question, n_contexts, seed, box)
    feasible, method, n_lp, wit, cert = _decide_many(W, b, words[None], question,
                                                     box=box, progress=False)
    f = feasible[0]
    system = (set_system if question == "set" else order_system)(words)
    witness = wit.get(0)
    margin = tol = float("nan")
    if witness is not None:
        _, margin, tol = at(system, W, b, witness)
    note = ""
    if act is not None:
        note = (f"{act.name} is a strictly increasing map of the logits: the linear "
                "layer's answer")
    elif f is None:
        note = "neither a witness nor a certificate verified (degenerate)"
    return RealizableReport(question, tuple(int(w) for w in words), f, "exact", witness,
                            margin, tol, cert.get(0), str(method[0]), n_lp, note)


def _sampled_topk(layer, X, k, question):
    """The top-k set (sorted) or list of the layer's output at each row of X,
    with the gap that separates it, relative to ``1 + max |log p|`` (the
    scale of the rounding in the log-probabilities compared)."""
    tops, gaps = [], []
    for _, blk in layer.blocks(X):
        blk = np.asarray(blk, dtype=np.float64)
        if k >= blk.shape[1]:     # a full ranking: nothing below it
            blk = np.hstack([blk, np.full((blk.shape[0], 1), -np.inf)])
        part = np.argpartition(-blk, k, axis=1)[:, :k + 1]
        vals = np.take_along_axis(blk, part, axis=1)
        order = np.argsort(-vals, axis=1)
        part = np.take_along_axis(part, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        top = part[:, :k]
        if question == "set":
            top = np.sort(top, axis=1)
            gap = vals[:, k - 1] - vals[:, k]
        else:
            gap = np.min(vals[:, :k] - vals[:, 1:k + 1], axis=1)
        tops.append(top)
        finite = np.where(np.isfinite(vals), vals, 0.0)
        gaps.append(gap / (1.0 + np.abs(finite).max(axis=1)))
    return np.concatenate(tops), np.concatenate(gaps)


def _mixture_contexts(layer, n, rng):
    width = layer.d_context if isinstance(layer, MixtureLayer) else layer.d
    # a range of scales: small contexts give flat, large ones peaked outputs
    scales = np.logspace(-1, 1.5, 8)
    X = rng.standard_normal((n, width)) / math.sqrt(width)
    return X * np.resize(scales, n)[:, None]


def _sampled(layer, words, question, n_contexts, seed, box):
    n_contexts = _as_int(n_contexts, "n_contexts", low=1)
    rng = np.random.default_rng(seed)
    k = len(words)
    X = _mixture_contexts(layer, n_contexts, rng)
    tops, gaps = _sampled_topk(layer, X, k, question)
    want = np.sort(words) if question == "set" else words
    eps = np.finfo(np.float64).eps
    hit = np.flatnonzero(np.all(tops == want, axis=1) & (gaps > 1e3 * eps))
    linear = _ask(layer.W, words, layer.bias, question, box, n_contexts, seed)
    act = layer.base if isinstance(layer, MixtureLayer) else layer.activation
    verdict = {True: "realizable", False: "not realizable", None: "undecided"}
    beside = f"the linear layer: {verdict[linear.feasible]}"
    if len(hit):
        i = hit[np.argmax(gaps[hit])]
        return RealizableReport(question, tuple(int(w) for w in words), True,
                                "lower-bound", X[i], float(gaps[i]),
                                float(1e3 * eps), None, "sampled", linear.n_lp,
                                f"seen at a sampled context of the {act.name} "
                                f"layer; {beside}")
    return RealizableReport(question, tuple(int(w) for w in words), None,
                            "lower-bound", None, method="sampled", n_lp=linear.n_lp,
                            note=f"not seen in {n_contexts} sampled contexts; {beside}")


def realizable_set(layer_or_W, words, bias=None, *, box=None, n_contexts=20000,
                   seed=0):
    r"""Can the words `words` all rank above every other word at once?

    ``S`` is realizable iff ``{x : z_s > z_j ∀ s ∈ S, j ∉ S}`` is non-empty
    for ``z = W x + b`` (a multi-mode set, Chang & McCallum 2022). Decided
    with proof as in :mod:`rankbottleneck.topk`: a verified witness, or
    convex weights ``λ`` on ``S`` and ``μ`` on the other words with
    ``Σ λ_s w_s = Σ μ_j w_j``, ``Σ λ_s b_s ≤ Σ μ_j b_j``.

    Parameters
    ----------
    layer_or_W : (M, d) array_like, PointwiseLayer or MixtureLayer
        Word embeddings, or a layer. A strictly increasing pointwise
        activation gives the linear layer's exact answer; a mixture or any
        other dense activation a sampled lower bound (the linear layer's
        exact answer in the note).
    words : sequence of int
        The set ``S``: distinct indices, fewer than ``M``.
    bias : (M,) array_like, optional
    box : float, optional
        Restrict contexts to ``|x_i| ≤ box``. Without a bias the default is
        exact with the unit box (the feasible set is a cone).
    n_contexts : int
        Contexts sampled where the answer is a lower bound.
    seed : None, int or Generator

    Returns
    -------
    RealizableReport

    See Also
    --------
    realizable_order : the same for an ordering of the words.
    realizable_support : the support of a sparse activation.
    realizable_fraction : the share of all top-k sets.
    rankbottleneck.argmaxable : ``k = 1`` for every word at once.
    RealizableReport : what is returned.

    Examples
    --------
    >>> import numpy as np, rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.6]])
    >>> rb.realizable_set(W, [0, 1]).feasible   # [w_0, w_1] meets [w_2, w_3]
    False
    >>> rb.realizable_set(W, [0, 3]).feasible
    True
    """
    return _ask(layer_or_W, words, bias, "set", box, n_contexts, seed)


def realizable_order(layer_or_W, order, bias=None, *, box=None, n_contexts=20000,
                     seed=0):
    r"""Can ``z_{π1} > z_{π2} > … > z_{πk} > z_j`` (every other ``j``) hold?

    The top-k list in this order; with ``k = M`` a full ranking. Decided with
    proof: a verified witness, or Motzkin multipliers on the gaps
    ``z_{πl} - z_{πl+1}``, on ``z_{πk} - y`` and on ``y - z_j``, whose sum
    is a constant ``≤ 0`` at every context while the ordering would make it
    positive. Parameters as :func:`realizable_set`, with `order` (distinct
    indices, first word first) instead of `words`.

    Returns
    -------
    RealizableReport

    See Also
    --------
    realizable_set : the set, in any order.
    ranking_count : how many full orderings there are.
    RealizableReport : what is returned.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> rb.realizable_order(W, [0, 1, 3]).feasible     # h = (2, 1) gives it
    True
    >>> rb.realizable_order(W, [0, 2, 1]).feasible     # the opposite word second: never
    False
    """
    return _ask(layer_or_W, order, bias, "order", box, n_contexts, seed)


# ---------------------------------------------------------------------------
# Sparse supports
# ---------------------------------------------------------------------------


def realizable_support(layer, words, *, n_scales=200, max_bisections=60):
    r"""Can the nonzero probabilities of a sparse layer be exactly `words`?

    For activations whose support is always a *top set* of the logits
    (declared ``top_support``: t-softmax, r-softmax, sparsemax, entmax —
    the words above a threshold), ``S`` can be the support only if it is a
    realizable top-``|S|`` set (:func:`realizable_set`): an unrealizable set is
    refused with that certificate. For a realizable one the search walks the
    ray ``α x`` through the set's witness ``x`` (``α`` on a log grid from
    1e-8 to 1e8, then bisection where the support size crosses ``|S|``) and
    returns a context where the activation's own output has exactly the
    support ``S``.

    Without a bias that search cannot miss for sparsemax, entmax and
    t-softmax: along the ray the order of the logits is fixed (``S`` stays
    on top), the support is the top ``j`` words for a ``j`` that runs from
    ``M`` (``α → 0``: uniform) to 1, and it changes one word at a time
    because the probabilities are continuous in ``α``. So without a bias
    ``S`` is a support iff it is a realizable top set. r-softmax keeps a
    share ``1 - r`` of the words while no ``exp`` underflows; far out on the
    ray the reference rule's underflow share changes it, so the search may
    find other sizes there (each checked by the activation's own output),
    and a miss is reported as undecided. With a bias the ray is a heuristic:
    a miss is reported as undecided.

    Parameters
    ----------
    layer : PointwiseLayer
        With a sparse activation.
    words : sequence of int
    n_scales : int
    max_bisections : int

    Returns
    -------
    RealizableReport
        ``question="support"``.

    See Also
    --------
    realizable_set : the top set of the logits.
    rankbottleneck.log_sparsemax, rankbottleneck.log_entmax : sparse activations.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> layer = rb.PointwiseLayer(W, activation="sparsemax")
    >>> rb.realizable_support(layer, [0, 1]).feasible
    True
    """
    if not isinstance(layer, PointwiseLayer):
        raise TypeError(f"layer must be a PointwiseLayer; got {type(layer).__name__}")
    act = layer.activation
    if not act.sparse:
        raise ValueError(f"layer's activation must be sparse (exact zeros); got "
                         f"{act.name!r}, whose support is every word")
    n_scales = _as_int(n_scales, "n_scales", low=2)
    max_bisections = _as_int(max_bisections, "max_bisections", low=0)
    W, b = _check_embeddings(layer.W, layer.bias)
    words = np.sort(_check_words(words, W.shape[0], "words", allow_all=True))
    key = tuple(int(w) for w in words)
    if len(words) == W.shape[0]:
        top = RealizableReport("set", key, True, witness=np.zeros(W.shape[1]),
                               method="theorem")
    else:
        top = realizable_set(W, words, b)
    if top.feasible is False:
        if act.top_support:
            return RealizableReport(
                "support", key, False, "exact", certificate=top.certificate,
                method=top.method, n_lp=top.n_lp,
                note=f"not a realizable top set, and {act.name}'s support is always "
                     "a top set")
        return RealizableReport("support", key, None, "lower-bound", n_lp=top.n_lp,
                                note="not a realizable top set, but the activation "
                                     "does not declare top_support")
    x = top.witness if top.witness is not None else np.zeros(W.shape[1])
    if not np.any(x):
        x = np.mean(W[words], axis=0) if len(words) < W.shape[0] else x
    dtype = layer.dtype

    def support_at(alpha):
        z = (alpha * (W @ x) + b).astype(dtype)
        return np.isfinite(act(z[None], **layer.params)[0])

    want = np.zeros(W.shape[0], dtype=bool)
    want[words] = True
    alphas = np.logspace(-8, 8, n_scales)
    sizes = []
    for a in alphas:
        s = support_at(a)
        if np.array_equal(s, want):
            return _support_found(key, x * a, top, act)
        sizes.append(s.sum())
    k = len(words)
    for i in range(len(alphas) - 1):
        if (sizes[i] - k) * (sizes[i + 1] - k) < 0:   # crosses |S| between them
            lo, hi = np.log(alphas[i]), np.log(alphas[i + 1])
            for _ in range(max_bisections):
                mid = 0.5 * (lo + hi)
                s = support_at(math.exp(mid))
                if np.array_equal(s, want):
                    return _support_found(key, x * math.exp(mid), top, act)
                if (s.sum() > k) == (sizes[i] > k):
                    lo = mid
                else:
                    hi = mid
    return RealizableReport(
        "support", key, None, "lower-bound", n_lp=top.n_lp,
        note="a realizable top set, but no context on its witness ray gives exactly "
             "this support" + (" (with a bias the ray search is a heuristic)"
                               if b.any() else ""))


def _support_found(key, h, top, act):
    return RealizableReport("support", key, True, "exact", h, method="scaled",
                            n_lp=top.n_lp,
                            note=f"{act.name}'s own output at the witness has exactly "
                                 "this support")


# ---------------------------------------------------------------------------
# Vocabulary scale
# ---------------------------------------------------------------------------


def _n_total(M, k, question):
    return math.comb(M, k) if question == "set" else math.perm(M, k)


def _sample_questions(M, k, question, n, rng):
    """`n` distinct uniform questions (sets sorted)."""
    seen, out = set(), []
    total = _n_total(M, k, question)
    n = min(n, total)
    while len(out) < n:
        q = rng.choice(M, size=k, replace=False)
        if question == "set":
            q = np.sort(q)
        key = tuple(q.tolist())
        if key not in seen:
            seen.add(key)
            out.append(q)
    return np.array(out, dtype=int)


def _enumerate(M, k, question):
    make = itertools.combinations if question == "set" else itertools.permutations
    return np.array(list(make(range(M), k)), dtype=int).reshape(-1, k)


def realizable_fraction(layer_or_W, k, bias=None, *, question="set", n_samples=2000,
                        max_enumerate=20000, confidence=0.95, n_contexts=100000,
                        seed=0, progress=None):
    r"""The fraction of top-k sets (or orderings) a layer can produce.

    * **Exact** when there are at most `max_enumerate` questions
      (``C(M, k)`` sets, ``M!/(M-k)!`` orderings): each is decided with
      proof (:func:`realizable_set`, :func:`realizable_order`), cheap
      candidate contexts first in batched products and an LP only for the
      rest.
    * **Sampled** otherwise: `n_samples` distinct questions drawn uniformly,
      each decided exactly, and the Clopper–Pearson interval at
      `confidence` (exact binomial, ``scipy.stats.binomtest``).
    * **Mixtures** (a :class:`~rankbottleneck.MixtureLayer`): the number of
      distinct top-k sets or orderings seen at `n_contexts` sampled contexts,
      over all of them: a proven lower bound (each was seen), not an
      estimate.

    A pointwise layer with a strictly increasing activation gives the
    linear layer's answer (see :mod:`rankbottleneck.topk`).

    Parameters
    ----------
    layer_or_W : (M, d) array_like, PointwiseLayer or MixtureLayer
    k : int
        ``1 ≤ k < M`` (``k = M`` for orderings: full rankings).
    bias : (M,) array_like, optional
    question : {"set", "order"}
    n_samples, max_enumerate : int
    confidence : float in (0, 1)
    n_contexts : int
        Mixtures only.
    seed : None, int or Generator
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    RealizableFraction

    See Also
    --------
    realizable_set, realizable_order : one question.
    ranking_count : the exact count of full orderings.
    RealizableFraction : what is returned.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> frac = rb.realizable_fraction(W, 2)        # 4 of the 6 pairs are neighbours
    >>> round(frac.fraction, 4), frac.method
    (0.6667, 'exact')
    """
    import scipy.stats

    t0 = time.perf_counter()
    if question not in ("set", "order"):
        raise ValueError(f"question must be 'set' or 'order'; got {question!r}")
    W, b, layer = _linear_of(layer_or_W, bias)
    M = W.shape[0]
    k = _as_int(k, "k", low=1, high=M if question == "order" else M - 1)
    n_samples = _as_int(n_samples, "n_samples", low=1)
    max_enumerate = _as_int(max_enumerate, "max_enumerate", low=0)
    confidence = _as_scalar(confidence, "confidence", low=0, high=1, low_open=True,
                            high_open=True)
    rng = np.random.default_rng(seed)
    total = _n_total(M, k, question)
    act = None if layer is None else (
        layer.base if isinstance(layer, MixtureLayer) else layer.activation)
    if act is not None and act.sparse:
        raise TypeError(f"{act.name} gives exact zeros; ask realizable_support per "
                        "set instead")
    if isinstance(layer, MixtureLayer) or (act is not None and not act.increasing):
        n_contexts = _as_int(n_contexts, "n_contexts", low=1)
        X = _mixture_contexts(layer, n_contexts, rng)
        tops, gaps = _sampled_topk(layer, X, k, question)
        eps = np.finfo(np.float64).eps
        distinct = np.unique(tops[gaps > 1e3 * eps], axis=0)
        seen = len(distinct)
        return RealizableFraction(question, k, M, total, n_contexts, seen,
                                  0, 0, (seen / total, 1.0), "sampled-contexts",
                                  confidence, 1.0, 0, time.perf_counter() - t0,
                                  distinct, np.full(seen, True, dtype=object))
    exact = total <= max_enumerate
    Q = (_enumerate(M, k, question) if exact
         else _sample_questions(M, k, question, n_samples, rng))
    feasible, method, n_lp, _, _ = _decide_many(
        W, b, Q, question, progress=progress,
        desc=f"top-{k} {'sets' if question == 'set' else 'orderings'}")
    yes = int(np.sum(feasible == True))  # noqa: E712
    no = int(np.sum(feasible == False))  # noqa: E712
    und = len(Q) - yes - no
    n = len(Q)
    if exact:
        interval = (yes / n, (yes + und) / n)
    else:
        lo = scipy.stats.binomtest(yes, n).proportion_ci(confidence, "exact").low
        hi = scipy.stats.binomtest(yes + und, n).proportion_ci(confidence, "exact").high
        interval = (float(lo), float(hi))
    # the exact simplex is an LP too
    cheap = (float(np.mean(~np.isin(method[feasible == True], ("lp", "exact"))))  # noqa: E712
             if yes else 0.0)
    return RealizableFraction(question, k, M, total, n, yes, no, und, interval,
                              "exact" if exact else "sampled", confidence, cheap,
                              n_lp, time.perf_counter() - t0, Q, feasible)


# ---------------------------------------------------------------------------
# Counting full rankings
# ---------------------------------------------------------------------------


def _unsigned_stirling_head(n, d):
    """``|s(n, n - i)|`` for ``i = 0..d``: the elementary symmetric
    polynomials ``e_i`` of ``1, …, n-1`` (exact integers), in ``O(d²)``
    integer operations whatever `n`.

    The power sums ``p_k = Σ_{j<n} j^k`` follow from the telescoping
    identity ``Σ_{m≤k} C(k+1, m) p_m = n^{k+1} - 1``, and the ``e_i`` from
    Newton's identities ``i e_i = Σ_{k=1}^{i} (-1)^{k-1} e_{i-k} p_k``; every
    division is exact.
    """
    d = min(d, n - 1)
    p, power, binom = [n - 1], n, [1, 1]        # binom: row k of Pascal's triangle
    for k in range(1, d + 1):
        power *= n
        binom = [1, *map(operator.add, binom[:-1], binom[1:]), 1]
        p.append((power - 1 - sum(map(operator.mul, binom[:k], p))) // (k + 1))
    signed = [0] + [pk if k % 2 else -pk for k, pk in enumerate(p) if k]
    e = [1]
    for i in range(1, d + 1):
        e.append(sum(map(operator.mul, reversed(e), signed[1:i + 1])) // i)
    return e


def ranking_count(n_words, d, *, has_bias=False, bias=None):
    r"""How many full rankings of `n_words` generic embeddings in ``R^d`` exist.

    A ranking is realised where ``z = W x (+ b)`` has that order; the
    regions are the chambers of the braid arrangement ``{z_i = z_j}`` cut by
    the d-dimensional (affine) subspace of reachable logits. With
    ``b_i = |s(M, M - i)|`` (unsigned Stirling numbers of the first kind,
    the coefficients of ``(t - 1)(t - 2)…(t - M + 1)``), Zaslavsky's theorem
    for a generic section gives

    .. math::
        Q(M, d) = 2 \sum_{j \ge 0} b_{d-1-2j}
        \quad\text{(no bias; Cover 1967)}, \qquad
        Q_b(M, d) = \sum_{i=0}^{d} b_i \quad\text{(with a bias)},

    and ``M!`` once ``d ≥ M - 1``. For ``d = 1`` these are 2 (a line read
    both ways) and ``1 + C(M, 2)`` (M lines in the plane cross
    ``C(M, 2)`` times).

    Parameters
    ----------
    n_words : int
        ``M ≥ 1``.
    d : int
        ``d ≥ 1``.
    has_bias : bool
        Whether the layer has a bias (every other function's `bias` is the
        bias vector itself).
    bias : bool, optional
        The old spelling of `has_bias`; deprecated.

    Returns
    -------
    int

    See Also
    --------
    realizable_order : decides one ordering.
    realizable_fraction : the share of top-k orderings.

    Examples
    --------
    >>> from rankbottleneck import ranking_count
    >>> ranking_count(4, 2), ranking_count(4, 3)    # of 4! = 24 orderings
    (12, 24)
    """
    M = _as_int(n_words, "n_words", low=1)
    d = _as_int(d, "d", low=1)
    bias = _has_bias(has_bias, bias, "ranking_count")
    if d >= M - 1:
        return math.factorial(M)
    b = _unsigned_stirling_head(M, d)
    if bias:
        return sum(b[:d + 1])
    return 2 * sum(b[i] for i in range(d - 1, -1, -2))
