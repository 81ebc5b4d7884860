"""Argument checking shared by every public function.

All checks run before any large allocation, and every message names the
argument, what was expected and what was received.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ._lapack import _all_finite

__all__: list[str] = []


class InsufficientMemoryError(ValueError, MemoryError):
    """An allocation was refused up front because it would not fit in memory.

    A ``ValueError`` (bad input: the request is too large for the machine) and
    a ``MemoryError`` (so code that already handles that keeps working). The
    message gives the size needed, the memory available and what to pass
    instead.

    See Also
    --------
    rankbottleneck.PointwiseLayer : its ``blocks(H)`` give a log-probability
        matrix by row blocks, never whole.
    rankbottleneck.spectrum : spectra streamed from a layer and contexts.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> try:
    ...     rb.contexts_and_words(10**7, 10**7, 10**6)
    ... except rb.InsufficientMemoryError as err:
    ...     print(str(err).split(" would need ")[1].split(" but ")[0])
    291.0 TiB
    """


def _as_float_array(x, name, *, allow_neginf=False, ndim=None, min_size=1):
    """Return `x` as a float32 or float64 array, checking it first.

    Integers and booleans become float64 (cast, do not fail); float16 becomes
    float32; float32 and float64 are kept. Complex and object input raise
    ``TypeError``. NaN and ``+inf`` always raise ``ValueError``; ``-inf`` too
    unless ``allow_neginf`` (log-probabilities of sparse activations).
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind in "biu":
        arr = arr.astype(np.float64)
    elif kind == "f":
        if arr.dtype.itemsize < 4:
            arr = arr.astype(np.float32)
        elif arr.dtype.itemsize > 8:
            arr = arr.astype(np.float64)
    else:
        raise TypeError(
            f"{name} must be a real numeric array; got dtype {arr.dtype}"
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D; got shape {arr.shape} ({arr.ndim}-D)"
        )
    if arr.size < min_size:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    _check_finite(arr, name, allow_neginf=allow_neginf)
    return arr


def _check_finite(arr, name, *, allow_neginf=False):
    """Raise ``ValueError`` locating the first NaN or infinity in `arr`."""
    # the common case in one reduction, no temporary the size of `arr` (a
    # 2,000 × 49,152 matrix's mask cost 0.1 s of page faults per check):
    # NaN propagates through the sum and the max, +inf through both
    with np.errstate(over="ignore", invalid="ignore"):
        if allow_neginf:
            if arr.size == 0 or not (np.isnan(top := np.max(arr)) or top == np.inf):
                return
        elif _all_finite(arr):
            return
    if allow_neginf:
        bad = np.isnan(arr) | (arr == np.inf)
    else:
        bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "finite" if not allow_neginf else "free of NaN and +inf"
        raise ValueError(
            f"{name} must be {what}; got {arr[index]} at index {index} "
            f"({int(bad.sum())} such entries)"
        )


def _as_scalar(x, name, *, low=None, high=None, low_open=False, high_open=False):
    """Return `x` as a Python float inside the stated interval.

    Strings and booleans are refused (``float("2")`` would accept the one,
    ``True`` is 1 by accident): a number must be a number.
    """
    if isinstance(x, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number; got {x!r}")
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number; got {x!r}") from None
    if np.ndim(x) != 0:
        raise TypeError(f"{name} must be a scalar; got shape {np.shape(x)}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "(" if low_open else "["
        hi = ")" if high_open or high is None else "]"
        interval = f"{lo}{'-inf' if low is None else low}, "
        interval += f"{'inf' if high is None else high}{hi}"
        raise ValueError(f"{name} must lie in {interval}; got {value}")
    return value


def _as_int(x, name, *, low=None, high=None):
    """Return `x` as a Python int inside ``[low, high]`` (either end optional).

    The one integer check of the package: booleans, floats (even integral
    ones) and strings are refused with ``TypeError``, out-of-range values
    with ``ValueError``, both naming the argument and what was received.
    """
    if not isinstance(x, (int, np.integer)) or isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer; got {x!r}")
    value = int(x)
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None and low in (0, 1):
            what = "a positive integer" if low == 1 else "a non-negative integer"
        else:
            what = f"an integer in [{'-inf' if low is None else low}, "
            what += f"{'inf' if high is None else high}]"
        raise ValueError(f"{name} must be {what}; got {value}")
    return value


def _as_bool(x, name):
    """Return `x` as a Python bool: only ``bool`` and ``numpy.bool_`` pass.

    Anything else, truthy or not, raises ``TypeError`` naming the argument:
    ``bias="no"`` would otherwise fit a bias, and ``1`` or ``None`` would
    hide a mistaken argument order.
    """
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {x!r}")
    return bool(x)


def _has_bias(has_bias, bias, function, *, default=False):
    """Whether a layer has an output bias, from `has_bias` or its old
    spelling `bias` (deprecated: everywhere else `bias` is the vector).

    The one rule for every function whose bool was called `bias`: a value
    passed as `bias` (not None) is taken with a ``DeprecationWarning``;
    passing it beside a `has_bias` other than `default`, or anything but a
    bool (None too where `default` is None: "unknown"), raises
    ``TypeError`` naming the argument. Returns a bool, or None.
    """
    name, value = "has_bias", has_bias
    if bias is not None:
        if has_bias is not default:
            raise TypeError(f"{function} takes has_bias, or the deprecated bias; not "
                            f"both (got has_bias={has_bias!r}, bias={bias!r})")
        name, value = "bias", bias
    if value is None and default is None:
        result = None
    elif isinstance(value, (bool, np.bool_)):
        result = bool(value)
    else:
        what = "True, False or None" if default is None else "True or False"
        raise TypeError(f"{name} must be {what}; got {value!r} (whether the layer "
                        "has an output bias: the bias vector itself belongs to the "
                        "layer)")
    if name == "bias":
        warnings.warn(f"{function}(bias=...) is deprecated; use has_bias=... (the "
                      "name bias is kept for the bias vector)", DeprecationWarning,
                      stacklevel=3)
    return result


def _as_rng(seed, name="seed"):
    """``numpy.random.default_rng(seed)``, with `seed` checked first.

    None, a non-negative integer, a sequence of them, a ``SeedSequence``, a
    ``BitGenerator`` or a ``Generator`` (returned as it is); anything else
    raises ``TypeError`` or ``ValueError`` naming the argument (numpy's own
    message names neither it nor the function called).
    """
    if isinstance(seed, (np.random.Generator, np.random.BitGenerator,
                         np.random.SeedSequence)) or seed is None:
        return np.random.default_rng(seed)
    expected = (f"{name} must be None, a non-negative integer (or a sequence of "
                "them) or a numpy.random.Generator")
    values = list(seed) if isinstance(seed, (list, tuple, np.ndarray)) else [seed]
    if not values or not all(isinstance(v, (int, np.integer))
                             and not isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(f"{expected}; got {seed!r}")
    if any(v < 0 for v in values):
        raise ValueError(f"{expected}; got {seed!r}")
    return np.random.default_rng(seed)


def _check_axis(axis, ndim, name="axis"):
    """Normalise `axis` for an array of `ndim` dimensions."""
    _as_int(axis, name)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name} must lie in [{-ndim}, {ndim - 1}] for a {ndim}-D array; "
            f"got {axis}"
        )
    return int(axis) % ndim


def _result_dtype(*arrays):
    """float32 only when every array given is float32; float64 otherwise.

    ``None`` entries (absent optional arguments) are skipped.
    """
    return np.result_type(np.float32, *[a.dtype for a in arrays if a is not None])


def _available_memory():
    """Bytes of memory available to this process (best effort)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _check_fits_in_memory(nbytes, what, instead):
    """Refuse an allocation of `nbytes` that would not fit in memory."""
    available = _available_memory()
    if available is not None and nbytes > 0.9 * available:
        raise InsufficientMemoryError(
            f"{what} would need {_format_bytes(nbytes)} but only "
            f"{_format_bytes(available)} is available; {instead}"
        )


def _check_embeddings(W, bias):
    """`W` (M, d) and `bias` (M,) as float64 arrays, checked (bias None:
    zeros): the linear layer ``z = W x + b`` every feasibility question is
    asked of."""
    W = _as_float_array(W, "W", ndim=2, min_size=0).astype(np.float64, copy=False)
    if W.shape[1] == 0:
        raise ValueError(f"W must have d ≥ 1 columns; got shape {W.shape}")
    if W.shape[0] < 1:
        raise ValueError(f"W must have at least 1 row (word); got shape {W.shape}")
    if bias is None:
        b = np.zeros(W.shape[0])
    else:
        b = _as_float_array(bias, "bias", ndim=1).astype(np.float64, copy=False)
        if b.shape[0] != W.shape[0]:
            raise ValueError(
                f"bias must have shape ({W.shape[0]},) to match W {W.shape}; got "
                f"shape {b.shape}"
            )
    return W, b
