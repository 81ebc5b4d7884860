"""Command-line interface: ``rankbottleneck figures ...`` and
``rankbottleneck analyze PATH ...``.

Bad input becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from ._output import pyplot, save_figure, write_json
from .io import _npy_header
from .lm import UnsupportedModelError, _is_model_path, analyze_model
from .outputlayer import analyze_logits, analyze_output_layer

__all__ = ["main"]

def _analyses_dir():
    """Where the figure scripts are: the installed ``rankbottleneck.analyses``
    package (``analyses/`` of a checkout, mapped by the build)."""
    try:
        import rankbottleneck.analyses as pkg
    except ImportError:
        return None
    return Path(pkg.__file__).parent


def _analyses():
    """Analysis scripts: ``{name: path}``, sorted."""
    folder = _analyses_dir()
    if folder is None or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.py"))
            if not p.stem.startswith("_")}


def _load(path):
    spec = importlib.util.spec_from_file_location(f"_analysis_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_writable(out):
    """Refuse an output folder that cannot be created or written, up front."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ValueError(f"--out {str(out)!r} is not a writable folder: "
                         f"{exc.strerror or exc}") from None


def _check_numbers(args):
    """Refuse out-of-range numeric flags up front, naming the flag: left to
    numpy or Dask they fail later with messages that name neither the flag
    nor what it expects (``--seed -1``: "expected non-negative integer";
    ``--scheduler-timeout -1``: "could not convert string to float:
    '1-1.0'")."""
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed}")
    if args.command != "analyze":
        return
    if args.contexts is not None and args.contexts < 1:
        raise ValueError(f"--contexts must be a positive integer; got {args.contexts}")
    if not (math.isfinite(args.logit_std) and args.logit_std > 0):
        raise ValueError("--logit-std must be a positive number; got "
                         f"{args.logit_std}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1; got {args.workers}")
    if not (math.isfinite(args.scheduler_timeout) and args.scheduler_timeout > 0):
        raise ValueError("--scheduler-timeout must be a positive number of seconds; "
                         f"got {args.scheduler_timeout}")


def _figures(args):
    available = _analyses()
    if not available:
        raise ValueError("no figure scripts found: rankbottleneck.analyses is not "
                         "installed (reinstall the package: pip install .)")
    if args.list:
        for name in available:
            doc = (_load(available[name]).__doc__ or "").strip().splitlines()
            print(f"{name:<28} {doc[0] if doc else ''}")
        return 0
    names = args.only or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"--only must name analyses from {sorted(available)}; got {unknown}"
        )
    # a quick run never lands on the full-size figures unless asked to
    out = Path(args.out or ("figures-quick" if args.quick else "figures"))
    _check_writable(out)
    total = time.perf_counter()
    made = 0
    for name in names:
        start = time.perf_counter()
        module = _load(available[name])
        # a figure that needs an optional extra says so instead of failing
        reason = getattr(module, "unavailable", lambda: None)()
        if reason is not None:
            if args.only:
                raise ValueError(f"{name}: {reason}")
            print(f"{name}: skipped: {reason}", flush=True)
            continue
        try:
            summary = module.main(out, quick=args.quick, seed=args.seed)
            made += 1
        except KeyboardInterrupt:
            raise ValueError(
                f"interrupted during {name}: the figures finished before it are "
                f"complete, and none of {name}'s files was written (every write is "
                "atomic)") from None
        print(f"{name}: {summary} [{time.perf_counter() - start:.1f} s]", flush=True)
    print(f"{made} figures in {time.perf_counter() - total:.1f} s -> {out}")
    return 0


def _claim(out, name, source):
    """Refuse to overwrite the results of another input under the same name.

    Our results are JSON objects naming their ``source``; a file that is not
    one (another JSON value, or not JSON at all) was written by something
    else and is kept too.
    """
    previous = out / f"{name}.json"
    if not previous.exists():
        return
    json_types = {dict: "object", list: "list", str: "string", int: "number",
                  float: "number", bool: "boolean", type(None): "null"}
    try:
        data = json.loads(previous.read_text(encoding="utf-8"))
        what = f"a JSON {json_types[type(data)]}"
    except OSError:
        return      # unreadable: writing it fails with its own clear message
    except ValueError:
        data, what = None, "not JSON"
    if isinstance(data, dict) and not isinstance(data.get("source", ""), str):
        data, what = None, "a JSON object whose source is not a path"
    if not isinstance(data, dict):
        raise ValueError(f"{previous} exists and is not a rankbottleneck result "
                         f"({what}); pass another --out (or remove the file)")
    owner = data.get("source", "")
    if owner and Path(owner).resolve() != Path(source).resolve():
        raise ValueError(f"{previous} holds the results for {owner}, not {source}; "
                         "pass another --out (or remove the file)")


def _write_report(report, out, name, start):
    data = report.as_dict()
    data["seconds"] = dict(data["seconds"]) if isinstance(data["seconds"], dict) else {
        "analysis": data["seconds"]}
    data["seconds"]["total"] = time.perf_counter() - start
    paths = [write_json(out / f"{name}.json", data)]
    plt = pyplot()
    fig = report.plot()
    paths += save_figure(fig, out, name)
    plt.close(fig)
    print(report.summary())
    print(f"{data['seconds']['total']:.1f} s -> " + ", ".join(str(p) for p in paths))
    return 0


def _client(args):
    """A Dask client from --scheduler / --workers, or None."""
    if args.scheduler is None and args.workers is None:
        return None
    if args.scheduler is not None and args.workers is not None:
        raise ValueError("--scheduler joins a running cluster and --workers starts "
                         "a local one; pass one of them")
    try:
        import distributed
    except ImportError:
        raise ValueError("--scheduler/--workers need Dask: pip install "
                         "'rankbottleneck[dask]'") from None
    if args.workers is not None:
        from .cluster import local_cluster

        return local_cluster(args.workers)
    try:
        return distributed.Client(args.scheduler, timeout=args.scheduler_timeout)
    except OSError as exc:
        raise ValueError(f"--scheduler {args.scheduler}: no Dask scheduler answered "
                         f"({exc})") from None


def _analyze(args):
    client = _client(args)
    try:
        return _analyze_with(args, client)
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and args.workers is not None:
                cluster.close()


def _analyze_with(args, client):
    out = Path(args.out)
    start = time.perf_counter()
    if args.logits is not None:
        if args.path is not None or args.text is not None:
            raise ValueError("--logits analyses a dumped N × V matrix on its own; "
                             "pass either PATH (with --text) or --logits")
        _check_writable(out)
        name = f"{Path(args.logits).name}-analysis"
        _claim(out, name, args.logits)
        logits = Path(args.logits)
        if logits.is_file() and logits.suffix.lower() == ".npy":
            # numpy would read a file without the .npy signature as a pickle
            # and advise allow_pickle=True, which lets the file run code
            try:
                _npy_header(logits)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"--logits: {exc}") from None
        report = analyze_logits(args.logits)
        return _write_report(report, out, name, start)
    if args.path is None:
        raise ValueError("analyze needs PATH (an output layer or a model) or "
                         "--logits FILE.npy")
    _check_writable(out)
    # the whole file name: glove.6B.50d.txt and glove.6B.100d.txt, or W.npy
    # and W.npz, must not share their results
    name = f"{Path(args.path).resolve().name}-analysis"
    _claim(out, name, args.path)
    if args.text is not None:
        if not _is_model_path(args.path):
            raise ValueError(f"--text needs a model to run: a .gguf file or a local "
                             f"Hugging Face folder; got {args.path!r}")
        try:
            report = analyze_model(args.path, Path(args.text),
                                   n_contexts=args.contexts or 2000, seed=args.seed,
                                   argmax=not args.no_argmax, client=client)
        except UnsupportedModelError as exc:
            if Path(args.path).is_dir():
                raise
            print(f"rankbottleneck: {exc}; analysing the head alone with synthetic "
                  "contexts", file=sys.stderr)
            report = analyze_output_layer(
                args.path, n_contexts=args.contexts, logit_std=args.logit_std,
                seed=args.seed, argmax=not args.no_argmax, client=client)
            report = report.replace(notes=(*report.notes, f"fallback: {exc}; the head "
                                           "alone, with synthetic contexts"))
        return _write_report(report, out, name, start)
    report = analyze_output_layer(
        args.path, key=args.key, bias_key=args.bias_key, vocab=args.vocab,
        n_contexts=args.contexts, logit_std=args.logit_std, seed=args.seed,
        argmax=not args.no_argmax, client=client)
    return _write_report(report, out, name, start)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rankbottleneck")
    sub = parser.add_subparsers(dest="command", required=True)
    fig = sub.add_parser("figures", help="regenerate the diagnostic figures")
    fig.add_argument("--only", nargs="+", metavar="NAME")
    fig.add_argument("--quick", action="store_true", help="small sizes")
    fig.add_argument("--out", help="folder for the figures (default ./figures, "
                                   "./figures-quick with --quick)")
    fig.add_argument("--seed", type=int, default=0)
    fig.add_argument("--list", action="store_true", help="list the analyses")
    ana = sub.add_parser(
        "analyze", help="spectrum, anisotropy, argmaxable words and rank of a real "
                        "output layer")
    ana.add_argument("path", nargs="?",
                     help=".npy, .npz, .safetensors, .gguf or word2vec/GloVe text; with "
                          "--text a model (.gguf file or local Hugging Face folder)")
    ana.add_argument("--text", metavar="FILE",
                     help="run the model over this text and analyse its real hidden "
                          "states (needs the [lm] extra)")
    ana.add_argument("--logits", metavar="FILE.npy",
                     help="an N × V matrix of logits or log-probabilities dumped from "
                          "any model: ranks and hidden size")
    ana.add_argument("--key", help="tensor name in .npz/.safetensors (e.g. "
                                   "lm_head.weight)")
    ana.add_argument("--bias-key", help="tensor name of the output bias")
    ana.add_argument("--vocab", help="tokens, one per line (or a vocab.json)")
    ana.add_argument("--contexts", type=int, metavar="N",
                     help="contexts: sampled (default d + 100), or with --text the "
                          "model's first N positions (default 2000)")
    ana.add_argument("--logit-std", type=float, default=3.0,
                     help="scale of the sampled contexts (default 3)")
    ana.add_argument("--no-argmax", action="store_true",
                     help="skip the argmaxable-word search")
    ana.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the streamed spectra and the argmax search on this "
                          "Dask scheduler (tcp://host:8786; needs the [dask] extra)")
    ana.add_argument("--scheduler-timeout", type=float, default=10.0,
                     metavar="SECONDS", help=argparse.SUPPRESS)
    ana.add_argument("--workers", type=int, metavar="N",
                     help="start a local Dask cluster of N process workers for them")
    ana.add_argument("--out", default=".", help="folder for the JSON and figure")
    ana.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        _check_numbers(args)
        return {"figures": _figures, "analyze": _analyze}[args.command](args)
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError) as exc:
        print(f"rankbottleneck: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
