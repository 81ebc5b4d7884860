"""Loading embeddings from .npy, .npz, .safetensors and word2vec/GloVe text."""

import gzip
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankbottleneck import _validation, cli, io
from rankbottleneck.io import describe_embeddings, load_embeddings, load_vocab

safetensors_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture
def W(rng):
    return rng.standard_normal((40, 6))


def write_text(path, W, words=None, header=True, fmt="{:.17g}"):
    words = words or [f"w{i}" for i in range(len(W))]
    lines = [f"{W.shape[0]} {W.shape[1]}"] if header else []
    lines += [w + " " + " ".join(fmt.format(v) for v in row) for w, row in zip(words, W)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return words


def write_bf16_safetensors(path, tensors):
    """A safetensors file holding BF16 tensors, laid out by hand (numpy has
    no bfloat16): the top 16 bits of each float32."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = (np.asarray(arr, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# -- each format --------------------------------------------------------------


def test_npy_round_trip(tmp_path, W):
    np.save(tmp_path / "w.npy", W)
    emb = load_embeddings(tmp_path / "w.npy")
    np.testing.assert_array_equal(emb.W, W)
    assert emb.W.dtype == np.float64 and emb.bias is None and emb.words is None
    assert emb.notes == ()


def test_npy_float16_upcast_with_note(tmp_path, W):
    np.save(tmp_path / "w.npy", W.astype(np.float16))
    emb = load_embeddings(tmp_path / "w.npy")
    assert emb.W.dtype == np.float32 and emb.stored_dtype == "float16"
    np.testing.assert_array_equal(emb.W, W.astype(np.float16).astype(np.float32))
    assert "float16" in emb.notes[0] and "upcast" in emb.notes[0]


def test_npz_by_key_with_bias(tmp_path, W, rng):
    b = rng.standard_normal(40)
    np.savez(tmp_path / "m.npz", W=W, b=b, other=np.ones((3, 3, 3)))
    emb = load_embeddings(tmp_path / "m.npz", key="W", bias_key="b")
    np.testing.assert_array_equal(emb.W, W)
    np.testing.assert_array_equal(emb.bias, b)
    assert (emb.key, emb.bias_key) == ("W", "b")


def test_npz_single_array_needs_no_key(tmp_path, W):
    np.savez(tmp_path / "m.npz", W)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "m.npz").W, W)


def test_safetensors_several_tensors(tmp_path, W, rng):
    b = rng.standard_normal(40).astype(np.float32)
    safetensors_numpy.save_file({
        "transformer.wte.weight": W[:10].astype(np.float32),
        "lm_head.weight": W.astype(np.float32),
        "lm_head.bias": b,
        "position_ids": np.arange(8),
    }, tmp_path / "model.safetensors")
    emb = load_embeddings(tmp_path / "model.safetensors", key="lm_head.weight",
                          bias_key="lm_head.bias")
    np.testing.assert_array_equal(emb.W, W.astype(np.float32))
    np.testing.assert_array_equal(emb.bias, b)
    assert emb.W.dtype == np.float32
    shape, stored, key = describe_embeddings(tmp_path / "model.safetensors",
                                             key="transformer.wte.weight")
    assert (shape, stored, key) == ((10, 6), "float32", "transformer.wte.weight")


def test_safetensors_float16(tmp_path, W):
    safetensors_numpy.save_file({"w": W.astype(np.float16)}, tmp_path / "h.safetensors")
    emb = load_embeddings(tmp_path / "h.safetensors")
    assert emb.W.dtype == np.float32 and emb.stored_dtype == "float16"
    np.testing.assert_array_equal(emb.W, W.astype(np.float16).astype(np.float32))
    assert any("float16" in n for n in emb.notes)


def test_safetensors_bfloat16(tmp_path, W):
    write_bf16_safetensors(tmp_path / "bf.safetensors", {"w": W, "b": W[:, 0]})
    emb = load_embeddings(tmp_path / "bf.safetensors", key="w", bias_key="b")
    truncated = (W.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    np.testing.assert_array_equal(emb.W, truncated)
    np.testing.assert_array_equal(emb.bias, truncated[:, 0])
    assert emb.stored_dtype == "bfloat16"
    assert sum("bfloat16" in n for n in emb.notes) == 2


@pytest.mark.parametrize("header", [True, False])
def test_glove_text_with_and_without_header(tmp_path, W, header):
    words = write_text(tmp_path / "g.txt", W, header=header)
    emb = load_embeddings(tmp_path / "g.txt")
    np.testing.assert_array_equal(emb.W, W)        # 17 digits: exact
    assert emb.words == tuple(words)
    assert describe_embeddings(tmp_path / "g.txt")[0][1] == 6


def test_text_gzip_and_odd_whitespace(tmp_path, W):
    words = ["the", "a\u00a0b", "ünïcode"] + [f"w{i}" for i in range(3, 40)]
    write_text(tmp_path / "g.txt", W, words=words, header=False)
    raw = (tmp_path / "g.txt").read_bytes().replace(b"\n", b" \r\n")   # trailing space, CRLF
    with gzip.open(tmp_path / "g.txt.gz", "wb") as fh:
        fh.write(raw)
    emb = load_embeddings(tmp_path / "g.txt.gz")
    assert emb.words == tuple(words)
    np.testing.assert_array_equal(emb.W, W)


def test_vocab_file_names_rows(tmp_path, W):
    np.save(tmp_path / "w.npy", W)
    (tmp_path / "vocab.txt").write_text("\n".join(f"tok{i}" for i in range(40)) + "\n")
    emb = load_embeddings(tmp_path / "w.npy", vocab=tmp_path / "vocab.txt")
    assert emb.words[:2] == ("tok0", "tok1") and len(emb.words) == 40


def test_vocab_json_mapping_ordered_by_id(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"b": 1, "a": 0, "c": 2}))
    assert load_vocab(tmp_path / "vocab.json") == ("a", "b", "c")
    (tmp_path / "gap.json").write_text(json.dumps({"b": 1, "a": 0, "c": 5}))
    with pytest.raises(ValueError, match="without gaps"):
        load_vocab(tmp_path / "gap.json")


def test_duplicate_tokens_noted(tmp_path, W):
    write_text(tmp_path / "g.txt", W[:3], words=["x", "x", "y"])
    assert "1 duplicate" in load_embeddings(tmp_path / "g.txt").notes[0]


# -- bad input ----------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_embeddings(tmp_path / "nope.npy")


def test_unknown_key_lists_the_keys(tmp_path, W):
    safetensors_numpy.save_file({"a.weight": W, "a.bias": W[:, 0]},
                                tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="'lm_head' is not in .*; it holds: ") as exc:
        load_embeddings(tmp_path / "m.safetensors", key="lm_head")
    assert "'a.weight' (40, 6) float64" in str(exc.value)
    assert "'a.bias' (40,) float64" in str(exc.value)
    with pytest.raises(ValueError, match="holds 2 arrays; pass key"):
        load_embeddings(tmp_path / "m.safetensors")
    np.savez(tmp_path / "m.npz", W=W)
    with pytest.raises(ValueError, match="bias_key 'b' is not in .*'W' \\(40, 6\\)"):
        load_embeddings(tmp_path / "m.npz", key="W", bias_key="b")


def test_not_2d(tmp_path):
    np.save(tmp_path / "t.npy", np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"2-D .* got shape \(2, 3, 4\)"):
        load_embeddings(tmp_path / "t.npy")
    safetensors_numpy.save_file({"v": np.ones(5)}, tmp_path / "v.safetensors")
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        load_embeddings(tmp_path / "v.safetensors")


def test_non_float_tensor_is_a_type_error(tmp_path):
    np.save(tmp_path / "i.npy", np.ones((4, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="got int64"):
        load_embeddings(tmp_path / "i.npy")


def test_ragged_text_names_the_line(tmp_path, W):
    write_text(tmp_path / "g.txt", W[:5], header=False)
    lines = (tmp_path / "g.txt").read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0]
    (tmp_path / "g.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 4: ragged row: 5 values after the word, "
                                         "but most lines say 6"):
        load_embeddings(tmp_path / "g.txt")


def test_text_header_count_and_bad_number(tmp_path, W):
    write_text(tmp_path / "g.txt", W[:5])
    text = (tmp_path / "g.txt").read_text().replace("5 6", "7 6", 1)
    (tmp_path / "g.txt").write_text(text)
    with pytest.raises(ValueError, match="announces 7 words but the file holds 5"):
        load_embeddings(tmp_path / "g.txt")
    (tmp_path / "h.txt").write_text("a 1 2\nb 3 x4\n")
    with pytest.raises(ValueError, match="line 2: 'x4' is not a number"):
        load_embeddings(tmp_path / "h.txt")


def test_vocab_length_mismatch(tmp_path, W):
    np.save(tmp_path / "w.npy", W)
    (tmp_path / "v.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="has 2 tokens but W has 40 rows"):
        load_embeddings(tmp_path / "w.npy", vocab=tmp_path / "v.txt")


def test_nan_in_file(tmp_path, W):
    W = W.copy()
    W[3, 2] = np.nan
    np.save(tmp_path / "w.npy", W)
    with pytest.raises(ValueError, match=r"finite; got nan at index \(3, 2\)"):
        load_embeddings(tmp_path / "w.npy")


def test_key_on_npy_and_binary_word2vec(tmp_path, W):
    np.save(tmp_path / "w.npy", W)
    with pytest.raises(ValueError, match="holds one array"):
        load_embeddings(tmp_path / "w.npy", key="W")
    (tmp_path / "vectors.bin").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match=r"\.bin.* not read"):
        load_embeddings(tmp_path / "vectors.bin")


def test_missing_safetensors_package_names_the_extra(tmp_path, W, monkeypatch):
    import builtins

    safetensors_numpy.save_file({"w": W}, tmp_path / "m.safetensors")
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("safetensors"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ValueError, match=r"rankbottleneck\[io\]"):
        load_embeddings(tmp_path / "m.safetensors")


def test_too_big_refused_before_reading(tmp_path, W, monkeypatch):
    np.save(tmp_path / "w.npy", W)
    monkeypatch.setattr(_validation, "_available_memory", lambda: 1000)
    monkeypatch.setattr(np, "load", _forbidden_after_header(np.load))
    with pytest.raises(_validation.InsufficientMemoryError, match="would need"):
        load_embeddings(tmp_path / "w.npy")


def _forbidden_after_header(load):
    def guarded(path, mmap_mode=None, **kwargs):
        assert mmap_mode == "r", "data read before the memory check"
        return load(path, mmap_mode=mmap_mode, **kwargs)
    return guarded


def test_repr_is_informative(tmp_path, W):
    np.save(tmp_path / "w.npy", W.astype(np.float16))
    r = repr(load_embeddings(tmp_path / "w.npy"))
    assert "W 40×6 float32 (stored float16)" in r and "'w.npy'" in r
    assert io.__all__ == ["Embeddings", "load_embeddings", "load_vocab",
                          "describe_embeddings", "gguf_metadata"]


# ---------------------------------------------------------------------------
# Everyday files: numbers only, tokens with spaces, tabs, damage
# ---------------------------------------------------------------------------


def test_numbers_only_text_is_refused(tmp_path):
    np.savetxt(tmp_path / "m.txt", np.random.default_rng(0).standard_normal((20, 8)))
    with pytest.raises(ValueError, match=r"holds only numbers.*np.savetxt"):
        load_embeddings(tmp_path / "m.txt")


def test_tokens_with_spaces_and_tab_separated_files(tmp_path):
    # glove.840B has tokens such as ". . ." and "at name@domain.com"
    (tmp_path / "g.txt").write_text("the 0.1 0.2 0.3\n. . . 1 2 3\n"
                                    "at name@domain.com 4 5 6\nof 7 8 9\n")
    emb = load_embeddings(tmp_path / "g.txt")
    assert emb.words == ("the", ". . .", "at name@domain.com", "of")
    np.testing.assert_array_equal(emb.W[1:3], [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "t.tsv").write_text("new york\t1\t2\nparis\t3\t4\nx y z\t5\t6\n")
    emb = load_embeddings(tmp_path / "t.tsv")
    assert emb.words == ("new york", "paris", "x y z") and emb.W.shape == (3, 2)
    # extra numbers are a ragged row, never a token
    (tmp_path / "r.txt").write_text("a 1 2\nb 3 4\nc 5 6 7\n")
    with pytest.raises(ValueError, match=r"line 3: ragged row: 3 values"):
        load_embeddings(tmp_path / "r.txt")


def _files_of_every_format(folder):
    """One small valid file of each format the loaders read."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 4)).astype(np.float32)
    np.save(folder / "w.npy", W)
    np.savez(folder / "w.npz", W=W, b=W[:, 0])
    safetensors_numpy.save_file({"W": W}, str(folder / "w.safetensors"))
    text = "".join(f"w{i} " + " ".join(f"{v:.4f}" for v in row) + "\n"
                   for i, row in enumerate(W))
    (folder / "w.txt").write_text(text)
    with gzip.open(folder / "w.txt.gz", "wt") as fh:
        fh.write(text)
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(folder / "w.gguf"), "llama")
    w.add_tensor("token_embd.weight", W)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    return _files_of_every_format(tmp_path_factory.mktemp("formats"))


FORMATS = ["w.npy", "w.npz", "w.safetensors", "w.txt", "w.txt.gz", "w.gguf"]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FORMATS), how=st.sampled_from(["truncate", "flip", "pad"]),
       where=st.floats(0, 1), extra=st.binary(min_size=1, max_size=64),
       bit=st.integers(0, 7))
def test_fuzzed_files_fail_clearly_or_load(tmp_path, originals, name, how, where,
                                           extra, bit):
    data = bytearray(originals[name])
    k = min(int(where * len(data)), len(data) - 1)
    if how == "truncate":
        data = data[:k]
    elif how == "flip":
        data[k] ^= 1 << bit
    else:
        data += extra
    path = tmp_path / name
    path.write_bytes(bytes(data))
    try:
        emb = load_embeddings(path, key="W" if name.endswith(("npz",
                                                              "safetensors")) else None)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert message and "\n" not in message.strip()
    else:
        assert emb.W.ndim == 2 and np.all(np.isfinite(emb.W))


def test_every_original_loads(tmp_path, originals):
    for name in FORMATS:
        (tmp_path / name).write_bytes(originals[name])
        key = "W" if name.endswith(("npz", "safetensors")) else None
        assert load_embeddings(tmp_path / name, key=key).W.shape == (6, 4)


# ---------------------------------------------------------------------------
# Issue 25: vocabularies with mixed ids, .npy files that are not .npy files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mapping, bad", [
    ({"a": 0, "b": "1"}, "'1' for the token 'b'"),
    ({"a": 0, "b": 1.0}, "1.0 for the token 'b'"),
    ({"a": True, "b": 1}, "True for the token 'a'"),
    ({"a": 0, "b": None}, "None for the token 'b'"),
])
def test_vocab_json_ids_must_be_integers(tmp_path, mapping, bad):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(mapping))
    with pytest.raises(ValueError, match=r"vocab '.*vocab.json': the ids of a "
                                         r"\{token: id\} mapping must be integers; got "
                       ) as exc:
        load_vocab(path)
    assert bad in str(exc.value)


def test_npy_of_random_bytes_is_refused_without_pickle_advice(tmp_path, capsys):
    path = tmp_path / "w.npy"
    path.write_bytes(np.random.default_rng(7).bytes(300))
    for call in (load_embeddings, describe_embeddings):
        with pytest.raises(ValueError, match=r"'.*w.npy' is not a .npy file") as exc:
            call(path)
        assert "pickle" not in str(exc.value)
    # the same file dumped as logits
    assert cli.main(["analyze", "--logits", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "w.npy' is not a .npy file" in err and "pickle" not in err


def test_npy_of_objects_and_truncated_npy(tmp_path, W):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(TypeError, match=r"'.*o.npy' holds Python objects .* never "
                                        r"unpickled") as exc:
        load_embeddings(tmp_path / "o.npy")
    assert "allow_pickle" not in str(exc.value)
    np.save(tmp_path / "w.npy", W)
    data = (tmp_path / "w.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:len(data) - 8])
    with pytest.raises(ValueError, match=r"'.*t.npy' is truncated: its header announces "
                                         r"shape \(40, 6\) float64 \(1920 bytes\) but the "
                                         r"file holds 1912"):
        load_embeddings(tmp_path / "t.npy")
