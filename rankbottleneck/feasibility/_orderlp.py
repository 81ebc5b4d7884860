r"""Linear systems over word scores: witnesses, LPs and their certificates.

A question about the *order* of the scores ``z = W x + b`` (is this set of
words above all others? this ordering? this exact support?) is a system of
linear conditions on the scores of a few chosen words ``S``, a few auxiliary
thresholds ``y``, and one rule for every other word, ``z_j ≤ y_rest``:

.. math::
    g_k(x, y) = a_k^T z_S + e_k^T y + c_k \;\; (> 0,\ \ge 0 \text{ or } = 0),
    \qquad y_{\text{rest}} - z_j \ge 0 \;\; (j \notin S).

It is decided by the LP ``max r`` with ``r`` added to every inequality
(``r ≤ 1``; HiGHS), with constraint generation over the other words. A
positive ``r`` gives a context, which is then *verified* by the question's
own margin against a rounding bound. ``r ≤ 0`` gives, by Motzkin's
transposition theorem, multipliers ``ν`` (``≥ 0`` on inequalities) and
``μ ≥ 0`` on the other words with

.. math::
    \sum_k ν_k g_k + \sum_j μ_j (y_{\text{rest}} - z_j) \equiv C \le 0

identically in ``(x, y)`` (its ``x`` and ``y`` parts vanish) while the strict
conditions carry positive weight: then a solution would make the left side
positive, so there is none. Those multipliers are polished by non-negative
least squares on the LP dual's support and verified before they are
reported. :mod:`rankbottleneck.topk` asks the questions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from . import _exact
from ._argmax_lp import _LP_ATTEMPTS, _LPFailed
from ._proof import (
    Combination,
    pair_tolerance,
    prove,
    score_error,
    tiers_hold,
    undecided_by_floats,
)

__all__: list[str] = []

STRICT, WEAK, EQUAL = 0, 1, 2


@dataclass(frozen=True)
class _System:
    """Conditions ``a_k·z_S + e_k·y + c_k (>, ≥, =) 0`` and ``z_j ≤ y_rest``.

    `margin(z)` is the question's own slack at scores `z` (all M words),
    positive iff the question holds there; `n_terms` bounds how many scores
    each slack adds (for its rounding bound).
    """

    words: np.ndarray       # (K,) chosen words
    A: np.ndarray           # (n, K)
    E: np.ndarray           # (n, m)
    c: np.ndarray           # (n,)
    kind: np.ndarray        # (n,) STRICT / WEAK / EQUAL
    rest_y: int             # which y bounds the other words
    margin: object          # z (B, M) -> (B,)
    tiers: tuple = ()       # the same question as ordered tiers (_proof.tiers_hold)
    n_terms: int = 2

    @property
    def m(self):
        return self.E.shape[1]


def _rows(system, W, b, J):
    """The LP in ``v = (x, y, r)``: inequality and equality rows and bounds."""
    d, m = W.shape[1], system.m
    WS, bS = W[system.words], b[system.words]
    ineq = system.kind != EQUAL
    # g_k >= r  ⇔  -a_k W_S x - e_k y + r <= a_k b_S + c_k
    G = np.hstack([-system.A @ WS, -system.E, ineq[:, None].astype(float)])
    h = system.A @ bS + system.c
    # y_rest - z_j >= r  ⇔  w_j x - y_rest + r <= -b_j
    R = np.zeros((len(J), d + m + 1))
    R[:, :d] = W[J]
    R[:, d + system.rest_y] = -1.0
    R[:, -1] = 1.0
    A_ub = np.vstack([G[ineq], R])
    b_ub = np.concatenate([h[ineq], -b[J]])
    A_eq, b_eq = -G[~ineq], h[~ineq]
    A_eq[:, -1] = 0.0
    return A_ub, b_ub, A_eq, b_eq


def _solve(system, W, b, J, box):
    """``max r`` over the working set `J`: (r, x, λ_ub, λ_eq)."""
    d, m = W.shape[1], system.m
    A_ub, b_ub, A_eq, b_eq = _rows(system, W, b, J)
    bounds = ([(-box, box) if box is not None else (None, None)] * d
              + [(None, None)] * m + [(None, 1.0)])
    cost = np.zeros(d + m + 1)
    cost[-1] = -1.0
    messages = []
    for method, options in _LP_ATTEMPTS:
        res = scipy.optimize.linprog(
            cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq if len(A_eq) else None,
            b_eq=b_eq if len(b_eq) else None, bounds=bounds, method=method,
            options=options)
        if res.status == 0:
            lam_eq = -res.eqlin.marginals if len(b_eq) else np.zeros(0)
            return -res.fun, res.x, -res.ineqlin.marginals, lam_eq
        messages.append(f"{method}: {res.message}")
    raise _LPFailed("; ".join(messages))


def _repair(system, W, b, J, h0, delta):
    """The context nearest `h0` in ℓ₁ where every condition holds with slack
    `delta` over the working set `J`, or None if there is none.

    Maximising the slack instead drives the LP to a far vertex of its box,
    where words outside `J` win and constraint generation crawls; staying
    near a good candidate keeps them below.
    """
    d, m = W.shape[1], system.m
    A_ub, b_ub, A_eq, b_eq = _rows(system, W, b, J)
    n = A_ub.shape[0]
    # v = (x, y, r, s): r fixed to delta, s_i ≥ |x_i - h0_i|
    A_ub = np.hstack([A_ub, np.zeros((n, d))])
    eye = np.eye(d)
    pad = np.zeros((d, m + 1))
    A_abs = np.vstack([np.hstack([eye, pad, -eye]), np.hstack([-eye, pad, -eye])])
    A_ub = np.vstack([A_ub, A_abs])
    b_ub = np.concatenate([b_ub, h0, -h0])
    A_eq = np.hstack([A_eq, np.zeros((len(A_eq), d))]) if len(A_eq) else None
    cost = np.concatenate([np.zeros(d + m + 1), np.ones(d)])
    bounds = [(None, None)] * (d + m) + [(delta, delta)] + [(0, None)] * d
    res = scipy.optimize.linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq,
                                 b_eq=b_eq if len(b_eq) else None, bounds=bounds,
                                 method="highs")
    return res.x[:d] if res.status == 0 else None


@dataclass(frozen=True)
class _Multipliers:
    """``ν`` on the system's own conditions, ``μ`` on the other words `rest`."""

    nu: np.ndarray
    rest: np.ndarray
    mu: np.ndarray


def _combination(system, cert):
    """The certificate `cert` of `system` as a :class:`._proof.Combination`:
    the system's own conditions, then ``y_rest - z_j ≥ 0`` for each word of
    ``cert.rest``."""
    K, n, m = len(system.words), len(system.kind), system.m
    rest = np.asarray(cert.rest, dtype=int)
    R = len(rest)
    C = np.zeros((n + R, K + R), dtype=np.int64)
    A = np.rint(system.A).astype(np.int64)
    if not np.array_equal(A, system.A):
        raise ValueError("a system's score coefficients must be integers")
    C[:n, :K] = A
    C[n + np.arange(R), K + np.arange(R)] = -1
    Y = np.zeros((n + R, m), dtype=np.int64)
    Y[:n] = np.rint(system.E).astype(np.int64)
    Y[n:, system.rest_y] = 1
    norm = np.r_[system.kind == STRICT, np.zeros(R, bool)]
    free = np.r_[system.kind == EQUAL, np.zeros(R, bool)]
    return Combination(np.r_[system.words, rest], C, Y, norm, free,
                       np.r_[system.c, np.zeros(R)], np.r_[cert.nu, cert.mu])


def _certificate_holds(system, W, b, cert):
    """Whether exact multipliers exist on the support of `cert` that prove
    `system` infeasible (see the module docstring; :func:`._proof.prove`)."""
    nu, rest, mu = cert.nu, np.asarray(cert.rest, dtype=int), cert.mu
    kind = system.kind
    if (len(nu) != len(kind) or len(rest) != len(mu)
            or np.any(nu[kind != EQUAL] < 0) or np.any(mu < 0)
            or np.any((rest < 0) | (rest >= W.shape[0]))
            or np.isin(rest, system.words).any()
            or len(np.unique(rest)) != len(rest)):
        return False
    return prove(W, b, _combination(system, cert)) is not None


def _polish(system, W, b, J, lam_ub, lam_eq):
    """Exact-looking multipliers from the LP dual, by NNLS on its support.

    Solves ``Σ λ_k row_k = e_r`` (the ``x`` and ``y`` parts zero, the ``r``
    part one) with ``λ ≥ 0`` on inequalities (equalities split into two
    signs), over the rows the dual uses.
    """
    A_ub, _, A_eq, _ = _rows(system, W, b, J)
    n_own = int(np.sum(system.kind != EQUAL))
    top = max(lam_ub.max(initial=0.0), np.abs(lam_eq).max(initial=0.0), 1e-300)
    keep_ub = np.flatnonzero(lam_ub > 1e-12 * top)
    cols = [A_ub[keep_ub], A_eq, -A_eq]
    M = np.vstack(cols).T                               # (d+m+1, n)
    target = np.zeros(M.shape[0])
    target[-1] = 1.0
    scale = max(np.abs(M).max(initial=0.0), 1.0)
    M = np.vstack([M[:-1], 1e3 * scale * M[-1:]])
    target[-1] = 1e3 * scale
    lam, _ = scipy.optimize.nnls(M, target, maxiter=50 * max(M.shape[1], 10))
    ub = np.zeros(A_ub.shape[0])
    ub[keep_ub] = lam[:len(keep_ub)]
    eq = lam[len(keep_ub):len(keep_ub) + len(A_eq)] - lam[len(keep_ub) + len(A_eq):]
    nu = np.zeros(len(system.kind))
    nu[system.kind != EQUAL] = ub[:n_own]
    nu[system.kind == EQUAL] = -eq        # the LP's equality rows are -g_k = 0
    mu = ub[n_own:]
    used = mu > 0
    return _Multipliers(nu, np.asarray(J)[used], mu[used])


def _score_rounding(W, b, H, n_terms=2, constant=0.0, w1=None):
    """What a margin made of score differences at contexts `H` must exceed
    to be proved positive (:func:`._proof.pair_tolerance`); `constant` is a
    system's largest constant, rounded in too."""
    err = score_error(W, b, H, w1)
    return pair_tolerance(err + 2 * np.finfo(np.float64).eps * abs(constant))


def _rounding_bound(system, W, b, H, w1=None):
    """Rigorous rounding bound of the question's margin at contexts `H`."""
    return _score_rounding(W, b, H, system.n_terms,
                           np.abs(system.c).max(initial=0.0), w1)


def _holds(system, W, b, x, margin, tol):
    """Whether `x` is a witness: the rigorous float test, then the exact one
    for a margin within its bound of zero. A rational `x` (an object array
    from the exact simplex) is checked exactly."""
    if np.asarray(x).dtype == object:
        return bool(system.tiers and not system.c.any()
                    and tiers_hold(W, b, x, system.tiers))
    if margin > tol:
        return True
    return bool(undecided_by_floats(margin, tol) and system.tiers
                and not system.c.any() and tiers_hold(W, b, x, system.tiers))


def _at(system, W, b, x, w1=None):
    """Scores at context `x`, the question's margin there and its rounding
    bound (a rational `x` is rounded first: the figures are for display)."""
    x = np.asarray(x)
    if x.dtype == object:
        x = x.astype(np.float64)
    # scores beyond the float range make a margin of NaN or ±inf and an
    # infinite bound: such a context is then judged exactly, or not at all
    with np.errstate(over="ignore", invalid="ignore"):
        z = W @ x + b
        margin = float(system.margin(z[None])[0])
    return (z, margin if not np.isnan(margin) else -np.inf,
            float(_rounding_bound(system, W, b, x[None], w1)[0]))


def _strongest_rest(system, z, k, exclude):
    """The `k` other words scoring highest at `z`, not in `exclude`."""
    z = z.copy()
    z[system.words] = -np.inf
    z[exclude] = -np.inf
    k = min(k, int(np.isfinite(z).sum()))
    if k <= 0:
        return np.zeros(0, dtype=int)
    top = np.argpartition(-z, k - 1)[:k]
    return top[np.isfinite(z[top])]


def _decide(system, W, b, h0, *, box=None, k0=64, max_rounds=50, w1=None):
    """Constraint generation, then for a small question the float engine
    left undecided, the exact simplex (:mod:`._exact`): ``(feasible,
    witness, margin, tol, cert, n_lp)`` (see :func:`_decide_float`)."""
    out = _decide_float(system, W, b, h0, box=box, k0=k0, max_rounds=max_rounds,
                        w1=w1)
    if out[0] is not None or box is not None or not system.tiers or system.c.any():
        return out
    ans = _exact.answer(W, b, system.tiers, tiers_hold)
    if ans is None:
        return out
    if ans[0]:
        x = ans[1]
        _, margin, _ = _at(system, W, b, x)
        return True, x, margin, 0.0, None, out[5]
    cert = _pair_multipliers(system, *ans[1:])
    if _certificate_holds(system, W, b, cert):
        return False, None, np.nan, np.nan, cert, out[5]
    return out


def _pair_multipliers(system, pairs, y):
    """The exact simplex's multipliers on pairs ``z_a > z_c`` as the
    system's own ``ν`` and the other words' ``μ`` (same identity)."""
    words = system.words.tolist()
    last = len(system.tiers) - 1
    nu = np.zeros(len(system.kind))
    rest_mu = {}
    for (a, c), v in zip(pairs, y):
        v = float(v)
        if v == 0:
            continue
        if c in words:                         # between tiers (an ordering)
            nu[words.index(a)] += v
        else:
            row = words.index(a) if last == 0 else last
            nu[row] += v
            rest_mu[c] = rest_mu.get(c, 0.0) + v
    rest = np.array(sorted(rest_mu), dtype=int)
    return _Multipliers(nu, rest, np.array([rest_mu[j] for j in rest]))


def _decide_float(system, W, b, h0, *, box=None, k0=64, max_rounds=50, w1=None):
    """Constraint generation: ``(feasible, witness, margin, tol, cert, n_lp)``.

    ``feasible`` is True (verified witness), False (verified multipliers) or
    None (neither verified: a numerically degenerate question). `box` bounds
    the contexts (``|x_i| ≤ box``); a question without constants on a layer
    without a bias is a cone and is solved in the unit box.
    """
    M = W.shape[0]
    n_rest = M - len(system.words)
    user_box = box
    if box is None and not b.any() and not system.c.any():
        box = 1.0       # a cone: the unit box loses nothing and bounds the LP
    z0 = W @ h0 + b
    J = _strongest_rest(system, z0, k0, [])
    n_lp = 0
    delta = 1e-2 * max(np.std(z0), 1e-12 * (np.abs(z0).max() + 1.0))
    try:
        for _ in range(max_rounds):       # near the best candidate first
            x = _repair(system, W, b, J, h0, delta)
            n_lp += 1
            if x is None:
                break
            z, margin, tol = _at(system, W, b, x, w1)
            if (_holds(system, W, b, x, margin, tol)
                    and (user_box is None or np.all(np.abs(x) <= user_box))):
                return True, x, margin, tol, None, n_lp
            new = _strongest_rest(system, z, k0, J)
            if len(new) == 0:
                break
            J = np.concatenate([J, new])
        for round_ in range(max_rounds + 1):
            if round_ == max_rounds:        # did not settle: every word at once
                J = np.setdiff1d(np.arange(M), system.words)
            r, v, lam_ub, lam_eq = _solve(system, W, b, J, box)
            n_lp += 1
            if r <= 0:
                cert = _polish(system, W, b, J, lam_ub, lam_eq)
                proved = _certificate_holds(system, W, b, cert)
                if not proved and box is not None:
                    # the box may hold part of the dual: ask again without it
                    r, v, lam_ub, lam_eq = _solve(system, W, b, J, None)
                    n_lp += 1
                    if r > 0:
                        box = None
                    else:
                        cert = _polish(system, W, b, J, lam_ub, lam_eq)
                        proved = _certificate_holds(system, W, b, cert)
                if r <= 0:
                    if proved:
                        return False, None, np.nan, np.nan, cert, n_lp
                    return None, None, np.nan, np.nan, None, n_lp
            x = v[:W.shape[1]]
            if user_box is not None and not np.all(np.abs(x) <= user_box):
                # only the unboxed retry found it: not an answer within the box
                return None, None, np.nan, np.nan, None, n_lp
            z, margin, tol = _at(system, W, b, x, w1)
            if _holds(system, W, b, x, margin, tol):
                return True, x, margin, tol, None, n_lp
            new = _strongest_rest(system, z, k0, J)
            if len(new) == 0 or len(J) >= n_rest:  # holds on all, at rounding level
                return None, None, np.nan, np.nan, None, n_lp
            J = np.concatenate([J, new])
    except _LPFailed:
        pass
    return None, None, np.nan, np.nan, None, n_lp


# ---------------------------------------------------------------------------
# The questions
# ---------------------------------------------------------------------------


def _rest_max(Z, words):
    Z = Z.copy()
    Z[:, words] = -np.inf
    return Z.max(axis=1)


def _set_system(words):
    """``z_s > y ≥ z_j`` for ``s ∈ S``, ``j ∉ S``: `S` is the top-|S| set."""
    words = np.asarray(words, dtype=int)
    K = len(words)

    def margin(Z):
        return Z[:, words].min(axis=1) - _rest_max(Z, words)

    return _System(words, np.eye(K), -np.ones((K, 1)), np.zeros(K),
                   np.full(K, STRICT), 0, margin, (words,))


def _order_system(order):
    """``z_{π1} > … > z_{πk} > y ≥ z_j``: the top-k list in this order."""
    order = np.asarray(order, dtype=int)
    k = len(order)
    A = np.zeros((k, k))
    for i in range(k - 1):
        A[i, i], A[i, i + 1] = 1.0, -1.0
    A[k - 1, k - 1] = 1.0
    E = np.zeros((k, 1))
    E[k - 1, 0] = -1.0

    def margin(Z):
        S = Z[:, order]
        gaps = S[:, :-1] - S[:, 1:]
        last = S[:, -1] - _rest_max(Z, order)
        return np.minimum(gaps.min(axis=1, initial=np.inf), last)

    return _System(order, A, E, np.zeros(k), np.full(k, STRICT), 0, margin,
                   tuple(order[:, None]))
