"""Normalised pointwise activations ``p_i = g(z_i) / Σ_j g(z_j)``.

softmax, sigsoftmax, generalised sigsoftmax (GSS), sigmoid- and
ReLU-normalisation: each as a public ``log_*`` function with its axis, its
last-axis kernel, and its :class:`~rankbottleneck.activations.Activation`
declaration (logit map ``φ = log g``, ``φ'``, parameter gradients, sympy
``g``).
"""

from __future__ import annotations

import numpy as np

from .._lapack import _all_finite
from .._validation import _as_scalar
from ._base import (
    _float_array,
    _log1p_exp_neg_abs,
    _log_normalize,
    _log_normalize_map,
    _log_sigmoid,
    _on_last_axis,
    _sigmoid,
    softplus,
)
from ._registry import Activation

__all__ = [
    "log_softmax",
    "log_sigsoftmax",
    "log_gss",
    "log_sigmoid_normalized",
    "log_relu_normalized",
]


# ---------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------


def log_softmax(z, *, axis=-1):
    r"""Log-softmax, the baseline of the softmax bottleneck.

    .. math:: \log p_i = z_i - \log \sum_j e^{z_j}

    Its log-probability matrix over N contexts has rank at most ``d + 1``
    (Yang et al. [1]_). Computed max-shifted: ``-inf`` only for a
    log-probability below the float range (logits about 1.8e308 apart in
    float64), never NaN.

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite.
    axis : int
        The vocabulary axis.

    Returns
    -------
    (..., M) ndarray
        Log-probabilities, float32 for float32 input, float64 otherwise.

    See Also
    --------
    log_sigsoftmax, log_gss, log_plif_softmax : increasing maps of the logits
        that lift the ``d + 1`` bound.
    log_sparsemax, log_entmax, log_t_softmax, log_r_softmax : sparse
        alternatives (exactly ``-inf`` outside their support).
    rankbottleneck.log_prob_matrix : the N × M matrix of a layer.
    rankbottleneck.activations.softmax : the probabilities.

    References
    ----------
    .. [1] Z. Yang, Z. Dai, R. Salakhutdinov, W. W. Cohen, "Breaking the
       softmax bottleneck: a high-rank RNN language model", ICLR 2018,
       arXiv:1711.03953.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_softmax
    >>> log_softmax(np.array([0.0, 1000.0]))   # np.log(softmax) would give -inf
    array([-1000.,     0.])
    >>> log_softmax(np.array([[1.0, 2.0], [5.0, 5.0]]), axis=0).round(4)
    array([[-4.0181, -3.0486],
           [-0.0181, -0.0486]])
    """
    return _on_last_axis(_log_normalize, z, axis)


def _identity(z):
    return z


def _ones(z):
    return np.ones_like(z)


def _sympy_exp(z):
    import sympy as sp

    return sp.exp(z)


SOFTMAX = Activation(
    "softmax", _log_normalize, {}, logit_map=_identity,
    logit_map_derivative=_ones, increasing=True, shift_only=True, convex_g=True,
    sympy_g=_sympy_exp, reference="Yang et al. 2018, arXiv:1711.03953")


# ---------------------------------------------------------------------------
# sigsoftmax
# ---------------------------------------------------------------------------


def _sigsoftmax_map(z):
    # z + log σ(z) = z - softplus(-z) = z - (log1p(e^{-|z|}) + max(-z, 0))
    z = _float_array(z)
    t = _log1p_exp_neg_abs(z)
    t += np.maximum(-z, z.dtype.type(0))
    return np.subtract(z, t, out=t)


def _sigsoftmax_derivative(z):
    # d/dz (z + log σ(z)) = 1 + σ(-z)
    return 1 + _sigmoid(-_float_array(z))


def _sigsoftmax_kernel(z):
    return _log_normalize_map(_sigsoftmax_phi, z)


def _sigsoftmax_phi(z):
    return z + _log_sigmoid(z)


def log_sigsoftmax(z, *, axis=-1):
    r"""Log-sigsoftmax: softmax of ``z + log σ(z)``.

    Kanai et al. [1]_ proposed it to get past the softmax bottleneck: the map
    is non-linear and strictly increasing, so the matrix is generically of
    full rank while every row keeps the argmax of its logits.

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
    axis : int
        The vocabulary axis.

    Returns
    -------
    (..., M) ndarray
        Log-probabilities, float32 for float32 input, float64 otherwise.

    See Also
    --------
    log_gss : the family it belongs to, ``(c, k) = (0, 2)``.
    log_softmax : the shift-only baseline.
    log_sigmoid_normalized : ``σ(z)`` alone, normalised.

    References
    ----------
    .. [1] S. Kanai, Y. Fujiwara, Y. Yamanaka, S. Adachi, "Sigsoftmax:
       reanalysis of the softmax bottleneck", NeurIPS 2018, arXiv:1805.10829.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_gss, log_sigsoftmax
    >>> z = np.array([-2.0, 0.0, 3.0])
    >>> log_sigsoftmax(z).round(4)
    array([-7.105 , -3.6712, -0.0266])
    >>> bool(np.allclose(log_sigsoftmax(z), log_gss(z, 0.0, 2.0)))
    True
    """
    return _on_last_axis(_sigsoftmax_kernel, z, axis)


def _sympy_sigsoftmax(z):
    import sympy as sp

    return sp.exp(z) / (1 + sp.exp(-z))


SIGSOFTMAX = Activation(
    "sigsoftmax", _sigsoftmax_kernel, {}, logit_map=_sigsoftmax_map,
    logit_map_derivative=_sigsoftmax_derivative, increasing=True, convex_g=True,
    sympy_g=_sympy_sigsoftmax, reference="Kanai et al. 2018, arXiv:1805.10829")


# ---------------------------------------------------------------------------
# generalised sigsoftmax
# ---------------------------------------------------------------------------


def _gss_params(c, k):
    # k > 0 keeps φ strictly increasing (φ' = 1 + (k - 1) σ(c - z) > 0); at
    # k ≤ 0, g is no longer monotone and the activation is not the family of
    # Parthiban et al.
    return _as_scalar(c, "c"), _as_scalar(k, "k", low=0, low_open=True)


def _gss_map(z, c=0.0, k=2.0):
    # k(z-c) + c - (k-1) softplus(z-c): the log of GSS's unnormalised g.
    c, k = _gss_params(c, k)
    z = _float_array(z)
    t = z.dtype.type
    u = np.subtract(z, t(c), out=np.empty(z.shape, z.dtype))      # 0-d too
    with np.errstate(over="ignore", invalid="ignore"):
        # k·u + c - (k-1)·softplus(u), the same operations in place (two
        # temporaries instead of five over a streamed pass's entries)
        phi = np.multiply(u, t(k), out=np.empty_like(u))
        phi += t(c)
        g = softplus(u)
        g *= t(k - 1)
        phi -= g
    if not _all_finite(phi):
        bad = ~np.isfinite(phi)
        # k·u and softplus(u) overflow (inf - inf) for |u| near the largest
        # float; the same map written without either large product:
        # k·min(u, 0) + max(u, 0) - (k-1)·log1p(e^{-|u|}) + c
        ub = u[bad]
        with np.errstate(over="ignore"):
            phi[bad] = (t(k) * np.minimum(ub, t(0)) + np.maximum(ub, t(0))
                        - t(k - 1) * _log1p_exp_neg_abs(ub) + t(c))
    return phi


def _gss_derivative(z, c=0.0, k=2.0):
    c, k = _gss_params(c, k)
    return k - (k - 1) * _sigmoid(_float_array(z) - c)


def _gss_param_gradients(z, dphi, c=0.0, k=2.0):
    c, k = _gss_params(c, k)
    u = z - c
    return {"c": np.sum(dphi * (1 - k + (k - 1) * _sigmoid(u))),
            "k": np.sum(dphi * (u - softplus(u)))}


def _gss_kernel(z, c=0.0, k=2.0):
    return _log_normalize_map(_gss_map, z, c, k)


def log_gss(z, c=0.0, k=2.0, *, axis=-1):
    r"""Log generalised sigsoftmax GSS(c, k), between softmax and sigsoftmax.

    The family of Parthiban et al. [1]_:

    .. math::
        \log p = \operatorname{log\_softmax}\bigl(k(z-c) + c
                 - (k-1)\,\mathrm{softplus}(z-c)\bigr)

    ``k = 1`` is softmax and ``(c, k) = (0, 2)`` is sigsoftmax. The map is
    strictly increasing in ``z`` for every ``k > 0`` (its derivative is
    ``k(1 - σ(z-c)) + σ(z-c)``); ``k ≤ 0`` is refused.

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite.
    c : float
        Centre; finite.
    k : float
        Slope, ``k > 0``.
    axis : int
        The vocabulary axis.

    Returns
    -------
    (..., M) ndarray
        Log-probabilities, float32 for float32 input, float64 otherwise.

    See Also
    --------
    log_softmax : ``k = 1``.
    log_sigsoftmax : ``(c, k) = (0, 2)``.
    rankbottleneck.fit_log_probs : learns ``c`` and ``k`` with ``learn=``.

    References
    ----------
    .. [1] A. Parthiban, et al., "Understanding the softmax bottleneck"
       (generalised sigsoftmax, effective rank), 2021 (no arXiv id known to
       us).

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_gss, log_softmax
    >>> z = np.array([-1.0, 0.5, 2.0])
    >>> log_gss(z, c=0.5, k=3.0).round(4)
    array([-6.0824, -2.5659, -0.0824])
    >>> bool(np.allclose(log_gss(z, 0.0, 1.0), log_softmax(z)))
    True
    """
    return _on_last_axis(_gss_kernel, z, axis, c, k)


def _sympy_gss(z, c=0.0, k=2.0):
    import sympy as sp

    c, k = sp.nsimplify(c), sp.nsimplify(k)
    return sp.exp(k * (z - c) + c) / (1 + sp.exp(z - c)) ** (k - 1)


GSS = Activation(
    "gss", _gss_kernel, {"c": 0.0, "k": 2.0}, logit_map=_gss_map,
    logit_map_derivative=_gss_derivative, param_gradients=_gss_param_gradients,
    param_bounds={"k": (1e-6, None)}, increasing=True, sympy_g=_sympy_gss, reference="Parthiban et al. 2021")


# ---------------------------------------------------------------------------
# sigmoid- and ReLU-normalisation
# ---------------------------------------------------------------------------


def _sigmoid_normalized_kernel(z):
    return _log_normalize(_log_sigmoid(z))


def log_sigmoid_normalized(z, *, axis=-1):
    r"""Log of the sigmoid-normalised output ``p_i = σ(z_i) / Σ_j σ(z_j)``.

    Compared by Kanai et al. 2018 [1]_: ``log σ`` is non-linear but bounded
    above by 0, which limits how peaked ``p`` can be.

    .. math:: w = \log\sigma(z) = -\mathrm{softplus}(-z), \quad
              \log p = w - \operatorname{lse}(w)

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite.
    axis : int
        The vocabulary axis.

    Returns
    -------
    (..., M) ndarray
        Log-probabilities, float32 for float32 input, float64 otherwise.

    See Also
    --------
    log_sigsoftmax : ``e^z σ(z)``, which is not bounded.
    log_relu_normalized : the other normaliser Kanai et al. compare.

    References
    ----------
    .. [1] S. Kanai et al., "Sigsoftmax: reanalysis of the softmax
       bottleneck", NeurIPS 2018, arXiv:1805.10829.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_sigmoid_normalized
    >>> p = np.exp(log_sigmoid_normalized(np.array([0.0, 100.0])))
    >>> p.round(4)                       # never more peaked than 1 : 2
    array([0.3333, 0.6667])
    """
    return _on_last_axis(_sigmoid_normalized_kernel, z, axis)


def _sigmoid_normalized_derivative(z):
    # d/dz log σ(z) = σ(-z)
    return _sigmoid(-_float_array(z))


def _sympy_sigmoid(z):
    import sympy as sp

    return 1 / (1 + sp.exp(-z))


SIGMOID_NORMALIZED = Activation(
    "sigmoid_normalized", _sigmoid_normalized_kernel, {}, logit_map=_log_sigmoid,
    logit_map_derivative=_sigmoid_normalized_derivative, increasing=True,
    sympy_g=_sympy_sigmoid, reference="Kanai et al. 2018, arXiv:1805.10829")


def _relu_normalized_kernel(z):
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


def log_relu_normalized(z, *, axis=-1):
    r"""Log of the ReLU-normalised output ``p_i = max(z_i,0) / Σ_j max(z_j,0)``.

    Compared by Kanai et al. 2018 [1]_. Exactly ``-inf`` where ``z_i ≤ 0``;
    undefined, and a ``ValueError``, for a row whose logits are all ``≤ 0``.

    .. math:: \log p_i = \log z_i - \log \sum_{j: z_j > 0} z_j

    Parameters
    ----------
    z : (..., M) array_like
        Logits; finite, at least one positive per row.
    axis : int
        The vocabulary axis.

    Returns
    -------
    (..., M) ndarray
        Log-probabilities; ``-inf`` where ``z_i ≤ 0``.

    See Also
    --------
    log_sigmoid_normalized : the dense normaliser of the same comparison.
    log_sparsemax, log_r_softmax : other sparse activations.

    References
    ----------
    .. [1] S. Kanai et al., "Sigsoftmax: reanalysis of the softmax
       bottleneck", NeurIPS 2018, arXiv:1805.10829.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_relu_normalized
    >>> np.exp(log_relu_normalized(np.array([-1.0, 1.0, 3.0])))
    array([0.  , 0.25, 0.75])
    """
    return _on_last_axis(_relu_normalized_kernel, z, axis)


def _relu_support(W, b):
    """``p_i > 0`` iff ``z_i > 0`` for some ``h``: ``w_i ≠ 0`` or ``b_i > 0``."""
    return (np.any(W != 0, axis=1) | (b > 0),
            "p_i > 0 iff z_i > 0 for some h: w_i ≠ 0 or b_i > 0")


def _sympy_relu(z):
    import sympy as sp

    return sp.Max(z, 0)


RELU_NORMALIZED = Activation(
    "relu_normalized", _relu_normalized_kernel, {}, sparse=True,
    support=_relu_support, sympy_g=_sympy_relu,
    reference="Kanai et al. 2018, arXiv:1805.10829")
