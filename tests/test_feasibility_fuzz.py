"""Every decided answer of the feasibility engine against an independent exact
decision (issue 23): sympy's simplex on the rational values of the very
floats the engine was given.

The strict system "these scores above those" at some context ``x`` is
feasible iff ``max t`` subject to ``z_a - z_c ≥ t`` for every required pair
and ``t ≤ 1`` is positive; sympy solves that LP in exact rational arithmetic,
so its answer is the truth for the data, at any scale. Its contexts are
checked by substitution; its "no" is not trusted (it has returned infeasible
optima) and is decided by exact Fourier–Motzkin elimination instead (past
that method's size limit, the question is not counted). The engine must
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
from rankbottleneck.feasibility import _scores

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
    last above every other word? A context from sympy's exact simplex
    (``lpmax``, whose variables are free), checked by substitution, or else
    Fourier–Motzkin elimination; None when neither can say."""
    M, d = W.shape
    chosen = [w for t in tiers for w in t]
    rest = [j for j in range(M) if j not in chosen]
    pairs = [(a, c) for up, low in zip(tiers[:-1], tiers[1:]) for a in up for c in low]
    pairs += [(a, c) for a in tiers[-1] for c in rest]
    if not pairs:
        return True
    Wr = [[_rational(v) for v in row] for row in W]
    br = [_rational(v) for v in b]
    rows = [([Wr[a][k] - Wr[c][k] for k in range(d)], br[a] - br[c]) for a, c in pairs]
    # sympy's simplex finds a context quickly, and a context is checked by
    # substitution; a "no" from it is not trusted (its simplex can return an
    # infeasible optimum) and goes to Fourier–Motzkin elimination
    x = sympy.symbols(f"x0:{d}")
    t = sympy.Symbol("t")
    cons = [sum(a[k] * x[k] for k in range(d)) + c >= t for a, c in rows]
    cons = [c for c in cons if c is not sympy.true] + [t <= 1]
    try:
        if not any(c is sympy.false for c in cons):
            value, point = lpmax(t, cons)
            xs = [Rational(point.get(v, 0)) for v in x]
            if all(sum(a[k] * xs[k] for k in range(d)) + c > 0 for a, c in rows):
                return True
    except Exception:       # sympy's simplex can fail ("oscillating system")
        pass
    return fourier_motzkin(rows)


def fourier_motzkin(rows, limit=20000):
    """Is ``{x : a·x + c > 0 for every (a, c)}`` non-empty? Exact
    Fourier–Motzkin elimination (a second, independent reference, for the
    cases sympy's simplex fails on); None if it grows past `limit` rows."""
    rows = [(list(a), c) for a, c in rows]
    while rows and rows[0][0]:
        pos = [(a, c) for a, c in rows if a[-1] > 0]
        neg = [(a, c) for a, c in rows if a[-1] < 0]
        zero = [(a[:-1], c) for a, c in rows if a[-1] == 0]
        if len(pos) * len(neg) + len(zero) > limit:
            return None
        new = set()
        for ap, cp in pos:
            for an, cn in neg:
                # eliminate the last variable: a positive combination of a
                # strict row with a positive and one with a negative
                # coefficient
                f, g = -an[-1], ap[-1]
                a = tuple(f * x + g * y for x, y in zip(ap[:-1], an[:-1]))
                new.add((a, f * cp + g * cn))
        rows = zero + [(list(a), c) for a, c in new]
    return all(c > 0 for _, c in rows)


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
    _check_against_exact(case)


@settings(max_examples=EXAMPLES or 40, derandomize=EXAMPLES is None, deadline=None,
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_every_answer_screened_in_float32_is_the_exact_one(case):
    """The same, with every layer's scores screened in float32 first
    (feasibility._scores; by default only large layers are)."""
    old, _scores.SCREEN_SIZE = _scores.SCREEN_SIZE, 0
    try:
        _check_against_exact(case)
    finally:
        _scores.SCREEN_SIZE = old


def _check_against_exact(case):
    W, bias, rng = case
    M = W.shape[0]
    b = np.zeros(M) if bias is None else bias
    rep = rb.argmaxable(W, bias)
    assert len(rep.verify(W, bias)) == 0
    for i in range(M):
        truth = exact_feasible(W, b, [[i]])
        if truth is not None:
            assert rep.status[i] == int(truth), (i, rep.status[i], truth)
    if M >= 3:
        k = int(rng.integers(1, M))
        words = sorted(rng.choice(M, size=k, replace=False).tolist())
        got = rb.realizable_set(W, words, bias)
        truth = exact_feasible(W, b, [words])
        assert got.feasible == truth or truth is None, (words, got)
        assert got.verify(W, bias)
        order = rng.permutation(M)[:min(3, M - 1)].tolist()
        got = rb.realizable_order(W, order, bias)
        truth = exact_feasible(W, b, [[w] for w in order])
        assert got.feasible == truth or truth is None, (order, got)
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


def test_subnormal_biases_and_tampered_reports():
    """Cases a review found: a constant of a few subnormals must not round
    to a passing certificate; an unargmaxable status needs its certificate;
    a certificate with NaN weights proves nothing; a boxed question answered
    only outside the box is not answered."""
    from rankbottleneck.feasibility._proof import prove
    from rankbottleneck.feasibility._systems import argmax_certificate, combination

    def argmax_combination(i, support, weights):
        return combination(*argmax_certificate(i, support, weights))

    eta = 5e-324
    W = np.array([[7.0], [8.0], [6.0], [10.0]])
    b = np.array([0.0, -eta, -eta, -1e3])
    assert prove(W, b, argmax_combination(0, [1, 2], [0.5, 0.5])) is None
    rep = rb.argmaxable(W, b)
    assert rep.status[0] == 1 and len(rep.verify(W, b)) == 0
    assert rb.realizable_set(W, [0], b).feasible is True
    assert rb.argmaxable(np.array([[0.0], [0.0], [1.0], [2.0]]),
                         np.array([0, 0, 0, -eta])).status.tolist() == [0, 0, 1, 1]
    order = rb.realizable_order(np.array([[-1.0, 0], [-1, -1], [0, -1], [2, 1], [2, 0]]),
                                [2, 0, 4], np.array([0, -eta, 0, 0, 0]))
    assert order.feasible is True
    assert prove(W, b, argmax_combination(1, [0, 2], [np.nan, 0.5])) is None
    W2 = np.array([[1.0, 0], [0, 1], [-1, -1], [0, 0]])
    rep = rb.argmaxable(W2)
    assert rep.status[3] == 0
    rep.certificates.pop(3)
    assert rep.verify(W2).failing.tolist() == [3]
    boxed = rb.realizable_set(np.array([[1.0], [0.0], [-1.0]]), [0],
                              np.array([0.0, 5.0, 0.0]), box=1.0)
    assert boxed.feasible is not True
    extreme = rb.argmaxable(np.array([[5.89e287], [-2.1e-146], [5.67e200], [-2.46e-65]]),
                            np.array([-3.4e-308, -1.75e56, -1.9e-81, 1.12e83]))
    assert len(extreme.verify(np.array([[5.89e287], [-2.1e-146], [5.67e200],
                                        [-2.46e-65]]),
                              np.array([-3.4e-308, -1.75e56, -1.9e-81, 1.12e83]))) == 0
