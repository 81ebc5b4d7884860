"""Activations: invariants, closed forms, identities between them, bad input."""

import math

import numpy as np
import pytest
from conftest import ACTIVATION_PARAMS, SPARSE, ensure_positive_max, registry_name
from hypothesis import given, settings
from hypothesis import strategies as st

from rankbottleneck import activations as act


def call(key, z, axis=-1, adjust=True):
    if key == "relu_normalized" and adjust:
        z = ensure_positive_max(z)
    return act.get(registry_name(key))(z, axis=axis, **ACTIVATION_PARAMS[key])


# ---------------------------------------------------------------------------
# Normalisation, sign, finiteness, across magnitudes and dtypes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(ACTIVATION_PARAMS))
@pytest.mark.parametrize("dtype, scale, tol", [
    (np.float64, 1.0, 1e-12), (np.float64, 30.0, 1e-12), (np.float64, 1e4, 1e-12),
    (np.float32, 1.0, 1e-5), (np.float32, 80.0, 1e-5),
])
def test_probabilities_sum_to_one(key, dtype, scale, tol, rng):
    z = (scale * rng.standard_normal((6, 257))).astype(dtype)
    log_p = call(key, z)
    assert log_p.dtype == dtype
    assert log_p.shape == z.shape
    assert not np.any(np.isnan(log_p))
    assert not np.any(log_p == np.inf)
    p = np.exp(log_p.astype(np.float64))
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=tol)
    if key in SPARSE:
        # -inf exactly where p = 0, and only there
        assert np.array_equal(np.isneginf(log_p), p == 0)
    else:
        assert np.all(np.isfinite(log_p)), "a dense activation returned -inf"


def test_sigsoftmax_survives_very_negative_logits(rng):
    z = -1000.0 - 50.0 * rng.random((4, 30))
    log_p = act.log_sigsoftmax(z)
    assert np.all(np.isfinite(log_p))
    np.testing.assert_allclose(np.exp(log_p).sum(-1), 1, atol=1e-12)
    # For z → -inf, e^z σ(z) ~ e^{2z}: sigsoftmax tends to softmax(2z).
    np.testing.assert_allclose(log_p, act.log_softmax(2 * z), atol=1e-12)


def test_log_softmax_beats_log_of_softmax():
    z = np.array([0.0, 1000.0])
    np.testing.assert_array_equal(act.log_softmax(z), [-1000.0, 0.0])


# ---------------------------------------------------------------------------
# Closed forms on tiny inputs (references computed independently)
# ---------------------------------------------------------------------------


def _direct(g, z):
    gz = g(np.asarray(z, dtype=np.float64))
    return gz / gz.sum()


TINY = np.array([0.7, -0.3, 1.9, -2.2, 0.05])


@pytest.mark.parametrize("name, params, g", [
    ("softmax", {}, np.exp),
    ("sigsoftmax", {}, lambda z: np.exp(z) / (1 + np.exp(-z))),
    ("sigmoid_normalized", {}, lambda z: 1 / (1 + np.exp(-z))),
    ("relu_normalized", {}, lambda z: np.maximum(z, 0)),
    ("gss", {"c": -1.5, "k": 2.5},
     lambda z: np.exp(2.5 * (z + 1.5) - 1.5) / (1 + np.exp(z + 1.5)) ** 1.5),
])
def test_normalised_pointwise_closed_forms(name, params, g):
    expected = _direct(g, TINY)
    np.testing.assert_allclose(np.exp(act.get(name)(TINY, **params)), expected,
                               rtol=1e-13, atol=1e-16)


def test_softmax_closed_form():
    np.testing.assert_allclose(act.softmax([0.0, math.log(3.0)]), [0.25, 0.75],
                               rtol=1e-15)


def test_sparsemax_closed_form():
    # Support {1, 2}: τ = (1 + 0.2 - 1)/2 = 0.1.
    np.testing.assert_allclose(act.sparsemax([1.0, 0.2, -1.0]), [0.9, 0.1, 0.0],
                               atol=1e-15)
    assert np.isneginf(act.log_sparsemax([1.0, 0.2, -1.0])[2])


def test_entmax15_closed_form():
    # x = z/2 - max = [0, -1/2]; τ = -u with u² + (u - 1/2)² = 1,
    # u = (1 + √7)/4; p = [u², (u - 1/2)²].
    u = (1 + math.sqrt(7)) / 4
    np.testing.assert_allclose(act.entmax([2.0, 1.0]), [u**2, (u - 0.5) ** 2],
                               rtol=1e-14)


def test_t_softmax_closed_form():
    z = np.array([2.0, 1.5, 0.0])
    # t = 1: w = [1, 0.5, 0], p ∝ w e^z
    w = np.array([1.0, 0.5, 0.0])
    expected = w * np.exp(z) / (w * np.exp(z)).sum()
    np.testing.assert_allclose(act.t_softmax(z, t=1.0), expected, rtol=1e-15)
    assert np.isneginf(act.log_t_softmax(z, t=1.0)[2])


# r-softmax worked examples, derived by hand from the rule in activations.md.
# z = [3, 1, 0, -2]: y = [0, -2, -3, -5], sorted [-5, -3, -2, 0], ζ = 0.
R_CASES = [
    # r = 0.5: quantile at 1.5 → -2.5, t = 2.5 + 1e-8, w = [2.5, .5, 0, 0]
    (0.5, [2.5 + 1e-8, 0.5 + 1e-8, 0.0, 0.0]),
    # r = 0.25: quantile at 0.75 → -3.5, w = [3.5, 1.5, 0.5, 0]
    (0.25, [3.5 + 1e-8, 1.5 + 1e-8, 0.5 + 1e-8, 0.0]),
    # r = 1: quantile = max = 0, t = 1e-8: only the maximum survives
    (1.0, [1e-8, 0.0, 0.0, 0.0]),
    # r = 0: quantile = min = -5, t = 5 + 1e-8: every entry survives
    (0.0, [5 + 1e-8, 3 + 1e-8, 2 + 1e-8, 1e-8]),
]


@pytest.mark.parametrize("r, w", R_CASES)
def test_r_softmax_worked_examples(r, w):
    z = np.array([3.0, 1.0, 0.0, -2.0])
    w = np.array(w)
    expected = w * np.exp(z) / (w * np.exp(z)).sum()
    log_p = act.log_r_softmax(z, r=r)
    # The ~1e-8 weight of an entry at the quantile is y + t_r, a cancellation
    # that leaves it only ulp(|y|)/1e-8 ≈ 1e-7 relative accuracy.
    np.testing.assert_allclose(np.exp(log_p), expected, rtol=2e-7, atol=0)
    assert np.array_equal(np.isneginf(log_p), w == 0)


def test_r_softmax_underflow_rule():
    # exp(-1001) underflows in float64: ζ = 1/2. For r = 0.75,
    # q = (0.75 - 0.5)/0.5 = 0.5 over y' = [-1, 0, 0, 0] → quantile 0,
    # t = 1e-8: only the maximum keeps mass; 3 of 4 entries are zero.
    z = np.array([0.0, -1000.0, -1000.0, 1.0])
    log_p = act.log_r_softmax(z, r=0.75)
    np.testing.assert_array_equal(np.isneginf(log_p), [True, True, True, False])
    # r = 0.5: q = 0 → quantile -1 → t = 1 + 1e-8, w = [1e-8, 0, 0, 1 + 1e-8]
    log_p = act.log_r_softmax(z, r=0.5)
    np.testing.assert_array_equal(np.isneginf(log_p), [False, True, True, False])
    w = np.array([1e-8, 1 + 1e-8])
    expected = w * np.exp([0.0, 1.0]) / (w * np.exp([0.0, 1.0])).sum()
    # the 1e-8 weight is -1 + (1 + 1e-8): ~1e-8 relative cancellation error
    np.testing.assert_allclose(np.exp(log_p[[0, 3]]), expected, rtol=2e-7)


def test_r_softmax_constant_row_is_uniform():
    for r in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(act.r_softmax(np.full(7, 2.5), r=r),
                                   np.full(7, 1 / 7), rtol=1e-14)


def test_r_softmax_quantile_matches_numpy(rng):
    y = rng.standard_normal((5, 33))
    q = rng.random((5, 1))
    ours = act._sparse._lerp_quantile(np.sort(y, axis=-1), q)[:, 0]
    ref = [np.quantile(y[i], q[i, 0]) for i in range(5)]
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("r", [0.1, 0.5, 0.9])
def test_r_softmax_sparsity_rate(r, rng):
    z = rng.standard_normal((20, 1000))
    zero_fraction = np.isneginf(act.log_r_softmax(z, r=r)).mean(axis=-1)
    # entries strictly below the q-quantile: floor(q (M-1)) or so of them
    assert np.all(np.abs(zero_fraction - r) <= 2 / 1000)


def test_r_softmax_support_does_not_depend_on_dtype(rng):
    z = rng.standard_normal((10, 100)).astype(np.float32)
    a = np.isneginf(act.log_r_softmax(z, r=0.3))
    b = np.isneginf(act.log_r_softmax(z.astype(np.float64), r=0.3))
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Identities between activations
# ---------------------------------------------------------------------------


def test_gss_special_cases(rng):
    z = 5 * rng.standard_normal((4, 50))
    np.testing.assert_allclose(act.log_gss(z, c=0.0, k=2.0), act.log_sigsoftmax(z),
                               rtol=1e-13, atol=1e-13)
    for c in (-2.0, 0.0, 3.0):
        np.testing.assert_allclose(act.log_gss(z, c=c, k=1.0), act.log_softmax(z),
                                   rtol=1e-13, atol=1e-13)


def test_entmax_alpha2_is_sparsemax(rng):
    z = 2 * rng.standard_normal((8, 40))
    np.testing.assert_allclose(act.entmax(z, alpha=2.0), act.sparsemax(z),
                               atol=1e-12)


def test_entmax_exact_and_bisection_agree(rng):
    z = 3 * rng.standard_normal((8, 40))
    x = act._sparse._shift_max(z) * 0.5
    exact = np.exp(act.log_entmax(z, alpha=1.5))
    bisect = np.exp(act._sparse._entmax_bisect_log(x, 1.5))
    np.testing.assert_allclose(exact, bisect, atol=1e-12)


@pytest.mark.parametrize("alpha, tol", [(1.01, 2e-2), (1.001, 2e-3), (1.0001, 2e-4)])
def test_entmax_approaches_softmax(alpha, tol, rng):
    z = rng.standard_normal((5, 30))
    err = np.abs(act.entmax(z, alpha=alpha) - act.softmax(z)).max()
    assert err < tol


def test_plif_unit_slopes_is_shifted_identity():
    T = 4.0
    theta = np.full(16, math.log(math.e - 1))  # softplus(θ) = 1
    z = np.linspace(-3 * T, 3 * T, 101)
    np.testing.assert_allclose(act.plif(z, theta, T), z + T, atol=1e-12)


def test_plif_closed_form_two_pieces():
    # K = 2, T = 1, Δ = 1, knots [-1, 0]; slopes w0, w1 set through θ.
    w0, w1 = 0.5, 3.0
    theta = np.log(np.expm1([w0, w1]))  # inverse softplus
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.25, 1.0, 2.0])
    expected = np.where(x < 0, (x + 1) * w0, x * w1 + w0)
    np.testing.assert_allclose(act.plif(x, theta, 1.0), expected, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.floats(0.1, 50), st.floats(0, 2), st.integers(0, 999))
def test_plif_is_continuous_and_strictly_increasing(K, T, scale, seed):
    theta = act.plif_init(K, bound=T, scale=scale, seed=seed)
    x = np.linspace(-2 * T, 2 * T, 2001)
    f = act.plif(x, theta, T)
    assert np.all(np.diff(f) > 0)
    # continuity at the knots: left and right limits agree
    knots = -T + (2 * T / K) * np.arange(1, K)
    h = 1e-9 * T
    np.testing.assert_allclose(act.plif(knots - h, theta, T),
                               act.plif(knots + h, theta, T), atol=1e-6 * T)


@pytest.mark.parametrize("key", ["softmax", "sigsoftmax", "gss", "plif",
                                 "sigmoid_normalized"])
def test_strictly_increasing_maps_keep_the_argmax(key, rng):
    z = 4 * rng.standard_normal((200, 50))
    np.testing.assert_array_equal(np.argmax(call(key, z), -1), np.argmax(z, -1))


def test_log_mixture_matches_direct_sum(rng):
    comp = act.log_softmax(rng.standard_normal((6, 3, 10)))
    pri = act.log_softmax(rng.standard_normal((6, 3)))
    direct = np.log(np.sum(np.exp(pri)[..., None] * np.exp(comp), axis=-2))
    np.testing.assert_allclose(act.log_mixture(comp, pri), direct, rtol=1e-13)


def test_log_mixture_is_not_floored():
    # the published +1e-8 would cap this at log(1e-8) ≈ -18.4
    comp = np.array([[[0.0, -500.0], [0.0, -600.0]]])
    out = act.log_mixture(comp, np.log([[0.5, 0.5]]))
    assert out[0, 1] < -499


def test_log_mixture_of_sparse_components_keeps_zeros():
    comp = np.array([[0.0, -np.inf, -np.inf], [-np.inf, 0.0, -np.inf]])
    out = act.log_mixture(comp, np.log([0.25, 0.75]))
    np.testing.assert_allclose(np.exp(out), [0.25, 0.75, 0.0])
    assert np.isneginf(out[2])


# ---------------------------------------------------------------------------
# axis, dtype, integer input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(ACTIVATION_PARAMS))
def test_axis_argument_matches_last_axis(key, rng):
    z = rng.standard_normal((3, 12, 5))
    if key == "relu_normalized":
        z[:, 0, :] = 10.0
    moved = np.moveaxis(call(key, np.moveaxis(z, 1, -1), adjust=False), -1, 1)
    np.testing.assert_allclose(call(key, z, axis=1, adjust=False), moved, rtol=1e-14, atol=1e-14)


def test_integer_input_is_cast():
    out = act.log_softmax(np.array([1, 2, 3]))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, act.log_softmax([1.0, 2.0, 3.0]))


def test_available_lists_every_activation_with_parameters():
    names = act.available()
    assert set(names) == {registry_name(k) for k in ACTIVATION_PARAMS}
    assert names["r_softmax"] == {"r": None}
    assert names["entmax"] == {"alpha": 1.5}


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------

SHIFT_INVARIANT = ["softmax", "t_softmax", "r_softmax", "sparsemax", "entmax",
                   "entmax_bisect"]


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(ACTIVATION_PARAMS)),
       rows=st.integers(1, 4), cols=st.integers(1, 40),
       log_scale=st.floats(-3, 3), f32=st.booleans(), seed=st.integers(0, 2**31))
def test_property_distribution(key, rows, cols, log_scale, f32, seed):
    dtype = np.float32 if f32 else np.float64
    scale = 10.0 ** log_scale
    if f32:
        scale = min(scale, 80.0)
    z = (scale * np.random.default_rng(seed).standard_normal((rows, cols)))
    log_p = call(key, z.astype(dtype))
    p = np.exp(log_p.astype(np.float64))
    assert log_p.dtype == dtype
    np.testing.assert_allclose(p.sum(-1), 1, atol=1e-5 if f32 else 1e-12)
    if key not in SPARSE:
        assert np.all(np.isfinite(log_p))


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(SHIFT_INVARIANT), cols=st.integers(2, 30),
       shift=st.floats(-100, 100), seed=st.integers(0, 2**31))
def test_property_shift_invariance(key, cols, shift, seed):
    z = np.random.default_rng(seed).standard_normal((3, cols))
    np.testing.assert_allclose(np.exp(call(key, z + shift)), np.exp(call(key, z)),
                               atol=1e-12)


def test_sigsoftmax_is_not_shift_invariant(rng):
    z = rng.standard_normal(10)
    assert np.abs(act.sigsoftmax(z + 3) - act.sigsoftmax(z)).max() > 1e-3


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("key", sorted(ACTIVATION_PARAMS))
def test_non_finite_logits_rejected(key, bad):
    z = np.array([[1.0, 2.0, bad]])
    with pytest.raises(ValueError, match=r"z must be finite.*index \(0, 2\)"):
        call(key, z, adjust=False)


@pytest.mark.parametrize("func, kwargs, pattern", [
    (act.log_r_softmax, {"r": 1.5}, r"r must lie in \[0, 1\]; got 1.5"),
    (act.log_r_softmax, {"r": -0.1}, r"r must lie in \[0, 1\]"),
    (act.log_t_softmax, {"t": 0.0}, r"t must lie in \(0, inf\); got 0.0"),
    (act.log_t_softmax, {"t": -1.0}, r"t must lie in \(0, inf\)"),
    (act.log_entmax, {"alpha": 1.0}, r"alpha must lie in \(1, inf\); got 1.0"),
    (act.log_entmax, {"alpha": 0.5}, r"alpha must lie in \(1, inf\)"),
    (act.log_gss, {"c": np.nan, "k": 2.0}, r"c must be finite"),
    (act.log_plif_softmax, {"theta": np.ones((2, 3)), "bound": 1.0},
     r"theta must be 1-D; got shape \(2, 3\)"),
    (act.log_plif_softmax, {"theta": np.array([]), "bound": 1.0},
     r"theta must not be empty"),
    (act.log_plif_softmax, {"theta": np.ones(3), "bound": 0.0},
     r"bound must lie in \(0, inf\); got 0.0"),
    (act.log_plif_softmax, {"theta": np.array([0.0, -800.0]), "bound": 1.0},
     r"strictly positive slopes.*theta\[1\]"),
])
def test_bad_parameters(func, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        func(np.array([0.5, 1.0, 2.0]), **kwargs)


def test_relu_normalized_rejects_rows_without_positive_logits():
    with pytest.raises(ValueError, match=r"row \(1,\) has maximum -0.5"):
        act.log_relu_normalized(np.array([[1.0, 2.0], [-1.0, -0.5]]))


def test_priors_must_be_a_distribution():
    comp = np.zeros((2, 3))
    with pytest.raises(ValueError, match="log_priors must be the log of a "
                                         "probability distribution.*sum to 0.79"):
        act.log_mixture(comp, np.log([0.5, 0.3]))
    with pytest.raises(ValueError, match=r"log_priors must have K = 2"):
        act.log_mixture(comp, np.log([0.2, 0.3, 0.5]))


def test_complex_and_object_input_rejected():
    with pytest.raises(TypeError, match="z must be a real numeric array; got dtype"):
        act.log_softmax(np.array([1 + 1j, 2]))
    with pytest.raises(TypeError, match="z must be a real numeric array"):
        act.log_softmax(np.array(["a", "b"]))


def test_registry_errors():
    with pytest.raises(ValueError, match=r"activation must be one of .*got 'sofmax'"):
        act.get("sofmax")
    with pytest.raises(TypeError, match=r"'softmax' takes parameters none; got "
                                        r"unexpected \['r'\]"):
        act.get("softmax")(np.zeros(3), r=0.5)
    with pytest.raises(TypeError, match=r"'r_softmax' needs parameter 'r'"):
        act.get("r_softmax")(np.zeros(3))


def test_bad_axis():
    with pytest.raises(ValueError, match=r"axis must lie in \[-2, 1\].*got 2"):
        act.log_softmax(np.zeros((2, 3)), axis=2)
