r"""The streamed Gram pass and its refinement (see :mod:`rankbottleneck.spectra`).

``G = B Bᵀ`` accumulated in float64 over the column blocks of a source
(:mod:`rankbottleneck.spectra._sources`, or the cluster's), then
``eigh(G)``; the eigenvalues below ``√(κδ)`` are refined by passes over the
rotated rows ``F = Tᵀ B`` and the Schur complements of their Gram matrices.
The error analysis is in the package notes.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from .._lapack import _eigvalsh_lower, _exponent, _peak, _syrk_update
from .._progress import progress_bar
from ._power import _power_iteration

__all__: list[str] = []

_KAPPA = 1e4            # resolved: λ > κ δ, i.e. relative error ≤ 1/(2κ) in σ
_MAX_PASSES = 4         # refinement passes after the first Gram
_EPS = float(np.finfo(np.float64).eps)


def _gram(source, rotate=None, what="Gram", first=False, progress=None):
    """``(Σ_b F_b F_bᵀ, peak)`` with ``F_b = rotateᵀ B_b`` (or ``B_b``), in
    float64; `peak` is ``max |B|`` over the first pass (None for the others).

    Only the upper triangle is accumulated (``dsyrk``) into one Fortran
    array, then mirrored: one n×n matrix, no per-block temporaries of that size.
    A progress bar per pass when `progress` asks for one. A block that is not
    finite stops the first pass with ``source.overflow()``.
    """
    if hasattr(source, "gram"):         # its passes run elsewhere (a cluster)
        G, peak = source.gram(rotate, what, progress)
        if not math.isfinite(peak):
            raise source.overflow()
        return _mirror_upper(G), (peak if first else None)
    n = source.n if rotate is None else rotate.shape[1]
    G = np.zeros((n, n), order="F")
    peak, look = 0.0, first and source.peak is None
    with progress_bar(-(-source.m // source.width), f"spectrum, {what}", progress,
                      unit="block") as bar:
        for blk in source.first() if first else source.blocks():
            if look:
                peak = max(peak, _peak(blk))
                if not math.isfinite(peak):
                    raise source.overflow()
            G = _syrk_update(G, blk if rotate is None else rotate.T @ blk)
            bar.update()
    _mirror_upper(G)
    if not first:
        return G, None
    return G, (peak if look else float(source.peak()))


def _mirror_upper(G, step=1024):
    """Copy the upper triangle of a square array onto its lower one, in place."""
    n = G.shape[0]
    for j in range(0, n, step):
        w = min(step, n - j)
        G[j + w:, j:j + w] = G[j:j + w, j + w:].T
        D = G[j:j + w, j:j + w]
        D[...] = np.triu(D) + np.triu(D, 1).T
    return G


def _positive_definite_above(G, shift):
    """Whether ``G - shift·I`` is positive definite; `G` is left unchanged.

    ``dpotrf`` works on the lower triangle in place; the upper triangle and
    the saved diagonal restore it. Cost ``n³/3``, at matrix-product speed.
    """
    diag = np.diag(G).copy()
    G[np.diag_indices_from(G)] -= shift
    _, info = lapack.dpotrf(G, lower=1, clean=0, overwrite_a=1)
    _mirror_upper(G)
    G[np.diag_indices_from(G)] = diag
    return info == 0


def _schur_eigh(Gp, r):
    """Eigen-pairs of the Schur complement of ``Gp[:r, :r]`` in ``Gp``."""
    Gzz = Gp[r:, r:]
    if r == 0:
        S = Gzz
    else:
        Grr, Grz = Gp[:r, :r], Gp[:r, r:]
        # Grr is graded (λ_1 … κδ): scale to unit diagonal before Cholesky
        dg = np.sqrt(np.diag(Grr))
        L = scipy.linalg.cholesky(Grr / np.outer(dg, dg), lower=True)
        X = scipy.linalg.solve_triangular(L, Grz / dg[:, None], lower=True)
        S = Gzz - X.T @ X
    mu, V = scipy.linalg.eigh(S, driver="evd", check_finite=False)
    return mu[::-1], V[:, ::-1]


def _gram_spectrum(source, clock, progress=None):
    """``(values, errors, passes, notes)`` of the source's matrix, all in
    units of ``2^source.exponent``."""
    n, m = source.n, source.m
    G, peak = _gram(source, first=True, progress=progress)
    clock.lap("pass 1: blocks and Gram")
    e = _exponent(peak)
    if e:
        # entries far from 1: their squares would overflow or underflow in G
        # (and in the power iteration): the pass again, scaled by 2^-e
        source.rescale(source.exponent + e)
        source.prepare_passes += 1
        G, _ = _gram(source, first=True, progress=progress)
        clock.lap(f"pass 1 again, scaled by 2^{-source.exponent}")
    G = source.finish(G)
    passes = 1
    # δ: the eigenvalue error of a Gram matrix of m-term inner products,
    # ε √m λ_1 (rounding errors add like a random walk; eigh adds ~ε λ_1)
    lam1 = 1.05 * _power_iteration(G.__matmul__, n)
    delta = _EPS * math.sqrt(m) * lam1
    if lam1 == 0.0:
        return np.zeros(n), np.zeros(n), passes, "a zero matrix"
    resolved = _positive_definite_above(G, _KAPPA * delta)
    clock.lap("λ_1 and Cholesky test")
    if resolved:
        sigma = np.sqrt(_eigvalsh_lower(G))
        clock.lap("eigenvalues")
        return sigma, delta / (2 * sigma), passes, (
            f"every λ of the Gram matrix above κδ = {_KAPPA:.0e}·ε√m·λ_1; "
            "no refinement needed")
    lam, T = scipy.linalg.eigh(G, overwrite_a=True, check_finite=False,
                               driver="evd")
    del G
    clock.lap("eigenvectors")
    lam, T = lam[::-1], np.asfortranarray(T[:, ::-1])
    sigma1 = math.sqrt(max(lam[0], 0.0))
    # σ below ε σ_1 / 10 is rounding noise of B itself (the dense SVD's own
    # error is ~ε σ_1): once the unresolved part lies there, stop
    noise = (_EPS * sigma1 / 10) ** 2
    r = int(np.sum(lam > _KAPPA * delta))
    values = list(np.sqrt(lam[:r]))
    errors = list(delta / (2 * np.sqrt(lam[:r])))
    levels = 0
    while r < n and levels < _MAX_PASSES:
        Gp, _ = _gram(source, rotate=T, what=f"refinement {levels + 1}",
                      progress=progress)
        passes += 1
        levels += 1
        mu, V = _schur_eigh(Gp, r)
        del Gp
        mu_max = max(float(mu[0]), 0.0)
        d_s = _EPS * math.sqrt(m) * max(float(np.sum(np.maximum(mu, 0))), mu_max)
        if _KAPPA * d_s <= noise or levels == _MAX_PASSES:
            new = len(mu)
        else:
            new = int(np.sum(mu > _KAPPA * d_s))
        s_new = np.sqrt(np.maximum(mu[:new], 0.0))
        values += list(s_new)
        # Gram error d_s in σ², at most √d_s in σ; plus B's own rounding
        err = np.minimum(d_s / (2 * np.maximum(s_new, 1e-300)), math.sqrt(d_s))
        errors += list(err + _EPS * sigma1)
        T[:, r:] = T[:, r:] @ V                   # resolved first, then the rest
        r += new
        clock.lap(f"refinement pass {levels}")
    order = np.argsort(values)[::-1]
    return (np.asarray(values)[order], np.asarray(errors)[order], passes,
            f"{levels} refinement pass(es) for the σ below √(κδ)")
