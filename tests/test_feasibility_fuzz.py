"""Every decided answer of the feasibility engine against an independent exact
decision (issue 23): sympy's simplex on the rational values of the very
floats the engine was given.

The strict system "these scores above those" at some context ``x`` is
feasible iff ``max t`` subject to ``z_a - z_c ≥ t`` for every required pair
and ``t ≤ 1`` is positive; sympy solves that LP in exact rational arithmetic,
so its answer is the truth for the data, at any scale. The engine must
agree wherever it decides, must decide, and must raise nothing but
ValueError/TypeError.

The suite runs a fixed set of 100 cases (derandomized, so that a run
is reproducible); ``RB_FUZZ_EXAMPLES=2000`` runs that many fresh ones.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rankbottleneck as rb

# hypothesis's failure report touches a deprecated mypy_extensions API
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions:DeprecationWarning")

sympy = pytest.importorskip("sympy")
from sympy import Rational  # noqa: E402
from sympy.solvers.simplex import lpmax  # noqa: E402

EXAMPLES = int(os.environ.get("RB_FUZZ_EXAMPLES", "0")) or None


def _rational(v):
    return Rational(*float(v).as_integer_ratio())


def exact_feasible(W, b, tiers):
    """The truth: is there a context putting each tier above the next and the
    last above every other word (sympy's exact simplex, ``lpmax``, whose
    variables are free)?"""
    M, d = W.shape
    chosen = [w for t in tiers for w in t]
    rest = [j for j in range(M) if j not in chosen]
    pairs = [(a, c) for up, low in zip(tiers[:-1], tiers[1:]) for a in up for c in low]
    pairs += [(a, c) for a in tiers[-1] for c in rest]
    if not pairs:
        return True
    Wr = [[_rational(v) for v in row] for row in W]
    br = [_rational(v) for v in b]
    x = sympy.symbols(f"x0:{d}")
    t = sympy.Symbol("t")
    cons = [sum((Wr[a][k] - Wr[c][k]) * x[k] for k in range(d)) + br[a] - br[c] >= t
            for a, c in pairs]
    cons = [c for c in cons if c is not sympy.true] + [t <= 1]
    if any(c is sympy.false for c in cons):
        return False
    value, _ = lpmax(t, cons)
    return bool(value > 0)


@st.composite
def layers(draw):
    M = draw(st.integers(2, 8))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["float", "integer", "interior", "duplicate",
                                 "collinear"]))
    if kind == "integer":
        W = rng.integers(-3, 4, size=(M, d)).astype(float)
    else:
        W = rng.standard_normal((M, d))
    if kind == "interior" and M >= 4:
        j = rng.choice(M - 1, size=3, replace=False)
        W[-1] = rng.dirichlet(np.ones(3)) @ W[j]
    elif kind == "duplicate":
        W[-1] = W[0]
    elif kind == "collinear":
        W[-1] = 0.5 * (W[0] + W[1])
    bias = None
    if draw(st.booleans()):
        bias = (rng.integers(-2, 3, size=M).astype(float) if kind == "integer"
                else rng.standard_normal(M))
    scale = 10.0 ** draw(st.integers(-300, 300))
    W = W * scale
    if bias is not None:
        bias = bias * scale
    if not (np.all(np.isfinite(W)) and (bias is None or np.all(np.isfinite(bias)))):
        W = W / scale
        bias = None if bias is None else bias / scale
    return W, bias, rng


@settings(max_examples=EXAMPLES or 100, derandomize=EXAMPLES is None, deadline=None,
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_every_decided_answer_is_the_exact_one(case):
    W, bias, rng = case
    M = W.shape[0]
    b = np.zeros(M) if bias is None else bias
    rep = rb.argmaxable(W, bias)
    assert len(rep.verify(W, bias)) == 0
    for i in range(M):
        truth = exact_feasible(W, b, [[i]])
        assert rep.status[i] == int(truth), (i, rep.status[i], truth)
    if M >= 3:
        k = int(rng.integers(1, M))
        words = sorted(rng.choice(M, size=k, replace=False).tolist())
        got = rb.realizable_set(W, words, bias)
        assert got.feasible == exact_feasible(W, b, [words]), (words, got)
        assert got.verify(W, bias)
        order = rng.permutation(M)[:min(3, M - 1)].tolist()
        got = rb.realizable_order(W, order, bias)
        assert got.feasible == exact_feasible(W, b, [[w] for w in order]), (order, got)
        assert got.verify(W, bias)


def test_the_issue_cases():
    """The wrong refusals and crashes the issue reported."""
    r = rb.realizable_set(1e-200 * np.eye(2), [0])
    assert r.feasible is True and r.verify(1e-200 * np.eye(2))
    assert rb.argmaxable(1e-200 * np.eye(2)).mask.all()
    assert rb.argmaxable([[1e200, 0], [0, 1], [-1, -1]]).mask.all()
    assert rb.realizable_set([[1e-160], [-1e-160]], [0]).feasible is True
    W = np.random.default_rng(0).standard_normal((13, 3))
    with pytest.raises(ValueError, match="W must have shape"):
        rb.argmaxable(W).verify(W[:12])
    rep = rb.realizable_set(W, [0, 1])
    with pytest.raises(ValueError, match="W must have"):
        rep.verify(W[:1, :2])


@pytest.mark.parametrize("s", [1e-300, 1e-150, 1e-8, 1.0, 1e150, 1e300])
def test_answers_do_not_depend_on_scale_shift_or_basis(s):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((12, 3))
    W[-1] = W[:3].mean(axis=0)                     # an interior word
    b = 0.3 * rng.standard_normal(12)
    ref = rb.argmaxable(W, b)
    assert len(ref.undecided) == 0
    A = np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.1, 0.0, 1.5]])
    for Wt, bt in ((s * W, s * b), (W + 7.0, b + 3.0), (W @ A, b)):
        rep = rb.argmaxable(Wt, bt)
        np.testing.assert_array_equal(rep.mask, ref.mask)
        assert len(rep.undecided) == 0 and len(rep.verify(Wt, bt)) == 0
        for words in ([0, 1], [2, 11], [3]):
            assert (rb.realizable_set(Wt, words, bt).feasible
                    == rb.realizable_set(W, words, b).feasible)
