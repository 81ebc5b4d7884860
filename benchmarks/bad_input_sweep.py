"""The bad and unusual inputs of issue 25, run against the public API and the CLI.

Each case is one thing a new user could do; it prints one verdict:

* ``refused clearly``: the documented error type (ValueError or TypeError,
  or a subclass) with a message that names the argument; for the CLI, exit
  code 2 and one line on stderr, no traceback;
* ``handled``: a result, and it is the right one (or the documented warning);
* ``accepted silently``: a result for input that should have been refused,
  or the wrong result;
* ``unclear message``: refused, but the message does not say what to fix;
* ``crash``: any other exception (a traceback, for the CLI);
* ``hang``: still running after the per-case alarm (``--timeout``, 20 s).

The model cases build what they need in a temporary folder: a tiny Llama
saved as a Hugging Face folder (and a truncated copy), and a GGUF head whose
configuration ``transformers`` rejects. Nothing is downloaded.

Run ``python benchmarks/bad_input_sweep.py`` (``--only WORD`` for the cases
whose name contains it). It exits 1 when any case crashes, hangs, is
accepted silently or gives an unclear message.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))       # this checkout, not an installed copy

import rankbottleneck as rb  # noqa: E402
from rankbottleneck import activations as act  # noqa: E402
from rankbottleneck import cli  # noqa: E402

VERDICTS = ("refused clearly", "handled", "accepted silently", "unclear message",
            "crash", "hang")
BAD = VERDICTS[2:]


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so no handler in the code under
    test swallows it."""


# ---------------------------------------------------------------------------
# What a case expects
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    section: str
    name: str
    call: object                 # () -> result
    refuse: str | None = None    # regex the refusal's message must match
    check: object = None         # result -> bool, for a case that must succeed
    warns: str | None = None     # regex of a warning the call must give
    errors: tuple = (ValueError, TypeError)


@dataclasses.dataclass
class Cli:
    section: str
    name: str
    argv: object                 # () -> list of str (built when run)
    refuse: str | None = None    # exit 2, one stderr line matching this
    check: object = None         # (exit code, stdout, stderr) -> bool, for success


def _judge(case, result=None, exc=None, caught=()):
    if exc is not None:
        if not isinstance(exc, case.errors):
            return "crash", f"{type(exc).__name__}: {exc}"
        text = f"{type(exc).__name__}: {exc}"
        if case.refuse is None:
            return "crash", text          # it had to work
        return ("refused clearly" if re.search(case.refuse, str(exc))
                else "unclear message"), text
    if case.refuse is not None and case.check is None:
        return "accepted silently", f"returned {_short(result)}"
    if case.warns is not None:
        shown = [str(w.message) for w in caught]
        if not any(re.search(case.warns, m) for m in shown):
            return "accepted silently", f"no warning matching {case.warns!r}: {shown}"
    if case.check is not None and not case.check(result):
        return "accepted silently", f"wrong result: {_short(result)}"
    return "handled", _short(result)


def _short(x, limit=110):
    text = " ".join(repr(x).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _run_case(case, timeout):
    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        if isinstance(case, Cli):
            return _run_cli(case)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = case.call()
            except Exception as exc:            # noqa: BLE001 (judged below)
                return _judge(case, exc=exc)
        return _judge(case, result, caught=caught)
    except Hang:
        return "hang", f"still running after {timeout} s"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_cli(case):
    """`rankbottleneck ARGS` in this process (so the model is not imported
    anew each time), judged as its console script would be: an exception
    escaping ``main`` is the traceback and exit 1 a user would see."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                code = cli.main(case.argv())
            except SystemExit as exc:            # argparse
                code = exc.code
    except Exception as exc:                    # noqa: BLE001
        return "crash", f"traceback, exit 1: {type(exc).__name__}: {exc}"
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    text = " | ".join(lines)[-300:]
    if case.refuse is not None:
        if code == 0:
            return "accepted silently", f"exit 0; stderr: {text}"
        if code != 2 or "Traceback" in err.getvalue():
            return "crash", f"exit {code}: {text}"
        errors = [line for line in lines if "error:" in line]
        if len(errors) != 1 or not re.search(case.refuse, errors[0]):
            return "unclear message", f"exit 2: {text}"
        return "refused clearly", errors[0]
    if code != 0:
        return "crash", f"exit {code}: {text}"
    if case.check is not None and not case.check(code, out.getvalue(), err.getvalue()):
        return "accepted silently", f"wrong output: {text}"
    return "handled", text or "exit 0"


# ---------------------------------------------------------------------------
# Material: small layers, and model files built here
# ---------------------------------------------------------------------------


W = np.random.default_rng(0).standard_normal((20, 3))
H = np.random.default_rng(1).standard_normal((8, 3))
A = rb.log_prob_matrix(H, W)
H4, W4, B4 = rb.contexts_and_words(30, 12, 4, has_bias=True, seed=2)
LAYER4 = rb.PointwiseLayer(W4, bias=B4)
T = rb.synthetic.dirichlet_target(6, 5, seed=0)
TEXT = ("The softmax bottleneck limits what a language model can say. " * 6
        + "Mixtures and monotone maps change the picture in different ways. " * 6)


class Models:
    """Model files made on first use in `root`: a tiny Llama folder, a
    truncated copy, a GGUF head transformers cannot configure, a text."""

    def __init__(self, root):
        self.root = Path(root)
        self._tiny = None

    def _tokenizer(self, V):
        import transformers
        from tokenizers import Regex, Tokenizer, models, pre_tokenizers

        chars = [chr(c) for c in range(32, 32 + V - 1)]
        vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate(chars)}}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        return transformers.PreTrainedTokenizerFast(tokenizer_object=tok,
                                                    unk_token="[UNK]")

    @property
    def tiny(self):
        if self._tiny is None:
            import torch
            import transformers

            torch.manual_seed(0)
            config = transformers.LlamaConfig(
                vocab_size=97, hidden_size=24, intermediate_size=48,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=256, tie_word_embeddings=False)
            model = transformers.LlamaForCausalLM(config).eval()
            self._tiny = rb.lm.load_model(model, tokenizer=self._tokenizer(97))
        return self._tiny

    @property
    def folder(self):
        folder = self.root / "tiny"
        if not folder.exists():
            self.tiny.model.save_pretrained(folder)
            self.tiny.tokenizer.save_pretrained(folder)
        return folder

    @property
    def truncated(self):
        folder = self.root / "truncated"
        if not folder.exists():
            shutil.copytree(self.folder, folder)
            weights = folder / "model.safetensors"
            with open(weights, "r+b") as fh:
                fh.truncate(weights.stat().st_size // 2)
        return folder

    @property
    def bad_gguf(self):
        """A llama GGUF head with 5 attention heads for d = 32: transformers'
        config validation refuses it."""
        path = self.root / "head.gguf"
        if not path.exists():
            import gguf

            rng = np.random.default_rng(4)
            w = gguf.GGUFWriter(str(path), "llama")
            w.add_uint32("llama.embedding_length", 32)
            w.add_uint32("llama.attention.head_count", 5)
            w.add_token_list([f"t{i}" for i in range(60)])
            w.add_tensor("token_embd.weight",
                         rng.standard_normal((60, 32)).astype(np.float32))
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
        return path

    @property
    def text(self):
        path = self.root / "corpus.txt"
        if not path.exists():
            path.write_text(TEXT)
        return path

    def file(self, name, data):
        path = self.root / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
        return path

    def out_with(self, name, content):
        """An --out folder already holding `name` with `content`."""
        out = self.root / f"out-{abs(hash((name, content)))}"
        out.mkdir(exist_ok=True)
        (out / name).write_text(content)
        return out


def _gss_with_bounds(bounds):
    return dataclasses.replace(act.get("gss"), name="gss_bounded",
                               param_bounds={"k": bounds})


def _relu_nonnegative():
    return rb.output_set_dimension(
        rb.PointwiseLayer(np.abs(W), activation="relu_normalized"), 60, seed=0)


def _one_word_ranks():
    layer = rb.PointwiseLayer(W[:1])
    return (int(rb.numerical_rank(layer, contexts=H)),
            int(rb.numerical_rank(layer.log_prob_matrix(H))))


def _cases(m):
    sweep = []
    add = sweep.append

    # -- crashes ------------------------------------------------------------
    s = "crashes"
    add(Case(s, "load_model(folder with a truncated model.safetensors)",
             lambda: rb.lm.load_model(m.truncated),
             refuse=r"model\.safetensors' is damaged"))
    add(Cli(s, "analyze truncated_folder --text corpus.txt",
            lambda: ["analyze", str(m.truncated), "--text", str(m.text), "--out",
                     str(m.root / "out-trunc")],
            refuse=r"model\.safetensors' is damaged"))
    add(Case(s, "load_model(GGUF whose config transformers rejects)",
             lambda: rb.lm.load_model(m.bad_gguf, cache=False),
             refuse=r"transformers cannot run .*head\.gguf.*architecture 'llama'"))
    add(Cli(s, "analyze head.gguf --text corpus.txt (falls back to the head)",
            lambda: ["analyze", str(m.bad_gguf), "--text", str(m.text), "--out",
                     str(m.root / "out-gguf"), "--no-argmax"],
            check=lambda code, out, err: "analysing the head alone" in err))
    add(Case(s, "collect_contexts(load_model(m, tokenizer='gpt2'), text)",
             lambda: rb.lm.collect_contexts(
                 rb.lm.load_model(m.tiny.model, tokenizer="gpt2"), TEXT),
             refuse=r"tokenizer 'gpt2' is not a local folder"))
    add(Cli(s, "analyze --out holding <name>-analysis.json with a JSON list",
            lambda: ["analyze", str(m.file("w.npy", _npy_bytes(W))), "--out",
                     str(m.out_with("w.npy-analysis.json", "[1, 2]")), "--no-argmax"],
            refuse=r"w\.npy-analysis\.json exists and is not a rankbottleneck "
                   r"result \(a JSON list\)"))

    # -- accepted without a word ---------------------------------------------
    s = "accepted"
    for name, f in (("numerical_rank", rb.numerical_rank),
                    ("shift_invariant_rank", rb.shift_invariant_rank),
                    ("rank_report", rb.rank_report)):
        add(Case(s, f"{name}(A, client='tcp://x') on a matrix",
                 lambda f=f: f(A, client="tcp://x"), refuse=r"client must be a"))
        add(Case(s, f"{name}(A, client=object()) on a matrix",
                 lambda f=f: f(A, client=object()), refuse=r"client must be a"))
    add(Case(s, "spectrum(A, client='x')", lambda: rb.spectrum(A, client="x"),
             refuse=r"client must be a"))
    add(Case(s, "argmaxable(W[:1], client='x')",
             lambda: rb.argmaxable(W[:1], client="x"), refuse=r"client must be a"))
    add(Case(s, "argmaxable_under(sparse layer, client='x')",
             lambda: rb.argmaxable_under(rb.PointwiseLayer(W, activation="sparsemax"),
                                         client="x"),
             refuse=r"client must be a"))
    add(Case(s, "argmaxable_under(layer, boxx=3)",
             lambda: rb.argmaxable_under(rb.PointwiseLayer(W), boxx=3),
             refuse=r"unexpected keyword argument\(s\) boxx"))
    add(Case(s, "fit_log_probs(T, bias='no')",
             lambda: rb.fit_log_probs(T, bias="no", max_iter=2),
             refuse=r"^bias must be True or False; got 'no'"))
    add(Case(s, "fit_log_probs(T, has_bias='no')",
             lambda: rb.fit_log_probs(T, has_bias="no", max_iter=2),
             refuse=r"^has_bias must be True or False; got 'no'"))
    add(Case(s, "fit_log_probs(T, log_target='False')",
             lambda: rb.fit_log_probs(T, log_target="False", max_iter=2),
             refuse=r"^log_target must be True or False; got 'False'"))
    add(Case(s, "analyze_output_layer(W, argmax='no')",
             lambda: rb.analyze_output_layer(W, argmax="no"),
             refuse=r"^argmax must be True or False; got 'no'"))
    add(Case(s, "spectrum(A, centre_rows='no')",
             lambda: rb.spectrum(A, centre_rows="no"),
             refuse=r"^centre_rows must be True or False; got 'no'"))
    add(Case(s, "register(a, overwrite='no')",
             lambda: rb.register(rb.Activation("sweep_dbl", act.log_normalize),
                                 overwrite="no"),
             refuse=r"^overwrite must be True or False; got 'no'"))
    add(Case(s, "rank_report(layer with d = 4, contexts=H, d=2)",
             lambda: rb.rank_report(LAYER4, contexts=H4, d=2),
             refuse=r"^d = 2 contradicts the layer's d = 4"))
    add(Case(s, "rank_report(layer with a bias, contexts=H, has_bias=False)",
             lambda: rb.rank_report(LAYER4, contexts=H4, has_bias=False),
             refuse=r"^has_bias = False contradicts the layer, which has a bias"))
    add(Case(s, "rank_report(layer without a bias, contexts=H, has_bias=True)",
             lambda: rb.rank_report(rb.PointwiseLayer(W4), contexts=H4, has_bias=True),
             refuse=r"^has_bias = True contradicts the layer, which has no bias"))
    add(Case(s, "rank_report(layer, contexts=H, d=4, has_bias=True): agrees",
             lambda: rb.rank_report(LAYER4, contexts=H4, d=4, has_bias=True).bound,
             check=lambda bound: bound == 6))
    add(Case(s, "singular_values(A, dtype=np.int32)",
             lambda: rb.singular_values(A, dtype=np.int32),
             refuse=r"^dtype must be a floating dtype"))
    add(Case(s, "singular_values(A, dtype=np.float32): allowed",
             lambda: rb.singular_values(A, dtype=np.float32),
             check=lambda s: s.dtype == np.float32 and np.allclose(
                 s, rb.singular_values(A), rtol=1e-4, atol=1e-5 * s[0])))
    rep = rb.argmaxable(np.vstack([W, W[:3].mean(0)]))
    Wi = np.vstack([W, W[:3].mean(0)])
    h = np.array([0.3, -0.2, 1.0])
    add(Case(s, "dominating_word(rep, W, None, 12.7, h)",
             lambda: rb.dominating_word(rep, Wi, None, 12.7, h),
             refuse=r"^i must be an integer; got 12\.7"))
    add(Case(s, "dominating_word(rep, W, None, '12', h)",
             lambda: rb.dominating_word(rep, Wi, None, "12", h),
             refuse=r"^i must be an integer; got '12'"))
    add(Case(s, "realizable_set(W, [0, 1], n_contexts=-5)",
             lambda: rb.realizable_set(W, [0, 1], n_contexts=-5),
             refuse=r"^n_contexts must be a positive integer; got -5"))
    add(Case(s, "output_set_dimension(layer, log_floor=5.0)",
             lambda: rb.output_set_dimension(rb.PointwiseLayer(W), log_floor=5.0),
             refuse=r"^log_floor must lie in"))
    for bounds in ("low", (1.0, 0.0)):
        add(Case(s, f"fit with param_bounds={{'k': {bounds!r}}}",
                 lambda bounds=bounds: rb.fit_log_probs(
                     T, _gss_with_bounds(bounds), learn=("k",), max_iter=2),
                 refuse=r"param_bounds\['k'\] of activation 'gss_bounded'"))
    add(Case(s, "register an activation named 'mos'",
             lambda: rb.register(rb.Activation("mos", act.log_normalize)),
             refuse=r"'mos' names the mixture"))
    add(Case(s, "collect_contexts(model, '/path/corpus.txt') (a path string)",
             lambda: rb.lm.collect_contexts(m.tiny, str(m.text), window=64,
                                            n_contexts=20),
             warns=r"pass pathlib\.Path"))
    add(Case(s, "collect_contexts(model, Path(corpus.txt)) reads the file",
             lambda: rb.lm.collect_contexts(m.tiny, m.text, window=64, n_contexts=20),
             check=lambda ctx: "corpus.txt" in ctx.source))
    rows = rb.log_prob_matrix(H4, W4, bias=B4)
    add(Case(s, "estimate_hidden_size(np.tile(A[:1], (10, 1))) (one distinct row)",
             lambda: rb.estimate_hidden_size(np.tile(rows[:1], (10, 1))),
             check=lambda est: est.d is None and est.gap < 1e16
             and "identical" in est.message))
    add(Case(s, "one-word softmax layer: structural rank = dense rank",
             _one_word_ranks, check=lambda r: r[0] == r[1] == 0))
    add(Case(s, "log_prob_matrix([[1e200]], [[1e200], [0.]])",
             lambda: rb.log_prob_matrix([[1e200]], [[1e200], [0.0]]),
             refuse=r"logits overflow float64", check=lambda a: not np.isnan(a).any()))
    add(Case(s, "log_prob_matrix(float32 1e20 contexts and words)",
             lambda: rb.log_prob_matrix(np.float32([[1e20]]),
                                        np.float32([[1e20], [0.0]])),
             refuse=r"logits overflow float32", check=lambda a: not np.isnan(a).any()))
    add(Case(s, "log_softmax([1e308, -1e308])",
             lambda: rb.log_softmax(np.array([1e308, -1e308])),
             check=lambda a: a[0] == 0.0 and a[1] == -np.inf))

    # -- messages ---------------------------------------------------------------
    s = "messages"
    add(Case(s, "collect_contexts(model, '')",
             lambda: rb.lm.collect_contexts(m.tiny, ""),
             refuse=r"the text \(a string\) has no tokens"))
    add(Case(s, "output_set_dimension(ReLU-normalised layer, W ≥ 0)",
             _relu_nonnegative,
             refuse=r"^(?!.*\bz\b).*(W|layer|contexts)",
             check=lambda r: r.n_samples > 0))
    add(Cli(s, "analyze W.npy --seed -1",
            lambda: ["analyze", str(m.file("w1.npy", _npy_bytes(W))), "--seed", "-1",
                     "--out", str(m.root / "out-seed")],
            refuse=r"--seed must be a non-negative integer; got -1"))
    add(Cli(s, "analyze W.npy --scheduler x --scheduler-timeout -1",
            lambda: ["analyze", str(m.file("w2.npy", _npy_bytes(W))), "--scheduler",
                     "tcp://127.0.0.1:1", "--scheduler-timeout", "-1", "--out",
                     str(m.root / "out-timeout")],
            refuse=r"--scheduler-timeout must be a positive number of seconds"))
    mixed = json.dumps({"a": 0, "b": "1", "c": 2})
    add(Case(s, "load_embeddings(W.npy, vocab=vocab.json with mixed id types)",
             lambda: rb.load_embeddings(m.file("w3.npy", _npy_bytes(W[:3])),
                                        vocab=m.file("mixed-vocab.json", mixed)),
             refuse=r"vocab.*mixed-vocab\.json"))
    add(Cli(s, "analyze W.npy --vocab vocab.json (mixed id types)",
            lambda: ["analyze", str(m.file("w4.npy", _npy_bytes(W[:3]))), "--vocab",
                     str(m.file("mixed-vocab2.json", mixed)), "--out",
                     str(m.root / "out-vocab"), "--no-argmax"],
            refuse=r"mixed-vocab2\.json"))
    noise = np.random.default_rng(7).bytes(4096)
    add(Case(s, "load_embeddings(.npy of random bytes)",
             lambda: rb.load_embeddings(m.file("noise.npy", noise)),
             refuse=r"^(?!.*allow_pickle).*noise\.npy"))
    add(Cli(s, "analyze noise.npy", lambda: ["analyze", str(m.file("noise1.npy", noise)),
                                             "--out", str(m.root / "out-noise")],
            refuse=r"^(?!.*allow_pickle).*noise1\.npy"))
    add(Cli(s, "analyze --logits noise.npy",
            lambda: ["analyze", "--logits", str(m.file("noise2.npy", noise)), "--out",
                     str(m.root / "out-noise2")],
            refuse=r"^(?!.*allow_pickle).*noise2\.npy"))
    add(Case(s, "PointwiseLayer(W, params=None)",
             lambda: rb.PointwiseLayer(W, params=None),
             refuse=r"^params must be a dict .*; got None"))
    add(Case(s, "register an increasing tanh (saturates in float64)",
             lambda: rb.register(rb.Activation(
                 "sweep_tanh", lambda z: act.log_normalize(np.tanh(z)),
                 logit_map=np.tanh, increasing=True)),
             refuse=r"φ saturates in float64"))
    add(Case(s, "rb.unregister and rb.get at top level",
             lambda: (rb.get("softmax").name, callable(rb.unregister)),
             check=lambda r: r == ("softmax", True)))
    return sweep


def _npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds per case before it counts as a hang")
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    counts = dict.fromkeys(VERDICTS, 0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rb-sweep-") as root:
        cases = _cases(Models(root))
        if args.only:
            cases = [c for c in cases if args.only in c.name]
        section = None
        for case in cases:
            if case.section != section:
                section = case.section
                print(f"\n## {section}")
            t = time.perf_counter()
            verdict, detail = _run_case(case, args.timeout)
            counts[verdict] += 1
            flag = "!!" if verdict in BAD else "  "
            print(f"{flag} {verdict:<17} {case.name}  [{time.perf_counter() - t:.1f} s]"
                  f"\n      {detail}", flush=True)
    total = sum(counts.values())
    print(f"\n{total} cases in {time.perf_counter() - start:.0f} s: "
          + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 1 if any(counts[v] for v in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
