r"""The last resort for small questions: an exact rational simplex.

When the float engine leaves a question undecided (its margin or its
certificate's weights are at the level of the data's own rounding, as for a
word planted as a convex combination of others and then rounded), a small
question is decided here in exact rational arithmetic on the floats as
given. The strict system "each pair ``(a, c)`` has ``z_a > z_c``" is
feasible iff

.. math:: t^* = \max_{x, t} \; t \quad\text{s.t.}\quad
          (w_a - w_c)^T x + b_a - b_c \ge t, \qquad t \le 1

is positive. The primal simplex with Bland's rule (Bland 1977, which cannot
cycle) is started from ``x = 0, t = t_0 = \min_k (b_a - b_c)``, a feasible
point, so no first phase is needed. At the optimum, ``t* > 0`` gives a
rational witness ``x``; otherwise the simplex multipliers ``y ≥ 0`` of the
pair conditions satisfy ``Σ y_k (w_a - w_c) = 0``, ``Σ y_k = 1`` and
``Σ y_k (b_a - b_c) = t* ≤ 0``: Motzkin's certificate, exact.

Only for small questions (:data:`MAX_CELLS` tableau entries): the cost is
cubic-ish in rational numbers whose size grows with the data's exponent
range.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__: list[str] = []

#: the largest tableau (rows × columns) solved exactly
MAX_CELLS = 40_000


def pairs_of(tiers, M):
    """The pairs ``(a, c)`` with ``z_a > z_c`` that `tiers` asks for."""
    tiers = [np.asarray(t, dtype=int).reshape(-1).tolist() for t in tiers]
    chosen = {w for t in tiers for w in t}
    rest = [j for j in range(M) if j not in chosen]
    pairs = [(a, c) for up, low in zip(tiers[:-1], tiers[1:]) for a in up for c in low]
    return pairs + [(a, c) for a in tiers[-1] for c in rest]


def small_enough(n_pairs, d):
    return (n_pairs + 1) * (n_pairs + 2 * d + 3) <= MAX_CELLS


def decide(W, b, pairs):
    """``(True, x)`` with a rational witness, ``(False, y)`` with exact pair
    multipliers, for the strict system `pairs` on the data `W`, `b`."""
    d = W.shape[1]
    P = len(pairs)
    Wq = {}

    def row(w):
        if w not in Wq:
            Wq[w] = [Fraction(v) for v in W[w].tolist()]
        return Wq[w]

    bq = [Fraction(v) for v in b.tolist()]
    diff = [[p - q for p, q in zip(row(a), row(c))] for a, c in pairs]
    r = [bq[a] - bq[c] for a, c in pairs]
    t0 = min(r) if r else Fraction(1)
    if t0 > 0:
        return True, [Fraction(0)] * d
    # variables v = (x+ (d), x- (d), s = t - t0 ≥ 0); rows k:
    #   -diff_k·x+ + diff_k·x- + s ≤ r_k - t0   (≥ 0: slack basis feasible)
    # and s ≤ 1 - t0. Maximise s.
    n = 2 * d + 1
    T = []
    for k in range(P):
        T.append([-v for v in diff[k]] + list(diff[k]) + [Fraction(1)]
                 + [Fraction(int(j == k)) for j in range(P + 1)] + [r[k] - t0])
    T.append([Fraction(0)] * (2 * d) + [Fraction(1)]
             + [Fraction(int(j == P)) for j in range(P + 1)] + [1 - t0])
    cols = n + P + 1
    cost = [Fraction(0)] * (2 * d) + [Fraction(-1)] + [Fraction(0)] * (P + 1) + [
        Fraction(0)]                           # reduced costs of "min -s"
    basis = list(range(n, n + P + 1))
    while True:
        enter = next((j for j in range(cols) if cost[j] < 0), None)   # Bland
        if enter is None:
            break
        best, leave = None, None
        for i, trow in enumerate(T):
            a = trow[enter]
            if a > 0:
                ratio = trow[-1] / a
                if best is None or ratio < best or (ratio == best
                                                    and basis[i] < basis[leave]):
                    best, leave = ratio, i
        if leave is None:       # cannot happen: s ≤ 1 - t0 bounds the objective
            raise RuntimeError("exact simplex: unbounded")
        piv = T[leave][enter]
        T[leave] = [v / piv for v in T[leave]]
        for i in range(len(T)):
            if i != leave and T[i][enter] != 0:
                f = T[i][enter]
                T[i] = [v - f * w for v, w in zip(T[i], T[leave])]
        f = cost[enter]
        cost = [v - f * w for v, w in zip(cost, T[leave])]
        basis[leave] = enter
    value = [Fraction(0)] * cols
    for i, j in enumerate(basis):
        value[j] = T[i][-1]
    t_star = t0 + value[2 * d]
    if t_star > 0:
        return True, [value[k] - value[d + k] for k in range(d)]
    # the duals of the pair rows are the reduced costs of their slacks
    y = [cost[n + k] for k in range(P)]
    return False, y


def witness_as_float(W, b, x, tiers, holds):
    """A float context as good as the rational witness `x`, if its rounding
    keeps every condition (``holds(W, b, x_float, tiers)``, the exact
    checker), else None."""
    top = max((abs(v) for v in x), default=Fraction(0))
    for scale in ((top if top != 0 else Fraction(1)), Fraction(1)):
        try:
            xf = np.array([float(v / scale) for v in x])
        except OverflowError:           # beyond the float range: stays rational
            continue
        if np.all(np.isfinite(xf)) and holds(W, b, xf, tiers):
            return xf
    return None


def answer(W, b, tiers, holds):
    """The exact answer to `tiers` for a small question, or None if too big.

    Returns ``(True, x)`` (a float witness when one is exact, else an object
    array of Fractions) or ``(False, pairs, y)`` (exact pair multipliers).
    """
    pairs = pairs_of(tiers, W.shape[0])
    if not small_enough(len(pairs), W.shape[1]):
        return None
    feasible, v = decide(W, b, pairs)
    if feasible:
        xf = witness_as_float(W, b, v, tiers, holds)
        return True, (xf if xf is not None else np.array(v, dtype=object))
    return False, pairs, v
