"""Mixtures of distributions, combined in log space."""

from __future__ import annotations

import numpy as np

from .._validation import _as_float_array
from ._base import logsumexp

__all__ = ["log_mixture"]


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

    See Also
    --------
    rankbottleneck.MixtureLayer : MoS, MoSS and MoC layers built on it.
    rankbottleneck.mixture_log_probs_from_components : the same from logits.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.activations import log_mixture
    >>> comps = np.log([[0.9, 0.1], [0.2, 0.8]])      # K = 2 components, M = 2
    >>> np.exp(log_mixture(comps, np.log([0.5, 0.5])))
    array([0.55, 0.45])
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
    totals = logsumexp(comp, axis=-1)
    tol = 1e3 * np.finfo(comp.dtype).eps * max(1, comp.shape[-1])
    bad = ~(np.abs(totals) <= tol)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            "component_log_probs must be log-probabilities: every component must "
            f"sum to 1 over the last axis (within {tol:.1e}); the component at "
            f"index {index} sums to {float(np.exp(totals[index]))!r}")
    dtype = np.result_type(comp, log_priors)
    return logsumexp(comp + log_priors[..., None].astype(dtype), axis=-2)
