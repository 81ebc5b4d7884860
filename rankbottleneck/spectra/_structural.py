r"""The structural path: the spectrum of a softmax layer from its factors.

A layer whose log-probabilities are its logits minus a per-context shift
(softmax; the MoC control over it) gives ``A = [H, 1, -lse] [W, b, 1]ᵀ``:
its spectrum is that of ``R_L R_Rᵀ`` after two thin QR factorisations,
``O((N + M) d²)`` after one pass for the log-normalisers; the other
``min(N, M) - d - 2`` singular values are exactly zero.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from .._lapack import _all_finite, _exponent, _fortran_copy, _peak, _qr_r
from .._threads import _by_chunks

__all__: list[str] = []

_STRUCTURAL_BLOCK_BYTES = 256 * 2**20


def _lse_rows(z, overwrite=True):
    """Row log-sum-exp of a finite (r, M) array, overwriting it (else a
    chunk-sized temporary: the same values); the sums and the result are
    float64 whatever the dtype of `z`."""
    def chunk(C):
        blk = z[C]
        top = blk.max(axis=1)
        blk = np.subtract(blk, top[:, None], out=blk if overwrite else None)
        np.exp(blk, out=blk)
        with np.errstate(over="ignore"):    # the caller checks the result
            return top.astype(np.float64) + np.log(blk.sum(axis=1, dtype=np.float64))
    return np.concatenate(_by_chunks(chunk, z.shape[0], z.itemsize * z.shape[1]))




def _factor(parts, n):
    """``np.hstack(parts)`` as one float64 Fortran array (what dgeqrf works
    on, so that the QR can overwrite it instead of copying it)."""
    widths = [1 if np.ndim(p) == 1 else p.shape[1] for p in parts]
    out = np.empty((n, sum(widths)), order="F")
    j = 0
    for p, w in zip(parts, widths):
        _fortran_copy(p.reshape(n, w), out[:, j:j + w])
        j += w
    return out


def _logits_bounded(H, W, b, dtype):
    """Whether ``|H Wᵀ + b| ≤ max ‖h‖ max ‖w‖ + max |b|`` (Cauchy–Schwarz)
    lies below ``finfo(dtype).max / 2¹⁰``: then neither a logit nor the
    log-sum-exp of a row (at most the largest logit plus ``log M``) can
    overflow, and the log-probabilities are finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        bound = (float(np.max(np.linalg.norm(H, axis=1), initial=0.0))
                 * float(np.max(np.linalg.norm(W, axis=1), initial=0.0))
                 + (0.0 if b is None else float(np.max(np.abs(b), initial=0.0))))
    return math.isfinite(bound) and bound < float(np.finfo(dtype).max) / 2**10


def _lse(layer, X, Hl, W, b, dtype):
    """``lse(H Wᵀ + b)`` by rows, in blocks; the layer's overflow error when
    a logit or a row's lse is not finite."""
    N, M = Hl.shape[0], W.shape[0]
    rows = max(1, _STRUCTURAL_BLOCK_BYTES // max(1, M * np.dtype(dtype).itemsize))
    lse = np.empty(N)
    Z = layer._logits_for(X)
    if Z is not None and Z.dtype != dtype:
        Z = None
    # computed once by the caller: read where they are
    z = None if Z is not None else np.empty((min(rows, N), M), dtype=dtype)
    for s in range(0, N, rows):
        if Z is not None:
            zs = Z[s:s + rows]
        else:
            zs = z[:min(rows, N - s)]
            with np.errstate(over="ignore", invalid="ignore"):
                np.matmul(Hl[s:s + rows], W.T, out=zs)
                if b is not None:
                    zs += b
        if not _all_finite(zs):
            raise layer._overflow_error(X, dtype)
        lse[s:s + rows] = _lse_rows(zs, overwrite=Z is None)
    del z, zs
    if not _all_finite(lse):                # logits within log M of the edge
        raise layer._overflow_error(X, dtype)
    return lse


def _structural_spectrum(layer, X, centre, clock):
    """``(values, errors, e)`` of a layer whose log-probabilities are its
    logits minus a shift (``layer._shift_only``): the singular values of
    ``A = [H, 1, -lse][W, b, 1]ᵀ`` (rows centred when `centre`) times
    ``2^-e``, with ``H`` what goes through ``W`` (MoC: the mixed context)."""
    dtype = np.result_type(X, layer.dtype)
    H = layer._component_contexts(X)[0][:, 0, :]
    N, M = H.shape[0], layer.M
    # The logits, only needed for lse, are a product in the layer's dtype:
    # a float32 layer's log-probabilities carry float32 rounding anyway, and
    # float32 halves the time of the product and of exp. The sums of exp
    # are float64. One temporary, turned into exp in place; larger than the
    # Gram path's blocks because a product of ~250 rows by d = 400 runs
    # ~15% below the rate of one of ~1000 rows.
    Hl, W = H.astype(dtype, copy=False), layer.W.astype(dtype, copy=False)
    b = None if layer.bias is None else layer.bias.astype(dtype, copy=False)
    if centre and _logits_bounded(Hl, W, b, dtype):
        # Row-centring zeroes the all-ones column of the right factor (below),
        # the one -lse multiplies: lse does not enter A C, only its column's
        # place does (zeros keep every other entry of the QRs and the core
        # as they are). The bound shows the log-probabilities are finite.
        lse = np.zeros(N)
        clock.lap("lse: not needed (rows centred)")
    else:
        lse = _lse(layer, X, Hl, W, b, dtype)
        clock.lap("lse: logits product and exp")
    if M == 1:
        # one word: its log-probability z - lse(z) is exactly 0 at every context,
        # where the factors would leave rounding noise as a spectrum of rank 1
        return np.zeros(1), np.zeros(1), 0
    left = _factor([H] + ([] if b is None else [np.ones(N)]) + [-lse], N)
    right = _factor([W] + ([] if b is None else [b]) + [np.ones(M)], M)
    exponent = _balance(left, right)
    if centre:
        # A C = left (C right)ᵀ: centring the rows of A centres the columns
        # of the right factor (the all-ones column becomes zero)
        right -= right.mean(axis=0, keepdims=True)
    # the orthogonal factors are never formed
    RL, RR = _qr_r(left), _qr_r(right)
    core = scipy.linalg.svdvals(RL @ RR.T, check_finite=False)
    clock.lap("two QRs and the core SVD")
    values = np.zeros(min(N, M))
    values[:len(core)] = core[:min(N, M)]
    eps = float(np.finfo(dtype).eps)
    return values, np.full(len(values), eps * max(values[0], 0.0)), exponent


def _balance(left, right):
    """Scale the factors of ``A = left rightᵀ`` by powers of two, in place,
    so that no column is far from 1; returns ``e`` with ``A = 2^e ·
    left' right'ᵀ``. A column pair far from 1 (contexts ~1e300 against
    embeddings ~1e-300, or logits ~1e300 in the lse column) is first brought
    to the same magnitude on both sides, which leaves ``A`` unchanged, then
    each factor as a whole into the safe band. Factors within it are left
    untouched (e = 0)."""
    for j in range(left.shape[1]):
        a, c = _peak(left[:, j]), _peak(right[:, j])
        if a > 0 and c > 0 and (_exponent(a) or _exponent(c)):
            shift = (math.frexp(a)[1] - math.frexp(c)[1]) // 2
            np.ldexp(left[:, j], -shift, out=left[:, j])
            np.ldexp(right[:, j], shift, out=right[:, j])
    e_left, e_right = _exponent(_peak(left)), _exponent(_peak(right))
    if e_left:
        np.ldexp(left, -e_left, out=left)
    if e_right:
        np.ldexp(right, -e_right, out=right)
    return e_left + e_right
