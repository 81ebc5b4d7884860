"""Issue 25's inputs that benchmarks/bad_input_sweep.py still found accepted
silently or answered with an unclear message: each now refused clearly or
answered correctly."""

import numpy as np
import pytest

import rankbottleneck as rb

W = np.random.default_rng(0).standard_normal((20, 3))
H = np.random.default_rng(1).standard_normal((8, 3))
A = rb.log_prob_matrix(H, W)
H4, W4, B4 = rb.contexts_and_words(30, 12, 4, has_bias=True, seed=2)
LAYER4 = rb.PointwiseLayer(W4, bias=B4)


@pytest.mark.parametrize("function", [rb.numerical_rank, rb.shift_invariant_rank,
                                      rb.rank_report, rb.spectrum])
@pytest.mark.parametrize("client", ["tcp://x", object()])
def test_a_client_that_is_not_one_is_refused_on_a_matrix(function, client):
    # the rank functions took the dense SVD of a small matrix and ignored it
    with pytest.raises(TypeError, match=r"^client must be a distributed\.Client; "
                                        r"got (str|object)$"):
        function(A, client=client)


def test_argmaxable_under_checks_the_client_it_would_not_use():
    sparse = rb.PointwiseLayer(W, activation="sparsemax")
    with pytest.raises(TypeError, match=r"^client must be a distributed\.Client"):
        rb.argmaxable_under(sparse, client="x")
    with pytest.raises(TypeError, match=r"^client must be a distributed\.Client"):
        rb.rank_report(sparse, contexts=H, client="x")


def test_spectrum_centre_rows_must_be_a_bool():
    with pytest.raises(TypeError, match=r"^centre_rows must be True or False; got 'no'"):
        rb.spectrum(A, centre_rows="no")
    assert rb.spectrum(A, centre_rows=np.True_).rank("numpy") == 3


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(d=2), r"^d = 2 contradicts the layer's d = 4 \(W has 4 columns\); leave d "
                r"out for a layer$"),
    (dict(has_bias=False), r"^has_bias = False contradicts the layer, which has a "
                           r"bias; leave has_bias out for a layer$"),
])
def test_rank_report_refuses_what_contradicts_its_layer(kwargs, pattern):
    # rank_report(layer with d = 4, d=2) used to report the bound 3
    with pytest.raises(ValueError, match=pattern):
        rb.rank_report(LAYER4, contexts=H4, **kwargs)
    with pytest.raises(ValueError, match="which has no bias"):
        rb.rank_report(rb.PointwiseLayer(W4), contexts=H4, has_bias=True)
    agreed = rb.rank_report(LAYER4, contexts=H4, d=4, has_bias=True)
    assert agreed.bound == rb.rank_report(LAYER4, contexts=H4).bound == 6


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "int64", "foo", complex])
def test_singular_values_takes_float_dtypes_only(dtype):
    # dtype=np.int32 truncated the matrix to integers and answered for that
    with pytest.raises(TypeError, match=r"^dtype must be a floating dtype, float32 or "
                                        r"float64 \(or None to keep the input's\); got"):
        rb.singular_values(A, dtype=dtype)
    s32 = rb.singular_values(A, dtype=np.float32)
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32, rb.singular_values(A), rtol=0, atol=1e-5 * s32[0])


def test_output_set_dimension_log_floor_must_be_negative():
    with pytest.raises(ValueError, match=r"^log_floor must lie in \[-inf, 0\); got 5\.0"):
        rb.output_set_dimension(rb.PointwiseLayer(W), log_floor=5.0)


def test_output_set_dimension_skips_contexts_where_the_layer_is_undefined():
    # ReLU normalisation has no distribution where every logit is ≤ 0; with
    # W ≥ 0 a third of Gaussian contexts are such, and the activation's own
    # message ("z must have at least one positive logit") reached the user
    layer = rb.PointwiseLayer(np.abs(W), activation="relu_normalized")
    dims = rb.output_set_dimension(layer, 60, seed=0)
    assert dims.n_samples == 60 and dims.linear.value == 20 and dims.converged
    assert "sampled contexts were skipped: the layer gives no distribution" in dims.note
    # where the layer is defined everywhere nothing changes
    plain = rb.output_set_dimension(rb.PointwiseLayer(W, activation="relu_normalized"),
                                    60, seed=0)
    assert "skipped" not in plain.note
    with pytest.raises(ValueError, match="logits overflow"):      # not a domain
        rb.output_set_dimension(rb.PointwiseLayer(W * 1e300), 40, context_scale=1e10)


def test_one_distribution_repeated_has_no_hidden_size():
    rows = rb.log_prob_matrix(H4, W4, bias=B4)
    est = rb.estimate_hidden_size(np.tile(rows[:1], (10, 1)))
    # it said "never reaches the noise floor (Press rank 0)" with a gap of 1e17
    assert est.d is None and not est.cliff and est.gap == 1.0
    assert "the rows are identical once each is centred" in est.message
    assert rb.estimate_hidden_size(rows).d == 4


def test_a_one_word_layer_has_rank_zero_on_every_path():
    layer = rb.PointwiseLayer(W[:1])
    assert np.all(layer.log_prob_matrix(H) == 0)
    structural = rb.spectrum(layer, H)
    assert structural.method == "structural" and np.all(structural.values == 0)
    for measure in ("numpy", "press"):
        assert (rb.numerical_rank(layer, measure, contexts=H)
                == rb.numerical_rank(layer.log_prob_matrix(H), measure) == 0)
    assert rb.rank_report(layer, contexts=H)["press"] == 0
