"""The BLAS and LAPACK calls of the Gram path: its rank-b updates,
symmetric eigenvalues by LAPACK's two-stage reduction, through ctypes, and
the exact power-of-two scaling (LAPACK's ``dlascl``) that keeps every
spectrum and rank computable at any scale.

scipy wraps only the one-stage tridiagonal reduction; the Gram path of
:mod:`rankbottleneck.spectra` spends most of its eigen-solve there at
n ≥ 10³, so this module calls the two-stage routines of the OpenBLAS that
numpy ships, falling back to scipy's ``dsyevd`` where they are absent.
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.linalg
from scipy.linalg import lapack
from scipy.linalg.blas import dsyrk

from ._threads import _threaded

__all__: list[str] = []


# ---------------------------------------------------------------------------
# Scaling by powers of two
# ---------------------------------------------------------------------------
#
# A Gram matrix squares its entries and a power iteration squares the norm of
# a vector: in float64 both overflow beyond about 1e154 and lose their small
# values below about 1e-154, so spectra and ranks of ``s·A`` would not be
# ``s`` times those of ``A``. As LAPACK's ``dlascl`` does, data whose largest
# magnitude lies outside ``[2^-B, 2^B]`` (``B`` a fifth of the dtype's
# exponent range: 204 for float64) are first multiplied by ``2^-e``, with
# ``2^e`` their largest magnitude rounded to a power of two, and the singular
# values are multiplied back by ``2^e``. Multiplying by a power of two is
# exact (except for values that become subnormal, which are below every
# rank threshold by hundreds of orders of magnitude), so results do not
# depend on the scale, and data inside the band are left untouched: their
# results are bit for bit those of the unscaled code.


def _band(dtype=np.float64):
    dt = np.dtype(dtype)
    return np.finfo(dt if dt.kind == "f" else np.float64).maxexp // 5


def _peak(x):
    """``max |x|`` without a temporary the size of `x` (NaN if `x` has one;
    0 for an empty array)."""
    x = np.asarray(x)
    if x.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        return float(max(np.max(x), -np.min(x)))


def _all_finite(x):
    """Whether every entry of `x` is finite: one sum, no temporary (NaN and
    ±inf propagate through it; only a sum that overflows, of entries near
    the top of the range, needs the entrywise test)."""
    x = np.asarray(x)
    if x.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(x)):
            return True
    return bool(np.isfinite(x).all())


def _exponent(peak, dtype=np.float64):
    """The ``e`` such that data of largest magnitude `peak` are scaled by
    ``2^-e``: 0 inside the safe band (or for 0, inf, NaN: nothing to scale,
    or nothing scaling can save), else the exponent of `peak`, which brings
    the largest magnitude into ``[1/2, 1)``."""
    peak = float(peak)
    if not (peak > 0 and math.isfinite(peak)):
        return 0
    e = math.frexp(peak)[1]
    return 0 if -_band(dtype) <= e <= _band(dtype) else e


def _scaled(x, e):
    """``x · 2^-e`` exactly (a new array), or `x` itself when ``e == 0``."""
    if e == 0:
        return x
    with np.errstate(under="ignore", over="ignore"):
        return np.ldexp(x, -e)


def _unscaled(x, e):
    """``x · 2^e``: a value computed on data scaled by ``2^-e``, in the
    data's units (inf where it is not representable)."""
    if e == 0:
        return x
    with np.errstate(under="ignore", over="ignore"):
        out = np.ldexp(x, e)
    return float(out) if np.ndim(out) == 0 else out


def _format_scaled(x, e=0, spec=".3g"):
    """``x · 2^e`` formatted with `spec`, also where it overflows float64
    (then from its logarithm: ``6.71e+308``)."""
    x = float(x)
    value = _unscaled(x, e)
    if math.isfinite(value) or not math.isfinite(x) or x == 0:
        return format(value, spec)
    exp10 = math.log10(abs(x)) + e * math.log10(2)
    power = math.floor(exp10)
    digits = int(spec[1:-1]) if spec[1:-1].isdigit() else 3
    mantissa = round(10 ** (exp10 - power), max(0, digits - 1))
    if mantissa >= 10:
        mantissa, power = mantissa / 10, power + 1
    sign = "-" if x < 0 else ""
    return f"{sign}{mantissa:.{digits}g}e+{power}"


def _syrk_update(G, F):
    """``G += F Fᵀ`` on the upper triangle of the Fortran array `G`, in place.

    `F` (k × b) in C order is ``Fᵀ`` in Fortran order, hence ``trans=1``.
    """
    return dsyrk(1.0, np.ascontiguousarray(F).T, beta=1.0, c=G, trans=1, lower=0,
                 overwrite_c=1)


def _fortran_copy(X, out, shift=None, step=1024):
    """``out[...] = X`` (``X - shift`` with `shift` broadcast along the
    rows), `out` a Fortran array and `X` a C-ordered one: LAPACK's layout.

    numpy copies between the two orders entry by entry across the whole
    array; blocks of `step` rows, in threads, keep the reads and the writes
    local (SmolLM2's 49,152 × 576 head: 0.30 s down to 0.15 s). The same
    values either way.
    """
    def part(S):
        for a in range(S.start, S.stop, step):
            rows = slice(a, min(a + step, S.stop))
            if shift is None:
                out[rows] = X[rows]
            else:
                np.subtract(X[rows], shift, out=out[rows])
    _threaded(part, X.shape[0])
    return out


def _qr_r(A):
    """The ``k × n`` triangular factor ``R`` of ``A = QR`` (``k = min(m, n)``),
    the QR overwriting `A` when it is a float64 Fortran array.

    ``scipy.linalg.qr(A, mode="r")`` returns the ``m × n`` triangle (zeros
    below row ``k``), whose ``np.triu`` alone costs seconds and a second
    copy of ``A`` for a tall matrix (49,152 × 2,000: 4.3 s); ``mode="raw"``
    runs the same LAPACK call (``dgeqrf``, optimal workspace), so ``R`` is
    bit for bit the same.
    """
    (qr, _), _ = scipy.linalg.qr(A, mode="raw", overwrite_a=True, check_finite=False)
    return np.triu(qr[:min(A.shape)])


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
