r"""The one LP engine: HiGHS with constraint generation over the other words.

A question's :class:`._systems.System` is decided by the LP ``max r`` with
``r`` added to every inequality (``r ≤ 1``), over a working set of the
other words that grows by the words a solution violates. First, near the
best cheap candidate, the ``ℓ₁``-nearest context meeting every condition
with a fixed slack (:func:`repair`): maximising the slack instead drives
the LP to a far vertex, where words outside the working set win and the
generation crawls. A positive ``r`` gives a context that is then *proved*
a witness (:func:`._systems.holds`); ``r ≤ 0`` gives, from the dual, the
multipliers of a certificate, which are polished and proved
(:func:`._systems.certificate_holds`) before they are reported. A question
the floats leave undecided is decided, when small, by the exact rational
simplex (:mod:`._exact`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from . import _exact, _highs
from ._proof import tiers_hold
from ._systems import (
    EQUAL,
    Multipliers,
    at,
    certificate_holds,
    holds,
    multipliers_of,
    rows,
)

__all__: list[str] = []


class LPFailed(RuntimeError):
    """Every HiGHS method failed (a numerically hopeless LP): undecided."""


# HiGHS choice first, then dual simplex, then interior point at its default
# tolerances: an occasional "Not Set" status of one solver is not a verdict.
_ATTEMPTS = (
    ("highs", {"primal_feasibility_tolerance": 1e-10,
               "dual_feasibility_tolerance": 1e-10}),
    ("highs-ds", {"primal_feasibility_tolerance": 1e-10,
                  "dual_feasibility_tolerance": 1e-10}),
    ("highs-ipm", {}),
)


def linprog(c, A_ub, b_ub, A_eq=None, b_eq=None, bounds=None, attempts=_ATTEMPTS):
    """scipy's HiGHS (as :func:`scipy.optimize.linprog` calls it, see
    :mod:`._highs`), each method in turn until one reaches an optimum;
    :class:`LPFailed` if none does (or the rows are beyond the float range)."""
    if A_eq is not None and len(A_eq) == 0:
        A_eq = b_eq = None
    messages = []
    for method, options in attempts:
        try:
            res = _highs.solve(c, A_ub, b_ub, A_eq, b_eq, bounds, method, options)
        except ValueError as exc:      # rows beyond the float range (inf, NaN)
            raise LPFailed(str(exc)) from None
        if res.status == 0:
            return res
        messages.append(f"{method}: {res.message}")
    raise LPFailed("; ".join(messages))


def solve(system, W, b, J, box):
    """``max r`` over the working set `J`: ``(r, v, λ_ub, λ_eq)`` with
    ``v = (x, y, r)`` and the dual multipliers (``-`` HiGHS's marginals)."""
    d, m = W.shape[1], system.m
    A_ub, b_ub, A_eq, b_eq = rows(system, W, b, J)
    bounds = ([(-box, box) if box is not None else (None, None)] * d
              + [(None, None)] * m + [(None, 1.0)])
    cost = np.zeros(d + m + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub, b_ub, A_eq, b_eq, bounds)
    lam_eq = -res.eqlin.marginals if len(b_eq) else np.zeros(0)
    return -res.fun, res.x, -res.ineqlin.marginals, lam_eq


def repair(system, W, b, J, h0, delta):
    """The context nearest `h0` in ``ℓ₁`` where every condition holds with
    slack `delta` over the working set `J`, or None if there is none."""
    d, m = W.shape[1], system.m
    A_ub, b_ub, A_eq, b_eq = rows(system, W, b, J)
    n = A_ub.shape[0]
    # v = (x, y, r, s): r fixed to delta, s_i ≥ |x_i - h0_i|
    A_ub = np.hstack([A_ub, np.zeros((n, d))])
    eye = np.eye(d)
    pad = np.zeros((d, m + 1))
    A_abs = np.vstack([np.hstack([eye, pad, -eye]), np.hstack([-eye, pad, -eye])])
    A_ub = np.vstack([A_ub, A_abs])
    b_ub = np.concatenate([b_ub, h0, -h0])
    A_eq = np.hstack([A_eq, np.zeros((len(A_eq), d))])
    cost = np.concatenate([np.zeros(d + m + 1), np.ones(d)])
    bounds = [(None, None)] * (d + m) + [(delta, delta)] + [(0, None)] * d
    try:
        res = linprog(cost, A_ub, b_ub, A_eq, b_eq, bounds, attempts=_ATTEMPTS[:1])
    except LPFailed:
        return None
    return res.x[:d]


# ---------------------------------------------------------------------------
# Certificates from the dual
# ---------------------------------------------------------------------------


def _polish(system, W, b, J, lam_ub, lam_eq):
    """Exact-looking multipliers from the LP dual, by NNLS on its support.

    Solves ``Σ λ_k row_k = e_r`` (the ``x`` and ``y`` parts zero, the ``r``
    part one) with ``λ ≥ 0`` on inequalities (equalities split into two
    signs), over the rows the dual uses. The sparsest certificate.
    """
    A_ub, _, A_eq, _ = rows(system, W, b, J)
    top = max(lam_ub.max(initial=0.0), np.abs(lam_eq).max(initial=0.0), 1e-300)
    keep_ub = np.flatnonzero(lam_ub > 1e-12 * top)
    M = np.vstack([A_ub[keep_ub], A_eq, -A_eq]).T          # (d+m+1, n)
    target = np.zeros(M.shape[0])
    scale = max(np.abs(M).max(initial=0.0), 1.0)
    M = np.vstack([M[:-1], 1e3 * scale * M[-1:]])
    target[-1] = 1e3 * scale
    lam, _ = scipy.optimize.nnls(M, target, maxiter=50 * max(M.shape[1], 10))
    ub = np.zeros(A_ub.shape[0])
    ub[keep_ub] = lam[:len(keep_ub)]
    n_eq = len(A_eq)
    eq = lam[len(keep_ub):len(keep_ub) + n_eq] - lam[len(keep_ub) + n_eq:]
    return multipliers_of(system, J, ub, eq)


def _interior(system, W, b, J, rounds=3):
    """Multipliers whose smallest weight on the other words, over a working
    set grown from `J`, is as large as possible (an LP), or None.

    A vertex of the dual sits on as few words as it can, and on rounded
    data (an interior word made as a convex combination of three others,
    then rounded) that support carries no exact certificate. Weights bounded
    away from zero on words that surround the question in every direction
    leave room for the rounding, so an exact certificate on the same support
    exists (:func:`._proof.prove`). When the best smallest weight is zero,
    the LP's dual names a direction in which nothing so far beats the
    question; the words scoring highest along it, and against it, join.
    """
    d, M = W.shape[1], W.shape[0]
    k = max(8, d // 4)
    J = np.asarray(J, dtype=int)
    n_own = int(np.sum(system.kind != EQUAL))
    for _ in range(rounds):
        A_ub, b_ub, A_eq, b_eq = rows(system, W, b, J)
        n_ub, n_eq, n = A_ub.shape[0], A_eq.shape[0], len(J)
        # unknowns (λ_ub ≥ 0, λ_eq free, t): Σ λ row = e_r, Σ λ rhs ≤ 0,
        # t ≤ λ_j on the other words; max t
        eqs = np.hstack([A_ub.T, A_eq.T, np.zeros((A_ub.shape[1], 1))])
        target = np.zeros(A_ub.shape[1])
        target[-1] = 1.0
        cons = np.zeros((n + 1, n_ub + n_eq + 1))
        cons[np.arange(n), n_own + np.arange(n)] = -1.0
        cons[:n, -1] = 1.0
        cons[n, :n_ub + n_eq] = np.r_[b_ub, b_eq]
        bounds = [(0, None)] * n_ub + [(None, None)] * n_eq + [(None, 1.0 / max(n, 1))]
        cost = np.zeros(n_ub + n_eq + 1)
        cost[-1] = -1.0
        try:
            res = linprog(cost, cons, np.zeros(n + 1), eqs, target, bounds,
                          attempts=_ATTEMPTS[:1])
        except LPFailed:
            return None
        if res.x[-1] > 1e-6 / max(n, 1):
            return multipliers_of(system, J, res.x[:n_ub], res.x[n_ub:n_ub + n_eq])
        y = res.eqlin.marginals[:d]
        if not np.any(y):
            return None
        s = W @ y
        s[system.words] = np.nan
        s[J] = np.nan
        order = np.argsort(s)                 # NaN last
        valid = order[:M - len(system.words) - n]
        new = np.union1d(valid[:k], valid[-k:])
        if len(new) == 0:
            return None
        J = np.union1d(J, new)
    return None


def certificate(system, W, b, J, lam_ub, lam_eq):
    """A proved certificate from the LP dual over `J`, or None: the polished
    (sparsest) multipliers, the dual's own, then interior ones (see
    :func:`_interior`)."""
    tries = (lambda: _polish(system, W, b, J, lam_ub, lam_eq),
             lambda: multipliers_of(system, J, lam_ub, lam_eq),
             lambda: _interior(system, W, b, J))
    for attempt in tries:
        cert = attempt()
        if cert is not None and certificate_holds(system, W, b, cert):
            return cert
    return None


def _nnls_certificate(system, W, b, h0, k, rounds=4):
    """A certificate found without an LP, or None: NNLS over the `k` other
    words scoring highest at `h0`, then column generation on its residual.

    NNLS fits ``Σ λ row = e_r`` on the working set; where it falls short,
    the other words pointing most along the residual's ``x`` part are the
    ones that close the gap (as a simplex prices columns), and ``d + 1``
    of them join. Each try is proved by the verified enclosure alone.
    """
    J = _strongest_rest(system, W @ h0 + b, k, [])
    d = W.shape[1]
    ineq, eq = system.kind != EQUAL, system.kind == EQUAL
    for _ in range(rounds):
        cert = _polish(system, W, b, J, np.ones(int(ineq.sum()) + len(J)),
                       np.ones(int(eq.sum())))
        if certificate_holds(system, W, b, cert, exact=False):
            return cert
        A_ub, _, A_eq, _ = rows(system, W, b, J)
        where = {int(j): n for n, j in enumerate(J)}
        mu = np.zeros(len(J))
        mu[[where[int(j)] for j in cert.rest]] = cert.mu
        residual = -(np.r_[cert.nu[ineq], mu] @ A_ub - cert.nu[eq] @ A_eq)
        residual[-1] += 1.0
        new = _strongest_rest(system, W @ residual[:d], d + 1, J)
        if len(new) == 0:
            return None
        J = np.concatenate([J, new])
    return None


# ---------------------------------------------------------------------------
# Constraint generation
# ---------------------------------------------------------------------------


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


def _decide_float(system, W, b, h0, *, box=None, k0=64, max_rounds=50, w1=None,
                  repair_rounds=None, last_resort=True):
    """Constraint generation: ``(feasible, witness, margin, tol, cert, n_lp)``.

    ``feasible`` is True (proved witness), False (proved certificate) or
    None (neither proved: a numerically degenerate question). `box` bounds
    the contexts (``|x_i| ≤ box``); a question without constants on a layer
    without a bias is a cone and is solved in the unit box (on SmolLM2's
    head the unboxed Chebyshev centre of a thin cone ran off along it for
    45 rounds where the boxed LP took 6). After `max_rounds` LPs the last
    one is over every word (`last_resort`), or the question is left
    undecided (``last_resort=False``: a bounded effort).
    """
    M = W.shape[0]
    n_rest = M - len(system.words)
    user_box = box
    if box is None and not b.any() and not system.c.any():
        box = 1.0
    z0 = W @ h0 + b
    J = _strongest_rest(system, z0, k0, [])
    n_lp = 0
    undecided = (None, None, np.nan, np.nan, None)
    delta = 1e-2 * max(np.std(z0), 1e-12 * (np.abs(z0).max() + 1.0))
    try:
        for _ in range(max_rounds if repair_rounds is None else repair_rounds):
            x = repair(system, W, b, J, h0, delta)
            n_lp += 1
            if x is None:
                break
            z, margin, tol = at(system, W, b, x, w1)
            if (holds(system, W, b, x, margin, tol)
                    and (user_box is None or np.all(np.abs(x) <= user_box))):
                return True, x, margin, tol, None, n_lp
            new = _strongest_rest(system, z, k0, J)
            if len(new) == 0:
                break
            J = np.concatenate([J, new])
        for round_ in range(max_rounds + 1):
            if round_ == max_rounds:        # did not settle: every word at once
                if not last_resort:
                    break
                J = np.setdiff1d(np.arange(M), system.words)
            r, v, lam_ub, lam_eq = solve(system, W, b, J, box)
            n_lp += 1
            if r <= 0:
                cert = certificate(system, W, b, J, lam_ub, lam_eq)
                if cert is None and box is not None:
                    # the box may hold part of the dual: ask again without it
                    r, v, lam_ub, lam_eq = solve(system, W, b, J, None)
                    n_lp += 1
                    if r > 0:
                        box = None
                    else:
                        cert = certificate(system, W, b, J, lam_ub, lam_eq)
                if r <= 0:
                    if cert is not None:
                        return False, None, np.nan, np.nan, cert, n_lp
                    return *undecided, n_lp
            x = v[:W.shape[1]]
            if user_box is not None and not np.all(np.abs(x) <= user_box):
                # only the unboxed retry found it: not an answer within the box
                return *undecided, n_lp
            z, margin, tol = at(system, W, b, x, w1)
            if holds(system, W, b, x, margin, tol):
                return True, x, margin, tol, None, n_lp
            new = _strongest_rest(system, z, k0, J)
            if len(new) == 0 or len(J) >= n_rest:  # holds on all, at rounding level
                return *undecided, n_lp
            J = np.concatenate([J, new])
    except LPFailed:
        pass
    return *undecided, n_lp


@dataclass(frozen=True)
class Decision:
    """One question decided: `feasible` True (a proved `witness`, with its
    `margin` and the rounding bound `tol` it beats), False (a proved
    `certificate`) or None (neither could be proved); how (`method`
    ``"lp"`` or ``"exact"``) and with how many LPs."""

    feasible: bool | None
    witness: np.ndarray | None = None
    margin: float = np.nan
    tol: float = np.nan
    certificate: Multipliers | None = None
    n_lp: int = 0
    method: str = ""


def decide(system, W, b, h0, *, box=None, k0=64, max_rounds=50, w1=None,
           repair_rounds=None, first_certificate=0, certificate_from=None,
           last_resort=True):
    """Decide `system`, starting near the candidate context `h0`: a
    :class:`Decision`.

    Constraint generation first; a small question it left undecided is then
    decided by the exact simplex (:mod:`._exact`), whose witness is an
    object array of Fractions when no float context is exact (its `tol` is
    then 0). With `first_certificate` ``k > 0``, multipliers on the `k`
    other words scoring highest at `h0` (or at `certificate_from`: a
    context that points at the question's words, not one already pushed
    past them) are tried first, by non-negative
    least squares (no LP): an interior word in ``d`` dimensions needs
    ``d + 1`` words around it, which constraint generation, adding ``k0``
    words a round, reaches only after many LPs. With ``last_resort=False``
    the effort is bounded: no LP over every word after `max_rounds`, and no
    exact simplex; what is not proved by then is undecided.
    """
    if first_certificate and box is None:
        cert = _nnls_certificate(system, W, b,
                                 h0 if certificate_from is None else certificate_from,
                                 first_certificate)
        if cert is not None:
            return Decision(False, certificate=cert, method="nnls")
    feasible, x, margin, tol, cert, n_lp = _decide_float(
        system, W, b, h0, box=box, k0=k0, max_rounds=max_rounds, w1=w1,
        repair_rounds=repair_rounds, last_resort=last_resort)
    if feasible is not None:
        return Decision(feasible, x, margin, tol, cert, n_lp, "lp")
    undecided = Decision(None, n_lp=n_lp)
    if box is not None or not system.exact_witness or not last_resort:
        return undecided
    ans = _exact.answer(W, b, system.tiers, tiers_hold)
    if ans is None:
        return undecided
    if ans[0]:
        x = ans[1]
        _, margin, _ = at(system, W, b, x)
        return Decision(True, x, margin, 0.0, None, n_lp, "exact")
    cert = _pair_multipliers(system, *ans[1:])
    if certificate_holds(system, W, b, cert):
        return Decision(False, certificate=cert, n_lp=n_lp, method="exact")
    return undecided


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
    return Multipliers(nu, rest, np.array([rest_mu[j] for j in rest]))
