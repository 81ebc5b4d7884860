"""LMS-PLIF: softmax of a learnable piecewise-linear increasing map.

References
----------
.. [1] O.-E. Ganea, S. Gelly, G. Bécigneul, A. Severyn, "Breaking the softmax
   bottleneck via learnable monotonic pointwise non-linearities", ICML 2019,
   arXiv:1902.08077.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import _as_float_array, _as_int, _as_scalar
from ._base import (
    _float_array,
    _log_normalize_map,
    _log_sigmoid,
    _on_last_axis,
    softplus,
)
from ._registry import REQUIRED, Activation

__all__ = ["plif", "plif_init", "log_plif_softmax"]


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
    r"""PLIF slope parameters ``θ_k = log(e-1) + s·N(0,1)``.

    The initialisation of Ganea et al. 2019 (arXiv:1902.08077).

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

    See Also
    --------
    rankbottleneck.plif, rankbottleneck.log_plif_softmax : the map and its
        activation.

    Examples
    --------
    >>> from rankbottleneck.activations import plif_init
    >>> plif_init(3).round(4)            # every slope softplus(θ) = 1
    array([0.5413, 0.5413, 0.5413])
    """
    n_pieces = _as_int(n_pieces, "n_pieces", low=1)
    _as_scalar(bound, "bound", low=0, low_open=True)
    scale = _as_scalar(scale, "scale", low=0)
    rng = np.random.default_rng(seed)
    return math.log(math.e - 1) + scale * rng.standard_normal(n_pieces)


def _pieces(z, slopes, bound):
    """Piece index of every entry, knots, offsets and width of the pieces."""
    K = slopes.shape[0]
    delta = 2.0 * bound / K
    knots = -bound + delta * np.arange(K)
    offsets = delta * np.concatenate(([0.0], np.cumsum(slopes[:-1])))
    dtype = z.dtype
    # one temporary, updated in place: the same values as the plain
    # expression, a fifth less time over a streamed pass's entries
    t = np.add(z, dtype.type(bound), out=np.empty(z.shape, dtype))   # 0-d too
    t /= dtype.type(delta)
    np.floor(t, out=t)
    np.clip(t, 0, K - 1, out=t)
    return t.astype(np.intp), knots, offsets, delta


def _plif_map(z, theta, bound=20.0):
    z = _float_array(z)
    slopes, bound = _plif_slopes(theta, bound)
    k, knots, offsets, _ = _pieces(z, slopes, bound)
    dtype = z.dtype
    # (z - knot_k) · slope_k + offset_k, in place (the same operations); the
    # tables read into two buffers (each new array over a streamed pass's
    # chunk is a fresh allocation, faulted in anew; "clip" takes no copy
    # and changes nothing: k is in range)
    f, g = np.empty(z.shape, dtype), np.empty(z.shape, dtype)
    np.take(knots.astype(dtype), k, out=f, mode="clip")
    np.subtract(z, f, out=f)
    f *= np.take(slopes.astype(dtype), k, out=g, mode="clip")
    f += np.take(offsets.astype(dtype), k, out=g, mode="clip")
    return f


def _plif_derivative(z, theta, bound=20.0):
    z = _float_array(z)
    slopes, bound = _plif_slopes(theta, bound)
    return slopes[_pieces(z, slopes, bound)[0]]


def _plif_param_gradients(z, dphi, theta, bound=20.0):
    slopes, bound = _plif_slopes(theta, bound)
    k, knots, _, delta = _pieces(z, slopes, bound)
    K = slopes.shape[0]
    own = np.bincount(k.ravel(), (dphi * (z - knots[k])).ravel(), minlength=K)
    mass = np.bincount(k.ravel(), dphi.ravel(), minlength=K)
    # f depends on w_m through the piece it lies in and every piece above
    above = np.concatenate((np.cumsum(mass[::-1])[::-1][1:], [0.0]))
    dslope = own + delta * above
    # dw/dθ = σ(θ), as exp(log σ(θ)): exact where σ(θ) underflows
    return {"theta": dslope * np.exp(_log_sigmoid(np.asarray(theta, dtype=np.float64)))}


def plif(z, theta, bound=20.0):
    r"""The piecewise-linear increasing map of LMS-PLIF.

    The map of Ganea et al. 2019 (arXiv:1902.08077), with

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

    Returns
    -------
    ndarray
        ``f(z)``, the shape of `z`.

    See Also
    --------
    log_plif_softmax : softmax of this map.
    rankbottleneck.activations.plif_init : parameters to start from.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import plif
    >>> theta = np.log(np.expm1([1.0, 3.0]))   # slopes 1 on [-2, 0), 3 on [0, 2]
    >>> plif(np.array([-3.0, -1.0, 1.0, 3.0]), theta, bound=2.0)
    array([-1.,  1.,  5., 11.])
    """
    return _plif_map(_as_float_array(z, "z", min_size=0), theta, bound)


def _plif_kernel(z, theta, bound=20.0):
    return _log_normalize_map(_plif_map, z, theta, bound)


def log_plif_softmax(z, theta, bound=20.0, *, axis=-1):
    r"""LMS-PLIF: ``log softmax(f(z))`` with `f` = :func:`plif`.

    The activation of Ganea et al. [1]_: `f` is strictly increasing, so the
    argmax of every row is that of `z`.

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite.
    theta : (K,) array_like
        Slope parameters (see :func:`plif_init`).
    bound : float
        Half-width ``T > 0`` of the interval the pieces cover.
    axis : int
        The vocabulary axis.

    Returns
    -------
    (..., M) ndarray
        Log-probabilities, float32 for float32 input, float64 otherwise.

    See Also
    --------
    plif : the map.
    rankbottleneck.activations.plif_init : its parameters.
    log_sigsoftmax, log_gss : fixed increasing maps.
    rankbottleneck.fit_log_probs : learns `theta` with ``learn=["theta"]``.

    References
    ----------
    .. [1] O.-E. Ganea, S. Gelly, G. Bécigneul, A. Severyn, "Breaking the
       softmax bottleneck via learnable monotonic pointwise non-linearities",
       ICML 2019, arXiv:1902.08077.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_plif_softmax, log_softmax, plif_init
    >>> z = np.array([0.0, 1.0, 2.0])
    >>> bool(np.allclose(log_plif_softmax(z, plif_init(4)), log_softmax(z)))  # f(x) = x + T
    True
    >>> theta = np.log(np.expm1([1.0, 3.0]))
    >>> log_plif_softmax(z, theta, bound=2.0).round(4)
    array([-6.0509, -3.0509, -0.0509])
    """
    return _on_last_axis(_plif_kernel, z, axis, theta, bound)


def _sympy_plif(z, theta, bound=20.0):
    """``e^{f(z)}`` with `f` a sympy Piecewise (at most 64 pieces)."""
    import sympy as sp

    slopes, bound = _plif_slopes(theta, bound)
    K = len(slopes)
    if K > 64:
        raise ValueError(f"theta must have at most 64 pieces symbolically; got {K}")
    delta = sp.nsimplify(2 * bound / K)
    T = sp.nsimplify(bound)
    w = [sp.nsimplify(float(v)) for v in slopes]
    pieces, offset = [], 0
    for i in range(K):
        knot = -T + i * delta
        cond = z < knot + delta if i < K - 1 else True
        pieces.append(((z - knot) * w[i] + offset, cond))
        offset += delta * w[i]
    return sp.exp(sp.Piecewise(*pieces))


PLIF = Activation(
    "plif", _plif_kernel, {"theta": REQUIRED, "bound": 20.0}, logit_map=_plif_map,
    logit_map_derivative=_plif_derivative, param_gradients=_plif_param_gradients,
    increasing=True, sympy_g=_sympy_plif,
    reference="Ganea et al. 2019, arXiv:1902.08077")
