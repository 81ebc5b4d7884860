"""HiGHS, called the way :func:`scipy.optimize.linprog` calls it, without
the per-call overhead.

The engine solves tens of thousands of small LPs (a few dozen rows) per
figure. For such an LP, ``scipy.optimize.linprog(method="highs")`` spends
about four fifths of its time outside the solver: it re-validates every
option through a fresh ``HighsOptionsManager``, converts the rows through
``scipy.sparse`` and fills the bound marginals in a Python loop. This module
hands the same model, with the same options, to the same solver (SciPy's
bundled HiGHS), so the answers are bit-for-bit those of ``linprog``
(``tests/test_feasibility.py`` checks it on recorded LPs), at about a
quarter of the cost.

SciPy's binding is private (``scipy.optimize._highspy._core``); where it is
missing or has changed, :func:`solve` falls back to ``linprog`` itself, which
gives the same answers, only slower.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import scipy.optimize

__all__: list[str] = []

try:                                   # SciPy's own HiGHS, as linprog uses it
    from scipy.optimize._highspy import _core as _h

    _INF = _h.kHighsInf
    _OPTIMAL = _h.HighsModelStatus.kOptimal
    _h.HighsLp, _h._Highs, _h.HighsOptions, _h.MatrixFormat.kColwise  # noqa: B018
except (ImportError, AttributeError):  # pragma: no cover - other SciPy layouts
    _h = None

# linprog's method names and the HiGHS solver each selects
_SOLVERS = {"highs": None, "highs-ds": "simplex", "highs-ipm": "ipm"}
# linprog's feasibility check of a returned optimum (scipy's _check_result:
# its default tol 1e-9, then sqrt(tol) * 10)
_CHECK_TOL = np.sqrt(1e-9) * 10


@functools.cache
def _options(method, items):
    """The HighsOptions linprog builds for `method` and `items`."""
    opts = _h.HighsOptions()
    # linprog's fixed choices (scipy.optimize._linprog_highs)
    opts.presolve = "on"
    opts.highs_debug_level = _h.HighsDebugLevel.kHighsDebugLevelNone
    opts.log_to_console = False
    opts.output_flag = False
    opts.simplex_strategy = _h.simplex_constants.SimplexStrategy.kSimplexStrategyDual
    if _SOLVERS[method] is not None:
        opts.solver = _SOLVERS[method]
    for key, value in items:
        setattr(opts, key, value)
    return opts


def _highs_inf(x):
    """`x` with ±inf as HiGHS's ±kHighsInf (scipy's ``_replace_inf``)."""
    x = x.copy()
    inf = np.isinf(x)
    x[inf] = np.sign(x[inf]) * _INF
    return x


def _failed(status, message):
    return SimpleNamespace(status=status, message=message, x=None, fun=None)


def solve(c, A_ub, b_ub, A_eq, b_eq, bounds, method, options):
    """``scipy.optimize.linprog(c, A_ub, b_ub, A_eq, b_eq, bounds,
    method=method, options=options)`` for dense rows: an object with
    ``status`` (0 at a checked optimum), ``message``, ``x``, ``fun`` and
    ``ineqlin.marginals``, ``eqlin.marginals`` as linprog gives them.

    Raises ``ValueError`` for rows or bounds with NaN or infinite entries,
    as linprog does.
    """
    if _h is None:                      # pragma: no cover
        return scipy.optimize.linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq,
                                      b_eq=b_eq, bounds=bounds, method=method,
                                      options=options)
    c = np.asarray(c, dtype=np.float64)
    n = c.size
    A_ub = np.asarray(A_ub, dtype=np.float64).reshape(-1, n)
    b_ub = np.asarray(b_ub, dtype=np.float64).ravel()
    if A_eq is None:
        A_eq, b_eq = np.zeros((0, n)), np.zeros(0)
    A_eq = np.asarray(A_eq, dtype=np.float64).reshape(-1, n)
    b_eq = np.asarray(b_eq, dtype=np.float64).ravel()
    A = np.vstack([A_ub, A_eq])
    lo = np.array([-np.inf if b is None or b[0] is None else b[0] for b in bounds],
                  dtype=np.float64)
    hi = np.array([np.inf if b is None or b[1] is None else b[1] for b in bounds],
                  dtype=np.float64)
    for name, x in (("c", c), ("A_ub/A_eq", A), ("b_ub", b_ub), ("b_eq", b_eq)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"linprog: {name} must hold finite numbers")
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise ValueError("linprog: bounds must not be NaN")
    # the column-wise sparse form scipy.sparse.csc_array gives (zeros dropped)
    cols, rows_ = np.nonzero(A.T)
    lp = _h.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = A.shape[0]
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = A.shape[0]
    lp.a_matrix_.format_ = _h.MatrixFormat.kColwise
    lp.col_cost_ = c
    lp.col_lower_ = _highs_inf(lo)
    lp.col_upper_ = _highs_inf(hi)
    lp.row_lower_ = np.concatenate([np.full(len(b_ub), -_INF), b_eq])
    lp.row_upper_ = np.concatenate([b_ub, b_eq])
    lp.a_matrix_.start_ = np.searchsorted(cols, np.arange(n + 1)).astype(np.int32)
    lp.a_matrix_.index_ = rows_.astype(np.int32)
    lp.a_matrix_.value_ = A.T[cols, rows_]

    highs = _h._Highs()
    highs.passOptions(_options(method, tuple(sorted(options.items()))))
    if highs.passModel(lp) == _h.HighsStatus.kError:
        return _failed(4, "model error")
    if highs.run() == _h.HighsStatus.kError or highs.getModelStatus() != _OPTIMAL:
        status = highs.getModelStatus()
        return _failed(2, f"model_status is {highs.modelStatusToString(status)}")
    sol = highs.getSolution()
    x = np.array(sol.col_value)
    fun = highs.getInfo().objective_function_value
    row_value = np.array(sol.row_value)
    slack = b_ub - row_value[:len(b_ub)]
    con = b_eq - row_value[len(b_ub):]
    # linprog's own check of the optimum it returns (status 4 if it fails)
    tol = _CHECK_TOL
    if (np.isnan(x).any() or np.isnan(fun) or np.isnan(slack).any()
            or np.isnan(con).any() or np.any(x < lo - tol) or np.any(x > hi + tol)
            or np.any(slack < -tol) or np.any(np.abs(con) > tol)):
        return _failed(4, "the solution does not satisfy the constraints within "
                          f"{tol:.2E}")
    dual = np.array(sol.row_dual)
    return SimpleNamespace(status=0, message="Optimization terminated successfully.",
                           x=x, fun=fun,
                           ineqlin=SimpleNamespace(marginals=dual[:len(b_ub)]),
                           eqlin=SimpleNamespace(marginals=dual[len(b_ub):]))
