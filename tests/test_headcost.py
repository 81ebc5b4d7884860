"""What the head costs: loss against head rank, the suppressed gradient, and
how many tokens can share the top, each against an independent computation
on small heads."""

import numpy as np
import pytest
import scipy.optimize

import rankbottleneck as rb
from rankbottleneck import headcost as hc
from rankbottleneck.feasibility._systems import certificate_holds, uniform_system
from rankbottleneck.lm import ModelContexts


def _contexts(H, W, bias=None, y=None, seed=0):
    if y is None:                       # targets the head predicts, mostly
        rng = np.random.default_rng(seed)
        z = H @ W.T + (0 if bias is None else bias)
        y = np.where(rng.random(len(H)) < 0.7, z.argmax(axis=1),
                     rng.integers(0, W.shape[0], len(H)))
    return ModelContexts(H=H, W=W, bias=bias, token_ids=np.zeros(len(H), int),
                         next_ids=np.asarray(y), tokens=())


@pytest.fixture(scope="module")
def small():
    """An anisotropic 300 × 12 head with a bias and 400 contexts."""
    rng = np.random.default_rng(7)
    W = rng.standard_normal((300, 12)) * np.linspace(3, 0.2, 12) + 0.8
    H = rng.standard_normal((400, 12)) * 1.5
    return _contexts(H, W, rng.standard_normal(300))


def _dense_loss(ctx, Wr, act="softmax", **params):
    logp = rb.get(act)(ctx.H @ Wr.T + ctx.bias, **params)
    return -np.mean(logp[np.arange(len(ctx.H)), ctx.next_ids])


# ---------------------------------------------------------------------------
# Loss against head rank
# ---------------------------------------------------------------------------


def test_full_rank_is_the_models_own_cross_entropy(small):
    own = _dense_loss(small, small.W)
    for recentre in (False, True):
        res = hc.head_rank_loss(small, 12, recentre=recentre)
        assert res.ranks == (12,) and abs(res.full_loss - own) < 1e-12
        assert res.loss[0] == res.full_loss
    # float32 contexts (a model's): the same to float32 accuracy
    c32 = _contexts(small.H.astype(np.float32), small.W.astype(np.float32),
                    small.bias.astype(np.float32), small.next_ids)
    res = hc.head_rank_loss(c32, [3, 12])
    assert res.dtype == "float32" and abs(res.full_loss - own) < 1e-5


def test_truncations_against_a_dense_svd(small):
    U, s, Vt = np.linalg.svd(small.W, full_matrices=False)
    mu = small.W.mean(axis=0)
    Uc, sc, Vtc = np.linalg.svd(small.W - mu, full_matrices=False)
    ranks = [1, 4, 9]
    raw = hc.head_rank_loss(small, ranks)
    cen = hc.head_rank_loss(small, ranks, recentre=True)
    sig = hc.head_rank_loss(small, ranks, activation="sigsoftmax")
    gss = hc.head_rank_loss(small, ranks, activation="gss", c=0.5, k=3.0)
    for k, r in enumerate(ranks):
        Wr = (U[:, :r] * s[:r]) @ Vt[:r]
        Wc = mu + (Uc[:, :r] * sc[:r]) @ Vtc[:r]
        assert abs(raw.loss[k] - _dense_loss(small, Wr)) < 1e-11
        assert abs(cen.loss[k] - _dense_loss(small, Wc)) < 1e-11
        assert abs(sig.loss[k] - _dense_loss(small, Wr, "sigsoftmax")) < 1e-11
        assert abs(gss.loss[k] - _dense_loss(small, Wr, "gss", c=0.5, k=3.0)) < 1e-11
    np.testing.assert_allclose(raw.singular_values, s, rtol=1e-10)
    np.testing.assert_allclose(cen.singular_values, sc, rtol=1e-10, atol=1e-10)
    assert raw.excess[-1] > 0 and raw.n_fallback == 0


def test_logits_beyond_float32_range_are_recomputed(small):
    big = _contexts((small.H * 60).astype(np.float32), small.W.astype(np.float32),
                    small.bias.astype(np.float32), small.next_ids)
    for act in ("softmax", "sigsoftmax"):
        res = hc.head_rank_loss(big, [6, 12], activation=act)
        assert res.n_fallback > 0
        want = _dense_loss(_contexts(big.H.astype(np.float64),
                                     big.W.astype(np.float64),
                                     big.bias.astype(np.float64), big.next_ids),
                           big.W.astype(np.float64), act)
        assert np.isfinite(res.loss).all()
        assert abs(res.full_loss - want) < 1e-6 * abs(want)


# ---------------------------------------------------------------------------
# The suppressed gradient
# ---------------------------------------------------------------------------


def test_suppressed_share_against_a_dense_projection(small):
    res = hc.suppressed_gradient(small)
    z = small.H @ small.W.T + small.bias
    G = np.exp(rb.log_softmax(z))
    G[np.arange(len(G)), small.next_ids] -= 1.0
    P = small.W @ np.linalg.pinv(small.W)                 # P_W, dense
    kept = np.einsum("ij,ij->i", G @ P, G) / np.einsum("ij,ij->i", G, G)
    np.testing.assert_allclose(res.suppressed, 1 - kept, atol=1e-10)
    pooled = 1 - np.sum(np.einsum("ij,ij->i", G @ P, G)) / np.sum(G * G)
    assert abs(res.pooled - pooled) < 1e-10 and abs(res.mean - np.mean(1 - kept)) < 1e-10
    assert res.random == 1 - 12 / 300 and res.rank == 12
    # by the target's frequency: every context in one bin, bins as stated
    counts = np.bincount(small.next_ids, minlength=300)[small.next_ids]
    assert res.bin_contexts.sum() == 400
    for k, (lo, hi) in enumerate(zip(res.bin_edges[:-1], res.bin_edges[1:])):
        inside = (counts >= lo) & (counts < hi)
        assert res.bin_contexts[k] == inside.sum()
        if inside.any():
            assert abs(res.by_frequency[k] - np.mean(1 - kept[inside])) < 1e-10
    # float32, as a model's contexts come: the same to float32 accuracy
    c32 = _contexts(small.H.astype(np.float32), small.W.astype(np.float32),
                    small.bias.astype(np.float32), small.next_ids)
    np.testing.assert_allclose(hc.suppressed_gradient(c32).suppressed, 1 - kept,
                               atol=1e-5)


def test_isotropic_directions_keep_d_over_V():
    rng = np.random.default_rng(3)
    V, d = 400, 20
    W = rng.standard_normal((V, d)) @ rng.standard_normal((d, d))   # any full rank
    basis = hc._basis(W, False, np.dtype(np.float64))
    G = rng.standard_normal((4000, V))                # isotropic in R^V
    kept = hc._projected_norm2(G @ basis.UT.T, basis) / np.einsum("ij,ij->i", G, G)
    # kept ~ Beta(d/2, (V - d)/2): mean d/V, standard error about 1.7e-4 here
    assert abs(kept.mean() - d / V) < 1e-3


def test_nothing_is_suppressed_when_d_equals_V():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((9, 9))
    res = hc.suppressed_gradient(_contexts(rng.standard_normal((50, 9)), W))
    assert res.random == 0.0 and np.max(np.abs(res.suppressed)) < 1e-12


# ---------------------------------------------------------------------------
# How many tokens can share the top: against an independent LP
# ---------------------------------------------------------------------------


def _independent(W, b, S, tau, delta, rho=None):
    """Whether some x gives max_S z - min_S z < τ and min_S z - max_rest z > δ
    (without a bias: spread < ρ · lead), by one LP over every word: unknowns
    (x, lo, hi, rest, t), maximise t."""
    M, d = W.shape
    others = np.setdiff1d(np.arange(M), S)
    n = d + 4
    A, rhs = [], []

    def row(x=None, lo=0.0, hi=0.0, rest=0.0, t=0.0, c=0.0):
        # coefficients of  x·xw + lo + hi + rest + t  ≤  c
        r = np.zeros(n)
        if x is not None:
            r[:d] = x
        r[d:] = lo, hi, rest, t
        A.append(r)
        rhs.append(c)

    for s in S:                          # lo ≤ z_s ≤ hi
        row(x=-W[s], lo=1.0, c=b[s])
        row(x=W[s], hi=-1.0, c=-b[s])
    for j in others:                     # z_j ≤ rest
        row(x=W[j], rest=-1.0, c=-b[j])
    if rho is not None:                  # (hi - lo) - ρ (lo - rest) ≤ -t
        row(lo=-1.0 - rho, hi=1.0, rest=rho, t=1.0)
        bounds = [(-1, 1)] * d + [(None, None)] * 3 + [(None, 1)]
    else:                                # hi - lo ≤ τ - t,  rest - lo ≤ -δ - t
        row(lo=-1.0, hi=1.0, t=1.0, c=tau)
        row(lo=-1.0, rest=1.0, t=1.0, c=-delta)
        bounds = [(None, None)] * (d + 3) + [(None, 1)]
    cost = np.zeros(n)
    cost[-1] = -1.0
    res = scipy.optimize.linprog(cost, np.array(A), np.array(rhs), bounds=bounds,
                                 method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("kind", ["gaussian", "anisotropic", "bias"])
def test_capacity_decisions_against_an_independent_lp(kind):
    rng = np.random.default_rng({"gaussian": 1, "anisotropic": 2, "bias": 3}[kind])
    M, d = 40, 5
    W = rng.standard_normal((M, d))
    b = None
    if kind == "anisotropic":
        W = W * np.array([4.0, 2.0, 1.0, 0.5, 0.25]) + 1.0
    if kind == "bias":
        b = rng.standard_normal(M)
    cap = rb.uniform_top_capacity(W, [2, 3, 4], bias=b, tolerance=0.05, n_sets=10,
                                  seed=5, gaussian=False)
    assert cap.undecided.sum() == 0 and cap.holds.sum() > 0 and cap.fails.sum() > 0
    assert cap.verify(W, b)                           # every proof re-checked
    bb = np.zeros(M) if b is None else b
    clear = 0
    for j, m in enumerate(cap.ms):
        delta = cap.margins[j]
        # without a bias: the ratio τ/δ as the question states it (p/q)
        rho = None if b is not None else cap.ratios[j][0] / cap.ratios[j][1]
        if rho is not None:
            assert abs(rho - 0.05 / delta) <= 0.05 / delta * 0.05 / delta
        for k, S in enumerate(cap.sets[m]):
            t = _independent(W, bb, S, 0.05, delta, rho)
            # the independent float LP is clear (a cone: t = 0 at x = 0 when
            # no context does it)
            if t > 1e-7 or (t < 1e-10 if b is None else t < -1e-7):
                clear += 1
                assert cap.answers[m][k] == (t > 0), (kind, m, S, t)
            got = cap.answers[m][k]
            if got:
                x = cap.witnesses[(m, k)]
                z = W @ x + bb
                lead = z[S].min() - np.delete(z, S).max()
                spread = z[S].max() - z[S].min()
                if b is None:
                    assert spread < rho * lead
                else:
                    assert spread < 0.05 and lead > delta
            else:
                sysm = (uniform_system(S, ratio=cap.ratios[j]) if b is None else
                        uniform_system(S, tolerance=0.05, margin=delta))
                assert certificate_holds(sysm, W, bb, cap.certificates[(m, k)])
    assert clear >= 25


def test_capacity_result_and_gaussian_twin():
    rng = np.random.default_rng(6)
    W = rng.standard_normal((50, 6)) * 0.3
    cap = rb.uniform_top_capacity(W, [2, 3, 5], n_sets=6, seed=2)
    g = cap.gaussian
    assert g is not None and g.head == "Gaussian" and g.ms == cap.ms
    for m in cap.ms:                                  # the same sets asked of both
        np.testing.assert_array_equal(g.sets[m], cap.sets[m])
    assert np.all(cap.holds + cap.fails + cap.undecided == 6)
    lo, hi = cap.interval
    assert np.all(lo <= hi)
    d = cap.as_dict()
    assert d["gaussian"]["head"] == "Gaussian" and "witnesses" not in d
    assert "UniformTopCapacity(V = 50, d = 6" in repr(cap)
    # the default margin: m equal tokens hold 99% of the probability
    assert np.allclose(cap.margins, [np.log(99 * (50 - m) / m) for m in cap.ms])


def test_crossing_of_one_half():
    assert hc._crossing((2, 4, 8), np.array([1.0, 0.75, 0.25])) == 6.0
    assert hc._crossing((2, 4), np.array([1.0, 0.5])) is None


# ---------------------------------------------------------------------------
# Bad input: one clear error, naming the argument, before heavy work
# ---------------------------------------------------------------------------


def test_bad_input(small):
    with pytest.raises(ValueError, match=r"ranks must lie in \[1, d\] = \[1, 12\].*"
                                         r"\[0, 13\]"):
        hc.head_rank_loss(small, [0, 4, 13])
    with pytest.raises(TypeError, match="ranks must be an integer"):
        hc.head_rank_loss(small, [])
    with pytest.raises(TypeError, match="ranks must be an integer"):
        hc.head_rank_loss(small, [2.0])
    with pytest.raises(TypeError, match="needs .*logit_map|declares no logit_map"):
        hc.head_rank_loss(small, 3, activation="sparsemax")
    with pytest.raises(TypeError, match="contexts must be a ModelContexts"):
        hc.suppressed_gradient(small.H)
    with pytest.raises(ValueError, match=r"m must lie in \[2, V - 1\] = \[2, 299\].*"
                                         r"\[1\]"):
        rb.uniform_top_capacity(small.W, [1, 3])
    with pytest.raises(ValueError, match=r"m must lie in .*\[300\]"):
        rb.uniform_top_capacity(small.W, 300)
    with pytest.raises(ValueError, match=r"tolerance must lie in \(0, inf\)"):
        rb.uniform_top_capacity(small.W, 3, tolerance=0)
    with pytest.raises(TypeError, match="text is for a model"):
        rb.head_cost_report(small, "some text")
    bad = _contexts(small.H, small.W, small.bias, np.full(400, 300))
    with pytest.raises(ValueError, match=r"next_ids must be token ids in \[0, 299\]"):
        hc.head_rank_loss(bad, 3)


# ---------------------------------------------------------------------------
# On a (tiny, random) language model
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    from rankbottleneck import lm

    torch.manual_seed(0)
    chars = [chr(c) for c in range(32, 32 + 63)]
    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok,
                                                     unk_token="[UNK]")
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    return lm.load_model(transformers.LlamaForCausalLM(config).eval(),
                         tokenizer=tokenizer)


TEXT = "What the head costs a model: rank, gradient and modes. " * 5


def test_report_on_a_model_and_its_errors(tiny_lm):
    rep = rb.head_cost_report(tiny_lm, TEXT, n_contexts=200, ranks=[4, 16],
                              ms=[2, 3], n_sets=3, window=64)
    own = -np.mean(np.take_along_axis(
        rb.log_softmax(rep_logits(tiny_lm, TEXT, 200)), rep_targets(tiny_lm, TEXT, 200),
        axis=1))
    assert rep.n_tokens == 200 and rep.d == 16 and rep.vocabulary == 64
    assert abs(rep.losses["softmax"].full_loss - own) < 1e-5
    assert rep.gradient.n_tokens == 200 and rep.capacity.gaussian is not None
    assert {"load model", "forward passes", "factorise W"} <= set(rep.seconds)
    ids = tiny_lm.tokenizer(TEXT)["input_ids"]
    n = sum(len(ids[i:i + 128]) - 1 for i in range(0, len(ids), 128))
    with pytest.raises(ValueError, match=rf"has {n} context positions.*n_contexts = "
                                         r"5000"):
        rb.head_cost_report(tiny_lm, TEXT, n_contexts=5000, window=128, ms=None)
    with pytest.raises(ValueError, match=r"ranks must lie in \[1, d\] = \[1, 16\]"):
        rb.head_cost_report(tiny_lm, TEXT, ranks=[17], ms=None)
    with pytest.raises(ValueError, match=r"m must lie in \[2, V - 1\] = \[2, 63\]"):
        rb.head_cost_report(tiny_lm, TEXT, ms=[64])
    with pytest.raises(TypeError, match="a model needs text"):
        rb.head_cost_report(tiny_lm)


def _collected(model, text, n):
    from rankbottleneck import lm

    return lm.collect_contexts(model, text, n_contexts=n, window=64)


def rep_logits(model, text, n):
    ctx = _collected(model, text, n)
    return ctx.H.astype(np.float64) @ ctx.W.T.astype(np.float64)


def rep_targets(model, text, n):
    return _collected(model, text, n).next_ids[:, None]
