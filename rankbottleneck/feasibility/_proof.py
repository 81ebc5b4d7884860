r"""Witnesses and certificates that hold for the user's data, at any scale.

Every exact answer of the toolkit is a claim about a system of strict, weak
or equality conditions on the scores ``z = W x + b`` of a layer (see
:mod:`._systems`). It is proved in one of two ways, and both are checked
here, against the floating-point data exactly as given (every float is a
rational number):

**A witness** ``x`` at which the conditions hold. The scores are computed in
floating point with a rigorous error bound (Higham, *Accuracy and Stability
of Numerical Algorithms*, 2nd ed., §3.1: a dot product of ``n`` terms in any
order, with or without FMA, is within ``γ_n Σ|w_k x_k|``, ``γ_n = nu/(1-nu)``,
``u = 2⁻⁵³``, plus ``n η`` for underflow, ``η = 2⁻¹⁰⁷⁴``). A condition whose
float margin beats its bound holds. One that does not is decided exactly: the
few scores involved are recomputed in rational arithmetic. So a witness check
never accepts a false witness nor refuses a true one, and no tolerance of it
depends on the scale of the data.

**A certificate** (Motzkin's transposition theorem): multipliers ``u`` on
the conditions, non-negative on the inequalities, whose combination vanishes
identically in ``x`` (and in the auxiliary thresholds) while its constant is
``≤ 0`` and the strict conditions carry weight one. The float multipliers an
LP returns satisfy that identity only to rounding, which proves nothing.
What is checked is that *exact* multipliers exist on the same support:

1. small supports: the linear system of the identity is solved in exact
   integer arithmetic (fraction-free Gaussian elimination, Bareiss 1968, on
   the data scaled to integers by one power of two), and signs, constant and
   every remaining equation are checked exactly;
2. large square supports (e.g. an interior word written with ``d + 1``
   others): a verified linear solve (Rump, "Verification methods: rigorous
   results using floating-point arithmetic", Acta Numerica 2010, §10): with
   an approximate inverse ``R`` and ``‖I - R G‖ ≤ α < 1`` bounded rigorously,
   the exact solution lies within ``‖R(t - G ũ)‖/(1 - α)`` of ``ũ``, and its
   signs and constant are read off that enclosure.

A certificate neither can establish is not accepted: the answer is then
"undecided", never a guess.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__: list[str] = []

_U = 2.0 ** -53           # unit roundoff of float64
_ETA = 2.0 ** -1074       # smallest subnormal: the absolute error of underflow
_SAFE = 1.0 + 2.0 ** -40  # inflates a computed bound past its own rounding

#: supports at most this large are proved in exact integer arithmetic
EXACT_SUPPORT = 48


def _gamma(n):
    """``γ_n = n u / (1 - n u)``, inflated past the rounding of computing it."""
    return _SAFE * n * _U / (1.0 - n * _U)


# ---------------------------------------------------------------------------
# Scores and witnesses
# ---------------------------------------------------------------------------


def max_row_norm1(W):
    """``max_w ‖w‖₁``, rounded up: the one pass over `W` a score bound needs
    (form it once per layer and pass it to :func:`score_error`)."""
    d = W.shape[1]
    with np.errstate(over="ignore"):
        return float(_SAFE * (1 + _gamma(d)) * np.max(np.abs(W).sum(axis=1),
                                                       initial=0.0))


def score_error(W, b, X, w1=None):
    """Rigorous bound on the rounding of every score ``fl(W x + b)``.

    Per context (row of `X`), one bound valid for all words:
    ``γ_{d+2} (max_w ‖w‖₁ ‖x‖_∞ + max|b|) + (d + 2) η``. It scales with the
    data (no absolute floor) and squares nothing, so it neither underflows
    nor overflows before the scores do (then it is ``inf`` and nothing is
    accepted on it).
    """
    X = np.atleast_2d(X)
    d = W.shape[1]
    w1 = max_row_norm1(W) if w1 is None else w1
    with np.errstate(over="ignore", invalid="ignore"):
        bmax = np.max(np.abs(b), initial=0.0)
        xmax = np.max(np.abs(X), axis=1)
        err = _gamma(d + 2) * (w1 * xmax + bmax) * _SAFE + (d + 2) * _ETA
    return np.where(np.isfinite(err), err, np.inf)


def undecided_by_floats(margin, tol):
    """Which float margins neither prove nor refuse a witness: within their
    bound of zero (of either sign: the float margin itself may have the
    wrong one), or with an infinite bound (overflowed scores). Those are
    judged exactly (:func:`tiers_hold`)."""
    margin, tol = np.asarray(margin), np.asarray(tol)
    return ~(margin > tol) & ((margin > -tol) | ~np.isfinite(tol))


def pair_tolerance(err):
    """What a float difference of two scores, each within `err`, must exceed
    for the exact difference to be positive."""
    with np.errstate(over="ignore"):
        return 2.0 * _SAFE * err + 2 * _ETA


def exact_scores(W, b, x, words):
    """``z_w = w·x + b_w`` for `words`, in exact rational arithmetic, at a
    float or rational (object array of Fractions) context `x`."""
    xs = [Fraction(v) for v in np.asarray(x).tolist()]
    return {int(w): sum((Fraction(a) * c for a, c in zip(W[w].tolist(), xs)),
                        Fraction(b[w]))
            for w in words}


def _intervals(W, b, x, ref):
    """Rigorous enclosures ``[lo, hi]`` of ``z_w - z_ref`` for every word.

    Differences against a word of the question remove any offset the rows
    share (``W + 1 cᵀ``), so the bounds scale with the question, not with
    the data's distance from the origin.
    """
    d = W.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        D = W - W[ref]
        e = b - b[ref]
        s = D @ x + e
        err = (_gamma(d + 4) * (np.abs(D) @ np.abs(x) + np.abs(e)) * _SAFE
               + (d + 4) * _ETA)
        err = err * _SAFE + 2 * _U * (np.abs(s) + err) + _ETA
        lo, hi = s - err, s + err
    bad = ~(np.isfinite(lo) & np.isfinite(hi))
    lo[bad], hi[bad] = -np.inf, np.inf
    return lo, hi


def _above(lo, hi, upper, lower, exact):
    """Exactly: is every score of `upper` above every score of `lower`?

    Float enclosures ``[lo, hi]`` decide the clear cases; the words whose
    enclosures overlap the other side's are recomputed exactly
    (``exact(words)`` returns a dict of exact values on the same scale as
    the enclosures).
    """
    if len(upper) == 0 or len(lower) == 0:
        return True
    top, bottom = np.max(hi[lower]), np.min(lo[upper])
    if bottom > top:
        return True
    known = exact(np.concatenate([upper[lo[upper] <= top],
                                  lower[hi[lower] >= bottom]]))
    # a word known exactly is its own interval; Python compares a Fraction
    # with a float exactly
    low = min(known[w] if w in known else lo[w] for w in upper.tolist())
    high = max(known[w] if w in known else hi[w] for w in lower.tolist())
    return bool(low > high)


def tiers_hold(W, b, x, tiers):
    """Exactly: do the scores at `x` put each tier above the next, and the
    last tier above every other word?

    `tiers` is a list of word-index arrays: ``[[i]]`` asks "is ``i`` the
    strict argmax", ``[S]`` "is ``S`` the top set", ``[[π1], …, [πk]]`` "is
    this the top-k list in this order". Exact for the given floats: no
    tolerance, whatever their scale.
    """
    tiers = [np.asarray(t, dtype=int).reshape(-1) for t in tiers]
    rest = np.setdiff1d(np.arange(W.shape[0]), np.concatenate(tiers))
    x = np.asarray(x)
    if x.dtype == object:
        # a rational witness (from the exact simplex): exact scores throughout
        if x.shape != (W.shape[1],):
            return False
        z = {}

        def exact_rational(words):
            z.update(exact_scores(W, b, x, [int(w) for w in words
                                            if int(w) not in z]))
            return z

        lo = np.full(W.shape[0], -np.inf)     # nothing known: all exact
        hi = np.full(W.shape[0], np.inf)
        pairs = list(zip(tiers[:-1], tiers[1:])) + [(tiers[-1], rest)]
        return all(_above(lo, hi, up, low, exact_rational) for up, low in pairs)
    x = x.astype(np.float64)
    if x.shape != (W.shape[1],) or not np.all(np.isfinite(x)):
        return False
    ref = int(tiers[-1][0])
    lo, hi = _intervals(W, b, x, ref)
    cache = {}

    def exact(words):
        new = [int(w) for w in words if int(w) not in cache]
        if new:
            if ref not in cache:
                cache[ref] = exact_scores(W, b, x, [ref])[ref]
            for w, v in exact_scores(W, b, x, new).items():
                cache[w] = v
        zref = cache.get(ref)
        return {w: cache[w] - zref for w in cache} if cache else {}

    pairs = list(zip(tiers[:-1], tiers[1:])) + [(tiers[-1], rest)]
    return all(_above(lo, hi, up, low, exact) for up, low in pairs)


# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------


class Combination:
    r"""A Motzkin certificate's shape: which conditions it combines, and how.

    Column ``j`` is one condition ``g_j(x, y) = Σ_w C[j,w] z_{words[w]} +
    Y[j]·y + const[j]`` (``> 0`` where `norm`, ``≥ 0``, or ``= 0`` where
    `free`). The certificate is a vector ``u`` (``≥ 0`` except where `free`)
    with

    .. math:: \sum_j u_j C_j W_{words} = 0, \quad \sum_j u_j Y_j = 0, \quad
              \sum_j u_j [norm_j] = 1, \quad
              \sum_j u_j (C_j b_{words} + const_j) \le 0,

    so that ``Σ u_j g_j ≡ const ≤ 0`` while the conditions make it positive:
    no ``(x, y)`` meets them all. `u0` is the solver's float guess.
    """

    def __init__(self, words, C, Y, norm, free, const, u0):
        self.words = np.asarray(words, dtype=int)
        self.C = np.asarray(C, dtype=np.int64)
        self.Y = np.asarray(Y, dtype=np.int64).reshape(len(self.C), -1)
        self.norm = np.asarray(norm, dtype=bool)
        self.free = np.asarray(free, dtype=bool)
        self.const = np.asarray(const, dtype=np.float64)
        self.u0 = np.asarray(u0, dtype=np.float64)

    @property
    def n(self):
        return len(self.C)


def _to_int(values, shift):
    """Exact integers ``v · 2**shift`` of floats (the shift makes them so)."""
    out = []
    for v in values:
        p, q = float(v).as_integer_ratio()
        out.append((p << shift) // q)     # q divides 2**shift exactly
    return out


def _common_shift(values):
    """The smallest ``s`` with ``v · 2**s`` an integer for every float `v`."""
    shift = 0
    for v in values:
        q = float(v).as_integer_ratio()[1]
        shift = max(shift, q.bit_length() - 1)
    return shift


def _solve_exact(A, rhs):
    """Solve the square rational system ``A u = rhs`` exactly (Gauss–Jordan
    with exact pivots), or None if `A` is singular."""
    n = len(A)
    M = [[Fraction(v) for v in row] + [Fraction(r)] for row, r in zip(A, rhs)]
    for col in range(n):
        piv = next((r for r in range(col, n) if M[r][col] != 0), None)
        if piv is None:
            return None
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        row = [v / p for v in M[col]]
        M[col] = row
        for r in range(n):
            f = M[r][col]
            if r != col and f != 0:
                M[r] = [a - f * c for a, c in zip(M[r], row)]
    return [M[r][n] for r in range(n)]


def _float_system(W, b, comb, cols):
    """The identity's equations in floats, rows ``(x-part; y-part; norm)``,
    with a rigorous entrywise bound on their rounding, and the constants."""
    Wk, bk = W[comb.words], b[comb.words]
    C = comb.C[cols].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        X = C @ Wk                                        # (n, d)
        c = C @ bk + comb.const[cols]
    # a column combines at most a few words with integer weights: each
    # entry is a short sum of exact products, rounded at most once per term
    terms = np.abs(comb.C[cols]).sum(axis=1)[:, None]
    dX = _gamma(2 * terms + 1) * (np.abs(C) @ np.abs(Wk))
    dc = (_gamma(2 * terms[:, 0] + 2)
          * (np.abs(C) @ np.abs(bk) + np.abs(comb.const[cols])))
    G = np.vstack([X.T, comb.Y[cols].T.astype(float),
                   comb.norm[cols][None].astype(float)])
    dG = np.vstack([dX.T, np.zeros((comb.Y.shape[1] + 1, len(cols)))])
    return G, dG, c, dc


def _basis(G, n_eq):
    """Columns of `G` (n_eq equations) to solve for, by QR with column
    pivoting (numerically independent; the exact or verified solve below
    decides whether the choice proves anything)."""
    import scipy.linalg

    G = np.nan_to_num(G, nan=0.0, posinf=0.0, neginf=0.0)
    _, _, piv = scipy.linalg.qr(G, pivoting=True, mode="economic")
    return np.sort(piv[:min(n_eq, G.shape[1])])


def _prove_exact(W, b, comb, cols, basic, fixed):
    """Exact multipliers on `cols`: the `fixed` ones at their float values
    ``u0`` (exact rationals), the `basic` ones solved for; or None."""
    d = W.shape[1]
    Wk, bk = W[comb.words], b[comb.words]
    shift = _common_shift(np.concatenate([Wk.ravel(), bk, comb.const[cols]]))
    Wi = [_to_int(r, shift) for r in Wk.T.tolist()]       # (d, K) ints
    bi = _to_int(bk.tolist(), shift)
    ci = dict(zip(cols.tolist(), _to_int(comb.const[cols].tolist(), shift)))
    K = len(comb.words)

    def column(j):
        Cj = comb.C[j].tolist()
        x = [sum(Cj[w] * Wi[r][w] for w in range(K) if Cj[w]) for r in range(d)]
        return (x + [int(v) for v in comb.Y[j]] + [int(comb.norm[j])],
                sum(Cj[w] * bi[w] for w in range(K) if Cj[w]) + ci[j])

    cB = [column(j) for j in basic]
    cF = [column(j) for j in fixed]
    uF = [Fraction(v) for v in comb.u0[fixed].tolist()]
    n_eq = d + comb.Y.shape[1] + 1
    rhs = [Fraction(0)] * (n_eq - 1) + [Fraction(1)]
    for (col, _), u in zip(cF, uF):
        rhs = [t - a * u if a else t for t, a in zip(rhs, col)]
    eqs = [[cB[k][0][r] for k in range(len(basic))] for r in range(n_eq)]
    if len(basic):
        G = _float_system(W, b, comb, basic)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            G = G / np.max(np.abs(G), axis=1, keepdims=True)
        rows = _basis(G.T, len(basic))
        if len(rows) < len(basic):
            return None
        uB = _solve_exact([eqs[r] for r in rows], [rhs[r] for r in rows])
        if uB is None:
            return None
    else:
        uB = []
    if any(sum(a * x for a, x in zip(row, uB) if a) != t for row, t in zip(eqs, rhs)):
        return None
    u = dict(zip(basic.tolist(), uB)) | dict(zip(fixed.tolist(), uF))
    if any(u[j] < 0 for j in cols.tolist() if not comb.free[j]):
        return None
    const = sum(u[j] * c for j, (_, c) in zip(basic.tolist() + fixed.tolist(),
                                                cB + cF))
    return [u[j] for j in cols.tolist()] if const <= 0 else None


def _prove_enclosure(W, b, comb, cols, basic, fixed, system=None):
    """Float multipliers on `cols` whose exact counterpart provably exists:
    the `fixed` ones at their float values ``u0``, the `basic` ones (as many
    as there are equations) enclosed by Rump's verified linear solve; or
    None. `system` is :func:`_float_system` of `cols`, if already formed."""
    G, dG, c, dc = system if system is not None else _float_system(W, b, comb, cols)
    n = G.shape[0]
    pos = {j: k for k, j in enumerate(cols.tolist())}
    B = np.array([pos[j] for j in basic.tolist()], dtype=int)
    F = np.array([pos[j] for j in fixed.tolist()], dtype=int)
    if len(B) != n or not (np.all(np.isfinite(G)) and np.all(np.isfinite(c))):
        return None
    uF = comb.u0[fixed]
    if np.any(uF[~comb.free[fixed]] < 0):
        return None
    # rows scaled by powers of two (exact) for a well-scaled inverse
    scale = np.ldexp(1.0, -np.frexp(np.max(np.abs(G), axis=1))[1])
    scale[~np.isfinite(scale) | (scale == 0)] = 1.0
    G, dG = G * scale[:, None], dG * scale[:, None]
    GB, dGB, GF, dGF = G[:, B], dG[:, B], G[:, F], dG[:, F]
    g = _gamma(n + len(F) + 2)
    t = np.zeros(n)
    t[-1] = scale[-1]
    with np.errstate(over="ignore", invalid="ignore"):
        # the fixed columns move to the right-hand side, with their rounding
        t_f = t - GF @ uF
        dt = (g * (np.abs(t) + np.abs(GF) @ np.abs(uF)) + dGF @ np.abs(uF)) * _SAFE
        try:
            R = np.linalg.inv(GB)
        except np.linalg.LinAlgError:
            return None
        u = R @ t_f
        u = u + R @ (t_f - GB @ u)
        res = (np.abs(t_f - GB @ u) + dt
               + (g * (np.abs(t_f) + np.abs(GB) @ np.abs(u)) + dGB @ np.abs(u)) * _SAFE
               + (n + len(F) + 2) * _ETA)
        E = (np.abs(np.eye(n) - R @ GB)
             + (g * (np.eye(n) + np.abs(R) @ np.abs(GB)) + np.abs(R) @ dGB) * _SAFE
             + (n + 2) * _ETA)
        alpha = np.max(E.sum(axis=1)) * (1 + _gamma(n))
        if not alpha < 1:
            return None
        delta = (np.max(np.abs(R) @ res) * (1 + _gamma(n)) * _SAFE
                 / ((1 - alpha) * (1 - _U)) + _ETA)
        if not np.all(u[~comb.free[basic]] > delta * _SAFE):
            return None
        full = np.zeros(len(cols))
        full[B], full[F] = u, uF
        err = np.zeros(len(cols))
        err[B] = delta
        if np.any(b[comb.words] != 0) or np.any(comb.const[cols] != 0):
            # each product c_j u_j may underflow (η/2 lost apiece): without
            # that term a constant of a few η computes as 0 and passes
            top = (c @ full + (g * np.abs(c) @ np.abs(full) + dc @ (np.abs(full) + err)
                               + np.abs(c) @ err) * _SAFE * (1 + 2 * g)
                   + (2 * len(cols) + 2) * _ETA)
            if not (np.isfinite(top) and top <= 0):
                return None
    return list(full)


def prove(W, b, comb, *, exact=True):
    """Exact multipliers (Fractions) or enclosed float ones for `comb`, or
    None when no certificate can be established on its support.

    The columns used are those the solver weighted (``u0 ≠ 0``). As many of
    them as there are independent equations are solved for; the others keep
    their float weights (exact rationals), which must be non-negative. A
    square system is tried by the verified solve (Rump's enclosure) first;
    when that cannot separate a weight from zero, or the system is not
    square, it is solved exactly if at most :data:`EXACT_SUPPORT` columns
    are solved for (and `exact`: a speculative certificate is tried by the
    enclosure alone, which costs little when it fails).
    """
    if not np.all(np.isfinite(comb.u0)):
        return None
    cols = np.flatnonzero(comb.u0 != 0)
    if len(cols) == 0 or not comb.norm[cols].any():
        return None
    # the weights kept fixed must be on the scale of the norm equation
    mass = comb.u0[comb.norm].sum()
    if not (np.isfinite(mass) and mass > 0):
        return None
    comb = Combination(comb.words, comb.C, comb.Y, comb.norm, comb.free, comb.const,
                       comb.u0 / mass)
    system = _float_system(W, b, comb, cols)
    G = system[0]
    n_eq = G.shape[0]
    basic = cols if len(cols) == n_eq else cols[_basis(G, n_eq)]
    fixed = np.setdiff1d(cols, basic)
    u = None
    if len(basic) == n_eq:            # square: the verified solve is cheapest
        u = _prove_enclosure(W, b, comb, cols, basic, fixed, system)
    if u is None and exact and len(basic) <= EXACT_SUPPORT:
        u = _prove_exact(W, b, comb, cols, basic, fixed)
    if u is None:
        return None
    # the proof is for a certificate on this support; the stated weights
    # must be (a float rendering of) it, so that an altered report is caught
    stated = comb.u0[cols]
    if np.max(np.abs(np.array([float(v) for v in u]) - stated)) > 1e-6 * np.max(
            np.abs(stated)):
        return None
    out = np.zeros(comb.n, dtype=object)
    out[cols] = list(u)
    return out
