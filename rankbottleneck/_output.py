"""Writing figures and their numbers: atomically, deterministically.

Used by the scripts in ``analyses/``. Every file is written to a temporary
name in the destination folder and renamed, so an interrupted run never
leaves a half-written figure; PDFs carry no creation date, so the same seed
gives the same bytes.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ._progress import progress_bar

__all__: list[str] = []


def _atomic_write(path, data: bytes):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a figure is an ordinary file
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if np.isfinite(x) else str(x)
    return x


def write_json(path, obj):
    text = json.dumps(_jsonable(obj), indent=1, ensure_ascii=False) + "\n"
    return _atomic_write(path, text.encode())


def write_csv(path, rows):
    """Rows: a list of dicts (the union of keys, in first-seen order)."""
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _jsonable(v) for k, v in row.items()})
    return _atomic_write(path, buf.getvalue().encode())


def save_figure(fig, out_dir, name):
    """``<name>.png`` and ``<name>.pdf``, atomically, without timestamps."""
    paths = []
    for ext, meta in (("png", {"Software": None}),
                      ("pdf", {"CreationDate": None, "ModDate": None,
                               "Producer": None, "Creator": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150, metadata=meta, bbox_inches="tight")
        paths.append(_atomic_write(Path(out_dir) / f"{name}.{ext}", buf.getvalue()))
    return paths


class Progress:
    """A figure script's progress bar on stderr (the package's tqdm facility).

    ``step(label)`` advances it by one; it closes itself after the last step.
    """

    def __init__(self, name, total, progress=True):
        self.total = total
        self._bar = progress_bar(total, name, progress, unit="step")

    def step(self, what=""):
        self._bar.set_postfix_str(what, refresh=False)
        self._bar.update()
        if self._bar.n >= self.total:
            self._bar.close()


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures are files, never windows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def lm_unavailable():
    """Why a figure that runs a language model cannot be made here (the
    [lm] extra missing), or None."""
    try:
        import gguf  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        return (f"needs the [lm] extra (missing {exc.name}): pip install "
                "'rankbottleneck[lm]'")
    return None


@functools.cache
def smollm2():
    """SmolLM2-135M (:func:`rankbottleneck.lm.smollm2_file`), loaded once per
    process: the figures of one run share it (a load is 2-4 s) and none of
    them changes it (the edited models are copies)."""
    from . import lm

    return lm.load_model(lm.smollm2_file())


def run_script(name, main, doc, flags=None):
    """The ``python analyses/<name>.py [--quick] [--out DIR] [--seed N]`` entry
    (`flags`: ``{"full": help}``, extra on/off options passed to `main` as
    keywords)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--out", help="default ./figures (./figures-quick with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    for flag, text in (flags or {}).items():
        parser.add_argument(f"--{flag}", action="store_true", help=text)
    args = parser.parse_args()
    out = args.out or ("figures-quick" if args.quick else "figures")
    extra = {flag: getattr(args, flag) for flag in (flags or {})}
    print(f"{name}: {main(out, quick=args.quick, seed=args.seed, **extra)}")
