"""The output image, model comparison and a restricted API (issue 27, items 1-3)
on a tiny Llama built from a config (nothing downloaded), and bad input."""

import copy
import json
import math

import numpy as np
import pytest

import rankbottleneck as rb

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rankbottleneck import lm  # noqa: E402

D, V, T = 16, 61, 6


def _tokenizer():
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, **{chr(32 + i): i + 1 for i in range(V - 1)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok,
                                                unk_token="[UNK]")


def _wrap(net, tokenizer):
    return lm.load_model(net, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=V, hidden_size=D, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=False, initializer_range=0.5)
    net = transformers.LlamaForCausalLM(config).eval()
    return _wrap(net, _tokenizer())


@pytest.fixture(scope="module")
def contexts():
    return np.random.default_rng(0).integers(0, V, size=(D + 30, T))


@pytest.fixture(scope="module")
def image(tiny, contexts):
    Y, dt = rb.image._model_logprobs(tiny, contexts)
    return rb.output_image(Y, computed_in=dt)


def _edited(tiny, edit, seed):
    net = copy.deepcopy(tiny.model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        edit(net, g)
    return _wrap(net, tiny.tokenizer)


# ---------------------------------------------------------------------------
# item 1: the image
# ---------------------------------------------------------------------------

def test_image_dimension_basis_and_members(tiny, image):
    # d read off the cliff; an orthonormal basis of d + 1 with 1/√V first
    assert image.d == D and image.basis.shape == (V, D + 1)
    assert np.allclose(image.basis.T @ image.basis, np.eye(D + 1), atol=1e-12)
    assert np.allclose(image.basis[:, 0], 1 / math.sqrt(V))
    assert image.hidden_size.cliff and image.hidden_size.gap > 1e3
    # float32 logits: the data's noise is of the order of float32's ε
    assert image.noise < 1e3 * np.finfo(np.float32).eps
    # held-out contexts of the same model are members, to float accuracy
    fresh = np.random.default_rng(1).integers(0, V, size=(20, T + 2))
    Y, _ = rb.image._model_logprobs(tiny, fresh)
    assert image.contains(Y, computed_in=np.float32).all()
    assert image.residual(Y).max() <= image.tolerance
    assert image.contains(Y[0], computed_in=np.float32) is True
    json.dumps(image.as_dict())
    assert "d = 16" in repr(image)


def test_logits_image_has_dimension_d_and_the_span_of_W(tiny, contexts):
    logits = rb.image._model_logprobs(tiny, contexts)[0]   # shift-free check below
    Z = np.asarray(rb.sequences._language_model_function(tiny)(contexts),
                   dtype=np.float64)
    img = rb.output_image(Z, kind="logits", computed_in=np.float32)
    assert img.d == D and img.basis.shape == (V, D)
    # no bias: span(basis) = span(W) (principal angles against W's range ≈ 0)
    Q, _ = np.linalg.qr(tiny.W.astype(np.float64))
    assert rb.image.scipy.linalg.subspace_angles(img.basis, Q).max() < 1e-4
    with pytest.raises(ValueError, match=r"outputs\[0\] are not log-probabilities"):
        rb.output_image(Z)
    assert logits.shape == Z.shape


def test_angles_same_image_under_diagonal_scaling_and_not_under_another_head():
    H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
    a = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
    scaled = rb.output_image(rb.PointwiseLayer(W * np.arange(1.0, 7)).log_prob_matrix(H))
    other = rb.output_image(rb.PointwiseLayer(np.roll(W, 1, 0)).log_prob_matrix(H))
    assert a.angles(scaled).max() < 1e-6
    ang = a.angles(other)
    assert ang.min() < 1e-6 and ang.max() > 0.1      # only the ones direction shared


# ---------------------------------------------------------------------------
# item 2 (tiny model): which model, and what changed
# ---------------------------------------------------------------------------

def test_compare_models_on_head_inner_and_norm_edits(tiny, contexts):
    def head(net, g):           # 1% noise on W
        w = net.lm_head.weight
        w += 0.01 * w.std() * torch.randn(w.shape, generator=g)

    def inner(net, g):          # a rank-8 edit of a middle MLP, as LoRA makes
        w = net.model.layers[1].mlp.down_proj.weight
        w += 0.1 * torch.randn(w.shape[0], 8, generator=g) @ torch.randn(
            8, w.shape[1], generator=g)

    def norm(net, g):           # the final norm's weights
        net.model.norm.weight *= 1 + 0.2 * torch.randn(D, generator=g)

    same = rb.compare_models(tiny, tiny, contexts)
    assert same.verdict == "same outputs"
    by_head = rb.compare_models(tiny, _edited(tiny, head, 1), contexts)
    assert by_head.verdict == "different image" and by_head.members == 0
    assert by_head.residual.min() > 10 * by_head.image.tolerance
    by_inner = rb.compare_models(tiny, _edited(tiny, inner, 2), contexts)
    assert by_inner.verdict == "same image, different outputs"
    assert by_inner.change == "inside the network" and by_inner.ellipse.holds
    assert by_inner.output_difference > 100 * by_inner.image.tolerance
    by_norm = rb.compare_models(tiny, _edited(tiny, norm, 3), contexts)
    assert by_norm.verdict == "same image, different outputs"
    assert by_norm.change == "final norm" and not by_norm.ellipse.holds
    assert by_norm.angles.max() < 1e-3
    json.dumps(by_norm.as_dict())


def test_ellipse_holds_for_the_models_own_outputs(tiny, contexts):
    Y, _ = rb.image._model_logprobs(tiny, contexts)
    e = rb.ellipse_residual(tiny, Y)
    assert e.holds and e.norm == "rms"
    # inside the ellipse by at most the norm's ε relative to the state's size
    assert e.residual.max() <= e.tolerance and e.residual.min() > -1e-3


# ---------------------------------------------------------------------------
# item 3: the restricted API
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 5, 20])
def test_recovery_with_the_image_and_token_by_token_agree(tiny, image, k):
    api = rb.RestrictedAPI(tiny, top_k=k)
    prompt = [5, 17, 3, 40, 22, 9, 11]          # not among the image's contexts
    truth = api.logprobs(prompt)
    fast = rb.recover_logprobs(api, prompt, image=image)
    assert fast.calls <= math.ceil((D + 1) / (k - 1)) + 5
    assert fast.calls == math.ceil(D / (k - 1)) + 1
    assert np.linalg.norm(fast.logprobs - truth) <= 1e-6 * np.linalg.norm(truth)
    slow = rb.recover_logprobs(api, prompt)
    assert slow.calls == 1 + math.ceil((V - k) / (k - 1)) and not slow.missing
    assert np.linalg.norm(slow.logprobs - truth) <= 1e-12 * np.linalg.norm(truth)
    assert np.linalg.norm(fast.logprobs - slow.logprobs) <= 1e-6 * np.linalg.norm(truth)
    assert abs(fast.normaliser_error) < 1e-6
    json.dumps(fast.as_dict())


def test_rounded_api_values_recovered_to_the_rounding(tiny, image):
    api = rb.RestrictedAPI(tiny, top_k=5, decimals=4)
    prompt = [1, 2, 3]
    fast = rb.recover_logprobs(api, prompt, image=image)
    assert np.abs(fast.logprobs - api.logprobs(prompt)).max() < 1e-3


def test_api_hidden_size(tiny):
    api = rb.RestrictedAPI(tiny, top_k=20)
    prompts = np.random.default_rng(4).integers(0, V, size=(D + 6, 4)).tolist()
    found = rb.api_hidden_size(api, prompts)
    assert found.d == D
    assert found.calls == len(prompts) * (1 + math.ceil((V - 20) / 19))
    img = rb.output_image(found.outputs, computed_in=api.dtype)
    assert img.d == D


# ---------------------------------------------------------------------------
# bad input: one clear error naming the argument
# ---------------------------------------------------------------------------

def test_bad_outputs(image):
    bad = np.zeros((3, V))
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match=r"outputs must be finite; got nan"):
        image.residual(bad)
    with pytest.raises(ValueError, match=rf"outputs must have shape \({V},\) or "
                                         rf"\(n, {V}\).*got shape \(2, {V + 1}\)"):
        image.contains(np.zeros((2, V + 1)))
    with pytest.raises(ValueError, match=r"outputs must be finite"):
        rb.output_image(bad)
    with pytest.raises(TypeError, match=r"other must be an OutputImage"):
        image.angles(np.eye(3))


def test_too_few_outputs_say_how_many():
    H, W, _ = rb.contexts_and_words(6, 50, 6, seed=0)
    Y = rb.PointwiseLayer(W).log_prob_matrix(H)
    with pytest.raises(ValueError, match=r"at least d \+ 2 outputs.*6 outputs cannot "
                                         r"show a d of 5 or more"):
        rb.output_image(Y)
    with pytest.raises(ValueError, match=r"d = 6 needs at least d \+ 2 = 8 outputs; "
                                         r"got 6"):
        rb.output_image(Y, dimension=6)


def test_api_bad_input():
    W = np.random.default_rng(0).standard_normal((20, 3))
    api = rb.RestrictedAPI(lambda ids: np.cos(ids[:, -1:] + np.arange(3)) @ W.T,
                           top_k=3, max_bias=50)
    with pytest.raises(ValueError, match=r"bias\[4\] = 60 is beyond the API's limit "
                                         r"max_bias = 50"):
        api([1], bias={4: 60.0})
    with pytest.raises(ValueError, match=r"prompt must be a non-empty sequence"):
        api([])
    no_bias = rb.RestrictedAPI(lambda ids: np.cos(ids[:, -1:] + np.arange(3)) @ W.T,
                               logit_bias=False)
    with pytest.raises(ValueError, match=r"bias: this API takes no logit bias"):
        no_bias([1], bias={2: 1.0})
    with pytest.raises(ValueError, match=r"top_k must be an integer in \[2, inf\]"):
        rb.RestrictedAPI(api._function, top_k=1)

    class Short(rb.RestrictedAPI):          # returns one value fewer than promised
        def __call__(self, prompt, bias=None):
            tokens, values = super().__call__(prompt, bias)
            return tokens[:-1], values[:-1]

    short = Short(api._function, top_k=3)
    with pytest.raises(ValueError, match=r"api returned 2 tokens and 2 values; top_k "
                                         r"= 3 promises 3"):
        rb.recover_logprobs(short, [1])
    H, W2, _ = rb.contexts_and_words(30, 21, 3, seed=0)
    other = rb.output_image(rb.PointwiseLayer(W2).log_prob_matrix(H))
    with pytest.raises(ValueError, match=r"image has width V = 21; the API's "
                                         r"vocabulary is 20"):
        rb.recover_logprobs(api, [1], image=other)


def test_ellipse_of_a_layer_norm_head():
    # GPT-2: a layer norm (weights and bias) before a head tied to the embedding
    torch.manual_seed(1)
    config = transformers.GPT2Config(vocab_size=V, n_embd=D, n_layer=1, n_head=2,
                                     n_positions=32, initializer_range=0.5,
                                     bos_token_id=0, eos_token_id=0)
    net = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        net.transformer.ln_f.bias.normal_(0, 0.5, generator=torch.Generator()
                                          .manual_seed(2))
    gpt = _wrap(net, _tokenizer())
    ids = np.random.default_rng(5).integers(0, V, size=(D + 10, T))
    Y, _ = rb.image._model_logprobs(gpt, ids)
    e = rb.ellipse_residual(gpt, Y)
    assert e.norm == "layer" and e.holds
    edited = copy.deepcopy(net)
    with torch.no_grad():
        edited.transformer.ln_f.weight *= 1 + 0.2 * torch.randn(
            D, generator=torch.Generator().manual_seed(3))
    Y2, _ = rb.image._model_logprobs(_wrap(edited, gpt.tokenizer), ids)
    off = rb.ellipse_residual(gpt, Y2)          # against the original's γ and β
    assert not off.holds and off.n_outside > 0


def test_api_answers_are_log_softmax_of_the_biased_logits():
    # the O(k) call against the plain computation, with positive and
    # negative biases (one on the top token: the normaliser's cancellation)
    W = np.random.default_rng(0).standard_normal((50, 4))
    model = lambda ids: np.cos(ids[:, -1:] + np.arange(4)) @ W.T  # noqa: E731
    api = rb.RestrictedAPI(model, top_k=6, max_bias=100)
    z = model(np.array([[3]]))[0]
    top = int(np.argmax(z))
    for bias in ({}, {7: 100.0, 9: -3.0, 11: 0.5}, {top: -100.0, 2: 5.0}):
        tokens, values = api([3], bias)
        zb = z.copy()
        for t, v in bias.items():
            zb[t] += v
        lp = rb.log_softmax(zb)
        want = np.argsort(-lp, kind="stable")[:6]
        assert tokens.tolist() == want.tolist()
        assert np.allclose(values, lp[want], rtol=0, atol=1e-13)


def test_membership_roc():
    H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
    image = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
    H2, _, _ = rb.contexts_and_words(20, 50, 6, seed=1)
    members = image.residual(rb.PointwiseLayer(W).log_prob_matrix(H2))
    others = image.residual(rb.PointwiseLayer(np.roll(W, 1, 0)).log_prob_matrix(H2))
    roc = rb.membership_roc(members, others, tolerance=image.tolerance)
    assert roc.auc == 1.0 and roc.separated
    assert roc.false_positive_rate[0] == roc.true_positive_rate[0] == 0.0
    assert roc.false_positive_rate[-1] == roc.true_positive_rate[-1] == 1.0
    same = rb.membership_roc(members, members)
    assert same.auc == 0.5 and not same.separated
    json.dumps(roc.as_dict())
    with pytest.raises(ValueError, match=r"others must not be empty"):
        rb.membership_roc(members, np.zeros(0))


def test_compare_outputs_on_held_out_contexts(tiny, image):
    # the image from some contexts, the comparison at others (too few for
    # B's own image: no angles)
    ids = np.random.default_rng(7).integers(0, V, size=(8, T))
    Ya, _ = rb.image._model_logprobs(tiny, ids)
    c = rb.compare_outputs(image, Ya, Ya[::-1, ::-1], model=tiny)
    assert c.verdict == "different image" and np.isnan(c.angles).all()
    assert rb.compare_outputs(image, Ya, Ya).verdict == "same outputs"
