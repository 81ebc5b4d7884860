"""Output activations, computed in log space, and the registry of them.

Every ``log_*`` function maps logits ``z`` (any leading shape, vocabulary
along `axis`) to log-probabilities, and has a probability form of the same
name without the ``log_`` prefix. Dense activations return ``-inf`` only
for a log-probability below the float range (logits more than about 1.8e308
apart in float64, 3.4e38 in float32), and NaN never; the sparse ones
(ReLU-normalised, t-softmax, r-softmax, sparsemax, entmax) return exactly
``-inf`` outside their support as well. float32
input is computed in float32, float64 in float64; integers are cast to
float64.

Each activation is also an :class:`Activation`: its log-probability
function with the capabilities the analyses ask for (logit map, derivative,
monotonicity, sparsity, sympy form). :func:`get` looks one up by name,
:func:`available` lists them, and :func:`register` adds a user's own, which
then works by name or by object everywhere a built-in one does.

=================== ============================ ==============================
module              what                         source
=================== ============================ ==============================
``_pointwise``      softmax, sigsoftmax, GSS,    Yang et al. 2018 [1]_; Kanai
                    sigmoid-, ReLU-normalised    et al. 2018 [2]_; Parthiban
                                                 et al. 2021 [4]_
``_plif``           LMS-PLIF                     Ganea et al. 2019 [3]_
``_sparse``         t-, r-softmax, sparsemax,    [5]_, [6]_, [7]_
                    entmax
``_mixture``        log of a mixture             Yang et al. 2018 [1]_
``_registry``       Activation, register, get
=================== ============================ ==============================

References
----------
.. [1] Z. Yang, Z. Dai, R. Salakhutdinov, W. W. Cohen, "Breaking the softmax
   bottleneck: a high-rank RNN language model", ICLR 2018, arXiv:1711.03953.
.. [2] S. Kanai, Y. Fujiwara, Y. Yamanaka, S. Adachi, "Sigsoftmax:
   reanalysis of the softmax bottleneck", NeurIPS 2018, arXiv:1805.10829.
.. [3] O.-E. Ganea, S. Gelly, G. Bécigneul, A. Severyn, "Breaking the softmax
   bottleneck via learnable monotonic pointwise non-linearities", ICML 2019,
   arXiv:1902.08077.
.. [4] A. Parthiban, et al., "Understanding the softmax bottleneck"
   (generalised sigsoftmax, effective rank), 2021 (no arXiv id known to
   us).
.. [5] K. Bałazy, Ł. Struski, M. Śmieja, J. Tabor, "r-softmax: generalized
   softmax with controllable sparsity rate", ICCS 2023, arXiv:2304.05243.
.. [6] A. F. T. Martins, R. F. Astudillo, "From softmax to sparsemax",
   ICML 2016, arXiv:1602.02068.
.. [7] B. Peters, V. Niculae, A. F. T. Martins, "Sparse sequence-to-sequence
   models", ACL 2019, arXiv:1905.05702.
"""

from __future__ import annotations

import functools

import numpy as np

from ._base import _log_normalize, _log_sigmoid, _sigmoid, logsumexp, softplus
from ._mixture import log_mixture
from ._plif import PLIF, log_plif_softmax, plif, plif_init
from ._pointwise import (
    GSS,
    RELU_NORMALIZED,
    SIGMOID_NORMALIZED,
    SIGSOFTMAX,
    SOFTMAX,
    log_gss,
    log_relu_normalized,
    log_sigmoid_normalized,
    log_sigsoftmax,
    log_softmax,
)
from ._registry import (
    REQUIRED,
    Activation,
    _register_builtin,
    available,
    get,
    register,
    unregister,
)
from ._sparse import (
    ENTMAX,
    R_SOFTMAX,
    SPARSEMAX,
    T_SOFTMAX,
    log_entmax,
    log_r_softmax,
    log_sparsemax,
    log_t_softmax,
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
    "REQUIRED",
    "register",
    "unregister",
    "get",
    "available",
    "logsumexp",
    "log_normalize",
    "softplus",
    "log_sigmoid",
    "sigmoid",
]


def log_normalize(w):
    r"""``w - lse(w)`` along the last axis: log-probabilities from log-weights.

    The normalisation of every pointwise activation,
    ``log p = φ(z) - log Σ_j e^{φ(z_j)}``, in the max-shifted form that keeps
    ``Σ p = 1`` to a few ulps for entries of any size. For writing a
    user's ``log_prob`` from a logit map.
    """
    return _log_normalize(np.asarray(w, dtype=np.result_type(w, np.float32)))


def log_sigmoid(x):
    r"""``log σ(x) = min(x, 0) - log1p(e^{-|x|})``: exact where σ underflows."""
    return _log_sigmoid(x)


def sigmoid(x):
    r"""``σ(x) = 1 / (1 + e^{-x})`` without overflow for either sign."""
    return _sigmoid(x)


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

# The built-ins go through the same public register() as a user's activation.
for _builtin in (SOFTMAX, SIGSOFTMAX, GSS, SIGMOID_NORMALIZED, RELU_NORMALIZED,
                 PLIF, T_SOFTMAX, R_SOFTMAX, SPARSEMAX, ENTMAX):
    _register_builtin(_builtin)
del _builtin
