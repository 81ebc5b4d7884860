r"""The one question, as a system of conditions on the scores.

Every question the toolkit decides exactly (can word ``i`` be the argmax?
can the set ``S`` be the top ``|S|``? this ordering the top ``k``? ``i``
within ``t`` of the top?) is a system of linear conditions on the scores
``z = W x + b`` of a few chosen words ``S``, a few auxiliary thresholds
``y`` and one rule for every other word, ``z_j ≤ y_rest``:

.. math::
    g_k(x, y) = a_k^T z_S + e_k^T y + c_k \;\; (> 0,\ \ge 0 \text{ or } = 0),
    \qquad y_{\text{rest}} - z_j \ge 0 \;\; (j \notin S).

A **witness** is a context ``x`` at which the question's own margin (its
smallest slack) is positive, checked with rigorous bounds (:mod:`._scores`,
:mod:`._proof`). A **certificate** (Motzkin's transposition theorem) is
multipliers ``ν`` (``≥ 0`` on inequalities) on the conditions and ``μ ≥ 0``
on the other words with

.. math::
    \sum_k ν_k g_k + \sum_j μ_j (y_{\text{rest}} - z_j) \equiv C \le 0

identically in ``(x, y)`` while the strict conditions carry weight one:
then no context meets them all. :func:`certificate_holds` proves one with
exact or enclosed multipliers on its support (:func:`._proof.prove`).
:mod:`._lp` finds either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._result import Result
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
class System:
    """Conditions ``a_k·z_S + e_k·y + c_k (>, ≥, =) 0`` and ``z_j ≤ y_rest``.

    `margin(z)` is the question's own slack at scores `z` (all M words),
    positive iff the question holds there; `tiers` is the same question as
    ordered tiers (:func:`._proof.tiers_hold`), for the exact check of a
    witness; `n_terms` bounds how many scores each slack adds.
    """

    words: np.ndarray       # (K,) chosen words
    A: np.ndarray           # (n, K)
    E: np.ndarray           # (n, m)
    c: np.ndarray           # (n,)
    kind: np.ndarray        # (n,) STRICT / WEAK / EQUAL
    rest_y: int             # which y bounds the other words
    margin: object          # z (B, M) -> (B,)
    tiers: tuple = ()
    n_terms: int = 2

    @property
    def m(self):
        return self.E.shape[1]

    @property
    def exact_witness(self):
        """Whether a witness can be judged exactly (:func:`._proof.tiers_hold`
        knows tiers without constants)."""
        return bool(self.tiers) and not self.c.any()


@dataclass(frozen=True)
class Multipliers(Result):
    """A certificate: ``ν`` on the system's own conditions, ``μ`` on the
    other words `rest`."""

    nu: np.ndarray
    rest: np.ndarray
    mu: np.ndarray


# ---------------------------------------------------------------------------
# The questions
# ---------------------------------------------------------------------------


def _rest_max(Z, words):
    Z = Z.copy()
    Z[:, words] = -np.inf
    return Z.max(axis=1)


def set_system(words):
    """``z_s > y ≥ z_j`` for ``s ∈ S``, ``j ∉ S``: `S` is the top-|S| set
    (one word: it is the strict argmax)."""
    words = np.asarray(words, dtype=int)
    K = len(words)

    def margin(Z):
        return Z[:, words].min(axis=1) - _rest_max(Z, words)

    return System(words, np.eye(K), -np.ones((K, 1)), np.zeros(K),
                  np.full(K, STRICT), 0, margin, (words,))


def order_system(order):
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

    return System(order, A, E, np.zeros(k), np.full(k, STRICT), 0, margin,
                  tuple(order[:, None]))


def raised_system(i, t):
    """``z_i + t > y ≥ z_j``: word `i` comes within `t` of the top (the
    support rule of t-softmax; Bałazy et al. 2023), with `t` an exact
    constant of the system rather than rounded into ``b_i``."""
    words = np.array([int(i)])

    def margin(Z):
        return Z[:, words[0]] + t - _rest_max(Z, words)

    return System(words, np.eye(1), -np.ones((1, 1)), np.array([float(t)]),
                  np.full(1, STRICT), 0, margin, (words,))


def uniform_system(words, *, tolerance=None, margin=None, ratio=None):
    r"""The words `words` share the top: their scores lie within a tolerance
    of each other and all lead every other word by a margin.

    Absolute form (`tolerance` ``τ`` and `margin` ``δ``, exact constants):
    ``y₁ < z_s < y₁ + τ`` for ``s ∈ S`` and ``y₁ > y₀ + δ``, ``y₀ ≥ z_j``
    (``j ∉ S``); i.e. ``max_S z - min_S z < τ`` and ``min_S z - max_{j∉S}
    z_j > δ``.

    Homogeneous form (`ratio` ``(p, q)``, positive integers): ``z_s > y₁``
    and ``p (y₁ - y₀) > q (z_s - y₁)``, ``y₀ ≥ z_j``; i.e. ``max_S z -
    min_S z < (p/q) (min_S z - max_{j∉S} z_j)``. Without a bias the scores
    scale with the context, so this is the absolute question for every
    ``τ/δ = p/q``, and it is a cone (the LP runs in the unit box).

    The margin (the question's own slack, positive iff it holds at ``z``)
    is lowered by a bound on the rounding of its own arithmetic, so that
    the generic rigorous test (:func:`holds`) stays sound.
    """
    words = np.asarray(words, dtype=int)
    K = len(words)
    eps = np.finfo(np.float64).eps
    if ratio is not None:
        p, q = (int(v) for v in ratio)
        A = np.vstack([np.eye(K), -q * np.eye(K)])
        E = np.zeros((2 * K, 2))
        E[:K, 1] = -1.0
        E[K:, 0], E[K:, 1] = -p, p + q
        c = np.zeros(2 * K)

        def slack(Z):
            S = Z[:, words]
            lo, hi = S.min(axis=1), S.max(axis=1)
            lead, spread = lo - _rest_max(Z, words), hi - lo
            value = (p * lead - q * spread) / (p + q)
            guard = 8 * eps * (p * np.abs(lead) + q * np.abs(spread)) / (p + q)
            return value - guard
    else:
        tau, delta = float(tolerance), float(margin)
        A = np.vstack([np.eye(K), -np.eye(K), np.zeros((1, K))])
        E = np.zeros((2 * K + 1, 2))
        E[:K, 1], E[K:2 * K, 1] = -1.0, 1.0
        E[-1] = [-1.0, 1.0]
        c = np.r_[np.zeros(K), np.full(K, tau), -delta]

        def slack(Z):
            S = Z[:, words]
            lo, hi = S.min(axis=1), S.max(axis=1)
            lead, spread = lo - _rest_max(Z, words), hi - lo
            guard = 4 * eps * (np.abs(lead) + abs(delta) + spread + abs(tau))
            return np.minimum(tau - spread, lead - delta) - guard
    return System(words, A, E, c, np.full(len(c), STRICT), 0, slack)


# ---------------------------------------------------------------------------
# The LP rows and the certificate check
# ---------------------------------------------------------------------------


def rows(system, W, b, J):
    """The LP in ``v = (x, y, r)`` over the other words `J`: ``max r`` with
    ``r`` added to every inequality. Inequality rows, their right sides,
    equality rows and theirs."""
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


def multipliers_of(system, J, ub, eq):
    """LP multipliers (``ub ≥ 0`` on the inequality rows of :func:`rows`,
    `eq` on its equality rows) as a :class:`Multipliers`, dropping the
    other words they do not use."""
    n_own = int(np.sum(system.kind != EQUAL))
    nu = np.zeros(len(system.kind))
    nu[system.kind != EQUAL] = ub[:n_own]
    nu[system.kind == EQUAL] = -eq        # the LP's equality rows are -g_k = 0
    mu = ub[n_own:]
    used = mu > 0
    return Multipliers(nu, np.asarray(J)[used], mu[used])


def combination(system, cert):
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


def certificate_holds(system, W, b, cert, *, exact=True):
    """Whether exact multipliers exist on the support of `cert` that prove
    `system` infeasible (:func:`._proof.prove`; `exact` as there)."""
    nu, rest, mu = cert.nu, np.asarray(cert.rest, dtype=int), cert.mu
    kind = system.kind
    if (len(nu) != len(kind) or len(rest) != len(mu)
            or np.any(nu[kind != EQUAL] < 0) or np.any(mu < 0)
            or np.any((rest < 0) | (rest >= W.shape[0]))
            or np.isin(rest, system.words).any()
            or len(np.unique(rest)) != len(rest)):
        return False
    return prove(W, b, combination(system, cert), exact=exact) is not None


def argmax_certificate(i, support, weights):
    """Word `i`'s certificate ``w_i = Σ λ_j w_j``, ``b_i ≤ Σ λ_j b_j``
    (convex `weights` on `support`) as the one-word set system's."""
    return set_system([i]), Multipliers(np.ones(1), np.asarray(support, dtype=int),
                                        np.asarray(weights, dtype=np.float64))


def order_certificate(order, set_cert):
    r"""A certificate of the set ``sorted(order)`` (multipliers of
    :func:`set_system`) as one of the ordering `order` (:func:`order_system`).

    Each set condition is a sum of the ordering's: with ``π`` = `order`,
    ``z_{π_t} - y = Σ_{s ≥ t} g_s`` (the gaps ``g_s = z_{π_s} - z_{π_{s+1}}``
    and ``g_k = z_{π_k} - y``). So ``Σ_t λ_{π_t} (z_{π_t} - y) = Σ_s ν_s g_s``
    with ``ν_s = Σ_{t ≤ s} λ_{π_t}``, and the other words' ``μ`` are
    unchanged: the same identity, hence a certificate whenever the set's is
    (an ordering's top-k set is its set).
    """
    order = np.asarray(order, dtype=int)
    lam = set_cert.nu[np.argsort(np.argsort(order))]   # λ in the order of π
    nu = np.cumsum(lam)
    total = nu.sum() + set_cert.mu.sum()     # the LP's scale: all weights sum to 1
    return Multipliers(nu / total, set_cert.rest, set_cert.mu / total)


# ---------------------------------------------------------------------------
# One witness
# ---------------------------------------------------------------------------


def _rounding_bound(system, W, b, H, w1=None):
    """Rigorous rounding bound of the question's margin at contexts `H`:
    that of a score difference, with the system's largest constant rounded
    in too."""
    err = score_error(W, b, H, w1)
    constant = np.abs(system.c).max(initial=0.0)
    return pair_tolerance(err + 2 * np.finfo(np.float64).eps * constant)


def at(system, W, b, x, w1=None):
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


def holds(system, W, b, x, margin, tol):
    """Whether `x` is a witness: the rigorous float test, then the exact one
    for a margin within its bound of zero. A rational `x` (an object array
    from the exact simplex) is checked exactly."""
    if np.asarray(x).dtype == object:
        return system.exact_witness and tiers_hold(W, b, x, system.tiers)
    if margin > tol:
        return True
    return bool(undecided_by_floats(margin, tol) and system.exact_witness
                and tiers_hold(W, b, x, system.tiers))
