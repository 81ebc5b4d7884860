"""Numerical rank and singular spectra, every measure with its tolerance named.

A bare "rank" of a floating-point matrix means nothing without the threshold
that produced it: a rank-10 matrix plus noise at 1e-24 reads as rank 10 or
rank 1,159 depending on the measure, and a float32 log-softmax matrix looks
full rank under a float64 tolerance. Every function here therefore returns a
:class:`Rank` that carries its measure, its threshold and the machine epsilon
it used, and :func:`rank_report` puts all the measures side by side.

Measures (``shared/reference/rank-and-theory.md``), with singular values
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
.. [2] A. Parthiban et al., "Understanding the softmax bottleneck", 2021.
.. [3] O. Roy, M. Vetterli, "The effective rank: a measure of effective
   dimensionality", EUSIPCO 2007.
.. [4] M. Finlayson, X. Ren, S. Swayamdipta, "Logits of API-protected LLMs
   leak proprietary information", 2024.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from ._validation import (
    _as_float_array,
    _as_scalar,
    _check_finite,
    _check_fits_in_memory,
)

__all__ = [
    "MEASURES",
    "Rank",
    "RankReport",
    "SparseSummary",
    "RankComparison",
    "singular_values",
    "numerical_rank",
    "rank_from_singular_values",
    "shift_invariant_rank",
    "rank_report",
    "compare_ranks",
]

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


def _is_layer(A):
    from .layers import _Layer

    return isinstance(A, _Layer)


def _fast_spectrum(A, contexts, method, computed_in, centre_rows=False):
    """:func:`rankbottleneck.spectrum.spectrum`, or None for the dense SVD path.

    Layers always go through it (structural or streamed); a matrix only when
    `method` asks for it or ``"auto"`` finds it large.
    """
    from .spectrum import METHODS, spectrum

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not _is_layer(A):
        if contexts is not None:
            raise TypeError("contexts are only for a layer; A is a matrix")
        if method == "svd" or (method == "auto" and A.size <= 4_000_000):
            return None
    return spectrum(A, contexts, method=method, computed_in=computed_in,
                    centre_rows=centre_rows)


# ---------------------------------------------------------------------------
# Singular values
# ---------------------------------------------------------------------------


def singular_values(A, top=None, dtype=np.float64):
    """Singular values of `A`, in decreasing order.

    Parameters
    ----------
    A : (N, M) array_like
        Finite matrix (``-inf`` is refused: see :func:`rank_report`).
    top : int, optional
        Only the leading `top` values (ARPACK, ``scipy.sparse.linalg.svds``,
        when `top` is small beside ``min(N, M)``; otherwise the full SVD,
        truncated).
    dtype : dtype or None
        Precision of the computation: float64 by default, so float32 input is
        accumulated in float64; ``None`` keeps the input's dtype.

    Returns
    -------
    (min(N, M),) or (top,) ndarray

    Notes
    -----
    The full spectrum comes from LAPACK's divide-and-conquer SVD
    (``scipy.linalg.svdvals``), whose singular values carry an absolute error
    of about ``ε σ_1``: that is why every threshold below scales with σ_1.
    """
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
    if top is not None:
        if (not isinstance(top, (int, np.integer)) or isinstance(top, bool)
                or not 1 <= top <= n):
            raise ValueError(f"top must be an integer in [1, {n}]; got {top!r}")
        top = int(top)
        if top < n // 4:
            # A fixed start vector keeps ARPACK deterministic.
            v0 = np.random.default_rng(0).standard_normal(n).astype(work.dtype)
            s = scipy.sparse.linalg.svds(work, k=top, v0=v0,
                                         return_singular_vectors=False)
            return np.sort(s)[::-1]
        return scipy.linalg.svdvals(work, check_finite=False)[:top]
    return scipy.linalg.svdvals(work, check_finite=False)


# ---------------------------------------------------------------------------
# One measure
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rank:
    """A rank together with the measure and threshold that produced it.

    ``int(r)`` and ``float(r)`` give the value; ``repr`` says how it was made.

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
    """

    value: int | float
    measure: str
    threshold: float | None = None
    rule: str = ""
    eps: float | None = None

    def __int__(self):
        return int(self.value)

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


def _threshold(measure, shape, s1, eps_mach, dtype_name, rtol=None, atol=None):
    """Absolute singular-value threshold of a threshold measure, and its rule."""
    N, M = shape
    tail = f"σ1 = {s1:.3g}, ε = {eps_mach:.3g} ({dtype_name})"
    if measure == "numpy":
        return s1 * max(N, M) * eps_mach, f"σ > σ1·max(N,M)·ε; {tail}"
    if measure == "press":
        return (0.5 * math.sqrt(N + M + 1) * s1 * eps_mach,
                f"σ > 0.5·√(N+M+1)·σ1·ε; {tail}")
    if measure == "rtol":
        return rtol * s1, f"σ > rtol·σ1, rtol = {rtol:.3g}; σ1 = {s1:.3g}"
    return atol, f"σ > atol = {atol:.3g}"


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
    """
    measure = _resolve_measure(measure, rtol, atol)
    if rtol is not None:
        rtol = _check_tol(rtol, "rtol")
    if atol is not None:
        atol = _check_tol(atol, "atol")
    s = np.sort(np.asarray(s, dtype=np.float64))[::-1]
    eps_mach, dtype_name = _machine_eps(computed_in)
    s1 = float(s[0]) if scale is None else float(scale)
    if measure in THRESHOLD_MEASURES:
        tol, rule = _threshold(measure, shape, s1, eps_mach, dtype_name, rtol, atol)
        return Rank(int(np.sum(s > tol)), measure, float(tol), rule)
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
        value = float(np.sum(s * s) / s1**2) if s1 > 0 else 0.0
        return Rank(value, measure, None, "‖A‖_F² / ‖A‖_2²")
    # gap: the largest ratio of consecutive singular values, with every value
    # floored at the numpy noise floor so that an exact zero after a cliff
    # gives a finite ratio and noise below the floor cannot make a gap.
    floor, _ = _threshold("numpy", shape, s1, eps_mach, dtype_name)
    above = int(np.sum(s > floor))
    if above == 0:
        return Rank(0, measure, float(floor), "no σ above the noise floor")
    n_ratios = min(above, len(s) - 1)
    if n_ratios == 0:
        return Rank(above, measure, float(floor), "a single singular value")
    f = np.maximum(s[: n_ratios + 1], floor)
    ratios = f[:-1] / f[1:]
    k = int(np.argmax(ratios)) + 1
    return Rank(k, measure, float(floor),
                f"argmax σk/σk+1 = {ratios[k - 1]:.3g}, σ floored at "
                f"σ1·max(N,M)·ε = {floor:.3g}")


def _check_measure(measure, rtol, atol, eps):
    measure = _resolve_measure(measure, rtol, atol)
    if measure == "effective":
        _check_eps(eps)
    return measure


def _rank_arguments(A, measure, rtol, atol, eps, computed_in):
    """Check the arguments shared by the one-measure rank functions."""
    A = _as_matrix(A)
    _reject_neginf(A)
    measure = _check_measure(measure, rtol, atol, eps)
    return A, measure, _computed_in(computed_in, A)


def numerical_rank(A, measure=None, *, rtol=None, atol=None, eps=1e-3,
                   computed_in=None, contexts=None, method="auto"):
    """The numerical rank of `A` under one measure, with its tolerance.

    Parameters
    ----------
    A : (N, M) array_like
        Finite matrix.
    measure : {"numpy", "press", "rtol", "atol", "effective", "entropy", \
"stable", "gap"}, optional
        Default ``"numpy"`` (``numpy.linalg.matrix_rank``'s threshold), or
        ``"rtol"``/``"atol"`` when that tolerance is given.
    rtol, atol : float, optional
        Relative (to σ_1) or absolute threshold; not both.
    eps : float
        Energy fraction of the ε-effective rank, in (0, 1).
    computed_in : dtype, optional
        The dtype `A` was computed in; its machine epsilon sets the numpy,
        Press and gap thresholds. Defaults to ``A.dtype``: a float32 matrix
        keeps float32's ε although its SVD runs in float64. Pass
        ``computed_in=np.float32`` for a float32 result already upcast.
    contexts : (N, d) array_like, optional
        When `A` is a layer (:class:`~rankbottleneck.PointwiseLayer`,
        :class:`~rankbottleneck.MixtureLayer`): its contexts. The matrix is
        then never stored: a softmax or MoC layer uses its exact factored
        form, any other is streamed (see :func:`rankbottleneck.spectrum`).
    method : {"auto", "svd", "gram", "structural"}
        How the spectrum is computed; ``"auto"`` takes the dense SVD for
        matrices up to 4·10⁶ entries and the refined Gram path beyond.

    Returns
    -------
    Rank

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck import numerical_rank
    >>> A = np.outer([1.0, 2.0, 3.0], [1.0, 1.0]) + np.diag([0.0, 1e-9, 0.0])[:, :2]
    >>> int(numerical_rank(A)), int(numerical_rank(A, rtol=1e-6))
    (2, 1)
    """
    if _is_layer(A):
        measure = _check_measure(measure, rtol, atol, eps)
        spec = _fast_spectrum(A, contexts, method, computed_in)
        return spec.rank(measure, rtol=rtol, atol=atol, eps=eps)
    A, measure, computed_in = _rank_arguments(A, measure, rtol, atol, eps,
                                              computed_in)
    spec = _fast_spectrum(A, contexts, method, computed_in)
    if spec is not None:
        return spec.rank(measure, rtol=rtol, atol=atol, eps=eps)
    s = singular_values(A)
    return rank_from_singular_values(
        s, measure, shape=A.shape, computed_in=computed_in,
        rtol=rtol, atol=atol, eps=eps)


def _centre_rows(A):
    """``A C`` with ``C = I - 11ᵀ/M``: every row minus its mean, in float64."""
    A = A.astype(np.float64, copy=False)
    return A - A.mean(axis=1, keepdims=True)


def shift_invariant_rank(A, measure=None, *, rtol=None, atol=None, eps=1e-3,
                         computed_in=None, contexts=None, method="auto"):
    r"""Rank of `A` with every row centred: the smallest rank over row shifts.

    ``rank(A C)`` with ``C = I - 11ᵀ/M`` equals ``min_Λ rank(A + Λ1ᵀ)`` over
    diagonal ``Λ``. It removes the normalisation term of log-probabilities:
    softmax gives ``≤ d`` (``≤ d + 1`` with an output bias).

    The numpy and Press thresholds scale with σ_1 of the *uncentred* `A`:
    its rounding errors were made at that scale, and centring can shrink σ_1
    by orders of magnitude (log-probabilities are dominated by ``-log M``).
    The other measures use the centred spectrum alone. Arguments as in
    :func:`numerical_rank` (a layer with its `contexts` is accepted).

    Returns
    -------
    Rank
        Its measure is prefixed ``"shift-invariant "`` in the rule.
    """
    if _is_layer(A):
        measure = _check_measure(measure, rtol, atol, eps)
        spec = _fast_spectrum(A, contexts, method, computed_in)
        centred = _fast_spectrum(A, contexts, method, computed_in, centre_rows=True)
        return _shift_invariant_from(centred.values, float(spec.values[0]), measure,
                                     spec.shape, spec.computed_in, rtol, atol, eps)
    A, measure, computed_in = _rank_arguments(A, measure, rtol, atol, eps,
                                              computed_in)
    spec = _fast_spectrum(A, contexts, method, computed_in, centre_rows=True)
    s1 = float(singular_values(A, top=1)[0])
    s = singular_values(_centre_rows(A)) if spec is None else spec.values
    return _shift_invariant_from(s, s1, measure, A.shape, computed_in, rtol, atol,
                                 eps)


def _shift_invariant_from(s_centred, s1, measure, shape, computed_in, rtol=None,
                          atol=None, eps=1e-3):
    scale = s1 if measure in ("numpy", "press", "gap") else None
    r = rank_from_singular_values(s_centred, measure, shape=shape,
                                  computed_in=computed_in, rtol=rtol, atol=atol,
                                  eps=eps, scale=scale)
    rule = f"rows centred; {r.rule}"
    if scale is not None:
        rule += " (σ1 of the uncentred matrix)"
    return Rank(r.value, r.measure, r.threshold, rule, r.eps)


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SparseSummary:
    """What a matrix with ``-inf`` entries looks like before any clipping.

    Attributes
    ----------
    support_density : float
        Fraction of finite entries.
    empty_rows : int
        Rows that are ``-inf`` everywhere (not a distribution; reported).
    n_support_patterns : int
        Distinct rows of the support mask ``isfinite(A)``.
    n_finite_columns : int
        Columns finite in every row.
    finite_column_ranks : tuple of Rank
        numpy, Press and ε-effective ranks of ``A`` restricted to those
        columns (empty when there are none).
    log_floor : float
        The floor at which ``A`` was clipped for the main report.
    n_clipped_finite : int
        Finite entries below `log_floor`, which clipping changed too.
    """

    support_density: float
    empty_rows: int
    n_support_patterns: int
    n_finite_columns: int
    finite_column_ranks: tuple
    log_floor: float
    n_clipped_finite: int

    def __repr__(self):
        ranks = ", ".join(f"{r.label}={r.value}" for r in self.finite_column_ranks)
        return (
            f"SparseSummary(density={self.support_density:.4g}, "
            f"empty_rows={self.empty_rows}, "
            f"support_patterns={self.n_support_patterns}, "
            f"finite_columns={self.n_finite_columns} [{ranks or 'no rank'}], "
            f"log_floor={self.log_floor:.4g}, "
            f"finite_entries_clipped={self.n_clipped_finite})"
        )


@dataclass(frozen=True, eq=False)
class RankReport:
    """Every rank measure of one matrix, side by side.

    Build with :func:`rank_report`. ``repr`` is a short table; :meth:`plot`
    draws the normalised spectrum with the tolerance lines.

    Attributes
    ----------
    shape, dtype : tuple, str
        Of the input matrix.
    computed_in : str
        Dtype whose ε the thresholds use.
    singular_values : ndarray
        Of the analysed matrix (the clipped one when the input had ``-inf``).
    ranks : tuple of Rank
        Every measure.
    shift_invariant : tuple of Rank
        numpy and Press ranks with every row centred.
    d : int or None
        Context dimension the caller stated.
    bias : bool or None
        Whether the caller's layer has an output bias.
    sparse : SparseSummary or None
        Present when the input had ``-inf`` entries.
    method : str
        How the spectrum was computed (see :func:`rankbottleneck.spectrum`):
        ``"svd"``, ``"gram"`` (+ refinement passes) or ``"structural"``.
    """

    shape: tuple
    dtype: str
    computed_in: str
    singular_values: np.ndarray = field(repr=False)
    ranks: tuple
    shift_invariant: tuple
    d: int | None = None
    bias: bool | None = None
    sparse: SparseSummary | None = None
    method: str = "svd"

    @property
    def bound(self):
        """Softmax bound ``d + 1`` (``d + 2`` with bias), if `d` was given."""
        if self.d is None:
            return None
        return self.d + 1 + bool(self.bias)

    @property
    def shift_invariant_bound(self):
        """Softmax bound after centring: ``d`` (``d + 1`` with bias)."""
        if self.d is None:
            return None
        return self.d + bool(self.bias)

    def __getitem__(self, label):
        """The :class:`Rank` with this label: ``report["press"]``,
        ``report["effective(1e-04)"]``, ``report["effective"]`` (first eps)."""
        for r in self.ranks:
            if label in (r.label, r.measure):
                return r
        raise KeyError(f"no measure {label!r}; have {[r.label for r in self.ranks]}")

    def as_dict(self):
        """Flat ``{label: value}`` (with ``shift_invariant_*`` entries)."""
        out = {r.label: r.value for r in self.ranks}
        out.update({f"shift_invariant_{r.label}": r.value
                    for r in self.shift_invariant})
        if self.bound is not None:
            out["bound"] = self.bound
        return out

    def __repr__(self):
        lines = [
            f"RankReport: {self.shape[0]}×{self.shape[1]} {self.dtype}, "
            f"thresholds use ε of {self.computed_in}"
            + (f", d = {self.d}{' + bias' if self.bias else ''}" if self.d else "")
            + f"; spectrum by {self.method}"
        ]
        if self.sparse is not None:
            lines.append(f"  {self.sparse!r}")
            lines.append(f"  (ranks below: -inf clipped at {self.sparse.log_floor:.4g})")
        width = max(len(r.label) for r in self.ranks + self.shift_invariant) + 17
        for r in self.ranks:
            value = r.value if isinstance(r.value, int) else f"{r.value:.2f}"
            lines.append(f"  {r.label:<{width - 17}} {value!s:>8}   {r.rule}")
        for r in self.shift_invariant:
            value = r.value
            lines.append(f"  {'shift-inv. ' + r.label:<{width - 17}} {value!s:>8}")
        if self.bound is not None:
            lines.append(f"  {'softmax bound':<{width - 17}} {self.bound:>8}   "
                         f"d+1{' +1 (bias)' if self.bias else ''}; shift-invariant "
                         f"{self.shift_invariant_bound}")
        return "\n".join(lines)

    def plot(self, ax=None, label=None, **kwargs):
        """Normalised spectrum ``σ_i/σ_1`` (log scale) with the tolerances.

        Draws the numpy and Press thresholds as horizontal lines and the
        softmax bound ``d + 1`` (or ``d + 2``) as a vertical line when `d` was
        given. Returns the axis.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        s = self.singular_values
        s1 = s[0] if s[0] > 0 else 1.0
        k = np.arange(1, len(s) + 1)
        line, = ax.semilogy(k, np.maximum(s / s1, np.finfo(float).tiny),
                            label=label, **kwargs)
        for name, style in (("numpy", ":"), ("press", "--")):
            r = self[name]
            ax.axhline(r.threshold / s1, color=line.get_color(), ls=style, lw=0.8,
                       alpha=0.7)
            ax.annotate(f"{name} = {r.value}", (len(s), r.threshold / s1),
                        ha="right", va="bottom", fontsize=7, color=line.get_color())
        if self.bound is not None:
            ax.axvline(self.bound, color="0.4", lw=0.8, ls="-.")
            ax.annotate(f"d+{1 + bool(self.bias)} = {self.bound}",
                        (self.bound, ax.get_ylim()[0]), rotation=90, fontsize=7,
                        va="bottom", ha="right", color="0.3")
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        return ax


def _support_summary(A, log_floor, computed_in, eps_values):
    finite = np.isfinite(A)
    N, M = A.shape
    empty_rows = int(np.sum(~finite.any(axis=1)))
    patterns = np.unique(np.packbits(finite, axis=1), axis=0).shape[0]
    columns = np.flatnonzero(finite.all(axis=0))
    ranks = ()
    if columns.size:
        sub = A[:, columns]
        s = singular_values(sub)
        ranks = tuple(
            rank_from_singular_values(s, m, shape=sub.shape, computed_in=computed_in,
                                      eps=e)
            for m, e in [("numpy", 1e-3), ("press", 1e-3)]
            + [("effective", e) for e in eps_values])
    n_clipped = int(np.sum(finite & (A < log_floor)))
    return SparseSummary(float(finite.mean()), empty_rows, int(patterns),
                         int(columns.size), ranks, float(log_floor), n_clipped)


def rank_report(A, d=None, bias=None, *, contexts=None, method="auto",
                eps_values=DEFAULT_EFFECTIVE_EPS, rtol=None, atol=None,
                log_floor=DEFAULT_LOG_FLOOR, computed_in=None):
    r"""Every rank measure of `A`, its spectrum, and the softmax bound.

    Parameters
    ----------
    A : (N, M) array_like or layer
        Typically a log-probability matrix. ``-inf`` entries (zeros of a
        sparse activation) are allowed and never silently turned into
        numbers: the report states the support density, the distinct support
        patterns, the ranks of the columns finite in every row, and then
        measures the matrix clipped at `log_floor`, saying so. A layer with
        its `contexts` is analysed without storing its matrix (structural
        path for softmax and MoC, streamed Gram path otherwise; sparse
        activations are built and reported as a matrix).
    d : int, optional
        Context dimension of the layer that produced `A`: the report then
        states the softmax bound ``d + 1`` (``d + 2`` with `bias`) and the
        shift-invariant bound ``d`` (``d + 1``). Taken from a layer.
    bias : bool, optional
        Whether that layer has an output bias. Taken from a layer.
    contexts : (N, d) array_like, optional
        The contexts, when `A` is a layer.
    method : {"auto", "svd", "gram", "structural"}
        How the spectra are computed (:func:`rankbottleneck.spectrum`); the
        report's ``method`` says which was used.
    eps_values : sequence of float
        Energy fractions of the ε-effective ranks (Parthiban et al. report
        1e-3, 1e-4, 1e-5).
    rtol, atol : float, optional
        Also report the ``"rtol"`` / ``"atol"`` rank.
    log_floor : float
        Value that replaces ``-inf`` (and clips finite entries below it) for
        the main measures. The default ``log(1e-30) ≈ -69.1`` is below the
        log-probability of any word a model could sample in practice, yet
        within a factor of ten of typical entries (``-log M`` is -7 to -10 for
        ``M`` from 10³ to 3·10⁴), so the floor does not dominate σ_1. Finite
        entries below the floor are counted in the report.
    computed_in : dtype, optional
        Dtype whose ε the thresholds use; default ``A.dtype``.

    Returns
    -------
    RankReport
    """
    layer = A if _is_layer(A) else None
    if layer is not None:
        d = layer.d if d is None else d
        bias = (layer.bias is not None) if bias is None else bias
    eps_values = tuple(_check_eps(e) for e in np.atleast_1d(eps_values))
    if not eps_values:
        raise ValueError("eps_values must hold at least one value; got none")
    if rtol is not None and atol is not None:
        raise ValueError(f"rtol and atol can't both be set; got rtol={rtol}, atol={atol}")
    log_floor = _as_scalar(log_floor, "log_floor")
    if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
        raise ValueError(f"d must be a non-negative integer; got {d!r}")
    if layer is not None:
        from . import activations as _act

        if _act.get(getattr(layer, "base", None) or layer.activation).sparse:
            # its zeros need the support analysis of the whole matrix
            A, layer, contexts = layer.log_prob_matrix(contexts), None, None
    if layer is None:
        A = _as_matrix(A)
    sparse = None
    if layer is not None:
        spec = _fast_spectrum(layer, contexts, method, computed_in)
        computed_in, shape, dtype = spec.computed_in, spec.shape, spec.computed_in
    else:
        computed_in = _computed_in(computed_in, A)
        if np.isneginf(A).any():
            sparse = _support_summary(A, log_floor, computed_in, eps_values)
            A = np.maximum(A, log_floor)
        _check_finite(A, "A")
        spec = _fast_spectrum(A, None, method, computed_in)
        shape, dtype = A.shape, np.dtype(A.dtype).name
    s = singular_values(A) if spec is None else spec.values
    ranks = [rank_from_singular_values(s, m, shape=shape, computed_in=computed_in)
             for m in ("numpy", "press")]
    if rtol is not None:
        ranks.append(rank_from_singular_values(s, "rtol", shape=shape, rtol=rtol,
                                               computed_in=computed_in))
    if atol is not None:
        ranks.append(rank_from_singular_values(s, "atol", shape=shape, atol=atol,
                                               computed_in=computed_in))
    ranks += [rank_from_singular_values(s, "effective", shape=shape, eps=e,
                                        computed_in=computed_in) for e in eps_values]
    ranks += [rank_from_singular_values(s, m, shape=shape, computed_in=computed_in)
              for m in ("entropy", "stable", "gap")]
    if spec is None:
        s_centred = singular_values(_centre_rows(A))
    else:
        s_centred = _fast_spectrum(A if layer is None else layer, contexts,
                                   method, computed_in, centre_rows=True).values
    shift = tuple(_shift_invariant_from(s_centred, float(s[0]), m, shape, computed_in)
                  for m in ("numpy", "press"))
    return RankReport(shape, dtype, computed_in, s, tuple(ranks),
                      shift, None if d is None else int(d),
                      None if bias is None else bool(bias), sparse,
                      "svd" if spec is None else spec.method)


# ---------------------------------------------------------------------------
# Several matrices
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RankComparison:
    """Rank reports of several matrices, as a table and a figure.

    ``reports`` maps each name to its :class:`RankReport`; ``repr`` prints
    one row per matrix and one column per measure.
    """

    reports: dict

    @property
    def columns(self):
        cols = []
        for rep in self.reports.values():
            for key in rep.as_dict():
                if key not in cols:
                    cols.append(key)
        return cols

    def rows(self):
        """``[{"name": ..., measure: value, ...}, ...]``, ready for CSV."""
        return [{"name": name, **rep.as_dict()} for name, rep in self.reports.items()]

    def __repr__(self):
        cols = self.columns
        names = list(self.reports)
        w0 = max(4, *(len(n) for n in names))
        widths = [max(len(c), 7) for c in cols]
        head = "name".ljust(w0) + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths))
        lines = [head]
        for name, rep in self.reports.items():
            values = rep.as_dict()
            cells = []
            for c, w in zip(cols, widths):
                v = values.get(c, "")
                cells.append((f"{v:.2f}" if isinstance(v, float) else str(v)).rjust(w))
            lines.append(name.ljust(w0) + "  " + "  ".join(cells))
        return "\n".join(lines)

    def plot(self, ax=None):
        """Overlay the normalised spectra, Press rank marked on each."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        n = len(self.reports)
        # beyond ten series, tab10 repeats: use tab20 and vary the dashes
        colors = plt.get_cmap("tab10" if n <= 10 else "tab20")(np.arange(n) % 20)
        dashes = ["-", "--", "-.", ":"]
        for k, (name, rep) in enumerate(self.reports.items()):
            s = rep.singular_values
            s1 = s[0] if s[0] > 0 else 1.0
            line, = ax.semilogy(np.arange(1, len(s) + 1),
                                np.maximum(s / s1, np.finfo(float).tiny),
                                color=colors[k], ls=dashes[(k // 5) % 4] if n > 10 else "-",
                                label=f"{name} (Press {rep['press'].value})")
            press = rep["press"].value
            if 0 < press <= len(s):
                ax.plot(press, max(s[press - 1] / s1, np.finfo(float).tiny), "o",
                        color=line.get_color(), ms=4)
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        ax.legend(fontsize=7)
        return ax

    def plot_measures(self, ax=None, measures=None):
        """Grouped bars: one group per measure, one bar per matrix (log scale)."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        measures = measures or [c for c in self.columns if c != "bound"]
        n = len(self.reports)
        width = 0.8 / max(n, 1)
        x = np.arange(len(measures))
        for i, (name, rep) in enumerate(self.reports.items()):
            values = rep.as_dict()
            ax.bar(x + i * width, [max(values.get(m, 0), 0.5) for m in measures],
                   width, label=name)
        ax.set_xticks(x + 0.4 - width / 2, measures, rotation=45, ha="right",
                      fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("rank")
        ax.legend(fontsize=7)
        return ax


def compare_ranks(matrices, d=None, bias=None, **kwargs):
    """Rank reports of several matrices side by side.

    Parameters
    ----------
    matrices : dict
        ``{name: A}``; each `A` as for :func:`rank_report`.
    d, bias, **kwargs
        Passed to :func:`rank_report` for every matrix.

    Returns
    -------
    RankComparison
    """
    if not isinstance(matrices, dict) or not matrices:
        raise ValueError(
            "matrices must be a non-empty dict {name: matrix}; got "
            f"{type(matrices).__name__} of length {len(matrices) if hasattr(matrices, '__len__') else '?'}"
        )
    return RankComparison({str(name): rank_report(A, d, bias, **kwargs)
                           for name, A in matrices.items()})
