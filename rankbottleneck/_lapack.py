"""The BLAS and LAPACK calls of the Gram path: its rank-b updates, and
symmetric eigenvalues by LAPACK's two-stage reduction, through ctypes.

scipy wraps only the one-stage tridiagonal reduction; the Gram path of
:mod:`rankbottleneck.spectra` spends most of its eigen-solve there at
n ≥ 10³, so this module calls the two-stage routines of the OpenBLAS that
numpy ships, falling back to scipy's ``dsyevd`` where they are absent.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.linalg import lapack
from scipy.linalg.blas import dsyrk

__all__: list[str] = []


def _syrk_update(G, F):
    """``G += F Fᵀ`` on the upper triangle of the Fortran array `G`, in place.

    `F` (k × b) in C order is ``Fᵀ`` in Fortran order, hence ``trans=1``.
    """
    return dsyrk(1.0, np.ascontiguousarray(F).T, beta=1.0, c=G, trans=1, lower=0,
                 overwrite_c=1)

_TWO_STAGE = []
_BAND = 64              # band width of the two-stage reduction (see below)
_TWO_STAGE_MIN = 1000   # below this n, the one-stage dsyevd is as fast


def _two_stage():
    """LAPACK's two-stage tridiagonal reduction from numpy's OpenBLAS.

    scipy wraps only the one-stage ``dsytrd``, half of whose work is
    matrix-vector products. The two-stage reduction (``dsytrd_sy2sb`` to a
    band of width `kd` by matrix-matrix products, then ``dsytrd_sb2st`` by
    bulge chasing inside the band) is faster at n ≥ 10³. Called directly
    rather than through ``dsyevd_2stage``, which picks ``kd = 32``: at
    n = 10⁴ on this machine that took 52 s, against 38 s for ``kd = 64``
    (48 gives the same, 96 makes the bulge chasing spill out of cache:
    69 s). The routines are looked up in the OpenBLAS numpy ships (ILP64,
    Fortran interface, hidden string lengths last); where they are absent,
    None, and the caller uses scipy's ``dsyevd``.
    """
    if _TWO_STAGE:
        return _TWO_STAGE[0]
    found = None
    try:
        import ctypes
        import glob

        libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "libscipy_openblas64_*.so"))):
            lib = ctypes.CDLL(path)
            names = ("scipy_dsytrd_sy2sb_64_", "scipy_dsytrd_sb2st_64_",
                     "scipy_dsterf_64_")
            if all(hasattr(lib, name) for name in names):
                found = tuple(getattr(lib, name) for name in names)
                break
    except OSError:  # pragma: no cover - platform dependent
        found = None
    _TWO_STAGE.append(found)
    return found


def _eigvalsh_lower(G):
    """Eigenvalues of the symmetric Fortran array `G`, decreasing.

    Only the lower triangle is read, and overwritten (with Householder
    vectors); the strict upper triangle is left as it was.
    """
    n = G.shape[0]
    routines = _two_stage() if n >= _TWO_STAGE_MIN else None
    if routines is None or not (G.flags.f_contiguous and G.dtype == np.float64):
        w, _, info = lapack.dsyevd(G, compute_v=0, lower=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"dsyevd failed (info = {info})")
        return w[::-1]
    import ctypes

    sy2sb, sb2st, sterf = routines
    i64, ptr = ctypes.c_int64, (lambda a: a.ctypes.data_as(ctypes.c_void_p))
    one = ctypes.c_size_t(1)          # length of each CHARACTER*1 argument
    kd = min(_BAND, n - 1)
    ab = np.zeros((kd + 1, n), order="F")
    tau, d, e = np.empty(n), np.empty(n), np.empty(n)
    info, query, hquery = i64(0), np.zeros(1), np.zeros(1)
    N, KD, LD, MINUS1 = (ctypes.byref(i64(v)) for v in (n, kd, kd + 1, -1))

    def check(name):
        if info.value != 0:
            raise np.linalg.LinAlgError(f"{name} failed (info = {info.value})")

    sy2sb(b"L", N, KD, ptr(G), N, ptr(ab), LD, ptr(tau), ptr(query), MINUS1,
          ctypes.byref(info), one)
    work = np.empty(max(1, int(query[0])))
    sy2sb(b"L", N, KD, ptr(G), N, ptr(ab), LD, ptr(tau), ptr(work),
          ctypes.byref(i64(work.size)), ctypes.byref(info), one)
    check("dsytrd_sy2sb")
    sb2st(b"Y", b"N", b"L", N, KD, ptr(ab), LD, ptr(d), ptr(e), ptr(hquery),
          MINUS1, ptr(query), MINUS1, ctypes.byref(info), one, one, one)
    hous, work = np.empty(max(1, int(hquery[0]))), np.empty(max(1, int(query[0])))
    sb2st(b"Y", b"N", b"L", N, KD, ptr(ab), LD, ptr(d), ptr(e), ptr(hous),
          ctypes.byref(i64(hous.size)), ptr(work), ctypes.byref(i64(work.size)),
          ctypes.byref(info), one, one, one)
    check("dsytrd_sb2st")
    sterf(N, ptr(d), ptr(e), ctypes.byref(info))
    check("dsterf")
    return d[::-1]                     # dsterf sorts them increasing
