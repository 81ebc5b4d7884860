"""The everyday edges (issue 18): each bad argument refused with a message
that names it, memory refused before allocation, and no overflow."""

import re
import warnings

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck import _validation, cli
from rankbottleneck import activations as act
from rankbottleneck.synthetic import (
    contexts_and_words,
    dirichlet_target,
    random_mixture_layer,
)

W = np.random.default_rng(0).standard_normal((20, 3))
H = np.random.default_rng(1).standard_normal((8, 3))
A = rb.log_prob_matrix(H, W)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: act.log_gss(np.zeros(3), 0, "2"), TypeError, r"k must be a real number; got '2'"),
    (lambda: act.log_gss(np.zeros(3), 0, 0.0), ValueError, r"k must lie in \(0, inf\)"),
    (lambda: act.log_gss(np.zeros(3), 0, -1.0), ValueError, r"k must lie in \(0, inf\)"),
    (lambda: act.log_gss(np.zeros(3), True, 2.0), TypeError, r"c must be a real number"),
    (lambda: rb.rank_report(A, log_floor=5), ValueError, r"log_floor must lie in .*0\)"),
    (lambda: rb.rank_report(A, has_bias="yes"), TypeError, r"bias must be True, False or None"),
    (lambda: rb.argmaxable(W, max_lp_rounds=-1), ValueError, r"max_lp_rounds must be a positive"),
    (lambda: rb.argmaxable(W, n_random=-1), ValueError, r"n_random must be a non-negative"),
    (lambda: rb.argmaxable(W, projection_rounds=-1), ValueError,
     r"projection_rounds must be a non-negative"),
    (lambda: rb.argmaxable(W, block=0), ValueError, r"block must be a positive integer"),
    (lambda: rb.output_set_dimension(rb.PointwiseLayer(W), n_local=0), ValueError,
     r"n_local must be a positive integer; got 0"),
    (lambda: rb.fit_log_probs(dirichlet_target(4, 3, seed=0), d=2, tol=-1), ValueError,
     r"tol must lie in \[0, inf\); got -1"),
    (lambda: rb.dominating_word(rb.argmaxable(np.vstack([W, W[:3].mean(0)])),
                                np.vstack([W, W[:3].mean(0)]), None, 20,
                                np.array([np.nan, 0.0, 0.0])),
     ValueError, r"h must be finite"),
    (lambda: act.log_mixture(np.zeros((2, 3)), np.log([0.5, 0.5])), ValueError,
     r"component_log_probs must be log-probabilities.*sums to 3"),
    (lambda: rb.spectrum(rb.PointwiseLayer(W), np.ones((4, 5))), ValueError,
     r"contexts must have 3 columns"),
    (lambda: rb.rank_report(rb.PointwiseLayer(W), contexts=np.ones((4, 5))), ValueError,
     r"contexts must have 3 columns"),
    (lambda: rb.argmaxable_under(rb.PointwiseLayer(W, activation="sparsemax"),
                                 n_contexts=0), ValueError,
     r"n_contexts must be a positive integer; got 0"),
    (lambda: contexts_and_words(10, 0, 4), ValueError, r"M must be a positive integer; got 0"),
    (lambda: rb.expressivity_sweep(dirichlet_target(4, 3, seed=0), activations="softmax"),
     TypeError, r"activations must be a sequence of names.*the string 'softmax'"),
])
def test_bad_arguments_name_themselves(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("call, pattern", [
    (lambda: contexts_and_words(10**10, 10, 4), r"10000000000 contexts and 10 words"),
    (lambda: rb.output_set_dimension(rb.PointwiseLayer(W), 10**12),
     r"log-outputs of n_samples contexts"),
    (lambda: rb.argmaxable_under(random_mixture_layer(20, 4, 2, seed=0),
                                 n_contexts=10**12), r"sampled contexts"),
    (lambda: rb.fit_log_probs(dirichlet_target(300, 200, seed=0), d=10**6),
     r"fitting softmax with d = 1000000"),
])
def test_memory_is_refused_before_allocation(call, pattern, monkeypatch):
    monkeypatch.setattr(_validation, "_available_memory", lambda: 2**32)
    with pytest.raises(rb.InsufficientMemoryError, match=pattern):
        call()


def test_no_overflow_at_extreme_magnitudes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_p = act.log_gss(np.array([1e308, -1e308, 0.0]))
        assert not np.isnan(log_p).any() and log_p[0] == 0.0
        B = np.random.default_rng(2).standard_normal((20, 30))
        small, big = rb.rank_report(B).as_dict(), rb.rank_report(B * 1e160).as_dict()
        for key, value in small.items():
            assert big[key] == pytest.approx(value, rel=1e-12), key


def test_gss_overflow_fallback_agrees_with_the_ordinary_formula():
    z = np.linspace(-30, 30, 61)
    u = z - 0.5
    ordinary = 2.5 * u + 0.5 - 1.5 * act.softplus(u)
    np.testing.assert_array_equal(act._pointwise._gss_map(z, 0.5, 2.5), ordinary)
    safe = 2.5 * np.minimum(u, 0) + np.maximum(u, 0) - 1.5 * np.log1p(np.exp(-np.abs(u))) + 0.5
    np.testing.assert_allclose(ordinary, safe, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------
# Issue 25: booleans, the CLI's numeric flags, and result files it does not own
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_as_bool_keeps_booleans(value):
    out = _validation._as_bool(value, "flag")
    assert out is bool(value) and type(out) is bool


@pytest.mark.parametrize("value", ["no", "False", "", 1, 0, None, 1.0, np.array(True),
                                   [True]])
def test_as_bool_refuses_everything_else(value):
    with pytest.raises(TypeError, match=r"flag must be True or False; got "):
        _validation._as_bool(value, "flag")


@pytest.mark.parametrize("argv, pattern", [
    (["analyze", "W.npy", "--seed", "-1"], r"--seed must be a non-negative integer; got -1"),
    (["figures", "--seed", "-3"], r"--seed must be a non-negative integer; got -3"),
    (["analyze", "W.npy", "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout",
      "-1"], r"--scheduler-timeout must be a positive number of seconds; got -1.0"),
    (["analyze", "W.npy", "--scheduler-timeout", "nan"], r"--scheduler-timeout must"),
    (["analyze", "W.npy", "--contexts", "0"], r"--contexts must be a positive integer"),
    (["analyze", "W.npy", "--logit-std", "-2"], r"--logit-std must be a positive number"),
])
def test_cli_numeric_flags_are_named(argv, pattern, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    np.save("W.npy", W)
    assert cli.main([*argv, "--out", str(tmp_path / "out")]
                       if argv[0] == "analyze" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert re.search(pattern, err), err
    assert not (tmp_path / "out" / "W.npy-analysis.json").exists()


@pytest.mark.parametrize("content, what", [
    ("[1, 2]", "a JSON list"), ('"x"', "a JSON string"), ("{not json", "not JSON"),
    ('{"source": [1]}', "a JSON object whose source is not a path"),
])
def test_cli_keeps_a_result_file_it_did_not_write(content, what, tmp_path, capsys):
    np.save(tmp_path / "W.npy", W)
    out = tmp_path / "out"
    out.mkdir()
    (out / "W.npy-analysis.json").write_text(content)
    assert cli.main(["analyze", str(tmp_path / "W.npy"), "--out", str(out),
                        "--no-argmax"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"is not a rankbottleneck result ({what})" in err
    assert len(err.splitlines()) == 1
    assert (out / "W.npy-analysis.json").read_text() == content


# ---------------------------------------------------------------------------
# Issue 25: logits at the float limit, the registry at top level, reserved names
# ---------------------------------------------------------------------------

_FAR_ROWS = [[1e308, -1e308], [1e308, -1e308, 0.0], [-1e308, -1e308],
             [-1e308, -0.9e308], [1e308, 1e308], [1.7e308, -1.7e308], [-1.7e308, 0.0]]


@pytest.mark.parametrize("name, params", [
    ("softmax", {}), ("sigsoftmax", {}), ("gss", {}), ("gss", {"c": 1.0, "k": 0.5}),
    ("sigmoid_normalized", {}), ("plif", {"theta": act.plif_init(8, scale=1.0, seed=0)}),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_activations_at_the_float_limit(name, params, dtype):
    """No NaN and no warning; -inf only where the true log-probability lies below
    the float range; a row of equal logits is uniform however large they are."""
    fmax = float(np.finfo(dtype).max)
    for row in _FAR_ROWS:
        z = (np.array(row) * (fmax / np.finfo(np.float64).max)).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = act.get(name)(z, **params)
        assert out.dtype == dtype and not np.isnan(out).any(), (row, out)
        assert np.exp(out.astype(np.float64)).sum() == pytest.approx(1, rel=1e-6)
        # every map here has slopes at most 2.1, so a word whose logit is
        # within fmax/10 of the top has a log-probability in the float range
        quarter = z.astype(np.float64) / 4
        near = quarter.max() - quarter < fmax / 40
        assert np.isfinite(out[near]).all(), (row, out)


def test_log_softmax_of_logits_a_float_range_apart():
    np.testing.assert_array_equal(rb.log_softmax([1e308, -1e308]), [0.0, -np.inf])
    np.testing.assert_array_equal(rb.log_softmax([1e308, -0.5e308]), [0.0, -1.5e308])
    np.testing.assert_allclose(rb.log_sigsoftmax([-1e308, -1e308]), [-np.log(2)] * 2)


def test_registry_functions_at_top_level():
    assert rb.get("softmax") is act.get("softmax")
    assert rb.available() == act.available()
    a = rb.register(rb.Activation("scaled_top", lambda z: act.log_normalize(2 * z),
                                  logit_map=lambda z: 2 * z,
                                  logit_map_derivative=lambda z: np.full_like(z, 2.0),
                                  increasing=True))
    assert rb.get("scaled_top") is a and "scaled_top" in rb.available()
    rb.unregister("scaled_top")
    with pytest.raises(ValueError, match="activation must be one of .*; got 'scaled_top'"):
        rb.get("scaled_top")
    assert {"get", "unregister", "available"} <= set(rb.__all__)


@pytest.mark.parametrize("name", ["mos", "moss", "moc", "MoS"])
def test_mixture_names_cannot_be_registered(name):
    """fit_log_probs reads these names as its mixture layers, so an activation
    registered under one would be silently ignored: refused instead."""
    with pytest.raises(ValueError, match=rf"'{name}' names the mixture of .* not an "
                                         "activation"):
        rb.register(rb.Activation(name, act.log_normalize))
    assert name not in rb.available()


def test_reserved_names_are_the_mixtures_of_fit():
    assert set(act._registry._RESERVED) == set(rb.fit.MIXTURES)


def test_tanh_is_refused_as_saturating_not_as_decreasing():
    tanh = rb.Activation("tanh_sat", lambda z: act.log_normalize(np.tanh(z)),
                         logit_map=np.tanh, increasing=True)
    with pytest.raises(ValueError, match=r"φ saturates in float64: it takes equal "
                                         r"values at \d+ of the 2000 steps") as info:
        rb.register(tanh)
    assert "not strictly increasing on" not in str(info.value)
    assert "tanh_sat" not in rb.available()


_DBL = rb.Activation("dbl_everyday", lambda z: act.log_normalize(2 * z),
                     logit_map=lambda z: 2 * z, increasing=True)
_T = dirichlet_target(6, 4, seed=0)
_W20 = np.random.default_rng(0).standard_normal((20, 3))


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: rb.register(_DBL, overwrite="no"), TypeError,
     r"overwrite must be True or False; got 'no'"),
    (lambda: rb.register(_DBL, check="no"), TypeError, r"check must be True or False"),
    (lambda: rb.register(_DBL, check_params=5), TypeError,
     r"check_params must be a dict .*; got 5"),
    (lambda: rb.fit_log_probs(_T, "gss", d=2, params=5), TypeError,
     r"params must be a dict .*; got 5"),
    (lambda: rb.fit_log_probs(_T, d=2, seed="x"), TypeError,
     r"seed must be None, a non-negative integer .*; got 'x'"),
    (lambda: rb.expressivity_sweep(_T, seeds=(-1,)), ValueError,
     r"seed must be None, a non-negative integer .*; got -1"),
    (lambda: rb.contexts_and_words(5, 5, 2, has_bias="no"), TypeError,
     r"bias must be True or False; got 'no'"),
    (lambda: rb.contexts_and_words(5, 5, 2, seed=1.5), TypeError, r"seed must be None"),
    (lambda: random_mixture_layer(5, 2, 2, has_bias="yes"), TypeError,
     r"bias must be True or False; got 'yes'"),
    (lambda: rb.analyze_output_layer(_W20, argmax="no"), TypeError,
     r"argmax must be True or False; got 'no'"),
    (lambda: rb.analyze_output_layer(_W20, logit_std="3"), TypeError,
     r"logit_std must be a real number; got '3'"),
    (lambda: rb.analyze_output_layer(_W20, seed=[1, "a"]), TypeError, r"seed must be None"),
])
def test_issue25_arguments_name_themselves(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
    assert "dbl_everyday" not in rb.available()


def test_register_overwrite_still_replaces_with_true():
    rb.register(_DBL)
    try:
        again = rb.register(_DBL, overwrite=True)
        assert rb.get("dbl_everyday") is again
        with pytest.raises(ValueError, match="already registered"):
            rb.register(_DBL, overwrite=False)
    finally:
        rb.unregister("dbl_everyday")


@pytest.mark.parametrize("seed", [None, 0, 7, np.int64(3), [1, 2],
                                  np.random.SeedSequence(5)])
def test_every_documented_seed_kind_is_accepted(seed):
    H, W, _ = rb.contexts_and_words(6, 5, 2, seed=seed)
    assert H.shape == (6, 2) and W.shape == (5, 2)
    gen = np.random.default_rng(1)
    assert _validation._as_rng(gen) is gen


# ---------------------------------------------------------------------------
# Issue 25: one result protocol (rankbottleneck._result)
# ---------------------------------------------------------------------------


def _results_of_this_side():
    from rankbottleneck import symbolic

    fit = rb.fit_log_probs(_T, "softmax", d=2, max_iter=5)
    sweep = rb.expressivity_sweep(_T, activations=("softmax",), dims=(1,), max_iter=3)
    report = rb.analyze_output_layer(_W20, seed=0)
    return {
        "FitResult": fit, "Sweep": sweep, "OutputLayerReport": report,
        "ContextsAndWords": rb.contexts_and_words(6, 5, 2, has_bias=True, seed=0),
        "SymbolicResult": symbolic.softmax_residual(M=2, d=1),
        "ActivationProperties": symbolic.check_activation_properties("sigsoftmax",
                                                                     M=8, d=2),
    }


def test_results_give_json_safe_dicts(tmp_path):
    import json

    np.save(tmp_path / "w.npy", _W20)
    results = _results_of_this_side()
    results["Embeddings"] = rb.load_embeddings(tmp_path / "w.npy")
    for name, result in results.items():
        assert isinstance(result, rb._result.Result), name
        data = result.as_dict()
        assert json.loads(json.dumps(data, allow_nan=False)) == data, name
    assert results["FitResult"].as_dict()["rank"]["press"] == 3  # d + 1
    assert results["SymbolicResult"].as_dict()["holds"] is True
    assert results["Embeddings"].as_dict()["shape"] == [20, 3]


@pytest.mark.parametrize("cls", [rb.FitResult, rb.OutputLayerReport, rb.Embeddings,
                                 rb.outputlayer.LogitsReport])
def test_results_of_many_fields_are_built_by_keyword(cls):
    with pytest.raises(TypeError, match="positional"):
        cls(*range(6))


def test_verdict_encoding_round_trips():
    from rankbottleneck import _result

    for value, code in ((True, 1), (False, 0), (None, -1)):
        assert _result.verdict_code(value) == code and _result.verdict(code) is value
        assert _result.verdict(np.int8(code)) is value
    with pytest.raises(TypeError, match="a verdict must be True, False or None; got 1"):
        _result.verdict_code(1)
    with pytest.raises(ValueError, match="a verdict code must be 1, 0 or -1; got 2"):
        _result.verdict(2)


def test_json_safe_refuses_what_json_cannot_hold():
    from fractions import Fraction

    from rankbottleneck._result import json_safe

    assert json_safe({1: np.float32(0.5), "x": (np.inf, -np.inf, np.nan)}) == {
        "1": 0.5, "x": ["inf", "-inf", "nan"]}
    assert json_safe([np.arange(2), np.bool_(True), Fraction(1, 3), {2, 1}]) == [
        [0, 1], True, "1/3", [1, 2]]
    with pytest.raises(TypeError, match="cannot put a object into a JSON-safe dict"):
        json_safe(object())


def test_result_repr_names_fields_and_summarises_arrays():
    from rankbottleneck import symbolic

    check = symbolic.check_activation_properties("sigsoftmax", M=8, d=2).increasing
    assert repr(check).startswith("PropertyCheck(holds=True, evidence=")

    from dataclasses import dataclass

    from rankbottleneck._result import Result

    @dataclass(frozen=True, repr=False)
    class Toy(Result):
        values: np.ndarray
        score: float

    assert repr(Toy(np.zeros((3, 2)), 1 / 3)) == (
        "Toy(values=<array 3×2 float64>, score=0.333333)")
