r"""The one column source of the spectral engine.

A spectrum is computed from ``B``, the matrix or its transpose, whichever
has fewer rows (``n ≤ m``), a block of columns at a time; the matrix itself
is never stored when it is a layer's. Three sources:

* a matrix in memory (:func:`_matrix_source`);
* a layer on contexts (:func:`_layer_source`): the columns of its
  log-probability matrix from ``H`` and ``W`` (:class:`_LayerColumns`), or
  its rows when there are more contexts than words (:func:`_row_block`);
* a layer on a Dask cluster (:mod:`rankbottleneck.spectra._dask`): the
  same :class:`_LayerColumns` and :func:`_row_block`, run by the workers.

Every block is ``2^-e`` times the matrix's, with ``e = 0`` unless its
entries are far from 1 (see :mod:`rankbottleneck._lapack`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._lapack import _all_finite, _exponent, _peak, _scaled
from .._threads import _by_chunks
from .._validation import _as_int
from ..activations import logsumexp
from ..layers import MixtureLayer, PointwiseLayer

__all__: list[str] = []

_BLOCK_BYTES = 64 * 2**20


@dataclass
class _Source:
    """``B`` = the matrix or its transpose, ``n ≤ m``, yielded in column blocks.

    ``first()`` yields the blocks of the first Gram pass and ``finish(G)``
    turns their Gram matrix into ``B Bᵀ``; by default they are ``blocks`` and
    nothing. A pointwise layer's first pass yields the unnormalised
    ``Φ = φ(Z)`` instead, so that the log-normalisers need no pass of their
    own (see :func:`_layer_source`).

    Every block is ``2^-e`` times the matrix's, ``e = scale["e"]`` (0 unless
    the entries are far from 1: see :mod:`rankbottleneck._lapack`); a
    matrix's is fixed from its largest entry, a layer's is set by
    :meth:`rescale` when its first pass finds its blocks far from 1, and the
    first pass is then run again. `overflow()` is the error to raise when a
    block is not finite; `peak()`, when given, is ``max |block|`` over the
    first pass, known without looking at the blocks again (else
    :func:`~rankbottleneck.spectra._gram._gram` takes it from them).
    """

    n: int
    m: int
    blocks: object          # callable(): iterator of (n, width) float64 blocks
    width: int
    block_bytes: int        # temporaries of one block
    first: object = None
    finish: object = None
    prepare_passes: int = 0  # passes spent before the first Gram pass
    scale: dict = None
    overflow: object = None
    peak: object = None

    def __post_init__(self):
        if self.first is None:
            self.first = self.blocks
        if self.finish is None:
            self.finish = lambda G: G
        if self.scale is None:
            self.scale = {"e": 0}
        if self.overflow is None:
            self.overflow = lambda: ValueError(
                "the matrix has entries that are not finite in float64")

    @property
    def exponent(self):
        return self.scale["e"]

    def rescale(self, e):
        self.scale["e"] = e


def _check_block(block, m, name="block_cols"):
    return None if block is None else _as_int(block, name, low=1, high=m)


def _default_block(n, m, temporaries):
    # At least 2048 columns: dsyrk on an n×n matrix with a thin inner
    # dimension is bound by memory traffic, not by arithmetic.
    return int(min(m, max(2048, _BLOCK_BYTES // max(1, n * temporaries * 8))))


def _matrix_source(A, block_cols, centre):
    N, M = A.shape
    B = A if N <= M else A.T
    n, m = B.shape
    # entries far from 1: every block is scaled by 2^-e (exactly), the row
    # means too, so that neither they nor the Gram matrix overflow
    top = _peak(A)
    scale = {"e": _exponent(top)}
    e = scale["e"]
    mean = _row_means(A, e) if centre else None
    b = _check_block(block_cols, m) or _default_block(n, m, 2)

    def blocks():
        for j in range(0, m, b):
            blk = B[:, j:j + b].astype(np.float64)
            if e:
                np.ldexp(blk, -e, out=blk)
            if mean is not None:
                # rows of A centred: for B = Aᵀ that is its columns
                blk -= mean[:, None] if N <= M else mean[j:j + b][None, :]
            yield blk

    return _Source(n, m, blocks, b, 2 * n * b * 8, scale=scale,
                   peak=lambda: _scaled(top, e))


def _row_means(A, e):
    """Row means of ``A · 2^-e`` in float64 (a block of rows at a time when
    ``e ≠ 0``, so that the sums of huge entries do not overflow)."""
    if e == 0:
        return A.mean(axis=1, dtype=np.float64)
    rows = max(1, _BLOCK_BYTES // max(1, 8 * A.shape[1]))
    return np.concatenate([_scaled(A[i:i + rows].astype(np.float64), e).mean(axis=1)
                           for i in range(0, A.shape[0], rows)])


def _is_layer(A):
    """Whether `A` is a layer (its matrix built from contexts), not a matrix."""
    return isinstance(A, (PointwiseLayer, MixtureLayer))


class _LayerColumns:
    r"""Columns of a layer's log-probability matrix on contexts `X`, a
    block of words at a time.

    What goes through ``W`` is the layer's component contexts
    (``_component_contexts``: the contexts, MoC's mixed context, or MoS's
    ``K`` components per row) and the columns are

    .. math:: A_{:, J} = \operatorname{lse}_k\bigl(\log π_k + φ(H_k W_Jᵀ + b_J)
              - l_k\bigr)

    with ``φ`` the activation's logit map and ``l_k`` the log-normalisers
    (one component and no ``log π`` for a pointwise layer or MoC). Used by
    the Gram pass on one machine and by the Dask tasks alike. `X` has been
    checked by the caller.
    """

    def __init__(self, layer, X):
        self.layer, self.X = layer, X
        self.act = layer._activation
        self.dtype = np.result_type(X, layer.dtype)
        # aligned: arrays unpickled on a Dask worker may not be, and numpy
        # then multiplies them without BLAS (a no-op for anything else)
        self.W = np.require(layer.W.astype(self.dtype, copy=False),
                            requirements=["ALIGNED"])
        self.bias = (None if layer.bias is None
                     else layer.bias.astype(self.dtype, copy=False))
        Hk, self.log_pi = layer._component_contexts(X)          # (N, K, d)
        self.Hk = np.require(Hk, requirements=["ALIGNED"])
        self.N, self.K, self.M = X.shape[0], self.Hk.shape[1], layer.M
        self._flat = {}   # one buffer per dtype, reused by every block
        # logits computed once for these contexts (analyze_output_layer:
        # every counterfactual activation's pass reads them)
        Z = layer._logits_for(X)
        self.Z = Z if Z is not None and Z.dtype == self.dtype and self.K == 1 else None

    def overflow(self):
        """The error for logits or log-probabilities that are not finite."""
        return self.layer._overflow_error(self.X, self.dtype)

    def _buffer(self, shape, dt):
        size = math.prod(shape)
        if dt not in self._flat or self._flat[dt].size < size:
            self._flat[dt] = np.empty(size, dtype=dt)
        return self._flat[dt][:size].reshape(shape)

    def unnormalised(self, J, shift=None, stats=False, e=0):
        """``Φ[:, J] · 2^-e`` (minus ``shift`` per row) as (N, K, |J|)
        float64, ``Φ = φ(H_k W_Jᵀ + b_J)``.

        The block of logits is one product (not N·K small ones); φ then runs
        on chunks of rows small enough to stay in cache, in threads, and
        with `stats` each row's max and min, ``Σ exp(Φ - max)`` and
        ``ΣΦ·2^-e`` over `J` (arrays over the N·K rows) are taken from the
        chunk while it is there. The returned array is a buffer that the
        next call overwrites. Logits that overflow give inf or NaN here,
        which the caller reports (:meth:`overflow`).
        """
        h, w = self.Hk.reshape(-1, self.Hk.shape[-1]), self.W[J]
        phi, params = self.act.logit_map, self.layer.params
        if self.Z is not None:
            # the cached logits are read where they are; φ writes the buffer
            z = self.Z[:, J]
            f = self._buffer(z.shape, np.float64)
        else:
            z = self._buffer((h.shape[0], w.shape[0]), self.dtype)
            with np.errstate(over="ignore", invalid="ignore"):
                np.matmul(h, w.T, out=z)
                if self.bias is not None:
                    z += self.bias[J]
            f = z if z.dtype == np.float64 else self._buffer(z.shape, np.float64)

        def chunk(C):
            # errstate is per thread
            with np.errstate(over="ignore", invalid="ignore"):
                fc = f[C]
                fc[...] = phi(z[C], **params)
                part = None
                if stats:
                    top = fc.max(axis=1)
                    ex = np.subtract(fc, top[:, None])
                    part = (top, fc.min(axis=1), np.exp(ex, out=ex).sum(axis=1))
                if e:
                    np.ldexp(fc, -e, out=fc)
                if shift is not None:
                    fc -= shift[C, None]
                if not stats:
                    return None
                return part + (fc.sum(axis=1),)

        out = _by_chunks(chunk, z.shape[0], 8 * z.shape[1])
        f = f.reshape(self.Hk.shape[:-1] + (-1,))
        return (f, [np.concatenate(v) for v in zip(*out)]) if stats else f

    def lognormalisers(self):
        """``l`` (N, K) = ``lse(Φ)`` over all words, a block of rows at a
        time (the words of a row at once); raises :meth:`overflow` when not
        finite."""
        W, bias, Hk = self.W, self.bias, self.Hk
        rows = max(1, _BLOCK_BYTES // max(1, 3 * self.K * self.M
                                          * np.dtype(self.dtype).itemsize))
        lognorm = np.empty((self.N, self.K))
        with np.errstate(over="ignore", invalid="ignore"):
            for s0 in range(0, self.N, rows):
                z = Hk[s0:s0 + rows]
                f = self.act.logit_map(
                    (z.reshape(-1, z.shape[-1]) @ W.T + (0 if bias is None else bias))
                    .reshape(z.shape[0], self.K, self.M), **self.layer.params)
                lognorm[s0:s0 + rows] = logsumexp(f, axis=-1)
        if not _all_finite(lognorm):
            raise self.overflow()
        return lognorm

    def columns(self, J, lognorm, e=0):
        """``A[:, J] · 2^-e`` as (N, |J|) float64, from the log-normalisers
        `lognorm` (N, K)."""
        with np.errstate(over="ignore", invalid="ignore"):
            f = self.unnormalised(J) - lognorm[:, :, None]
            f = (f[:, 0, :] if self.log_pi is None else
                 logsumexp(f + self.log_pi[:, :, None], axis=1).astype(np.float64))
        return _scaled(f, e)


def _row_block(layer, X, e=0, centre=False):
    """``B`` block for ``N > M``: the rows of the log-probability matrix of
    the contexts `X`, times ``2^-e``, each centred when `centre`, as a
    C-ordered (M, rows) float64 array."""
    blk = _scaled(np.asarray(layer(X), dtype=np.float64).T, e)
    if centre:
        blk = blk - blk.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(blk)


def _layer_source(layer, X, block_cols, centre):
    """Column blocks of a layer's log-probability matrix, never all of it.

    For ``A = Φ - l 1ᵀ`` with ``Φ = φ(Z)`` elementwise and ``l = lse(Φ)``
    per row (softmax, sigsoftmax, GSS, PLIF, sigmoid-normalisation), the
    first pass accumulates ``ΦΦᵀ``, the row sums ``s = Φ1`` and a running
    log-sum-exp, then ``AAᵀ = ΦΦᵀ - s lᵀ - l sᵀ + M l lᵀ``: one evaluation
    of the activation per pass, no pass for the normalisers. (No
    cancellation: every term is of the size of ``‖A‖²``.) Centred rows
    ``AC = ΦC`` need no normaliser at all: ``ΦCΦᵀ = ΦΦᵀ - s sᵀ/M``.
    Mixtures (MoS, MoSS) first store their ``N·K`` normalisers; a matrix
    with more rows than columns is streamed by its row blocks (``B = Aᵀ``).
    A dense activation that declares no logit map is streamed by rows when
    ``N > M``; otherwise its matrix is built (memory permitting) and
    streamed from memory. `X` has been checked by the caller.

    Every block is scaled by ``2^-e`` once ``e`` is set (:class:`_Source`):
    ``Φ``, ``s`` and ``l`` alike, after the exponentials of the
    log-sum-exp, which need the unscaled ``Φ``. Logits or ``Φ`` that are
    not finite raise the layer's overflow error.
    """
    N, M = X.shape[0], layer.M
    act = layer._activation
    if act.sparse:
        raise ValueError(
            f"the streamed spectrum needs finite log-probabilities; activation "
            f"{act.name!r} has zeros (-inf): build the matrix with "
            "layer.log_prob_matrix(H) and use rank_report(A), which reports its "
            "support"
        )
    if N <= M and act.logit_map is None:
        # no φ: the normalisers cannot be streamed with the columns
        return _matrix_source(layer.log_prob_matrix(X), block_cols, centre)
    scale = {"e": 0}
    dtype = np.result_type(X, layer.dtype)

    def overflow():
        return layer._overflow_error(X, dtype)

    if N > M:
        temporaries = 4 * getattr(layer, "K", 1)
        b = _check_block(block_cols, N) or _default_block(M, N, temporaries)

        def rows():
            for start in range(0, N, b):
                yield _row_block(layer, X[start:start + b], scale["e"], centre)

        return _Source(M, N, rows, b, temporaries * M * b * 8, scale=scale,
                       overflow=overflow)

    cols = _LayerColumns(layer, X)
    b = _check_block(block_cols, M) or _default_block(N * cols.K, M, 3)

    if cols.log_pi is None:
        lognorm = np.zeros(N)
        state = {}

        def first():
            e = scale["e"]
            run_max = np.full(N, -np.inf)
            run_sum, row_sum = np.zeros(N), np.zeros(N)
            bottom = np.full(N, np.inf)
            for j in range(0, M, b):
                f, (top, low, sum_exp, sum_f) = cols.unnormalised(
                    slice(j, min(j + b, M)), stats=True, e=e)
                if not (_all_finite(top) and _all_finite(low)):
                    raise overflow()
                new_max = np.maximum(run_max, top)
                run_sum = (run_sum * np.exp(run_max - new_max)
                           + sum_exp * np.exp(top - new_max))
                run_max = new_max
                bottom = np.minimum(bottom, low)
                row_sum += sum_f
                yield f[:, 0, :]
            lognorm[:] = run_max + np.log(run_sum)
            with np.errstate(over="ignore"):
                # the log-probabilities reach min Φ - lse: they must be finite
                if not _all_finite(lognorm - bottom):
                    raise overflow()
            state["row_sum"], state["lognorm"] = row_sum, _scaled(lognorm, e)
            # max |Φ|, of what this pass yielded (Φ · 2^-e)
            state["peak"] = _scaled(max(float(np.max(run_max)), -float(np.min(bottom))),
                                    e)

        def finish(G):
            s, lse = state["row_sum"], state["lognorm"]
            if centre:
                return _subtract_outer(G, [(s, s / M)])
            # ΦΦᵀ − s lᵀ − l sᵀ + M l lᵀ = ΦΦᵀ − s lᵀ − l (s − M l)ᵀ
            return _subtract_outer(G, [(s, lse), (lse, s - M * lse)])

        def blocks():
            shift = state["row_sum"] / M if centre else state["lognorm"]
            for j in range(0, M, b):
                yield cols.unnormalised(slice(j, min(j + b, M)), shift=shift,
                                        e=scale["e"])[:, 0, :]

        return _Source(N, M, blocks, b, 3 * N * b * 8, first, finish, scale=scale,
                       overflow=overflow, peak=lambda: state["peak"])

    # mixtures: log p = lse_k(log π_k + Φ_k - l_k); first the N×K normalisers
    # (rounded to the layer's dtype: what its log-probabilities are made of)
    lognorm = cols.lognormalisers().astype(dtype)

    row_mean = None
    if centre:
        row_mean = sum(cols.columns(slice(j, j + b), lognorm).sum(axis=1)
                       for j in range(0, M, b)) / M

    def mixture_blocks():
        e = scale["e"]
        for j in range(0, M, b):
            blk = cols.columns(slice(j, j + b), lognorm, e)
            if row_mean is not None:
                blk -= _scaled(row_mean, e)[:, None]
            yield blk

    return _Source(N, M, mixture_blocks, b, 3 * cols.K * N * b * 8,
                   prepare_passes=1 + centre, scale=scale, overflow=overflow)


def _subtract_outer(G, pairs, step=512):
    """``G -= Σ x yᵀ`` over `pairs`, a column block at a time: the n×n outer
    products are never formed (each would be as large as G)."""
    for j in range(0, G.shape[1], step):
        J = slice(j, j + step)
        for x, y in pairs:
            G[:, J] -= x[:, None] * y[None, J]
    return G
