r"""Which words can ever be the argmax: exact feasibility at vocabulary scale.

Word ``i`` of a layer with logits ``z = W h + b`` can be the *strict* argmax
for some context iff the open polyhedron

.. math:: P_i = \{x : (w_j - w_i)^T x + b_j - b_i < 0 \;\; \forall j \ne i\}

is non-empty (Demeter et al. 2020; Grivas et al. 2022). Without a bias this
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
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from ._validation import _as_float_array, _as_scalar

__all__ = [
    "ArgmaxReport",
    "argmaxable",
    "argmaxable_lp_baseline",
    "ArgmaxUnderReport",
    "argmaxable_under",
    "dominating_word",
]

ARGMAXABLE, UNARGMAXABLE, UNDECIDED = 1, 0, -1
METHODS = ("duplicate", "self", "whitened", "random", "projection", "lp")


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ArgmaxReport:
    """Which words can be the strict argmax, with evidence for each.

    Attributes
    ----------
    mask : (M,) bool ndarray
        True for argmaxable words.
    status : (M,) int ndarray
        1 argmaxable, 0 unargmaxable, -1 undecided (numerically degenerate).
    method : (M,) ndarray of str
        How each word was decided: ``"self"``, ``"whitened"``, ``"random"``,
        ``"projection"`` (cheap witnesses), ``"lp"``, ``"duplicate"``, or
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
        return float(np.mean(np.isin(self.method, METHODS[:5])))

    def counts(self):
        """``{method: number of words}``."""
        values, counts = np.unique(self.method, return_counts=True)
        return {("undecided" if v == "" else str(v)): int(c)
                for v, c in zip(values, counts)}

    def verify(self, W, bias=None):
        """Re-check every witness and certificate against `W` and `bias`.

        Returns the indices that fail (an empty array when all hold).
        """
        W = np.asarray(W, dtype=np.float64)
        b = np.zeros(W.shape[0]) if bias is None else np.asarray(bias, np.float64)
        bad = []
        idx = np.flatnonzero(self.status == ARGMAXABLE)
        for start in range(0, len(idx), 256):
            block = idx[start:start + 256]
            margin, tol = _margins(W, b, self.witnesses[block], block)
            bad += list(block[~(margin > tol)])
        for i, (j, lam) in self.certificates.items():
            if not _certificate_holds(W, b, i, j, lam):
                bad.append(i)
        return np.array(sorted(bad), dtype=int)

    def __repr__(self):
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        return (
            f"ArgmaxReport(M={self.M}: argmaxable {int(self.mask.sum())}, "
            f"unargmaxable {len(self.unargmaxable)}, undecided {len(self.undecided)}; "
            f"decided without LP {100 * self.fraction_cheap:.1f}%; by method: "
            f"{counts}; {self.n_lp} LPs, {self.seconds:.1f} s)"
        )


# ---------------------------------------------------------------------------
# Numerical building blocks
# ---------------------------------------------------------------------------


def _margins(W, b, H, idx):
    """Margins ``z_i - max_{j≠i} z_j`` of candidate contexts and their bounds.

    `H` (B, d) holds one candidate per word in `idx`. The bound is the
    worst-case rounding of the two scores compared: ``2 d ε ‖h‖ max‖w‖ +
    2 ε max|b|``.
    """
    S = H @ W.T + b
    rows = np.arange(len(idx))
    own = S[rows, idx].copy()
    S[rows, idx] = -np.inf
    margin = own - S.max(axis=1)
    eps = np.finfo(np.float64).eps
    wmax = np.sqrt(np.max(np.einsum("ij,ij->i", W, W)))
    tol = (2 * W.shape[1] * eps * np.linalg.norm(H, axis=1) * wmax
           + 2 * eps * np.max(np.abs(b)) + np.finfo(np.float64).tiny)
    return margin, tol


def _strongest(W, b, h, i, k, violators_only):
    """Up to `k` competitors of `i` at `h`, strongest first.

    With `violators_only`, only words scoring at least as high as `i`.
    """
    s = W @ h + b
    s_i = s[i]
    s[i] = -np.inf
    cand = np.flatnonzero(s >= s_i) if violators_only else np.flatnonzero(s > -np.inf)
    if len(cand) > k:
        cand = cand[np.argpartition(-s[cand], k - 1)[:k]]
    return cand[np.argsort(-s[cand])]


def _certificate_holds(W, b, i, j, lam, rtol=1e-9):
    """Check ``λ ≥ 0, Σλ = 1, w_i = Σ λ_j w_j, b_i ≤ Σ λ_j b_j`` to `rtol`."""
    j = np.asarray(j, dtype=int)
    lam = np.asarray(lam, dtype=np.float64)
    if len(j) == 0 or np.any(j == i) or np.any(lam < 0):
        return False
    if abs(lam.sum() - 1) > 1e-12 * len(lam):
        return False
    scale = max(np.linalg.norm(W[i]), np.max(np.linalg.norm(W[j], axis=1)), 1e-300)
    residual = np.linalg.norm(lam @ W[j] - W[i])
    bscale = max(np.max(np.abs(b[j])), abs(b[i]), 1.0)
    return bool(residual <= rtol * scale and b[i] <= lam @ b[j] + rtol * bscale)


def _polish_certificate(W, b, i, support):
    """Convex weights on `support` reproducing ``w_i``, by NNLS.

    A heavy last row enforces ``Σλ = 1``; the weights are then renormalised.
    """
    ws = W[support]
    scale = max(np.linalg.norm(W[i]), np.max(np.linalg.norm(ws, axis=1)), 1.0)
    A = np.vstack([ws.T, np.full(len(support), 1e3 * scale)])
    y = np.concatenate([W[i], [1e3 * scale]])
    lam, _ = scipy.optimize.nnls(A, y, maxiter=50 * max(len(support), 10))
    keep = lam > 0
    if not keep.any():
        return support[:0], lam[:0]
    lam = lam[keep] / lam[keep].sum()
    return support[keep], lam


class _LPFailed(RuntimeError):
    pass


# HiGHS choice first, then dual simplex, then interior point at its default
# tolerances: an occasional "Not Set" status of one solver is not a verdict.
_LP_ATTEMPTS = (
    ("highs", {"primal_feasibility_tolerance": 1e-10,
               "dual_feasibility_tolerance": 1e-10}),
    ("highs-ds", {"primal_feasibility_tolerance": 1e-10,
                  "dual_feasibility_tolerance": 1e-10}),
    ("highs-ipm", {}),
)


def _lp(W, b, i, J, box):
    """Chebyshev-centre LP of word `i` against competitors `J`.

    Returns the optimal radius, the centre and the dual weights ``λ ≥ 0`` of
    the constraints (``-`` HiGHS's marginals).
    """
    d = W.shape[1]
    A = W[J] - W[i]
    norms = np.linalg.norm(A, axis=1)
    A_ub = np.hstack([A, norms[:, None]])
    b_ub = b[i] - b[J]
    bounds = [(-box, box) if box is not None else (None, None)] * d + [(None, 1.0)]
    messages = []
    for method, options in _LP_ATTEMPTS:
        res = scipy.optimize.linprog(np.r_[np.zeros(d), -1.0], A_ub=A_ub, b_ub=b_ub,
                                     bounds=bounds, method=method, options=options)
        if res.status == 0:
            return -res.fun, res.x[:d], -res.ineqlin.marginals
        messages.append(f"{method}: {res.message}")
    raise _LPFailed(f"word {i}: " + "; ".join(messages))


def _decide_by_lp(W, b, i, h0, box, k0, max_rounds):
    """Constraint generation for word `i`: (status, witness, margin, tol, cert, n).

    The working set starts with the `k0` strongest competitors at `h0` (the
    best context the cheap phase found, where the facet that blocks word `i`
    is already on top) and grows by the `k0` strongest violators of each LP
    witness.
    """
    M = W.shape[0]
    J = _strongest(W, b, h0, i, k0, violators_only=False)
    n_lp = 0
    undecided = (UNDECIDED, None, np.nan, np.nan, None)
    try:
        for round_ in range(max_rounds + 1):
            if round_ == max_rounds:  # did not settle: every word at once
                J = np.setdiff1d(np.arange(M), [i])
            r, x, lam = _lp(W, b, i, J, box)
            n_lp += 1
            if r <= 0:
                support = J[lam > 1e-12 * max(lam.max(), 1e-300)]
                j, weights = _polish_certificate(W, b, i, support)
                if _certificate_holds(W, b, i, j, weights):
                    return UNARGMAXABLE, None, np.nan, np.nan, (j, weights), n_lp
                return *undecided, n_lp
            margin, tol = _margins(W, b, x[None], np.array([i]))
            if margin[0] > tol[0]:
                return ARGMAXABLE, x, margin[0], tol[0], None, n_lp
            new = np.setdiff1d(_strongest(W, b, x, i, k0, violators_only=True), J)
            if len(new) == 0:  # feasible on J, margin at rounding level
                return *undecided, n_lp
            J = np.concatenate([J, new])
    except _LPFailed:
        pass
    return *undecided, n_lp


# ---------------------------------------------------------------------------
# The main entry point
# ---------------------------------------------------------------------------


def _check_embeddings(W, bias):
    W = _as_float_array(W, "W", ndim=2, min_size=0).astype(np.float64, copy=False)
    if W.shape[1] == 0:
        raise ValueError(f"W must have d ≥ 1 columns; got shape {W.shape}")
    if W.shape[0] < 2:
        raise ValueError(f"W must have at least 2 rows (words); got shape {W.shape}")
    if bias is None:
        b = np.zeros(W.shape[0])
    else:
        b = _as_float_array(bias, "bias", ndim=1).astype(np.float64, copy=False)
        if b.shape[0] != W.shape[0]:
            raise ValueError(
                f"bias must have shape ({W.shape[0]},) to match W {W.shape}; got "
                f"shape {b.shape}"
            )
    return W, b


class _Progress:
    def __init__(self, enabled, total):
        self.enabled, self.total = enabled, total
        self.start = time.perf_counter()
        self.last = 0.0

    def show(self, phase, undecided, force=False):
        now = time.perf_counter()
        if self.enabled and (force or now - self.last > 1.0):
            self.last = now
            print(f"\rargmaxable: {phase}: {self.total - undecided}/{self.total} "
                  f"words decided, {now - self.start:.1f} s\033[K",
                  end="\n" if force else "", file=sys.stderr, flush=True)


def argmaxable(W, bias=None, *, seed=0, n_random=None, projection_rounds=20,
               box=None, block=256, max_lp_rounds=50, progress=None):
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
        Random directions tried; default ``min(4M, 20000)``.
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
        Progress on stderr; default when M ≥ 5000.

    Returns
    -------
    ArgmaxReport

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
    M, d = W.shape
    if box is not None:
        box = _as_scalar(box, "box", low=0, low_open=True)
    rng = np.random.default_rng(seed)
    prog = _Progress(M >= 5000 if progress is None else progress, M)

    status = np.full(M, UNDECIDED, dtype=np.int8)
    method = np.full(M, "", dtype="<U10")
    witnesses = np.full((M, d), np.nan)
    margins = np.full(M, np.nan)
    tols = np.full(M, np.nan)
    certificates = {}

    def accept(idx, H, margin, tol, how):
        ok = margin > tol
        if box is not None:
            ok &= np.all(np.abs(H) <= box, axis=1)
        sel = idx[ok]
        status[sel], method[sel] = ARGMAXABLE, how
        witnesses[sel], margins[sel], tols[sel] = H[ok], margin[ok], tol[ok]
        return ok

    # 1. exact duplicates: a word with an identical twin of no smaller bias
    _, inverse, group_size = np.unique(W, axis=0, return_inverse=True,
                                       return_counts=True)
    inverse = inverse.reshape(-1)
    for g in np.flatnonzero(group_size > 1):
        members = np.flatnonzero(inverse == g)
        for i in members:
            others = members[(members != i) & (b[members] >= b[i])]
            if len(others):
                status[i], method[i] = UNARGMAXABLE, "duplicate"
                certificates[int(i)] = (others[:1], np.array([1.0]))

    # 2a. the whitened h = Σ⁻¹(w_i - μ), then h = w_i
    mu = W.mean(axis=0)
    cov = np.cov(W, rowvar=False).reshape(d, d)
    ridge = 1e-10 * max(np.trace(cov) / d, 1e-300)
    whiten = np.linalg.inv(cov + ridge * np.eye(d))
    for how, make in (("whitened", lambda idx: (W[idx] - mu) @ whiten),
                      ("self", lambda idx: W[idx])):
        todo = np.flatnonzero(status == UNDECIDED)
        for s in range(0, len(todo), block):
            idx = todo[s:s + block]
            H = make(idx)
            accept(idx, H, *_margins(W, b, H, idx), how)
            prog.show(how, int(np.sum(status == UNDECIDED)))

    # 2b. random directions: each one's top word is argmaxable
    n_random = min(4 * M, 20000) if n_random is None else int(n_random)
    for s in range(0, n_random, block):
        if not np.any(status == UNDECIDED):
            break
        H = rng.standard_normal((min(block, n_random - s), d)) @ whiten
        top = np.argmax(H @ W.T + b, axis=1)
        new = status[top] == UNDECIDED
        if new.any():
            idx, first = np.unique(top[new], return_index=True)
            Hn = H[new][first]
            accept(idx, Hn, *_margins(W, b, Hn, idx), "random")
        prog.show("random", int(np.sum(status == UNDECIDED)))

    # 2c. relaxed projection onto the most violated constraint
    todo = np.flatnonzero(status == UNDECIDED)
    best_h = {}
    for s in range(0, len(todo), block):
        idx = todo[s:s + block]
        H = (W[idx] - mu) @ whiten
        for _ in range(projection_rounds):
            S = H @ W.T + b
            rows = np.arange(len(idx))
            own = S[rows, idx].copy()
            S[rows, idx] = -np.inf
            j = np.argmax(S, axis=1)
            a = W[idx] - W[j]
            need = (S[rows, j] - own)
            norm2 = np.einsum("ij,ij->i", a, a)
            step = np.where(norm2 > 0, 1.5 * (need + 1e-9 * (1 + np.abs(own)))
                            / np.maximum(norm2, 1e-300), 0.0)
            H = H + step[:, None] * a
        ok = accept(idx, H, *_margins(W, b, H, idx), "projection")
        for k in np.flatnonzero(~ok):
            best_h[int(idx[k])] = H[k]
        prog.show("projection", int(np.sum(status == UNDECIDED)))

    # 3. exact LP with constraint generation
    n_lp = 0
    k0 = min(M - 1, 64)
    for i in np.flatnonzero(status == UNDECIDED):
        h0 = best_h.get(int(i), (W[i] - mu) @ whiten)
        st, x, margin, tol, cert, n = _decide_by_lp(W, b, i, h0, box, k0,
                                                    max_lp_rounds)
        n_lp += n
        status[i] = st
        if st == ARGMAXABLE:
            method[i], witnesses[i], margins[i], tols[i] = "lp", x, margin, tol
        elif st == UNARGMAXABLE:
            method[i] = "lp"
            certificates[int(i)] = cert
        prog.show("LP", int(np.sum(status == UNDECIDED)))
    prog.show("done", int(np.sum(status == UNDECIDED)), force=prog.enabled)
    return ArgmaxReport(status == ARGMAXABLE, status, method, witnesses, margins, tols,
                        certificates, n_lp, time.perf_counter() - start)


def argmaxable_lp_baseline(W, bias=None, words=None, box=None):
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
            r, _, _ = _lp(W, b, i, np.setdiff1d(np.arange(M), [i]), box)
            out[k] = ARGMAXABLE if r > 0 else UNARGMAXABLE
        except _LPFailed:
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
    """
    if int(i) not in report.certificates:
        raise ValueError(
            f"word {i} has no unargmaxability certificate in the report (it is "
            "argmaxable or undecided)"
        )
    W = np.asarray(W, dtype=np.float64)
    b = np.zeros(W.shape[0]) if bias is None else np.asarray(bias, np.float64)
    h = np.asarray(h, dtype=np.float64)
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
class ArgmaxUnderReport:
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
    r"""Argmaxable words of a layer, per activation.

    * **Strictly increasing pointwise maps** (softmax, sigsoftmax, GSS with
      ``k > 0``, PLIF, sigmoid-normalisation): exactly the linear layer's
      answer. *Proof.* These are ``p = softmax(φ(z))`` with ``φ`` strictly
      increasing elementwise, so ``z_i > z_j ⟺ φ(z_i) > φ(z_j)`` and the
      strict argmax of ``log p`` is that of ``z = W h + b`` at every ``h``.
      Hence the set of contexts where ``i`` is the strict argmax is the same
      ``P_i``, and word ``i`` is argmaxable under ``φ`` iff it is for the
      linear layer. ∎
    * **MoS / MoSS / MoC**: the words that are the mode for some of
      `n_contexts` sampled contexts (a *lower bound*), and the linear layer's
      argmaxable words as a proven *upper bound*. *Proof* (MoS, MoSS: all
      components share ``W`` and ``b``, and ``g = exp`` or ``e^z σ(z)`` is
      increasing and convex). If ``w_i = Σ λ_j w_j`` and ``b_i ≤ Σ λ_j b_j``
      then ``z_{ki} ≤ Σ λ_j z_{kj}`` in every component ``k``, so by
      monotonicity and Jensen ``g(z_{ki}) ≤ Σ λ_j g(z_{kj})``; dividing by the
      component's normaliser and mixing, ``p_i ≤ Σ λ_j p_j ≤ max_j p_j``: an
      unargmaxable word is never the strict mode of the mixture. MoC is a
      linear layer on the mixed context. (The reference text says mixtures
      can make an interior word the mode; with a shared ``W`` and ``b`` they
      cannot.)
    * **Sparse activations**: which words can get *nonzero* probability at
      all. t-softmax: ``p_i > 0`` iff ``z_i > max_j z_j - t``, the LP of
      :func:`argmaxable` with every bias difference relaxed by ``t`` (exact).
      sparsemax: ``p_i > 0`` iff ``Σ_j [z_j - z_i]_+ < 1``; a context with a
      small enough scale puts every word in the support without a bias, so
      the answer is exact (all words) there, and sampled (a lower bound) with
      a bias. ReLU-normalisation: ``p_i > 0`` iff ``z_i > 0``, possible iff
      ``w_i ≠ 0`` or ``b_i > 0`` (exact). entmax and r-softmax: sampled,
      lower bound.

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
    """
    from . import activations as act
    from .layers import MixtureLayer, PointwiseLayer

    rng = np.random.default_rng(seed)
    scale = 1.0 if context_scale is None else _as_scalar(
        context_scale, "context_scale", low=0, low_open=True)
    if isinstance(layer, MixtureLayer):
        G = rng.standard_normal((int(n_contexts), layer.d_context))
        G *= scale / math.sqrt(layer.d_context)
        modes = np.zeros(layer.M, dtype=bool)
        for _, blk in layer.blocks(G):
            modes[np.argmax(blk, axis=1)] = True
        if layer.base not in ("softmax", "sigsoftmax"):
            return ArgmaxUnderReport(modes, "lower-bound", "argmax", None,
                                     f"modes over {n_contexts} sampled contexts")
        linear = argmaxable(layer.W, layer.bias, **kwargs)
        exact = bool(np.array_equal(modes, linear.mask))
        return ArgmaxUnderReport(
            modes, "exact" if exact else "lower-bound", "argmax", linear,
            f"modes over {n_contexts} sampled contexts; at most the linear layer's "
            f"{int(linear.mask.sum())} argmaxable words (Jensen)", linear.mask)
    if not isinstance(layer, PointwiseLayer):
        raise TypeError("layer must be a PointwiseLayer or a MixtureLayer; got "
                        f"{type(layer).__name__}")
    spec = act.get(layer.activation)
    increasing = spec.logit_map is not None and not (
        layer.activation == "gss" and float(layer.params["k"]) <= 0)
    if increasing:
        rep = argmaxable(layer.W, layer.bias, **kwargs)
        return ArgmaxUnderReport(rep.mask, "exact", "argmax", rep,
                                 f"{layer.activation} is a strictly increasing map "
                                 "of the logits: same words as the linear layer")
    W = layer.W.astype(np.float64)
    M = layer.M
    b = np.zeros(M) if layer.bias is None else layer.bias.astype(np.float64)
    name = layer.activation
    if name == "relu_normalized":
        mask = np.any(W != 0, axis=1) | (b > 0)
        return ArgmaxUnderReport(mask, "exact-support", "nonzero probability", None,
                                 "p_i > 0 iff z_i > 0 for some h: w_i ≠ 0 or b_i > 0")
    if name == "t_softmax":
        t = float(layer.params["t"])
        mask = _t_support(W, b, t, box=kwargs.get("box"))
        return ArgmaxUnderReport(mask, "exact-support", "nonzero probability", None,
                                 f"LP with every competitor's bias raised by t = {t}")
    if name == "sparsemax" and layer.bias is None:
        return ArgmaxUnderReport(np.ones(M, dtype=bool), "exact-support",
                                 "nonzero probability", None,
                                 "h → 0 gives the uniform distribution")
    # sampled lower bound over several context scales
    mask = np.zeros(M, dtype=bool)
    scales = scale * np.logspace(-2, 1, 7)
    per = max(1, int(n_contexts) // len(scales))
    for s in scales:
        H = rng.standard_normal((per, layer.d)) * (s / math.sqrt(layer.d))
        for _, blk in layer.blocks(H):
            mask |= np.isfinite(blk).any(axis=0)
    return ArgmaxUnderReport(mask, "lower-bound", "nonzero probability", None,
                             f"support seen over {per * len(scales)} sampled contexts "
                             "at scales 0.01 to 10")


def _t_support(W, b, t, box=None):
    """Words that can get nonzero t-softmax probability, exactly.

    ``p_i > 0`` iff ``z_i > z_j - t`` for all ``j``: the argmax problem of
    word ``i`` with its own bias raised by ``t``.
    """
    M, d = W.shape
    mask = np.zeros(M, dtype=bool)
    for i in range(M):
        bi = b.copy()
        bi[i] += t
        margin, tol = _margins(W, bi, W[i][None], np.array([i]))
        if margin[0] > tol[0]:
            mask[i] = True
            continue
        st, *_ = _decide_by_lp(W, bi, i, W[i], box, min(M - 1, 64), 50)
        mask[i] = st == ARGMAXABLE
    return mask
