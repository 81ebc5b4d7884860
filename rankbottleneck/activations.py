"""Output activations, computed in log space.

Every function here maps logits ``z`` (any leading shape, vocabulary along
`axis`) to log-probabilities, and has a probability form of the same name
without the ``log_`` prefix. Definitions follow
``shared/reference/activations.md``; each docstring names its paper.

Dense activations never return ``-inf``; the sparse ones (ReLU-normalised,
t-softmax, r-softmax, sparsemax, entmax) return exactly ``-inf`` outside their
support and nowhere else.

float32 input is computed in float32, float64 in float64; integer input is
cast to float64.

References
----------
.. [1] Z. Yang, Z. Dai, R. Salakhutdinov, W. W. Cohen, "Breaking the softmax
   bottleneck: a high-rank RNN language model", ICLR 2018.
.. [2] S. Kanai, Y. Fujiwara, Y. Yamanaka, S. Adachi, "Sigsoftmax:
   reanalysis of the softmax bottleneck", NeurIPS 2018.
.. [3] O.-E. Ganea, S. Gelly, G. Bécigneul, A. Severyn, "Breaking the softmax
   bottleneck via learnable monotonic pointwise non-linearities", ICML 2019.
.. [4] A. Parthiban, et al., "Understanding the softmax bottleneck"
   (generalised sigsoftmax, effective rank), 2021.
.. [5] K. Bałazy, Ł. Struski, M. Śmieja, J. Tabor, "r-softmax: generalized
   softmax with controllable sparsity rate", 2023.
.. [6] A. F. T. Martins, R. F. Astudillo, "From softmax to sparsemax",
   ICML 2016.
.. [7] B. Peters, V. Niculae, A. F. T. Martins, "Sparse sequence-to-sequence
   models", ACL 2019 (entmax).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ._validation import (
    _as_float_array,
    _as_scalar,
    _check_axis,
)

__all__ = [
    "log_softmax",
    "softmax",
    "log_sigsoftmax",
    "sigsoftmax",
    "log_gss",
    "gss",
    "log_sigmoid_normalized",
    "sigmoid_normalized",
    "log_relu_normalized",
    "relu_normalized",
    "plif",
    "plif_init",
    "log_plif_softmax",
    "plif_softmax",
    "log_t_softmax",
    "t_softmax",
    "log_r_softmax",
    "r_softmax",
    "log_sparsemax",
    "sparsemax",
    "log_entmax",
    "entmax",
    "log_mixture",
    "mixture",
    "Activation",
    "get",
    "available",
    "logsumexp",
    "softplus",
]


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def logsumexp(a, axis=-1, keepdims=False):
    """``log Σ exp(a)`` along `axis`, max-shifted; keeps float32 as float32.

    A slice that is ``-inf`` everywhere gives ``-inf`` (not NaN).
    """
    a = np.asarray(a)
    m = np.max(a, axis=axis, keepdims=True)
    # A slice that is all -inf would give (-inf) - (-inf) = NaN: shift by 0.
    m = np.where(np.isfinite(m), m, 0).astype(a.dtype, copy=False)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _log1p_exp_neg_abs(x):
    """``log1p(e^{-|x|})`` (in ``[0, log 2]``), in one new array.

    The shared part of softplus and log-sigmoid. One exp and one log1p per
    entry, in place: a quarter to a third less time than ``np.logaddexp``,
    which matters for the N·M entries of a streamed sigsoftmax or GSS
    matrix.
    """
    t = np.abs(x, out=np.empty_like(x))
    np.negative(t, out=t)
    np.exp(t, out=t)
    return np.log1p(t, out=t)


def _float_array(x):
    # a cast only: the elementwise maps take ±inf, and their callers validate
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def softplus(x):
    """``log(1 + e^x) = max(x, 0) + log1p(e^{-|x|})``: no overflow, no cancellation."""
    x = _float_array(x)
    t = _log1p_exp_neg_abs(x)
    t += np.maximum(x, x.dtype.type(0))
    return t


def _log_normalize(w):
    """``w - lse(w)`` along the last axis, in the max-shifted form.

    Computing ``(w - max) - log Σ exp(w - max)`` keeps the error of every
    log-probability relative to its own distance from the maximum, which is
    what makes ``Σ p = 1`` hold to a few ulps even for logits of size 1e4.
    """
    m = np.max(w, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(w.dtype, copy=False)
    y = w - m
    with np.errstate(divide="ignore"):
        return y - np.log(np.sum(np.exp(y), axis=-1, keepdims=True))


def _last_axis(func):
    """Validate `z` and run `func` with the vocabulary axis moved last."""

    @functools.wraps(func)
    def wrapper(z, *args, axis=-1, **kwargs):
        z = _as_float_array(z, "z")
        if z.ndim == 0:
            raise ValueError(
                f"z must have at least one dimension (the vocabulary); got a scalar"
            )
        ax = _check_axis(axis, z.ndim)
        out = func(np.moveaxis(z, ax, -1), *args, **kwargs)
        return np.moveaxis(out, -1, ax)

    return wrapper


# ---------------------------------------------------------------------------
# Dense normalised pointwise activations
# ---------------------------------------------------------------------------


@_last_axis
def log_softmax(z):
    r"""Log-softmax, the baseline of the softmax bottleneck [1]_.

    .. math:: \log p_i = z_i - \log \sum_j e^{z_j}

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite. The vocabulary lies along `axis` (default -1).

    Returns
    -------
    (..., M) ndarray
        Log-probabilities, float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_softmax
    >>> log_softmax(np.array([0.0, 1000.0]))   # np.log(softmax) would give -inf
    array([-1000.,     0.])
    """
    return _log_normalize(z)


def _log_sigmoid(x):
    # log σ(x) = -softplus(-x) = min(x, 0) - log1p(e^{-|x|}): exact for very
    # negative x, where σ underflows.
    x = _float_array(x)
    t = _log1p_exp_neg_abs(x)
    return np.subtract(np.minimum(x, x.dtype.type(0)), t, out=t)


@_last_axis
def log_sigsoftmax(z):
    r"""Log-sigsoftmax (Kanai et al. 2018 [2]_).

    .. math::
        g(z) = e^{z} \sigma(z), \qquad
        w = z + \log\sigma(z) = z - \mathrm{softplus}(-z), \qquad
        \log p = w - \operatorname{lse}(w)

    The naive ``exp(z - max z) * σ(z)`` returns 0/0 when every logit is very
    negative, because σ is not shift-invariant; the log form above does not.

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite.
    """
    return _log_normalize(z + _log_sigmoid(z))


def _gss_map(z, c, k):
    # k(z-c) + c - (k-1) softplus(z-c): the log of GSS's unnormalised g.
    u = z - z.dtype.type(c)
    return z.dtype.type(k) * u + z.dtype.type(c) - z.dtype.type(k - 1) * softplus(u)


@_last_axis
def log_gss(z, c, k):
    r"""Log generalised sigsoftmax GSS(c, k) (Parthiban et al. 2021 [4]_).

    .. math::
        \log p = \operatorname{log\_softmax}\bigl(k(z-c) + c
                 - (k-1)\,\mathrm{softplus}(z-c)\bigr)

    ``k = 1`` is softmax and ``(c, k) = (0, 2)`` is sigsoftmax. The map is
    strictly increasing in ``z`` for every ``k > 0`` (its derivative is
    ``k(1 - σ(z-c)) + σ(z-c)``).

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite.
    c, k : float
        Centre and slope; finite.
    """
    c = _as_scalar(c, "c")
    k = _as_scalar(k, "k")
    return _log_normalize(_gss_map(z, c, k))


@_last_axis
def log_sigmoid_normalized(z):
    r"""Log of the sigmoid-normalised output ``p_i = σ(z_i) / Σ_j σ(z_j)``.

    Compared by Kanai et al. 2018 [2]_: ``log σ`` is non-linear but bounded
    above by 0, which limits how peaked ``p`` can be.

    .. math:: w = \log\sigma(z) = -\mathrm{softplus}(-z), \quad
              \log p = w - \operatorname{lse}(w)
    """
    return _log_normalize(_log_sigmoid(z))


@_last_axis
def log_relu_normalized(z):
    r"""Log of the ReLU-normalised output ``p_i = max(z_i,0) / Σ_j max(z_j,0)``.

    Compared by Kanai et al. 2018 [2]_. Exactly ``-inf`` where ``z_i ≤ 0``;
    undefined, and a ``ValueError``, for a row whose logits are all ``≤ 0``.

    .. math:: \log p_i = \log z_i - \log \sum_{j: z_j > 0} z_j
    """
    m = np.max(z, axis=-1, keepdims=True)
    if np.any(m <= 0):
        row = np.unravel_index(int(np.argmax(m.reshape(-1) <= 0)), m.shape[:-1])
        raise ValueError(
            "z must have at least one positive logit per row for ReLU "
            f"normalisation; row {tuple(int(i) for i in row)} has maximum "
            f"{m[row].item()}"
        )
    # Divide by the row maximum first so that the sum cannot overflow.
    g = np.maximum(z, 0) / m
    with np.errstate(divide="ignore"):
        return np.log(g) - np.log(np.sum(g, axis=-1, keepdims=True))


# ---------------------------------------------------------------------------
# LMS-PLIF
# ---------------------------------------------------------------------------


def _plif_slopes(theta, bound):
    theta = _as_float_array(theta, "theta", ndim=1)
    bound = _as_scalar(bound, "bound", low=0, low_open=True)
    slopes = softplus(theta.astype(np.float64))
    if not np.all(slopes > 0):
        i = int(np.argmin(slopes))
        raise ValueError(
            "theta must give strictly positive slopes softplus(theta) so that "
            f"the PLIF map is strictly increasing; theta[{i}] = {theta[i]} gives "
            f"slope {slopes[i]}"
        )
    return slopes, bound


def plif_init(n_pieces, bound=20.0, scale=0.0, seed=None):
    r"""PLIF parameters of Ganea et al. 2019 [3]_: ``θ_k = log(e-1) + s·N(0,1)``.

    With ``scale = 0`` every slope is ``softplus(log(e-1)) = 1`` and the map is
    ``f(x) = x + T``.

    Parameters
    ----------
    n_pieces : int
        Number of linear pieces ``K`` (the published LM setting is 100000).
    bound : float
        Half-width ``T`` of the interval ``[-T, T]`` the pieces cover.
    scale : float
        Standard deviation ``s`` of the perturbation.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    (n_pieces,) ndarray
    """
    if not isinstance(n_pieces, (int, np.integer)) or n_pieces < 1:
        raise ValueError(f"n_pieces must be a positive integer; got {n_pieces!r}")
    _as_scalar(bound, "bound", low=0, low_open=True)
    scale = _as_scalar(scale, "scale", low=0)
    rng = np.random.default_rng(seed)
    return math.log(math.e - 1) + scale * rng.standard_normal(int(n_pieces))


def plif(z, theta, bound):
    r"""The piecewise-linear increasing map of LMS-PLIF (Ganea et al. [3]_).

    ``K = len(theta)`` pieces on ``[-T, T]``, ``Δ = 2T/K``, knots
    ``t_k = -T + kΔ``, slopes ``w_k = softplus(θ_k) > 0``:

    .. math::
        k(x) = \operatorname{clip}(\lfloor (x+T)/Δ \rfloor, 0, K-1), \qquad
        f(x) = (x - t_k) w_k + Δ \sum_{j<k} w_j

    Outside ``[-T, T]`` the map continues with the first or the last slope.
    Applied elementwise, so it keeps the shape of `z`.

    Parameters
    ----------
    z : array_like
        Logits; finite.
    theta : (K,) array_like
        Slope parameters.
    bound : float
        ``T > 0``.
    """
    z = _as_float_array(z, "z", min_size=0)
    slopes, bound = _plif_slopes(theta, bound)
    K = slopes.shape[0]
    delta = 2.0 * bound / K
    knots = -bound + delta * np.arange(K)
    offsets = delta * np.concatenate(([0.0], np.cumsum(slopes[:-1])))
    dtype = z.dtype
    k = np.clip(np.floor((z + dtype.type(bound)) / dtype.type(delta)), 0, K - 1)
    k = k.astype(np.intp)
    return ((z - knots.astype(dtype)[k]) * slopes.astype(dtype)[k]
            + offsets.astype(dtype)[k])


def log_plif_softmax(z, theta, bound, axis=-1):
    r"""LMS-PLIF: ``log softmax(f(z))`` with `f` = :func:`plif` (Ganea et al. [3]_).

    `f` is strictly increasing, so the argmax of every row is that of `z`.
    """
    return log_softmax(plif(z, theta, bound), axis=axis)


# ---------------------------------------------------------------------------
# Sparse activations
# ---------------------------------------------------------------------------


def _log_t_softmax_shifted(y, t):
    """t-softmax of max-shifted logits `y` (max 0) with per-row ``t > 0``."""
    with np.errstate(divide="ignore"):
        log_w = np.log(np.maximum(y + t, 0))
    return _log_normalize(y + log_w)


def _shift_max(z):
    return z - np.max(z, axis=-1, keepdims=True)


@_last_axis
def log_t_softmax(z, t):
    r"""Log t-softmax (Bałazy et al. 2023 [5]_).

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
    """
    t = _as_scalar(t, "t", low=0, low_open=True)
    return _log_t_softmax_shifted(_shift_max(z), z.dtype.type(t))


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


@_last_axis
def log_r_softmax(z, r):
    r"""Log r-softmax: t-softmax with a controlled fraction `r` of zeros [5]_.

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
    """
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


def _log_power_support(x_minus_tau, power):
    """``power · log(x - τ)`` where positive, ``-inf`` elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = power * np.log(np.maximum(x_minus_tau, 0))
    return out


@_last_axis
def log_sparsemax(z):
    r"""Log sparsemax: Euclidean projection onto the simplex [6]_.

    .. math::
        p = \max(z - τ, 0), \quad
        τ = \frac{\sum_{j \le k^*} z_{(j)} - 1}{k^*}, \quad
        k^* = \max\{k : 1 + k z_{(k)} > \textstyle\sum_{j\le k} z_{(j)}\}

    with ``z_{(j)}`` sorted in decreasing order. ``-inf`` outside the support.
    """
    y = _shift_max(z)
    ys = -np.sort(-y, axis=-1)
    cs = np.cumsum(ys, axis=-1)
    k = np.arange(1, y.shape[-1] + 1, dtype=y.dtype)
    support = 1 + k * ys > cs
    # The support is a prefix of the sorted entries; its length is k*.
    k_star = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, k_star - 1, axis=-1) - 1) / k_star.astype(y.dtype)
    return _log_power_support(y - tau, 1)


def _entmax15_tau(x):
    """Exact threshold of 1.5-entmax for max-shifted, halved logits `x`.

    Peters et al. 2019 [7]_, Alg. 2: for a support of the top ``k`` entries,
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


@_last_axis
def log_entmax(z, alpha=1.5):
    r"""Log α-entmax (Peters et al. 2019 [7]_).

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
    """
    alpha = _as_scalar(alpha, "alpha", low=1, low_open=True)
    x = _shift_max(z) * z.dtype.type(alpha - 1)
    if alpha == 1.5:
        return _log_power_support(x - _entmax15_tau(x), 2)
    return _entmax_bisect_log(x, alpha)


# ---------------------------------------------------------------------------
# Mixtures
# ---------------------------------------------------------------------------


def _check_log_priors(log_priors, name="log_priors"):
    """Log-priors must be a distribution: no NaN/+inf, ``lse = 0``."""
    log_priors = _as_float_array(log_priors, name, allow_neginf=True)
    total = logsumexp(log_priors, axis=-1)
    tol = 1e3 * np.finfo(log_priors.dtype).eps * max(1, log_priors.shape[-1])
    bad = ~(np.abs(total) <= tol)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        value = float(np.atleast_1d(np.exp(total))[index])
        raise ValueError(
            f"{name} must be the log of a probability distribution over the "
            f"last axis (sum of exp = 1 within {tol:.1e}); the priors at index "
            f"{index} sum to {value!r}"
        )
    return log_priors


def log_mixture(component_log_probs, log_priors):
    r"""Log of a mixture ``p = Σ_k π_k p_k``, by logsumexp over components.

    .. math:: \log p = \operatorname{lse}_k(\log π_k + \log p_k)

    Never ``log(Σ π_k p_k + 1e-8)``: the published MoS code adds ``1e-8``,
    which caps every log-probability at about -18.4 and changes the rank.

    Parameters
    ----------
    component_log_probs : (..., K, M) array_like
        Log-probabilities of the K components (components on axis -2, the
        vocabulary on axis -1); ``-inf`` allowed (sparse components).
    log_priors : (..., K) array_like
        Log mixture weights, broadcastable against the leading shape; their
        ``exp`` must sum to 1 over K.

    Returns
    -------
    (..., M) ndarray
    """
    comp = _as_float_array(component_log_probs, "component_log_probs",
                           allow_neginf=True)
    if comp.ndim < 2:
        raise ValueError(
            "component_log_probs must have shape (..., K, M); got shape "
            f"{comp.shape}"
        )
    log_priors = _check_log_priors(log_priors)
    if log_priors.shape[-1] != comp.shape[-2]:
        raise ValueError(
            f"log_priors must have K = {comp.shape[-2]} entries on its last "
            f"axis to match component_log_probs {comp.shape}; got shape "
            f"{log_priors.shape}"
        )
    dtype = np.result_type(comp, log_priors)
    return logsumexp(comp + log_priors[..., None].astype(dtype), axis=-2)


# ---------------------------------------------------------------------------
# Probability forms
# ---------------------------------------------------------------------------


def _probability_form(log_func, name):
    @functools.wraps(log_func)
    def prob(*args, **kwargs):
        return np.exp(log_func(*args, **kwargs))

    prob.__name__ = prob.__qualname__ = name
    prob.__doc__ = (
        f"Probabilities of :func:`{log_func.__name__}`: ``exp`` of its result, "
        "with the same arguments.\n"
    )
    return prob


softmax = _probability_form(log_softmax, "softmax")
sigsoftmax = _probability_form(log_sigsoftmax, "sigsoftmax")
gss = _probability_form(log_gss, "gss")
sigmoid_normalized = _probability_form(log_sigmoid_normalized, "sigmoid_normalized")
relu_normalized = _probability_form(log_relu_normalized, "relu_normalized")
plif_softmax = _probability_form(log_plif_softmax, "plif_softmax")
t_softmax = _probability_form(log_t_softmax, "t_softmax")
r_softmax = _probability_form(log_r_softmax, "r_softmax")
sparsemax = _probability_form(log_sparsemax, "sparsemax")
entmax = _probability_form(log_entmax, "entmax")
mixture = _probability_form(log_mixture, "mixture")


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

_REQUIRED = object()


@dataclass(frozen=True)
class Activation:
    """A registered output activation.

    Attributes
    ----------
    name : str
        Registry name.
    log_prob : callable
        ``log_prob(z, axis=-1, **params)`` returning log-probabilities.
    params : dict
        Parameter names and defaults (``None`` for a required parameter).
    sparse : bool
        Whether the activation can give probability exactly 0.
    logit_map : callable or None
        For activations of the form ``log_softmax(φ(z))`` with a strictly
        increasing elementwise ``φ`` (softmax, sigsoftmax, GSS with k > 0,
        PLIF, sigmoid-normalisation), ``φ(z, **params)``; these keep the
        argmax of every row.
    reference : str
        Where the definition comes from.
    """

    name: str
    log_prob: object = field(repr=False)
    params: dict = field(default_factory=dict)
    sparse: bool = False
    logit_map: object = field(default=None, repr=False)
    reference: str = ""

    def __call__(self, z, axis=-1, **params):
        return self.log_prob(z, axis=axis, **self.bind(params))

    def bind(self, params):
        """Check `params` against the registry and fill in defaults."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise TypeError(
                f"activation {self.name!r} takes parameters "
                f"{sorted(self.params) or 'none'}; got unexpected {unknown}"
            )
        bound = {}
        for key, default in self.params.items():
            if key in params:
                bound[key] = params[key]
            elif default is _REQUIRED:
                raise TypeError(
                    f"activation {self.name!r} needs parameter {key!r}"
                )
            else:
                bound[key] = default
        return bound

    def signature(self):
        """``'name(p1, p2=default)'`` for listings."""
        parts = [k if v is _REQUIRED else f"{k}={v!r}" for k, v in self.params.items()]
        return f"{self.name}({', '.join(parts)})"


def _identity(z):
    return z


def _sigsoftmax_map(z):
    # z + log σ(z) = z + min(z, 0) - log1p(e^{-|z|}), with one temporary
    t = _log1p_exp_neg_abs(z)
    return np.subtract(z + np.minimum(z, z.dtype.type(0)), t, out=t)


_REGISTRY = {
    a.name: a
    for a in [
        Activation("softmax", log_softmax, {}, False, _identity,
                   "Yang et al. 2018"),
        Activation("sigsoftmax", log_sigsoftmax, {}, False, _sigsoftmax_map,
                   "Kanai et al. 2018"),
        Activation("gss", log_gss, {"c": 0.0, "k": 2.0}, False,
                   lambda z, c, k: _gss_map(z, float(c), float(k)),
                   "Parthiban et al. 2021"),
        Activation("sigmoid_normalized", log_sigmoid_normalized, {}, False,
                   _log_sigmoid, "Kanai et al. 2018"),
        Activation("relu_normalized", log_relu_normalized, {}, True, None,
                   "Kanai et al. 2018"),
        Activation("plif", log_plif_softmax,
                   {"theta": _REQUIRED, "bound": 20.0}, False, plif,
                   "Ganea et al. 2019"),
        Activation("t_softmax", log_t_softmax, {"t": _REQUIRED}, True, None,
                   "Bałazy et al. 2023"),
        Activation("r_softmax", log_r_softmax, {"r": _REQUIRED}, True, None,
                   "Bałazy et al. 2023"),
        Activation("sparsemax", log_sparsemax, {}, True, None,
                   "Martins & Astudillo 2016"),
        Activation("entmax", log_entmax, {"alpha": 1.5}, True, None,
                   "Peters et al. 2019"),
    ]
}


def get(name):
    """The registered :class:`Activation` called `name`."""
    if isinstance(name, Activation):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(_REGISTRY)}; got {name!r}"
        ) from None


def available():
    """Registered activations and their parameters.

    Returns
    -------
    dict
        ``{name: {parameter: default}}``; a required parameter has default
        ``None``.

    Examples
    --------
    >>> from rankbottleneck import activations
    >>> activations.available()["gss"]
    {'c': 0.0, 'k': 2.0}
    """
    return {
        name: {k: (None if v is _REQUIRED else v) for k, v in a.params.items()}
        for name, a in _REGISTRY.items()
    }
