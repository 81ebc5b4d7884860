"""The extended logit matrix (rankbottleneck.sequences) and its ground truth
(rankbottleneck.synthetic.isan, tanh_rnn)."""

import json

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck import _validation

V, D = 10, 3


def _text(n=400, seed=0, vocab=V):
    return np.random.default_rng(seed).integers(0, vocab, n)


def _log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _press_and_gap(L):
    s = L.spectrum()
    return s.rank("press").value, s.values / s.values[0]


# ---------------------------------------------------------------- the entries

def test_entries_are_the_models_own_log_softmax_of_h_then_f():
    # ragged histories and futures, an empty future, small batches: every
    # entry is log-softmax (or its centred form) of model(h ∘ f), exactly
    model = rb.synthetic.tanh_rnn(V, D, seed=3)
    H = [[1], [2, 3], [4, 5, 6], [7, 8, 9, 0], [3, 3]]
    F = [[], [5], [6, 7], [1, 2, 3]]
    raw = rb.extended_logit_matrix(model, H, F, centre=False, batch_size=3)
    cen = rb.extended_logit_matrix(model, H, F, batch_size=2)
    assert raw.matrix.shape == (5, 4 * V) and raw.tokens.shape == (4, V)
    for i, h in enumerate(H):
        for j, f in enumerate(F):
            lp = _log_softmax(model([h + f]))[0]
            np.testing.assert_allclose(raw.matrix[i, j * V:(j + 1) * V], lp,
                                       rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(cen.matrix[i, j * V:(j + 1) * V],
                                       lp - lp.mean(), rtol=1e-12, atol=1e-12)
    assert cen.n_sequences == 1 + len(H) * len(F)
    assert cen.histories == tuple(map(tuple, H)) and cen.futures[0] == ()


def test_the_empty_future_gives_the_centred_next_token_matrix():
    model = rb.synthetic.isan(V, D, seed=1)
    H, _ = rb.sample_histories_futures(_text(), 12, 1, 4, 0, seed=0)
    L = rb.extended_logit_matrix(model, H, [[]])
    z = model(H)
    np.testing.assert_allclose(L.matrix, z - z.mean(axis=1, keepdims=True),
                               rtol=1e-12, atol=1e-12)


def test_tokens_keep_columns_of_the_full_matrix():
    model = rb.synthetic.tanh_rnn(V, D, seed=2)
    H, F = rb.sample_histories_futures(_text(), 8, 3, 3, 2, seed=1)
    full = rb.extended_logit_matrix(model, H, F)
    top = rb.extended_logit_matrix(model, H, F, tokens=4)
    given = rb.extended_logit_matrix(model, H, F, tokens=[7, 2])
    assert top.tokens.shape == (3, 4) and given.tokens.tolist() == [[7, 2]] * 3
    blocks = full.matrix.reshape(8, 3, V)
    for j in range(3):
        # the top 4 by the mean over histories, centred over the whole vocabulary
        expected = np.sort(np.argsort(-blocks[:, j].mean(axis=0), kind="stable")[:4])
        assert top.tokens[j].tolist() == expected.tolist()
        np.testing.assert_array_equal(top.matrix[:, 4 * j:4 * j + 4],
                                      blocks[:, j, expected])
        np.testing.assert_array_equal(given.matrix[:, 2 * j:2 * j + 2],
                                      blocks[:, j, [7, 2]])
    assert top.n_sequences == 1 + 2 * 8 * 3     # the top-k pass runs the model twice


def test_a_transformers_model_through_load_model():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from rankbottleneck import lm

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=24, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
        tie_word_embeddings=False)
    net = transformers.LlamaForCausalLM(config).eval()
    model = lm.LanguageModel(model=net, tokenizer=None, source="tiny",
                             architecture="llama", hidden_size=16)
    H, F = rb.sample_histories_futures(_text(200, vocab=24), 5, 3, 4, 2, seed=0)
    L = rb.extended_logit_matrix(model, H, F, centre=False, batch_size=4)
    with torch.no_grad():
        for i, h in enumerate(H):
            for j, f in enumerate(F):
                ids = torch.tensor([list(h) + list(f)])
                own = torch.log_softmax(net(input_ids=ids).logits[0, -1].float(), -1)
                np.testing.assert_allclose(L.matrix[i, 24 * j:24 * (j + 1)],
                                           own.numpy(), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="sequences of up to 33 tokens; the model "
                                         "takes at most 32"):
        rb.extended_logit_matrix(model, [[1] * 30], [[2] * 3])


# ------------------------------------------------------------ the ground truth

@pytest.mark.parametrize("history_len, future_len", [(1, 5), (3, 3), (5, 1), (6, 0)])
def test_isan_rank_is_exactly_d_plus_1_with_offsets_and_d_without(history_len,
                                                                   future_len):
    # every split of a 6-token sequence into history and future: a cliff of
    # 12+ orders of magnitude right after d + 1 (offsets) or d (none)
    n_futures = 1 if future_len == 0 else 6
    H, F = rb.sample_histories_futures(_text(), 30, n_futures, history_len,
                                       future_len, seed=4)
    for offsets, expected in ((True, D + 1), (False, D)):
        model = rb.synthetic.isan(V, D, offsets=offsets, seed=7)
        rank, s = _press_and_gap(rb.extended_logit_matrix(model, H, F))
        assert rank == expected
        assert s[expected - 1] > 1e-3 and s[expected:].max(initial=0) < 1e-12


def test_rank_report_of_the_isan_states_its_rank():
    H, F = rb.sample_histories_futures(_text(), 20, 4, 4, 2, seed=6)
    report = rb.extended_logit_matrix(rb.synthetic.isan(V, D, seed=2), H, F).rank_report()
    ranks = {r.measure: r.value for r in report.ranks}
    assert ranks["press"] == ranks["gap"] == D + 1


def test_tanh_control_is_not_low_rank_beyond_the_next_token():
    H, F = rb.sample_histories_futures(_text(), 30, 6, 5, 2, seed=5)
    model = rb.synthetic.tanh_rnn(V, D, seed=7)
    # next token only: W̃ s_h + c̃, rank d + 1 like the ISAN
    assert _press_and_gap(rb.extended_logit_matrix(model, H, [[]]))[0] == D + 1
    # with futures: each future's block is a different nonlinear map of s_h,
    # and generic parameters reach the most that allows, |F| d + 1
    rank, _ = _press_and_gap(rb.extended_logit_matrix(model, H, F))
    assert rank == len(F) * D + 1 > D + 1


# --------------------------------------------------- power law, truncation KL

def test_power_law_recovers_a_planted_exponent():
    i = np.arange(1, 201)
    exact = rb.ExtendedLogitMatrix.fit_power_law(5.0 * i ** -0.54)
    assert exact.alpha == pytest.approx(0.54, abs=1e-12)
    assert exact.C == pytest.approx(5.0, rel=1e-12)
    assert exact.r_squared == pytest.approx(1.0, abs=1e-12)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.05, i.size))
    noisy = rb.ExtendedLogitMatrix.fit_power_law(np.sort(2.0 * i ** -0.37 * noise)[::-1],
                                                 first=5, last=150)
    assert noisy.alpha == pytest.approx(0.37, abs=0.02)
    assert (noisy.first, noisy.last) == (5, 150) and 0.9 < noisy.r_squared <= 1


def test_power_law_of_a_matrix_fits_above_the_rounding_floor():
    H, F = rb.sample_histories_futures(_text(), 20, 5, 4, 2, seed=2)
    L = rb.extended_logit_matrix(rb.synthetic.isan(V, D, seed=0), H, F)
    fit = L.power_law()
    assert (fit.first, fit.last) == (1, D + 1)   # not the ~1e-16 tail
    json.dumps(fit.as_dict())


@pytest.mark.parametrize("tokens", [None, 4])
def test_truncation_kl_is_below_its_frobenius_bound_at_every_rank(tokens):
    H, F = rb.sample_histories_futures(_text(), 24, 5, 5, 2, seed=3)
    L = rb.extended_logit_matrix(rb.synthetic.tanh_rnn(V, D, seed=1), H, F,
                                 tokens=tokens)
    ranks = np.arange(0, min(L.matrix.shape) + 1)
    t = L.truncation_kl(ranks)
    assert np.all(t.kl <= t.bound + 1e-13) and np.all(t.kl >= 0)
    assert t.kl[0] > 1e-3 and t.kl[-1] < 1e-13     # full rank: the model itself
    s = np.linalg.svd(L.matrix, compute_uv=False)
    np.testing.assert_allclose(t.frobenius_error ** 2,
                               [np.sum(s[r:] ** 2) for r in ranks], atol=1e-9)
    if tokens is None:
        # rank 2, by hand: the model's own next-token distributions
        U, s, Vt = np.linalg.svd(L.matrix, full_matrices=False)
        L2 = ((U[:, :2] * s[:2]) @ Vt[:2]).reshape(24, 5, V)
        lp = np.stack([_log_softmax(rb.synthetic.tanh_rnn(V, D, seed=1)(
            np.array([list(h) + list(f) for f in F]))) for h in H])
        kl = np.mean(np.sum(np.exp(lp) * (lp - _log_softmax(L2)), axis=2))
        assert t.kl[2] == pytest.approx(kl, rel=1e-10)
    json.dumps(t.as_dict())


def test_result_is_json_safe_and_readable():
    H, F = rb.sample_histories_futures(_text(), 4, 2, 3, 1, seed=0)
    L = rb.extended_logit_matrix(rb.synthetic.isan(V, D, seed=0), H, F)
    d = json.loads(json.dumps(L.as_dict()))
    assert d["shape"] == [4, 2 * V] and "matrix" not in d and d["vocab_size"] == V
    assert repr(L).startswith("ExtendedLogitMatrix(4 histories × 2 futures × 10")


def test_sample_histories_futures_takes_windows_of_the_text():
    text = _text(50)
    H, F = rb.sample_histories_futures(text, 6, 4, 5, 3, seed=9)
    H2, F2 = rb.sample_histories_futures(text, 6, 4, 5, 3, seed=9)
    np.testing.assert_array_equal(H, H2)
    np.testing.assert_array_equal(F, F2)
    windows = {tuple(text[s:s + n]) for n in (3, 5) for s in range(50 - n + 1)}
    assert all(tuple(row) in windows for row in [*H, *F])
    # a text with a tokenizer
    H3, _ = rb.sample_histories_futures("abcdefgh", 2, 1, 3, 0, seed=0,
                                        tokenizer=lambda s: [ord(c) - 97 for c in s])
    assert H3.shape == (2, 3) and H3.max() < 8


# ---------------------------------------------------------------- bad input

def _wrong_shape(ids):
    return np.zeros((len(ids), V, 2))


def _too_few_rows(ids):
    return np.zeros((len(ids) - 1 if len(ids) > 1 else 2, V))


def _nan_later(ids):
    out = np.zeros((len(ids), V))
    if np.asarray(ids).shape[1] > 3:
        out[0, 4] = np.nan
    return out


_MODEL = rb.synthetic.isan(V, D, seed=0)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((_MODEL, [[1, 2], []], [[1]]), {}, ValueError, r"histories\[1\] is empty"),
    ((_MODEL, [], [[1]]), {}, ValueError, "histories must hold at least one"),
    ((_MODEL, [[1, 2]], []), {}, ValueError, "futures must hold at least one"),
    ((_MODEL, [[1, 12]], [[1]]), {}, ValueError,
     r"histories\[0\]\[1\] = 12 is outside the model's vocabulary of 10"),
    ((_MODEL, [[1, 2]], [[3], [10]]), {}, ValueError, r"futures\[1\]\[0\] = 10"),
    ((_MODEL, [[1, -2]], [[1]]), {}, ValueError, r"histories\[0\]\[1\] = -2"),
    ((_MODEL, [[1, 2.0]], [[1]]), {}, TypeError, r"histories\[0\]\[1\] must be an int"),
    ((_MODEL, "abc", [[1]]), {}, TypeError, "histories must be a list"),
    ((_MODEL, [[1]], [[1]]), {"tokens": [3, 99]}, ValueError,
     r"tokens\[0\]\[1\] = 99 is outside"),
    ((_MODEL, [[1]], [[1]]), {"tokens": 11}, ValueError, "tokens = 11 exceeds"),
    ((_MODEL, [[1]], [[1]]), {"tokens": [3, 3]}, ValueError, "must not repeat"),
    ((_MODEL, [[1]], [[1]]), {"centre": 1}, TypeError, "centre must be True or False"),
    ((_MODEL, [[1]], [[1]]), {"batch_size": 0}, ValueError, "batch_size"),
    ((_wrong_shape, [[1]], [[1]]), {}, ValueError, r"model must return .* got shape"),
    ((_too_few_rows, [[1], [2]], [[1]]), {}, ValueError,
     r"model must return next-token logits of shape \(1, V\)"),
    ((_nan_later, [[1, 2]], [[1], [1, 2]]), {}, ValueError,
     "model must return finite logits; got nan at token 4 after the sequence"),
    ((object(), [[1]], [[1]]), {}, TypeError, "model must be a"),
])
def test_bad_input_is_refused_naming_the_argument(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        rb.extended_logit_matrix(*args, **kwargs)


def test_a_matrix_too_large_is_refused_up_front(monkeypatch):
    calls = []

    def model(ids):
        calls.append(len(ids))
        return np.zeros((len(ids), V))

    monkeypatch.setattr(_validation, "_available_memory", lambda: 1000)
    with pytest.raises(rb.InsufficientMemoryError,
                       match=r"extended logit matrix \(20 histories × 3 futures × 10 "
                             r"tokens, float64\) would need 4.7 KiB.*tokens=k"):
        rb.extended_logit_matrix(model, [[1]] * 20, [[1], [2], [3]])
    assert calls == [1]                # only the probe ran


@pytest.mark.parametrize("args, kwargs, match", [
    ((list(range(7)), 2, 1, 8, 1), {}, r"text has 7 tokens: 0 windows of 8 tokens"),
    ((list(range(7)), 5, 1, 4, 1), {}, r"text has 7 tokens: 4 windows .* 5 histories"),
    ((list(range(7)), 1, 8, 2, 1), {}, r"text has 7 tokens: 7 windows .* 8 futures"),
    ((list(range(7)), 1, 2, 2, 0), {}, "n_futures must be 1"),
    ((list(range(7)), 1, 1, 0, 1), {}, "history_len must be a positive integer"),
    (([], 1, 1, 1, 1), {}, "text has 0 tokens"),
])
def test_a_text_too_short_says_how_many_tokens_it_has(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rb.sample_histories_futures(*args, **kwargs)


def test_a_str_text_needs_a_tokenizer():
    with pytest.raises(TypeError, match="text is a str: pass tokenizer="):
        rb.sample_histories_futures("some text", 1, 1, 2, 1)


def test_bad_ranks_and_power_law_ranges():
    H, F = rb.sample_histories_futures(_text(), 4, 2, 3, 1, seed=0)
    L = rb.extended_logit_matrix(_MODEL, H, F)
    with pytest.raises(ValueError, match=r"ranks must lie in \[0, 4\]"):
        L.truncation_kl([5])
    with pytest.raises(TypeError, match="ranks must be an integer"):
        L.truncation_kl([1.5])
    with pytest.raises(ValueError, match="at least two indices"):
        L.power_law(first=3, last=3)
    with pytest.raises(ValueError, match="finite and positive"):
        rb.ExtendedLogitMatrix.fit_power_law([1.0, 0.5, 0.0], last=3)


# ---------------------------------------------------------------- LINGEN

def _lingen_setup():
    H, F = rb.sample_histories_futures(_text(), 20, 6, 6, 2, seed=1)
    target = [9, 9, 9, 9, 9, 9]
    assert all(list(h) != target for h in H)
    return H, F, target


def test_lingen_reproduces_the_isans_distributions_to_float_accuracy():
    H, F, target = _lingen_setup()
    model = rb.synthetic.isan(V, D, seed=0)
    out = rb.lingen(model, target, H, F, n_steps=8, seed=3)
    assert out.fit_residual < 1e-12 and len(out.generated) == 8
    assert np.all(out.kl < 1e-13)                 # every step, the model itself
    assert set(out.baselines) == {"last 1 token", "last 4 tokens"}
    assert all(b[-1] > 1e-2 for b in out.baselines.values())
    json.dumps(out.as_dict())


def test_lingen_never_runs_the_model_on_the_target_to_generate():
    # the same model, answering nonsense after the target ∘ (generated
    # tokens): the generated tokens do not change, only the scores do
    H, F, target = _lingen_setup()
    model = rb.synthetic.isan(V, D, seed=0)
    fitted = {tuple(target) + tuple(f) for f in F}
    noise = np.random.default_rng(0)

    def spoiled(ids):
        out = model(ids)
        for row, seq in enumerate(np.asarray(ids).tolist()):
            if seq[:len(target)] == target and tuple(seq) not in fitted:
                out[row] = noise.normal(0, 5, V)
        return out

    honest = rb.lingen(model, target, H, F, n_steps=8, seed=3)
    fooled = rb.lingen(spoiled, target, H, F, n_steps=8, seed=3)
    assert fooled.generated == honest.generated
    np.testing.assert_array_equal(fooled.weights, honest.weights)
    assert fooled.kl.max() > 1e-2


def test_lingen_on_the_tanh_control_fits_but_does_not_carry_over():
    H, F, target = _lingen_setup()
    out = rb.lingen(rb.synthetic.tanh_rnn(V, D, seed=0), target, H, F, n_steps=6,
                    seed=3)
    assert out.fit_residual < 1e-10 and out.cumulative_kl[-1] > 1e-2


@pytest.mark.parametrize("kwargs, error, match", [
    ({"target": []}, ValueError, r"target\[0\] is empty"),
    ({"target": [1, 10]}, ValueError, r"target\[0\]\[1\] = 10 is outside"),
    ({"n_steps": 0}, ValueError, "n_steps must be a positive integer"),
    ({"short_histories": (0,)}, ValueError, "short_histories must be a positive"),
])
def test_lingen_bad_input(kwargs, error, match):
    args = {"target": [1, 2], "n_steps": 2, **kwargs}
    with pytest.raises(error, match=match):
        rb.lingen(_MODEL, args.pop("target"), [[1, 2], [3, 4]], [[5]], **args)
