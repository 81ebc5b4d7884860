"""Bring your own activation: declarations, the registry, and every analysis
run on user activations with each combination of capabilities."""

import numpy as np
import pytest
import sympy as sp
from conftest import ACTIVATION_PARAMS, gradient_error, registry_name

import rankbottleneck as rb
from rankbottleneck import activations as act
from rankbottleneck import symbolic as S
from rankbottleneck.activations._registry import _self_check
from rankbottleneck.synthetic import contexts_and_words, dirichlet_target

# ---------------------------------------------------------------------------
# User activations, one per capability combination
# ---------------------------------------------------------------------------


def _sigsq_map(z):
    return z + 2 * act.log_sigmoid(z)            # log g, g(z) = e^z σ(z)²


SIGSQ = act.Activation(                           # everything declared
    "sigsq", lambda z: act.log_normalize(_sigsq_map(z)), logit_map=_sigsq_map,
    logit_map_derivative=lambda z: 1 + 2 * act.sigmoid(-z), increasing=True,
    sympy_g=lambda z: sp.exp(z) / (1 + sp.exp(-z)) ** 2,
    reference="test: g = e^z σ(z)²")


def _cubic_map(z):
    return z + z**3 / 30                          # increasing, undeclared


CUBIC = act.Activation(                           # a logit map and nothing else
    "cubic", lambda z: act.log_normalize(_cubic_map(z)), logit_map=_cubic_map)


def _row_centred_tanh(z):
    # dense, but no elementwise logit map: each entry depends on the row mean
    return act.log_normalize(z + np.tanh(z - z.mean(axis=-1, keepdims=True)))


ROWTEMP = act.Activation("rowtemp", _row_centred_tanh)


def _relu_squared(z):
    m = np.max(z, axis=-1, keepdims=True)
    g = (np.maximum(z, 0) / np.where(m > 0, m, 1)) ** 2
    with np.errstate(divide="ignore"):
        return np.log(g) - np.log(np.sum(g, axis=-1, keepdims=True))


RELU2 = act.Activation(                           # sparse, with an exact support
    "relu2", _relu_squared, sparse=True,
    support=lambda W, b: (np.any(W != 0, axis=1) | (b > 0), "w_i ≠ 0 or b_i > 0"))

SHIFTED = act.Activation(                         # softmax-like: a shift only
    "plain", lambda z: act.log_normalize(z), logit_map=lambda z: z,
    logit_map_derivative=np.ones_like, increasing=True, shift_only=True)

USER = (SIGSQ, CUBIC, ROWTEMP, RELU2, SHIFTED)


@pytest.fixture
def registered():
    for a in USER:
        act.register(a, overwrite=True)
    yield {a.name: a for a in USER}
    for a in USER:
        if a.name in act.available():
            act.unregister(a.name)


# ---------------------------------------------------------------------------
# Declarations and the registry
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(ACTIVATION_PARAMS))
def test_builtin_declarations_pass_the_registration_check(key):
    a = act.get(registry_name(key))
    _self_check(a, ACTIVATION_PARAMS[key])


def test_builtin_capabilities_are_declared():
    caps = {name: set(act.get(name).capabilities) for name in act.available()}
    assert {"logit_map", "increasing", "shift_only", "convex_g"} <= caps["softmax"]
    assert {"derivative", "param_gradients", "sympy"} <= caps["gss"]
    assert "shift_only" not in caps["sigsoftmax"]
    for name in ("t_softmax", "r_softmax", "sparsemax", "entmax", "relu_normalized"):
        assert "sparse" in caps[name] and "logit_map" not in caps[name]


def test_register_by_name_and_object(registered):
    z = np.random.default_rng(0).standard_normal((3, 7))
    expected = act.log_softmax(z + 2 * act.log_sigmoid(z))
    np.testing.assert_allclose(act.get("sigsq")(z), expected, rtol=1e-14)
    np.testing.assert_allclose(SIGSQ(z.T, axis=0), expected.T, rtol=1e-14)
    assert "sigsq" in act.available()
    assert "sigsq(" in repr(SIGSQ) and "derivative" in repr(SIGSQ)


def test_overwrite_and_builtin_rules(registered):
    with pytest.raises(ValueError, match=r"'sigsq' is already registered.*"
                                         r"overwrite=True"):
        act.register(SIGSQ)
    assert act.register(SIGSQ, overwrite=True) is SIGSQ
    impostor = act.Activation("softmax", lambda z: act.log_normalize(z))
    with pytest.raises(ValueError, match=r"'softmax' is a built-in activation and "
                                         r"cannot be replaced"):
        act.register(impostor, overwrite=True)
    with pytest.raises(ValueError, match="built-in activation and cannot be removed"):
        act.unregister("softmax")
    with pytest.raises(ValueError, match=r"no activation named 'nope'"):
        act.unregister("nope")
    with pytest.raises(TypeError, match="activation must be an Activation"):
        act.register(lambda z: z)


def test_layers_hold_the_object_not_the_name(registered):
    H, W, _ = contexts_and_words(20, 15, 3, seed=0)
    layer = rb.PointwiseLayer(W, activation="sigsq")
    assert layer.activation is SIGSQ
    act.unregister("sigsq")
    np.testing.assert_allclose(np.exp(layer(H)).sum(-1), 1, atol=1e-12)
    with pytest.raises(ValueError, match=r"activation must be one of .*got 'sigsq'"):
        rb.PointwiseLayer(W, activation="sigsq")
    # an unregistered object works everywhere a name does
    rb.PointwiseLayer(W, activation=SIGSQ)


@pytest.mark.parametrize("bad, pattern", [
    (dict(logit_map_derivative=lambda z: np.ones_like(z)),
     r"logit_map_derivative differs from central differences"),
    (dict(increasing=True, logit_map=lambda z: np.sin(z) + z / 2,
          log_prob=lambda z: act.log_normalize(np.sin(z) + z / 2)),
     r"increasing=True but φ is not strictly increasing"),
    (dict(log_prob=lambda z: act.log_normalize(2 * z)),
     r"log_prob differs from φ\(z\) - lse\(φ\(z\)\)"),
    (dict(shift_only=True), r"shift_only=True but log_prob - z varies"),
    (dict(log_prob=lambda z: z), r"probabilities sum to"),
    (dict(log_prob=lambda z: z[..., :-1]), r"returned shape"),
])
def test_registration_check_catches_wrong_declarations(bad, pattern):
    fields = dict(log_prob=lambda z: act.log_normalize(_sigsq_map(z)),
                  logit_map=_sigsq_map)
    fields.update(bad)
    with pytest.raises(ValueError, match=pattern):
        act.register(act.Activation("wrong", **fields))
    assert "wrong" not in act.available()


@pytest.mark.parametrize("fields, error, pattern", [
    (dict(increasing=True), ValueError, r"declares \['increasing'\].*declare "
                                        r"logit_map too"),
    (dict(logit_map=np.exp, sparse=True), ValueError, "sparse activation has no "
                                                     "logit map"),
    (dict(support=lambda W, b: None), ValueError, "declare sparse=True"),
    (dict(logit_map=3), TypeError, r"logit_map must be callable; got 3"),
    (dict(increasing="yes"), TypeError, r"increasing must be True or False"),
    (dict(params={"a": 1}, param_bounds={"b": (0, 1)}), ValueError,
     r"param_bounds names \['b'\]"),
])
def test_inconsistent_declarations_refused(fields, error, pattern):
    with pytest.raises(error, match=pattern):
        act.Activation("bad", act.log_normalize, **fields)
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        act.Activation("no good", act.log_normalize)


def test_required_parameters_need_check_params():
    a = act.Activation("scaled", lambda z, s: act.log_normalize(s * z),
                       params={"s": act.REQUIRED}, logit_map=lambda z, s: s * z)
    with pytest.raises(ValueError, match=r"needs parameter 's'; pass check_params"):
        act.register(a)
    act.register(a, check_params={"s": 2.0})
    try:
        assert act.available()["scaled"] == {"s": None}
        np.testing.assert_allclose(act.get("scaled")(np.zeros(4), s=3.0),
                                   np.log(np.full(4, 0.25)))
    finally:
        act.unregister("scaled")


def test_missing_capability_errors_name_it(registered):
    T = dirichlet_target(8, 6, concentration=0.5, seed=0)
    with pytest.raises(TypeError, match=r"'cubic' declares no logit_map_derivative, "
                                        r"which fit_log_probs needs"):
        rb.fit_log_probs(T, "cubic", d=2)
    with pytest.raises(TypeError, match=r"'rowtemp' declares no logit_map"):
        rb.fit_log_probs(T, "rowtemp", d=2)
    scaled = act.Activation("scaled", lambda z, s=1.0: act.log_normalize(s * z),
                            params={"s": 1.0}, logit_map=lambda z, s=1.0: s * z,
                            logit_map_derivative=lambda z, s=1.0: np.full_like(z, s))
    with pytest.raises(TypeError, match=r"'scaled' declares no param_gradients, "
                                        r"which fit_log_probs needs to learn \['s'\]"):
        rb.fit_log_probs(T, scaled, d=2, learn=("s",))
    with pytest.raises(ValueError, match=r"learn names parameters \['t'\]"):
        rb.fit_log_probs(T, scaled, d=2, learn=("t",))
    with pytest.raises(ValueError, match=r"'cubic' is not a normalised function of "
                                         "one logit with a declared sympy form"):
        S.check_activation_properties("cubic")


# ---------------------------------------------------------------------------
# Every analysis on every user activation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [a.name for a in USER])
def test_log_prob_matrix_and_layers(registered, name):
    H, W, b = contexts_and_words(30, 12, 3, has_bias=True, seed=1)
    A = rb.log_prob_matrix(H, W, name, bias=b)
    np.testing.assert_allclose(A, registered[name](H @ W.T + b), rtol=1e-13)
    np.testing.assert_allclose(np.exp(A).sum(axis=1), 1, atol=1e-12)
    G = np.random.default_rng(2).standard_normal((10, 4))
    mix = rb.synthetic.random_mixture_layer(12, 3, 2, d_context=4, base=name, seed=3)
    assert mix.base is registered[name]
    np.testing.assert_allclose(np.exp(mix(G)).sum(axis=1), 1, atol=1e-12)


@pytest.mark.parametrize("name", ["sigsq", "cubic", "rowtemp", "plain"])
@pytest.mark.parametrize("N, M", [(40, 90), (90, 40)])
def test_spectrum_and_rank_report_match_the_dense_svd(registered, name, N, M):
    H, W, b = contexts_and_words(N, M, 4, has_bias=True, logit_scale=2.0, seed=4)
    layer = rb.PointwiseLayer(W, b, activation=name)
    dense = np.linalg.svd(layer.log_prob_matrix(H), compute_uv=False)
    for method in ("auto", "gram"):
        s = rb.spectrum(layer, H, method=method).values
        np.testing.assert_allclose(s, dense, rtol=0, atol=1e-12 * dense[0])
    rep = rb.rank_report(layer, contexts=H)
    assert rep["press"] == rb.numerical_rank(layer.log_prob_matrix(H), "press")
    if name == "plain":       # a shift of the logits: rank ≤ d + 2 with a bias
        assert rep.method == "structural" and rep["press"] == 6
    elif name == "cubic":
        # φ(z) = z + z³/30 is a cubic in h: its entries span the C(d+3, 3) = 35
        # monomials of degree ≤ 3 in h, plus the normaliser column
        assert rep["press"] == 36
    else:
        assert rep["press"] == min(N, M)


def test_output_set_dimension_uses_the_shift_capability(registered):
    _, W, _ = contexts_and_words(10, 20, 3, seed=5)
    plain = rb.output_set_dimension(rb.PointwiseLayer(W, activation="plain"), 60,
                                    seed=0)
    assert plain.linear.value == 4 and plain.bounds["linear"] == 4
    sig = rb.output_set_dimension(rb.PointwiseLayer(W, activation="sigsq"), 60,
                                  seed=0)
    assert sig.linear.value == 20


def test_argmaxable_under_asks_the_capabilities(registered):
    rng = np.random.default_rng(6)
    W = rng.standard_normal((30, 2))
    W[-1] = W[:3].mean(axis=0)                        # an interior word
    linear = rb.argmaxable(W)
    exact = rb.argmaxable_under(rb.PointwiseLayer(W, activation="sigsq"))
    assert exact.kind == "exact" and np.array_equal(exact.mask, linear.mask)
    sampled = rb.argmaxable_under(rb.PointwiseLayer(W, activation="cubic"),
                                  n_contexts=3000)
    assert sampled.kind == "lower-bound" and sampled.question == "argmax"
    assert not np.any(sampled.mask & ~linear.mask)    # cubic is increasing anyway
    W0 = W.copy()
    W0[4] = 0.0
    support = rb.argmaxable_under(rb.PointwiseLayer(W0, activation="relu2"))
    assert support.kind == "exact-support"
    assert support.mask.sum() == 29 and not support.mask[4]


def test_fit_with_a_user_activation_and_its_gradient(registered):
    from rankbottleneck import fit as F

    T = dirichlet_target(6, 8, concentration=0.5, seed=0)
    _, kind, a = F._resolve_activation("sigsq")
    spec = F._Spec(a, kind, 6, 8, 3, True, {}, ())
    rng = np.random.default_rng(1)
    x = F._init(spec, rng, T) + 0.3 * rng.standard_normal(spec.size)
    assert gradient_error(lambda v: F.loss_and_gradient(v, spec, T), x) < 1e-6
    r = rb.fit_log_probs(T, "sigsq", d=3, max_iter=50)
    np.testing.assert_allclose(r.layer.log_prob_matrix(r.contexts), r.log_probs,
                               atol=1e-12)
    m = rb.fit_log_probs(T, "mos", d=2, base="sigsq", max_iter=20)
    assert m.activation == "mos[sigsq]" and m.layer.base is SIGSQ


def test_symbolic_checks_from_the_declared_form(registered):
    r = S.check_activation_properties("sigsq")
    assert r.all_four and r.breaks_bottleneck and r.log_g_upper.holds
    res = S.residual_not_constant("sigsq")
    assert res.holds
    # the residual's second derivative is φ'' = -2 σ(z)(1 - σ(z))
    z1 = sp.Symbol("z_1", real=True)
    sigma = 1 / (1 + sp.exp(-z1))
    second = res.expressions["second_derivative"]
    assert sp.simplify((second + 2 * sigma * (1 - sigma)).rewrite(sp.exp)) == 0
    assert not S.residual_not_constant("softmax")


# ---------------------------------------------------------------------------
# Numbers that behave like numbers
# ---------------------------------------------------------------------------


def test_rank_compares_and_orders_like_its_value():
    A = np.outer([1.0, 2.0, 3.0], [1.0, 1.0])
    r = rb.numerical_rank(A)
    assert r == 1 and r != 2 and 1 == r and r < 2 and r >= 1 and not r > 1
    assert r == rb.numerical_rank(A, "press") and hash(r) == hash(1)
    assert sorted([rb.numerical_rank(np.eye(3)), r]) == [1, 3]
    assert {r: "x"}[1] == "x"
    assert (r == "1") is False
    entropy = rb.numerical_rank(np.diag([1.0, 1.0]), "entropy")
    assert entropy == pytest.approx(2.0) and entropy > 1.5


def test_signatures_show_the_axis_and_keyword_only_options():
    import inspect

    for f in (act.log_softmax, act.softmax, act.log_gss, act.log_entmax,
              act.log_t_softmax):
        p = inspect.signature(f).parameters["axis"]
        assert p.kind is p.KEYWORD_ONLY and p.default == -1
    for f, first_option in ((rb.rank_report, "d"), (rb.log_prob_matrix, "bias"),
                            (rb.contexts_and_words, "kind"),
                            (rb.singular_values, "top")):
        p = inspect.signature(f).parameters[first_option]
        assert p.kind is p.KEYWORD_ONLY


def test_progress_is_off_unless_asked_and_never_escapes(capsys):
    W = np.random.default_rng(0).standard_normal((300, 3))
    rb.argmaxable(W)                             # stderr is not a terminal here
    assert capsys.readouterr().err == ""
    rb.argmaxable(W, progress=True)
    err = capsys.readouterr().err
    assert "argmaxable" in err and "300/300" in err and "\x1b" not in err
    with pytest.raises(TypeError, match="progress must be None, True or False"):
        rb.argmaxable(W, progress="yes")


def test_a_false_convex_g_is_refused_and_saturation_is_named():
    """convex_g is checked like the other declarations (issue 23): e^arctan is
    not convex; tanh is increasing in exact arithmetic but saturates in
    float64, and the message says so."""
    with pytest.raises(ValueError, match="convex_g=True but e\\^φ is not convex"):
        rb.register(rb.Activation("atan_g", lambda z: act.log_normalize(np.arctan(z)),
                                  logit_map=np.arctan, increasing=True,
                                  convex_g=True))
    with pytest.raises(ValueError, match="saturates in floating point"):
        rb.register(rb.Activation("tanh_g", lambda z: act.log_normalize(np.tanh(z)),
                                  logit_map=np.tanh, increasing=True))
    assert "atan_g" not in rb.activations.available()
