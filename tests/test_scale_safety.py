"""Safe at any scale (issue 24, item 2): spectra and ranks of ``s·A`` are
those of ``A`` scaled (powers of two first, as LAPACK's dlascl), for every
scale whose singular values are representable; a layer whose logits or
log-probabilities overflow says so, naming itself and its largest logit."""

import numpy as np
import pytest
import scipy.linalg

import rankbottleneck as rb
from rankbottleneck.output_set import hidden_size_by_rows
from rankbottleneck.outputlayer import energy_dimension

SCALES = (1e-300, 1e-150, 1.0, 1e150, 1e300)
COUNTS = ("numpy", "press", "effective", "gap")     # integer measures
REALS = ("entropy", "stable")


def _low_rank(seed=0, shape=(12, 20), r=3, shift=True):
    """Rank r plus a constant per row (shift-invariant rank r, rank r + 1),
    singular values spread over two decades."""
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((shape[0], r)) * np.geomspace(10, 0.1, r)) \
        @ rng.standard_normal((r, shape[1]))
    if shift:
        A += rng.standard_normal((shape[0], 1))
    return A


def _ranks(A, method="auto"):
    """Every measure of `A` (atol relative to its σ_1), as plain numbers."""
    s1 = rb.singular_values(A, top=1)[0]
    out = {m: rb.numerical_rank(A, m, method=method).value for m in COUNTS + REALS}
    out.update({f"effective({e})": rb.numerical_rank(A, "effective", eps=e).value
                for e in (1e-4, 1e-5)})
    out["rtol"] = rb.numerical_rank(A, rtol=1e-8).value
    out["atol"] = rb.numerical_rank(A, atol=1e-8 * s1).value
    for m in ("numpy", "press", "gap"):
        out[f"shift-invariant {m}"] = rb.shift_invariant_rank(A, m, method=method).value
    return out


def _same(got, want):
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert np.isfinite(got[key]), key
        assert got[key] == pytest.approx(value, rel=1e-9), key


# ---------------------------------------------------------------------------
# The reported cases
# ---------------------------------------------------------------------------


def test_gram_spectrum_of_a_matrix_at_1e200():
    A = _low_rank(1, (30, 50), r=8)
    want = rb.spectrum(A, method="gram")
    got = rb.spectrum(1e200 * A, method="gram")
    np.testing.assert_allclose(got.values[:9], 1e200 * want.values[:9], rtol=1e-12)
    for m in COUNTS:
        assert got.rank(m) == want.rank(m) == rb.numerical_rank(1e200 * A, m), m
    assert "computed on the matrix times 2^-" in got.notes


@pytest.mark.parametrize("activation, N, M", [("sigsoftmax", 40, 60),
                                               ("gss", 40, 60),
                                               ("sigsoftmax", 60, 40),   # by rows
                                               ("mos", 40, 60)])
def test_streamed_layer_at_logits_1e150_is_its_matrix_spectrum(activation, N, M):
    H, W, _ = rb.contexts_and_words(N, M, 5, seed=0)
    if activation == "mos":
        small = rb.synthetic.random_mixture_layer(M, 5, 2, seed=1)
        layer = rb.MixtureLayer(1e150 * small.W, small.priors, small.projections,
                                small.offsets)
    else:
        params = {"c": 1.0, "k": 3.0} if activation == "gss" else {}
        layer = rb.PointwiseLayer(1e150 * W, activation=activation, params=params)
    Y = layer.log_prob_matrix(H)                                 # finite: ~1e150
    for centre in (False, True):
        spec = rb.spectrum(layer, H, centre_rows=centre)
        dense = scipy.linalg.svdvals(Y - Y.mean(axis=1, keepdims=True) if centre else Y)
        assert spec.method.startswith("gram") and spec.values[0] > 1e148
        np.testing.assert_allclose(spec.values, dense, rtol=0, atol=1e-11 * dense[0])
        if not centre:
            for m in COUNTS:
                assert spec.rank(m) == rb.numerical_rank(Y, m), m


def test_streamed_layer_at_logits_1e150_on_a_cluster():
    distributed = pytest.importorskip("distributed")
    H, W, _ = rb.contexts_and_words(40, 60, 5, seed=0)
    layer = rb.PointwiseLayer(1e150 * W, activation="sigsoftmax")
    here = rb.spectrum(layer, H, method="gram")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        there = rb.spectrum(layer, H, method="gram", client=client)
        centred = rb.spectrum(layer, H, method="gram", centre_rows=True, client=client)
    np.testing.assert_allclose(there.values, here.values, rtol=0,
                               atol=1e-12 * here.values[0])
    assert there.values[0] > 1e149
    for m in COUNTS:
        assert there.rank(m) == here.rank(m), m
    want = rb.spectrum(layer, H, method="gram", centre_rows=True)
    np.testing.assert_allclose(centred.values, want.values, rtol=0,
                               atol=1e-12 * want.values[0])


def test_top_singular_value_at_1e155_without_lapack_messages(capfd):
    A = _low_rank(2, (40, 60))
    want = rb.singular_values(A, top=1)
    np.testing.assert_allclose(rb.singular_values(1e155 * A, top=1), 1e155 * want,
                               rtol=1e-12)
    np.testing.assert_allclose(rb.singular_values(1e-300 * A, top=2),
                               1e-300 * rb.singular_values(A, top=2), rtol=1e-12)
    captured = capfd.readouterr()
    assert "DLASCL" not in captured.out + captured.err


def test_rank_of_a_matrix_whose_sigma_overflows():
    A = np.full((5, 4), 1.5e308)           # σ_1 = 6.7e308: not representable
    for m in ("numpy", "press", "gap", "effective"):
        assert rb.numerical_rank(A, m) == 1, m
        assert rb.numerical_rank(A, m, method="gram") == 1, m
    assert rb.numerical_rank(A, rtol=1e-3) == 1
    assert rb.numerical_rank(A, "entropy").value == pytest.approx(1.0)
    assert rb.numerical_rank(A, "stable").value == pytest.approx(1.0)
    r = rb.numerical_rank(A)
    assert "σ1 = 6.71e+308" in r.rule
    # shift-invariant: every row is constant, nothing is left after centring
    assert rb.shift_invariant_rank(A, "press") == 0
    report = rb.rank_report(A)
    assert report["numpy"] == 1 and report["press"] == 1


def test_entropy_rank_at_the_top_of_float64():
    A = np.array([[1.7e308, 1.0], [1.0, 1.7e308]])
    r = rb.numerical_rank(A, "entropy")
    assert r.value == pytest.approx(2.0)
    for m in ("numpy", "press", "gap", "effective"):
        # the identity's ranks (its gap rank is 1: no gap at all)
        assert rb.numerical_rank(A, m) == rb.numerical_rank(np.eye(2), m), m
        assert rb.numerical_rank(A, m) == (1 if m == "gap" else 2), m
    assert rb.numerical_rank(A, "stable").value == pytest.approx(2.0)
    assert rb.rank_report(A)["entropy"].value == pytest.approx(2.0)


def test_analyze_output_layer_at_1e300_is_the_unscaled_report():
    W = np.random.default_rng(0).standard_normal((60, 5))
    want = rb.analyze_output_layer(W, argmax=False, progress=False)
    got = rb.analyze_output_layer(1e300 * W, argmax=False, progress=False)
    assert got.ranks["softmax"]["press"] == 6 == want.ranks["softmax"]["press"]
    for act in want.ranks:
        _same(got.ranks[act].as_dict(), want.ranks[act].as_dict())
    assert got.hidden_size["softmax"].d == 5


# ---------------------------------------------------------------------------
# Scale invariance
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(12, 20), (20, 12)])
def test_every_rank_measure_is_scale_invariant(shape):
    A = _low_rank(3, shape)
    want = _ranks(A)
    assert want["numpy"] == 4 and want["shift-invariant numpy"] == 3 \
        if shape == (12, 20) else True
    s_want = rb.singular_values(A)
    for s in SCALES:
        _same(_ranks(s * A), want)
        _same(_ranks(s * A, method="gram"), want)
        np.testing.assert_allclose(rb.singular_values(s * A), s * s_want, rtol=1e-12,
                                   atol=1e-15 * s * s_want[0])


@pytest.mark.parametrize("method", ["svd", "gram"])
def test_spectrum_scales_with_the_matrix(method):
    # a spectrum over sixteen decades: the Gram path needs its refinement
    rng = np.random.default_rng(4)
    U, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    V, _ = np.linalg.qr(rng.standard_normal((24, 16)))
    sigma = np.r_[np.geomspace(1, 1e-8, 10), np.zeros(6)]
    A = (U * sigma) @ V.T
    want = rb.spectrum(A, method=method)
    for s in SCALES:
        got = rb.spectrum(s * A, method=method)
        assert got.method == want.method and np.all(np.isfinite(got.values))
        # s·A is A rounded at another scale: within each one's error estimate
        np.testing.assert_array_less(np.abs(got.values - s * want.values),
                                     got.error + s * want.error + 1e-15 * s)
        np.testing.assert_allclose(got.error, s * want.error, rtol=1e-3)
        np.testing.assert_allclose(got.values[:10], s * sigma[:10], rtol=1e-6)
        for m in COUNTS:
            assert got.rank(m) == want.rank(m), (s, m)
        assert got.rank(atol=1e-9 * s) == want.rank(atol=1e-9) == 10
        assert got.rank(atol=1e-7 * s) == 8
        for m in REALS:
            assert got.rank(m).value == pytest.approx(want.rank(m).value, rel=1e-9)
        report = rb.rank_report(s * A, method=method)
        for r, w in zip(report.ranks + report.shift_invariant,
                        rb.rank_report(A, method=method).ranks
                        + rb.rank_report(A, method=method).shift_invariant):
            assert r.value == pytest.approx(w.value, rel=1e-9), (s, r.label)


@pytest.mark.parametrize("activation", ["softmax", "sigsoftmax"])
def test_layer_spectra_under_the_same_logits(activation):
    """``(s·W, H/s)`` has the logits of ``(W, H)``: the same log-probability
    matrix up to rounding, whatever the scale of either factor."""
    H, W, b = rb.contexts_and_words(30, 50, 4, has_bias=True, seed=5)
    layer = rb.PointwiseLayer(W, b, activation=activation)
    want = rb.spectrum(layer, H)
    want_c = rb.spectrum(layer, H, centre_rows=True)
    for s in SCALES:
        scaled = rb.PointwiseLayer(s * W, b, activation=activation)
        got = rb.spectrum(scaled, H / s)
        got_c = rb.spectrum(scaled, H / s, centre_rows=True)
        assert got.method == want.method
        np.testing.assert_allclose(got.values, want.values, rtol=0,
                                   atol=1e-12 * want.values[0])
        np.testing.assert_allclose(got_c.values, want_c.values, rtol=0,
                                   atol=1e-12 * want.values[0])
        for m in COUNTS:
            assert got.rank(m) == want.rank(m), (s, m)
        for m in ("numpy", "press"):
            assert (rb.shift_invariant_rank(scaled, m, contexts=H / s)
                    == rb.shift_invariant_rank(layer, m, contexts=H)), (s, m)


def test_analyze_output_layer_is_scale_invariant():
    """Sampled contexts are scaled to the logit std: the log-probability
    matrices of ``s·W`` are those of ``W`` (up to rounding), so are every
    rank and the hidden size; W's spectrum scales, its shape does not."""
    W = np.random.default_rng(6).standard_normal((40, 4)) + 0.5
    want = rb.analyze_output_layer(W, argmax=False, progress=False)
    for s in SCALES:
        got = rb.analyze_output_layer(s * W, argmax=False, progress=False)
        for act in want.ranks:
            _same(got.ranks[act].as_dict(), want.ranks[act].as_dict())
            np.testing.assert_allclose(got.ranks[act].singular_values,
                                       want.ranks[act].singular_values, rtol=0,
                                       atol=1e-11 * want.ranks[act].singular_values[0])
        assert {a: h.d for a, h in got.hidden_size.items()} == \
            {a: h.d for a, h in want.hidden_size.items()}
        assert [(n, e.d) for n, e in got.hidden_size_by_n] == \
            [(n, e.d) for n, e in want.hidden_size_by_n]
        np.testing.assert_allclose(got.singular_values, s * want.singular_values,
                                   rtol=1e-12)
        np.testing.assert_allclose(got.singular_values_centred,
                                   s * want.singular_values_centred, rtol=1e-12)
        assert got.energy_dims == want.energy_dims
        assert got.energy_dims_centred == want.energy_dims_centred
        assert got.rank_W == want.rank_W and got.rank_W_centred == want.rank_W_centred
        assert got.mean_cosine == pytest.approx(want.mean_cosine, rel=1e-12)
        assert got.mean_norm_ratio == pytest.approx(want.mean_norm_ratio, rel=1e-12)
        assert got.context_scale == pytest.approx(want.context_scale / s, rel=1e-12)
        # given contexts with the same logits: the same report
        H = np.random.default_rng(7).standard_normal((30, 4))
        a = rb.analyze_output_layer(W, contexts=H, argmax=False, progress=False)
        b = rb.analyze_output_layer(s * W, contexts=H / s, argmax=False,
                                    progress=False)
        for act in a.ranks:
            _same(b.ranks[act].as_dict(), a.ranks[act].as_dict())
        assert b.context_anisotropy["energy_dims"] == a.context_anisotropy["energy_dims"]


def test_hidden_size_and_energy_at_any_scale():
    H, W, _ = rb.contexts_and_words(40, 30, 5, seed=8)
    Y = rb.PointwiseLayer(W).log_prob_matrix(H)
    want = rb.estimate_hidden_size(Y)
    s_want = np.geomspace(1, 1e-3, 6)
    for s in SCALES:
        got = rb.estimate_hidden_size(s * Y)
        # the gap is σ_5 over a rounding-noise σ_6: only its size is shared
        assert got.d == want.d == 5 and got.cliff and got.gap > 1e10
        np.testing.assert_allclose(got.singular_values[:5], s * want.singular_values[:5],
                                   rtol=1e-12)
        assert [e.d for _, e in hidden_size_by_rows(s * Y)] == \
            [e.d for _, e in hidden_size_by_rows(Y)]
        for f in (0.9, 0.99, 1.0):
            assert energy_dimension(s * s_want, f) == energy_dimension(s_want, f)


# ---------------------------------------------------------------------------
# Overflow is named, never zeros or NaN
# ---------------------------------------------------------------------------


LOGIT_OVERFLOW = r"PointwiseLayer\(M=60.*its logits overflow float64: the largest " \
                 r"\|logit\| is \d\.\d+e\+3(09|1\d)"


@pytest.mark.parametrize("activation", ["softmax", "sigsoftmax"])
def test_a_layer_whose_logits_overflow_says_so(activation):
    H, W, _ = rb.contexts_and_words(40, 60, 5, seed=0)
    layer = rb.PointwiseLayer(1e300 * W, activation=activation)
    H = 1e10 * H
    for call in (lambda: layer(H), lambda: layer.logits(H),
                 lambda: layer.log_prob_matrix(H),
                 lambda: rb.spectrum(layer, H),
                 lambda: rb.spectrum(layer, H, method="gram"),
                 lambda: rb.spectrum(layer, H, method="gram", centre_rows=True),
                 lambda: rb.spectrum(layer, H, centre_rows=True),  # structural (softmax)
                 lambda: rb.spectrum(layer, H[:30, :], method="svd"),
                 lambda: rb.spectrum(rb.PointwiseLayer(1e300 * W[:20], activation=activation),
                                     H, method="gram"),         # N > M: by rows
                 lambda: rb.numerical_rank(layer, contexts=H),
                 lambda: rb.rank_report(layer, contexts=H)):
        with pytest.raises(ValueError, match=LOGIT_OVERFLOW.replace("M=60", "M=(60|20)")):
            call()


def test_log_probabilities_that_overflow_with_finite_logits_say_so():
    layer = rb.PointwiseLayer(np.array([[1e308], [-1e308], [0.0]]))
    with pytest.raises(ValueError, match=r"log-probabilities overflow float64 although "
                                         r"its logits do not \(the largest \|logit\| "
                                         r"is 1e\+308"):
        layer(np.ones((2, 1)))
    with pytest.raises(ValueError, match="log-probabilities overflow"):
        rb.spectrum(rb.PointwiseLayer(np.array([[1e308], [-1e308], [0.0]] * 3),
                                      activation="sigsoftmax"), np.ones((2, 1)))


def test_a_mixture_whose_logits_overflow_says_so():
    layer = rb.synthetic.random_mixture_layer(30, 4, 2, seed=9)
    big = rb.MixtureLayer(1e308 * layer.W, layer.priors, layer.projections,
                          layer.offsets)
    G = np.random.default_rng(9).standard_normal((10, layer.d_context))
    for call in (lambda: big(G), lambda: rb.spectrum(big, G),
                 lambda: rb.spectrum(big, G, method="svd")):
        with pytest.raises(ValueError, match=r"MixtureLayer\(MoS.*its logits overflow "
                                             r"float64: the largest \|logit\| is"):
            call()
