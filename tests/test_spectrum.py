"""The fast spectrum paths agree with the dense LAPACK SVD where it matters."""

import numpy as np
import pytest
import scipy.linalg

import rankbottleneck as rb
from rankbottleneck import _lapack, _threads
from rankbottleneck._lapack import _eigvalsh_lower
from rankbottleneck.rank import rank_from_singular_values
from rankbottleneck.spectra import spectrum
from rankbottleneck.spectra._gram import _mirror_upper
from rankbottleneck.synthetic import contexts_and_words, random_mixture_layer

THRESHOLDS = ("numpy", "press")


def _planted(n, m, sigma, seed):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((m, n)))
    return (U * np.sort(sigma)[::-1]) @ V.T


def _dense_ranks(A, measures=THRESHOLDS, **kw):
    s = scipy.linalg.svdvals(A)
    return [rank_from_singular_values(s, m, shape=A.shape, **kw).value for m in measures]


def _straddling_cases():
    n, m = 120, 400
    eps = np.finfo(float).eps
    press = 0.5 * np.sqrt(n + m + 1) * eps
    numpy_tol = m * eps
    rng = np.random.default_rng(7)
    return {
        "twenty decades": np.logspace(0, -20, n),
        "around Press": np.r_[np.logspace(0, -3, 40),
                              press * np.exp(rng.uniform(-0.4, 0.4, n - 40))],
        "around numpy": np.r_[np.logspace(0, -3, 40),
                              numpy_tol * np.exp(rng.uniform(-0.4, 0.4, n - 40))],
        "two cliffs": np.r_[np.ones(30), 1e-9 * np.ones(30), 1e-13 * np.ones(30),
                            np.zeros(30)],
    }


@pytest.mark.parametrize("case", list(_straddling_cases()))
@pytest.mark.parametrize("transpose", [False, True])
def test_gram_rank_equals_dense_svd_when_values_straddle_the_tolerance(case, transpose):
    sigma = _straddling_cases()[case]
    A = _planted(120, 400, sigma, seed=3)
    A = A.T if transpose else A
    spec = spectrum(A, method="gram")
    assert spec.method.startswith("gram + ")          # the refinement was needed
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)
    s = scipy.linalg.svdvals(A)
    for rtol in (1e-6, 1e-10, 3e-14):   # none on a planted value
        assert spec.rank(rtol=rtol).value == \
            rank_from_singular_values(s, rtol=rtol, shape=A.shape).value
    # the spectrum itself: absolute agreement at the dense SVD's own level
    # below the cut, relative agreement above it
    assert np.max(np.abs(spec.values - s)) <= 1e-12 * s[0]
    big = s > 1e-3 * s[0]
    assert np.max(np.abs(spec.values[big] / s[big] - 1)) < 1e-10


@pytest.mark.parametrize("c", [1e-26, 1e-22, 1e-21, 1e-20, 1e-18])
def test_noise_fragility_ranks_agree(c):
    A = rb.synthetic.noisy_low_rank(300, rank=10, c=c, seed=0)
    spec = spectrum(A, method="gram")
    s = scipy.linalg.svdvals(A)
    for m, dense in zip(THRESHOLDS, _dense_ranks(A)):
        # noise spread continuously across the threshold: the two may differ
        # only by values the dense SVD itself can't place (its error ~ε√n σ1)
        tau = rank_from_singular_values(s, m, shape=A.shape).threshold
        unsure = int(np.sum(np.abs(s - tau) <= np.sqrt(300) * np.finfo(float).eps * s[0]))
        assert abs(spec.rank(m).value - dense) <= unsure


def test_well_conditioned_matrix_needs_one_pass():
    H, W, _ = contexts_and_words(200, 700, 16, logit_scale=2.0, seed=1)
    A = rb.log_prob_matrix(H, W, "sigsoftmax")
    spec = spectrum(A, method="gram")
    assert spec.method == "gram" and spec.passes == 1
    assert [name for name, _ in spec.stages] == [
        "pass 1: blocks and Gram", "λ_1 and Cholesky test", "eigenvalues"]
    assert all(sec >= 0 for _, sec in spec.stages)
    s = scipy.linalg.svdvals(A)
    assert np.max(np.abs(spec.values - s)) <= 1e-13 * s[0]
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)
    for e in (1e-3, 1e-5):
        assert spec.rank("effective", eps=e).value == \
            rank_from_singular_values(s, "effective", eps=e, shape=A.shape).value
    assert spec.rank("entropy").value == pytest.approx(
        rank_from_singular_values(s, "entropy", shape=A.shape).value, rel=1e-10)


@pytest.mark.parametrize("activation,params", [
    ("softmax", {}), ("sigsoftmax", {}), ("gss", {"c": 0.5, "k": 2.0}),
    ("sigmoid_normalized", {}),
])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(90, 260), (260, 90)])
def test_streamed_layer_equals_materialised_matrix(activation, params, bias, shape):
    N, M = shape
    H, W, b = contexts_and_words(N, M, 6, logit_scale=2.0, has_bias=bias, seed=2)
    layer = rb.PointwiseLayer(W, bias=b, activation=activation, params=params)
    A = layer.log_prob_matrix(H)
    s = scipy.linalg.svdvals(A)
    spec = spectrum(layer, H, method="gram", block_cols=37)
    assert np.max(np.abs(spec.values - s)) <= 1e-12 * s[0]
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)
    centred = spectrum(layer, H, method="gram", centre_rows=True, block_cols=50)
    sc = scipy.linalg.svdvals(A - A.mean(axis=1, keepdims=True))
    assert np.max(np.abs(centred.values - sc)) <= 1e-12 * s[0]


@pytest.mark.parametrize("base,kind", [("softmax", "mos"), ("sigsoftmax", "mos"),
                                       ("softmax", "moc")])
def test_streamed_mixture_layers(base, kind):
    layer = random_mixture_layer(M=150, d=5, K=3, base=base, kind=kind, seed=4)
    G = np.random.default_rng(4).standard_normal((80, layer.d_context))
    A = layer.log_prob_matrix(G)
    s = scipy.linalg.svdvals(A)
    spec = spectrum(layer, G, method="gram", block_cols=64)
    # within the stated error (relative ≤ 1/(2κ) just above the refinement cut)
    assert np.all(np.abs(spec.values - s) <= spec.error + 1e-13 * s[0])
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)


@pytest.mark.parametrize("bias", [False, True])
def test_structural_path_for_softmax(bias):
    H, W, b = contexts_and_words(300, 500, 12, logit_scale=3.0, has_bias=bias, seed=5)
    layer = rb.PointwiseLayer(W, bias=b)
    A = layer.log_prob_matrix(H)
    s = scipy.linalg.svdvals(A)
    spec = spectrum(layer, H)
    assert spec.method == "structural"
    assert [name for name, _ in spec.stages] == [
        "lse: logits product and exp", "two QRs and the core SVD"]
    k = 12 + 1 + bias
    assert np.count_nonzero(spec.values) == k          # exact zeros after d+1(+1)
    np.testing.assert_allclose(spec.values[:k], s[:k], rtol=1e-11)
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A) == [k, k]
    centred = spectrum(layer, H, centre_rows=True)
    # centring zeroes the column lse multiplies: it is not computed
    assert centred.stages[0][0] == "lse: not needed (rows centred)"
    sc = scipy.linalg.svdvals(A - A.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(centred.values[:k - 1], sc[:k - 1], rtol=1e-9)


def test_structural_path_for_moc():
    layer = random_mixture_layer(M=200, d=6, K=4, kind="moc", seed=6)
    G = np.random.default_rng(6).standard_normal((100, layer.d_context))
    spec = spectrum(layer, G)
    assert spec.method == "structural"
    A = layer.log_prob_matrix(G)
    assert spec.rank("press").value == _dense_ranks(A)[1] == 7


def test_rank_report_of_a_layer_says_how():
    H, W, b = contexts_and_words(150, 260, 8, has_bias=True, seed=8)
    layer = rb.PointwiseLayer(W, bias=b)
    report = rb.rank_report(layer, contexts=H)
    dense = rb.rank_report(layer.log_prob_matrix(H), d=8, has_bias=True)
    assert report.method == "structural" and "structural" in repr(report)
    assert report.d == 8 and report.bias is True
    # every integer rank equal (real-valued ones differ by rounding)
    assert {k: v for k, v in report.as_dict().items() if not isinstance(v, float)} == \
        {k: v for k, v in dense.as_dict().items() if not isinstance(v, float)}
    assert rb.numerical_rank(layer, "press", contexts=H).value == 10
    assert rb.shift_invariant_rank(layer, "press", contexts=H).value == 9
    sig = rb.PointwiseLayer(W, bias=b, activation="sigsoftmax")
    rep = rb.rank_report(sig, contexts=H, method="gram")
    ref = rb.rank_report(sig.log_prob_matrix(H), d=8, has_bias=True)
    assert rep.method.startswith("gram")
    assert rep["press"].value == ref["press"].value
    assert [r.value for r in rep.shift_invariant] == [r.value for r in ref.shift_invariant]


def test_float32_layer_keeps_float32_epsilon():
    H, W, _ = contexts_and_words(120, 300, 10, seed=9)
    layer = rb.PointwiseLayer(W.astype(np.float32), activation="softmax")
    H32 = H.astype(np.float32)
    A = layer.log_prob_matrix(H32)
    spec = spectrum(A, method="gram")
    assert spec.computed_in == "float32"
    assert spec.rank("press").value == \
        rb.numerical_rank(A, "press").value == 11


@pytest.mark.parametrize("activation,method", [("softmax", "structural"),
                                               ("sigsoftmax", "gram")])
def test_float32_layer_products_in_float32(activation, method):
    # A float32 layer's logits (and φ) are computed in float32, the sums and
    # Grams in float64: the spectrum is that of the exact matrix of the same
    # float32 H, W to within float32 rounding (ε₃₂ σ_1, the error it
    # reports), and every threshold rank is the materialised float32
    # matrix's.
    H, W, b = contexts_and_words(150, 400, 10, logit_scale=3.0, has_bias=True, seed=11)
    H32, W32, b32 = (x.astype(np.float32) for x in (H, W, b))
    layer = rb.PointwiseLayer(W32, bias=b32, activation=activation)
    spec = spectrum(layer, H32, method=method)
    exact = rb.PointwiseLayer(W32.astype(np.float64), bias=b32.astype(np.float64),
                              activation=activation)
    s = scipy.linalg.svdvals(exact.log_prob_matrix(H32.astype(np.float64)))
    eps32 = float(np.finfo(np.float32).eps)
    assert spec.computed_in == "float32"
    assert np.max(np.abs(spec.values - s)) <= 4 * eps32 * s[0]
    if method == "structural":
        assert np.allclose(spec.error, eps32 * spec.values[0])
    A32 = layer.log_prob_matrix(H32)
    assert [spec.rank(m).value for m in THRESHOLDS] == \
        _dense_ranks(A32, computed_in=np.float32)


def test_sparse_layer_is_refused_with_the_way_out():
    H, W, _ = contexts_and_words(40, 60, 4, seed=0)
    layer = rb.PointwiseLayer(W, activation="sparsemax")
    with pytest.raises(ValueError, match="rank_report"):
        spectrum(layer, H, method="gram")
    report = rb.rank_report(layer, contexts=H)       # built, support reported
    assert report.sparse is not None


def test_bad_input():
    A = np.ones((5, 8))
    with pytest.raises(ValueError, match="block_cols must be an integer in \\[1, 8\\]"):
        spectrum(A, method="gram", block_cols=0)
    with pytest.raises(ValueError, match="got 9"):
        spectrum(A, method="gram", block_cols=9)
    with pytest.raises(ValueError, match="method must be one of"):
        spectrum(A, method="qr")
    with pytest.raises(ValueError, match="needs a layer"):
        spectrum(A, method="structural")
    with pytest.raises(TypeError, match="contexts are required"):
        spectrum(rb.PointwiseLayer(np.ones((4, 2))))
    with pytest.raises(ValueError, match="-inf"):
        spectrum(np.array([[0.0, -np.inf], [0.0, 0.0]]), method="gram")
    with pytest.raises(ValueError, match="NaN|nan|finite"):
        spectrum(np.array([[0.0, np.nan], [0.0, 0.0]]), method="gram")
    layer = rb.PointwiseLayer(np.ones((4, 2)), activation="sigsoftmax")
    with pytest.raises(ValueError, match="structural"):
        spectrum(layer, np.ones((3, 2)), method="structural")


def test_memory_guard_refuses_before_allocating(monkeypatch):
    import sys

    monkeypatch.setattr(sys.modules["rankbottleneck._validation"],
                        "_available_memory", lambda: 2**30)
    H = np.zeros((20_000, 4))
    layer = rb.PointwiseLayer(np.ones((40_000, 4)), activation="sigsoftmax")
    with pytest.raises(rb.InsufficientMemoryError, match="GiB.*fewer contexts"):
        spectrum(layer, H, method="gram")
    with pytest.raises(rb.InsufficientMemoryError, match="method='gram' streams"):
        spectrum(layer, H, method="svd")


@pytest.mark.parametrize("two_stage_from", [10**9, 100])
def test_lapack_helpers(monkeypatch, two_stage_from):
    # both eigenvalue paths (scipy's dsyevd; the direct two-stage reduction)
    # against numpy, and both must leave the strict upper triangle alone:
    # the Gram path restores G from it
    monkeypatch.setattr(_lapack, "_TWO_STAGE_MIN", two_stage_from)
    rng = np.random.default_rng(0)
    for n in (50, 300):
        X = rng.standard_normal((n, n + 30)) * np.logspace(0, -6, n)[:, None]
        G = np.asfortranarray(X @ X.T)
        expected = np.linalg.eigvalsh(G)[::-1]
        work = G.copy(order="F")
        np.testing.assert_allclose(_eigvalsh_lower(work), expected,
                                   rtol=0, atol=1e-13 * expected[0])
        np.testing.assert_array_equal(np.triu(work, 1), np.triu(G, 1))
    U = np.triu(G)
    np.testing.assert_array_equal(_mirror_upper(U.copy(order="F"), step=7), G)


@pytest.mark.parametrize("activation", ["softmax", "sigsoftmax"])
def test_thread_count_does_not_change_the_spectrum(monkeypatch, activation):
    # the elementwise work is split over row ranges; each row is computed the
    # same way whatever the split, so the result is bitwise the same
    H, W, b = contexts_and_words(700, 1500, 12, has_bias=True, seed=4)
    layer = rb.PointwiseLayer(W, b, activation=activation)
    method = "structural" if activation == "softmax" else "gram"
    runs = []
    for threads in (1, 3):
        monkeypatch.setattr(_threads, "_THREADS", threads)
        monkeypatch.setattr(_threads, "_POOL", [])
        runs.append(spectrum(layer, H, method=method, block_cols=256).values)
    np.testing.assert_array_equal(runs[0], runs[1])


# ---------------------------------------------------------------------------
# method="auto" on a matrix beyond the dense SVD's size (issue 24, item 3)
# ---------------------------------------------------------------------------


@pytest.fixture
def auto_beyond_dense(monkeypatch):
    """`method="auto"` treats every matrix as large (as beyond 4·10⁶ entries)."""
    from rankbottleneck.spectra import _auto

    monkeypatch.setattr(_auto, "_DENSE_ENTRIES", 0)


@pytest.mark.parametrize("c", [1e-26, 1e-24, 1e-22, 1e-20])
def test_auto_deflates_a_low_rank_signal_under_noise(auto_beyond_dense, c):
    # noise_fragility's matrices: 10 values far above a noise bulk that the
    # Gram matrix cannot resolve; one deflated pass, the dense SVD's ranks
    from rankbottleneck.synthetic import noisy_low_rank

    A = noisy_low_rank(400, rank=10, c=c, seed=0)
    spec = spectrum(A)
    assert spec.method == "gram + 1 deflated pass(es)", spec.notes
    s = scipy.linalg.svdvals(A)
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)
    assert spec.rank("effective", eps=1e-5) == rank_from_singular_values(
        s, "effective", shape=A.shape, eps=1e-5)
    # within the stated error plus the dense SVD's own (ε σ_1 √n)
    own = np.finfo(float).eps * s[0] * np.sqrt(400)
    assert np.all(np.abs(spec.values - s) <= spec.error + own)


def test_auto_takes_the_dense_svd_where_one_deflation_cannot_resolve(auto_beyond_dense):
    # twenty decades of singular values: the rest after deflating the top
    # ones still spans too many for one pass; the dense SVD, as asked
    A = _planted(120, 400, _straddling_cases()["twenty decades"], seed=3)
    spec = spectrum(A)
    assert spec.method == "svd" and "noise-dominated" in spec.notes
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)
    assert [st for st, _ in spec.stages][-1] == "dense SVD"


def test_auto_keeps_the_single_gram_pass_for_a_resolved_spectrum(auto_beyond_dense):
    A = np.random.default_rng(0).standard_normal((300, 300))
    spec = spectrum(A)
    assert spec.method == "gram"
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A)


def test_householder_wy_is_orthogonal_and_spans_its_vectors():
    from rankbottleneck.spectra._gram import _householder_wy

    T = np.linalg.qr(np.random.default_rng(0).standard_normal((50, 7)))[0]
    V, Tw = _householder_wy(T)
    Q = np.eye(50) - V @ Tw @ V.T
    np.testing.assert_allclose(Q.T @ Q, np.eye(50), atol=1e-14)
    np.testing.assert_allclose(Q[:, :7] @ (Q[:, :7].T @ T), T, atol=1e-14)


def test_one_power_iteration_for_lambda_1_and_sigma_1():
    from rankbottleneck.spectra._power import _power_iteration

    rng = np.random.default_rng(0)
    Y = rng.standard_normal((60, 40)) + 3.0          # a dominant direction
    s1 = scipy.linalg.svdvals(Y)[0]
    G = Y.T @ Y
    assert _power_iteration(G.__matmul__, 40) == pytest.approx(s1**2, rel=1e-10)
    assert _power_iteration(Y.__matmul__, 40, backward=Y.T.__matmul__, rtol=1e-12,
                            max_iter=500) == pytest.approx(s1, rel=1e-10)
    assert _power_iteration(np.zeros((5, 5)).__matmul__, 5) == 0.0


def test_auto_deflates_more_directions_than_its_first_block(auto_beyond_dense):
    # a softmax matrix of rank d + 1 = 41 > the 32 Ritz vectors it starts with
    H, W, _ = contexts_and_words(300, 900, 40, seed=0)
    A = rb.log_prob_matrix(H, W)
    spec = spectrum(A)
    assert spec.method == "gram + 1 deflated pass(es)", spec.notes
    assert "41 σ above" in spec.notes
    assert [spec.rank(m).value for m in THRESHOLDS] == _dense_ranks(A) == [41, 41]
