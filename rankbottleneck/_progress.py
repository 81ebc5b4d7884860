"""The one progress facility: tqdm bars on stderr, or nothing.

Every long-running function takes ``progress=None | bool``. ``None`` shows a
bar only when stderr is a terminal (so a log file or a captured test gets
nothing); ``True`` always shows one, ``False`` never. On a terminal the bar
is tqdm's usual one (a widget in a notebook); anywhere else it is plain
ASCII refreshed at most every ten seconds, so a log file holds readable lines
and no terminal escape codes.
"""

from __future__ import annotations

import sys
import warnings

__all__: list[str] = []


def _enabled(progress):
    """Resolve a ``progress=`` argument to a bool."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be None, True or False; got {progress!r}")
    return progress


class _Silent:
    """What a disabled bar is: every call does nothing."""

    n = 0

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, s="", refresh=True):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def progress_bar(total, desc, progress=None, unit="it"):
    """A tqdm bar of `total` steps named `desc`, or a silent stand-in.

    Use as a context manager: ``with progress_bar(n, "argmaxable") as bar:
    ... bar.update()``.
    """
    if not _enabled(progress):
        return _Silent()
    tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    with warnings.catch_warnings():
        # tqdm.auto warns when a notebook lacks ipywidgets, then falls back
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr,
                    leave=True, ascii=None if tty else True,
                    mininterval=0.5 if tty else 10.0, dynamic_ncols=tty)
