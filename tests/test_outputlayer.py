"""analyze_output_layer and `rankbottleneck analyze`: numbers against direct
computation, files of every format, bad input."""

import json

import numpy as np
import pytest
import scipy.linalg

import rankbottleneck as rb
from rankbottleneck import _validation, cli
from rankbottleneck._output import _jsonable
from rankbottleneck.outputlayer import analyze_output_layer, energy_dimension

safetensors_numpy = pytest.importorskip("safetensors.numpy")

M, D = 120, 10


@pytest.fixture
def head(rng):
    """An anisotropic head (a common direction plus decaying scales) with two
    planted unargmaxable words: convex combinations of others, pulled half
    way to the mean word so that they lie strictly inside the hull.

    (A combination of two or three words alone can lie on an edge or a
    2-face of the hull; after rounding it is then argmaxable or not by a
    hair. With this seed both were exactly argmaxable, which the exact
    simplex now says and the old float certificates denied.)"""
    W = rng.standard_normal((M, D)) * np.geomspace(3, 0.3, D) + 0.8
    centre = W.mean(axis=0)
    W[7] = 0.5 * (W[[1, 2, 3]].mean(axis=0) + centre)
    W[50] = 0.5 * (0.3 * W[10] + 0.7 * W[11] + centre)
    words = [f"tok{i}" for i in range(M)]
    return W, words


def brute_mean_cosine(W):
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = U @ U.T
    return (C.sum() - np.trace(C)) / (len(W) * (len(W) - 1))


def test_energy_dimension_closed_form():
    s = np.array([3.0, 2.0, 1.0, 0.0])   # energies 9, 4, 1 of 14
    assert [energy_dimension(s, f) for f in (0.5, 9 / 14, 0.9, 13 / 14, 0.99, 1.0)] \
        == [1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\]; got 1.5"):
        energy_dimension(s, 1.5)


def test_report_matches_direct_computation(head):
    W, words = head
    H = np.random.default_rng(5).standard_normal((D + 30, D))
    rep = analyze_output_layer(W, words=words, contexts=H, seed=1)
    np.testing.assert_allclose(rep.singular_values, scipy.linalg.svdvals(W), rtol=1e-12)
    sc = scipy.linalg.svdvals(W - W.mean(axis=0))
    np.testing.assert_allclose(rep.singular_values_centred, sc, rtol=1e-10)
    energy = np.cumsum(rep.singular_values**2) / np.sum(rep.singular_values**2)
    for f in (0.9, 0.99):
        assert rep.energy_dims[f] == 1 + np.flatnonzero(energy >= f)[0]
    assert rep.mean_cosine == pytest.approx(brute_mean_cosine(W), rel=1e-10)
    norms = np.linalg.norm(W, axis=1)
    assert rep.mean_norm_ratio == pytest.approx(
        np.linalg.norm(W.mean(axis=0)) / norms.mean(), rel=1e-12)
    # the common direction (+0.8) makes the raw head anisotropic
    assert rep.mean_cosine > 0.2 and rep.mean_norm_ratio > 0.3

    direct = rb.argmaxable(W, seed=0)
    np.testing.assert_array_equal(rep.argmax.mask, direct.mask)
    assert {7, 50} <= set(rep.argmax.unargmaxable)
    assert rep.unargmaxable_tokens == tuple(f"tok{i}" for i in direct.unargmaxable)
    assert len(rep.argmax.verify(W)) == 0

    for act in ("softmax", "sigsoftmax", "gss"):
        params = {"c": 1.0, "k": 3.0} if act == "gss" else {}
        Y = rb.PointwiseLayer(W, activation=act, params=params).log_prob_matrix(H)
        want = rb.rank_report(Y, d=D, computed_in=np.float64).as_dict()
        got = rep.ranks[act].as_dict()
        # the report's spectra come from the layer (structural or streamed),
        # the reference's from a dense SVD: counts equal, real measures close
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9), (act, key)
        np.testing.assert_allclose(rep.ranks[act].singular_values,
                                   scipy.linalg.svdvals(Y), rtol=1e-9,
                                   atol=1e-12 * rep.ranks[act].singular_values[0])
    assert rep.ranks["softmax"]["press"].value == D + 1
    assert rep.ranks["sigsoftmax"]["press"].value > D + 1
    assert rep.hidden_size["softmax"].d == D and rep.hidden_size["softmax"].cliff
    assert not rep.hidden_size["sigsoftmax"].cliff


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hidden_size_found_with_bias(rng, dtype):
    d = 24
    W = rng.standard_normal((400, d)).astype(dtype)
    b = rng.standard_normal(400).astype(dtype)
    rep = analyze_output_layer(W, b, seed=3, argmax=False)
    assert rep.hidden_size["softmax"].d == d == rep.rank_W_centred.value
    assert rep.ranks["softmax"]["press"].value == d + 2      # bias adds one
    assert rep.n_contexts == d + 100 and rep.argmax is None
    assert "found" in rep.summary()
    assert rep.dtype == np.dtype(dtype).name


def test_sampled_contexts_have_the_stated_logit_scale(rng):
    W = rng.standard_normal((200, 8)) * 0.1
    rep = analyze_output_layer(W, n_contexts=20, logit_std=2.0, seed=0,
                               argmax=False)
    assert rep.context_scale == pytest.approx(2.0 / np.sqrt(np.mean(np.sum(W**2, 1))))


def test_path_input_equals_array_input(tmp_path, head):
    W, words = head
    safetensors_numpy.save_file({"lm_head.weight": W.astype(np.float16),
                                 "x": np.ones(3, np.float16)},
                                tmp_path / "m.safetensors")
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    rep = analyze_output_layer(tmp_path / "m.safetensors", key="lm_head.weight",
                               vocab=tmp_path / "vocab.txt", seed=0)
    W16 = W.astype(np.float16).astype(np.float32)
    direct = analyze_output_layer(W16, words=words, seed=0)
    np.testing.assert_array_equal(rep.singular_values, direct.singular_values)
    assert rep.unargmaxable_tokens == direct.unargmaxable_tokens
    assert rep.ranks["softmax"].as_dict() == direct.ranks["softmax"].as_dict()
    assert any("float16" in n for n in rep.notes)
    assert rep.source.endswith("m.safetensors")


def test_bad_arguments(head):
    W, words = head
    with pytest.raises(ValueError, match=r"n_contexts must be an integer ≥ d \+ 2 = 12"):
        analyze_output_layer(W, n_contexts=11)
    with pytest.raises(ValueError, match="expected 120 words, got 3"):
        analyze_output_layer(W, words=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"contexts must have shape \(N, 10\)"):
        analyze_output_layer(W, contexts=np.ones((30, 4)))
    with pytest.raises(ValueError, match=r"bias must have shape \(120,\)"):
        analyze_output_layer(W, np.ones(5))
    with pytest.raises(TypeError, match="for a file path"):
        analyze_output_layer(W, key="lm_head.weight")
    W = W.copy()
    W[0, 0] = np.inf
    with pytest.raises(ValueError, match="W must be finite"):
        analyze_output_layer(W)


def test_memory_refused_before_loading(tmp_path, head, monkeypatch):
    W, _ = head
    np.save(tmp_path / "w.npy", W)
    monkeypatch.setattr(_validation, "_available_memory", lambda: 10_000)
    loaded = []
    monkeypatch.setattr(rb.io, "load_embeddings", lambda *a, **k: loaded.append(1))
    with pytest.raises(rb.InsufficientMemoryError, match="would need .* fewer contexts"):
        analyze_output_layer(tmp_path / "w.npy")
    assert not loaded


def test_report_repr_json_and_plot(head, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    W, words = head
    rep = analyze_output_layer(W, words=words, seed=0)
    assert repr(rep).startswith("OutputLayerReport(120×10, 90/99% energy in")
    data = json.loads(json.dumps(_jsonable(rep.as_dict())))
    assert data["argmax"]["first_unargmaxable_tokens"] == list(rep.unargmaxable_tokens)
    assert "tok7" in data["argmax"]["first_unargmaxable_tokens"]
    assert data["hidden_size"]["softmax"]["d"] == D
    fig = rep.plot()
    assert len(fig.axes) == 3
    matplotlib.pyplot.close(fig)


# -- the command line ---------------------------------------------------------


def test_cli_analyze_writes_json_and_figure(tmp_path, head, capsys):
    W, words = head
    b = np.random.default_rng(0).standard_normal(M).astype(np.float32)
    safetensors_numpy.save_file({"lm_head.weight": W.astype(np.float32),
                                 "lm_head.bias": b}, tmp_path / "gpt.safetensors")
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    out = tmp_path / "out"
    assert cli.main(["analyze", str(tmp_path / "gpt.safetensors"), "--key",
                     "lm_head.weight", "--bias-key", "lm_head.bias", "--vocab",
                     str(tmp_path / "vocab.txt"), "--contexts", "40", "--out",
                     str(out)]) == 0
    printed = capsys.readouterr().out
    # with the bias, the planted convex combinations can win (b_i > Σλ_j b_j)
    direct = rb.argmaxable(W.astype(np.float32).astype(np.float64), b.astype(np.float64))
    named = ", ".join(f"tok{i}" for i in direct.unargmaxable[:10])
    assert f"unargmaxable {len(direct.unargmaxable)}: {named}" in printed
    assert "hidden size from softmax outputs: 10; rank(W − w̄) = 10: found" in printed
    data = json.loads((out / "gpt.safetensors-analysis.json").read_text())
    assert data["contexts"]["n"] == 40 and data["has_bias"]
    assert data["log_prob_ranks"]["softmax"]["ranks"]["press"]["value"] == D + 2
    assert data["argmax"]["unargmaxable_indices"] == direct.unargmaxable.tolist()
    np.testing.assert_allclose(data["W"]["singular_values"],
                               scipy.linalg.svdvals(W.astype(np.float32)
                                                    .astype(np.float64)), rtol=1e-12)
    assert (out / "gpt.safetensors-analysis.png").stat().st_size > 0
    assert (out / "gpt.safetensors-analysis.pdf").stat().st_size > 0


def test_cli_analyze_glove_text(tmp_path, head, capsys):
    W, words = head
    lines = [w + " " + " ".join(f"{v:.17g}" for v in row) for w, row in zip(words, W)]
    (tmp_path / "glove.txt").write_text("\n".join(lines) + "\n")
    assert cli.main(["analyze", str(tmp_path / "glove.txt"), "--no-argmax", "--out",
                     str(tmp_path)]) == 0
    assert "argmaxable: not computed" in capsys.readouterr().out


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rankbottleneck: error: ")
    return err[0]


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, head, capsys):
    W, _ = head
    run = lambda *a: cli.main(["analyze", *map(str, a), "--out", str(tmp_path)])  # noqa: E731
    assert run(tmp_path / "missing.npy") == 2
    assert "does not exist" in _one_error_line(capsys)

    np.savez(tmp_path / "m.npz", W=W, v=np.ones((2, 3, 4)))
    assert run(tmp_path / "m.npz", "--key", "lm_head") == 2
    assert "it holds: 'W' (120, 10) float64, 'v' (2, 3, 4)" in _one_error_line(capsys)
    assert run(tmp_path / "m.npz", "--key", "v") == 2
    assert "got shape (2, 3, 4)" in _one_error_line(capsys)

    (tmp_path / "r.txt").write_text("a 1 2 3\nb 1 2\n")
    assert run(tmp_path / "r.txt") == 2
    assert "line 2: ragged row" in _one_error_line(capsys)

    np.save(tmp_path / "w.npy", W)
    (tmp_path / "v.txt").write_text("x\ny\n")
    assert run(tmp_path / "w.npy", "--vocab", tmp_path / "v.txt") == 2
    assert "has 2 tokens but W has 120 rows" in _one_error_line(capsys)
    assert run(tmp_path / "w.npy", "--contexts", "3") == 2
    assert "n_contexts must be" in _one_error_line(capsys)


def test_cli_keeps_the_results_of_inputs_with_one_stem_apart(tmp_path, capsys):
    rng = np.random.default_rng(9)
    for name in ("glove.6B.50d.txt", "glove.6B.100d.txt"):
        d = int(name.split(".")[2][:-1]) // 10
        rows = "".join(f"w{i} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(d))
                       + "\n" for i in range(30))
        (tmp_path / name).write_text(rows)
        assert cli.main(["analyze", str(tmp_path / name), "--out", str(tmp_path),
                         "--no-argmax"]) == 0
    assert (tmp_path / "glove.6B.50d.txt-analysis.json").exists()
    assert (tmp_path / "glove.6B.100d.txt-analysis.json").exists()
    # another input whose name collides is refused, not written over
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "glove.6B.50d.txt").write_text((tmp_path / "glove.6B.100d.txt").read_text())
    assert cli.main(["analyze", str(other / "glove.6B.50d.txt"), "--out",
                     str(tmp_path), "--no-argmax"]) == 2
    assert "holds the results for" in capsys.readouterr().err


def test_logits_computed_once_change_nothing(head, monkeypatch):
    # analyze_output_layer multiplies H Wᵀ once and every activation's
    # passes read it: the report is the one the layers would give alone,
    # bit for bit (the same product, read instead of recomputed)
    from rankbottleneck import layers

    W, _ = head
    H = np.random.default_rng(3).standard_normal((D + 30, D))
    b = np.random.default_rng(4).standard_normal(M) * 0.1
    reads = []
    original = layers._Layer._logits_for

    def counted(self, X):
        Z = original(self, X)
        reads.append(Z is not None)
        return Z

    monkeypatch.setattr(layers._Layer, "_logits_for", counted)
    once = analyze_output_layer(W, b, contexts=H, argmax=False).as_dict()
    assert reads and all(reads)
    monkeypatch.setattr(layers.PointwiseLayer, "_with_logits", lambda self, X, Z: self)
    reads.clear()
    again = analyze_output_layer(W, b, contexts=H, argmax=False).as_dict()
    assert not any(reads)
    for report in (once, again):
        report.pop("seconds")
    assert json.dumps(_jsonable(once), sort_keys=True) == json.dumps(
        _jsonable(again), sort_keys=True)


def test_cached_logits_are_matched_by_identity(head):
    W, _ = head
    H = np.random.default_rng(3).standard_normal((20, D))
    layer = rb.PointwiseLayer(W, activation="sigsoftmax")
    Z = layer.logits(H)
    cached = layer._with_logits(H, Z)
    assert cached._logits_for(H) is Z and cached._logits_for(H.copy()) is None
    assert layer._logits_for(H) is None            # the original is untouched
    np.testing.assert_array_equal(cached.log_prob_matrix(H), layer.log_prob_matrix(H))
    np.testing.assert_array_equal(rb.spectrum(cached, H).values,
                                  rb.spectrum(layer, H).values)
    with pytest.raises(ValueError, match=r"logits of shape \(20, 120\)"):
        layer._with_logits(H, Z[:, :5])
