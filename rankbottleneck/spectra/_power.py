"""The one power iteration of the spectral engine.

Two callers need only the scale of a spectrum, not the spectrum: the Gram
path's ``λ_1`` (which sets its error ``δ = ε √m λ_1``) and the hidden-size
estimate's ``σ_1`` of the raw outputs (which scales its Press threshold).
Both start from the all-ones direction: log-probability rows share a
dominant direction (the ``-lse`` column), so a few steps reach it.
"""

from __future__ import annotations

import math

import numpy as np

__all__: list[str] = []


def _power_iteration(forward, n, *, backward=None, rtol=None, max_iter=30):
    r"""The largest singular value of a linear map by power iteration.

    With ``forward = G @`` for a symmetric positive semidefinite ``G`` (and
    no `backward`) it is ``λ_1(G)``: ``x ← G x / ‖G x‖``. With
    ``forward = Y @`` and ``backward = Yᵀ @`` it is ``σ_1(Y)`` by the
    iteration on ``YᵀY`` that never forms it: ``u = Y x``, ``σ = ‖u‖``,
    ``x ← Yᵀ u / ‖Yᵀ u‖``.

    Parameters
    ----------
    forward, backward : callable
        ``x ↦ G x`` (or ``Y x``) and ``u ↦ Yᵀ u``.
    n : int
        Length of ``x``; the start is ``1/√n`` in every entry (deterministic).
    rtol : float, optional
        Stop once the estimate changes by at most ``rtol`` times itself;
        default: run all `max_iter` steps.
    max_iter : int

    Returns
    -------
    float
        The last estimate ``‖forward(x)‖`` (0 for a map that is zero on the
        start). It approaches the largest value from below, at the rate of
        the ratio of the first two.
    """
    x = np.full(n, 1.0 / math.sqrt(n))
    estimate = 0.0
    for _ in range(max_iter):
        y = forward(x)
        new = float(np.linalg.norm(y))
        if new == 0.0:
            return 0.0
        if backward is None:
            x = y / new
        else:
            x = backward(y / new)
            x /= np.linalg.norm(x)
        if rtol is not None and abs(new - estimate) <= rtol * new:
            return new
        estimate = new
    return estimate
