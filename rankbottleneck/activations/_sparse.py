"""Sparse activations: exact zeros, ``-inf`` outside the support.

t-softmax and r-softmax (Bałazy et al. 2023 [1]_), sparsemax (Martins &
Astudillo 2016 [2]_) and α-entmax (Peters et al. 2019 [3]_), with their
declarations and, where it is known exactly, which words can ever get
nonzero probability.

References
----------
.. [1] K. Bałazy, Ł. Struski, M. Śmieja, J. Tabor, "r-softmax: generalized
   softmax with controllable sparsity rate", ICCS 2023, arXiv:2304.05243.
.. [2] A. F. T. Martins, R. F. Astudillo, "From softmax to sparsemax: a
   sparse model of attention and multi-label classification", ICML 2016,
   arXiv:1602.02068.
.. [3] B. Peters, V. Niculae, A. F. T. Martins, "Sparse sequence-to-sequence
   models", ACL 2019, arXiv:1905.05702.
"""

from __future__ import annotations

import numpy as np

from .._validation import _as_scalar
from ..feasibility._lp import decide
from ..feasibility._proof import max_row_norm1
from ..feasibility._scale import unit_exponent
from ..feasibility._systems import at, holds, raised_system, set_system
from ._base import _log_normalize, _on_last_axis, logsumexp
from ._registry import REQUIRED, Activation

__all__ = ["log_t_softmax", "log_r_softmax", "log_sparsemax", "log_entmax"]


def _log_t_softmax_shifted(y, t):
    """t-softmax of max-shifted logits `y` (max 0) with per-row ``t > 0``."""
    with np.errstate(divide="ignore"):
        log_w = np.log(np.maximum(y + t, 0))
    return _log_normalize(y + log_w)


def _shift_max(z):
    return z - np.max(z, axis=-1, keepdims=True)


def _t_softmax_kernel(z, t):
    t = _as_scalar(t, "t", low=0, low_open=True)
    return _log_t_softmax_shifted(_shift_max(z), z.dtype.type(t))


def log_t_softmax(z, t, *, axis=-1):
    r"""Log t-softmax (Bałazy et al. 2023, arXiv:2304.05243).

    .. math::
        w_i = \max(z_i - \max_j z_j + t,\ 0), \qquad
        \log p_i = \log w_i + z_i - \operatorname{lse}(z + \log w)

    ``-inf`` exactly where ``w_i = 0``, i.e. for logits more than `t` below the
    row maximum.

    Parameters
    ----------
    z : (..., M) array_like
    t : float
        ``t > 0``.
    axis : int
        The vocabulary axis.

    See Also
    --------
    log_r_softmax, log_sparsemax, log_entmax : the other sparse activations.
    log_softmax : the dense limit.
    rankbottleneck.realizable_support : which supports a layer can produce.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_t_softmax
    >>> z = np.array([-1.0, 0.5, 2.0, 2.2])
    >>> np.exp(log_t_softmax(z, 0.5)).round(4)          # exact zeros: -inf logs
    array([0.    , 0.    , 0.3294, 0.6706])
    """
    return _on_last_axis(_t_softmax_kernel, z, axis, t)


def _lerp_quantile(sorted_y, q):
    """numpy's default ('linear') quantile of each sorted row at its own `q`."""
    n = sorted_y.shape[-1]
    virtual = q * (n - 1)
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    gamma = virtual - lo
    a = np.take_along_axis(sorted_y, lo, axis=-1)
    b = np.take_along_axis(sorted_y, hi, axis=-1)
    diff = b - a
    # numpy interpolates from the nearer end to stay monotone and exact.
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def _r_softmax_kernel(z, r):
    r = _as_scalar(r, "r", low=0, high=1)
    y = _shift_max(z)
    with np.errstate(under="ignore"):
        underflow = np.exp(y) == 0
    zeta = underflow.mean(axis=-1, keepdims=True)
    q = np.clip((r - zeta) / (1 - zeta), 0, 1)
    y64 = y.astype(np.float64)
    y_for_quantile = np.where(underflow, 0.0, y64)
    quantile = _lerp_quantile(np.sort(y_for_quantile, axis=-1), q)
    t_r = -quantile + 1e-8
    return _log_t_softmax_shifted(y64, t_r).astype(z.dtype, copy=False)


def log_r_softmax(z, r, *, axis=-1):
    r"""Log r-softmax: t-softmax with a controlled fraction `r` of zeros.

    The activation of Bałazy et al. 2023 (arXiv:2304.05243).

    The rule of the authors' reference code, per row:

    1. ``ζ`` = fraction of entries whose ``exp(z_i - max z)`` underflows to 0
       in the working dtype;
    2. ``q = clip((r - ζ)/(1 - ζ), 0, 1)``;
    3. ``t_r = -quantile(y, q) + 1e-8`` with ``y = z - max z``, the underflowed
       entries of ``y`` set to 0, and numpy's linear quantile over all M
       entries;
    4. ``r_softmax(z, r) = t_softmax(z, t_r)``.

    Entries strictly below the ``q``-quantile get probability exactly 0 (log
    ``-inf``), entries equal to it a weight of about 1e-8; constant rows give
    the uniform distribution and ``r = 0`` keeps every entry.

    See Also
    --------
    log_t_softmax, log_sparsemax, log_entmax : the other sparse activations.
    log_softmax : the dense baseline.

    Notes
    -----
    Steps 3-4 run in float64 even for float32 input: in float32 the ``1e-8`` of
    step 3 is lost against any quantile larger than about 0.1 in magnitude,
    which would make the support depend on the dtype. ``ζ`` still uses the
    input's dtype, as the rule says.

    Parameters
    ----------
    z : (..., M) array_like
    r : float
        Target sparsity rate in ``[0, 1]``.
    axis : int
        The vocabulary axis.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_r_softmax
    >>> np.exp(log_r_softmax(np.array([-1.0, 0.5, 2.0, 2.2]), 0.5)).round(4)  # half the words
    array([0.    , 0.    , 0.3926, 0.6074])
    """
    return _on_last_axis(_r_softmax_kernel, z, axis, r)


def _log_power_support(x_minus_tau, power):
    """``power · log(x - τ)`` where positive, ``-inf`` elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = power * np.log(np.maximum(x_minus_tau, 0))
    return out


def _sparsemax_kernel(z):
    y = _shift_max(z)
    ys = -np.sort(-y, axis=-1)
    cs = np.cumsum(ys, axis=-1)
    k = np.arange(1, y.shape[-1] + 1, dtype=y.dtype)
    support = 1 + k * ys > cs
    # The support is a prefix of the sorted entries; its length is k*.
    k_star = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, k_star - 1, axis=-1) - 1) / k_star.astype(y.dtype)
    return _log_power_support(y - tau, 1)


def log_sparsemax(z, *, axis=-1):
    r"""Log sparsemax: Euclidean projection onto the simplex.

    The activation of Martins & Astudillo 2016 (arXiv:1602.02068).

    .. math::
        p = \max(z - τ, 0), \quad
        τ = \frac{\sum_{j \le k^*} z_{(j)} - 1}{k^*}, \quad
        k^* = \max\{k : 1 + k z_{(k)} > \textstyle\sum_{j\le k} z_{(j)}\}

    with ``z_{(j)}`` sorted in decreasing order. ``-inf`` outside the support.

    See Also
    --------
    log_entmax : ``alpha = 2`` is sparsemax.
    log_t_softmax, log_r_softmax : other sparse activations.
    log_softmax : the dense baseline.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_sparsemax
    >>> np.exp(log_sparsemax(np.array([-1.0, 0.5, 2.0, 2.2])))
    array([0. , 0. , 0.4, 0.6])
    """
    return _on_last_axis(_sparsemax_kernel, z, axis)


def _entmax15_tau(x):
    """Exact threshold of 1.5-entmax for max-shifted, halved logits `x`.

    Peters et al. 2019 [3]_, Alg. 2: for a support of the top ``k`` entries,
    ``τ_k = mean_k - sqrt((1 - k·var_k)/k)``; the support size is the number
    of ``k`` with ``τ_k ≤ x_(k)``.
    """
    xs = -np.sort(-x, axis=-1)
    k = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    mean = np.cumsum(xs, axis=-1) / k
    mean_sq = np.cumsum(xs * xs, axis=-1) / k
    ss = k * (mean_sq - mean * mean)
    delta = np.maximum((1 - ss) / k, 0)
    tau = mean - np.sqrt(delta)
    k_star = np.sum(tau <= xs, axis=-1, keepdims=True)
    return np.take_along_axis(tau, k_star - 1, axis=-1)


def _entmax_bisect_log(x, alpha):
    """General-α entmax by bisection on τ, for max-shifted ``x = (α-1) z``.

    The threshold lies in ``[-1, -(1/M)^{α-1}]``: at ``τ = -1`` the largest
    entry alone has mass 1, at the upper end every entry has at most ``1/M``.
    The result is renormalised in log space, as bisection leaves ``Σp`` within
    the final bracket of 1.
    """
    M = x.shape[-1]
    power = 1.0 / (alpha - 1.0)
    lo = np.full(x.shape[:-1] + (1,), -1.0, dtype=x.dtype)
    hi = np.full_like(lo, -((1.0 / M) ** (alpha - 1.0)))
    n_iter = np.finfo(x.dtype).nmant + 8
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        mass = np.sum(np.maximum(x - mid, 0) ** power, axis=-1, keepdims=True)
        too_much = mass >= 1
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
    log_p = _log_power_support(x - lo, power)
    return log_p - logsumexp(log_p, axis=-1, keepdims=True)


def _entmax_kernel(z, alpha=1.5):
    alpha = _as_scalar(alpha, "alpha", low=1, low_open=True)
    x = _shift_max(z) * z.dtype.type(alpha - 1)
    if alpha == 1.5:
        return _log_power_support(x - _entmax15_tau(x), 2)
    return _entmax_bisect_log(x, alpha)


def log_entmax(z, alpha=1.5, *, axis=-1):
    r"""Log α-entmax (Peters et al. 2019, arXiv:1905.05702).

    .. math::
        p = \bigl[(α-1) z - τ\bigr]_+^{1/(α-1)}, \qquad \sum_i p_i = 1

    ``α = 1.5`` uses the exact sort-based threshold; other ``α > 1`` bisect on
    ``τ`` to the dtype's precision. ``α = 2`` is sparsemax and ``α → 1``
    approaches softmax. ``-inf`` outside the support.

    Parameters
    ----------
    z : (..., M) array_like
    alpha : float
        ``α > 1``.
    axis : int
        The vocabulary axis.

    See Also
    --------
    log_sparsemax : ``alpha = 2``.
    log_softmax : the limit ``alpha → 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_entmax
    >>> np.exp(log_entmax(np.array([-1.0, 0.5, 2.0, 2.2]), 1.5)).round(4)
    array([0.    , 0.    , 0.4295, 0.5705])
    """
    return _on_last_axis(_entmax_kernel, z, axis, alpha)

# ---------------------------------------------------------------------------
# Which words can get nonzero probability, exactly
# ---------------------------------------------------------------------------


def _t_softmax_support(W, b, t):
    """``p_i > 0`` somewhere iff ``z_i + t > z_j`` for every ``j`` at some
    context: word ``i`` within ``t`` of the top, decided exactly (a proved
    witness or certificate per word). None (no exact rule) if a word is left
    undecided."""
    t = _as_scalar(t, "t", low=0, low_open=True)
    status = _within_of_top(W, b, t)
    if np.any(status < 0):
        return None
    return status == 1, f"each word proved within t = {t} of the top, or never"


def _within_of_top(W, b, t):
    """Per word: 1 if ``z_i + t > z_j`` for all ``j ≠ i`` at some context
    (a proved witness), 0 if never (a proved certificate), -1 undecided.

    The question with the constant `t` is the argmax question of ``b_i``
    raised by `t` when that sum is exact in floating point (then a
    degenerate case can still be settled by the exact simplex); otherwise
    `t` stays an exact constant of the system.
    """
    k = unit_exponent(W, b, np.array([t]))      # t scales with the data
    W, b, t = np.ldexp(W, -k), np.ldexp(b, -k), float(np.ldexp(t, -k))
    M = W.shape[0]
    w1 = max_row_norm1(W)
    status = np.full(M, -1, dtype=np.int8)
    # the search may overflow far from the data's scale; every answer is proved
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(M):
            raised = b[i] + t
            # Knuth's TwoSum: raised + err == b_i + t exactly
            tp = raised - b[i]
            err = (b[i] - (raised - tp)) + (t - tp)
            if err == 0 and np.isfinite(raised):
                bi = b.copy()
                bi[i] = raised
                system = set_system([i])
            else:
                bi, system = b, raised_system(i, t)
            _, margin, tol = at(system, W, bi, W[i], w1)
            if holds(system, W, bi, W[i], margin, tol):
                status[i] = 1
                continue
            got = decide(system, W, bi, W[i], k0=min(M - 1, 64), w1=w1)
            status[i] = {True: 1, False: 0, None: -1}[got.feasible]
    return status


def _sparsemax_support(W, b):
    """Without a bias, ``h → 0`` gives the uniform distribution: every word.
    With one, no exact rule is known here."""
    if np.any(b != 0):
        return None
    return np.ones(W.shape[0], dtype=bool), "h → 0 gives the uniform distribution"


T_SOFTMAX = Activation(
    "t_softmax", _t_softmax_kernel, {"t": REQUIRED}, sparse=True,
    support=_t_softmax_support, top_support=True,
    reference="Bałazy et al. 2023, arXiv:2304.05243")
R_SOFTMAX = Activation(
    "r_softmax", _r_softmax_kernel, {"r": REQUIRED}, sparse=True, top_support=True,
    reference="Bałazy et al. 2023, arXiv:2304.05243")
SPARSEMAX = Activation(
    "sparsemax", _sparsemax_kernel, {}, sparse=True, support=_sparsemax_support,
    top_support=True,
    reference="Martins & Astudillo 2016, arXiv:1602.02068")
ENTMAX = Activation(
    "entmax", _entmax_kernel, {"alpha": 1.5}, sparse=True, top_support=True,
    reference="Peters et al. 2019, arXiv:1905.05702")
