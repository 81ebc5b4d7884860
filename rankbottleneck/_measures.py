"""The rank measures: every rank with its measure and tolerance named.

A bare "rank" of a floating-point matrix means nothing without the threshold
that produced it: a rank-10 matrix plus noise at 1e-24 reads as rank 10 or
rank 1,159 depending on the measure, and a float32 log-softmax matrix looks
full rank under a float64 tolerance. Every rank is therefore a :class:`Rank`
that carries its measure, its threshold and the machine epsilon it used
(:func:`rank_from_singular_values`); :mod:`rankbottleneck.rank` computes them
for matrices and layers, and :func:`rankbottleneck.reports.rank_report` puts
all the measures side by side.

Measures, with singular values
``σ_1 ≥ σ_2 ≥ … ≥ 0`` and ``ε`` the machine epsilon of the dtype ``A`` was
computed in:

========== ============================================= =====================
measure    definition                                    source
========== ============================================= =====================
numpy      ``#{σ_i > σ_1 · max(N, M) · ε}``              numpy.linalg
press      ``#{σ_i > 0.5 · √(N+M+1) · σ_1 · ε}``         Numerical Recipes [1]_
rtol       ``#{σ_i > rtol · σ_1}``                       caller's choice
atol       ``#{σ_i > atol}``                             caller's choice
effective  smallest k with ``Σ_{i>k} σ_i² ≤ eps Σ σ_i²``  Parthiban et al. [2]_
entropy    ``exp(-Σ q_i log q_i)``, ``q_i = σ_i / Σ σ``   Roy & Vetterli [3]_
stable     ``‖A‖_F² / ‖A‖_2²``                           —
gap        ``argmax_k σ_k / σ_{k+1}`` above the noise floor Finlayson et al. [4]_
========== ============================================= =====================

References
----------
.. [1] W. H. Press et al., Numerical Recipes, 3rd ed., §2.6 (SVD threshold).
.. [2] A. Parthiban, et al., "Understanding the softmax bottleneck"
   (generalised sigsoftmax, effective rank), 2021 (no arXiv id known to us).
.. [3] O. Roy, M. Vetterli, "The effective rank: a measure of effective
   dimensionality", EUSIPCO 2007.
.. [4] M. Finlayson, X. Ren, S. Swayamdipta, "Logits of API-protected LLMs
   leak proprietary information", 2024, arXiv:2403.09539.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ._lapack import _exponent, _format_scaled, _scaled, _unscaled
from ._result import Result
from ._validation import _as_float_array, _as_scalar

__all__ = ["MEASURES", "Rank", "rank_from_singular_values"]

MEASURES = ("numpy", "press", "rtol", "atol", "effective", "entropy", "stable",
            "gap")
THRESHOLD_MEASURES = ("numpy", "press", "rtol", "atol")
DEFAULT_LOG_FLOOR = math.log(1e-30)
DEFAULT_EFFECTIVE_EPS = (1e-3, 1e-4, 1e-5)


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------


def _as_matrix(A, name="A"):
    # -inf passes here so that callers can say what to do about it.
    A = _as_float_array(A, name, allow_neginf=True, min_size=0)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix; got shape {A.shape}")
    if A.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {A.shape}")
    return A


def _reject_neginf(A, name="A"):
    if np.isneginf(A).any():
        raise ValueError(
            f"{name} contains -inf (the zeros of a sparse activation), so its "
            "singular values are undefined; use rank_report(A), which reports "
            "the support, the finite columns and a clipped matrix"
        )


def _machine_eps(dtype):
    """Machine epsilon and name of a floating dtype (the one A was computed in)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"computed_in must be a floating dtype; got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"computed_in must be a floating dtype; got {dt}")
    return float(np.finfo(dt).eps), dt.name


def _computed_in(computed_in, A):
    """The caller's `computed_in`, else the dtype of `A`; validated, as a name."""
    return _machine_eps(A.dtype if computed_in is None else computed_in)[1]


# ---------------------------------------------------------------------------
# One measure
# ---------------------------------------------------------------------------


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Rank(Result):
    """A rank together with the measure and threshold that produced it.

    It behaves like its value: ``int(r)``, ``float(r)``, ``r == 5``,
    ``r < 10``, ``sorted(ranks)`` and arithmetic-free comparisons with other
    ranks all use :attr:`value`; ``repr`` says how it was made.

    Attributes
    ----------
    value : int or float
        The rank (entropy and stable ranks are real numbers).
    measure : str
        One of :data:`MEASURES`.
    threshold : float or None
        For threshold measures, the absolute cut on the singular values:
        ``σ_i > threshold`` count. None for the others.
    rule : str
        The definition with its numbers, e.g.
        ``"σ > 0.5·√(N+M+1)·σ1·ε, ε = 2.2e-16 (float64)"``.
    eps : float or None
        The energy fraction of the ε-effective rank.

    See Also
    --------
    rankbottleneck.numerical_rank : makes one.
    rankbottleneck.RankReport : every measure of one matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> r = rb.numerical_rank(np.diag([1.0, 1e-3, 1e-20]), "press")
    >>> r.value, r == 2, r < 3
    (2, True, True)
    """

    value: int | float
    measure: str
    threshold: float | None = None
    rule: str = ""
    eps: float | None = None

    def __int__(self):
        return int(self.value)

    @staticmethod
    def _other(other):
        if isinstance(other, Rank):
            return other.value
        if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(
                other, (bool, np.bool_)):
            return other
        return NotImplemented

    def __eq__(self, other):
        value = self._other(other)
        return value if value is NotImplemented else self.value == value

    def __lt__(self, other):
        value = self._other(other)
        return value if value is NotImplemented else self.value < value

    def __hash__(self):
        # equal to its value, so it must hash like it
        return hash(self.value)

    def __float__(self):
        return float(self.value)

    def __index__(self):
        if isinstance(self.value, (int, np.integer)):
            return int(self.value)
        raise TypeError(f"the {self.measure} rank {self.value} is not an integer")

    @property
    def label(self):
        """Short column name: ``press``, ``effective(1e-04)``, ..."""
        return self.measure if self.eps is None else f"{self.measure}({self.eps:.0e})"

    def _as_dict_fields(self):
        return {**super()._as_dict_fields(), "label": self.label}

    def __repr__(self):
        value = self.value if isinstance(self.value, int) else f"{self.value:.4g}"
        return f"Rank({self.label}={value}: {self.rule})"


def _check_eps(eps):
    return _as_scalar(eps, "eps", low=0, high=1, low_open=True, high_open=True)


def _check_tol(value, name):
    return _as_scalar(value, name, low=0)


def _resolve_measure(measure, rtol, atol):
    if rtol is not None and atol is not None:
        raise ValueError(
            f"rtol and atol can't both be set; got rtol={rtol}, atol={atol}"
        )
    if measure is None:
        measure = "rtol" if rtol is not None else "atol" if atol is not None else "numpy"
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}; got {measure!r}")
    if measure == "rtol" and rtol is None:
        raise ValueError("measure='rtol' needs rtol=<relative tolerance>")
    if measure == "atol" and atol is None:
        raise ValueError("measure='atol' needs atol=<absolute tolerance>")
    if rtol is not None and measure != "rtol":
        raise ValueError(f"rtol only applies to measure='rtol'; got measure={measure!r}")
    if atol is not None and measure != "atol":
        raise ValueError(f"atol only applies to measure='atol'; got measure={measure!r}")
    return measure


def _threshold(measure, shape, s1, eps_mach, dtype_name, rtol=None, atol=None,
               exponent=0):
    """Absolute singular-value threshold of a threshold measure, and its rule.

    `s1` (and the threshold returned) are in units of ``2^exponent``; the
    rule states them in the matrix's own units. `atol` is in those too.
    """
    N, M = shape
    sigma1 = _format_scaled(s1, exponent)
    tail = f"σ1 = {sigma1}, ε = {eps_mach:.3g} ({dtype_name})"
    if measure == "numpy":
        return s1 * max(N, M) * eps_mach, f"σ > σ1·max(N,M)·ε; {tail}"
    if measure == "press":
        return (0.5 * math.sqrt(N + M + 1) * s1 * eps_mach,
                f"σ > 0.5·√(N+M+1)·σ1·ε; {tail}")
    if measure == "rtol":
        return rtol * s1, f"σ > rtol·σ1, rtol = {rtol:.3g}; σ1 = {sigma1}"
    return _scaled(np.float64(atol), exponent), f"σ > atol = {atol:.3g}"


def rank_from_singular_values(s, measure=None, *, shape, computed_in="float64",
                              rtol=None, atol=None, eps=1e-3, scale=None):
    """A :class:`Rank` from precomputed singular values.

    Parameters
    ----------
    s : (n,) array_like
        Singular values (any order; they are sorted).
    measure : str, optional
        One of :data:`MEASURES`; default ``"numpy"``, or ``"rtol"``/``"atol"``
        when that tolerance is given.
    shape : (int, int)
        Shape ``(N, M)`` of the matrix (the numpy and Press thresholds use it).
    computed_in : dtype
        Dtype whose machine epsilon the numpy, Press and gap thresholds use.
    rtol, atol : float, optional
        Tolerances of the ``"rtol"`` / ``"atol"`` measures; ``≥ 0``.
    eps : float
        Energy fraction of the ε-effective rank, in (0, 1).
    scale : float, optional
        The σ_1 that relative thresholds scale with; default ``max(s)``.
        :func:`shift_invariant_rank` passes the σ_1 of the uncentred matrix.

    Notes
    -----
    Every measure but ``"atol"`` is invariant under ``s → c·s``, and so is
    the value computed, for any ``c`` that keeps the values representable:
    values far from 1 are first scaled by a power of two (exactly), so that
    no sum of squares overflows or underflows.
    """
    return _rank_of(s, 0, measure, shape=shape, computed_in=computed_in,
                    rtol=rtol, atol=atol, eps=eps, scale=scale)


def _rank_of(s, exponent, measure=None, *, shape, computed_in="float64",
             rtol=None, atol=None, eps=1e-3, scale=None):
    """:func:`rank_from_singular_values` of the singular values
    ``s · 2^exponent`` (`scale` in the same units as `s`; `atol` and the
    threshold of the returned Rank in the matrix's own units).

    The values may come from a matrix scaled by ``2^-exponent`` whose own
    singular values overflow float64: the ranks are still those of the
    matrix.
    """
    measure = _resolve_measure(measure, rtol, atol)
    if rtol is not None:
        rtol = _check_tol(rtol, "rtol")
    if atol is not None:
        atol = _check_tol(atol, "atol")
    s = np.sort(np.asarray(s, dtype=np.float64))[::-1]
    eps_mach, dtype_name = _machine_eps(computed_in)
    # values far from 1 (σ² would overflow or underflow): scale them, exactly
    e = _exponent(max(float(s[0]), 0.0 if scale is None else float(scale)))
    if e:
        s = _scaled(s, e)
        scale = None if scale is None else _scaled(float(scale), e)
        exponent += e
    s1 = float(s[0]) if scale is None else float(scale)
    if measure in THRESHOLD_MEASURES:
        tol, rule = _threshold(measure, shape, s1, eps_mach, dtype_name, rtol, atol,
                               exponent)
        threshold = atol if measure == "atol" else _unscaled(float(tol), exponent)
        return Rank(int(np.sum(s > tol)), measure, float(threshold), rule)
    if measure == "effective":
        eps = _check_eps(eps)
        energy = s * s
        # Tail sums, accumulated from the smallest value up, keep their
        # relative accuracy even for eps near the rounding level.
        tail = np.cumsum(energy[::-1])[::-1]
        total = tail[0]
        after = np.append(tail[1:], 0.0)  # energy beyond the first k values
        k = int(np.argmax(after <= eps * total)) + 1 if total > 0 else 0
        return Rank(k, measure, None,
                    f"smallest k with Σ_{{i>k}} σ² ≤ ε·Σ σ², ε = {eps:.0e}", eps)
    if measure == "entropy":
        total = s.sum()
        if total == 0:
            return Rank(0.0, measure, None, "exp(entropy of σ/Σσ); zero matrix")
        q = s[s > 0] / total
        value = float(np.exp(-np.sum(q * np.log(q))))
        return Rank(value, measure, None, "exp(-Σ q log q), q = σ/Σσ")
    if measure == "stable":
        value = float(np.sum(s ** 2) / s1 ** 2) if s1 > 0 else 0.0
        return Rank(value, measure, None, "‖A‖_F² / ‖A‖_2²")
    # gap: the largest ratio of consecutive singular values, with every value
    # floored at the numpy noise floor so that an exact zero after a cliff
    # gives a finite ratio and noise below the floor cannot make a gap.
    floor, _ = _threshold("numpy", shape, s1, eps_mach, dtype_name)
    threshold = float(_unscaled(float(floor), exponent))
    above = int(np.sum(s > floor))
    if above == 0:
        return Rank(0, measure, threshold, "no σ above the noise floor")
    n_ratios = min(above, len(s) - 1)
    if n_ratios == 0:
        return Rank(above, measure, threshold, "a single singular value")
    k, ratio = _largest_drop(s, n_ratios, floor)
    return Rank(k, measure, threshold,
                f"argmax σk/σk+1 = {ratio:.3g}, σ floored at "
                f"σ1·max(N,M)·ε = {_format_scaled(floor, exponent)}")


def _largest_drop(s, n, floor):
    """``(k, σ_k / σ_{k+1})`` for the largest of the first `n` ratios of
    consecutive singular values (decreasing `s`), each value floored at
    `floor` (so that an exact zero after a cliff gives a finite ratio and
    values below the floor cannot make one). The ``"gap"`` measure, and the
    hidden-size estimate of :mod:`rankbottleneck.spectra._hidden_size` where
    it finds no cliff (Finlayson et al. 2024 [4]_: the hidden size is where
    the spectrum drops)."""
    f = np.maximum(s[: n + 1], floor)
    ratios = f[:-1] / f[1:]
    k = int(np.argmax(ratios)) + 1
    return k, float(ratios[k - 1])


def _check_measure(measure, rtol, atol, eps):
    measure = _resolve_measure(measure, rtol, atol)
    if measure == "effective":
        _check_eps(eps)
    return measure


def _centre_rows(A):
    """``A C`` with ``C = I - 11ᵀ/M``: every row minus its mean, in float64."""
    A = A.astype(np.float64, copy=False)
    return A - A.mean(axis=1, keepdims=True)


def _shift_invariant_from(s_centred, s1, measure, shape, computed_in, rtol=None,
                          atol=None, eps=1e-3, exponent=0):
    """The shift-invariant rank from the centred singular values and the σ_1
    of the uncentred matrix, both in units of ``2^exponent``."""
    scale = s1 if measure in ("numpy", "press", "gap") else None
    r = _rank_of(s_centred, exponent, measure, shape=shape, computed_in=computed_in,
                 rtol=rtol, atol=atol, eps=eps, scale=scale)
    rule = f"rows centred; {r.rule}"
    if scale is not None:
        rule += " (σ1 of the uncentred matrix)"
    return Rank(r.value, r.measure, r.threshold, rule, r.eps)
