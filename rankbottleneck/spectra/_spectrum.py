"""The entry point of the spectral engine: :func:`spectrum` and its result.

See :mod:`rankbottleneck.spectra` for the methods and their error analysis.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from .._lapack import _exponent, _format_scaled, _peak, _scaled, _unscaled
from .._measures import (
    Rank,
    _as_matrix,
    _centre_rows,
    _machine_eps,
    _rank_of,
    _reject_neginf,
)
from .._result import Result
from .._validation import (
    InsufficientMemoryError,
    _as_bool,
    _as_int,
    _check_fits_in_memory,
    _format_bytes,
)
from ._auto import _check_method, _choose
from ._gram import _EPS, _gram_spectrum
from ._sources import (
    _check_block,
    _default_block,
    _is_layer,
    _layer_source,
    _matrix_source,
)
from ._structural import _STRUCTURAL_BLOCK_BYTES, _structural_spectrum

__all__ = ["Spectrum", "spectrum"]


class _Clock:
    """Wall time per stage, for `Spectrum.stages`."""

    def __init__(self):
        self.stages, self._t = [], time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.stages.append((name, round(now - self._t, 3)))
        self._t = now


# ---------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Spectrum(Result):
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

    See Also
    --------
    spectrum : makes one.
    Spectrum.rank : any rank measure of these values, with its tolerance.
    rankbottleneck.rank_report : every measure at once, beside the bound.
    rankbottleneck.estimate_hidden_size : the hidden size from the cliff.

    Examples
    --------
    >>> import numpy as np, rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(200, 300, 6, seed=0)
    >>> s = rb.spectrum(rb.PointwiseLayer(W), H)
    >>> s.shape, s.rank("press").value          # softmax: rank d + 1
    ((200, 300), 7)
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

    def _as_dict_fields(self):
        # values beyond the float range (a matrix scaled by 2^e) are "inf" in
        # `values`: the scaled ones and the exponent keep them
        out = super()._as_dict_fields()
        if self._scaled_values is not None and self._exponent:
            out.update(exponent=self._exponent, scaled_values=self._scaled_values,
                       scaled_error=self._scaled_error)
        return out

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
        of the logits (softmax; the MoC control over it), ``"gram"`` for
        any other layer; for a matrix ``"svd"`` up to 4·10⁶ entries, else
        ``"gram"``, whose first pass, when it leaves values unresolved, is
        followed by one deflated pass or, where that would not be as
        accurate as the dense SVD, by the dense SVD (the rule of
        :mod:`rankbottleneck.spectra._auto`; the package notes give the
        error analysis of each).
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

    See Also
    --------
    Spectrum.rank : a rank measure of the result, with its tolerance.
    rankbottleneck.numerical_rank, rankbottleneck.singular_values : one
        measure, or the values, of a matrix.
    rankbottleneck.rank_report : every measure beside the ``d + 1`` bound.
    """
    # "auto" on a large matrix may deflate, or find the dense SVD faster (_auto)
    auto = _check_method(method) == "auto"
    centre_rows = _as_bool(centre_rows, "centre_rows")
    is_layer = _is_layer(A)
    if is_layer:
        if contexts is None:
            raise TypeError("spectrum(layer, contexts): contexts are required "
                            "when A is a layer")
        X = A._check_contexts(contexts, "contexts")
        shape = (X.shape[0], A.M)
        method = _choose(method, is_layer=True, structural=A._shift_only)
        if method == "structural" and not A._shift_only:
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
        method = _choose(method, is_layer=False, n_entries=A.size)
        if computed_in is None:
            computed_in = A.dtype
    if client is not None:
        from ._dask import _require_client

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
        values, error, e = _structural_spectrum(A, X, centre_rows, clock)
        return _result(values, error, e, shape, computed_in, "structural", 1, peak,
                       "A = [H, 1, -lse][W, b, 1]ᵀ: two thin QRs and a "
                       f"({values[values > 0].size}-column) SVD; the other "
                       "singular values are exactly zero"
                       + ("" if client is None else
                          " (computed here: this path needs no cluster)"),
                       clock)
    if method == "svd":
        return _dense_spectrum(A.log_prob_matrix(X) if is_layer else A, centre_rows,
                               shape, computed_in, peak, clock)
    if client is not None:
        from ._dask import _ClusterSource

        source = _ClusterSource(client, A, X, block_cols, centre_rows)
        clock.lap("scatter and normalisers on the cluster")
    else:
        source = (_layer_source(A, X, block_cols, centre_rows) if is_layer
                  else _matrix_source(A, block_cols, centre_rows))
    deflate = auto and not is_layer
    # the dense SVD as the fall-back only where it fits (else the refinement)
    dense_fits = deflate and _fits(_peak_estimate("svd", shape, n, 0))
    found = _gram_spectrum(source, clock, progress, deflate=deflate,
                           dense_fallback=dense_fits)
    if found is None:
        # noise-dominated: refinement would cost more than the dense SVD
        return _dense_spectrum(A, centre_rows, shape, computed_in, peak, clock,
                               "the Gram pass found a noise-dominated spectrum "
                               "(no small resolved part to deflate): ")
    values, error, passes, notes = found
    if client is not None:
        notes += (f"; Gram passes on a Dask cluster of "
                  f"{len(client.scheduler_info()['workers'])} workers, "
                  f"{len(source.chunks)} tasks each")
        peak = 5 * n * n * 8        # here: the Gram matrices and eigenvectors
    name = ("gram" if passes == 1 else
            f"gram + {passes - 1} {'deflated' if 'deflated' in notes else 'refinement'}"
            " pass(es)")
    if passes == 1:
        peak = n * n * 8 + source.block_bytes   # G alone, eigvalsh in place
    return _result(values, error, source.exponent, shape, computed_in, name,
                   passes + source.prepare_passes, peak, notes, clock)


def _fits(nbytes):
    """Whether `nbytes` fit in the memory available now."""
    try:
        _check_fits_in_memory(nbytes, "", "")
    except InsufficientMemoryError:
        return False
    return True


def _dense_spectrum(dense, centre_rows, shape, computed_in, peak, clock, why=""):
    """The ``"svd"`` method: LAPACK's ``gesdd`` on the matrix (rows centred
    when asked)."""
    # entries far from 1: scaled by 2^-e first (exactly), so that
    # neither the row means nor the singular values overflow
    e = _exponent(_peak(dense))
    dense = _scaled(dense, e)
    dense = _centre_rows(dense) if centre_rows else dense.astype(np.float64, copy=False)
    values = scipy.linalg.svdvals(dense, check_finite=False)
    clock.lap("dense SVD")
    return _result(values, np.full(len(values), _EPS * values[0] * math.sqrt(min(shape))),
                   e, shape, computed_in, "svd", 1, peak, why + "LAPACK gesdd", clock)


def _spectrum_unless_dense(A, contexts, method, computed_in, centre_rows=False,
                           progress=None, client=None):
    """:func:`spectrum`, or None where the rule (:mod:`._auto`) takes the
    dense SVD of a matrix, which the callers (the rank functions and
    :func:`~rankbottleneck.rank_report`) take with :func:`_singular_values`.

    Layers always go through :func:`spectrum` (structural or streamed).
    """
    _check_method(method)
    if not _is_layer(A):
        if contexts is not None:
            raise TypeError("contexts are only for a layer; A is a matrix")
        if client is not None:
            # as spectrum() says it, before the dense SVD could ignore it
            from ._dask import _require_client

            _require_client(client)
            raise ValueError(
                "client= builds a layer's log-probability matrix on the workers from "
                "its contexts and W; pass the layer and its contexts, not a matrix")
        if _choose(method, is_layer=False, n_entries=A.size) == "svd":
            return None
    return spectrum(A, contexts, method=method, computed_in=computed_in,
                    centre_rows=centre_rows, progress=progress, client=client)


def _singular_values(A, top=None, dtype=np.float64):
    """``(s, e)``: the singular values of `A` are ``s · 2^e``, with `A`
    scaled by ``2^-e`` first when its entries are far from 1 (``e = 0``
    otherwise, and then `s` is what the unscaled computation gives)."""
    A = _as_matrix(A)
    _reject_neginf(A)
    work = A if dtype is None else A.astype(dtype, copy=False)
    n = min(A.shape)
    _check_fits_in_memory(
        2 * work.nbytes,
        f"the SVD of a {A.shape[0]}×{A.shape[1]} {work.dtype.name} matrix",
        "pass fewer rows or columns (the rank of a random subset of rows is a "
        "lower bound), or dtype=None to keep float32",
    )
    e = _exponent(_peak(work), work.dtype)
    work = _scaled(work, e)
    if top is not None:
        top = _as_int(top, "top", low=1, high=n)
        if top < n // 4:
            # A fixed start vector keeps ARPACK deterministic.
            v0 = np.random.default_rng(0).standard_normal(n).astype(work.dtype)
            s = scipy.sparse.linalg.svds(work, k=top, v0=v0,
                                         return_singular_vectors=False)
            return np.sort(s)[::-1], e
        return scipy.linalg.svdvals(work, check_finite=False)[:top], e
    return scipy.linalg.svdvals(work, check_finite=False), e


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
