"""Cheap candidate contexts, shared by every question builder."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def whitening(W):
    """Mean ``μ`` and (ridged) inverse covariance of the rows of `W`: in
    ``h = Σ⁻¹(w_i - μ)`` anisotropic embeddings look isotropic."""
    d = W.shape[1]
    mu = W.mean(axis=0)
    if W.shape[0] < 2:
        return mu, np.eye(d)
    with np.errstate(over="ignore", invalid="ignore"):
        cov = np.cov(W, rowvar=False).reshape(d, d)
    spread = np.trace(cov) / d
    if not (np.isfinite(spread) and spread > 0):
        return mu, np.eye(d)      # all rows equal: nothing to whiten
    return mu, np.linalg.inv(cov + 1e-10 * spread * np.eye(d))


def whitening_factor(whiten):
    """``L`` with ``L Lᵀ ≈ Σ⁻¹`` (Cholesky of the symmetrised `whiten`), or
    None where it is not numerically positive definite."""
    try:
        return np.linalg.cholesky((whiten + whiten.T) / 2)
    except np.linalg.LinAlgError:
        return None
