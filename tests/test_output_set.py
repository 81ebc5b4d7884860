"""Output-set span, local dimension, hidden size, modes."""

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck import activations as act
from rankbottleneck.synthetic import contexts_and_words, random_mixture_layer


def layer(name, M, d, bias=False, seed=0, **params):
    _, W, b = contexts_and_words(4, M, d, has_bias=bias, seed=seed)
    return rb.PointwiseLayer(W, bias=b, activation=name, params=params)


@pytest.mark.parametrize("M, d", [(64, 2), (64, 8), (256, 32)])
@pytest.mark.parametrize("bias", [False, True])
def test_softmax_meets_the_proven_bounds_exactly(M, d, bias):
    r = rb.output_set_dimension(layer("softmax", M, d, bias, seed=d), seed=1)
    assert r.converged
    assert r.linear.value == d + 1 + bias
    assert r.affine.value == d + 1
    assert r.centred_linear.value == d + bias
    assert r.centred_affine.value == d
    assert r.local.value == d
    assert r.bounds == {"linear": d + 1 + bias, "affine": d + 1,
                        "centred_linear": d + bias, "centred_affine": d, "local": d}


def test_moc_obeys_softmax_bounds_and_mos_does_not():
    d, M = 6, 64
    moc = random_mixture_layer(M, d, K=3, kind="moc", seed=2)
    r = rb.output_set_dimension(moc, seed=3)
    assert (r.linear.value, r.affine.value, r.local.value) == (d + 1, d + 1, d)
    mos = random_mixture_layer(M, d, K=3, logit_scale=2.0, seed=2)
    r = rb.output_set_dimension(mos, seed=3)
    assert r.linear.value == M and r.converged
    assert r.local.value == d  # a d-dimensional manifold spanning all of R^M


@pytest.mark.parametrize("name, params", [("sigsoftmax", {}),
                                          ("gss", {"c": -1.5, "k": 2.5})])
def test_nonlinear_maps_span_everything_locally_d(name, params):
    M, d = 64, 8
    r = rb.output_set_dimension(layer(name, M, d, seed=4, **params), seed=5)
    assert r.linear.value == M and r.converged
    assert r.local.value == d


def test_sparse_layers_are_measured_on_the_clipped_set():
    r = rb.output_set_dimension(layer("sparsemax", 40, 4, seed=6), seed=7)
    assert r.clipped and r.local.value <= 4


def test_not_converged_is_said():
    # d = 2, M = 256: a 2-D manifold whose higher-order directions are tiny;
    # M + 20 samples are not enough and the report must say so.
    r = rb.output_set_dimension(layer("sigsoftmax", 256, 2, seed=8), seed=9)
    assert not r.converged and "still growing" in r.note
    assert "NOT converged" in repr(r)


def test_local_dimension_matches_analytic_jacobian():
    # softmax: J = (I - 1 pᵀ) W, rank d
    L = layer("softmax", 30, 5, seed=10)
    h = np.random.default_rng(11).standard_normal(5)
    p = act.softmax(L.logits(h))
    J = (np.eye(30) - np.outer(np.ones(30), p)) @ L.W
    assert np.linalg.matrix_rank(J) == 5
    assert rb.local_dimension(L, h[None]).value == 5


def test_n_samples_too_small_names_the_need():
    with pytest.raises(ValueError, match=r"n_samples must be at least 11 to resolve "
                                         r"the span bound 9"):
        rb.output_set_dimension(layer("softmax", 64, 8), n_samples=10)
    with pytest.raises(ValueError, match=r"at least 66 .*bound 64"):
        rb.output_set_dimension(layer("sigsoftmax", 64, 8), n_samples=30)


def test_layer_type_checked():
    with pytest.raises(TypeError, match="layer must be a PointwiseLayer or a "
                                        "MixtureLayer; got ndarray"):
        rb.output_set_dimension(np.eye(3))


# ---------------------------------------------------------------------------
# Hidden size
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [8, 32, 128, 512])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hidden_size_recovered_exactly(d, bias, dtype):
    M = 2 * d + 64
    H, W, b = contexts_and_words(d + 20, M, d, has_bias=bias, seed=d + bias)
    Y = rb.log_prob_matrix(H.astype(dtype), W.astype(dtype),
                           bias=None if b is None else b.astype(dtype))
    est = rb.estimate_hidden_size(Y)
    assert est.cliff and est.d == d, est
    assert est.gap > 1e3


@pytest.mark.parametrize("kind", ["sigsoftmax", "mos"])
def test_no_clear_cliff_for_nonlinear_layers(kind):
    d, M = 16, 200
    if kind == "mos":
        G = np.random.default_rng(12).standard_normal((d + 20, d))
        Y = random_mixture_layer(M, d, K=3, logit_scale=2.0, seed=12)(G)
    else:
        H, W, _ = contexts_and_words(d + 20, M, d, logit_scale=2.0, seed=12)
        Y = rb.log_prob_matrix(H, W, "sigsoftmax")
    est = rb.estimate_hidden_size(Y)
    assert est.d is None and not est.cliff
    assert "no clear cliff" in est.message
    # the reported confidence is the largest drop among the meaningful values,
    # not the drop into the zero that double centring always creates
    assert est.gap < 1e3


def test_hidden_size_bad_input():
    with pytest.raises(ValueError, match="contains -inf"):
        rb.estimate_hidden_size(np.array([[0.0, -np.inf, -1.0]] * 4))
    with pytest.raises(ValueError, match=r"at least 3 rows and 3 columns"):
        rb.estimate_hidden_size(np.zeros((2, 5)))


# ---------------------------------------------------------------------------
# Monotone maps keep the modes, mixtures do not
# ---------------------------------------------------------------------------


def test_monotone_maps_never_change_a_mode_over_many_layers():
    rng = np.random.default_rng(13)
    theta = act.plif_init(50, bound=4.0, scale=1.0, seed=14)
    changed = 0
    for trial in range(30):
        _, W, b = contexts_and_words(4, 50, 6, has_bias=True, logit_scale=3.0, seed=trial)
        H = rng.standard_normal((100, 6))
        for name, params in [("sigsoftmax", {}), ("gss", {"c": -1.5, "k": 2.5}),
                             ("gss", {"c": 2.0, "k": 0.5}),
                             ("plif", {"theta": theta, "bound": 4.0})]:
            L = rb.PointwiseLayer(W, b, name, params)
            changed += int(rb.argmax_changes(L, H).sum())
    assert changed == 0


def test_mos_changes_modes():
    rng = np.random.default_rng(15)
    total = 0
    for trial in range(10):
        mos = random_mixture_layer(50, 6, K=4, logit_scale=3.0, seed=trial)
        total += int(rb.argmax_changes(mos, rng.standard_normal((200, 6))).sum())
    assert total > 0
