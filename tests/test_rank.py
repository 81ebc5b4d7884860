"""Rank measures, reports, sparse matrices, the published pitfalls."""

import math

import matplotlib
import numpy as np
import pytest
import scipy.linalg
import sympy

import rankbottleneck as rb
from rankbottleneck.rank import rank_from_singular_values
from rankbottleneck.synthetic import (
    contexts_and_words,
    noisy_low_rank,
    random_mixture_layer,
)

matplotlib.use("Agg")


def planted(N, M, r, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, r)) @ rng.standard_normal((r, M))).astype(dtype)


# ---------------------------------------------------------------------------
# Singular values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_singular_values_match_scipy(dtype):
    A = planted(60, 45, 45, dtype, seed=1)
    ref = scipy.linalg.svdvals(A.astype(np.float64))
    s = rb.singular_values(A)
    assert s.dtype == np.float64
    np.testing.assert_allclose(s[:10], ref[:10], rtol=1e-10)
    assert np.all(np.diff(s) <= 0)


def test_top_k_matches_full_spectrum():
    A = planted(300, 200, 200, seed=2)
    full = scipy.linalg.svdvals(A)
    np.testing.assert_allclose(rb.singular_values(A, top=5), full[:5], rtol=1e-10)
    np.testing.assert_allclose(rb.singular_values(A, top=120), full[:120],
                               rtol=1e-10)


def test_float32_svd_on_request():
    A = planted(30, 20, 20, np.float32, seed=3)
    assert rb.singular_values(A, dtype=None).dtype == np.float32


# ---------------------------------------------------------------------------
# Threshold measures on matrices of known rank
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, M, r", [(50, 40, 1), (80, 60, 7), (40, 90, 25)])
def test_threshold_measures_find_planted_rank(N, M, r, dtype):
    A = planted(N, M, r, dtype, seed=N + r)
    for measure in ("numpy", "press"):
        got = rb.numerical_rank(A, measure)
        assert got.value == r, got
        assert got.measure == measure and got.threshold > 0
    assert rb.numerical_rank(A, rtol=1e-3).value == r
    assert rb.numerical_rank(A, "gap").value == r


def test_agrees_with_numpy_matrix_rank():
    for seed in range(5):
        A = planted(30, 20, 5 + seed, seed=seed)
        A[:, 0] += 1e-9 * seed
        assert int(rb.numerical_rank(A)) == np.linalg.matrix_rank(A)


def test_agrees_with_sympy_on_integer_matrices():
    rng = np.random.default_rng(4)
    for _ in range(5):
        A = rng.integers(-3, 4, size=(6, 3)) @ rng.integers(-3, 4, size=(3, 7))
        assert int(rb.numerical_rank(A)) == sympy.Matrix(A.tolist()).rank()


def test_rtol_straddles_a_planted_singular_value():
    # rank 5 plus a rank-1 perturbation of relative size 1e-4 (after scipy's
    # TestNullSpace): rtol above it sees 5, below it 6.
    rng = np.random.default_rng(5)
    Q1, _ = np.linalg.qr(rng.standard_normal((40, 6)))
    Q2, _ = np.linalg.qr(rng.standard_normal((30, 6)))
    A = Q1 @ np.diag([1, 0.9, 0.8, 0.7, 0.6, 1e-4]) @ Q2.T
    assert rb.numerical_rank(A, rtol=1.01e-4).value == 5
    assert rb.numerical_rank(A, rtol=0.99e-4).value == 6
    assert rb.numerical_rank(A, atol=1.01e-4).value == 5
    assert rb.numerical_rank(A, atol=0.99e-4).value == 6


def test_real_valued_measures_closed_forms():
    s = np.array([3.0, 2.0, 1.0, 0.0])
    shape = (4, 4)
    q = s[:3] / 6
    assert math.isclose(rank_from_singular_values(s, "entropy", shape=shape).value,
                        math.exp(-np.sum(q * np.log(q))), rel_tol=1e-14)
    assert math.isclose(rank_from_singular_values(s, "stable", shape=shape).value,
                        14 / 9, rel_tol=1e-14)
    # energies 9, 4, 1: tail after k=1 is 5/14, after k=2 is 1/14
    eff = [rank_from_singular_values(s, "effective", shape=shape, eps=e).value
           for e in (0.5, 0.3, 0.05, 1e-9)]
    assert eff == [1, 2, 3, 3]
    ident = rank_from_singular_values(np.ones(5), "entropy", shape=(5, 5)).value
    assert math.isclose(ident, 5, rel_tol=1e-14)


def test_gap_rank_recovers_a_hidden_size():
    # softmax outputs of a d = 12 model: the cliff sits at d + 1
    H, W, _ = contexts_and_words(200, 150, 12, seed=6)
    A = rb.log_prob_matrix(H, W)
    r = rb.numerical_rank(A, "gap")
    assert r.value == 13 and "argmax σk/σk+1" in r.rule


# ---------------------------------------------------------------------------
# The softmax bottleneck and its alternatives
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("N, M, d", [(300, 200, 5), (200, 400, 16), (500, 300, 30)])
def test_softmax_ranks(N, M, d):
    H, W, b = contexts_and_words(N, M, d, has_bias=True, logit_scale=2.0, seed=d)
    A = rb.log_prob_matrix(H, W)
    Ab = rb.log_prob_matrix(H, W, bias=b)
    for measure in ("numpy", "press"):
        assert rb.numerical_rank(A, measure).value == d + 1
        assert rb.numerical_rank(Ab, measure).value == d + 2
        assert rb.shift_invariant_rank(A, measure).value == d
        assert rb.shift_invariant_rank(Ab, measure).value == d + 1
    report = rb.rank_report(Ab, d=d, has_bias=True)
    assert report.bound == d + 2 and report.shift_invariant_bound == d + 1
    assert report["press"].value == report.bound
    assert [r.value for r in report.shift_invariant] == [d + 1, d + 1]


def test_nonlinear_activations_full_rank_on_paper_low_effective_rank():
    # Recorded numbers (N=600, M=400, d=16, seed 7), the published "full
    # rank on paper, low effective rank" picture:
    #                 logit scale 1                  logit scale 3
    #                 press  eff(1e-3/1e-4/1e-5)     press  eff
    #   softmax         17   16/17/17                  17   17/17/17
    #   sigsoftmax     400   17/72/132                400   68/142/265
    #   gss(-1.5,2.5)  400   17/84/156                400   97/202/324
    #   MoS K=3        400   9/29/96                  400   61/182/307
    N, M, d = 600, 400, 16
    H, W, _ = contexts_and_words(N, M, d, logit_scale=1.0, seed=7)
    mos = random_mixture_layer(M, d, K=3, logit_scale=1.0, seed=7)
    G = np.random.default_rng(8).standard_normal((N, d))
    matrices = {
        "softmax": rb.log_prob_matrix(H, W),
        "sigsoftmax": rb.log_prob_matrix(H, W, "sigsoftmax"),
        "gss": rb.log_prob_matrix(H, W, "gss", c=-1.5, k=2.5),
        "mos": mos.log_prob_matrix(G),
    }
    table = rb.compare_ranks(matrices, d=d)
    soft = table.reports["softmax"]
    assert soft["press"].value == d + 1
    for name in ("sigsoftmax", "gss", "mos"):
        rep = table.reports[name]
        assert rep["press"].value == min(N, M), name
        assert rep["numpy"].value == min(N, M), name
        assert rep["effective(1e-03)"].value < 2 * (d + 2), name
        assert rep["effective(1e-05)"].value < min(N, M) // 2, name


def test_float32_softmax_not_full_rank_from_rounding():
    H, W, b = contexts_and_words(400, 300, 10, has_bias=True, logit_scale=2.0, seed=9)
    A32 = rb.log_prob_matrix(H.astype(np.float32), W.astype(np.float32),
                             bias=b.astype(np.float32))
    assert A32.dtype == np.float32
    for measure in ("numpy", "press"):
        r = rb.numerical_rank(A32, measure)
        assert r.value == 12, r
        assert "float32" in r.rule
    assert rb.rank_report(A32, d=10, has_bias=True)["press"].value == 12
    # The pitfall: the same matrix, judged with float64's ε, reads full rank.
    assert rb.numerical_rank(A32, "press", computed_in=np.float64).value == 300
    # and an upcast float32 result keeps float32's ε when the caller says so
    up = A32.astype(np.float64)
    assert rb.numerical_rank(up, "press", computed_in=np.float32).value == 12


def test_noise_experiment_reproduces_published_pattern():
    # n = 1000 (the published n = 10⁴ is the benchmarks' size). Measured:
    #   c       1e-26  1e-24  1e-22  1e-21  1e-20
    #   Press      10     10    121    901    988
    #   numpy      10     10     10     10    565
    #   eff(1e-3)  10     10     10     10     10
    n = 1000
    press, eff = [], []
    for c in (1e-26, 1e-24, 1e-22, 1e-21, 1e-20):
        A = noisy_low_rank(n, rank=10, c=c, seed=0)
        rep = rb.rank_report(A, eps_values=(1e-3, 1e-5))
        press.append(rep["press"].value)
        eff.append(rep["effective(1e-05)"].value)
    assert press[0] == press[1] == 10
    assert 10 < press[2] < press[3] < press[4]
    assert press[4] > 0.9 * n
    assert eff == [10] * 5


# ---------------------------------------------------------------------------
# Sparse outputs
# ---------------------------------------------------------------------------


def test_sparse_report_states_support_and_clips_explicitly():
    H, W, _ = contexts_and_words(100, 80, 6, logit_scale=3.0, seed=10)
    A = rb.log_prob_matrix(H, W, "sparsemax")
    rep = rb.rank_report(A, d=6)
    sp = rep.sparse
    finite = np.isfinite(A)
    assert sp.support_density == pytest.approx(finite.mean())
    assert sp.n_support_patterns == len({row.tobytes() for row in finite})
    assert sp.n_finite_columns == int(finite.all(axis=0).sum())
    assert sp.log_floor == pytest.approx(math.log(1e-30))
    clipped = np.maximum(A, math.log(1e-30))
    assert rep["numpy"].value == np.linalg.matrix_rank(clipped)
    assert "clipped" in repr(rep)


def test_sparse_finite_columns_rank():
    # Columns 0-2 are finite everywhere and carry a rank-2 block; column 3
    # is -inf in half of the rows.
    rng = np.random.default_rng(11)
    A = np.zeros((20, 4))
    A[:, :3] = rng.standard_normal((20, 2)) @ rng.standard_normal((2, 3))
    A[:, 3] = np.where(np.arange(20) % 2 == 0, -np.inf, 1.0)
    sp = rb.rank_report(A, log_floor=-50.0).sparse
    assert sp.n_finite_columns == 3
    assert sp.n_support_patterns == 2
    assert [r.value for r in sp.finite_column_ranks[:2]] == [2, 2]


def test_row_of_minus_inf_is_reported_not_crashed_on():
    A = np.log(np.full((5, 4), 0.25))
    A[2] = -np.inf
    sp = rb.rank_report(A).sparse
    assert sp.empty_rows == 1 and sp.n_finite_columns == 0
    assert sp.finite_column_ranks == ()


def test_finite_entries_below_floor_are_counted():
    A = np.array([[0.0, -np.inf], [-80.0, -0.1]])
    assert rb.rank_report(A, log_floor=-69.0).sparse.n_clipped_finite == 1


def test_numerical_rank_refuses_minus_inf_and_points_to_report():
    A = np.array([[0.0, -np.inf], [-1.0, -0.5]])
    with pytest.raises(ValueError, match=r"A contains -inf.*use rank_report"):
        rb.numerical_rank(A)


# ---------------------------------------------------------------------------
# Reports, comparison, plots
# ---------------------------------------------------------------------------


def test_report_repr_reads_like_a_table():
    H, W, b = contexts_and_words(60, 50, 4, has_bias=True, seed=12)
    rep = rb.rank_report(rb.log_prob_matrix(H, W, bias=b), d=4, has_bias=True, rtol=1e-6)
    text = repr(rep)
    assert text.splitlines()[0] == ("RankReport: 60×50 float64, thresholds use ε of "
                                   "float64, d = 4 + bias; spectrum by svd")
    for label in ("numpy", "press", "rtol", "effective(1e-04)", "entropy", "stable",
                  "gap", "shift-inv. press", "softmax bound"):
        assert label in text
    assert rep.as_dict()["bound"] == 6


def test_plots_draw_on_the_given_axis():
    import matplotlib.pyplot as plt

    H, W, _ = contexts_and_words(60, 50, 4, seed=13)
    A = rb.log_prob_matrix(H, W)
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3)
    assert rb.rank_report(A, d=4).plot(ax=ax1) is ax1
    assert len(ax1.lines) >= 3  # spectrum, two thresholds, bound
    cmp = rb.compare_ranks({"softmax": A, "sig": rb.log_prob_matrix(H, W, "sigsoftmax")})
    assert cmp.plot(ax=ax2) is ax2
    assert cmp.plot_measures(ax=ax3) is ax3
    plt.close(fig)
    rows = cmp.rows()
    assert rows[0]["name"] == "softmax" and rows[0]["press"] == 5
    assert "sig" in repr(cmp)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("A, pattern", [
    (np.zeros((0, 3)), r"A must not be empty; got shape \(0, 3\)"),
    (np.ones(4), r"A must be a 2-D matrix; got shape \(4,\)"),
    (np.array([[1.0, np.nan]]), r"A must be free of NaN and \+inf; got nan"),
    (np.array([[1.0, np.inf]]), r"A must be free of NaN and \+inf; got inf"),
])
def test_bad_matrices(A, pattern):
    with pytest.raises(ValueError, match=pattern):
        rb.numerical_rank(A)
    with pytest.raises(ValueError, match=pattern):
        rb.rank_report(A)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"measure": "frobenius"}, r"measure must be one of .*got 'frobenius'"),
    ({"measure": "effective", "eps": 0.0}, r"eps must lie in \(0, 1\); got 0.0"),
    ({"measure": "effective", "eps": 1.5}, r"eps must lie in \(0, 1\); got 1.5"),
    ({"rtol": -1e-3}, r"rtol must lie in \[0, inf\); got -0.001"),
    ({"atol": -1.0}, r"atol must lie in \[0, inf\)"),
    ({"rtol": 1e-3, "atol": 1e-3}, r"rtol and atol can't both be set"),
    ({"measure": "rtol"}, r"measure='rtol' needs rtol"),
    ({"measure": "press", "rtol": 1e-3}, r"rtol only applies to measure='rtol'"),
])
def test_bad_measure_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        rb.numerical_rank(np.eye(3), **kwargs)


def test_bad_report_arguments():
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\)"):
        rb.rank_report(np.eye(3), eps_values=(1e-3, 2.0))
    with pytest.raises(ValueError, match=r"d must be a non-negative integer"):
        rb.rank_report(np.eye(3), d=-1)
    with pytest.raises(TypeError, match=r"computed_in must be a floating dtype"):
        rb.numerical_rank(np.eye(3), computed_in=np.int32)
    with pytest.raises(ValueError, match=r"top must be an integer in \[1, 3\]"):
        rb.singular_values(np.eye(3), top=4)
    with pytest.raises(ValueError, match=r"matrices must be a non-empty dict"):
        rb.compare_ranks({})
