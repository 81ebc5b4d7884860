"""Command-line interface: ``rankbottleneck figures ...``.

Bad input becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

__all__ = ["main"]

_ROOT = Path(__file__).resolve().parent.parent
_ANALYSES = _ROOT / "analyses"


def _analyses():
    """Analysis scripts in ``analyses/``: ``{name: path}``, sorted."""
    if not _ANALYSES.is_dir():
        return {}
    return {p.stem: p for p in sorted(_ANALYSES.glob("*.py"))
            if not p.stem.startswith("_")}


def _load(path):
    spec = importlib.util.spec_from_file_location(f"_analysis_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(args):
    available = _analyses()
    if args.list or not available:
        if not available:
            print("no analyses yet: the figure scripts land with the figures "
                  "issue; nothing to regenerate")
        for name in available:
            print(name)
        return 0
    names = args.only or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"--only must name analyses from {sorted(available)}; got {unknown}"
        )
    out = Path(args.out)
    for name in names:
        summary = _load(available[name]).main(out, quick=args.quick, seed=args.seed)
        print(f"{name}: {summary}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rankbottleneck")
    sub = parser.add_subparsers(dest="command", required=True)
    fig = sub.add_parser("figures", help="regenerate the diagnostic figures")
    fig.add_argument("--only", nargs="+", metavar="NAME")
    fig.add_argument("--quick", action="store_true", help="small sizes")
    fig.add_argument("--out", default=str(_ROOT / "figures"))
    fig.add_argument("--seed", type=int, default=0)
    fig.add_argument("--list", action="store_true", help="list the analyses")
    args = parser.parse_args(argv)
    try:
        return {"figures": _figures}[args.command](args)
    except (ValueError, TypeError) as exc:
        print(f"rankbottleneck: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
