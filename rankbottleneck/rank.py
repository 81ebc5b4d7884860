"""Numerical rank of a matrix or of a layer's log-probability matrix.

:func:`singular_values`, :func:`numerical_rank` (one measure, with its
tolerance) and :func:`shift_invariant_rank` (the smallest rank over row
shifts). The measures themselves are defined in
:mod:`rankbottleneck._measures` (re-exported here as :class:`Rank`,
:data:`MEASURES` and :func:`rank_from_singular_values`); several measures side
by side are :func:`rankbottleneck.reports.rank_report`. A layer passed with
its contexts is analysed through :func:`rankbottleneck.spectra.spectrum`,
never by storing its matrix.
"""

from __future__ import annotations

import numpy as np

from ._lapack import _exponent, _peak, _scaled, _unscaled
from ._measures import (
    MEASURES,
    Rank,
    _as_matrix,
    _centre_rows,
    _check_measure,
    _computed_in,
    _rank_of,
    _reject_neginf,
    _shift_invariant_from,
    rank_from_singular_values,
)
from .spectra._sources import _is_layer
from .spectra._spectrum import _singular_values, _spectrum_unless_dense

__all__ = [
    "MEASURES",
    "Rank",
    "singular_values",
    "numerical_rank",
    "rank_from_singular_values",
    "shift_invariant_rank",
]


# ---------------------------------------------------------------------------
# Singular values
# ---------------------------------------------------------------------------


def singular_values(A, *, top=None, dtype=np.float64):
    """Singular values of `A`, in decreasing order.

    Parameters
    ----------
    A : (N, M) array_like
        Finite matrix (``-inf`` is refused: see :func:`rank_report`).
    top : int, optional
        Only the leading `top` values (ARPACK, ``scipy.sparse.linalg.svds``,
        when `top` is small beside ``min(N, M)``; otherwise the full SVD,
        truncated).
    dtype : {float64, float32} or None
        Precision of the computation: float64 by default, so float32 input is
        accumulated in float64; ``None`` keeps the input's dtype. Any other
        dtype (an integer one would truncate the matrix) raises ``TypeError``.

    Returns
    -------
    (min(N, M),) or (top,) ndarray

    See Also
    --------
    numerical_rank : a rank from these values.
    rankbottleneck.spectrum : the same from a layer and contexts, streamed.

    Notes
    -----
    The full spectrum comes from LAPACK's divide-and-conquer SVD
    (``scipy.linalg.svdvals``), whose singular values carry an absolute error
    of about ``ε σ_1``: that is why every threshold below scales with σ_1.
    A matrix whose entries are far from 1 (beyond ``2^±204`` in float64) is
    first scaled by a power of two, exactly, so that ``singular_values(c·A)``
    is ``c·singular_values(A)`` wherever those values are representable
    (values that are not come out as ``inf``).

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck import singular_values
    >>> singular_values(np.diag([3.0, 1.0, 1e-20]))
    array([3.e+00, 1.e+00, 1.e-20])
    """
    if dtype is not None:
        try:
            kind = np.dtype(dtype)
        except TypeError:
            kind = None
        if kind not in (np.float32, np.float64):
            # an integer dtype would truncate the matrix; float16 and longdouble
            # have no LAPACK SVD
            raise TypeError(f"dtype must be a floating dtype, float32 or float64 (or "
                            f"None to keep the input's); got {dtype!r}")
    s, e = _singular_values(A, top=top, dtype=dtype)
    return _unscaled(s, e)


# ---------------------------------------------------------------------------
# One measure
# ---------------------------------------------------------------------------


def _rank_arguments(A, measure, rtol, atol, eps, computed_in):
    """Check the arguments shared by the one-measure rank functions."""
    A = _as_matrix(A)
    _reject_neginf(A)
    measure = _check_measure(measure, rtol, atol, eps)
    return A, measure, _computed_in(computed_in, A)


def numerical_rank(A, measure=None, *, rtol=None, atol=None, eps=1e-3,
                   computed_in=None, contexts=None, method="auto", progress=None,
                   client=None):
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
        How the spectrum is computed; ``"auto"`` as in
        :func:`rankbottleneck.spectrum` (the dense SVD for matrices up to
        4·10⁶ entries, the Gram path beyond, deflated or dense where its
        first pass finds a noise-dominated spectrum).
    progress : bool, optional
        Progress bars of the Gram path on stderr (default: when stderr is a
        terminal).
    client : distributed.Client, optional
        For a layer: run the Gram passes on a Dask cluster
        (:mod:`rankbottleneck.cluster`).

    Returns
    -------
    Rank

    See Also
    --------
    rank_report : every measure at once, beside the ``d + 1`` bound.
    shift_invariant_rank : the rank up to one shift per row.
    singular_values, rankbottleneck.spectrum : the values it reads.
    rankbottleneck.Spectrum.rank : the same measures from a computed spectrum.
    estimate_hidden_size : the gap rank of softmax outputs, read as ``d``.

    Notes
    -----
    Every measure but ``"atol"`` gives the same rank for ``c·A`` as for
    ``A`` (and ``"atol"`` with ``c·atol``) for any ``c`` that leaves the
    singular values representable, even when σ_1 itself overflows: a
    matrix far from 1 is scaled by a power of two first (see
    :func:`singular_values`).

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
        spec = _spectrum_unless_dense(A, contexts, method, computed_in, progress=progress,
                              client=client)
        return spec.rank(measure, rtol=rtol, atol=atol, eps=eps)
    A, measure, computed_in = _rank_arguments(A, measure, rtol, atol, eps,
                                              computed_in)
    spec = _spectrum_unless_dense(A, contexts, method, computed_in, progress=progress,
                          client=client)
    if spec is not None:
        return spec.rank(measure, rtol=rtol, atol=atol, eps=eps)
    s, e = _singular_values(A)
    return _rank_of(s, e, measure, shape=A.shape, computed_in=computed_in,
                    rtol=rtol, atol=atol, eps=eps)


def shift_invariant_rank(A, measure=None, *, rtol=None, atol=None, eps=1e-3,
                         computed_in=None, contexts=None, method="auto",
                         progress=None, client=None):
    r"""Rank of `A` with every row centred: the smallest rank over row shifts.

    ``rank(A C)`` with ``C = I - 11ᵀ/M`` equals ``min_Λ rank(A + Λ1ᵀ)`` over
    diagonal ``Λ``. It removes the normalisation term of log-probabilities:
    softmax gives ``≤ d`` (``≤ d + 1`` with an output bias).

    The numpy and Press thresholds scale with σ_1 of the *uncentred* `A`:
    its rounding errors were made at that scale, and centring can shrink σ_1
    by orders of magnitude (log-probabilities are dominated by ``-log M``).
    The other measures use the centred spectrum alone. Arguments as in
    :func:`numerical_rank` (a layer with its `contexts` is accepted; so are
    `progress` and `client`).

    Returns
    -------
    Rank
        Its measure is prefixed ``"shift-invariant "`` in the rule.

    See Also
    --------
    numerical_rank : the rank itself.
    rank_report : both, for every measure.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(40, 30, 3, seed=0)
    >>> A = rb.log_prob_matrix(H, W)
    >>> rb.numerical_rank(A, "press").value, rb.shift_invariant_rank(A, "press").value
    (4, 3)
    """
    if _is_layer(A):
        measure = _check_measure(measure, rtol, atol, eps)
        spec = _spectrum_unless_dense(A, contexts, method, computed_in, progress=progress,
                              client=client)
        centred = _spectrum_unless_dense(A, contexts, method, computed_in, centre_rows=True,
                                 progress=progress, client=client)
        s, e = centred._scaled()
        return _shift_invariant_from(s, _sigma1_in(spec, e), measure, spec.shape,
                                     spec.computed_in, rtol, atol, eps, e)
    A, measure, computed_in = _rank_arguments(A, measure, rtol, atol, eps,
                                              computed_in)
    # entries far from 1: scale first (exactly), so that neither the row
    # means nor σ_1 overflow; every value below is in units of 2^e
    e = _exponent(_peak(A))
    A = _scaled(A, e)
    spec = _spectrum_unless_dense(A, contexts, method, computed_in, centre_rows=True,
                          progress=progress, client=client)
    s1, e1 = _singular_values(A, top=1)
    s, e2 = _singular_values(_centre_rows(A)) if spec is None else spec._scaled()
    return _shift_invariant_from(s, _unscaled(float(s1[0]), e1 - e2), measure,
                                 A.shape, computed_in, rtol, atol, eps, e + e2)


def _sigma1_in(spec, e):
    """σ_1 of the Spectrum `spec` in units of ``2^e``."""
    s, e_spec = spec._scaled()
    return _unscaled(float(s[0]), e_spec - e)
