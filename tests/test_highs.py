"""The engine's direct HiGHS call gives bit-for-bit what
``scipy.optimize.linprog`` gives on the same LPs (it only skips linprog's
per-call overhead)."""

import numpy as np
import pytest
import scipy.optimize

import rankbottleneck as rb
from rankbottleneck.feasibility import _highs
from rankbottleneck.synthetic import embeddings


@pytest.fixture(scope="module")
def recorded():
    """The LPs the engine solves on small set, ordering and argmax questions
    (with and without a bias, feasible and infeasible, every LP kind)."""
    lps = []
    solve = _highs.solve

    def recording(*args):
        lps.append(args)
        return solve(*args)

    rng = np.random.default_rng(0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_highs, "solve", recording)
        for d in (2, 5):
            W = embeddings(10, d, kind="gaussian", seed=d)
            for b in (None, rng.standard_normal(10)):
                rb.realizable_fraction(W, 3, b, question="order", max_enumerate=100,
                                       n_samples=60, seed=1, progress=False)
                rb.realizable_fraction(W, 2, b, question="set", progress=False)
            rb.argmaxable(embeddings(100, d, kind="gaussian", seed=d), seed=0)
    return lps


def test_direct_highs_equals_linprog_bit_for_bit(recorded):
    assert len(recorded) > 200
    methods = set()
    for c, A_ub, b_ub, A_eq, b_eq, bounds, method, options in recorded:
        methods.add(method)
        mine = _highs.solve(c, A_ub, b_ub, A_eq, b_eq, bounds, method, options)
        ref = scipy.optimize.linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                                     bounds=bounds, method=method, options=options)
        assert mine.status == ref.status
        if ref.status == 0:
            assert mine.fun == ref.fun
            np.testing.assert_array_equal(mine.x, ref.x)
            np.testing.assert_array_equal(mine.ineqlin.marginals, ref.ineqlin.marginals)
            np.testing.assert_array_equal(mine.eqlin.marginals, ref.eqlin.marginals)
    assert "highs" in methods


@pytest.mark.parametrize("method", ["highs", "highs-ds", "highs-ipm"])
def test_every_method_and_status_as_linprog(method):
    # optimal with bounds and equalities, infeasible, unbounded
    cases = [
        ([-1.0, -2.0], [[1.0, 1.0]], [4.0], [[1.0, -1.0]], [1.0], [(0, None), (None, 3.0)]),
        ([1.0, 1.0], [[1.0, 1.0]], [-1.0], None, None, [(0, None), (0, None)]),
        ([-1.0, 0.0], [[0.0, 1.0]], [1.0], None, None, [(None, None), (None, None)]),
    ]
    for c, A_ub, b_ub, A_eq, b_eq, bounds in cases:
        mine = _highs.solve(c, A_ub, b_ub, A_eq, b_eq, bounds, method, {})
        ref = scipy.optimize.linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                                     bounds=bounds, method=method)
        assert (mine.status == 0) == (ref.status == 0)
        if ref.status == 0:
            np.testing.assert_array_equal(mine.x, ref.x)
            assert mine.fun == ref.fun


def test_non_finite_rows_are_refused_like_linprog():
    for bad in (np.inf, np.nan):
        with pytest.raises(ValueError):
            _highs.solve([1.0], [[bad]], [1.0], None, None, [(None, None)], "highs", {})
        with pytest.raises(ValueError):
            scipy.optimize.linprog([1.0], A_ub=[[bad]], b_ub=[1.0], bounds=[(None, None)])
