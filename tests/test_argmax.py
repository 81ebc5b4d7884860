"""Argmaxable words: exactness against hulls and per-word LPs, evidence, edge cases."""

import numpy as np
import pytest
from scipy.spatial import ConvexHull

import rankbottleneck as rb
from rankbottleneck import activations as act
from rankbottleneck.argmax import (
    argmaxable,
    argmaxable_lp_baseline,
    argmaxable_under,
    dominating_word,
)
from rankbottleneck.synthetic import embeddings, random_mixture_layer


def with_interior(M, d, n_interior, seed):
    """Random points plus planted convex combinations of other points."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((M, d))
    for i in range(M - n_interior, M):
        j = rng.choice(M - n_interior, size=3, replace=False)
        W[i] = rng.dirichlet(np.ones(3)) @ W[j]
    return W


@pytest.mark.parametrize("d", [2, 3, 4, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_convex_hull_vertices(d, seed):
    W = with_interior(40 + 10 * d, d, 8, seed)
    rep = argmaxable(W)
    hull = np.zeros(W.shape[0], dtype=bool)
    hull[ConvexHull(W).vertices] = True
    np.testing.assert_array_equal(rep.mask, hull)
    assert len(rep.undecided) == 0
    assert len(rep.verify(W)) == 0


@pytest.mark.parametrize("d", [2, 8, 32, 64])
def test_agrees_with_per_word_lp_with_bias(d):
    rng = np.random.default_rng(d)
    M = 150
    W = rng.standard_normal((M, d))
    b = 2.0 * rng.standard_normal(M)
    W[-10:] *= 0.05  # small rows with small biases are often dominated
    b[-10:] -= 3.0
    rep = argmaxable(W, b)
    base = argmaxable_lp_baseline(W, b)
    np.testing.assert_array_equal(rep.mask, base == 1)
    assert len(rep.verify(W, b)) == 0


def test_witnesses_and_certificates_verify_independently():
    W = with_interior(80, 3, 10, seed=3)
    b = np.random.default_rng(4).normal(scale=0.1, size=80)
    rep = argmaxable(W, b)
    for i in np.flatnonzero(rep.mask):
        z = W @ rep.witnesses[i] + b
        assert np.argmax(z) == i
        assert np.sort(z)[-1] - np.sort(z)[-2] == pytest.approx(rep.margins[i])
    for i, (j, lam) in rep.certificates.items():
        assert np.all(lam >= 0) and lam.sum() == pytest.approx(1, abs=1e-12)
        np.testing.assert_allclose(lam @ W[j], W[i], atol=1e-9)
        assert b[i] <= lam @ b[j] + 1e-9
        assert i not in j


def test_duplicate_rows_are_reported_not_looped_on():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]])
    rep = argmaxable(W)
    assert rep.mask.tolist() == [False, True, False, True]
    assert rep.method[0] == rep.method[2] == "duplicate"
    # with a bias the twin with the larger bias can still win
    rep = argmaxable(W, bias=np.array([0.0, 0.0, 0.5, 0.0]))
    assert rep.mask.tolist() == [False, True, True, True]
    assert rep.certificates[0][0].tolist() == [2]


def test_prevention_unit_norm_rows_all_argmaxable():
    W = embeddings(500, 8, kind="unit", seed=5)
    assert argmaxable(W).mask.all()


def test_prevention_half_squared_norm_bias_all_argmaxable():
    # b_i = -½‖w_i‖²: z_i = -½‖h - w_i‖² + ½‖h‖², nearest word wins at h = w_i
    W = with_interior(300, 5, 60, seed=6)
    assert not argmaxable(W).mask.all()
    b = -0.5 * np.einsum("ij,ij->i", W, W)
    rep = argmaxable(W, b)
    assert rep.mask.all() and len(rep.verify(W, b)) == 0


def test_stolen_probability_bound():
    W = with_interior(60, 3, 10, seed=7)
    rep = argmaxable(W)
    rng = np.random.default_rng(8)
    for i in rep.unargmaxable:
        for _ in range(20):
            h = 3 * rng.standard_normal(3)
            j = dominating_word(rep, W, None, i, h)
            assert rep.mask[j]
            p = act.softmax(W @ h)
            assert p[i] <= p[j] * (1 + 1e-12)
            assert p[i] <= 0.5


def test_dominating_word_needs_a_certificate():
    W = np.eye(3)
    rep = argmaxable(W)
    with pytest.raises(ValueError, match=r"word 0 has no unargmaxability certificate"):
        dominating_word(rep, W, None, 0, np.ones(3))
    with pytest.raises(TypeError, match=r"report must be the ArgmaxReport .*got NoneType"):
        dominating_word(None, W, None, 0, np.ones(3))


# ---------------------------------------------------------------------------
# Across activations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, params", [
    ("softmax", {}), ("sigsoftmax", {}), ("gss", {"c": -1.5, "k": 2.5}),
    ("plif", {"theta": act.plif_init(30, 3.0, 1.0, seed=9), "bound": 3.0}),
])
def test_increasing_maps_have_the_linear_answer(name, params):
    W = with_interior(60, 3, 12, seed=10)
    b = np.random.default_rng(11).normal(scale=0.2, size=60)
    linear = argmaxable(W, b)
    out = argmaxable_under(rb.PointwiseLayer(W, b, name, params))
    assert out.kind == "exact"
    np.testing.assert_array_equal(out.mask, linear.mask)
    # and sampling never finds a mode outside it
    H = 5 * np.random.default_rng(12).standard_normal((5000, 3))
    modes = np.argmax(rb.PointwiseLayer(W, b, name, params)(H), axis=1)
    assert linear.mask[modes].all()


@pytest.mark.parametrize("base", ["softmax", "sigsoftmax"])
def test_mos_modes_lie_within_the_linear_argmaxable_words(base):
    # Jensen: an interior word is never the strict mode of a mixture that
    # shares W and b (the reference's contrary claim does not hold).
    M, d = 60, 3
    mos = random_mixture_layer(M, d, K=4, base=base, logit_scale=4.0, has_bias=True,
                               seed=13)
    out = argmaxable_under(mos, n_contexts=20000, seed=14)
    assert out.kind in ("lower-bound", "exact")
    assert out.mask.sum() > 0
    np.testing.assert_array_equal(out.upper, out.linear.mask)
    assert not np.any(out.mask & ~out.upper)
    # the inequality behind it, p_i ≤ Σ λ_j p_j, on sampled contexts
    P = np.exp(mos(np.random.default_rng(15).standard_normal((500, d))))
    for i, (j, lam) in out.linear.certificates.items():
        assert np.all(P[:, i] <= P[:, j] @ lam + 1e-12)


def test_sigsoftmax_g_is_convex():
    import sympy as sp

    z = sp.Symbol("z", real=True)
    g = sp.exp(2 * z) / (1 + sp.exp(z))
    second = sp.simplify(sp.diff(g, z, 2))
    u = sp.Symbol("u", positive=True)
    assert sp.simplify(second.subs(sp.exp(z), u)).is_positive


def test_sparse_support_exact_cases():
    W = with_interior(50, 3, 10, seed=15)
    relu = argmaxable_under(rb.PointwiseLayer(W, activation="relu_normalized"))
    assert relu.kind == "exact-support" and relu.mask.all()
    sparse = argmaxable_under(rb.PointwiseLayer(W, activation="sparsemax"))
    assert sparse.mask.all()
    # without a bias every word ties at h = 0, so every t lets all words in
    tiny = argmaxable_under(rb.PointwiseLayer(W, activation="t_softmax",
                                              params={"t": 1e-9}))
    assert tiny.mask.all()
    # with a bias: exact answer contains every sampled support and, where it
    # says no, the certificate of the raised problem holds
    b = np.random.default_rng(17).normal(scale=2.0, size=50)
    t = 0.5
    layer = rb.PointwiseLayer(W, b, "t_softmax", {"t": t})
    exact = argmaxable_under(layer)
    assert exact.kind == "exact-support" and not exact.mask.all()
    H = 3 * np.random.default_rng(18).standard_normal((20000, 3))
    seen = np.isfinite(layer(H)).any(axis=0)
    assert not np.any(seen & ~exact.mask)
    for i in np.flatnonzero(~exact.mask):
        raised = b.copy()
        raised[i] += t
        assert i in argmaxable(W, raised).certificates
    big = argmaxable_under(rb.PointwiseLayer(W, b, "t_softmax", {"t": 100.0}))
    assert big.mask.all()


def test_sampled_sparse_support_is_a_lower_bound():
    W = with_interior(40, 3, 5, seed=16)
    out = argmaxable_under(rb.PointwiseLayer(W, activation="entmax"), n_contexts=2000)
    assert out.kind == "lower-bound" and "sampled" in out.note


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("W, bias, pattern", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), None, r"W must be finite; got nan"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), None, r"W must be finite; got inf"),
    (np.zeros((5, 0)), None, r"W must have d ≥ 1 columns; got shape \(5, 0\)"),
    (np.ones((0, 3)), None, r"W must have at least 1 row"),
    (np.eye(3), np.ones(2), r"bias must have shape \(3,\) to match W"),
    (np.ones(3), None, r"W must be 2-D"),
])
def test_bad_input(W, bias, pattern):
    with pytest.raises(ValueError, match=pattern):
        argmaxable(W, bias)


def test_one_word_is_trivially_argmaxable():
    rep = argmaxable(np.array([[0.3, -1.0, 2.0]]))
    assert rep.mask.tolist() == [True] and rep.method[0] == "single"
    assert len(rep.verify(np.array([[0.3, -1.0, 2.0]]))) == 0


def test_arguments_that_would_be_ignored_or_coerced_are_refused():
    """Issue 25: a typo in argmaxable_under's options, a client where none is
    used, a word index given as a float or a string, a negative n_contexts."""
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    with pytest.raises(TypeError, match="boxx"):
        argmaxable_under(rb.PointwiseLayer(W), boxx=3)
    with pytest.warns(UserWarning, match="box not used"):
        argmaxable_under(rb.PointwiseLayer(W, activation="sparsemax"), box=1.0)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        argmaxable(W[:1], client="tcp://x")
    rep = argmaxable(W)
    for i in (3.0, "3", True):
        with pytest.raises(TypeError, match="i must be an integer"):
            rb.dominating_word(rep, W, None, i, np.ones(2))
    assert rb.dominating_word(rep, W, None, np.int64(3), np.ones(2)) in (0, 1, 2)
    with pytest.raises(ValueError, match="n_contexts must be a positive integer"):
        rb.realizable_set(W, [0, 1], n_contexts=-5)
