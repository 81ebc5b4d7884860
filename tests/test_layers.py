"""Output layers and log-probability matrices."""

import re

import numpy as np
import pytest
from conftest import ACTIVATION_PARAMS, registry_name

import rankbottleneck as rb
from rankbottleneck import activations as act
from rankbottleneck.synthetic import contexts_and_words, random_mixture_layer


@pytest.mark.parametrize("N, M, d", [(120, 80, 3), (300, 200, 10), (60, 500, 20)])
def test_softmax_matrix_rank_is_d_plus_one(N, M, d):
    H, W, b = contexts_and_words(N, M, d, has_bias=True, seed=N + d)
    assert np.linalg.matrix_rank(rb.log_prob_matrix(H, W)) == d + 1
    assert np.linalg.matrix_rank(rb.log_prob_matrix(H, W, bias=b)) == d + 2


@pytest.mark.parametrize("activation, params", [("sigsoftmax", {}),
                                                ("gss", {"c": -1.5, "k": 2.5})])
def test_nonlinear_logit_maps_exceed_the_bottleneck(activation, params):
    H, W, _ = contexts_and_words(150, 100, 5, logit_scale=3.0, seed=1)
    A = rb.log_prob_matrix(H, W, activation, **params)
    assert np.linalg.matrix_rank(A) > 5 + 2


def test_matrix_rows_equal_the_activation(rng):
    H, W, b = contexts_and_words(40, 30, 4, has_bias=True, seed=2)
    for key, params in ACTIVATION_PARAMS.items():
        name = registry_name(key)
        bb = np.abs(b) + 5 if name == "relu_normalized" else b
        A = rb.log_prob_matrix(H, W, name, bias=bb, **params)
        np.testing.assert_allclose(A, act.get(name)(H @ W.T + bb, **params),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 7, 64, 1000])
def test_block_rows_do_not_change_the_matrix(block_rows):
    H, W, b = contexts_and_words(64, 50, 6, has_bias=True, seed=3)
    ref = rb.log_prob_matrix(H, W, "sigsoftmax", bias=b)
    A = rb.log_prob_matrix(H, W, "sigsoftmax", bias=b, block_rows=block_rows)
    np.testing.assert_allclose(A, ref, rtol=1e-13, atol=1e-13)


def test_float32_in_float32_out():
    H, W, _ = contexts_and_words(20, 30, 4, seed=4)
    A = rb.log_prob_matrix(H.astype(np.float32), W.astype(np.float32))
    assert A.dtype == np.float32
    A = rb.log_prob_matrix(H.astype(np.float32), W)
    assert A.dtype == np.float64


def test_streaming_blocks_cover_the_matrix():
    H, W, _ = contexts_and_words(50, 20, 3, seed=5)
    layer = rb.PointwiseLayer(W, activation="entmax")
    blocks = list(layer.blocks(H, block_rows=16))
    assert [s for s, _ in blocks] == [0, 16, 32, 48]
    np.testing.assert_array_equal(np.vstack([blk for _, blk in blocks]),
                                  layer.log_prob_matrix(H))


def _components(layer, G):
    """Independent evaluation of the MoS model of activations.md."""
    pi = act.softmax(G @ layer.priors.T)
    Hk = np.tanh(np.einsum("ng,kdg->nkd", G, layer.projections) + layer.offsets)
    return pi, Hk


def test_mos_matches_definition():
    layer = random_mixture_layer(40, 6, K=4, has_bias=True, logit_scale=2.0, seed=6)
    G = np.random.default_rng(7).standard_normal((25, 6))
    pi, Hk = _components(layer, G)
    logits = Hk @ layer.W.T + layer.bias
    p = np.sum(pi[..., None] * act.softmax(logits), axis=1)
    np.testing.assert_allclose(np.exp(layer.log_prob_matrix(G)), p, rtol=1e-12)
    moss = rb.MixtureLayer(layer.W, layer.priors, layer.projections, layer.offsets,
                           layer.bias, base="sigsoftmax")
    p = np.sum(pi[..., None] * act.sigsoftmax(logits), axis=1)
    np.testing.assert_allclose(np.exp(moss.log_prob_matrix(G)), p, rtol=1e-12)


def test_mos_with_one_component_is_softmax():
    layer = random_mixture_layer(30, 5, K=1, has_bias=True, seed=8)
    G = np.random.default_rng(9).standard_normal((20, 5))
    h = np.tanh(G @ layer.projections[0].T + layer.offsets[0])
    np.testing.assert_allclose(layer.log_prob_matrix(G),
                               act.log_softmax(h @ layer.W.T + layer.bias),
                               rtol=1e-12, atol=1e-12)


def test_mos_breaks_and_moc_keeps_the_bottleneck():
    d, M, N = 6, 120, 200
    G = np.random.default_rng(10).standard_normal((N, d))
    mos = random_mixture_layer(M, d, K=3, logit_scale=3.0, seed=11)
    moc = random_mixture_layer(M, d, K=3, kind="moc", has_bias=True, seed=11)
    assert np.linalg.matrix_rank(mos.log_prob_matrix(G)) > d + 2
    assert np.linalg.matrix_rank(moc.log_prob_matrix(G)) == d + 2


def test_mixture_from_components_matches_layer():
    layer = random_mixture_layer(25, 4, K=3, has_bias=True, seed=12)
    G = np.random.default_rng(13).standard_normal((10, 4))
    pi, Hk = _components(layer, G)
    for kind in ("mos", "moc"):
        ref = rb.MixtureLayer(layer.W, layer.priors, layer.projections,
                              layer.offsets, layer.bias, kind=kind)(G)
        out = rb.mixture_log_probs_from_components(Hk, pi, layer.W, layer.bias,
                                                   kind=kind)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_mixture_log_prob_matrix_function_matches_layer():
    layer = random_mixture_layer(25, 4, K=2, seed=14)
    G = np.random.default_rng(15).standard_normal((9, 4))
    A = rb.mixture_log_prob_matrix(G, layer.W, layer.priors, layer.projections,
                                   layer.offsets, block_rows=4)
    np.testing.assert_allclose(A, layer(G), rtol=1e-13)


def test_repr_is_short():
    layer = random_mixture_layer(25, 4, K=2, base="sigsoftmax", seed=14)
    assert repr(layer) == ("MixtureLayer(MoSS: K=2, M=25, d=4, d_g=4, bias=False, "
                           "base='sigsoftmax')")
    W = np.ones((3, 2))
    assert "activation='r_softmax', r=0.5" in repr(rb.PointwiseLayer(
        W, activation="r_softmax", params={"r": 0.5}))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_shape_mismatches_name_the_argument():
    H, W = np.ones((5, 3)), np.ones((4, 2))
    with pytest.raises(ValueError, match=r"W must have 3 columns to match H "
                                         r"\(5, 3\); got shape \(4, 2\)"):
        rb.log_prob_matrix(H, W)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        rb.log_prob_matrix(np.ones((5, 2)), W, bias=np.ones(3))
    with pytest.raises(ValueError, match=r"H must be 2-D; got shape \(3,\)"):
        rb.log_prob_matrix(np.ones(3), W)


@pytest.mark.parametrize("name", ["H", "W", "bias"])
def test_non_finite_inputs_rejected(name):
    args = {"H": np.ones((5, 2)), "W": np.ones((4, 2)), "bias": np.ones(4)}
    args[name] = args[name].copy()
    args[name].flat[1] = np.nan
    with pytest.raises(ValueError, match=rf"{name} must be finite; got nan"):
        rb.log_prob_matrix(args["H"], args["W"], bias=args["bias"])


def test_activation_parameters_checked_before_work():
    with pytest.raises(ValueError, match=r"r must lie in \[0, 1\]; got 2.0"):
        rb.log_prob_matrix(np.ones((5, 2)), np.ones((4, 2)), "r_softmax", r=2.0)


def test_integer_embeddings_are_cast():
    A = rb.log_prob_matrix(np.arange(6).reshape(3, 2), np.eye(2, dtype=int))
    assert A.dtype == np.float64


def test_matrix_too_large_is_refused_before_allocation():
    H = np.broadcast_to(np.zeros((1, 1)), (10**7, 1))
    W = np.zeros((10**6, 1))
    with pytest.raises(rb.InsufficientMemoryError,
                       match=r"10000000×1000000 float64 log-probability matrix "
                             r"would need 72\.8 TiB.*layer\.blocks\(H\)"):
        rb.log_prob_matrix(H, W)


def test_mixture_shape_errors():
    W = np.ones((10, 3))
    with pytest.raises(ValueError, match=r"projections must have shape \(K, d, "
                                         r"d_g\) = \(2, 3, 4\)"):
        rb.MixtureLayer(W, np.ones((2, 4)), np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match=r"kind must be 'mos' or 'moc'"):
        rb.MixtureLayer(W, np.ones((2, 3)), np.ones((2, 3, 3)), kind="mix")
    with pytest.raises(ValueError, match=r"prior_probs .* sum to 0.5"):
        rb.mixture_log_probs_from_components(np.ones((4, 2, 3)),
                                             np.full((4, 2), 0.25), W)
    with pytest.raises(ValueError, match=r"prior_probs must be non-negative"):
        rb.mixture_log_probs_from_components(np.ones((4, 2, 3)),
                                             np.tile([1.5, -0.5], (4, 1)), W)


@pytest.mark.parametrize("params", [None, "r", [("r", 0.5)]])
def test_params_must_be_a_dict(params):
    # PointwiseLayer(W, params=None) used to say "'NoneType' object is not iterable"
    mix = random_mixture_layer(6, 2, 2, seed=0)
    pattern = (r"params must be a dict \{name: value\} of the activation's parameters "
               rf"\(leave it out, or pass \{{\}}, for none\); got {re.escape(repr(params))}$")
    with pytest.raises(TypeError, match=pattern):
        rb.PointwiseLayer(np.eye(3), activation="r_softmax", params=params)
    with pytest.raises(TypeError, match=pattern):
        rb.MixtureLayer(mix.W, mix.priors, mix.projections, params=params)
    assert rb.PointwiseLayer(np.eye(3), params={}).params == {}
