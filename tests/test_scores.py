"""The batched witness check (feasibility._scores): the float32 screen's
bound is rigorous, and screened or not, every answer is the same."""

from fractions import Fraction

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck.feasibility import _scores
from rankbottleneck.feasibility._scores import Scores


def exact_margin(W, b, x, i):
    xs = [Fraction(v) for v in x.tolist()]
    z = [sum((Fraction(a) * c for a, c in zip(w.tolist(), xs)), Fraction(bw))
         for w, bw in zip(W, b.tolist())]
    return z[i] - max(v for j, v in enumerate(z) if j != i)


@pytest.mark.parametrize("scale", [1e-42, 1e-30, 1e-3, 1.0, 1e20, 1e29])
def test_a_screened_margin_above_its_bound_is_exactly_positive(scale):
    """Near-ties far below float32's resolution (words 0 and 1 differ by
    1e-12 relative), subnormal float32 data (1e-42) and large scores: every
    margin the float32 screen proves is positive in exact arithmetic, and
    every one it cannot prove is handed to float64 (its bound is then
    float64's)."""
    rng = np.random.default_rng(3)
    M, d = 40, 6
    W = rng.standard_normal((M, d))
    W[1] = W[0] * (1 + 1e-12)
    W[2] = W[3] + 1e-9 * rng.standard_normal(d)
    W *= scale
    b = scale * rng.standard_normal(M)
    H = np.vstack([W[:20] / scale**2 * 1e-3, rng.standard_normal((20, d))])
    Q = np.arange(40)[:, None] % M
    screened = Scores(W, b, screen=True)
    plain = Scores(W, b, screen=False)
    assert screened.screened
    margin, tol = screened.margins(Q, H)
    m64, t64 = plain.margins(Q, H)
    proved = margin > tol
    for k in np.flatnonzero(proved):
        assert exact_margin(W, b, H[k], int(Q[k, 0])) > 0, k
    # what the screen proves, float64 proves too; what it leaves, float64 decides
    assert np.all(m64[proved] > t64[proved])
    np.testing.assert_array_equal(screened.holds(Q, H, margin, tol),
                                  plain.holds(Q, H, m64, t64))
    if scale == 1.0:
        assert proved.sum() >= 0.5 * np.sum(m64 > t64)   # the screen is not vacuous


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e25])
def test_the_symmetric_screen_proves_only_true_margins(scale):
    """whitened_screen (argmax's whitened candidates of all words from one
    symmetric float32 product): on near-ties (words 1 and 0 1e-12 apart,
    2 and 3 1e-9 apart), an interior word and a bias, every margin it proves
    is exactly positive and within its bound of the exact margin, and it
    proves most words."""
    from rankbottleneck.feasibility._candidates import whitening, whitening_factor
    from rankbottleneck.feasibility._scale import to_unit

    rng = np.random.default_rng(7)
    M, d = 60, 5
    W = rng.standard_normal((M, d)) * np.geomspace(2, 0.5, d)
    W[1] = W[0] * (1 + 1e-12)
    W[2] = W[3] + 1e-9 * rng.standard_normal(d)
    W[4] = W[5:9].mean(axis=0)
    W, b, _ = to_unit(scale * W, scale * 0.1 * rng.standard_normal(M))
    mu, whiten = whitening(W)
    H, margin, tol = _scores.whitened_screen(W, b, mu, whitening_factor(whiten),
                                             block=16)
    proved = np.flatnonzero(margin > tol)
    assert 4 not in proved
    for i in proved:
        exact = exact_margin(W, b, H[i], i)
        assert exact > 0, i
        assert abs(float(exact) - margin[i]) <= tol[i], i
    # the standard check agrees on every word the screen proves, and the
    # screen leaves it little: its bound is not vacuous
    ok, _, _ = Scores(W, b, screen=False).witnesses(np.arange(M)[:, None], H)
    assert ok[proved].all() and len(proved) >= ok.sum() - 2


@pytest.mark.parametrize("block", [7, 16, 100])
def test_symmetric_row_max_matches_the_full_product(block):
    """Each block of Y Yᵀ formed once (into reused buffers, the last ones
    partial) and read both ways: T_ii and max_{j≠i} T_ij of the whole
    T = Y Yᵀ - c, to float32 rounding."""
    rng = np.random.default_rng(5)
    Y = rng.standard_normal((45, 6)).astype(np.float32)
    c = rng.standard_normal(45).astype(np.float32)
    diag, best = _scores._symmetric_row_max(Y, c, block)
    T = (Y.astype(np.float64) @ Y.T.astype(np.float64)) - c
    np.testing.assert_allclose(diag, np.diag(T), rtol=0, atol=1e-5)
    np.fill_diagonal(T, -np.inf)
    np.testing.assert_allclose(best, T.max(axis=1), rtol=0, atol=1e-5)


def test_screening_changes_no_answer(monkeypatch):
    """argmaxable, realizable_set/order and verify, with every layer
    screened in float32, against the float64-only answers."""
    rng = np.random.default_rng(11)
    W = rng.standard_normal((60, 4))
    W[-1] = W[:3].mean(axis=0)
    W[-2] = W[5]
    b = 0.2 * rng.standard_normal(60)
    ref = rb.argmaxable(W, b)
    sets = [rb.realizable_set(W, [0, 7], b).feasible,
            rb.realizable_order(W, [3, 9, 1], b).feasible]
    monkeypatch.setattr(_scores, "SCREEN_SIZE", 0)
    rep = rb.argmaxable(W, b)
    np.testing.assert_array_equal(rep.status, ref.status)
    assert len(rep.verify(W, b)) == 0 and len(ref.verify(W, b)) == 0
    assert [rb.realizable_set(W, [0, 7], b).feasible,
            rb.realizable_order(W, [3, 9, 1], b).feasible] == sets


def test_identical_rows_are_grouped_exactly():
    from rankbottleneck.argmax import _identical_rows

    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -0.0], [0.0, 1.0], [2.0, 2.0],
                  [1.0, 0.0]])
    groups = sorted(sorted(g.tolist()) for g in _identical_rows(W))
    assert groups == [[0, 2, 5], [1, 3]]
