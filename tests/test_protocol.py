"""Issue 25: every public result on one protocol (rankbottleneck._result),
one meaning of `verify`, and `has_bias` for the bool once called `bias`."""

import importlib
import inspect
import json
import warnings

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck._result import Result, Verification
from rankbottleneck.synthetic import random_mixture_layer

# the square and its centre: word 4 is inside the hull, sets (0, 2) and (1, 3)
# (opposite words) are never the top 2
SQUARE = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 0.0]])
H, W, _ = rb.contexts_and_words(60, 20, 2, seed=0)
A = rb.log_prob_matrix(H, W)

# public classes that are not results: layers, an activation, models, errors
NOT_RESULTS = {"Activation", "PointwiseLayer", "MixtureLayer", "LanguageModel",
               "RestrictedAPI"}
MODULES = ["rankbottleneck", *(f"rankbottleneck.{m}" for m in (
    "activations", "argmax", "cluster", "fit", "image", "io", "lm", "output_set", "outputlayer",
    "rank", "reports", "spectra", "symbolic", "synthetic", "topk"))]


def _public_classes():
    for modname in MODULES:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                yield f"{modname}.{name}", obj


def test_every_public_result_class_is_on_the_protocol():
    off = sorted({name for name, cls in _public_classes()
                  if cls.__name__ not in NOT_RESULTS and not issubclass(cls, Result)})
    assert not off, f"public results without the Result protocol: {off}"


def _results():
    rep = rb.argmaxable(SQUARE)
    no = rb.realizable_set(SQUARE, [0, 2])
    return {
        "ArgmaxReport": rep,
        "ArgmaxUnderReport": rb.argmaxable_under(
            rb.PointwiseLayer(SQUARE, activation="sigsoftmax")),
        "ArgmaxUnderReport (mixture)": rb.argmaxable_under(
            random_mixture_layer(8, 2, 2, seed=0), n_contexts=200),
        "RealizableReport": no,
        "RealizableReport (witness)": rb.realizable_set(SQUARE, [0, 1]),
        "RealizableFraction": rb.realizable_fraction(SQUARE, 2),
        "Certificate": no.certificate,
        "Rank": rb.numerical_rank(A),
        "RankReport": rb.rank_report(A, d=2),
        "RankComparison": rb.compare_ranks({"softmax": A}, d=2),
        "SparseSummary": rb.rank_report(rb.log_prob_matrix(H, W, "sparsemax")).sparse,
        "OutputSetDimension": rb.output_set_dimension(rb.PointwiseLayer(W), 40, seed=0),
        "HiddenSizeEstimate": rb.estimate_hidden_size(A),
        "Spectrum": rb.spectrum(A),
        "Spectrum (beyond the float range)": rb.spectrum(A * 1e300),
        "Verification": rep.verify(SQUARE),
    }


@pytest.fixture(scope="module")
def results():
    return _results()


def test_results_give_json_safe_dicts(results):
    for name, result in results.items():
        assert isinstance(result, Result), name
        data = result.as_dict()
        assert json.loads(json.dumps(data, allow_nan=False)) == data, name


def test_as_dict_holds_the_answers(results):
    rep = results["ArgmaxReport"].as_dict()
    assert rep["status"] == [1, 1, 1, 1, 0] and rep["unargmaxable"] == 1
    assert sorted(rep["certificates"]["4"]) == ["weights", "words"]
    assert "witnesses" not in rep and rep["d"] == 2         # described, not copied
    no = results["RealizableReport"].as_dict()
    assert no["feasible"] is False and no["words"] == [0, 2]
    assert results["RealizableReport (witness)"].as_dict()["feasible"] is True
    frac = results["RealizableFraction"].as_dict()
    assert frac["fraction"] == pytest.approx(4 / 10) and len(frac["answers"]) == 10
    assert set(frac["answers"]) <= {True, False, None}
    assert results["Rank"].as_dict()["label"] == "numpy"
    assert results["RankComparison"].as_dict()["softmax"]["press"] == 3
    assert results["OutputSetDimension"].as_dict()["linear"]["value"] == 3
    assert results["HiddenSizeEstimate"].as_dict()["d"] == 2
    big = results["Spectrum (beyond the float range)"].as_dict()
    assert big["exponent"] and all(isinstance(v, float) for v in big["scaled_values"])
    under = results["ArgmaxUnderReport"].as_dict()
    assert under["mask"] == [True] * 4 + [False] and under["linear"]["unargmaxable"] == 1


def test_reprs_stay_readable(results):
    assert repr(results["RealizableReport"]) == (
        "RealizableReport(set (0, 2): not realizable; exact, by lp)")
    assert repr(results["ArgmaxReport"]).startswith("ArgmaxReport(M=5: argmaxable 4,")
    assert repr(results["Rank"]).startswith("Rank(numpy=3: ")
    assert repr(results["Spectrum"]).startswith("Spectrum(60×20, svd, σ = [")


# ---------------------------------------------------------------------------
# verify: one return type
# ---------------------------------------------------------------------------


def test_argmax_verify_is_truthy_and_names_what_fails():
    rep = rb.argmaxable(SQUARE)
    check = rep.verify(SQUARE)
    assert isinstance(check, Verification) and check and check.holds
    assert check.failing.tolist() == [] and check.n_checked == 5 and len(check) == 0
    rep.certificates.pop(4)                    # an unargmaxable word without proof
    bad = rep.verify(SQUARE)
    assert not bad and bad.failing.tolist() == [4] and list(bad) == [4]
    assert np.asarray(bad).tolist() == [4] and len(bad) == 1
    assert repr(bad) == "Verification(FAILS: 1 of 5 words [4])"
    assert bad.as_dict() == {"holds": False, "failing": [4], "n_checked": 5,
                             "what": "words", "note": ""}


def test_the_old_index_array_spellings_warn():
    bad = rb.argmaxable(SQUARE)
    bad.certificates.pop(4)
    check = bad.verify(SQUARE)
    with pytest.warns(DeprecationWarning, match=r"use \.failing\.tolist"):
        assert check.tolist() == [4]
    with pytest.warns(DeprecationWarning, match="Verification"):
        assert check.size == 1
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        check.nonsense  # noqa: B018


def test_realizable_verify_is_the_same_type():
    no = rb.realizable_set(SQUARE, [0, 2])
    check = no.verify(SQUARE)
    assert isinstance(check, Verification) and check and check.what == "question"
    assert repr(check) == "Verification(holds: the question's evidence)"
    moved = SQUARE.copy()
    moved[2] = [-1.0, 0.5]          # (0, 2) is now realizable: the certificate fails
    fails = no.verify(moved)
    assert not fails and fails.failing.tolist() == [0] and fails.note == "certificate fails"
    undecided = rb.topk.RealizableReport("set", (0, 2), None)
    assert undecided.verify(SQUARE).note == "no witness or certificate to check"
    yes = rb.realizable_set(SQUARE, [0, 1])
    assert yes.verify(SQUARE) and not yes.verify(-SQUARE)


# ---------------------------------------------------------------------------
# has_bias: the bool; bias stays the vector
# ---------------------------------------------------------------------------


T = rb.synthetic.dirichlet_target(6, 5, seed=0)
CALLS = {
    "contexts_and_words": lambda **kw: rb.contexts_and_words(6, 5, 2, seed=0, **kw).bias,
    "random_mixture_layer": lambda **kw: random_mixture_layer(5, 2, 2, seed=0, **kw).bias,
    "fit_log_probs": lambda **kw: rb.fit_log_probs(T, d=2, max_iter=2, **kw).layer.bias,
    "rank_report": lambda **kw: rb.rank_report(A, d=2, **kw).bound,
    "compare_ranks": lambda **kw: rb.compare_ranks({"a": A}, d=2,
                                                  **kw).reports["a"].bound,
    "ranking_count": lambda **kw: rb.ranking_count(6, 2, **kw),
}


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("name", sorted(CALLS))
def test_has_bias_and_the_old_spelling(name):
    call = CALLS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new_true, new_false = call(has_bias=True), call(has_bias=False)
    assert not _same(new_true, new_false)
    with pytest.warns(DeprecationWarning, match=rf"{name}\(bias=\.\.\.\) is deprecated; "
                                               "use has_bias"):
        assert _same(call(bias=True), new_true)
    with pytest.raises(TypeError, match=rf"{name} takes has_bias, or the deprecated "
                                        "bias; not both"):
        call(has_bias=True, bias=True)
    with pytest.raises(TypeError, match=r"has_bias must be True.* got 'no'"):
        call(has_bias="no")
    with pytest.raises(TypeError, match=r"^bias must be True.* got 'no'"):
        call(bias="no")              # refused before any warning
    with pytest.raises(TypeError, match=r"has_bias must be True.* got array"):
        call(has_bias=np.zeros(5))   # the vector where the bool belongs


def test_rank_report_takes_has_bias_from_a_layer():
    Hb, Wb, b = rb.contexts_and_words(60, 20, 3, has_bias=True, seed=1)
    rep = rb.rank_report(rb.PointwiseLayer(Wb, bias=b), contexts=Hb)
    assert rep.has_bias is True and rep.bias is True and rep.bound == 5
