"""Top-k sets and orderings (issue 19): exact answers with proof."""

import itertools
import math

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck import activations as act
from rankbottleneck.topk import _unsigned_stirling_head


def _sampled_tops(W, b, k, n, rng, question="set"):
    """Top-k sets (sorted) or lists seen at `n` random contexts: brute force."""
    H = rng.standard_normal((n, W.shape[1]))
    H *= np.exp(rng.uniform(-3, 3, n))[:, None]
    Z = H @ W.T + b
    top = np.argsort(-Z, axis=1)[:, :k]
    gap = -np.diff(np.sort(Z, axis=1)[:, ::-1][:, :k + 1], axis=1)
    ok = (gap[:, -1] > 1e-9) if question == "set" else (gap.min(axis=1) > 1e-9)
    top = np.sort(top, axis=1) if question == "set" else top
    return {tuple(t) for t in top[ok].tolist()}


# ---------------------------------------------------------------------------
# Counting full rankings: enumeration against Cover's closed form
# ---------------------------------------------------------------------------


def test_stirling_row_matches_sympy():
    from sympy.functions.combinatorial.numbers import stirling
    for n in (*range(1, 9), 40, 301):
        for d in (1, 2, 5, n - 1, n + 3):
            head = _unsigned_stirling_head(n, d)
            assert head == [int(stirling(n, n - i, kind=1, signed=False))
                            for i in range(min(d, n - 1) + 1)], (n, d)


def test_ranking_count_at_vocabulary_size():
    """Only d + 1 Stirling numbers are formed: a 30,000-word layer in
    d = 384 is counted exactly (against the truncated product
    ``Π (1 + j t)`` on a smaller case)."""
    q = rb.ranking_count(30000, 384)
    assert q % 2 == 0 and q.bit_length() > 8000
    e = [1] + [0] * 12
    for j in range(1, 500):
        for i in range(12, 0, -1):
            e[i] += j * e[i - 1]
    assert rb.ranking_count(500, 12, has_bias=True) == sum(e)
    assert rb.ranking_count(500, 12) == 2 * sum(e[11::-2])


@pytest.mark.parametrize("M, d, bias", [
    (4, 1, False), (4, 1, True), (4, 2, False), (5, 2, False), (5, 2, True),
    (5, 3, False), (5, 3, True), (6, 2, True), (6, 3, False), (5, 4, False)])
def test_full_rankings_counted_by_enumeration_equal_the_closed_form(M, d, bias):
    """Every one of the M! orderings is decided with proof; the realizable
    ones number exactly Cover's Q(M, d) (no bias) or Zaslavsky's affine
    count (with a bias). By hand: Q(5, 2) = 2·C(5, 2) = 20 (a direction in
    the plane passes 10 lines through the origin), Q_b(5, 1) = 1 + C(5, 2)."""
    rng = np.random.default_rng(10 * M + d + bias)
    W = rng.standard_normal((M, d))
    b = rng.standard_normal(M) if bias else None
    count = 0
    for order in itertools.permutations(range(M)):
        rep = rb.realizable_order(W, list(order), b)
        assert rep.feasible is not None and rep.verify(W, b)
        count += rep.feasible
    assert count == rb.ranking_count(M, d, has_bias=bias)


def test_ranking_count_small_cases_by_hand():
    assert rb.ranking_count(5, 2) == 20
    assert rb.ranking_count(5, 1, has_bias=True) == 1 + math.comb(5, 2)
    assert rb.ranking_count(7, 1) == 2
    assert rb.ranking_count(6, 5) == rb.ranking_count(6, 9, has_bias=True) == 720
    # Cover's form: 2 Σ_j |s(M, M - d + 1 + 2j)|, checked with sympy
    from sympy.functions.combinatorial.numbers import stirling
    for M, d in [(8, 3), (9, 4), (10, 6)]:
        want = 2 * sum(stirling(M, M - d + 1 + 2 * j, kind=1, signed=False)
                       for j in range((d + 1) // 2))
        assert rb.ranking_count(M, d) == int(want)


# ---------------------------------------------------------------------------
# Sets and orderings against brute force
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("k", [2, 3])
def test_sets_in_the_plane_equal_those_seen_by_dense_sampling(bias, k):
    """In d = 2 a dense sweep of contexts finds every realizable set; the
    exact answer must equal it, each with verified evidence."""
    rng = np.random.default_rng(7 + k + 10 * bias)
    W = rng.standard_normal((9, 2))
    b = 0.5 * rng.standard_normal(9) if bias else None
    seen = _sampled_tops(W, np.zeros(9) if b is None else b, k, 200000, rng)
    exact = set()
    for S in itertools.combinations(range(9), k):
        rep = rb.realizable_set(W, S, b)
        assert rep.verify(W, b), rep
        if rep.feasible:
            exact.add(S)
    assert exact == seen
    assert 0 < len(exact) < math.comb(9, k)


def test_orderings_in_3d_equal_those_seen_by_sampling():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((7, 3))
    seen = _sampled_tops(W, np.zeros(7), 3, 300000, rng, question="order")
    exact = {o for o in itertools.permutations(range(7), 3)
             if rb.realizable_order(W, o).feasible}
    assert exact == seen


@pytest.mark.parametrize("bias, box", [(False, None), (True, None), (True, 2.0)])
def test_orderings_asked_through_their_set_keep_their_answers(bias, box):
    # all orderings at once ask each shared set first; one ordering at a time
    # never does: the same answers, with one LP per unrealizable set
    from rankbottleneck.topk import _decide_many, _enumerate

    rng = np.random.default_rng(4)
    W = rng.standard_normal((7, 2))
    b = rng.standard_normal(7) if bias else np.zeros(7)
    Q = _enumerate(7, 3, "order")
    feasible, method, n_lp, _, certs = _decide_many(W, b, Q, "order", box=box)
    singly = [_decide_many(W, b, q[None], "order", box=box) for q in Q]
    one = [got[0][0] for got in singly]
    assert list(feasible) == one
    assert None not in one or box is not None   # a box may hide every witness
    assert 0 < one.count(True) < len(Q)
    assert set(certs) == {i for i, f in enumerate(one) if f is False}
    # (in a box, a set realizable only outside it leaves its orderings to
    # their own LPs)
    assert n_lp < (0.5 if box is None else 0.75) * sum(got[2] for got in singly)


def test_a_sets_certificate_is_the_same_identity_for_each_ordering():
    # Σ_t λ_t (z_t - y) + Σ_j μ_j (y - z_j) as a linear form in (z, y): the
    # ordering's multipliers on its gaps give it term for term
    from rankbottleneck.feasibility._systems import (
        Multipliers,
        combination,
        order_certificate,
        order_system,
        set_system,
    )

    def form(system, cert):
        comb = combination(system, cert)
        z = np.zeros(10)
        np.add.at(z, comb.words, comb.u0 @ comb.C)
        return np.r_[z, comb.u0 @ comb.Y]

    rng = np.random.default_rng(5)
    words = np.array([2, 5, 7])
    cert = Multipliers(rng.uniform(0.1, 1, 3), np.array([0, 9, 4]),
                       rng.uniform(0.1, 1, 3))
    reference = form(set_system(words), cert)
    assert np.count_nonzero(reference) == 7          # six words and y
    for order in itertools.permutations(words):
        mapped = order_certificate(order, cert)
        assert np.all(mapped.nu > 0) and np.array_equal(mapped.rest, cert.rest)
        scale = cert.mu / mapped.mu                   # one common factor
        np.testing.assert_allclose(scale, scale[0], rtol=1e-15)
        np.testing.assert_allclose(form(order_system(np.array(order)), mapped)
                                   * scale[0], reference, rtol=1e-14, atol=1e-15)


def test_certificate_is_a_mix_of_the_set_equal_to_a_mix_of_the_others():
    # [w0, w1] crosses [w2, w3]: {0, 1} is never the top-2 set
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.6]])
    rep = rb.realizable_set(W, [1, 0])
    assert rep.feasible is False and rep.words == (0, 1)
    cert = rep.certificate
    lam = cert.nu / cert.nu.sum()
    mu = cert.mu / cert.mu.sum()
    np.testing.assert_allclose(lam @ W[[0, 1]], mu @ W[cert.rest], atol=1e-9)
    assert rb.realizable_set(W, [0, 3]).feasible
    assert "not realizable" in repr(rep)
    # a tampered certificate no longer verifies
    bad = rb.topk.Certificate(cert.nu, cert.rest, cert.mu * 1.5)
    tampered = rb.RealizableReport("set", (0, 1), False, certificate=bad)
    assert not tampered.verify(W)


def test_duplicate_words_cannot_be_separated():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((30, 5))
    W[7] = W[3]
    assert rb.realizable_set(W, [3, 11]).feasible is False      # 7 ties with 3
    assert rb.realizable_set(W, [3, 7]).feasible
    assert rb.realizable_order(W, [3, 7]).feasible is False     # never strictly
    assert rb.realizable_order(W, [3, 7], bias=np.r_[np.zeros(7), -1, np.zeros(22)]
                               ).feasible


def test_float32_embeddings_and_a_box():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((40, 4))
    answers = []
    for S in itertools.combinations(range(8), 2):
        rep32 = rb.realizable_set(W.astype(np.float32), S)
        rep64 = rb.realizable_set(W.astype(np.float32).astype(np.float64), S)
        assert rep32.feasible == rep64.feasible and rep32.verify(W.astype(np.float32))
        answers.append(rep32.feasible)
        if rep32.feasible:
            boxed = rb.realizable_set(W, S, box=5.0)
            assert boxed.feasible and np.all(np.abs(boxed.witness) <= 5.0)
    assert True in answers and False in answers


def test_an_unargmaxable_word_heads_no_ordering():
    """A word inside the hull is never first: every ordering it heads is
    refused, and sets containing it still can be realizable."""
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [0.1, 0.1]])
    assert not rb.argmaxable(W).mask[4]
    for j in range(4):
        assert rb.realizable_order(W, [4, j]).feasible is False
    assert rb.realizable_order(W, [0, 4]).feasible


# ---------------------------------------------------------------------------
# Under activations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, params", [
    ("sigsoftmax", {}), ("gss", {"c": -1.5, "k": 2.5}),
    ("plif", {"theta": act.plif_init(40, bound=5.0, scale=0.5, seed=3),
              "bound": 5.0})])
def test_increasing_maps_realise_exactly_the_linear_sets_and_orderings(name, params):
    """The theorem of the module docstring, checked at the witnesses: the
    activation's own top-k list there is the question's, and refused
    questions are refused with the linear layer's certificate."""
    rng = np.random.default_rng(4)
    W = 0.4 * rng.standard_normal((12, 3))
    b = 0.2 * rng.standard_normal(12)
    layer = rb.PointwiseLayer(W, bias=b, activation=name, params=params)
    n_yes = n_no = 0
    for S in itertools.combinations(range(12), 2):
        for question, fn in (("set", rb.realizable_set), ("order", rb.realizable_order)):
            mine, lin = fn(layer, S), fn(W, S, b)
            assert mine.feasible == lin.feasible and mine.kind == "exact"
            if mine.feasible:
                logp = layer.log_prob_matrix(mine.witness[None])[0]
                top = np.argsort(-logp)[:2]
                assert (set(top) == set(S)) if question == "set" else tuple(top) == S
                n_yes += 1
            else:
                assert mine.verify(W, b)
                n_no += 1
    assert n_yes and n_no


def _two_mode_mixture():
    """Words at -10, +10 and 0 on a line: the middle word lies between the
    others, so no linear layer puts {0, 1} on top; a mixture of a component
    at h = +1 and one at h = -1 does."""
    W = np.array([[10.0], [-10.0], [0.0], [0.5]])
    priors = np.zeros((2, 1))
    projections = np.zeros((2, 1, 1))
    offsets = np.array([[3.0], [-3.0]])
    return W, rb.MixtureLayer(W, priors, projections, offsets)


def test_a_mixture_realises_a_set_the_linear_layer_provably_cannot():
    W, mos = _two_mode_mixture()
    lin = rb.realizable_set(W, [0, 1])
    assert lin.feasible is False and lin.verify(W)
    rep = rb.realizable_set(mos, [0, 1], n_contexts=50)
    assert rep.feasible is True and rep.kind == "lower-bound"
    assert "linear layer: not realizable" in rep.note
    logp = mos.log_prob_matrix(rep.witness[None])[0]
    assert set(np.argsort(-logp)[:2]) == {0, 1}
    full = rb.realizable_fraction(mos, 4, question="order", n_contexts=200)
    assert full.n_total == 24 and 1 <= full.n_realizable <= 24   # full rankings
    frac = rb.realizable_fraction(mos, 2, n_contexts=200)
    assert frac.method == "sampled-contexts" and frac.n_realizable >= 1
    assert frac.fraction == frac.n_realizable / 6 and frac.n_asked == 200
    lin_frac = rb.realizable_fraction(W, 2)
    assert lin_frac.method == "exact"
    never = {tuple(q) for q, a in zip(lin_frac.questions, lin_frac.answers)
             if a is False}
    assert (0, 1) in never and (0, 1) in set(map(tuple, frac.questions.tolist()))


# ---------------------------------------------------------------------------
# Sparse supports
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, params", [("sparsemax", {}), ("entmax", {"alpha": 1.5}),
                                          ("t_softmax", {"t": 1.0})])
def test_without_a_bias_a_support_is_exactly_a_realizable_top_set(name, params):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((8, 2))
    layer = rb.PointwiseLayer(W, activation=name, params=params)
    for k in (2, 3):
        for S in itertools.combinations(range(8), k):
            top = rb.realizable_set(W, S)
            sup = rb.realizable_support(layer, S)
            assert sup.feasible == top.feasible, (S, sup)
            if sup.feasible:
                logp = layer.log_prob_matrix(sup.witness[None])[0]
                assert np.flatnonzero(np.isfinite(logp)).tolist() == list(S)


def test_r_softmax_supports_are_checked_by_its_own_output():
    """r-softmax keeps a share 1 - r of the words while no exp underflows;
    far out on a ray the reference rule's underflow share ζ changes that, so
    other sizes appear. Every support reported is the activation's output."""
    rng = np.random.default_rng(6)
    W = rng.standard_normal((10, 3))
    layer = rb.PointwiseLayer(W, activation="r_softmax", params={"r": 0.5})
    sizes = set()
    for S in itertools.combinations(range(10), 5):
        rep = rb.realizable_support(layer, S)
        if rep.feasible:
            logp = layer.log_prob_matrix(rep.witness[None])[0]
            assert np.flatnonzero(np.isfinite(logp)).tolist() == list(S)
            sizes.add(len(S))
        elif rep.feasible is False:
            assert not rb.realizable_set(W, S).feasible
    assert sizes == {5}


def test_a_sparse_activation_without_top_support_gets_no_negative_answer():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.6]])
    mine = act.Activation("odd_sparse", act.get("sparsemax").log_prob, sparse=True)
    layer = rb.PointwiseLayer(W, activation=mine)
    rep = rb.realizable_support(layer, [0, 1])
    assert rep.feasible is None and "top_support" in rep.note
    assert rb.realizable_support(rb.PointwiseLayer(W, activation="sparsemax"),
                                 [0, 1]).feasible is False


def test_registration_checks_top_support():
    def fake(z):
        out = z - act.logsumexp(z, axis=-1)[..., None]
        out = np.array(out)
        out[..., 0] = -np.inf            # zeroes the largest logit of the check
        return out - act.logsumexp(out, axis=-1)[..., None]
    with pytest.raises(ValueError, match="top_support=True but"):
        act.register(act.Activation("fake_top", fake, sparse=True, top_support=True))
    with pytest.raises(ValueError, match="declare sparse=True"):
        act.Activation("fake_top2", fake, top_support=True)


# ---------------------------------------------------------------------------
# Vocabulary scale
# ---------------------------------------------------------------------------


def test_exact_fraction_counts_every_set():
    rng = np.random.default_rng(8)
    W = rng.standard_normal((10, 2))
    frac = rb.realizable_fraction(W, 2, progress=False)
    brute = sum(bool(rb.realizable_set(W, S).feasible)
                for S in itertools.combinations(range(10), 2))
    assert frac.method == "exact" and frac.n_asked == 45 == frac.n_total
    assert frac.n_realizable == brute and frac.n_undecided == 0
    assert frac.interval == (brute / 45, brute / 45)
    orders = rb.realizable_fraction(W, 2, question="order", progress=False)
    assert orders.n_total == 90
    # an ordering's set must be realizable; each realizable pair in the plane
    # is realizable in at least one order
    assert frac.n_realizable <= orders.n_realizable <= 2 * frac.n_realizable
    assert "exact, all 45" in repr(frac)


def test_sampled_fraction_interval_covers_the_exact_one():
    # 1,140 top-3 sets: enough to be sampled (max_enumerate=100) and to
    # hold realizable and unrealizable ones; the exact count decides each
    rng = np.random.default_rng(9)
    W = rng.standard_normal((20, 3)) * np.array([3.0, 1.0, 0.3])
    exact = rb.realizable_fraction(W, 3, progress=False)
    sampled = rb.realizable_fraction(W, 3, n_samples=300, max_enumerate=100,
                                     seed=1, progress=False)
    assert exact.method == "exact" and sampled.method == "sampled"
    assert sampled.n_asked == 300
    lo, hi = sampled.interval
    assert lo <= exact.fraction <= hi
    assert 0 < exact.fraction < 1


def test_full_rankings_fraction_uses_k_equal_to_M():
    rng = np.random.default_rng(11)
    W = rng.standard_normal((5, 2))
    frac = rb.realizable_fraction(W, 5, question="order", progress=False)
    assert frac.n_realizable == rb.ranking_count(5, 2) and frac.n_total == 120


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("call, exc, match", [
    (lambda W: rb.realizable_set(W, [1, 1]), ValueError, r"words must not repeat.*\[1\]"),
    (lambda W: rb.realizable_set(W, [0, 6]), ValueError, r"words must hold indices in \[0, 5\]"),
    (lambda W: rb.realizable_set(W, [-1]), ValueError, "words must hold indices"),
    (lambda W: rb.realizable_set(W, range(6)), ValueError, "leave at least one other"),
    (lambda W: rb.realizable_set(W, []), ValueError, "at least one word"),
    (lambda W: rb.realizable_set(W, [0.0, 1.0]), TypeError, "integers"),
    (lambda W: rb.realizable_set(W, "01"), TypeError, "1-D sequence"),
    (lambda W: rb.realizable_order(W, [2, 0, 2]), ValueError, r"order must not repeat.*\[2\]"),
    (lambda W: rb.realizable_set(W, [0], np.zeros(5)), ValueError, r"bias must have shape \(6,\)"),
    (lambda W: rb.realizable_fraction(W, 6), ValueError, "k must be"),
    (lambda W: rb.realizable_fraction(W, 7, question="order"), ValueError, "k must be"),
    (lambda W: rb.realizable_fraction(W, 2, question="sets"), ValueError, "question must be"),
    (lambda W: rb.realizable_fraction(W, 2, confidence=1.0), ValueError, "confidence"),
    (lambda W: rb.ranking_count(0, 2), ValueError, "n_words"),
    (lambda W: rb.ranking_count(4, 2, bias=1), TypeError, "bias must be True or False"),
    (lambda W: rb.realizable_support(rb.PointwiseLayer(W), [0]), ValueError,
     "must be sparse"),
    (lambda W: rb.realizable_set(rb.PointwiseLayer(W, activation="sparsemax"), [0]),
     TypeError, "realizable_support"),
])
def test_bad_input_names_the_argument(call, exc, match):
    W = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(exc, match=match):
        call(W)


def test_nan_embeddings_refused():
    W = np.ones((4, 2))
    W[1, 1] = np.nan
    with pytest.raises(ValueError, match="W"):
        rb.realizable_set(W, [0])


def test_ranking_count_has_bias_and_the_old_spelling():
    assert rb.ranking_count(6, 2, has_bias=True) == 1 + 15 + 85
    with pytest.warns(DeprecationWarning, match="has_bias"):
        assert rb.ranking_count(6, 2, bias=True) == 1 + 15 + 85
    with pytest.raises(TypeError, match="has_bias must be"):
        rb.ranking_count(6, 2, has_bias="no")
    with pytest.raises(TypeError, match="not both"):
        rb.ranking_count(6, 2, has_bias=True, bias=True)
