r"""Which words can ever be the argmax: exact feasibility at vocabulary scale.

Word ``i`` of a layer with logits ``z = W h + b`` can be the *strict* argmax
for some context iff the open polyhedron

.. math:: P_i = \{x : (w_j - w_i)^T x + b_j - b_i < 0 \;\; \forall j \ne i\}

is non-empty (Demeter et al. 2020 [1]_; Grivas et al. 2022 [2]_). Without a bias this
says that ``w_i`` is a vertex of the convex hull of the rows of ``W``.

Every answer here comes with something the user can check:

* an argmaxable word has a **witness** ``h`` with ``argmax(W h + b) = i``
  and a margin ``z_i - max_{j≠i} z_j`` larger than the rounding error of
  the scores (``2 d ε ‖h‖ max_j ‖w_j‖ + 2 ε max|b|``, stated in the report);
* an unargmaxable word has a **certificate** from Motzkin's transposition
  theorem: ``P_i`` is empty iff there are convex weights ``λ`` (``λ ≥ 0``,
  ``Σλ = 1``) over the other words with

  .. math:: w_i = \sum_j λ_j w_j, \qquad b_i \le \sum_j λ_j b_j,

  so that ``z_i ≤ Σ_j λ_j z_j ≤ max_{j ∈ supp λ} z_j`` for every context.
  Without a bias this writes ``w_i`` as a convex combination of other rows.

How words are decided, cheapest first:

1. exact duplicates (a word equal to another with no smaller bias is never a
   strict argmax; certificate ``λ = e_j``);
2. candidate contexts in batched matrix products: the whitened
   ``h = Σ⁻¹(w_i - μ)`` (``Σ`` the covariance of the rows, so that
   anisotropic embeddings look isotropic), ``h = w_i``, random directions (their top word), then a few
   rounds of relaxed projection onto the most violated constraint (the
   Agmon–Motzkin relaxation method, in the spirit of Grivas et al.'s
   braid-reflect search);
3. the rest by the Chebyshev-centre linear program (HiGHS)

   .. math:: \max_{x, r \le 1} r \quad\text{s.t.}\quad
             (w_j - w_i)^T x + ‖w_j - w_i‖ r \le b_i - b_j

   solved by **constraint generation**: over a working set of competitors
   (the strongest at the best context found so far); an infeasible working
   set is already a global certificate, and a feasible one is checked
   against all M words, adding the violators until the witness holds. The
   dual of the LP gives ``λ``, polished by non-negative least squares on its
   support and then verified.

A word is reported unargmaxable only with a verified certificate; a word for
which neither verifies (a numerically degenerate case, e.g. a word exactly on
the boundary of the hull) is reported *undecided*, never guessed.

References
----------
.. [1] D. Demeter, G. Kimmel, D. Downey, "Stolen probability: a structural
   weakness of neural language models", ACL 2020, arXiv:2005.02433.
.. [2] A. Grivas, N. Bogoychev, A. Lopez, "Low-rank softmax can have
   unargmaxable classes in theory but rarely in practice", ACL 2022,
   arXiv:2203.06462.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._progress import progress_bar
from ._result import Result, Verification
from ._validation import (
    _as_float_array,
    _as_int,
    _as_scalar,
    _check_embeddings,
    _check_fits_in_memory,
)
from .feasibility._candidates import whitening, whitening_factor
from .feasibility._lp import LPFailed, decide, solve
from .feasibility._proof import tiers_hold
from .feasibility._scale import to_unit
from .feasibility._scores import Scores, project, whitened_screen
from .feasibility._systems import argmax_certificate, certificate_holds, set_system
from .layers import MixtureLayer, PointwiseLayer

__all__ = [
    "ArgmaxReport",
    "argmaxable",
    "argmaxable_lp_baseline",
    "ArgmaxUnderReport",
    "argmaxable_under",
    "dominating_word",
]

ARGMAXABLE, UNARGMAXABLE, UNDECIDED = 1, 0, -1

METHODS = ("duplicate", "self", "whitened", "random", "projection", "nnls", "lp",
           "exact")


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ArgmaxReport(Result):
    """Which words can be the strict argmax, with evidence for each.

    Attributes
    ----------
    mask : (M,) bool ndarray
        True for argmaxable words.
    status : (M,) int ndarray
        1 argmaxable, 0 unargmaxable, -1 undecided (numerically degenerate).
    method : (M,) ndarray of str
        How each word was decided: ``"self"``, ``"whitened"``, ``"random"``,
        ``"projection"`` (cheap witnesses), ``"nnls"`` (a certificate on the
        words around it, found without an LP), ``"lp"``, ``"exact"`` (the
        rational simplex), ``"duplicate"``, or
        ``""`` when undecided.
    witnesses : (M, d) ndarray
        A context for each argmaxable word (NaN rows elsewhere).
    margins : (M,) ndarray
        ``z_i - max_{j≠i} z_j`` at the witness (NaN elsewhere).
    margin_tolerance : (M,) ndarray
        The rounding bound each margin had to exceed.
    certificates : dict
        ``{i: (indices, weights)}`` for unargmaxable words: convex weights
        ``λ`` with ``w_i = Σ λ_j w_j`` and ``b_i ≤ Σ λ_j b_j``.
    n_lp : int
        Linear programs solved (constraint-generation rounds included).
    seconds : float
    exact_witnesses : dict
        ``{i: tuple of Fraction}`` for argmaxable words whose region is too
        thin for a float context to hit (found by the exact simplex; their
        row of `witnesses` is the nearest float, for display).

    See Also
    --------
    argmaxable, argmaxable_under : make one.
    rankbottleneck.RealizableReport : the same for top-k sets and orderings.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    >>> rep = rb.argmaxable(W)
    >>> rep.mask.tolist(), rep.unargmaxable.tolist()
    ([True, True, True, False], [3])
    >>> rep.verify(W)                               # every proof re-checked
    Verification(holds: the evidence of all 4 words)
    """

    mask: np.ndarray = field(repr=False)
    status: np.ndarray = field(repr=False)
    method: np.ndarray = field(repr=False)
    witnesses: np.ndarray = field(repr=False)
    margins: np.ndarray = field(repr=False)
    margin_tolerance: np.ndarray = field(repr=False)
    certificates: dict = field(repr=False)
    n_lp: int = 0
    seconds: float = 0.0
    exact_witnesses: dict = field(default_factory=dict, repr=False)

    @property
    def M(self):
        return self.mask.shape[0]

    @property
    def unargmaxable(self):
        """Indices of the words that can never be the strict argmax."""
        return np.flatnonzero(self.status == UNARGMAXABLE)

    @property
    def undecided(self):
        return np.flatnonzero(self.status == UNDECIDED)

    @property
    def fraction_cheap(self):
        """Fraction of words decided without a linear program."""
        return float(np.mean(np.isin(self.method, METHODS[:6])))

    def counts(self):
        """``{method: number of words}``."""
        values, counts = np.unique(self.method, return_counts=True)
        return {("undecided" if v == "" else str(v)): int(c)
                for v, c in zip(values, counts)}

    def _as_dict_fields(self):
        """The counts, each word's verdict (int8 code), method, margin and
        tolerance, the certificates and exact witnesses. The (M, d)
        `witnesses` are left out (a vocabulary's would fill hundreds of
        megabytes of JSON; ``numpy.save`` keeps them), and `mask`, which is
        ``status == 1``."""
        return {
            "M": self.M, "d": self.witnesses.shape[1],
            "argmaxable": int(self.mask.sum()),
            "unargmaxable": len(self.unargmaxable), "undecided": len(self.undecided),
            "status": self.status.astype(np.int8), "method": self.method,
            "margins": self.margins, "margin_tolerance": self.margin_tolerance,
            "certificates": {int(i): {"words": j, "weights": lam}
                             for i, (j, lam) in self.certificates.items()},
            "exact_witnesses": {int(i): list(x)
                                for i, x in self.exact_witnesses.items()},
            "by_method": self.counts(), "n_lp": self.n_lp, "seconds": self.seconds,
        }

    def verify(self, W, bias=None):
        """Re-check every witness and certificate against `W` and `bias`.

        Exact for the given floats: a witness is checked with rigorous
        rounding bounds and, where those are too close to call, in rational
        arithmetic; a certificate holds only if exact convex weights exist
        on its support (see :mod:`rankbottleneck.feasibility`).

        Returns
        -------
        Verification
            Truthy iff every witness and certificate holds (and every
            decided word has its evidence, and `mask` agrees with
            `status`); ``.failing`` holds the indices of the words that
            fail. (It used to be that index array: ``len(...) == 0`` still
            means that all holds.)

        Raises
        ------
        ValueError
            If `W` or `bias` does not have the shape the report was made for.
        """
        W, b = _check_embeddings(W, bias)
        if W.shape != self.witnesses.shape:
            raise ValueError(f"W must have shape {self.witnesses.shape} (the "
                             f"layer this report decided); got shape {W.shape}")
        bad = []
        scores = Scores(W, b)
        idx = np.flatnonzero(self.status == ARGMAXABLE)
        for i, x in self.exact_witnesses.items():
            if not tiers_hold(W, b, np.array(x, dtype=object), [[i]]):
                bad.append(i)
        idx = idx[~np.isin(idx, list(self.exact_witnesses))]
        for start in range(0, len(idx), 256):
            block = idx[start:start + 256]
            ok, _, _ = scores.witnesses(block[:, None], self.witnesses[block])
            bad += list(block[~ok])
        for i, (j, lam) in self.certificates.items():
            if not _argmax_certificate_holds(W, b, i, j, lam):
                bad.append(i)
        # every decided word has its evidence, and the mask says what it does
        bad += [int(i) for i in np.flatnonzero(self.status == UNARGMAXABLE)
                if int(i) not in self.certificates]
        bad += [int(i) for i in np.flatnonzero(self.mask != (self.status == ARGMAXABLE))]
        return Verification(failing=np.array(sorted(set(bad)), dtype=int),
                            n_checked=self.M, what="words")

    def plot(self, ax=None):
        """Words by how they were decided, split into argmaxable (blue),
        unargmaxable (red) and undecided (grey), on a log scale. Returns the
        axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        methods = [m for m in (*METHODS, "single", "") if np.any(self.method == m)]
        x = np.arange(len(methods))
        bottom = np.zeros(len(methods))
        for status, color, label in ((ARGMAXABLE, "C0", "argmaxable"),
                                     (UNARGMAXABLE, "C3", "unargmaxable"),
                                     (UNDECIDED, "0.6", "undecided")):
            n = np.array([np.sum((self.method == m) & (self.status == status))
                          for m in methods], dtype=float)
            if n.any():
                ax.bar(x, n, bottom=bottom, color=color, label=label)
            bottom += n
        ax.set_xticks(x, [m or "undecided" for m in methods], fontsize=7, rotation=30)
        ax.set_yscale("log")
        ax.set(xlabel="decided by", ylabel="words")
        ax.set_title(f"{int(self.mask.sum())} of {self.M} argmaxable, "
                     f"{len(self.unargmaxable)} not, {len(self.undecided)} undecided",
                     fontsize=9)
        ax.legend(fontsize=7)
        return ax

    def __repr__(self):
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        return (
            f"ArgmaxReport(M={self.M}: argmaxable {int(self.mask.sum())}, "
            f"unargmaxable {len(self.unargmaxable)}, undecided {len(self.undecided)}; "
            f"decided without LP {100 * self.fraction_cheap:.1f}%; by method: "
            f"{counts}; {self.n_lp} LPs, {self.seconds:.1f} s)"
        )


# ---------------------------------------------------------------------------
# The main entry point
# ---------------------------------------------------------------------------


class _Decisions:
    """What is known about every word so far: its status, how it was
    decided, and the evidence (witness, margin and its tolerance, or
    certificate). The phases of :func:`argmaxable` fill it in."""

    def __init__(self, W, b, box, exponent=0):
        M, d = W.shape
        self.W, self.b, self.box = W, b, box
        # the data were scaled by 2**-exponent (feasibility._scale): margins
        # are reported in the user's units
        self.exponent = exponent
        self.scores = Scores(W, b)     # once: every witness check needs it
        self.status = np.full(M, UNDECIDED, dtype=np.int8)
        self.method = np.full(M, "", dtype="<U10")
        self.witnesses = np.full((M, d), np.nan)
        self.margins = np.full(M, np.nan)
        self.tols = np.full(M, np.nan)
        self.certificates = {}
        self.exact_witnesses = {}
        self.n_lp = 0
        self.advance = lambda phase: None      # progress, after every block

    def undecided(self):
        return np.flatnonzero(self.status == UNDECIDED)

    def accept(self, idx, H, how, proved=None):
        """Mark the words `idx` argmaxable where their contexts `H` verify
        (or where `proved`, a ``(ok, margin, tol)`` already established)."""
        ok, margin, tol = (self.scores.witnesses(idx[:, None], H) if proved is None
                           else proved)
        if self.box is not None:
            ok &= np.all(np.abs(H) <= self.box, axis=1)
        sel = idx[ok]
        self.status[sel], self.method[sel] = ARGMAXABLE, how
        self.witnesses[sel], self.margins[sel], self.tols[sel] = (
            H[ok], margin[ok], tol[ok])
        self.advance(how)
        return ok

    def report(self, seconds):
        return ArgmaxReport(self.status == ARGMAXABLE, self.status, self.method,
                            self.witnesses, np.ldexp(self.margins, self.exponent),
                            np.ldexp(self.tols, self.exponent),
                            self.certificates, self.n_lp, seconds,
                            self.exact_witnesses)


def _phase_duplicates(dec):
    """1. A word with an identical twin of no smaller bias is never a strict
    argmax: certificate ``λ = e_j``."""
    b = dec.b
    for members in _identical_rows(dec.W):
        for i in members:
            others = members[(members != i) & (b[members] >= b[i])]
            if len(others):
                dec.status[i], dec.method[i] = UNARGMAXABLE, "duplicate"
                dec.certificates[int(i)] = (others[:1], np.array([1.0]))


def _identical_rows(W):
    """The groups (index arrays) of two or more equal rows of `W`.

    Rows are grouped by a hash of their bytes (``-0.0`` made ``0.0`` first),
    then compared exactly: a pass over the data instead of a sort of it.
    """
    Wc = np.ascontiguousarray(W + 0.0)
    h = np.array([hash(r.tobytes()) for r in Wc], dtype=np.int64)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    bounds = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        members = order[s:e]
        while len(members) > 1:
            same = np.all(Wc[members] == Wc[members[0]], axis=1)
            if same.sum() > 1:
                yield members[same]
            members = members[~same]


def _phase_candidates(dec, mu, whiten, block):
    """2a. The whitened ``h = Σ⁻¹(w_i - μ)``, then ``h = w_i``.

    On a large layer whose words are (nearly) all still open, the whitened
    candidates of all of them are scored at once from the symmetric
    product of :func:`~rankbottleneck.feasibility._scores.whitened_screen`
    (half the flops); the few it cannot prove are checked as usual.
    """
    W = dec.W

    def whitened(idx):
        return (W[idx] - mu) @ whiten

    todo = dec.undecided()
    L = (whitening_factor(whiten)
         if dec.scores.screened and 2 * len(todo) > W.shape[0] else None)
    if L is not None:
        H, margin, tol = whitened_screen(W, dec.b, mu, L)
        ok = margin[todo] > tol[todo]
        proved = todo[ok]
        dec.accept(proved, H[proved], "whitened",
                   proved=(np.ones(len(proved), dtype=bool), margin[proved], tol[proved]))
        whitened = H.__getitem__            # the others: the same candidates
    for how, make in (("whitened", whitened), ("self", lambda idx: W[idx])):
        todo = dec.undecided()
        for s in range(0, len(todo), block):
            idx = todo[s:s + block]
            dec.accept(idx, make(idx), how)


def _phase_random(dec, whiten, rng, n_random, block, patience=4):
    """2b. Random directions: the top word of each one is argmaxable.

    Stops early once `patience` blocks in a row find no new word: the words
    left are then the ones random directions almost never reach (thin or
    empty cones), and the projection and the LP decide them for less.
    """
    d = dec.W.shape[1]
    idle = 0
    for s in range(0, n_random, block):
        if not np.any(dec.status == UNDECIDED) or idle >= patience:
            break
        H = rng.standard_normal((min(block, n_random - s), d)) @ whiten
        top = dec.scores.top(H)
        new = dec.status[top] == UNDECIDED
        idle += 1
        if new.any():
            idx, first = np.unique(top[new], return_index=True)
            if dec.accept(idx, H[new][first], "random").any():
                idle = 0


def _phase_projection(dec, mu, whiten, rounds, block):
    """2c. Relaxed projection onto the most violated constraint
    (:func:`~rankbottleneck.feasibility._scores.project`); returns the last
    context of every word it did not decide."""
    todo = dec.undecided()
    best_h = {}
    for s in range(0, len(todo), block):
        idx = todo[s:s + block]
        H = project(dec.scores, idx[:, None], (dec.W[idx] - mu) @ whiten, "set",
                    whiten, rounds)
        ok = dec.accept(idx, H, "projection")
        for k in np.flatnonzero(~ok):
            best_h[int(idx[k])] = H[k]
    return best_h


def _phase_lp(dec, start_of, max_rounds, after_each=None, seed_of=None):
    """3. The exact engine, word by word (a certificate first sought around
    `seed_of(i)`, a witness from `start_of(i)`): word ``i`` is the one-word set
    question ``z_i > y ≥ z_j`` (:func:`~rankbottleneck.feasibility._lp.decide`:
    constraint generation from the best cheap context, then, for a small
    layer the floats leave undecided, the exact simplex)."""
    W, b = dec.W, dec.b
    k0 = min(W.shape[0] - 1, 64)
    # an interior word's certificate needs d + 1 words around it: try twice
    # that many by NNLS before any LP. In high dimension that is more than one
    # round of constraint generation adds; in low dimension, where most words
    # are interior, it replaces an LP per word (argmaxable_vs_dim: 2.3x)
    around = min(W.shape[0] - 1, 2 * (W.shape[1] + 1))
    for i in dec.undecided():
        got = decide(set_system([i]), W, b, start_of(i), box=dec.box, k0=k0,
                     max_rounds=max_rounds, w1=dec.scores.w1, repair_rounds=0,
                     first_certificate=around,
                     certificate_from=None if seed_of is None else seed_of(i))
        dec.n_lp += got.n_lp
        if got.feasible:
            x = got.witness
            if x.dtype == object:          # a rational witness (exact simplex)
                dec.exact_witnesses[int(i)] = tuple(x)
                x = x.astype(np.float64)
            dec.status[i], dec.method[i] = ARGMAXABLE, got.method
            dec.witnesses[i], dec.margins[i], dec.tols[i] = x, got.margin, got.tol
        elif got.feasible is False:
            dec.status[i], dec.method[i] = UNARGMAXABLE, got.method
            cert = got.certificate
            dec.certificates[int(i)] = (cert.rest, cert.mu / cert.nu[0])
        if after_each is not None:
            after_each()


def _argmax_certificate_holds(W, b, i, j, lam):
    """Whether exact convex weights exist on the support `j` with
    ``w_i = Σ λ_j w_j`` and ``b_i ≤ Σ λ_j b_j``."""
    j = np.asarray(j, dtype=int)
    lam = np.asarray(lam, dtype=np.float64)
    if len(j) == 0 or len(j) != len(lam):
        return False
    system, cert = argmax_certificate(i, j, lam)
    return certificate_holds(system, W, b, cert)


_ELSEWHERE = 2      # a word another task decides (argmaxable on a cluster)


def _run_phases(dec, rng, n_random, projection_rounds, block, max_lp_rounds,
                advance=lambda phase: None):
    # the search may overflow far from the data's scale; every answer is proved
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        W = dec.W
        _phase_duplicates(dec)
        advance("duplicates")
        mu, whiten = whitening(W)
        _phase_candidates(dec, mu, whiten, block)
        advance("candidates")
        _phase_random(dec, whiten, rng, n_random, block)
        advance("random")
        best_h = _phase_projection(dec, mu, whiten, projection_rounds, block)
        advance("projection")
        _phase_lp(dec, lambda i: best_h.get(int(i), (W[i] - mu) @ whiten),
                  max_lp_rounds, after_each=lambda: advance("LP"),
                  seed_of=lambda i: (W[i] - mu) @ whiten)
        advance("done")


def _decide_words(W, b, words, *, seed, n_random, projection_rounds, box, block,
                  max_lp_rounds):
    """:func:`argmaxable`'s phases for `words` only (a task on a cluster):
    their status, method, witnesses, margins, tolerances, certificates and
    the LPs solved."""
    dec = _Decisions(W, b, box)
    mine = np.zeros(W.shape[0], dtype=bool)
    mine[words] = True
    dec.status[~mine] = _ELSEWHERE
    _run_phases(dec, np.random.default_rng(seed), n_random, projection_rounds, block,
                max_lp_rounds)
    certs = {i: c for i, c in dec.certificates.items() if mine[i]}
    certs.update({("exact witness", i): x for i, x in dec.exact_witnesses.items()
                  if mine[i]})
    return (words, dec.status[words], dec.method[words], dec.witnesses[words],
            dec.margins[words], dec.tols[words], certs, dec.n_lp)


def argmaxable(W, bias=None, *, seed=0, n_random=None, projection_rounds=20,
               box=None, block=256, max_lp_rounds=50, progress=None, client=None):
    r"""Decide for every word whether it can be the strict argmax of ``W h + b``.

    Exact: argmaxable words come with a verified witness context,
    unargmaxable ones with a verified Motzkin certificate (see the module
    docstring), and anything neither can verify is reported undecided.

    Parameters
    ----------
    W : (M, d) array_like
        Word embeddings (output layer rows).
    bias : (M,) array_like, optional
    seed : None, int or numpy.random.Generator
        For the random candidate directions (the answer does not depend on
        it; only which method decides a word and how fast).
    n_random : int, optional
        Random directions tried at most; default ``min(4M, 20000)``. The
        search stops early once four blocks in a row find no new word.
    projection_rounds : int
        Rounds of relaxed projection before the LP.
    box : float, optional
        Restrict witnesses to ``|x_k| ≤ box`` (Grivas et al. use 100). The
        default, no box, answers the question exactly; with a box a word
        whose region lies outside it is reported unargmaxable *within the
        box* (its certificate then fails :meth:`ArgmaxReport.verify`'s
        unboxed check, which is how to tell).
    block : int
        Candidate contexts per matrix product.
    max_lp_rounds : int
        Constraint-generation rounds before one LP over all words.
    progress : bool, optional
        A progress bar of decided words on stderr (default: when stderr is a
        terminal).
    client : distributed.Client, optional
        Decide the words in parallel chunks on a Dask cluster (each task runs
        these phases for its chunk against all of ``W``). The witnesses and
        certificates are verified here, where they are gathered; the mask
        is the single-machine mask.

    Returns
    -------
    ArgmaxReport

    See Also
    --------
    argmaxable_under : the same question for a layer with an activation.
    realizable_set, realizable_order : whole top-k sets and orderings.
    dominating_word : the word that takes an unargmaxable word's mass.
    ArgmaxReport : what is returned.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.argmax import argmaxable
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    >>> rep = argmaxable(W)               # the origin is inside the triangle
    >>> rep.mask.tolist(), rep.certificates[3][1].round(3).tolist()
    ([True, True, True, False], [0.333, 0.333, 0.333])
    """
    start = time.perf_counter()
    W, b = _check_embeddings(W, bias)
    M = W.shape[0]
    if box is not None:
        box = _as_scalar(box, "box", low=0, low_open=True)
    n_random = min(4 * M, 20000) if n_random is None else _as_int(
        n_random, "n_random", low=0)
    projection_rounds = _as_int(projection_rounds, "projection_rounds", low=0)
    block = _as_int(block, "block", low=1)
    max_lp_rounds = _as_int(max_lp_rounds, "max_lp_rounds", low=1)
    rng = np.random.default_rng(seed)
    if client is not None:           # checked even where it is not needed
        from .cluster import _require_client

        _require_client(client)
    user_W, user_b = W, b
    W, b, exponent = to_unit(W, b)
    dec = _Decisions(W, b, box, exponent)
    if M == 1:
        # no competitor: every context makes the only word the argmax
        dec.status[0], dec.method[0] = ARGMAXABLE, "single"
        dec.witnesses[0], dec.margins[0], dec.tols[0] = 0.0, np.inf, 0.0
        return dec.report(time.perf_counter() - start)
    if client is not None:
        from .cluster import _argmaxable_on

        options = dict(seed=seed, n_random=n_random,
                       projection_rounds=projection_rounds, box=box, block=block,
                       max_lp_rounds=max_lp_rounds)
        for words, st, how, wit, margins, tols, certs, n_lp in _argmaxable_on(
                client, _decide_words, W, b, options):
            dec.status[words], dec.method[words] = st, how
            dec.witnesses[words], dec.margins[words], dec.tols[words] = wit, margins, tols
            for key, value in certs.items():
                if isinstance(key, tuple):         # ("exact witness", i)
                    dec.exact_witnesses[key[1]] = value
                else:
                    dec.certificates[key] = value
            dec.n_lp += n_lp
        report = dec.report(time.perf_counter() - start)
        # (a boxed certificate fails the unboxed check by design: see `box`)
        failed = (report.verify(user_W, user_b).failing if box is None
                  else np.zeros(0, dtype=int))
        if len(failed):
            dec.status[failed], dec.method[failed] = UNDECIDED, ""
            for i in failed:
                dec.certificates.pop(int(i), None)
            report = dec.report(time.perf_counter() - start)
        return report
    with progress_bar(M, "argmaxable", progress, unit="word") as bar:
        def advance(phase):
            done = M - len(dec.undecided())
            bar.set_postfix_str(phase, refresh=False)
            bar.update(done - bar.n)

        dec.advance = advance
        _run_phases(dec, rng, n_random, projection_rounds, block, max_lp_rounds,
                    advance)
    return dec.report(time.perf_counter() - start)


def argmaxable_lp_baseline(W, bias=None, *, words=None, box=None):
    """One Chebyshev-centre LP per word against all the others (the baseline).

    What :func:`argmaxable` is measured against: exact, but one full
    ``(M-1) × (d+1)`` LP per word.

    Returns
    -------
    (n,) int ndarray
        Status (1 argmaxable, 0 not, -1 the solver failed) of each word in
        `words` (default all), decided by the sign of the optimal radius.
    """
    W, b = _check_embeddings(W, bias)
    M = W.shape[0]
    words = np.arange(M) if words is None else np.asarray(words, dtype=int)
    out = np.zeros(len(words), dtype=np.int8)
    for k, i in enumerate(words):
        try:
            r, *_ = solve(set_system([i]), W, b, np.setdiff1d(np.arange(M), [i]), box)
            out[k] = ARGMAXABLE if r > 0 else UNARGMAXABLE
        except LPFailed:
            out[k] = UNDECIDED
    return out


# ---------------------------------------------------------------------------
# Stolen probability
# ---------------------------------------------------------------------------


def dominating_word(report, W, bias, i, h):
    r"""The word that out-scores interior word `i` at context `h`.

    From the certificate ``w_i = Σ λ_j w_j``, ``b_i ≤ Σ λ_j b_j``:
    ``z_i ≤ Σ λ_j z_j ≤ max_{j ∈ supp λ} z_j``, so the word ``j*`` that
    maximises ``z_j`` over the certificate's support has ``z_{j*} ≥ z_i``
    (repeated through ``j*``'s own certificate while ``j*`` is interior too,
    until an argmaxable word is reached) and,
    under softmax or any increasing activation, ``p_{j*} ≥ p_i`` — the bound
    of Demeter et al. 2020 ("stolen probability"): an interior word's
    probability never exceeds that of some hull word, hence never 1/2.

    Returns
    -------
    int
        ``j*``.

    See Also
    --------
    argmaxable : the report it reads.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    >>> rep = rb.argmaxable(W)
    >>> rb.dominating_word(rep, W, None, 3, np.array([2.0, 0.5]))  # word 3 loses to 0 here
    0
    """
    if not isinstance(report, ArgmaxReport):
        raise TypeError(f"report must be the ArgmaxReport of argmaxable(W, bias); got "
                        f"{type(report).__name__}")
    i = _as_int(i, "i", low=0, high=report.M - 1)
    if i not in report.certificates:
        raise ValueError(
            f"word {i} has no unargmaxability certificate in the report (it is "
            "argmaxable or undecided)"
        )
    W, b = _check_embeddings(W, bias)
    h = _as_float_array(h, "h", ndim=1).astype(np.float64)
    if h.shape[0] != W.shape[1]:
        raise ValueError(f"h must have shape ({W.shape[1]},) to match W {W.shape}; "
                         f"got shape {h.shape}")
    # A certificate may lean on other interior words; follow their
    # certificates (the score never decreases) until a hull word is reached.
    seen = {int(i)}
    word = int(i)
    while word in report.certificates:
        j, _ = report.certificates[word]
        word = int(j[np.argmax(W[j] @ h + b[j])])
        if word in seen:
            raise ValueError(f"certificates of word {i} form a cycle at {word}")
        seen.add(word)
    return word


# ---------------------------------------------------------------------------
# Across activations
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ArgmaxUnderReport(Result):
    """Argmaxable (or reachable) words of a layer, and how exact that is.

    Attributes
    ----------
    mask : (M,) bool ndarray
    kind : str
        ``"exact"`` (equal to the linear layer's, by the theorem in
        :func:`argmaxable_under`), ``"exact-support"`` (sparse activations:
        words that can get nonzero probability, exactly), or ``"lower-bound"``
        (found by sampling contexts; more may exist).
    upper : (M,) bool ndarray or None
        A proven upper bound where one is known (mixtures: the linear
        layer's argmaxable words).
    question : str
        ``"argmax"`` or ``"nonzero probability"``.
    linear : ArgmaxReport or None
    note : str
    """

    mask: np.ndarray = field(repr=False)
    kind: str
    question: str
    linear: ArgmaxReport | None = field(default=None, repr=False)
    note: str = ""
    upper: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self):
        upper = "" if self.upper is None else f" (at most {int(self.upper.sum())})"
        return (f"ArgmaxUnderReport({self.question}: {int(self.mask.sum())} of "
                f"{self.mask.shape[0]} words{upper}, {self.kind}; {self.note})")


def argmaxable_under(layer, *, n_contexts=20000, context_scale=None, seed=0,
                     **kwargs):
    r"""Argmaxable words of a layer, asked of its activation's capabilities.

    * **Strictly increasing logit maps** (activations declared
      ``increasing``: softmax, sigsoftmax, GSS, PLIF, sigmoid-normalisation,
      or a user's): exactly the linear layer's answer. *Proof.* These are
      ``p = softmax(φ(z))`` with ``φ`` strictly increasing elementwise, so
      ``z_i > z_j ⟺ φ(z_i) > φ(z_j)`` and the strict argmax of ``log p`` is
      that of ``z = W h + b`` at every ``h``. Hence the set of contexts where
      ``i`` is the strict argmax is the same ``P_i``, and word ``i`` is
      argmaxable under ``φ`` iff it is for the linear layer. ∎
    * **Mixtures** (MoS, MoSS, MoC): the words that are the mode for some of
      `n_contexts` sampled contexts (a *lower bound*), and, when the
      components' ``g = e^φ`` is increasing and convex (declared
      ``increasing`` and ``convex_g``: softmax, sigsoftmax), the linear
      layer's argmaxable words as a proven *upper bound*. *Proof* (all
      components share ``W`` and ``b``). If ``w_i = Σ λ_j w_j`` and
      ``b_i ≤ Σ λ_j b_j`` then ``z_{ki} ≤ Σ λ_j z_{kj}`` in every component
      ``k``, so by monotonicity and Jensen ``g(z_{ki}) ≤ Σ λ_j g(z_{kj})``;
      dividing by the component's normaliser and mixing,
      ``p_i ≤ Σ λ_j p_j ≤ max_j p_j``: an unargmaxable word is never the
      strict mode of the mixture. MoC is a linear layer on the mixed context.
    * **Sparse activations**: which words can get *nonzero* probability at
      all, exactly where the activation declares a ``support`` rule
      (t-softmax: ``p_i > 0`` iff ``z_i > max_j z_j - t``, the LP of
      :func:`argmaxable` with word ``i``'s bias raised by ``t``;
      ReLU-normalisation: ``p_i > 0`` iff ``z_i > 0``, possible iff
      ``w_i ≠ 0`` or ``b_i > 0``; sparsemax without a bias: every word, as a
      context of small enough scale gives the uniform distribution), and
      otherwise sampled over a range of context scales (a lower bound).
    * **Any other dense activation**: the modes of sampled contexts, a lower
      bound.

    Parameters
    ----------
    layer : PointwiseLayer or MixtureLayer
    n_contexts : int
        Contexts sampled where the answer is a lower bound.
    context_scale : float, optional
        Norm of sampled contexts; default 1 (and a range of scales for the
        sparse activations).
    seed : None, int or Generator
    **kwargs
        Passed to :func:`argmaxable`.

    Returns
    -------
    ArgmaxUnderReport

    See Also
    --------
    argmaxable : the linear layer, exactly.
    rankbottleneck.realizable_set : top-k sets under a layer.
    rankbottleneck.symbolic.monotone_preserves_order : why an increasing
        activation keeps the linear layer's answer.

    Examples
    --------
    A word inside the hull of the others is never the argmax, under softmax or
    sigsoftmax alike (both strictly increasing maps of the logits):

    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    >>> rep = rb.argmaxable_under(rb.PointwiseLayer(W, activation="sigsoftmax"))
    >>> rep.mask.tolist(), rep.kind
    ([True, True, True, False], 'exact')
    """
    if not isinstance(layer, (PointwiseLayer, MixtureLayer)):
        raise TypeError("layer must be a PointwiseLayer or a MixtureLayer; got "
                        f"{type(layer).__name__}")
    unknown = sorted(set(kwargs) - _ARGMAXABLE_OPTIONS)
    if unknown:
        raise TypeError(f"argmaxable_under got unexpected keyword argument(s) "
                        f"{', '.join(unknown)}; it takes n_contexts, context_scale, "
                        f"seed and those of argmaxable: "
                        f"{', '.join(sorted(_ARGMAXABLE_OPTIONS))}")
    if kwargs.get("client") is not None:   # checked even where it is not used
        from .cluster import _require_client

        _require_client(kwargs["client"])
    n_contexts = _as_int(n_contexts, "n_contexts", low=1)
    width = layer.d_context if isinstance(layer, MixtureLayer) else layer.d
    _check_fits_in_memory(2 * n_contexts * width * 8,
                          f"{n_contexts} sampled contexts of dimension {width}",
                          "pass fewer n_contexts")
    rng = np.random.default_rng(seed)
    scale = 1.0 if context_scale is None else _as_scalar(
        context_scale, "context_scale", low=0, low_open=True)
    act = layer.base if isinstance(layer, MixtureLayer) else layer.activation
    if isinstance(layer, MixtureLayer):
        G = rng.standard_normal((n_contexts, layer.d_context))
        G *= scale / math.sqrt(layer.d_context)
        modes = _sampled_modes(layer, G)
        if not (act.increasing and act.convex_g):
            return ArgmaxUnderReport(modes, "lower-bound", "argmax", None,
                                     f"modes over {n_contexts} sampled contexts")
        linear = argmaxable(layer.W, layer.bias, **kwargs)
        exact = bool(np.array_equal(modes, linear.mask))
        return ArgmaxUnderReport(
            modes, "exact" if exact else "lower-bound", "argmax", linear,
            f"modes over {n_contexts} sampled contexts; at most the linear layer's "
            f"{int(linear.mask.sum())} argmaxable words (Jensen)", linear.mask)
    if act.increasing:
        rep = argmaxable(layer.W, layer.bias, **kwargs)
        return ArgmaxUnderReport(rep.mask, "exact", "argmax", rep,
                                 f"{act.name} is a strictly increasing map "
                                 "of the logits: same words as the linear layer")
    if kwargs:
        # only the linear layer's argmaxable words use them
        warnings.warn(f"argmaxable_under: {', '.join(sorted(kwargs))} not used: "
                      f"the {act.name} layer's answer does not come from "
                      "argmaxable", UserWarning, stacklevel=2)
    W = layer.W.astype(np.float64)
    b = np.zeros(layer.M) if layer.bias is None else layer.bias.astype(np.float64)
    if not act.sparse:
        H = rng.standard_normal((n_contexts, layer.d)) * (scale / math.sqrt(layer.d))
        return ArgmaxUnderReport(_sampled_modes(layer, H), "lower-bound", "argmax",
                                 None, f"modes over {n_contexts} sampled contexts")
    if act.support is not None:
        found = act.support(W, b, **layer.params)
        if found is not None:
            mask, note = found
            return ArgmaxUnderReport(np.asarray(mask, dtype=bool), "exact-support",
                                     "nonzero probability", None, note)
    # sampled lower bound over several context scales
    mask = np.zeros(layer.M, dtype=bool)
    scales = scale * np.logspace(-2, 1, 7)
    per = max(1, n_contexts // len(scales))
    for s in scales:
        H = rng.standard_normal((per, layer.d)) * (s / math.sqrt(layer.d))
        for _, blk in layer.blocks(H):
            mask |= np.isfinite(blk).any(axis=0)
    return ArgmaxUnderReport(mask, "lower-bound", "nonzero probability", None,
                             f"support seen over {per * len(scales)} sampled contexts "
                             "at scales 0.01 to 10")


#: the keyword arguments argmaxable_under passes on to argmaxable
_ARGMAXABLE_OPTIONS = frozenset(
    name for name, p in inspect.signature(argmaxable).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _sampled_modes(layer, X):
    """Words that are the argmax of the layer's output for some row of `X`."""
    modes = np.zeros(layer.M, dtype=bool)
    for _, blk in layer.blocks(X):
        modes[np.argmax(blk, axis=1)] = True
    return modes
