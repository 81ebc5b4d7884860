"""Unit-scale data without changing the question.

Multiplying ``W`` and ``b`` by the same power of two is exact in binary
floating point (while nothing overflows or underflows) and multiplies every
score ``z = W x + b`` by it: the same contexts order the words the same way,
and a certificate's multipliers stay valid. The solvers and candidate
generators therefore see data whose largest entry lies in ``[1/2, 1)``:
their tolerances are absolute (HiGHS's feasibility tolerances, a ridge, a
step size), and on unit-scale data they mean what they say.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

#: data whose largest entry is within 2**±MODERATE of 1 are left as they are
#: (the solvers' tolerances are fine there, and results stay bit-identical
#: to unscaled runs)
MODERATE = 20


def unit_exponent(*arrays):
    """``k`` with ``max |entries| · 2**-k`` in ``[1/2, 1)``, or 0 when the
    data are of moderate scale already (``|k| ≤`` :data:`MODERATE`), when
    that scaling would not be exact (an entry would lose bits to underflow)
    or the data are all zero."""
    top = max((float(np.max(np.abs(a), initial=0.0)) for a in arrays), default=0.0)
    if top == 0.0 or not np.isfinite(top):
        return 0
    k = int(np.frexp(top)[1])
    if abs(k) <= MODERATE:
        return 0
    if k > 0:
        for a in arrays:
            if not np.array_equal(np.ldexp(np.ldexp(a, -k), k), a):
                return 0
    return k


def to_unit(W, b):
    """``(W, b) · 2**-k`` and ``k`` (see :func:`unit_exponent`)."""
    k = unit_exponent(W, b)
    if k == 0:
        return W, b, 0
    return np.ldexp(W, -k), np.ldexp(b, -k), k
