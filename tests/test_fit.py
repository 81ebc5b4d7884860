"""Fitting: gradients against finite differences, sanity fits, bad input."""

import dataclasses

import numpy as np
import pytest
import scipy.optimize
import threadpoolctl
from conftest import gradient_error

from rankbottleneck import activations as act
from rankbottleneck import fit as F
from rankbottleneck.synthetic import dirichlet_target, teacher_target

PLIF6 = {"theta": act.plif_init(6, 1.5), "bound": 1.5}
CASES = [  # name, params, learned, base, K
    ("softmax", {}, (), None, 3), ("sigsoftmax", {}, (), None, 3),
    ("gss", {"c": 0.3, "k": 1.7}, (), None, 3),
    ("gss", {"c": -0.5, "k": 2.5}, ("c", "k"), None, 3),
    ("sigmoid_normalized", {}, (), None, 3), ("plif", PLIF6, ("theta",), None, 3),
    ("mos", {}, (), None, 3), ("moss", {}, (), None, 2), ("moc", {}, (), None, 3),
    ("mos", {"c": 0.2, "k": 1.5}, ("c", "k"), "gss", 2),
    ("moc", {"c": 0.2, "k": 1.5}, ("k",), "gss", 2),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("name, params, learn, base, K", CASES)
def test_gradient_matches_central_differences(name, params, learn, base, K, bias):
    rng = np.random.default_rng(1)
    T = dirichlet_target(6, 8, concentration=0.5, seed=0)
    _, kind, a = F._resolve_activation(name, base)
    spec = F._Spec(a, kind, 6, 8, 3, bias, a.bind(params), learn, K)
    x = F._init(spec, rng, T) + 0.3 * rng.standard_normal(spec.size)
    if name == "plif":  # spread logits over several pieces, uneven slopes
        parts = spec.unpack(x)
        parts["param:theta"][:] = rng.normal(size=6)
        parts["H"] *= 5
        x = spec.pack(parts)
    assert gradient_error(lambda v: F.loss_and_gradient(v, spec, T), x) < 1e-6


def test_loss_is_the_cross_entropy_of_the_layer():
    T = dirichlet_target(10, 12, concentration=1.0, seed=2)
    r = F.fit_log_probs(T, "mos", d=3, max_iter=5, has_bias=True)
    logp = r.layer.log_prob_matrix(r.contexts)
    np.testing.assert_allclose(logp, r.log_probs, rtol=1e-10, atol=1e-10)
    assert r.cross_entropy == pytest.approx(-np.sum(T * logp) / 10, rel=1e-12)
    assert r.kl == pytest.approx(r.cross_entropy - r.entropy)


def test_softmax_fits_a_softmax_target_of_its_rank():
    T = teacher_target(200, 100, 6, temperature=0.5, seed=0)
    r = F.fit_log_probs(T, "softmax", d=6, max_iter=2000)
    assert r.kl < 1e-6
    assert r.mode_accuracy == 1.0
    assert r.rank["press"].value == 7


def test_a_small_fit_rounds_the_same_whatever_blas_threads_it_is_given():
    # a fit's small products run on one BLAS thread: an optimiser's path,
    # which amplifies rounding, is then the same on any machine
    target = dirichlet_target(120, 90, concentration=0.3, seed=2)
    runs = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            runs.append(F.fit_log_probs(target, "mos", d=8, n_components=3,
                                        max_iter=60, seed=0))
    assert runs[0].n_iter == runs[1].n_iter > 10
    np.testing.assert_array_equal(runs[0].log_probs, runs[1].log_probs)


def test_high_rank_target_comparison_is_reported_honestly():
    # Dirichlet(0.3), N=120, M=60, d=4, 200 iterations. Measured (KL, Press
    # rank): softmax 0.7547 (5), sigsoftmax 0.7561 (60), GSS 0.7561 (60),
    # MoS 0.6966 (60), PLIF 0.6355 (60). Sigsoftmax and GSS are full rank yet
    # no better than softmax (Parthiban et al. 2021: high rank is not
    # sufficient); MoS and PLIF do get lower.
    T = dirichlet_target(120, 60, concentration=0.3, seed=1)
    plif = {"theta": act.plif_init(100, 10.0), "bound": 10.0}
    kl = {name: F.fit_log_probs(T, name, d=4, max_iter=200,
                                **({"params": plif, "learn": ("theta",)}
                                   if name == "plif" else {})).kl
          for name in ("softmax", "sigsoftmax", "mos", "plif")}
    assert kl["softmax"] > 0.1                     # bounded away from zero
    assert kl["mos"] < kl["softmax"]
    assert kl["plif"] < kl["softmax"]
    assert abs(kl["sigsoftmax"] - kl["softmax"]) < 0.05 * kl["softmax"]


def test_gss_parameters_can_be_learned():
    T = dirichlet_target(40, 30, concentration=0.5, seed=3)
    r = F.fit_log_probs(T, "gss", d=3, params={"c": 0.0, "k": 2.0},
                        learn=("c", "k"), max_iter=50)
    assert (r.layer.params["c"], r.layer.params["k"]) != (0.0, 2.0)


def test_sweep_rows():
    T = dirichlet_target(30, 20, concentration=0.5, seed=4)
    sw = F.expressivity_sweep(T, activations=("softmax", "moc"), dims=(2, 4),
                              seeds=(0, 1), max_iter=20)
    assert len(sw.rows) == 8
    assert {"activation", "d", "seed", "kl", "mode_accuracy", "press_rank"} <= set(
        sw.rows[0])
    assert "moc" in repr(sw)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("target, pattern", [
    (np.array([[0.5, 0.4], [0.5, 0.5]]), r"row 0 sums to 0.9.*off by 0.1"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), r"target must be non-negative; got -0.5"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), r"target must be finite"),
    (np.ones(3) / 3, r"target must be 2-D"),
])
def test_bad_targets(target, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.fit_log_probs(target, "softmax", d=2)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"activation": "sofmax"}, r"activation must be one of"),
    ({"activation": "sparsemax"}, r"'sparsemax' is not fittable by cross-entropy"),
    ({"activation": "r_softmax"}, r"not fittable by cross-entropy"),
    ({"d": 0}, r"d must be a positive integer; got 0"),
])
def test_bad_arguments(kwargs, pattern):
    T = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match=pattern):
        F.fit_log_probs(T, **{"activation": "softmax", "d": 2, **kwargs})


def test_nan_during_optimisation_names_the_iteration(monkeypatch):
    T = dirichlet_target(10, 8, concentration=1.0, seed=5)
    real = F.loss_and_gradient
    calls = {"n": 0}

    def poisoned(x, spec, target):
        calls["n"] += 1
        loss, grad, logp = real(x, spec, target)
        return (np.nan if calls["n"] > 3 else loss), grad, logp

    monkeypatch.setattr(F, "loss_and_gradient", poisoned)
    with pytest.raises(FloatingPointError, match=r"non-finite loss or gradient at "
                                                 r"iteration \d+"):
        F.fit_log_probs(T, "softmax", d=2)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"bias": "no"}, r"bias must be True or False; got 'no'"),
    ({"bias": 1}, r"bias must be True or False; got 1"),
    ({"log_target": "False"}, r"log_target must be True or False; got 'False'"),
])
def test_flags_must_be_booleans(kwargs, pattern):
    # a truthy string once fitted a bias the caller had said "no" to
    with pytest.raises(TypeError, match=pattern):
        F.fit_log_probs(np.full((3, 4), 0.25), "softmax", d=2, **kwargs)


def test_numpy_booleans_are_flags():
    T = dirichlet_target(6, 5, concentration=1.0, seed=6)
    r = F.fit_log_probs(T, "softmax", d=2, has_bias=np.True_, max_iter=3)
    assert r.layer.bias is not None
    r = F.fit_log_probs(np.log(T), "softmax", d=2, log_target=np.True_, max_iter=3)
    assert r.entropy == pytest.approx(F.fit_log_probs(T, d=2, max_iter=3).entropy)


@pytest.mark.parametrize("box, error, pattern", [
    ("low", TypeError, r"got 'low'"),
    ((1.0,), TypeError, r"got \(1.0,\)"),
    (("a", 1.0), TypeError, r"got \('a', 1.0\)"),
    ((True, 2.0), TypeError, r"got \(True, 2.0\)"),
    ((float("nan"), 1.0), ValueError, r"got \(nan, 1.0\)"),
    ((1.0, 0.0), ValueError, r"got low 1.0 > high 0.0"),
])
def test_bad_parameter_bounds_are_refused_before_fitting(box, error, pattern,
                                                         monkeypatch):
    mine = dataclasses.replace(act.get("gss"), name="gss_boxed", param_bounds={"k": box})
    monkeypatch.setattr(scipy.optimize, "minimize", _never_called)
    with pytest.raises(error, match=r"param_bounds\['k'\] of activation 'gss_boxed' "
                                    r"must be \(low, high\).*" + pattern):
        F.fit_log_probs(np.full((3, 4), 0.25), mine, d=2, params={"c": 0.0, "k": 2.0},
                        learn=("k",))


def test_good_parameter_bounds_hold_during_the_fit():
    mine = dataclasses.replace(act.get("gss"), name="gss_boxed",
                               param_bounds={"k": (1.5, 2.5), "c": (None, np.inf)})
    T = dirichlet_target(20, 10, concentration=0.5, seed=7)
    r = F.fit_log_probs(T, mine, d=2, params={"c": 0.0, "k": 2.0}, learn=("c", "k"),
                        max_iter=30)
    assert 1.5 <= r.layer.params["k"] <= 2.5


def _never_called(*args, **kwargs):
    raise AssertionError("the optimiser ran before the arguments were checked")
