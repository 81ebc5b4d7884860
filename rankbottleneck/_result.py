"""One protocol for the toolkit's result objects.

A result is a frozen dataclass that mixes in :class:`Result`, which gives it

* ``as_dict()``: every field as plain Python that :func:`json.dumps` accepts
  (see :func:`json_safe`), with the class's own choices where it overrides
  :meth:`Result._as_dict_fields`;
* a readable ``repr`` (a class may keep its own one-line summary instead);
* keyword-only construction where the class is declared with
  ``@dataclass(frozen=True, kw_only=True)``: a result of many fields is never
  built by position.

Verdicts
--------
A question with a proved answer has one encoding everywhere:

=========== ============= ================ ==============================
verdict      Python        array (int8)     as_dict
=========== ============= ================ ==============================
holds        ``True``      ``1``            ``true``
fails        ``False``     ``0``            ``false``
undecided    ``None``      ``-1``           ``null``
=========== ============= ================ ==============================

:func:`verdict` and :func:`verdict_code` convert between the two; per-word
status arrays use the int8 codes (:data:`HOLDS`, :data:`FAILS`,
:data:`UNDECIDED`), single answers the Python values.

Verification
------------
A result that carries evidence (witnesses, certificates) re-checks it with
``verify(...)``, which returns a :class:`Verification`: truthy iff every
piece of evidence holds, with the indices that fail in ``failing``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from fractions import Fraction
from pathlib import PurePath
from types import MappingProxyType

import numpy as np

__all__ = ["Result", "Verification", "json_safe", "verdict", "verdict_code", "HOLDS",
           "FAILS", "UNDECIDED"]

HOLDS, FAILS, UNDECIDED = 1, 0, -1
_CODES = {True: HOLDS, False: FAILS, None: UNDECIDED}
_VERDICTS = {HOLDS: True, FAILS: False, UNDECIDED: None}


def verdict_code(value):
    """The int8 code of a verdict: True → 1, False → 0, None → -1."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return _CODES[None if value is None else bool(value)]
    raise TypeError(f"a verdict must be True, False or None; got {value!r}")


def verdict(code):
    """The Python verdict of an int8 code: 1 → True, 0 → False, -1 → None."""
    try:
        return _VERDICTS[int(code)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"a verdict code must be 1, 0 or -1; got {code!r}") from None


def json_safe(x):
    """`x` as nested dicts, lists, str, int, float, bool and None.

    NumPy arrays and scalars become lists and Python numbers; tuples and sets
    lists (sets sorted); dict keys strings; a non-finite float its string
    (``"inf"``, ``"-inf"``, ``"nan"``: JSON has no such numbers); a
    :class:`~fractions.Fraction` its exact string ``"p/q"``; a path its string;
    an object with ``as_dict()`` that dict; any other dataclass its fields.
    Anything else is refused with a ``TypeError`` naming its type, so that
    ``json.dumps(result.as_dict())`` never fails later.
    """
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, PurePath):
        return str(x)
    if isinstance(x, (dict, MappingProxyType)):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist()) if x.dtype != object else [json_safe(v) for v in x]
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return [json_safe(v) for v in sorted(x, key=repr)]
    if hasattr(x, "as_dict") and callable(x.as_dict):
        return json_safe(x.as_dict())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: json_safe(getattr(x, f.name)) for f in dataclasses.fields(x)}
    raise TypeError(f"cannot put a {type(x).__name__} into a JSON-safe dict: {x!r}")


def _short(value):
    """A field's value for a repr: arrays and long sequences by their shape."""
    if isinstance(value, np.ndarray):
        return f"<array {'×'.join(map(str, value.shape)) or 'scalar'} {value.dtype}>"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


class Result:
    """Mixin for frozen dataclass results: ``as_dict`` and a readable repr."""

    def _as_dict_fields(self):
        """``{name: value}`` for :meth:`as_dict`: every field not declared
        with ``field(metadata={"as_dict": False})``. Override to add derived
        numbers or leave out large objects."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("as_dict", True)}

    def as_dict(self):
        """Every number of the result as plain Python: ``json.dumps`` takes it."""
        return json_safe(self._as_dict_fields())

    def __repr__(self):
        parts = [f"{f.name}={_short(getattr(self, f.name))}"
                 for f in dataclasses.fields(self) if f.repr]
        return f"{type(self).__name__}({', '.join(parts)})"


#: the ndarray attributes a Verification still answers for the index array
#: ArgmaxReport.verify used to return (deprecated)
_ARRAY_ATTRIBUTES = frozenset({"size", "shape", "ndim", "dtype", "tolist", "any", "all"})


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class Verification(Result):
    """What re-checking a result's evidence found: truthy iff all of it holds.

    Returned by every result's ``verify`` (:meth:`ArgmaxReport.verify
    <rankbottleneck.ArgmaxReport.verify>`, :meth:`RealizableReport.verify
    <rankbottleneck.RealizableReport.verify>`), so that ``if
    report.verify(W):`` reads as it says and the failures are at hand.

    Attributes
    ----------
    failing : (n,) int ndarray
        What fails, sorted: word indices for an :class:`~rankbottleneck.ArgmaxReport`;
        ``[0]`` for the one question of a
        :class:`~rankbottleneck.RealizableReport` whose evidence fails (or
        that has none: an undecided answer).
    n_checked : int
        How many items were checked (words, or 1 question).
    what : str
        What an item is: ``"words"`` or ``"question"``.
    note : str
        Why it fails, where that is one reason.

    Notes
    -----
    ``bool(v)`` is ``v.holds``; ``len(v)``, ``iter(v)`` and
    ``numpy.asarray(v)`` are those of `failing`. ``ArgmaxReport.verify`` used
    to return the failing indices as an array: ``len(v) == 0`` still means
    that all holds, and the array attributes (``v.size``, ``v.tolist()``, ...)
    still answer for `failing`, with a ``DeprecationWarning``.

    See Also
    --------
    rankbottleneck.ArgmaxReport.verify : re-proves every word's evidence.
    rankbottleneck.RealizableReport.verify : re-proves one set or ordering.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])
    >>> check = rb.argmaxable(W).verify(W)
    >>> bool(check), check.failing.tolist()
    (True, [])
    >>> check
    Verification(holds: the evidence of all 4 words)
    """

    failing: np.ndarray
    n_checked: int
    what: str = "words"
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "failing",
                           np.unique(np.asarray(self.failing, dtype=np.intp)))

    @property
    def holds(self):
        """True iff every piece of evidence checked holds."""
        return self.failing.size == 0

    def __bool__(self):
        return self.holds

    def __len__(self):
        return int(self.failing.size)

    def __iter__(self):
        return iter(self.failing.tolist())

    def __array__(self, dtype=None, copy=None):
        return self.failing if dtype is None else self.failing.astype(dtype)

    def __getattr__(self, name):
        # only reached for names the class lacks: the old index array's
        if name in _ARRAY_ATTRIBUTES:
            warnings.warn(
                f"verify() now returns a Verification (truthy iff all holds); "
                f"use .failing.{name} for the failing indices",
                DeprecationWarning, stacklevel=2)
            return getattr(self.failing, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute "
                             f"{name!r}")

    def _as_dict_fields(self):
        return {"holds": self.holds, **super()._as_dict_fields()}

    def __repr__(self):
        if self.holds:
            subject = ("the question's evidence" if self.what == "question"
                       else f"the evidence of all {self.n_checked} {self.what}")
            return f"Verification(holds: {subject})"
        shown = ", ".join(map(str, self.failing[:8].tolist()))
        shown += ", …" if self.failing.size > 8 else ""
        if self.what == "question":
            text = "the question's evidence"
        else:
            text = f"{self.failing.size} of {self.n_checked} {self.what} [{shown}]"
        return f"Verification(FAILS: {text}{'; ' + self.note if self.note else ''})"
