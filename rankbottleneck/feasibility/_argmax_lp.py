r"""Deciding one word's argmax problem exactly: witnesses, LPs, certificates.

Word ``i`` of logits ``z = W h + b`` is the strict argmax somewhere iff the
open polyhedron ``{x : (w_j - w_i)ᵀ x + b_j - b_i < 0 ∀ j ≠ i}`` is non-empty.
This module holds what decides that for one word, and nothing that walks a
vocabulary: the rounding-aware margin of a candidate context, the
Chebyshev-centre LP (HiGHS) solved by constraint generation, and the Motzkin
certificate ``w_i = Σ λ_j w_j, b_i ≤ Σ λ_j b_j`` read off its dual, polished
and verified. :mod:`rankbottleneck.argmax` runs it over a whole vocabulary;
the exact support of t-softmax is the same problem with a raised bias.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from . import _exact
from ._proof import (
    argmax_combination,
    exact_scores,
    max_row_norm1,
    prove,
    tiers_hold,
)
from ._scores import Scores

__all__: list[str] = []

ARGMAXABLE, UNARGMAXABLE, UNDECIDED = 1, 0, -1


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


def _certificate_holds(W, b, i, j, lam):
    """Whether exact convex weights ``λ`` on the support `j` exist with
    ``w_i = Σ λ_j w_j`` and ``b_i ≤ Σ λ_j b_j`` (:func:`._proof.prove`)."""
    j = np.asarray(j, dtype=int)
    lam = np.asarray(lam, dtype=np.float64)
    if (len(j) == 0 or len(j) != len(lam) or np.any(j == i) or np.any(lam < 0)
            or np.any((j < 0) | (j >= W.shape[0]))):
        return False
    return prove(W, b, argmax_combination(i, j, lam)) is not None


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


def _interior_weights(W, b, i, J, rounds=3):
    """Convex weights with ``w_i = Σ λ_j w_j``, ``b_i ≤ Σ λ_j b_j`` whose
    smallest weight, over a set of words grown from `J`, is as large as
    possible (an LP).

    A vertex solution of the dual sits on as few words as it can, and on
    rounded data (an interior word made as a convex combination of three
    others, then rounded) that support carries no exact certificate. Weights
    bounded away from zero on words that surround ``w_i`` in every direction
    leave room for the rounding, so an exact solution on the same support
    exists (see :func:`._proof.prove`). When ``w_i`` lies on the boundary of
    the hull of the words so far (the best smallest weight is zero), the
    LP's dual names a direction in which nothing so far beats it; the words
    that score highest along it, and against it, join, and the LP is asked
    again.
    """
    d, M = W.shape[1], W.shape[0]
    k = max(8, d // 4)
    J = np.asarray(J, dtype=int)
    for _ in range(rounds):
        n = len(J)
        A_eq = np.zeros((d + 1, n + 1))
        A_eq[:d, :n] = (W[J] - W[i]).T
        A_eq[d, :n] = 1.0
        A_ub = np.zeros((n + 1, n + 1))
        A_ub[:n, :n] = -np.eye(n)
        A_ub[:n, n] = 1.0                      # t - λ_j ≤ 0
        A_ub[n, :n] = b[i] - b[J]              # b_i - Σ λ_j b_j ≤ 0
        res = scipy.optimize.linprog(np.r_[np.zeros(n), -1.0], A_ub=A_ub,
                                     b_ub=np.zeros(n + 1), A_eq=A_eq,
                                     b_eq=np.r_[np.zeros(d), 1.0],
                                     bounds=[(0, None)] * n + [(None, 1.0 / n)],
                                     method="highs")
        if res.status != 0:
            break
        t = res.x[n]
        if t > 1e-6 / n:
            lam = res.x[:n]
            return J, lam / lam.sum()
        y = res.eqlin.marginals[:d]
        if not np.any(y):
            break
        s = (W - W[i]) @ y
        s[i] = np.nan
        s[J] = np.nan
        order = np.argsort(s)                 # NaN last
        valid = order[:M - 1 - n]
        new = np.union1d(valid[:k], valid[-k:])
        if len(new) == 0:
            break
        J = np.union1d(J, new)
    return J[:0], np.zeros(0)


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
        try:
            res = scipy.optimize.linprog(np.r_[np.zeros(d), -1.0], A_ub=A_ub,
                                         b_ub=b_ub, bounds=bounds, method=method,
                                         options=options)
        except ValueError as exc:      # rows beyond the float range (inf norms)
            raise _LPFailed(f"word {i}: {exc}") from None
        if res.status == 0:
            return -res.fun, res.x[:d], -res.ineqlin.marginals
        messages.append(f"{method}: {res.message}")
    raise _LPFailed(f"word {i}: " + "; ".join(messages))


def _certificate_from_dual(W, b, i, J, lam):
    """A proved certificate ``(support, weights)`` for word `i` from the LP
    dual `lam` over the working set `J`, or None.

    The NNLS-polished weights are sparsest, but on rounded data (an interior
    word that was a convex combination of a few others before rounding)
    only a full-dimensional support carries an exact certificate: the
    dual's own support is tried next, then weights bounded away from zero
    on the whole working set.
    """
    keep = lam > 1e-12 * max(lam.max(), 1e-300)
    support = J[keep]
    tries = (lambda: _polish_certificate(W, b, i, support),
             lambda: (support, lam[keep] / lam[keep].sum()),
             lambda: _interior_weights(W, b, i, J))
    for attempt in tries:
        j, weights = attempt()
        if len(j) and _certificate_holds(W, b, i, j, weights):
            return j, weights
    return None


def _decide_by_lp(W, b, i, h0, box, k0, max_rounds, w1=None):
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
                cert = _certificate_from_dual(W, b, i, J, lam)
                if cert is not None:
                    return UNARGMAXABLE, None, np.nan, np.nan, cert, n_lp
                return *undecided, n_lp
            ok, margin, tol = Scores(W, b, w1=w1, screen=False).witnesses(
                np.array([[i]]), x[None])
            if ok[0]:
                return ARGMAXABLE, x, margin[0], tol[0], None, n_lp
            new = np.setdiff1d(_strongest(W, b, x, i, k0, violators_only=True), J)
            if len(new) == 0:  # feasible on J, margin at rounding level
                return *undecided, n_lp
            J = np.concatenate([J, new])
    except _LPFailed:
        pass
    return *undecided, n_lp


def _decide_exactly(W, b, i):
    """Word `i` decided in exact rational arithmetic (:mod:`._exact`), for a
    small layer the LP left undecided: ``(status, witness, margin, cert)``
    or None when the layer is too large. The witness is a float array when
    a float context is exact, else an object array of Fractions; its margin
    is the exact one, rounded."""
    ans = _exact.answer(W, b, [[i]], tiers_hold)
    if ans is None:
        return None
    if ans[0]:
        x = ans[1]
        z = exact_scores(W, b, x, range(W.shape[0]))
        margin = min(z[i] - v for j, v in z.items() if j != i)
        try:
            margin = float(margin)
        except OverflowError:
            margin = np.inf
        return ARGMAXABLE, x, margin, None
    _, pairs, y = ans
    j = np.array([c for (_, c), v in zip(pairs, y) if v > 0], dtype=int)
    lam = np.array([float(v) for v in y if v > 0])
    lam = lam / lam.sum()
    if len(j) and _certificate_holds(W, b, i, j, lam):
        return UNARGMAXABLE, None, np.nan, (j, lam)
    return UNDECIDED, None, np.nan, None


def raised_bias_argmaxable(W, b, t, box=None):
    """Words ``i`` with ``z_i > z_j - t`` for all ``j ≠ i`` at some context.

    The argmax problem of word ``i`` with its own bias raised by ``t``,
    decided word by word with a verified witness or LP (t-softmax's exact
    support).
    """
    # the search may overflow far from the data's scale; every answer is proved
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        M = W.shape[0]
        mask = np.zeros(M, dtype=bool)
        w1 = max_row_norm1(W)
        for i in range(M):
            bi = b.copy()
            bi[i] += t
            ok, _, _ = Scores(W, bi, w1=w1, screen=False).witnesses(
                np.array([[i]]), W[i][None])
            if ok[0]:
                mask[i] = True
                continue
            st, *_ = _decide_by_lp(W, bi, i, W[i], box, min(M - 1, 64), 50, w1)
            if st == UNDECIDED and box is None:
                exact = _decide_exactly(W, bi, i)
                st = st if exact is None else exact[0]
            mask[i] = st == ARGMAXABLE
        return mask
