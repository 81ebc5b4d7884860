"""Symbolic proofs and the activation property checker."""

import numpy as np
import pytest
import sympy as sp

from rankbottleneck import activations as act
from rankbottleneck import symbolic as S

z = S.z


@pytest.mark.parametrize("M, d", [(2, 1), (3, 2), (4, 3)])
def test_softmax_residual_is_a_multiple_of_ones(M, d):
    r = S.softmax_residual(M=M, d=d)
    assert r.holds
    assert all(dd == 0 for dd in r.expressions["differences"])
    assert r.expressions["residual"].shape == (M, 1)
    # the residual is -lse(Wh) in every entry, exactly
    lse = sp.log(sum(sp.exp(e) for e in r.expressions["W"] * r.expressions["h"]))
    assert sp.simplify(r.expressions["residual"][0] + lse) == 0


@pytest.mark.parametrize("activation, params", [
    ("sigsoftmax", {}), ("gss", {"c": -1.5, "k": 2.5}), ("gss", {"c": 1, "k": 3}),
    ("gss", {"c": 0, "k": 0.5}),
])
def test_residual_not_constant(activation, params):
    r = S.residual_not_constant(activation, **params)
    assert r.holds
    assert r.expressions["second_derivative"] != 0
    # the reported value at the rational point agrees with numpy
    point = r.expressions["point"]
    W = np.array(r.expressions["W"].subs(point), dtype=float)
    h = np.array(r.expressions["h"].subs(point), dtype=float)[:, 0]
    zz = W @ h
    log_p = (act.log_gss(zz, **params) if activation == "gss"
             else act.log_sigsoftmax(zz))
    res = log_p - zz
    assert float(r.expressions["value"]) == pytest.approx(res[1] - res[0], rel=1e-12)


def test_gss_with_k_one_is_softmax_and_fails():
    assert not S.residual_not_constant("gss", c=0.7, k=1)


def test_sigsoftmax_second_derivative_closed_form():
    second = S.residual_not_constant("sigsoftmax").expressions["second_derivative"]
    z1 = sp.Symbol("z_1", real=True)
    sigma = 1 / (1 + sp.exp(-z1))
    assert sp.simplify((second + sigma * (1 - sigma)).rewrite(sp.exp)) == 0


@pytest.mark.parametrize("f", [z - sp.log(1 + sp.exp(-z)), z**3 + z,
                               sp.exp(z), 2.5 * (z + 1.5) - 1.5
                               - 1.5 * sp.log(1 + sp.exp(z + 1.5))])
def test_increasing_maps_preserve_order(f):
    r = S.monotone_preserves_order(f)
    assert r.holds
    # and the order is preserved on random pairs, numerically
    fn = sp.lambdify(z, f, "numpy")
    x = np.sort(np.random.default_rng(0).uniform(-20, 20, 200))
    assert np.all(np.diff(fn(x)) > 0)


def test_plif_map_is_increasing_symbolically():
    theta = np.array([0.3, -1.0, 2.0, 0.0, 1.0])
    g = act.get("plif").sympy_g(z, theta=theta, bound=3.0)
    r = S.monotone_preserves_order(sp.expand_log(sp.log(g), force=True))
    assert r.holds
    f = sp.lambdify(z, r.expressions["f"], "numpy")
    x = np.linspace(-8, 8, 101)
    np.testing.assert_allclose(f(x), act.plif(x, theta, 3.0), atol=1e-12)


def test_non_monotone_map_gives_a_counterexample():
    r = S.monotone_preserves_order(-(z**2))
    assert not r.holds and "counterexample" in r.evidence


EXPECTED = {
    # name: (nonlinear, stable, nonnegative, increasing, unbounded, breaks)
    "softmax": (False, True, True, True, True, False),
    "sigsoftmax": (True, True, True, True, True, True),
    "sigmoid_normalized": (True, True, True, True, False, True),
    "relu_normalized": (True, False, True, True, True, True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_property_checker_on_the_known_cases(name):
    r = S.check_activation_properties(name)
    got = (r.nonlinear.holds, r.stable.holds, r.nonnegative.holds, r.increasing.holds,
           r.log_g_upper.holds, r.breaks_bottleneck)
    assert got == EXPECTED[name], repr(r)
    assert r.bound == 5
    assert name in repr(r)


def test_property_checker_evidence():
    relu = S.check_activation_properties("relu_normalized")
    assert relu.stable.counterexample is not None and relu.stable.counterexample <= 0
    soft = S.check_activation_properties("softmax")
    assert "constant" in soft.nonlinear.evidence
    sig = S.check_activation_properties("sigmoid_normalized")
    assert sig.log_g_upper.expression == 0


def test_property_checker_on_a_user_expression():
    r = S.check_activation_properties(sp.exp(z) * (1 + z**2), name="custom")
    assert r.all_four and r.breaks_bottleneck
    # a user-made Symbol('z') without assumptions is the same variable
    r = S.check_activation_properties(sp.exp(sp.Symbol("z")))
    assert not r.nonlinear.holds


def test_plif_with_unit_slopes_is_linear_and_kinked_is_not():
    flat = S.check_activation_properties("plif", theta=np.full(4, np.log(np.e - 1)),
                                         bound=2.0)
    assert not flat.nonlinear.holds and not flat.breaks_bottleneck
    kinked = S.check_activation_properties("plif", theta=np.array([0.1, 0.5, -0.3, 1.0]),
                                           bound=2.0)
    assert kinked.nonlinear.holds and kinked.breaks_bottleneck


@pytest.mark.parametrize("name", ["t_softmax", "r_softmax", "sparsemax", "entmax"])
def test_non_pointwise_activations_refused(name):
    with pytest.raises(ValueError, match=rf"'{name}' is not a normalised function of "
                                         "one logit"):
        S.check_activation_properties(name)


def test_free_symbols_refused():
    a = sp.Symbol("a")
    with pytest.raises(ValueError, match=r"function of the single logit z only; it "
                                         r"has free symbols \['a'\]"):
        S.check_activation_properties(sp.exp(a * z))


def test_sizes_checked():
    with pytest.raises(ValueError, match=r"M must be an integer in \[2, 8\]"):
        S.softmax_residual(M=1)
