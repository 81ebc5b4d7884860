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
from scipy.linalg import blas, lapack

from .._lapack import _eigvalsh_lower, _exponent, _peak, _syrk_update
from .._progress import progress_bar
from ._power import _power_iteration

__all__: list[str] = []

_KAPPA = 1e4            # resolved: λ > κ δ, i.e. relative error ≤ 1/(2κ) in σ
_MAX_PASSES = 4         # refinement passes after the first Gram
_EPS = float(np.finfo(np.float64).eps)


def _gram(source, rotate=None, what="Gram", first=False, progress=None,
          transform=None):
    """``(Σ_b F_b F_bᵀ, peak)`` with ``F_b = rotateᵀ B_b`` (or
    ``transform(B_b)``, or ``B_b``), in float64; `peak` is ``max |B|`` over
    the first pass (None for the others).

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
            if transform is not None:
                blk = transform(blk)
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


def _schur(Gp, r, lower_only=False):
    """``(S, L, X)``: the Schur complement ``S`` of ``Gp[:r, :r]`` in ``Gp``,
    with the Cholesky factor ``L`` of the unit-diagonal ``Grr`` and
    ``X = L⁻¹ Grz / dg`` (``S = Gzz - XᵀX``); ``L = X = None`` for ``r = 0``.

    With `lower_only`, ``S`` is a Fortran array of which only the lower
    triangle holds the complement: one rank-``r`` ``dsyrk`` on a copy of
    ``Gzz`` instead of the full products ``XᵀX`` and ``Gzz - XᵀX`` (at
    n = 10⁴, 0.8 GB each: 4 s down to 1 s).
    """
    Gzz = Gp[r:, r:]
    if r == 0:
        return Gzz, None, None
    Grr, Grz = Gp[:r, :r], Gp[:r, r:]
    # Grr is graded (λ_1 … κδ): scale to unit diagonal before Cholesky
    dg = np.sqrt(np.diag(Grr))
    L = scipy.linalg.cholesky(Grr / np.outer(dg, dg), lower=True)
    X = scipy.linalg.solve_triangular(L, Grz / dg[:, None], lower=True)
    if lower_only:
        S = blas.dsyrk(-1.0, X, beta=1.0, c=np.asfortranarray(Gzz), trans=1,
                       lower=1, overwrite_c=1)
        return S, L, X
    return Gzz - X.T @ X, L, X


def _schur_eigh(Gp, r):
    """Eigen-pairs of the Schur complement of ``Gp[:r, :r]`` in ``Gp``."""
    S = _schur(Gp, r)[0]
    mu, V = scipy.linalg.eigh(S, driver="evd", check_finite=False)
    return mu[::-1], V[:, ::-1]


def _ritz_above(G, threshold, delta, k0=32, max_iter=8):
    """Ritz vectors of ``G`` for the eigenvalues above `threshold`, by
    subspace iteration with Rayleigh–Ritz from a fixed random start.

    Returns ``X`` (n × r, orthonormal columns) once every one of its ``r``
    Ritz pairs has a residual ``‖G x - θ x‖ ≤ δ`` (the Gram matrix's own
    error) and the block held a Ritz value at or below `threshold` (so that
    the block is larger than what lies above it; a block whose values all
    lie above is doubled, keeping what it found); None when that needs a
    block of more than n/8 columns or more than `max_iter` steps at one
    size: there is no small resolved part to deflate.
    """
    n = G.shape[0]
    rng = np.random.default_rng(0)
    k = min(k0, n)
    X = np.linalg.qr(rng.standard_normal((n, k)))[0]
    steps = 0
    while steps < max_iter:
        Y = G @ X
        theta, W = np.linalg.eigh(X.T @ Y)
        theta, W = theta[::-1], W[:, ::-1]
        r = int(np.sum(theta > threshold))
        if r == k:                              # the block is too small
            if k >= max(k0, n // 8) or k == n:
                return None
            grow = min(k, n - k)
            X = np.linalg.qr(np.hstack([Y, rng.standard_normal((n, grow))]))[0]
            k, steps = k + grow, 0
            continue
        Xr, Yr = X @ W[:, :r], Y @ W[:, :r]
        if np.all(np.linalg.norm(Yr - Xr * theta[:r], axis=0) <= delta):
            return Xr
        X = np.linalg.qr(Y)[0]
        steps += 1
    return None


def _householder_wy(T):
    """``(V, Tw)`` with ``Q = I - V Tw Vᵀ`` orthogonal and its first ``r``
    columns spanning those of `T` (n × r): LAPACK's Householder QR of `T`
    in the compact WY form (Schreiber & Van Loan 1989), so that ``Qᵀ B``
    costs two thin products. ``Tw`` by the ``dlarft`` recurrence
    ``Tw_j = [[Tw_{j-1}, -τ_j Tw_{j-1} V_{:j}ᵀ v_j], [0, τ_j]]``."""
    qr, tau, _, info = lapack.dgeqrf(T)
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf failed (info = {info})")
    r = T.shape[1]
    V = np.tril(qr, -1)
    V[np.arange(r), np.arange(r)] = 1.0
    VtV = V.T @ V
    Tw = np.zeros((r, r))
    for j in range(r):
        Tw[:j, j] = -tau[j] * (Tw[:j, :j] @ VtV[:j, j])
        Tw[j, j] = tau[j]
    return np.ascontiguousarray(V), Tw


def _deflated_spectrum(source, G, delta, clock, progress=None):
    r"""The spectrum when ``G`` leaves eigenvalues unresolved but only a few
    lie above ``κδ``: one pass over ``F = Qᵀ B`` with ``Q`` the Householder
    completion of their Ritz vectors, instead of eigenvectors of all of
    ``G``. ``(values, errors, notes)`` or None (no small resolved part).

    With ``Q = [T_R, T_Z]`` orthogonal, ``F F ᵀ = Qᵀ B Bᵀ Q = L D Lᵀ`` with
    ``D = diag(F_R F_Rᵀ, S)``, ``S`` the Schur complement and
    ``L = [[I, 0], [X, I]]``, ``X = F_Z F_Rᵀ (F_R F_Rᵀ)⁻¹``: exact block
    elimination, for any ``T_R``. By Ostrowski's theorem the eigenvalues of
    ``D`` are those of ``BBᵀ`` times factors in ``[(1 + η)^{-2},
    (1 + η)²]``, ``η = ‖X‖_F`` (``σ(L)`` lies in ``[1/(1 + η), 1 + η]``),
    which the pass measures: ``η ≈ ‖G T_R - T_R Θ‖ / λ_r ≤ 1/κ`` for Ritz
    vectors converged to the Gram matrix's error. Both blocks come from
    ``F`` computed from ``B`` directly, so ``S`` is accurate relative to
    its own norm (as in the refinement passes): its eigenvalues carry an
    absolute error ``d_S = ε √m tr(S)``, at most ``√d_S`` in ``σ``. The
    result is returned only when ``η ≤ 1/κ`` and ``√d_S ≤ ε σ_1 √n``, the
    dense SVD's own error: then no value is less certain than LAPACK's
    (else None, and the caller takes the dense SVD). Applying ``r`` Householder
    reflectors costs ``4 n m r`` flops, not the ``2 n² m`` of a full
    rotation, and no ``n × n`` eigenvectors are computed: for a low-rank
    signal under noise (``analyses/noise_fragility.py``) this is one more
    Gram pass and one eigenvalue solve.
    """
    n, m = source.n, source.m
    T = _ritz_above(G, _KAPPA * delta, delta)
    clock.lap("Ritz vectors above κδ")
    if T is None:
        return None
    r = T.shape[1]
    V, Tw = _householder_wy(T)

    def householder(blk):
        # F_b = Qᵀ B_b = B_b - V Twᵀ Vᵀ B_b: two thin products, C order (the
        # difference written over the product: one block-sized array)
        F = V @ (Tw.T @ (V.T @ blk))
        return np.subtract(blk, F, out=F)

    Gp, _ = _gram(source, what="deflated pass", progress=progress,
                  transform=householder)
    S, L, X = _schur(Gp, r, lower_only=True)
    # η = ‖F_Z F_Rᵀ (F_R F_Rᵀ)⁻¹‖_F = ‖D⁻¹ L⁻ᵀ X‖_F with D = diag(dg)
    dg = np.sqrt(np.diag(Gp[:r, :r]))
    eta = float(np.linalg.norm(
        scipy.linalg.solve_triangular(L, X, lower=True, trans="T") / dg[:, None]))
    lam_r = np.sort(scipy.linalg.eigvalsh(Gp[:r, :r]))[::-1]
    del Gp
    clock.lap("deflated pass")
    sigma_r = np.sqrt(np.maximum(lam_r, 0.0))
    sigma1 = float(sigma_r[0])
    # S's Gram error: ε √m Σ_i ‖f_i‖² = ε √m tr(S) (entrywise ε √m ‖f_i‖‖f_j‖)
    d_s = _EPS * math.sqrt(m) * max(float(np.trace(S)), 0.0)
    if not (eta <= 1 / _KAPPA and math.sqrt(d_s) <= _EPS * sigma1 * math.sqrt(n)):
        # the rest still spans too many decades for one pass (its smallest
        # values would carry more than the dense SVD's error ε σ_1 √n)
        return None
    mu = _eigvalsh_lower(S)
    del S
    clock.lap("eigenvalues")
    s_new = np.sqrt(np.maximum(mu, 0.0))
    factor = (1 + eta) ** 2 - 1                 # relative, from Ostrowski
    values = np.concatenate([sigma_r, s_new])
    errors = np.concatenate([
        delta / (2 * np.maximum(sigma_r, 1e-300)),
        np.minimum(d_s / (2 * np.maximum(s_new, 1e-300)), math.sqrt(d_s))
        + _EPS * sigma1]) + factor * values
    order = np.argsort(values)[::-1]
    return values[order], errors[order], (
        f"{r} σ above √(κδ) deflated (Householder), the other {n - r} from "
        f"one pass over the rest; η = {eta:.1e}")


def _gram_spectrum(source, clock, progress=None, deflate=False, dense_fallback=False):
    """``(values, errors, passes, notes)`` of the source's matrix, all in
    units of ``2^source.exponent``.

    With `deflate` (a matrix, under ``method="auto"``), a first pass that
    leaves eigenvalues unresolved is followed by :func:`_deflated_spectrum`;
    where that does not apply, None is returned with `dense_fallback` (the
    caller takes the dense SVD, faster than refinement passes there: see
    ``_auto``), else the refinement passes follow.
    """
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
    if deflate:
        found = _deflated_spectrum(source, G, delta, clock, progress)
        if found is not None:
            return found[0], found[1], passes + 1, found[2]
        if dense_fallback:
            return None
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
