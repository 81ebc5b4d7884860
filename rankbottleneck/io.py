"""Load a real model's output embeddings from the files people have.

:func:`load_embeddings` reads ``W`` (and optionally the output bias) from

* ``.npy`` — one array;
* ``.npz`` — an array by `key`;
* ``.safetensors`` — a tensor by name, through the ``safetensors`` package's
  numpy interface (the optional extra ``pip install rankbottleneck[io]``);
  ``BF16`` tensors, which numpy cannot represent, are read from the file's
  documented layout (an 8-byte little-endian header length, a JSON header
  with ``dtype``, ``shape`` and ``data_offsets``, then the raw buffer);
* word2vec / GloVe text (``.txt``, ``.vec``, also gzipped): one word and its
  vector per line, with or without a ``"<count> <dim>"`` header line; the
  words are returned too;
* ``.gguf`` — the llama.cpp format, through the ``gguf`` package (extra
  ``[io]``): the output head ``output.weight``, or the tied
  ``token_embd.weight`` when the file has none, dequantized to float32 for
  every quantization the package supports; the vocabulary from the file's
  tokenizer metadata, and the quantization, architecture and hidden size in
  ``notes``.

float16 and bfloat16 tensors are upcast to float32 (exactly: every float16
and bfloat16 value is a float32 value) and the result says so in ``notes``.
Only local files are read; nothing is downloaded.

Every problem with the file — missing, unknown key (the keys present are
listed), not 2-D, ragged text rows (the line is named), non-finite entries,
a vocabulary of the wrong length — raises ``ValueError`` (``TypeError`` for a
non-floating tensor) before the embedding itself is read where possible.
"""

from __future__ import annotations

import gzip
import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._result import Result
from ._validation import _check_finite, _check_fits_in_memory

__all__ = ["Embeddings", "load_embeddings", "load_vocab", "describe_embeddings",
           "gguf_metadata"]

_TEXT_SUFFIXES = {".txt", ".vec", ".w2v", ".glove", ".tsv"}
# safetensors dtype codes → names (float8 formats have no numpy dtype either)
_SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16",
                       "BF16": "bfloat16", "I64": "int64", "I32": "int32",
                       "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
                       "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2"}
_LISTED = 25  # keys named in an error message before "… and k more"


@dataclass(frozen=True, eq=False, kw_only=True)
class Embeddings(Result):
    """An output layer read from a file.

    Attributes
    ----------
    W : (M, d) ndarray
        float32 or float64 (float16/bfloat16 upcast to float32, integers
        refused).
    bias : (M,) ndarray or None
    words : tuple of str or None
        Row names: from a text format, or from the `vocab` file.
    path : str
    key, bias_key : str or None
        The tensor names read.
    stored_dtype : str
        The dtype in the file (``"bfloat16"`` included).
    notes : tuple of str
        Everything done to the data on the way (upcasts, duplicate words).

    See Also
    --------
    load_embeddings : reads one.
    rankbottleneck.analyze_output_layer : the analysis of its ``W``.
    rankbottleneck.argmaxable : which of its words can be the argmax.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from rankbottleneck.io import load_embeddings
    >>> f = os.path.join(tempfile.mkdtemp(), "head.npz")
    >>> np.savez(f, W=np.eye(3, 2, dtype=np.float16), b=np.zeros(3))
    >>> emb = load_embeddings(f, key="W", bias_key="b")
    >>> emb
    Embeddings(W 3×2 float32 (stored float16), from 'head.npz'['W'], bias ['b'], no words; notes: W ('W') stored as float16, upcast to float32 (exact).)
    >>> emb.shape, emb.bias.shape
    ((3, 2), (3,))
    """

    W: np.ndarray = field(repr=False)
    bias: np.ndarray | None = field(repr=False, default=None)
    words: tuple | None = field(repr=False, default=None)
    path: str = ""
    key: str | None = None
    bias_key: str | None = None
    stored_dtype: str = ""
    notes: tuple = ()

    @property
    def shape(self):
        return self.W.shape

    def _as_dict_fields(self):
        # the matrix itself stays out of the dict: its description goes in
        return {"path": self.path, "key": self.key, "bias_key": self.bias_key,
                "shape": self.W.shape, "dtype": self.W.dtype.name,
                "stored_dtype": self.stored_dtype, "has_bias": self.bias is not None,
                "n_words": None if self.words is None else len(self.words),
                "notes": self.notes}

    def __repr__(self):
        M, d = self.W.shape
        parts = [f"W {M}×{d} {self.W.dtype}"
                 + (f" (stored {self.stored_dtype})"
                    if self.stored_dtype != self.W.dtype.name else ""),
                 f"from {Path(self.path).name!r}" + (f"[{self.key!r}]" if self.key else ""),
                 "bias " + (f"[{self.bias_key!r}]" if self.bias_key else
                            "yes" if self.bias is not None else "none"),
                 f"{'no' if self.words is None else len(self.words)} words"]
        notes = f"; notes: {' '.join(self.notes)}" if self.notes else ""
        return f"Embeddings({', '.join(parts)}{notes})"


# ---------------------------------------------------------------------------
# Format detection and headers (no tensor data read)
# ---------------------------------------------------------------------------


def _check_path(path, name="path"):
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{name} must be a file path (str or Path); got "
                        f"{type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{name} {str(p)!r} does not exist")
    if not p.is_file():
        raise ValueError(f"{name} {str(p)!r} is not a file")
    return p


def _format(path):
    """``"npy"``, ``"npz"``, ``"safetensors"``, ``"gguf"`` or ``"text"``: by
    suffix, else by the first bytes."""
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last == ".gguf":
        return "gguf"
    if last == ".npy":
        return "npy"
    if last == ".npz":
        return "npz"
    if last == ".safetensors":
        return "safetensors"
    if last == ".bin":
        raise ValueError(
            f"path {str(path)!r}: binary word2vec (.bin) or PyTorch (.bin) files "
            "are not read; save the matrix as .npy/.safetensors or word2vec text")
    if last in _TEXT_SUFFIXES or (last == ".gz" and len(suffixes) > 1):
        return "text"
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"PK"):
        return "npz"
    if len(head) > 8 and head[8:9] == b"{":
        n = struct.unpack("<Q", head[:8])[0]
        if n < path.stat().st_size:
            return "safetensors"
    return "text"


def _dtype_name(dtype):
    if isinstance(dtype, str) and dtype in _GGUF_FLOAT_TYPES and dtype not in (
            "F32", "F16", "BF16", "F64"):
        return dtype                  # a GGUF block type: no numpy name
    if isinstance(dtype, str) and dtype.isupper():
        return _SAFETENSORS_DTYPES.get(dtype, dtype.lower())
    return np.dtype(dtype).name


def _npz_headers(path):
    """``{key: (shape, dtype)}`` of every array in an .npz, headers only."""
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if not name.endswith(".npy"):
                    continue
                with zf.open(name) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                out[name[:-4]] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"path {str(path)!r} is not a readable .npz file: {exc}") from None
    return out


def _safetensors_header(path):
    """``{name: (shape, dtype_str, (begin, end))}`` and the data offset."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        n = struct.unpack("<Q", raw)[0] if len(raw) == 8 else size
        if n + 8 > size:
            raise ValueError(f"path {str(path)!r} is not a safetensors file "
                             f"(header length {n} exceeds the file size {size})")
        try:
            header = json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"path {str(path)!r} is not a safetensors file: "
                             f"bad header ({exc})") from None
    header.pop("__metadata__", None)
    tensors = {k: (tuple(v["shape"]), v["dtype"], tuple(v["data_offsets"]))
               for k, v in header.items()}
    return tensors, 8 + n


def _npy_header(path):
    """Shape and dtype from the .npy header, and a check that the data is all
    there. The signature is checked first: without it numpy would try the
    file as a pickle and advise ``allow_pickle=True``, which would let the
    file run code."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise ValueError(f"path {str(path)!r} is not a .npy file: it does not "
                             "start with the .npy signature (\\x93NUMPY); a .npy "
                             "file is written by numpy.save")
        fh.seek(0)
        try:
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(fh)
        except ValueError as exc:
            raise ValueError(f"path {str(path)!r} is not a readable .npy file: bad "
                             f"header ({exc})") from None
        data_start = fh.tell()
    if dtype.hasobject:
        raise TypeError(f"path {str(path)!r} holds Python objects (dtype {dtype}), "
                        "which are never unpickled here; save a numeric array")
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if data_start + needed > size:
        raise ValueError(f"path {str(path)!r} is truncated: its header announces "
                         f"shape {tuple(shape)} {dtype} ({needed} bytes) but the file "
                         f"holds {size - data_start} bytes of data")
    return tuple(shape), dtype


def _fields(line):
    """The fields of one text line: tab-separated when it holds a tab (a token
    may then contain spaces), else space-separated (GloVe tokens may hold
    other whitespace)."""
    line = line.rstrip("\r\n")
    if "\t" in line:
        return line.rstrip("\t").split("\t")
    return line.rstrip(" ").split(" ")


def _text_layout(path, sample=200):
    """``(header, d)`` of a word2vec/GloVe text file, from its first lines.

    Without a ``"<count> <dim>"`` header, ``d`` is the most common number of
    fields after the first among the first `sample` lines: a token that
    contains spaces (as in glove.840B) makes its line longer, not the
    majority. A file whose every sampled line starts with a number is a
    matrix without words (``np.savetxt``) and is refused rather than read
    with its first column taken for words.
    """
    with _open_text(path) as fh:
        first = fh.readline()
        header = _parse_header(first)
        lines = [] if header is not None else [first]
        for line in fh:
            if len(lines) >= sample:
                break
            lines.append(line)
    if header is not None:
        return header, header[1]
    rows = [f for f in map(_fields, lines) if f != [""]]
    if not rows:
        raise ValueError(f"path {str(path)!r} holds no vectors")
    counts = np.bincount([len(f) - 1 for f in rows])
    d = int(np.flatnonzero(counts == counts.max())[-1])   # ties: the longer
    if d < 1:
        raise ValueError(f"path {str(path)!r}, line 1: expected a word followed by "
                         f"its vector; got {first.strip()[:60]!r}")
    if all(_is_float(f[0]) for f in rows):
        raise ValueError(
            f"path {str(path)!r} holds only numbers: every line starts with a number, "
            "so there are no words (a matrix saved with np.savetxt?); save it with "
            "np.save as .npy, or put a word before each vector")
    return None, d


def _text_header(path):
    """``(M, d)`` of a word2vec/GloVe text file: from its header line, else
    ``d`` from the first lines and ``M`` estimated from the file size."""
    header, d = _text_layout(path)
    if header is not None:
        return header
    with _open_text(path) as fh:
        first, second = fh.readline(), fh.readline()
    line_bytes = max(len(first.encode()), len(second.encode()), 1)
    size = path.stat().st_size
    if path.suffix.lower() == ".gz":
        size *= 3  # text of decimals compresses about three-fold
    return (max(1, size // line_bytes), d)


def _listing(tensors):
    """``'a' (1000, 64) float32, 'b' (1000,) float32`` — at most `_LISTED`."""
    items = [f"{k!r} {tuple(shape)} {_dtype_name(dt)}"
             for k, (shape, dt, *_) in tensors.items()]
    more = len(items) - _LISTED
    return ", ".join(items[:_LISTED]) + (f", … and {more} more" if more > 0 else "")


def _pick(tensors, key, what, path):
    if key is None:
        if len(tensors) == 1:
            return next(iter(tensors))
        raise ValueError(
            f"path {str(path)!r} holds {len(tensors)} arrays; pass {what} to choose "
            f"one of: {_listing(tensors)}")
    if not isinstance(key, str):
        raise TypeError(f"{what} must be a string; got {type(key).__name__}")
    if key not in tensors:
        raise ValueError(f"{what} {key!r} is not in {str(path)!r}; it holds: "
                         f"{_listing(tensors)}")
    return key


def _guarded(path, kind, func, *args):
    """``func(*args)``, a step that reads `path`, with the exceptions a damaged
    or truncated file provokes (in numpy, zipfile, gzip, zlib, json, struct,
    safetensors) turned into one ``ValueError`` naming the path. Our own
    messages name the path already and pass through."""
    try:
        return func(*args)
    except MemoryError:
        raise
    except Exception as exc:
        if isinstance(exc, (ValueError, TypeError)) and str(path) in str(exc):
            raise
        raise ValueError(f"path {str(path)!r} is not a readable {kind} file (damaged "
                         f"or truncated?): {type(exc).__name__}: {exc}") from None


def describe_embeddings(path, *, key=None, bias_key=None):
    """Shape and stored dtype of the embedding in `path`, without reading it.

    Returns
    -------
    shape : tuple
        ``(M, d)``; for text files without a header line ``M`` is estimated
        from the file size.
    stored_dtype : str
    key : str or None
        The tensor that would be read.

    See Also
    --------
    rankbottleneck.load_embeddings : reads it.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from rankbottleneck.io import describe_embeddings
    >>> f = os.path.join(tempfile.mkdtemp(), "head.npz")
    >>> np.savez(f, W=np.zeros((5, 3), dtype=np.float16), b=np.zeros(5))
    >>> describe_embeddings(f, key="W")
    ((5, 3), 'float16', 'W')
    """
    path = _check_path(path)
    kind = _format(path)
    if kind == "text":
        if key is not None or bias_key is not None:
            raise ValueError(f"key and bias_key name tensors in .npz/.safetensors "
                             f"files; {str(path)!r} is a text embedding file")
        return _guarded(path, kind, _text_header, path), "float64", None
    if kind == "npy":
        if key is not None or bias_key is not None:
            raise ValueError(f"a .npy file holds one array: key and bias_key do not "
                             f"apply to {str(path)!r} (got key={key!r}, "
                             f"bias_key={bias_key!r}); use .npz or .safetensors for a "
                             "bias")
        shape, dtype = _guarded(path, kind, _npy_header, path)
        return shape, _dtype_name(dtype), None
    if kind == "gguf":
        tensors = _guarded(path, kind, lambda: _gguf_headers(_gguf_reader(path)))
        if key is None:
            key = next((k for k in _GGUF_HEADS if k in tensors), None)
    else:
        tensors = (_guarded(path, kind, _npz_headers, path) if kind == "npz"
                   else _guarded(path, kind, _safetensors_header, path)[0])
    if not tensors:
        raise ValueError(f"path {str(path)!r} holds no arrays")
    key = _pick(tensors, key, "key", path)
    if bias_key is not None:
        _pick(tensors, bias_key, "bias_key", path)
    shape, dtype = tensors[key][:2]
    return tuple(shape), _dtype_name(dtype), key


# ---------------------------------------------------------------------------
# GGUF (llama.cpp)
# ---------------------------------------------------------------------------

# the output head of a GGUF file: its own tensor, else the tied embedding
_GGUF_HEADS = ("output.weight", "token_embd.weight")
# GGUF tensor types that hold real numbers (dequantized to float32); the
# integer types are refused like any integer tensor
_GGUF_FLOAT_TYPES = frozenset({
    "F32", "F16", "BF16", "F64", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS",
    "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "IQ1_M", "TQ1_0",
    "TQ2_0", "MXFP4"})


def _gguf_module():
    try:
        import gguf
    except ImportError:
        raise ValueError("reading .gguf files needs the gguf package: pip install "
                         "'rankbottleneck[io]' (or pip install gguf)") from None
    return gguf


_GGUF_CACHE = {}


def _gguf_reader(path):
    """The file's GGUFReader (memory-mapped: no tensor data is read), or a
    ValueError naming the path when it is not a readable GGUF file.

    Parsing the metadata of a real model (its tokenizer's vocabulary and
    merges) takes seconds, so the last reader is kept, keyed by the file's
    path, size and modification time.
    """
    gguf = _gguf_module()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _GGUF_CACHE:
        return _GGUF_CACHE[key]
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:      # the reader raises many kinds on bad bytes
        raise ValueError(f"path {str(path)!r} is not a readable GGUF file: "
                         f"{type(exc).__name__}: {exc}") from None
    _GGUF_CACHE.clear()
    _GGUF_CACHE[key] = reader
    return reader


def _gguf_headers(reader):
    """``{name: (numpy shape, type name)}``; GGUF lists dimensions innermost
    first, numpy outermost first."""
    return {t.name: (tuple(int(n) for n in reversed(t.shape.tolist())),
                     t.tensor_type.name) for t in reader.tensors}


def _gguf_field(reader, name, default=None):
    field_ = reader.fields.get(name)
    if field_ is None:
        return default
    try:
        return field_.contents()
    except Exception:             # a malformed field is as good as absent
        return default


def gguf_metadata(path):
    """Architecture, hidden size, vocabulary size and tokens of a GGUF file.

    Returns
    -------
    dict
        ``architecture``, ``hidden_size``, ``vocab_size``, ``block_count``,
        ``tokens`` (tuple of str or None), ``head`` (the output tensor's
        name) and ``tied`` (whether the head is the token embedding).
    """
    path = _check_path(path)
    reader = _gguf_reader(path)
    return _gguf_meta(reader)


def _gguf_meta(reader):
    arch = _gguf_field(reader, "general.architecture", "")
    tensors = _gguf_headers(reader)
    head = next((k for k in _GGUF_HEADS if k in tensors), None)
    tokens = _gguf_field(reader, "tokenizer.ggml.tokens")
    return {"architecture": arch,
            "hidden_size": _gguf_field(reader, f"{arch}.embedding_length"),
            "vocab_size": _gguf_field(reader, f"{arch}.vocab_size"),
            "block_count": _gguf_field(reader, f"{arch}.block_count"),
            "tokens": None if tokens is None else tuple(str(t) for t in tokens),
            "head": head, "tied": head == "token_embd.weight"}


def _read_gguf(path, key, bias_key, notes):
    """``W``, bias, the bias's stored type and the words of a GGUF file."""
    gguf = _gguf_module()
    reader = _gguf_reader(path)
    by_name = {t.name: t for t in reader.tensors}
    headers = _gguf_headers(reader)

    def dequantized(name):
        t = by_name[name]
        try:
            arr = gguf.quants.dequantize(t.data, t.tensor_type)
        except Exception as exc:
            raise ValueError(f"{str(path)!r}: tensor {name!r} ({t.tensor_type.name}) "
                             f"could not be dequantized: {type(exc).__name__}: "
                             f"{exc}") from None
        return np.asarray(arr, dtype=np.float32).reshape(headers[name][0])

    W = dequantized(key)
    bias = None if bias_key is None else dequantized(bias_key)
    meta = _gguf_meta(reader)
    if key == "token_embd.weight" and meta["tied"]:
        notes.append("tied head: the file has no output.weight, so W is the token "
                     "embedding token_embd.weight.")
    notes.append(f"GGUF: architecture {meta['architecture'] or '?'}, hidden size "
                 f"{meta['hidden_size'] or '?'}, {key} stored as {headers[key][1]}.")
    words = meta["tokens"]
    if words is not None and len(words) != W.shape[0]:
        notes.append(f"the file's {len(words)} tokens do not match W's {W.shape[0]} "
                     "rows; no words attached.")
        words = None
    return W, bias, None if bias_key is None else headers[bias_key][1], words


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _open_text(path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _parse_header(line):
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _read_text(path):
    """Words and vectors of a word2vec/GloVe text file (float64, exact to the
    printed digits). The vector is the last ``d`` fields of a line, the word
    everything before them (so tokens with spaces survive)."""
    header, d = _text_layout(path)
    expected_rows = None if header is None else header[0]
    words, rows = [], []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if lineno == 1 and header is not None:
                continue
            parts = _fields(line)
            if parts == [""]:
                continue
            token = parts[:len(parts) - d]
            # a longer line is a token with spaces, unless what would join the
            # token holds numbers: then it is a row with too many values
            if len(parts) < d + 1 or any(map(_is_float, token[1:])):
                source = "the header" if header is not None else "most lines"
                raise ValueError(
                    f"path {str(path)!r}, line {lineno}: ragged row: {len(parts) - 1} "
                    f"values after the word, but {source} say {d}")
            try:
                rows.append(np.array(parts[len(parts) - d:], dtype=np.float64))
            except ValueError:
                bad = next(p for p in parts[len(parts) - d:] if not _is_float(p))
                raise ValueError(f"path {str(path)!r}, line {lineno}: {bad!r} is not "
                                 "a number") from None
            words.append(("\t" if "\t" in line else " ").join(token))
    if not rows:
        raise ValueError(f"path {str(path)!r} holds no vectors")
    if expected_rows is not None and expected_rows != len(rows):
        raise ValueError(f"path {str(path)!r}: the header announces {expected_rows} "
                         f"words but the file holds {len(rows)}")
    return np.vstack(rows), words


def _read_npz(path, key, bias_key):
    with np.load(path, allow_pickle=False) as data:
        return data[key], None if bias_key is None else data[bias_key]


def _is_float(s):
    try:
        float(s)
    except ValueError:
        return False
    return True


def _safetensors_module():
    try:
        from safetensors import safe_open
    except ImportError:
        raise ValueError(
            "reading .safetensors needs the 'safetensors' package: "
            "pip install 'rankbottleneck[io]' (or pip install safetensors)") from None
    return safe_open


def _read_safetensors(path, names):
    tensors, data_start = _safetensors_header(path)
    out = {}
    plain = [n for n in names if tensors[n][1] != "BF16"]
    if plain:
        safe_open = _safetensors_module()
        with safe_open(str(path), framework="numpy") as fh:
            for n in plain:
                out[n] = fh.get_tensor(n)
    for n in names:
        shape, dtype, (begin, end) = tensors[n]
        if dtype == "BF16":
            # bfloat16 is the top half of a float32: shift it back into place
            raw = np.fromfile(path, dtype="<u2", count=(end - begin) // 2,
                              offset=data_start + begin)
            out[n] = (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return out, {n: _dtype_name(tensors[n][1]) for n in names}


def _as_embedding_float(arr, what, stored, notes):
    """Upcast half precisions to float32, refuse non-floating tensors."""
    if stored in _GGUF_FLOAT_TYPES:
        if stored not in ("F32", "F64"):
            notes.append(f"{what} stored as GGUF {stored}, dequantized to float32 "
                         "by the gguf package.")
        return np.ascontiguousarray(arr)
    if arr.dtype.kind != "f":
        raise TypeError(f"{what} must hold floating-point numbers; got dtype "
                        f"{stored}")
    if arr.dtype.itemsize < 4 or stored in ("float16", "bfloat16"):
        if arr.dtype.itemsize < 4:
            arr = arr.astype(np.float32)
        notes.append(f"{what} stored as {stored}, upcast to float32 (exact).")
    elif arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
        notes.append(f"{what} stored as {stored}, rounded to float64.")
    return np.ascontiguousarray(arr)


def load_vocab(path):
    """Row names from a vocabulary file.

    One token per line (the whole line without its line ending), or a JSON
    file: a list of tokens, or a ``{token: id}`` mapping such as a Hugging
    Face ``vocab.json`` (ids must be ``0 … V-1``).

    Returns
    -------
    tuple of str

    See Also
    --------
    rankbottleneck.load_embeddings : takes one as ``vocab=``.

    Examples
    --------
    >>> import json, tempfile, os
    >>> from rankbottleneck.io import load_vocab
    >>> f = os.path.join(tempfile.mkdtemp(), "vocab.json")
    >>> with open(f, "w") as fh:
    ...     json.dump({"of": 1, "the": 0, "and": 2}, fh)
    >>> load_vocab(f)                           # ordered by id
    ('the', 'of', 'and')
    """
    path = _check_path(path, "vocab")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"vocab {str(path)!r} is not valid JSON: {exc}") from None
        if isinstance(data, list):
            return tuple(str(t) for t in data)
        if isinstance(data, dict):
            bad = next(((t, i) for t, i in data.items()
                        if not isinstance(i, int) or isinstance(i, bool)), None)
            if bad is not None:
                raise ValueError(f"vocab {str(path)!r}: the ids of a {{token: id}} "
                                 f"mapping must be integers; got {bad[1]!r} for the "
                                 f"token {bad[0]!r}")
            ids = sorted(data.values())
            if ids != list(range(len(ids))):
                raise ValueError(f"vocab {str(path)!r}: the ids of a {{token: id}} "
                                 f"mapping must be 0 … {len(ids) - 1} without gaps")
            tokens = [None] * len(ids)
            for token, i in data.items():
                tokens[i] = token
            return tuple(tokens)
        raise ValueError(f"vocab {str(path)!r} must hold a JSON list or object; got "
                         f"{type(data).__name__}")
    with open(path, encoding="utf-8", errors="replace") as fh:
        tokens = [line.rstrip("\r\n") for line in fh]
    if tokens and tokens[-1] == "":
        tokens.pop()
    return tuple(tokens)


def _itemsize(stored):
    """Bytes per entry of a stored dtype name (bfloat16 has no numpy dtype; a
    GGUF block type is read as float32 and counted so)."""
    if stored in _GGUF_FLOAT_TYPES:
        return 4
    return 2 if stored == "bfloat16" else np.dtype(stored).itemsize


def _loading_bytes(shape, stored):
    """Peak bytes of reading a tensor and upcasting it."""
    n = int(np.prod(shape, dtype=np.float64))
    item = _itemsize(stored)
    return n * (item + max(4, item) + (4 if stored == "bfloat16" else 0))


def load_embeddings(path, *, key=None, bias_key=None, vocab=None):
    """Read an output embedding matrix ``W`` (and optionally its bias).

    Parameters
    ----------
    path : str or Path
        ``.npy``, ``.npz``, ``.safetensors``, ``.gguf`` or word2vec/GloVe
        text (with or without a ``"<count> <dim>"`` header line; ``.gz``
        allowed).
    key : str, optional
        Array name in an ``.npz``, tensor name in a ``.safetensors`` or
        ``.gguf`` file (e.g. ``"lm_head.weight"``, ``"output.weight"``); may
        be omitted when the file holds one array, and for a GGUF file, whose
        output head is found by name (``output.weight``, else the tied
        ``token_embd.weight``).
    bias_key : str, optional
        Name of the (M,) output bias in the same file.
    vocab : str or Path, optional
        Row names (see :func:`load_vocab`); must have one token per row.

    Returns
    -------
    Embeddings
        ``W`` (float32 or float64), ``bias``, ``words`` and ``notes``.

    Raises
    ------
    ValueError
        Missing file, unknown key (the keys present are listed), a tensor
        that is not 2-D, a bias of the wrong shape, ragged text rows (the
        line is named), non-finite entries, a vocabulary of the wrong length,
        or a file too large for the memory available.
    TypeError
        A tensor that does not hold floating-point numbers.

    See Also
    --------
    Embeddings : what is returned.
    rankbottleneck.io.load_vocab : row names from a separate file.
    rankbottleneck.analyze_output_layer : reads a path itself.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from rankbottleneck.io import load_embeddings
    >>> f = os.path.join(tempfile.mkdtemp(), "w.txt")
    >>> with open(f, "w") as fh:
    ...     _ = fh.write("2 3\\nthe 0.1 0.2 0.3\\nof -1 0 2.5\\n")
    >>> emb = load_embeddings(f)
    >>> emb.words, emb.W.shape
    (('the', 'of'), (2, 3))
    """
    shape, stored, key = describe_embeddings(path, key=key, bias_key=bias_key)
    path = Path(path)
    if stored not in ("float16", "bfloat16", "float32", "float64", *_GGUF_FLOAT_TYPES):
        raise TypeError(f"the embedding {key or path.name!r} must hold float16, "
                        f"bfloat16, float32 or float64 numbers; got {stored}")
    if len(shape) != 2:
        raise ValueError(f"the embedding {key or path.name!r} must be a 2-D (words × "
                         f"dimension) matrix; got shape {tuple(shape)}")
    _check_fits_in_memory(_loading_bytes(shape, stored),
                          f"reading the {shape[0]}×{shape[1]} {stored} embedding",
                          "nothing smaller can be read; free memory first")
    kind = _format(path)
    notes, words, bias, bias_stored = [], None, None, None
    if kind == "text":
        W, words = _guarded(path, kind, _read_text, path)
        stored = "float64"
    elif kind == "npy":
        W = _guarded(path, kind, np.load, path, False)
    elif kind == "npz":
        W, bias = _guarded(path, kind, _read_npz, path, key, bias_key)
        bias_stored = None if bias is None else bias.dtype.name
    elif kind == "gguf":
        W, bias, bias_stored, words = _guarded(path, kind, _read_gguf, path, key,
                                               bias_key, notes)
    else:
        names = [key] + ([bias_key] if bias_key is not None else [])
        arrays, stored_dtypes = _guarded(path, kind, _read_safetensors, path, names)
        W = arrays[key]
        bias = arrays.get(bias_key)
        bias_stored = stored_dtypes.get(bias_key)
    name = "W" if key is None else f"W ({key!r})"
    W = _as_embedding_float(W, name, stored, notes)
    if W.shape[0] < 2 or W.shape[1] < 1:
        raise ValueError(f"{name} must have at least 2 rows and 1 column; got shape "
                         f"{W.shape}")
    _check_finite(W, name)
    if bias is not None:
        bname = f"bias ({bias_key!r})"
        if bias.ndim != 1 or bias.shape[0] != W.shape[0]:
            raise ValueError(f"{bname} must have shape ({W.shape[0]},) to match W "
                             f"{W.shape}; got shape {bias.shape}")
        bias = _as_embedding_float(bias, bname, bias_stored, notes)
        _check_finite(bias, bname)
    if vocab is not None:
        tokens = load_vocab(vocab)
        if len(tokens) != W.shape[0]:
            raise ValueError(f"vocab {str(vocab)!r} has {len(tokens)} tokens but W has "
                             f"{W.shape[0]} rows; they must match one to one")
        words = tokens
    if words is not None:
        n_dup = len(words) - len(set(words))
        if n_dup:
            notes.append(f"{n_dup} duplicate tokens (rows are still told apart by "
                         "index).")
        words = tuple(words)
    return Embeddings(W=W, bias=bias, words=words, path=str(path), key=key,
                      bias_key=bias_key, stored_dtype=stored, notes=tuple(notes))

