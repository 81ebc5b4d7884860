r"""Singular spectra at language-model scale: Gram, refinement, structure.

A dense SVD of a 10,000 × 33,278 log-probability matrix takes many minutes
and several copies of a 2.7 GB matrix, because LAPACK's bidiagonalisation is
bound by memory traffic. :func:`spectrum` gets the same singular values from
algorithms whose cost is matrix products:

``"gram"``
    ``G = B Bᵀ`` for ``B`` the matrix or its transpose, whichever has fewer
    rows (``n ≤ m``), accumulated in float64 over column blocks of ``B``
    that are built on the fly (the matrix is never stored when the caller
    passes a layer), then ``eigh(G)``. Its eigenvalues carry an absolute
    error ``δ ≈ ε √m λ_1``, so every ``σ_i`` below about ``√δ`` (``≈ 2e-7
    σ_1``) is lost, which is where the rank decision is made. A Cholesky
    test of ``G - κδ I`` (``κ = 10⁴``) says, at the cost of a quarter of a
    product, whether any eigenvalue is that small. If none is, the spectrum
    is ``√λ`` with relative error ``≤ 1/(2κ)`` (in practice ``~ε σ_1``
    absolute, as LAPACK's) and nothing else is done.

``refinement`` (automatic)
    Otherwise the eigenvectors ``U`` of ``G`` are split into the resolved
    block ``R`` (``λ > κδ``) and the rest ``Z``, and a second pass forms the
    Gram matrix of the rotated rows ``F = Uᵀ B``. Unlike ``G`` it is
    accurate *block by block*, relative to the norms of its rows, because
    the small rows ``Z^T B`` are computed from ``B`` directly instead of by
    cancellation inside ``B Bᵀ``. The small singular values are the square
    roots of the eigenvalues of the Schur complement
    ``S = F_Z F_Zᵀ - F_Z F_Rᵀ (F_R F_Rᵀ)^{-1} F_R F_Zᵀ``: ``FFᵀ = L diag(F_R F_Rᵀ, S) Lᵀ``
    with ``L = I + O(1/(κ√m))``, so by Ostrowski's theorem the eigenvalues of
    the two blocks are those of ``FFᵀ`` to a relative ``O(1/(κ√m))``; and
    ``eigh(S)`` resolves down to ``√(ε√m)·‖S‖^{1/2}``. The pass repeats on
    what is still unresolved (at most four passes; a softmax matrix needs
    one: its noise singular values ``~1e-17 σ_1`` come out as LAPACK's
    do). Once all that is unresolved lies below ``ε σ_1/10`` it is rounding
    noise of ``B`` itself (LAPACK's error is ``~ε σ_1``) and is reported with
    that as its error.

``"structural"``
    A softmax layer (or the MoC control) gives ``A = [H, 1, -lse] [W, b, 1]ᵀ``:
    its spectrum is that of ``R_L R_Rᵀ`` after two thin QR factorisations,
    ``O((N + M) d²)`` after one pass for the log-normalisers; the other
    ``min(N, M) - d - 2`` singular values are exactly zero.

``"svd"``
    The dense LAPACK SVD (``scipy.linalg.svdvals``), for small matrices and
    for checking the others.

Scale: a Gram matrix squares the entries, so beyond about ``1e154`` (or
below ``1e-154``) it would overflow (or lose every small value). As LAPACK's
``dlascl`` does, a matrix whose largest entry lies outside ``[2^-204,
2^204]`` is scaled by a power of two first, exactly, and its singular values
scaled back (:mod:`rankbottleneck._lapack`): a matrix's from its largest
entry, a streamed layer's when its first pass finds its blocks that far
from 1 (the pass is then run again, scaled), a structural layer's factors
column by column. The spectrum of ``s·A`` is then ``s`` times that of ``A``
and its ranks are the same, for every ``s`` that leaves the singular values
representable (ranks are taken from the scaled values, so they hold even
where ``values`` overflow to ``inf``). Anything inside the band is computed
exactly as without this. A layer whose logits or log-probabilities overflow
raises ``ValueError`` naming it and its largest logit.

float32: what a float32 layer's log-probabilities are made of is computed
in float32, because those entries carry float32 rounding anyway (and the
rank thresholds then use float32's ε): the logits product, φ, and in the
structural path the exponentials inside lse. Everything the rank decision
rests on is float64: the sums inside lse, every Gram matrix, rotation, QR and
eigen-solve. A float32 Gram would lose every ``σ_i`` below ``√ε₃₂ σ_1 ≈ 3e-4
σ_1``, above float32's own Press threshold ``~1e-5 σ_1``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from ._lapack import (
    _eigvalsh_lower,
    _exponent,
    _format_scaled,
    _peak,
    _scaled,
    _syrk_update,
    _unscaled,
)
from ._measures import (
    Rank,
    _as_matrix,
    _centre_rows,
    _machine_eps,
    _rank_of,
    _reject_neginf,
)
from ._progress import progress_bar
from ._threads import _by_chunks
from ._validation import _as_int, _check_fits_in_memory, _format_bytes
from .activations import logsumexp
from .layers import (
    MixtureLayer,
    _activation_of,
    _all_finite,
    _Layer,
    _mixed_context,
    _overflow_error,
)

__all__ = ["Spectrum", "spectrum", "METHODS"]

METHODS = ("auto", "svd", "gram", "structural")
_KAPPA = 1e4            # resolved: λ > κ δ, i.e. relative error ≤ 1/(2κ) in σ
_MAX_PASSES = 4         # refinement passes after the first Gram
_BLOCK_BYTES = 64 * 2**20
_STRUCTURAL_BLOCK_BYTES = 256 * 2**20
_EPS = float(np.finfo(np.float64).eps)
class _Clock:
    """Wall time per stage, for `Spectrum.stages`."""

    def __init__(self):
        self.stages, self._t = [], time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.stages.append((name, round(now - self._t, 3)))
        self._t = now


def _lse_rows_inplace(z):
    """Row log-sum-exp of a finite (r, M) array, overwriting it; the sums
    and the result are float64 whatever the dtype of `z`."""
    def chunk(C):
        blk = z[C]
        top = blk.max(axis=1)
        blk -= top[:, None]
        np.exp(blk, out=blk)
        with np.errstate(over="ignore"):    # the caller checks the result
            return top.astype(np.float64) + np.log(blk.sum(axis=1, dtype=np.float64))
    return np.concatenate(_by_chunks(chunk, z.shape[0], z.itemsize * z.shape[1]))


# ---------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Singular values of a matrix, with how they were obtained.

    Attributes
    ----------
    values : ndarray
        ``min(N, M)`` singular values, decreasing, float64.
    error : ndarray
        An estimate of the absolute error of each value (the dense SVD's own
        is ``~ε σ_1``).
    shape : (int, int)
        ``(N, M)`` of the matrix (not of its Gram matrix).
    computed_in : str
        Dtype the matrix entries were computed in; rank thresholds use its ε.
    method : str
        ``"svd"``, ``"gram"``, ``"gram + k refinement passes"`` or
        ``"structural"``, with a short explanation in `notes`.
    passes : int
        Passes over the matrix (each builds every block once).
    peak_bytes : int
        Estimated peak memory of the computation.
    notes : str
    stages : tuple of (str, float)
        Wall seconds of each stage, in order: where the time went.
    """

    values: np.ndarray = field(repr=False)
    error: np.ndarray = field(repr=False)
    shape: tuple
    computed_in: str
    method: str
    passes: int = 0
    peak_bytes: int = 0
    notes: str = ""
    stages: tuple = field(default=(), repr=False)

    # The values and errors as computed, in units of 2^_exponent, when the
    # matrix was scaled by a power of two first (see _lapack): ranks are
    # taken from these, which stay finite where `values` would overflow.
    _exponent = 0
    _scaled_values = None
    _scaled_error = None

    def _scaled(self):
        """``(s, e)``: the singular values are ``s · 2^e``."""
        if self._scaled_values is None:
            return np.asarray(self.values, dtype=np.float64), 0
        return self._scaled_values, self._exponent

    def rank(self, measure=None, *, rtol=None, atol=None, eps=1e-3, scale=None):
        """A :class:`~rankbottleneck.rank.Rank` of these singular values.

        Arguments as :func:`~rankbottleneck.rank.rank_from_singular_values`.
        For threshold measures the rule also says how many values lie
        within their error estimate of the threshold (0: the count is the
        dense SVD's).
        """
        s, e = self._scaled()
        error = self.error if self._scaled_error is None else self._scaled_error
        if scale is not None:
            scale = _scaled(np.float64(scale), e)
        r = _rank_of(s, e, measure, shape=self.shape, computed_in=self.computed_in,
                     rtol=rtol, atol=atol, eps=eps, scale=scale)
        rule = f"{r.rule}; spectrum by {self.method}"
        if r.threshold is not None:
            threshold = _scaled(np.float64(r.threshold), e)
            close = int(np.sum(np.abs(s - threshold) <= error))
            rule += f", {close} σ within error of the threshold"
        return Rank(r.value, r.measure, r.threshold, rule, r.eps)

    def plot(self, ax=None, label=None, **kwargs):
        """``σ_i/σ_1`` on a log scale with the band of each value's error
        estimate and the numpy and Press thresholds. Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        s = self.values
        s1 = s[0] if s[0] > 0 else 1.0
        k = np.arange(1, s.size + 1)
        tiny = np.finfo(float).tiny
        line, = ax.semilogy(k, np.maximum(s / s1, tiny),
                            label=label or self.method, **kwargs)
        ax.fill_between(k, np.maximum((s - self.error) / s1, tiny),
                        (s + self.error) / s1, color=line.get_color(), alpha=0.2,
                        lw=0)
        for measure, style in (("numpy", ":"), ("press", "--")):
            r = self.rank(measure)
            ax.axhline(r.threshold / s1, color=line.get_color(), ls=style, lw=0.8)
            ax.annotate(f"{measure} rank {r.value}", (s.size, r.threshold / s1),
                        ha="right", va="bottom", fontsize=7, color=line.get_color())
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        ax.legend(fontsize=7)
        return ax

    def __repr__(self):
        s = self.values
        head = ", ".join(f"{v:.3g}" for v in s[:3])
        if self._exponent:
            scaled, e = self._scaled()
            head = ", ".join(_format_scaled(v, e) for v in scaled[:3])
        return (f"Spectrum({self.shape[0]}×{self.shape[1]}, {self.method}, "
                f"σ = [{head}{', …' if len(s) > 3 else ''}], σ_min = "
                f"{s[-1]:.3g}, passes = {self.passes}, peak ≈ "
                f"{_format_bytes(self.peak_bytes)}, ε of {self.computed_in})")


# ---------------------------------------------------------------------------
# Block sources: B (n × m, n ≤ m) as column blocks, built on demand
# ---------------------------------------------------------------------------


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
    :func:`_gram` takes it from them).
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
    streamed from memory. `X` has been checked by :func:`spectrum`.

    Every block is scaled by ``2^-e`` once ``e`` is set (:class:`_Source`):
    ``Φ``, ``s`` and ``l`` alike, after the exponentials of the
    log-sum-exp, which need the unscaled ``Φ``. Logits or ``Φ`` that are
    not finite raise :func:`~rankbottleneck.layers._overflow_error`.
    """
    N, M = X.shape[0], layer.M
    dtype = np.result_type(X, layer.dtype)
    act = _activation_of(layer)
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

    def overflow():
        return _overflow_error(layer, X, dtype)

    if N > M:
        temporaries = 4 * getattr(layer, "K", 1)
        b = _check_block(block_cols, N) or _default_block(M, N, temporaries)

        def rows():
            for start in range(0, N, b):
                blk = _scaled(np.asarray(layer(X[start:start + b]), dtype=np.float64).T,
                              scale["e"])
                if centre:
                    blk = blk - blk.mean(axis=0, keepdims=True)
                yield np.ascontiguousarray(blk)

        return _Source(M, N, rows, b, temporaries * M * b * 8, scale=scale,
                       overflow=overflow)

    phi, params = act.logit_map, layer.params
    W = layer.W.astype(dtype, copy=False)
    bias = None if layer.bias is None else layer.bias.astype(dtype, copy=False)
    log_pi = None
    if isinstance(layer, MixtureLayer):
        log_pi, Hk = layer.components(X)        # (N, K), (N, K, d)
        if layer.kind == "moc":
            Hk, log_pi = _mixed_context(log_pi, Hk), None
    else:
        Hk = X
    K = 1 if log_pi is None else Hk.shape[1]
    b = _check_block(block_cols, M) or _default_block(N * K, M, 3)

    flat = {}   # one buffer per dtype, reused by every block of every pass

    def buffer(shape, dt):
        size = math.prod(shape)
        if dt not in flat or flat[dt].size < size:
            flat[dt] = np.empty(size, dtype=dt)
        return flat[dt][:size].reshape(shape)

    def unnormalised(J, shift=None, stats=False, e=0):
        """``Φ[:, J] · 2^-e`` (minus ``shift`` per row) as (N, b) or (N, K, b)
        float64.

        The block of logits is one product (not N·K small ones); φ then runs
        on chunks of rows small enough to stay in cache, in threads, and
        with `stats` each row's max and min, ``Σ exp(Φ - max)`` and ``ΣΦ·2^-e``
        over `J` are taken from the chunk while it is there. The returned
        array is a buffer that the next call overwrites.
        """
        h, w = Hk.reshape(-1, Hk.shape[-1]), W[J]
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.matmul(h, w.T, out=buffer((h.shape[0], w.shape[0]), dtype))
            if bias is not None:
                z += bias[J]
        f = z if z.dtype == np.float64 else buffer(z.shape, np.float64)

        def chunk(C):
            # errstate is per thread: logits that overflow make inf and NaN
            # here, and the first pass reports them (overflow())
            with np.errstate(over="ignore", invalid="ignore"):
                fc = f[C]
                fc[...] = phi(z[C], **params)
                part = None
                if stats:
                    top = fc.max(axis=1)
                    part = (top, fc.min(axis=1),
                            np.exp(fc - top[:, None]).sum(axis=1))
                if e:
                    np.ldexp(fc, -e, out=fc)
                if shift is not None:
                    fc -= shift[C, None]
                if not stats:
                    return None
                return part + (fc.sum(axis=1),)

        out = _by_chunks(chunk, z.shape[0], 8 * z.shape[1])
        f = f.reshape(Hk.shape[:-1] + (-1,))
        return (f, [np.concatenate(v) for v in zip(*out)]) if stats else f

    if log_pi is None:
        lognorm = np.zeros(N)
        state = {}

        def first():
            e = scale["e"]
            run_max = np.full(N, -np.inf)
            run_sum, row_sum = np.zeros(N), np.zeros(N)
            bottom = np.full(N, np.inf)
            for j in range(0, M, b):
                f, (top, low, sum_exp, sum_f) = unnormalised(
                    slice(j, min(j + b, M)), stats=True, e=e)
                if not (_all_finite(top) and _all_finite(low)):
                    raise overflow()
                new_max = np.maximum(run_max, top)
                run_sum = (run_sum * np.exp(run_max - new_max)
                           + sum_exp * np.exp(top - new_max))
                run_max = new_max
                bottom = np.minimum(bottom, low)
                row_sum += sum_f
                yield f
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
                yield unnormalised(slice(j, min(j + b, M)), shift=shift,
                                   e=scale["e"])

        return _Source(N, M, blocks, b, 3 * N * b * 8, first, finish, scale=scale,
                       overflow=overflow, peak=lambda: state["peak"])

    # mixtures: log p = lse_k(log π_k + Φ_k - l_k); first the N×K normalisers
    rows = max(1, _BLOCK_BYTES // max(1, 3 * K * M * np.dtype(dtype).itemsize))
    lognorm = np.empty((N, K))
    with np.errstate(over="ignore", invalid="ignore"):
        for s0 in range(0, N, rows):
            z = Hk[s0:s0 + rows]
            f = phi((z.reshape(-1, z.shape[-1]) @ W.T + (0 if bias is None else bias))
                    .reshape(z.shape[0], K, M), **params)
            lognorm[s0:s0 + rows] = logsumexp(f, axis=-1)
    if not _all_finite(lognorm):
        raise overflow()

    def column(J):
        with np.errstate(over="ignore", invalid="ignore"):
            f = unnormalised(J) - lognorm[:, :, None].astype(dtype)
            return logsumexp(f + log_pi[:, :, None], axis=1).astype(np.float64)

    row_mean = None
    if centre:
        row_mean = sum(column(slice(j, j + b)).sum(axis=1) for j in range(0, M, b)) / M

    def mixture_blocks():
        e = scale["e"]
        for j in range(0, M, b):
            blk = _scaled(column(slice(j, j + b)), e)
            if row_mean is not None:
                blk -= _scaled(row_mean, e)[:, None]
            yield blk

    return _Source(N, M, mixture_blocks, b, 3 * K * N * b * 8,
                   prepare_passes=1 + centre, scale=scale, overflow=overflow)


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def _peak_estimate(method, shape, n, block_bytes, d=0):
    N, M = shape
    if method == "svd":
        return 2 * N * M * 8 + 4 * min(N, M) ** 2 * 8
    if method == "structural":
        return (4 * (N + M) * (d + 3) * 8
                + min(N * M * 8, max(_STRUCTURAL_BLOCK_BYTES, M * 8)))
    # gram: G, then (refinement) its eigenvectors T, the rotated Gram G',
    # and the Schur complement with its eigenvectors and eigh's workspace
    return 5 * n * n * 8 + block_bytes


# ---------------------------------------------------------------------------
# Gram + refinement
# ---------------------------------------------------------------------------


def _gram(source, rotate=None, what="Gram", first=False, progress=None):
    """``(Σ_b F_b F_bᵀ, peak)`` with ``F_b = rotateᵀ B_b`` (or ``B_b``), in
    float64; `peak` is ``max |B|`` over the first pass (None for the others).

    Only the upper triangle is accumulated (``dsyrk``) into one Fortran
    array, then mirrored: one n×n matrix, no per-block temporaries of that size.
    A progress bar per pass when `progress` asks for one. A block that is not
    finite stops the first pass with ``source.overflow()``.
    """
    if hasattr(source, "gram"):         # its passes run elsewhere (a cluster)
        G, peak = source.gram(rotate, what, progress)
        if not math.isfinite(peak):
            raise source.overflow()
        return _mirror_upper(G), (peak if first else None)
    n = source.n if rotate is None else rotate.shape[1]
    G = np.zeros((n, n), order="F")
    peak, look = 0.0, first and source.peak is None
    with progress_bar(-(-source.m // source.width), f"spectrum, {what}", progress,
                      unit="block") as bar:
        for blk in source.first() if first else source.blocks():
            if look:
                peak = max(peak, _peak(blk))
                if not math.isfinite(peak):
                    raise source.overflow()
            G = _syrk_update(G, blk if rotate is None else rotate.T @ blk)
            bar.update()
    _mirror_upper(G)
    if not first:
        return G, None
    return G, (peak if look else float(source.peak()))


def _mirror_upper(G, step=1024):
    """Copy the upper triangle of a square array onto its lower one, in place."""
    n = G.shape[0]
    for j in range(0, n, step):
        w = min(step, n - j)
        G[j + w:, j:j + w] = G[j:j + w, j + w:].T
        D = G[j:j + w, j:j + w]
        D[...] = np.triu(D) + np.triu(D, 1).T
    return G


def _subtract_outer(G, pairs, step=512):
    """``G -= Σ x yᵀ`` over `pairs`, a column block at a time: the n×n outer
    products are never formed (each would be as large as G)."""
    for j in range(0, G.shape[1], step):
        J = slice(j, j + step)
        for x, y in pairs:
            G[:, J] -= x[:, None] * y[None, J]
    return G


def _largest_eigenvalue(G, iters=30):
    """λ_1 of a PSD matrix to a few per cent (power iteration, fixed start)."""
    x = np.ones(G.shape[0]) / math.sqrt(G.shape[0])
    lam = 0.0
    for _ in range(iters):
        y = G @ x
        lam = float(np.linalg.norm(y))
        if lam == 0.0:
            return 0.0
        x = y / lam
    return lam


def _positive_definite_above(G, shift):
    """Whether ``G - shift·I`` is positive definite; `G` is left unchanged.

    ``dpotrf`` works on the lower triangle in place; the upper triangle and
    the saved diagonal restore it. Cost ``n³/3``, at matrix-product speed.
    """
    diag = np.diag(G).copy()
    G[np.diag_indices_from(G)] -= shift
    _, info = lapack.dpotrf(G, lower=1, clean=0, overwrite_a=1)
    _mirror_upper(G)
    G[np.diag_indices_from(G)] = diag
    return info == 0


def _schur_eigh(Gp, r):
    """Eigen-pairs of the Schur complement of ``Gp[:r, :r]`` in ``Gp``."""
    Gzz = Gp[r:, r:]
    if r == 0:
        S = Gzz
    else:
        Grr, Grz = Gp[:r, :r], Gp[:r, r:]
        # Grr is graded (λ_1 … κδ): scale to unit diagonal before Cholesky
        dg = np.sqrt(np.diag(Grr))
        L = scipy.linalg.cholesky(Grr / np.outer(dg, dg), lower=True)
        X = scipy.linalg.solve_triangular(L, Grz / dg[:, None], lower=True)
        S = Gzz - X.T @ X
    mu, V = scipy.linalg.eigh(S, driver="evd", check_finite=False)
    return mu[::-1], V[:, ::-1]


def _gram_spectrum(source, clock, progress=None):
    """``(values, errors, passes, notes)`` of the source's matrix, all in
    units of ``2^source.exponent``."""
    n, m = source.n, source.m
    G, peak = _gram(source, first=True, progress=progress)
    clock.lap("pass 1: blocks and Gram")
    e = _exponent(peak)
    if e:
        # entries far from 1: their squares would overflow or underflow in G
        # (and in the power iteration): the pass again, scaled by 2^-e
        source.rescale(source.exponent + e)
        source.prepare_passes += 1
        G, _ = _gram(source, first=True, progress=progress)
        clock.lap(f"pass 1 again, scaled by 2^{-source.exponent}")
    G = source.finish(G)
    passes = 1
    # δ: the eigenvalue error of a Gram matrix of m-term inner products,
    # ε √m λ_1 (rounding errors add like a random walk; eigh adds ~ε λ_1)
    lam1 = 1.05 * _largest_eigenvalue(G)
    delta = _EPS * math.sqrt(m) * lam1
    if lam1 == 0.0:
        return np.zeros(n), np.zeros(n), passes, "a zero matrix"
    resolved = _positive_definite_above(G, _KAPPA * delta)
    clock.lap("λ_1 and Cholesky test")
    if resolved:
        sigma = np.sqrt(_eigvalsh_lower(G))
        clock.lap("eigenvalues")
        return sigma, delta / (2 * sigma), passes, (
            f"every λ of the Gram matrix above κδ = {_KAPPA:.0e}·ε√m·λ_1; "
            "no refinement needed")
    lam, T = scipy.linalg.eigh(G, overwrite_a=True, check_finite=False,
                               driver="evd")
    del G
    clock.lap("eigenvectors")
    lam, T = lam[::-1], np.asfortranarray(T[:, ::-1])
    sigma1 = math.sqrt(max(lam[0], 0.0))
    # σ below ε σ_1 / 10 is rounding noise of B itself (the dense SVD's own
    # error is ~ε σ_1): once the unresolved part lies there, stop
    noise = (_EPS * sigma1 / 10) ** 2
    r = int(np.sum(lam > _KAPPA * delta))
    values = list(np.sqrt(lam[:r]))
    errors = list(delta / (2 * np.sqrt(lam[:r])))
    levels = 0
    while r < n and levels < _MAX_PASSES:
        Gp, _ = _gram(source, rotate=T, what=f"refinement {levels + 1}",
                      progress=progress)
        passes += 1
        levels += 1
        mu, V = _schur_eigh(Gp, r)
        del Gp
        mu_max = max(float(mu[0]), 0.0)
        d_s = _EPS * math.sqrt(m) * max(float(np.sum(np.maximum(mu, 0))), mu_max)
        if _KAPPA * d_s <= noise or levels == _MAX_PASSES:
            new = len(mu)
        else:
            new = int(np.sum(mu > _KAPPA * d_s))
        s_new = np.sqrt(np.maximum(mu[:new], 0.0))
        values += list(s_new)
        # Gram error d_s in σ², at most √d_s in σ; plus B's own rounding
        err = np.minimum(d_s / (2 * np.maximum(s_new, 1e-300)), math.sqrt(d_s))
        errors += list(err + _EPS * sigma1)
        T[:, r:] = T[:, r:] @ V                   # resolved first, then the rest
        r += new
        clock.lap(f"refinement pass {levels}")
    order = np.argsort(values)[::-1]
    return (np.asarray(values)[order], np.asarray(errors)[order], passes,
            f"{levels} refinement pass(es) for the σ below √(κδ)")


# ---------------------------------------------------------------------------
# Structural path
# ---------------------------------------------------------------------------


def _structural_layer(layer):
    """Contexts → the ``H`` of ``A = H Wᵀ + 1bᵀ - lse 1ᵀ``, if the layer's
    log-probabilities are its logits minus a shift (an activation declared
    ``shift_only``, such as softmax, pointwise or in the MoC control);
    else None."""
    if not _activation_of(layer).shift_only:
        return None
    if isinstance(layer, MixtureLayer):
        if layer.kind != "moc":
            return None
        return lambda G: _mixed_context(*layer.components(G))
    return lambda X: X


def _factor(parts, n):
    """``np.hstack(parts)`` as one float64 Fortran array (what dgeqrf works
    on, so that the QR can overwrite it instead of copying it)."""
    widths = [1 if np.ndim(p) == 1 else p.shape[1] for p in parts]
    out = np.empty((n, sum(widths)), order="F")
    j = 0
    for p, w in zip(parts, widths):
        out[:, j:j + w] = p.reshape(n, w)
        j += w
    return out


def _structural_spectrum(layer, X, contexts_of, centre, clock):
    dtype = np.result_type(X, layer.dtype)
    H = contexts_of(X)
    N, M = H.shape[0], layer.M
    # The logits, only needed for lse, are a product in the layer's dtype:
    # a float32 layer's log-probabilities carry float32 rounding anyway, and
    # float32 halves the time of the product and of exp. The sums of exp
    # are float64. One temporary, turned into exp in place; larger than the
    # Gram path's blocks because a product of ~250 rows by d = 400 runs
    # ~15% below the rate of one of ~1000 rows.
    Hl, W = H.astype(dtype, copy=False), layer.W.astype(dtype, copy=False)
    b = None if layer.bias is None else layer.bias.astype(dtype, copy=False)
    rows = max(1, _STRUCTURAL_BLOCK_BYTES // max(1, M * np.dtype(dtype).itemsize))
    z = np.empty((min(rows, N), M), dtype=dtype)
    lse = np.empty(N)
    for s in range(0, N, rows):
        with np.errstate(over="ignore", invalid="ignore"):
            zs = np.matmul(Hl[s:s + rows], W.T, out=z[:min(rows, N - s)])
            if b is not None:
                zs += b
        if not _all_finite(zs):
            raise _overflow_error(layer, X, dtype)
        lse[s:s + rows] = _lse_rows_inplace(zs)
    del z, zs
    if not _all_finite(lse):                # logits within log M of the edge
        raise _overflow_error(layer, X, dtype)
    clock.lap("lse: logits product and exp")
    left = _factor([H] + ([] if b is None else [np.ones(N)]) + [-lse], N)
    right = _factor([W] + ([] if b is None else [b]) + [np.ones(M)], M)
    exponent = _balance(left, right)
    if centre:
        # A C = left (C right)ᵀ: centring the rows of A centres the columns
        # of the right factor (the all-ones column becomes zero)
        right -= right.mean(axis=0, keepdims=True)
    # mode="r": the orthogonal factors are never formed
    RL = scipy.linalg.qr(left, mode="r", overwrite_a=True,
                         check_finite=False)[0][:left.shape[1]]
    RR = scipy.linalg.qr(right, mode="r", overwrite_a=True,
                         check_finite=False)[0][:right.shape[1]]
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


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def spectrum(A, contexts=None, *, method="auto", block_cols=None,
             centre_rows=False, computed_in=None, progress=None, client=None):
    r"""All singular values of a matrix, or of a layer's log-probability matrix.

    Parameters
    ----------
    A : (N, M) array_like or layer
        A finite matrix, or a :class:`~rankbottleneck.PointwiseLayer` /
        :class:`~rankbottleneck.MixtureLayer` whose log-probability matrix
        on `contexts` is analysed without being stored.
    contexts : (N, d) array_like
        Contexts, when `A` is a layer.
    method : {"auto", "svd", "gram", "structural"}
        ``"auto"``: ``"structural"`` for a layer whose activation is a shift
        of the logits (softmax; the MoC control over it), else
        ``"svd"`` when the matrix has at most 4·10⁶ entries, else ``"gram"``
        (see the module notes for the error analysis of each).
    block_cols : int, optional
        Columns of ``B`` per block (``B`` = the matrix or its transpose,
        whichever is wider); default about 64 MiB of temporaries per block.
    centre_rows : bool
        Spectrum of the matrix with every row centred (the shift-invariant
        rank's matrix).
    computed_in : dtype, optional
        Dtype the entries were computed in (sets ε for rank thresholds);
        default the matrix's or the layer's.
    progress : bool, optional
        A progress bar per pass of the Gram path on stderr (default: when
        stderr is a terminal).
    client : distributed.Client, optional
        Run the Gram path's passes on a Dask cluster
        (:mod:`rankbottleneck.cluster`): the workers build the blocks from
        the layer and the contexts, and only the ``n × n`` eigen-solves are
        local. For a layer only; the structural (softmax) path needs no
        cluster and ignores it.

    Returns
    -------
    Spectrum

    Raises
    ------
    InsufficientMemoryError
        Before any allocation, when the chosen path would not fit; the
        message gives the size and the streaming alternative.
    ValueError
        When a layer's logits or log-probabilities on `contexts` overflow:
        the message names the layer and its largest ``|logit|``.

    Examples
    --------
    >>> import numpy as np, rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(300, 500, 8, seed=0)
    >>> layer = rb.PointwiseLayer(W)
    >>> rb.spectrum(layer, H).rank("press").value          # d + 1
    9
    >>> s = rb.spectrum(layer.log_prob_matrix(H), method="gram")
    >>> s.rank("press").value, s.method
    (9, 'gram + 1 refinement pass(es)')
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    is_layer = isinstance(A, _Layer)
    if is_layer:
        if contexts is None:
            raise TypeError("spectrum(layer, contexts): contexts are required "
                            "when A is a layer")
        X = A._check_contexts(contexts, "contexts")
        shape = (X.shape[0], A.M)
        structural = _structural_layer(A)
        if method == "auto":
            method = "structural" if structural is not None else "gram"
        if method == "structural" and structural is None:
            raise ValueError(
                f"method='structural' needs a softmax or MoC layer (log-probabilities "
                f"= logits - shift); got {A!r}")
        if computed_in is None:
            computed_in = np.result_type(X, A.dtype)
    else:
        if contexts is not None:
            raise TypeError("contexts are only for a layer; A is a matrix")
        A = _as_matrix(A)
        _reject_neginf(A)
        shape = A.shape
        if method == "structural":
            raise ValueError("method='structural' needs a layer (its factors), "
                             "not a matrix; pass the layer and its contexts")
        if method == "auto":
            method = "svd" if A.size <= 4_000_000 else "gram"
        if computed_in is None:
            computed_in = A.dtype
    if client is not None:
        from .cluster import _require_client

        _require_client(client)
        if not is_layer:
            raise ValueError(
                "client= builds a layer's log-probability matrix on the workers from "
                "its contexts and W; pass the layer and its contexts, not a matrix")
        if method == "svd":
            raise ValueError("client= runs the Gram path; use method='gram' or "
                             "'auto' with it")
    computed_in = _machine_eps(computed_in)[1]
    N, M = shape
    n, m = min(shape), max(shape)
    if block_cols is not None:
        _check_block(block_cols, m)
    d = A.d if is_layer else 0
    block_bytes = (block_cols or _default_block(n, m, 3)) * n * 8 * 3
    peak = _peak_estimate(method, shape, n, block_bytes, d)
    _check_fits_in_memory(peak, f"the {method} spectrum of a {N}×{M} matrix",
           "pass fewer contexts (a subset of rows gives a lower bound on the rank)"
           + ("" if method == "gram" else
              "; method='gram' streams the matrix in blocks at O(min(N, M)²) memory"))

    clock = _Clock()
    if method == "structural":
        values, error, e = _structural_spectrum(A, X, structural, centre_rows, clock)
        return _result(values, error, e, shape, computed_in, "structural", 1, peak,
                       "A = [H, 1, -lse][W, b, 1]ᵀ: two thin QRs and a "
                       f"({values[values > 0].size}-column) SVD; the other "
                       "singular values are exactly zero"
                       + ("" if client is None else
                          " (computed here: this path needs no cluster)"),
                       clock)
    if method == "svd":
        dense = A.log_prob_matrix(X) if is_layer else A
        # entries far from 1: scaled by 2^-e first (exactly), so that
        # neither the row means nor the singular values overflow
        e = _exponent(_peak(dense))
        dense = _scaled(dense, e)
        dense = _centre_rows(dense) if centre_rows else dense.astype(np.float64, copy=False)
        values = scipy.linalg.svdvals(dense, check_finite=False)
        clock.lap("dense SVD")
        return _result(values, np.full(len(values), _EPS * values[0] * math.sqrt(n)),
                       e, shape, computed_in, "svd", 1, peak, "LAPACK gesdd", clock)
    if client is not None:
        from .cluster import _ClusterSource

        source = _ClusterSource(client, A, X, block_cols, centre_rows)
        clock.lap("scatter and normalisers on the cluster")
    else:
        source = (_layer_source(A, X, block_cols, centre_rows) if is_layer
                  else _matrix_source(A, block_cols, centre_rows))
    values, error, passes, notes = _gram_spectrum(source, clock, progress)
    if client is not None:
        notes += (f"; Gram passes on a Dask cluster of "
                  f"{len(client.scheduler_info()['workers'])} workers, "
                  f"{len(source.chunks)} tasks each")
        peak = 5 * n * n * 8        # here: the Gram matrices and eigenvectors
    name = "gram" if passes == 1 else f"gram + {passes - 1} refinement pass(es)"
    if passes == 1:
        peak = n * n * 8 + source.block_bytes   # G alone, eigvalsh in place
    return _result(values, error, source.exponent, shape, computed_in, name,
                   passes + source.prepare_passes, peak, notes, clock)


def _result(values, error, exponent, shape, computed_in, method, passes, peak, notes,
            clock):
    """The :class:`Spectrum` of values and errors computed on the matrix
    scaled by ``2^-exponent``: in the matrix's units, the computed ones kept
    for its ranks."""
    if exponent:
        notes += (f"; computed on the matrix times 2^{-exponent} (exact: its scale "
                  "is far from 1) and scaled back")
    spec = Spectrum(_unscaled(values, exponent), _unscaled(error, exponent), shape,
                    computed_in, method, passes, peak, notes, tuple(clock.stages))
    if exponent:
        object.__setattr__(spec, "_exponent", int(exponent))
        object.__setattr__(spec, "_scaled_values", values)
        object.__setattr__(spec, "_scaled_error", error)
    return spec
