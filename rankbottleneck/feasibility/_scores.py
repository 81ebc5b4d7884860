r"""A layer's scores at batches of candidate contexts, and the questions' margins.

Every question builder checks candidate contexts the same way: the scores
``Z = H Wᵀ + b`` of a block of contexts, each question's slack at its own
context (a set's chosen words over the best other word; an ordering's gaps,
then its last word over the best other word), and the rigorous rounding
bound a slack must beat (:mod:`._proof`). This module does that once, for
one word (the one-word set), for sets and for orderings.

The product is the whole cost of checking a vocabulary: ``2 n M d`` flops
for ``n`` contexts. On a large layer it is screened in float32 first, at
about twice float64's GEMM rate, with a bound that covers rounding the data
and the contexts to float32 (so a slack it proves holds for the float64
context as given, not for a rounded copy); only the slacks it cannot prove
are recomputed in float64, and only those still too close to call are
judged exactly (:func:`._proof.tiers_hold`).
"""

from __future__ import annotations

import numpy as np

from .._threads import _threaded
from ._proof import (
    _ETA,
    _U,
    _gamma,
    max_row_norm1,
    pair_tolerance,
    score_error,
    tiers_hold,
    undecided_by_floats,
)

__all__: list[str] = []

#: layers at least this large (M·d) are screened in float32 first: below it
#: the product is cheap and one float64 pass is simpler
SCREEN_SIZE = 2 ** 22

_U32 = 2.0 ** -24
_ETA32 = 2.0 ** -149
_SAFE = 1.0 + 2.0 ** -40


def _gamma32(n):
    """``γ_n`` of float32, inflated past the rounding of computing it."""
    return _SAFE * n * _U32 / (1.0 - n * _U32)


def _screen_error(w1, bmax, X, d):
    """Rigorous bound on ``|fl32(fl32(W) fl32(x) + fl32(b)) - (W x + b)|``.

    Rounding `x`, `W` and `b` to float32 costs ``u₃₂`` relative each (plus
    ``η₃₂`` absolute in the subnormal range), the float32 dot product of
    ``d`` terms and the added bias ``γ_{d+1}`` (Higham 2002, §3.1); together
    at most ``γ_{d+5} (max‖w‖₁ ‖x‖_∞ + max|b|)`` plus the underflow terms.
    """
    gamma = _gamma32(d + 5)
    with np.errstate(over="ignore", invalid="ignore"):
        xmax = np.max(np.abs(X), axis=1)
        err = (gamma * (w1 * xmax + bmax) * _SAFE
               + _ETA32 * (2 * w1 + 2 * d * xmax + 2 * d + 4))
    return np.where(np.isfinite(err), err, np.inf)


class Scores:
    """The scores of one layer ``z = W x + b`` (float64 data at unit scale,
    :mod:`._scale`), with what every bound needs computed once."""

    def __init__(self, W, b, *, w1=None, screen=None):
        self.W, self.b = W, b
        self.w1 = max_row_norm1(W) if w1 is None else w1
        self.bmax = float(np.max(np.abs(b), initial=0.0))
        self.has_bias = bool(np.any(b))
        if screen is None:
            screen = W.size >= SCREEN_SIZE
        # a layer beyond float32's range is not screened (it would overflow)
        big = max(np.max(np.abs(W), initial=0.0), np.max(np.abs(b), initial=0.0))
        self.screened = bool(screen) and big < 2.0 ** 100
        if self.screened:
            self.W32, self.b32 = W.astype(np.float32), b.astype(np.float32)

    def _at(self, H, screened):
        """Scores at the contexts `H`, in float32 (screened) or float64; the
        bias is added in place (the product is the one full-size array)."""
        with np.errstate(over="ignore", invalid="ignore"):
            if screened:
                Z = H.astype(np.float32) @ self.W32.T
                b = self.b32
            else:
                Z = H @ self.W.T
                b = self.b
            if self.has_bias:
                Z += b
        return Z

    def _no_overflow(self, H, dtype):
        """Rows whose scores cannot overflow in `dtype` (no partial sum can
        reach its range), so that every bound holds; the others prove
        nothing in floats and are judged exactly."""
        top = np.finfo(dtype).max / 4
        xmax = np.max(np.abs(H), axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            reach = self.w1 * xmax + self.bmax
        return (reach < top) & (xmax < top)

    def top(self, H):
        """The highest-scoring word at each context (a guess, to be proved)."""
        with np.errstate(invalid="ignore"):
            return np.argmax(self._at(H, self.screened), axis=1)

    def slacks(self, Q, H, question="set", fast=False):
        """Slack of every condition of each question (row of `Q`) at its
        context (row of `H`), and the best other word; from float32 scores
        where `fast` (a search step, not a proof) and the layer is
        screened. A NaN slack (overflowed scores) is ``-inf``."""
        return _slacks(self._at(H, fast and self.screened), Q, question)

    def margins(self, Q, H, question="set"):
        """Each question's margin at its context and the bound it must beat.

        A margin above its bound proves the context a witness; one within
        it of zero is judged exactly by :meth:`holds`. On a screened layer
        the float32 margins that beat their bound are kept and the rest are
        recomputed in float64.
        """
        n, d = len(Q), self.W.shape[1]
        margin = np.full(n, -np.inf)
        tol = np.full(n, np.inf)
        todo = np.arange(n)
        if self.screened and n:
            slack, _ = _slacks(self._at(H, True), Q, question)
            m32 = slack.min(axis=1)
            t32 = pair_tolerance(_screen_error(self.w1, self.bmax, H, d))
            ok = self._no_overflow(H, np.float32) & (m32 > t32)
            margin[ok], tol[ok] = m32[ok], t32[ok]
            todo = np.flatnonzero(~ok)
        if len(todo):
            Hd = H[todo]
            slack, _ = _slacks(self._at(Hd, False), Q[todo], question)
            margin[todo] = slack.min(axis=1)
            tol[todo] = np.where(self._no_overflow(Hd, np.float64),
                                 pair_tolerance(score_error(self.W, self.b, Hd, self.w1)),
                                 np.inf)
        return margin, tol

    def holds(self, Q, H, margin, tol, question="set"):
        """Which contexts are witnesses: the rigorous float test, then the
        exact one where a margin is within its bound of zero (either sign:
        the float margin itself may have the wrong one)."""
        ok = margin > tol
        for k in np.flatnonzero(undecided_by_floats(margin, tol)):
            ok[k] = tiers_hold(self.W, self.b, H[k], tiers_of(Q[k], question))
        return ok

    def witnesses(self, Q, H, question="set"):
        """:meth:`margins` and :meth:`holds` together: ``(ok, margin, tol)``."""
        margin, tol = self.margins(Q, H, question)
        return self.holds(Q, H, margin, tol, question), margin, tol


def tiers_of(words, question):
    """The question as ordered tiers (:func:`._proof.tiers_hold`)."""
    words = np.asarray(words, dtype=int)
    return (words,) if question == "set" else tuple(words[:, None])


def _slacks(Z, Q, question):
    """Slacks from scores `Z` (overwritten): see :meth:`Scores.slacks`."""
    rows = np.arange(len(Q))
    S = Z[rows[:, None], Q].astype(np.float64)
    Z[rows[:, None], Q] = -np.inf
    c_rest = Z.argmax(axis=1)
    rest = Z[rows, c_rest].astype(np.float64)[:, None]
    with np.errstate(invalid="ignore"):       # inf - inf: overflowed scores
        if question == "set":
            slack = S - rest
        else:
            slack = np.concatenate([S[:, :-1] - S[:, 1:], S[:, -1:] - rest], axis=1)
    return np.where(np.isnan(slack), -np.inf, slack), c_rest


def project(scores, Q, H, question, whiten, rounds):
    """Relaxed projections (Agmon–Motzkin) of each context onto the
    condition it violates most, in the whitened metric: the cheap repair of
    a candidate that is nearly right.

    Each round moves a context whose smallest slack is below 5% of the
    spread of its scores 1.5 times the way to that target, along
    ``Σ⁻¹(w_a - w_c)`` for the violated pair ``z_a > z_c``.
    """
    W = scores.W
    H = H.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.std(H @ W[:: max(1, W.shape[0] // 512)].T, axis=1) + 1e-300
    k = Q.shape[1]
    rows = np.arange(len(Q))
    for _ in range(rounds):
        slack, c_rest = scores.slacks(Q, H, question, fast=True)
        at = slack.argmin(axis=1)
        a = Q[rows, at]
        c = (c_rest if question == "set"
             else np.where(at < k - 1, Q[rows, np.minimum(at + 1, k - 1)], c_rest))
        worst = slack[rows, at]
        need = worst < 0.05 * spread
        if not need.any():
            break
        n = W[a[need]] - W[c[need]]
        step = n @ whiten
        q = np.einsum("ij,ij->i", step, n)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            gain = (0.05 * spread[need] - worst[need]) * 1.5 / q
            moved = H[need] + gain[:, None] * step
        # tied words (q = 0) or a step past the float range: no move
        keep = np.all(np.isfinite(moved), axis=1)
        H[np.flatnonzero(need)[keep]] = moved[keep]
    return H


def whitened_screen(W, b, mu, L, block=2048):
    r"""The whitened candidate of every word and its proved margin, from one
    symmetric product: half the flops of scoring ``M`` candidates against
    ``M`` words.

    Word ``i``'s candidate is ``h_i = fl(v_i Lᵀ)``, ``v_i = fl(y_i - m)``
    with ``y_i = fl(w_i L)``, ``m = fl(μ L)`` (``L Lᵀ ≈ Σ⁻¹``,
    :func:`~._candidates.whitening_factor`: ``h_i ≈ Σ⁻¹(w_i - μ)``). Exactly, with ``ỹ =
    W L`` and ``m̃ = μ L`` (exact products of the floats),

    .. math::

        w_j·h_i + b_j = ỹ_j·ỹ_i - (ỹ_j·m̃ - b_j) + ỹ_j·ρ_i + w_j·δ_i,

    ``ρ_i = v_i - (ỹ_i - m̃)`` and ``δ_i = h_i - v_i Lᵀ`` the rounding. The first term is symmetric in ``(i, j)``: ``P =
    Y Yᵀ`` (float32, ``Y = fl₃₂(fl(W L))``) is formed one block pair
    ``J ≥ I`` at a time and read both ways, ``M²d`` flops instead of
    ``2M²d``. Every rounding (of ``Y`` and ``m̃``, of the float32 product,
    of ``c = Y m - b`` and its float32 copy, of the float32 subtraction, of
    ``ρ`` and ``δ``) is bounded in 2-norms (Higham 2002, §3.1; ``‖|L|‖₂ ≤
    ‖L‖_F``), which gives per word one bound ``E_i`` on the error of every
    one of its scores. A margin ``T_ii - max_{j≠i} T_ij`` above
    :func:`~._proof.pair_tolerance` of ``E_i`` proves ``h_i`` a witness for
    word ``i``, for the float64 ``h_i`` returned.

    `W`, `b` are at unit scale (:mod:`._scale`). Returns ``(H, margin,
    tol)``; a margin that is not finite proves nothing (NaN compares false).
    """
    M, d = W.shape
    b = np.zeros(M) if b is None else b
    g, g32 = _gamma(d + 1), _gamma32(d)
    tiny, tiny32 = d * d * _ETA, d * d * _ETA32          # underflow, generously
    up = 1.0 + 2.0 ** -30                               # norms computed in floats
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        Y = W @ L
        m = mu @ L
        c = Y @ m - b
        Y32, c32 = Y.astype(np.float32), c.astype(np.float32)
        ell = float(np.linalg.norm(L)) * up
        A = _row_norms(Y) * (up * (1 + 2 * _U32)) + tiny32
        V = np.subtract(Y, m, out=Y)                     # Y is not needed again
        H = V @ L.T
        wn = _row_norms(W) * up
        e = g * wn * ell + tiny                          # ‖Y_j - ỹ_j‖
        r = e + 2 * _U32 * A + tiny32                    # ‖Y32_j - ỹ_j‖
        mn = float(np.linalg.norm(m)) * up
        em = g * float(np.linalg.norm(mu)) * up * ell + tiny
        cabs = np.abs(c)
        kappa = (g * (A * mn + np.abs(b)) + e * mn + (A + e) * em + tiny  # ĉ - c
                 + 2 * _U32 * cabs + _ETA32)                             # ĉ32 - ĉ
        vn = _row_norms(V) * up
        rho = 2 * _U * vn + e + em                       # ‖v_i - (ỹ_i - m̃)‖
        delta = g * vn * ell + tiny                      # ‖h_i - v_i Lᵀ‖
        Amax, rmax, wmax = A.max(), r.max(), wn.max()
        c32max = float(np.max(np.abs(c32))) * up
        P_bound = A * Amax * (1 + g32) + tiny32           # |P32_ij| for row i
        err = (g32 * A * Amax + tiny32                     # the float32 product
               + r * Amax + rmax * A + r * rmax           # Y32 against ỹ
               + kappa.max()                               # c
               + 2 * _U32 * (P_bound + c32max)             # T = P - c in float32
               + (Amax + rmax) * rho + wmax * delta) * (1 + 2.0 ** -20)
        diag, best = _symmetric_row_max(Y32, c32, block)
        margin = diag.astype(np.float64) - best.astype(np.float64)
    err = np.where(np.isfinite(err), err, np.inf)
    return H, margin, pair_tolerance(err)


def _row_norms(X):
    """Euclidean norms of the rows (to a few ulps: callers inflate them)."""
    return np.sqrt(np.einsum("ij,ij->i", X, X))


def _symmetric_row_max(Y32, c32, block):
    """``T_ii`` and ``max_{j≠i} T_ij`` of ``T_ij = (Y Yᵀ)_ij - c_j`` in
    float32, each block of ``Y Yᵀ`` on or above the diagonal formed once and
    read by rows (for its rows' words) and by columns (for its columns').

    The reads (a subtraction and a maximum per entry, twice) run on the
    block's rows in threads (SmolLM2's head: 6.8 → 6.2 s); each entry is
    rounded as on one thread and a maximum is exact, so the result is the
    same. The product and the row-wise differences go to two block-sized
    buffers made once (a fresh 16 MiB array per block is faulted in anew:
    7.6 → 7.1 s on that head, the same values).
    """
    M = len(Y32)
    diag = np.empty(M, dtype=np.float32)
    best = np.full(M, -np.inf, dtype=np.float32)
    size = min(block, M)
    P_buf, T_buf = (np.empty((size, size), dtype=np.float32) for _ in range(2))
    for i0 in range(0, M, block):
        rows = slice(i0, min(i0 + block, M))
        cI = c32[rows]
        for j0 in range(i0, M, block):
            cols = slice(j0, min(j0 + block, M))
            n, m = rows.stop - rows.start, cols.stop - cols.start
            P = np.matmul(Y32[rows], Y32[cols].T, out=P_buf[:n, :m])
            if j0 == i0:
                k = np.arange(n)
                diag[rows] = P[k, k] - cI
                P[k, k] = -np.inf

            def read(R, P=P, T=T_buf[:n, :m], cJ=c32[cols], cI=cI, below=j0 > i0):
                row = np.subtract(P[R], cJ, out=T[R]).max(axis=1)
                if not below:
                    return row, None
                PR = P[R]
                PR -= cI[R, None]
                return row, PR.max(axis=0)

            parts = _threaded(read, n)
            best[rows] = np.maximum(best[rows], np.concatenate([r for r, _ in parts]))
            if j0 > i0:
                best[cols] = np.maximum(best[cols],
                                        np.maximum.reduce([c for _, c in parts]))
    return diag, best
