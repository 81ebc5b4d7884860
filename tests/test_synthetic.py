"""Synthetic embeddings and targets."""

import numpy as np
import pytest

from rankbottleneck import synthetic as syn


@pytest.mark.parametrize("kind", ["gaussian", "anisotropic", "unit"])
def test_same_seed_same_arrays(kind):
    a = syn.contexts_and_words(30, 20, 5, kind=kind, has_bias=True, seed=1)
    b = syn.contexts_and_words(30, 20, 5, kind=kind, has_bias=True,
                               seed=np.random.default_rng(1))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = syn.contexts_and_words(30, 20, 5, kind=kind, seed=2)
    assert not np.allclose(a.H, c.H)


@pytest.mark.parametrize("kind", ["gaussian", "anisotropic", "unit"])
@pytest.mark.parametrize("scale", [0.1, 1.0, 25.0])
def test_logit_scale_is_exact(kind, scale):
    H, W, _ = syn.contexts_and_words(200, 150, 8, kind=kind, logit_scale=scale,
                                     seed=3)
    np.testing.assert_allclose(np.std(H @ W.T), scale, rtol=1e-10)


def test_unit_rows():
    X = syn.embeddings(50, 7, kind="unit", seed=4)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, rtol=1e-14)


def test_anisotropic_spectrum_follows_power_law():
    X = syn.embeddings(20000, 10, kind="anisotropic", decay=1.0, seed=5)
    s = np.linalg.svd(X, compute_uv=False)
    # singular values ∝ i^{-1}: s_1/s_10 ≈ 10 (sampling error ~ 1/sqrt(n))
    np.testing.assert_allclose(s[0] / s, np.arange(1, 11), rtol=0.05)


def test_targets_are_distributions():
    for P in (syn.teacher_target(40, 30, 60, seed=6),
              syn.dirichlet_target(40, 30, concentration=0.05, seed=6),
              syn.multimode_target(40, 30, n_modes=3, seed=6),
              syn.multimode_target(40, 30, n_modes=3, smoothing=0.1, seed=6)):
        assert P.shape == (40, 30)
        assert np.all(P >= 0)
        np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-13)


def test_multimode_support():
    P = syn.multimode_target(100, 50, n_modes=4, seed=7)
    assert np.all((P > 0).sum(axis=1) == 4)
    assert np.all(syn.multimode_target(10, 50, n_modes=4, smoothing=0.2,
                                       seed=7) > 0)


def test_teacher_target_rank():
    # log P* = logits - lse: rank d_teacher + 1 when d_teacher < min(N, M)
    P = syn.teacher_target(80, 60, 12, seed=8)
    assert np.linalg.matrix_rank(np.log(P)) == 13
    assert np.linalg.matrix_rank(np.log(syn.dirichlet_target(80, 60, concentration=1.0,
                                                             seed=8))) == 60


@pytest.mark.parametrize("call, pattern", [
    (lambda: syn.embeddings(0, 3), r"n must be a positive integer; got 0"),
    (lambda: syn.embeddings(3, 3, kind="cauchy"), r"kind must be one of"),
    (lambda: syn.contexts_and_words(3, 3, 2, logit_scale=0),
     r"logit_scale must lie in \(0, inf\); got 0.0"),
    (lambda: syn.multimode_target(3, 5, n_modes=6), r"n_modes must be at most M"),
    (lambda: syn.multimode_target(3, 5, smoothing=2), r"smoothing must lie in"),
    (lambda: syn.dirichlet_target(3, 5, concentration=-1),
     r"concentration must lie in \(0, inf\)"),
])
def test_bad_arguments(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
