r"""The hidden size of a softmax model, read off the spectrum of its outputs.

Full log-probability vectors of a softmax layer satisfy ``y = W h + b -
lse·1``; centring every row removes ``lse`` and centring every column
removes ``b`` (Finlayson et al. 2024 [1]_), leaving ``C W (h - h̄)``: rank
exactly ``d``. The spectrum of the doubly centred rows falls off a cliff
after ``σ_d``. This is the one place that estimate is made
(:func:`_cliff`); :func:`~rankbottleneck.estimate_hidden_size`,
:func:`hidden_size_by_rows`, :func:`~rankbottleneck.analyze_output_layer`
(and through it :func:`rankbottleneck.lm.analyze_model`) use it, and the
``"gap"`` rank measure takes the largest drop as this does
(:func:`rankbottleneck._measures._largest_drop`).

References
----------
.. [1] M. Finlayson, X. Ren, S. Swayamdipta, "Logits of API-protected LLMs
   leak proprietary information", 2024, arXiv:2403.09539.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .._lapack import _exponent, _peak, _qr_r, _scaled, _unscaled
from .._measures import Rank, _as_matrix, _computed_in, _largest_drop, _rank_of
from .._result import Result
from .._validation import _as_int, _as_scalar
from ._power import _power_iteration
from ._spectrum import _singular_values

__all__ = ["HiddenSizeEstimate", "estimate_hidden_size", "hidden_size_by_rows"]


@dataclass(frozen=True, eq=False)
class HiddenSizeEstimate(Result):
    """The hidden size read off a spectrum cliff, or the lack of one.

    Attributes
    ----------
    d : int or None
        The estimate; None when there is no clear cliff.
    gap : float
        ``σ_d / σ_{d+1}`` of the doubly centred outputs at the cliff (the
        largest such ratio when there is none): the confidence.
    cliff : bool
    rank : Rank
        Press rank of the doubly centred outputs (σ_1 of the raw outputs).
    singular_values : ndarray
    message : str
    """

    d: int | None
    gap: float
    cliff: bool
    rank: Rank
    singular_values: np.ndarray = field(repr=False)
    message: str = ""

    def plot(self, ax=None, **kwargs):
        """The spectrum of the doubly centred outputs with the Press
        threshold and the cliff marked. Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        s = self.singular_values
        s1 = s[0] if s.size and s[0] > 0 else 1.0
        tiny = np.finfo(float).tiny
        ax.semilogy(np.arange(1, s.size + 1), np.maximum(s / s1, tiny), **kwargs)
        ax.axhline(self.rank.threshold / s1, color="0.4", ls="--", lw=0.8,
                   label="Press threshold")
        if self.d is not None:
            ax.axvline(self.d, color="C3", lw=0.8,
                       label=f"cliff after σ_{self.d} (gap 10^"
                             f"{math.log10(max(self.gap, 1.0)):.1f})")
        ax.set(xlabel="index i", ylabel="σ_i / σ_1 (doubly centred)",
               title="hidden size: " + (str(self.d) if self.d is not None
                                        else "no clear cliff"))
        ax.legend(fontsize=7)
        return ax

    def __repr__(self):
        return (f"HiddenSizeEstimate(d={self.d}, gap={self.gap:.3g} "
                f"(10^{math.log10(max(self.gap, 1e-300)):.1f}), {self.message})")


def estimate_hidden_size(log_prob_rows, *, min_gap=1e3, computed_in=None):
    r"""Recover the hidden size ``d`` of a softmax model from its outputs.

    Full log-probability vectors of a softmax layer satisfy
    ``y = W h + b - lse·1``; centring every row removes ``lse`` and centring
    every column removes ``b`` (Finlayson et al. 2024), leaving
    ``C W (h - h̄)``: rank exactly ``d``. The spectrum of the doubly centred
    rows therefore falls off a cliff after ``σ_d`` to the rounding level.

    The cliff is declared when (1) the Press rank of the doubly centred rows
    (threshold scaled by σ_1 of the raw rows, ε of `computed_in`) is below
    ``min(N, M) - 1``, its largest possible value, so that the spectrum did
    reach the noise floor, and (2) ``σ_d / σ_{d+1} ≥ min_gap``. Nonlinear
    layers (sigsoftmax, GSS, MoS) decay without reaching the floor and give
    "no clear cliff".

    Parameters
    ----------
    log_prob_rows : (N, M) array_like
        Stacked full log-probability vectors; at least ``d + 2`` rows are
        needed, ``d + 20`` recommended.
    min_gap : float
        Smallest ratio ``σ_d / σ_{d+1}`` accepted as a cliff.
    computed_in : dtype, optional
        Dtype the outputs were computed in; default their own.

    Returns
    -------
    HiddenSizeEstimate

    See Also
    --------
    rankbottleneck.Rank : the ``"gap"`` measure of :meth:`Spectrum.rank` reads
        the same largest drop.
    rankbottleneck.spectrum, rankbottleneck.rank_report

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(120, 400, 10, seed=0)
    >>> est = rb.estimate_hidden_size(rb.PointwiseLayer(W).log_prob_matrix(H))
    >>> est.d                       # softmax outputs: rank d + 1, so d = 10
    10
    """
    Y = _as_matrix(log_prob_rows, "log_prob_rows")
    if np.min(Y) == -np.inf:                  # (NaN was refused above)
        raise ValueError(
            "log_prob_rows contains -inf: a sparse activation is not a softmax "
            "model and has no hidden-size cliff"
        )
    if Y.shape[0] < 3 or Y.shape[1] < 3:
        raise ValueError(
            f"log_prob_rows must have at least 3 rows and 3 columns for a "
            f"spectrum cliff; got shape {Y.shape}"
        )
    min_gap = _as_scalar(min_gap, "min_gap", low=1, low_open=True)
    computed_in = _computed_in(computed_in, Y)
    Y64 = Y.astype(np.float64)
    # outputs far from 1: scaled by a power of two first (exactly)
    e = _exponent(_peak(Y64))
    Y64 = _scaled(Y64, e)
    s1 = float(_unscaled(*_singular_values(Y64, top=1))[0])
    Yc = Y64 - Y64.mean(axis=1, keepdims=True)
    Yc -= Yc.mean(axis=0)
    return _cliff(_unscaled(*_singular_values(Yc)), s1, Y.shape, computed_in, min_gap, e)


def _cliff(s, s1, shape, computed_in, min_gap, exponent=0):
    """The cliff decision of :func:`estimate_hidden_size` on the singular
    values `s` of doubly centred rows, σ_1 of the raw rows `s1` (both in
    units of ``2^exponent``)."""
    r = _rank_of(s, exponent, "press", shape=shape, computed_in=computed_in, scale=s1)
    s_out = _unscaled(s, exponent)
    # Double centring leaves rank ≤ min(N, M) - 1: reaching it means the
    # spectrum never fell to the noise floor.
    full = min(shape) - 1
    k = r.value
    if k == 0:
        # nothing above the rounding level once centred: every ratio among
        # the values left is a ratio of rounding errors, not a gap
        return HiddenSizeEstimate(
            None, 1.0, False, r, s_out,
            "no clear cliff: the rows are identical once each is centred (one "
            "distribution, repeated): they say nothing about d; pass the outputs "
            "of different contexts")
    if 0 < k < full:
        gap = float(s[k - 1] / max(s[k], np.finfo(np.float64).tiny))
        if gap >= min_gap:
            return HiddenSizeEstimate(
                k, gap, True, r, s_out,
                f"cliff after σ_{k}: after centring, the outputs lie in a "
                f"{k}-dimensional space")
        reason = f"the largest drop above the floor, {gap:.3g}, is below min_gap {min_gap:g}"
    else:
        # ratios among the min(N, M) - 1 values centring can leave non-zero;
        # the next one is zero by construction and is no evidence of a cliff
        tiny = np.finfo(np.float64).tiny
        gap = _largest_drop(s, full - 1, tiny)[1] if full > 1 else 1.0
        reason = (f"the spectrum never reaches the noise floor (Press rank {k} of "
                  f"{full} possible)")
    return HiddenSizeEstimate(
        None, gap, False, r, s_out,
        f"no clear cliff: {reason}; a nonlinear layer, or too few rows")


def hidden_size_by_rows(log_prob_rows, n_rows=None, *, min_gap=1e3, computed_in=None):
    r"""The hidden-size estimate from the first ``n`` rows, for several ``n``.

    How many outputs the estimate of :func:`estimate_hidden_size` needs
    before it settles at ``d``. One Householder QR of the row-centred
    ``Ycᵀ = QR`` serves every prefix: the first ``n`` rows of ``Yc`` are
    ``R[:n, :n]ᵀ Q[:, :n]ᵀ``, so after centring their columns their singular
    values are those of the ``n × n`` matrix ``(I - 11ᵀ/n) R[:n, :n]ᵀ``
    (``Q`` has orthonormal columns). The QR is backward stable, so these
    agree with a dense SVD of each prefix to ``~ε σ_1``; the cost is one
    ``2 M N²`` factorisation instead of one SVD per ``n``.

    Parameters
    ----------
    log_prob_rows : (N, M) array_like
        Stacked full log-probability vectors.
    n_rows : sequence of int, optional
        Prefix lengths, each in ``[3, N]``; default about a dozen values
        from 3 to ``N``, denser near ``N``.
    min_gap, computed_in
        As for :func:`estimate_hidden_size`.

    Returns
    -------
    list of (int, HiddenSizeEstimate)
    """
    return _hidden_size_by_rows(log_prob_rows, n_rows, min_gap, computed_in)


def _hidden_size_by_rows(log_prob_rows, n_rows, min_gap, computed_in, overwrite=False):
    """:func:`hidden_size_by_rows`; with `overwrite`, a float64 C-ordered
    `log_prob_rows` is centred in place (a matrix made for this call: at
    2,000 × 49,152 a fresh copy costs 2 s of page faults on a VM), with the
    same values."""
    Y = _as_matrix(log_prob_rows, "log_prob_rows")
    if np.min(Y) == -np.inf:                  # (NaN was refused above)
        raise ValueError("log_prob_rows contains -inf: a sparse activation is not a "
                         "softmax model and has no hidden-size cliff")
    N, M = Y.shape
    if N < 3 or M < 3:
        raise ValueError(f"log_prob_rows must have at least 3 rows and 3 columns; got "
                         f"shape {Y.shape}")
    if n_rows is None:
        n_rows = sorted({int(v) for v in np.unique(np.round(
            np.geomspace(3, N, 12)))} | {N})
    n_rows = [_as_int(n, "n_rows", low=3, high=N) for n in n_rows]
    min_gap = _as_scalar(min_gap, "min_gap", low=1, low_open=True)
    computed_in = _computed_in(computed_in, Y)
    # outputs far from 1: scaled by a power of two first (exactly), so that
    # neither the row means nor the power iteration overflow
    e = _exponent(_peak(Y))
    scaled = _scaled(Y, e)
    # σ_1 of the raw rows only scales the threshold: a few steps from the
    # all-ones direction (the dominant -lse column) reach 1e-12
    s1 = [_power_iteration(Yn.__matmul__, M, backward=Yn.T.__matmul__, rtol=1e-12,
                           max_iter=500) for Yn in (scaled[:n] for n in n_rows)]
    mean = scaled.mean(axis=1, keepdims=True, dtype=np.float64)
    if (scaled is not Y or overwrite) and scaled.dtype == np.float64 and \
            scaled.flags.c_contiguous:
        Yc = np.subtract(scaled, mean, out=scaled)     # a copy, or ours to change
    else:
        Yc = scaled - mean
    del scaled, Y
    # the row-centred transpose, in Fortran order so that the QR overwrites it
    R = _qr_r(np.asfortranarray(Yc.T, dtype=np.float64))[:min(N, M)]
    del Yc
    out = []
    for n, top in zip(n_rows, s1):
        Rn = R[:min(n, M), :n].T                       # (n, min(n, M))
        Rn = Rn - Rn.mean(axis=0)                      # centre the n rows' columns
        s = scipy.linalg.svdvals(Rn, check_finite=False)
        s = np.concatenate([s, np.zeros(max(0, min(n, M) - s.size))])
        out.append((n, _cliff(s, top, (n, M), computed_in, min_gap, e)))
    return out
