r"""Symbolic checks of the papers' theorems, with sympy.

Every function returns its sympy expressions, so a notebook can display the
proof objects, together with a plain verdict.

* :func:`softmax_residual` — ``log_softmax(W h) - W h`` is a multiple of the
  all-ones vector (Kanai et al. 2018 [1]_, Theorem 2): the bottleneck.
* :func:`residual_not_constant` — the same residual for sigsoftmax,
  GSS(c, k ≠ 1) or any activation with a declared sympy form ``g`` is not,
  and is non-linear in the logits.
* :func:`monotone_preserves_order` — a strictly increasing ``f`` keeps the
  order of the logits (Ganea et al. 2019 [2]_), by the mean value theorem.
* :func:`check_activation_properties` — the four properties of Kanai et al.
  for a normalised pointwise ``g`` with their evidence, and a numerical verdict
  on the bottleneck.

References
----------
.. [1] S. Kanai, Y. Fujiwara, Y. Yamanaka, S. Adachi, "Sigsoftmax:
   reanalysis of the softmax bottleneck", NeurIPS 2018, arXiv:1805.10829.
.. [2] O.-E. Ganea, S. Gelly, G. Bécigneul, A. Severyn, "Breaking the softmax
   bottleneck via learnable monotonic pointwise non-linearities", ICML 2019,
   arXiv:1902.08077.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ._result import Result
from ._validation import _as_int, _as_rng
from .activations import Activation, get
from .activations._base import _log_normalize
from .rank import numerical_rank

__all__ = [
    "SymbolicResult",
    "softmax_residual",
    "residual_not_constant",
    "monotone_preserves_order",
    "PropertyCheck",
    "ActivationProperties",
    "check_activation_properties",
    "g_expression",
]

z = sp.Symbol("z", real=True)

# Points at which expressions are evaluated for counterexamples and as a
# numerical fallback where sympy cannot decide a sign on the whole real line,
# ordered by magnitude so that a counterexample is a readable small number.
_GRID = np.concatenate([[0.0], np.logspace(-3, 2, 60)[:, None] * [1, -1]], axis=None)
_GRID = _GRID[np.argsort(np.abs(_GRID), kind="stable")]
_CANDIDATES = (1, -1, 2, -2, sp.Rational(1, 2), sp.Rational(-1, 2), 5, -5)
# numpy forms of the distributions that derivatives of max(z, 0) produce
_NUMPY_EXTRA = {"DiracDelta": lambda x, *_: np.where(x == 0, np.inf, 0.0),
                "Heaviside": lambda x, h=0.5: np.heaviside(x, h)}


def _lambdify(expr, var):
    return sp.lambdify(var, expr, [_NUMPY_EXTRA, "numpy"])


def _limit(expr, direction, var=z):
    """``limit(expr, var → ±∞)``; for a Piecewise, that of its piece active there."""
    try:
        return sp.limit(expr, var, direction)
    except (TypeError, ValueError, NotImplementedError):
        far = sp.Integer(10) ** 9 * (1 if direction == sp.oo else -1)
        folded = sp.piecewise_fold(expr)
        if not isinstance(folded, sp.Piecewise):
            raise
        for piece, cond in folded.args:
            if cond == sp.true or bool(cond.subs(var, far)):
                return sp.limit(sp.simplify(piece), var, direction)
        raise


@dataclass(frozen=True, eq=False)
class SymbolicResult(Result):
    """A statement, whether it holds, and the sympy objects behind it.

    ``as_dict()`` gives the sympy expressions as strings.
    """

    statement: str
    holds: bool
    expressions: dict = field(repr=False)
    evidence: str = ""

    def _as_dict_fields(self):
        return {"statement": self.statement, "holds": bool(self.holds),
                "evidence": self.evidence,
                "expressions": {k: _sympy_text(v) for k, v in self.expressions.items()}}

    def __repr__(self):
        return (f"SymbolicResult({'HOLDS' if self.holds else 'FAILS'}: "
                f"{self.statement}; {self.evidence})")

    def __bool__(self):
        return self.holds


def _check_sizes(M, d):
    # symbolic proofs grow quickly with the sizes: at most 8 of each
    _as_int(M, "M", low=2, high=8)
    _as_int(d, "d", low=1, high=8)


def _logits(M, d):
    W = sp.Matrix(M, d, lambda i, k: sp.Symbol(f"w_{i}{k}", real=True))
    h = sp.Matrix(d, 1, lambda k, _: sp.Symbol(f"h_{k}", real=True))
    return W, h, W * h


def softmax_residual(*, M=3, d=2):
    r"""Prove ``log_softmax(W h) - W h = -lse(W h) · 1`` for symbolic W, h.

    Every entry of the residual is the same expression, so the differences
    ``r_i - r_0`` simplify to exactly 0: ``log softmax(Wh)`` lies in
    ``span(W, 1)`` and the log-probability matrix has rank ≤ d + 1.

    Returns
    -------
    SymbolicResult
        ``expressions``: ``W``, ``h``, ``log_softmax``, ``residual``,
        ``differences``.

    See Also
    --------
    residual_not_constant : the same statement failing for sigsoftmax, GSS.
    rankbottleneck.numerical_rank : the bound ``d + 1`` measured.

    Examples
    --------
    >>> from rankbottleneck.symbolic import softmax_residual
    >>> r = softmax_residual(M=3, d=2)
    >>> r.holds, r.expressions["differences"]
    (True, [0, 0])
    """
    _check_sizes(M, d)
    W, h, zz = _logits(M, d)
    lse = sp.log(sum(sp.exp(zz[j]) for j in range(M)))
    log_p = sp.Matrix([zz[i] - lse for i in range(M)])
    residual = sp.simplify(log_p - zz)
    diffs = [sp.simplify(residual[i] - residual[0]) for i in range(1, M)]
    holds = all(dd == 0 for dd in diffs)
    return SymbolicResult(
        f"log_softmax(W h) - W h is a multiple of 1 (M={M}, d={d})", holds,
        {"W": W, "h": h, "log_softmax": log_p, "residual": residual,
         "differences": diffs},
        f"every residual entry equals {residual[0]}; r_i - r_0 ≡ 0")


def _log_map(activation, x, params):
    """``φ = log g`` of a normalised pointwise activation, in the variable `x`,
    from the sympy form the activation declares."""
    return sp.expand_log(sp.log(_g_of(activation, x, params)), force=True)


def residual_not_constant(activation="sigsoftmax", *, M=3, d=2, **params):
    r"""Show that ``log f(W h) - W h`` is *not* a multiple of the ones vector.

    For sigsoftmax and GSS(c, k ≠ 1) the residual differences are

    .. math:: r_i - r_0 = φ(z_i) - z_i - φ(z_0) + z_0,

    with ``φ`` the log of the unnormalised ``g``. The proof has two parts:
    an exact rational point ``(W, h)`` where ``r_1 - r_0 ≠ 0`` (evaluated to
    50 digits), and the second derivative ``∂²(r_1 - r_0)/∂z_1²``, which is
    not identically zero, so the residual is not even an affine function of
    the logits and the outputs leave ``span(W, 1)``.

    Parameters
    ----------
    activation : str or Activation
        Any activation that declares a sympy form ``g`` (``sympy_g``);
        sigsoftmax, GSS, sigmoid-normalisation, PLIF among the built-ins.
    M, d : int
    **params
        The activation's parameters, e.g. ``c, k`` for GSS (``k = 1`` is
        softmax, for which the statement fails).

    Returns
    -------
    SymbolicResult

    See Also
    --------
    softmax_residual : the bottleneck itself.
    check_activation_properties : every property of ``g`` at once.

    Examples
    --------
    >>> from rankbottleneck.symbolic import residual_not_constant
    >>> bool(residual_not_constant("sigsoftmax"))
    True
    >>> bool(residual_not_constant("gss", c=0.0, k=1.0))   # GSS(0, 1) is softmax
    False
    """
    _check_sizes(M, d)
    W, h, zz = _logits(M, d)
    phi = [_log_map(activation, zz[i], params) for i in range(M)]
    lse = sp.log(sum(sp.exp(p) for p in phi))
    residual = sp.Matrix([phi[i] - lse - zz[i] for i in range(M)])
    diff = sp.simplify(residual[1] - residual[0])
    z1 = sp.Symbol("z_1", real=True)
    second = sp.simplify(sp.diff(_log_map(activation, z1, params) - z1, z1, 2))
    point = {s: sp.Rational(((i * 7 + 3) % 11) - 5, 3)
             for i, s in enumerate(sorted(W.free_symbols | h.free_symbols,
                                          key=lambda s: s.name))}
    value = sp.N(diff.subs(point), 50)
    holds = bool(abs(value) > sp.Float("1e-40")) and second != 0
    name = getattr(activation, "name", activation)
    shown = "".join(f", {key}={value}" for key, value in params.items())
    return SymbolicResult(
        f"log {name}(W h) - W h is not a multiple of 1 (M={M}, d={d}{shown})",
        holds,
        {"W": W, "h": h, "residual": residual, "difference": diff,
         "second_derivative": second, "point": point, "value": value},
        f"r_1 - r_0 = {sp.N(value, 6)} at a rational point; "
        f"∂²/∂z_1² (φ(z_1) - z_1) = {second}")


def _sign_holds(expr, relation, var=z):
    """Decide ``expr > 0`` (or ``≥ 0``) on the reals: (verdict, evidence, point).

    sympy's solveset is tried first; where it cannot decide (a ConditionSet),
    the expression is evaluated on a grid from -100 to 100 and its limits at
    ±∞ are taken, and the evidence says so.
    """
    bad = expr <= 0 if relation == ">" else expr < 0
    shown = f"{_short(expr)} {'≤' if relation == '>' else '<'} 0"
    try:
        region = sp.solveset(bad, var, sp.S.Reals)
    except (NotImplementedError, TypeError, ValueError):
        region = None
    if region is not None and not isinstance(region, sp.ConditionSet):
        if region == sp.S.EmptySet:
            return True, f"{shown} has no real solution (sympy solveset)", None
        sample = _point_in(region)
        return False, f"{shown} on {region}", sample
    f = _lambdify(expr, var)
    with np.errstate(all="ignore"):
        values = np.broadcast_to(np.asarray(f(_GRID), dtype=float), _GRID.shape)
    fails = values <= 0 if relation == ">" else values < 0
    if fails.any():
        return False, "fails on the grid [-100, 100]", float(_GRID[np.argmax(fails)])
    limits = [_limit(expr, sp.oo, var), _limit(expr, -sp.oo, var)]
    return True, (f"numerically on the grid [-100, 100]; limits at ±∞: "
                  f"{limits[0]}, {limits[1]}"), None


def _point_in(region):
    for candidate in (0, -1, 1, -10, 10, sp.Rational(-1, 2)):
        if sp.sympify(candidate) in region:
            return float(candidate)
    inf = region.inf if hasattr(region, "inf") else None
    return float(inf) if inf is not None and inf.is_finite else None


def monotone_preserves_order(f, var=z):
    r"""Check that ``f`` is strictly increasing, hence keeps every argmax.

    Mean value theorem: ``f(z_i) - f(z_j) = f'(ξ)(z_i - z_j)`` for some
    ``ξ`` between them, so ``f' > 0`` gives ``z_i > z_j ⇒ f(z_i) > f(z_j)``:
    the order of the logits, and the argmax of every row, are kept (Ganea et
    al. 2019). ``f' > 0`` is decided by sympy where it can, else on a grid
    with the limits at ±∞ (the evidence says which).

    Parameters
    ----------
    f : sympy expression in `var`

    Returns
    -------
    SymbolicResult
        ``expressions``: ``f``, ``derivative``, ``difference`` (the MVT
        identity's left side for two symbols).

    See Also
    --------
    rankbottleneck.argmaxable_under : uses this property of a layer's
        activation (``increasing=True``).

    Examples
    --------
    >>> import sympy as sp
    >>> from rankbottleneck.symbolic import monotone_preserves_order, z
    >>> monotone_preserves_order(z + 2 * sp.log(1 / (1 + sp.exp(-z)))).holds
    True
    >>> monotone_preserves_order(z**2).holds
    False
    """
    f = _as_expression(f, var)
    deriv = sp.simplify(sp.diff(f, var))
    ok, evidence, point = _sign_holds(deriv, ">", var)
    a, b = sp.symbols("z_i z_j", real=True)
    return SymbolicResult(
        f"f = {_short(f)} is strictly increasing, so z_i > z_j ⇒ f(z_i) > f(z_j)",
        ok,
        {"f": f, "derivative": deriv,
         "difference": f.subs(var, a) - f.subs(var, b)},
        f"f' > 0: {evidence}"
        + (f"; counterexample z = {point}" if point is not None else ""))


def _as_expression(g, var=z):
    if isinstance(g, str):
        raise TypeError("expected a sympy expression; use g_expression(name) for "
                        f"a registered activation name, got {g!r}")
    try:
        g = sp.sympify(g)
    except (sp.SympifyError, TypeError):
        raise TypeError(f"g must be a sympy expression in z; got {g!r}") from None
    extra = g.free_symbols - {var}
    # a Symbol('z') made without real=True is the same variable to the user
    extra = {s for s in extra if s.name != var.name}
    if extra:
        raise ValueError(
            f"g must be a function of the single logit {var} only; it has free "
            f"symbols {sorted(s.name for s in extra)}"
        )
    return g.subs({s: var for s in g.free_symbols if s.name == var.name})


def g_expression(name, **params):
    r"""The unnormalised ``g(z)`` of an activation, from its declared sympy form.

    ``p_i = g(z_i) / Σ_j g(z_j)``: softmax ``e^z``, sigsoftmax ``e^z σ(z)``,
    GSS ``e^{k(z-c)+c} / (1+e^{z-c})^{k-1}``, sigmoid ``σ(z)``, ReLU
    ``max(z, 0)``, PLIF ``e^{f(z)}`` with ``f`` piecewise linear (at most 64
    pieces symbolically), or a user's activation registered with
    ``sympy_g``. The sparse maps (t-, r-softmax, sparsemax, entmax) are not
    of this form and raise.
    """
    return _g_of(name, z, params)


def _g_of(name, var, params):
    """``g`` of the activation `name` in the sympy variable `var`."""
    act = get(name)
    if act.sympy_g is None:
        raise ValueError(
            f"{act.name!r} is not a normalised function of one logit with a "
            "declared sympy form g(z) (the Activation's sympy_g); the pointwise "
            "checker needs g(z)"
        )
    return act.sympy_g(var, **act.bind(params))


@dataclass(frozen=True, repr=False)
class PropertyCheck(Result):
    """One property, whether it holds, and its evidence."""

    holds: bool
    evidence: str
    expression: object = field(default=None, repr=False)
    counterexample: float | None = None

    def _as_dict_fields(self):
        return {"holds": bool(self.holds), "evidence": self.evidence,
                "expression": _sympy_text(self.expression),
                "counterexample": _sympy_text(self.counterexample)}


@dataclass(frozen=True, eq=False, kw_only=True)
class ActivationProperties(Result):
    """The properties of Kanai et al. for a normalised pointwise ``g``.

    Attributes
    ----------
    g, log_g : sympy expressions
    nonlinear, stable, nonnegative, increasing : PropertyCheck
        The four properties of Kanai et al. 2018.
    log_g_upper : PropertyCheck
        Whether ``log g`` is unbounded above (sigmoid's known failure:
        ``log σ ≤ 0``).
    span, bound : int
        Numerical span of a sampled normalised-``g`` layer and ``d + 1``.
    breaks_bottleneck : bool
        ``span > bound``.
    """

    name: str
    g: object = field(repr=False)
    log_g: object = field(repr=False)
    nonlinear: PropertyCheck = field(repr=False)
    stable: PropertyCheck = field(repr=False)
    nonnegative: PropertyCheck = field(repr=False)
    increasing: PropertyCheck = field(repr=False)
    log_g_upper: PropertyCheck = field(repr=False)
    span: int = 0
    bound: int = 0
    breaks_bottleneck: bool = False
    numeric_note: str = ""

    @property
    def all_four(self):
        return all(p.holds for p in (self.nonlinear, self.stable, self.nonnegative,
                                     self.increasing))

    def _as_dict_fields(self):
        out = super()._as_dict_fields()
        out.update(g=_sympy_text(self.g), log_g=_sympy_text(self.log_g),
                   all_four=self.all_four)
        return out

    def __repr__(self):
        mark = {True: "yes", False: "NO"}
        rows = [("log g nonlinear", self.nonlinear),
                ("numerically stable", self.stable),
                ("non-negative", self.nonnegative),
                ("monotonically increasing", self.increasing),
                ("log g unbounded above", self.log_g_upper)]
        lines = [f"ActivationProperties({self.name}: g = {_short(self.g)})"]
        lines += [f"  {n:<25} {mark[p.holds]:<4} {p.evidence}" for n, p in rows]
        lines.append(f"  breaks the bottleneck     {mark[self.breaks_bottleneck]:<4} "
                     f"span {self.span} vs d+1 = {self.bound} {self.numeric_note}")
        return "\n".join(lines)


def check_activation_properties(g, *, name=None, M=48, d=4, seed=0, **params):
    r"""Kanai et al.'s four properties of ``g`` in ``p_i = g(z_i)/Σ_j g(z_j)``.

    1. **log g nonlinear**: ``(log g)''`` is not identically 0 (evidence: the
       second derivative and a point where it is non-zero). Softmax fails:
       ``log e^z = z``, and ``log p`` stays in ``span(W, 1)``.
    2. **numerically stable**: ``g(z) > 0`` for every real ``z``, so ``log g``
       is finite everywhere (evidence: the zero set of ``g``). ReLU fails:
       ``log max(z, 0) = -∞`` for ``z ≤ 0``.
    3. **non-negative**: ``g(z) ≥ 0``.
    4. **monotonically increasing**: ``g'(z) ≥ 0``.

    Also reported: whether ``log g`` is unbounded above (its limit at +∞),
    which Kanai et al. name as sigmoid-normalisation's failure:
    ``log σ(z) ≤ 0``, so one word's log-probability can exceed another's by at
    most ``-log σ(z_j)``, however large its logit.

    Then a numerical verdict: the Press rank of ``log p`` for ``M + 20``
    random contexts with a random ``W`` (M×d) against ``d + 1``. For ReLU the
    logits are shifted to be positive first, where ``log g`` is defined.

    Parameters
    ----------
    g : sympy expression in ``z``, str or Activation
        ``g`` itself, or an activation that declares its sympy form (a
        registered name or the object; see :func:`g_expression`;
        ``**params`` go to it).
    name : str, optional
        Label for the report.
    M, d, seed : int
        Size and seed of the numerical check.

    Returns
    -------
    ActivationProperties

    See Also
    --------
    residual_not_constant, monotone_preserves_order : single proofs.
    rankbottleneck.Activation : declares ``sympy_g``.

    Examples
    --------
    >>> from rankbottleneck.symbolic import check_activation_properties
    >>> props = check_activation_properties("sigsoftmax", M=12, d=2)
    >>> props.all_four, props.breaks_bottleneck, props.bound
    (True, True, 3)
    >>> check_activation_properties("sigmoid_normalized", M=12, d=2).log_g_upper.holds
    False
    """
    if isinstance(g, (str, Activation)):
        label = name or getattr(g, "name", g)
        g = g_expression(g, **params)
    else:
        label = name or "g"
        g = _as_expression(g)
    log_g = sp.log(g)
    # 1. log g is affine iff (log g)' is constant; its second derivative alone
    #    misses the kinks of a piecewise-linear log g (PLIF).
    slope = sp.simplify(sp.diff(log_g, z))
    found = _two_different_values(slope)
    if found is None:
        evidence = f"(log g)' = {_short(slope)} is constant"
    else:
        (za, zb), va, vb = found
        evidence = (f"(log g)' = {_short(slope)} takes {va:.6g} at z = {za:g} and "
                    f"{vb:.6g} at z = {zb:g}")
    nonlinear = PropertyCheck(found is not None, evidence, slope,
                              None if found is None else found[0][1])
    # 2. stability: g > 0 everywhere
    ok, ev, pt = _sign_holds(g, ">")
    stable = PropertyCheck(ok, ("g > 0, log g finite: " + ev) if ok else
                           f"log g = -∞ where g = 0: {ev}", g, pt)
    # 3. non-negativity
    ok, ev, pt = _sign_holds(g, ">=")
    nonneg = PropertyCheck(ok, ev, g, pt)
    # 4. monotonicity
    dg = sp.simplify(sp.diff(g, z))
    ok, ev, pt = _sign_holds(dg, ">=")
    increasing = PropertyCheck(ok, f"g' ≥ 0: {ev}", dg, pt)
    upper = _limit(log_g, sp.oo)
    log_g_upper = PropertyCheck(upper == sp.oo, f"lim_(z→∞) log g = {upper}", upper)
    span, bound, note = _numeric_span(g, M, d, seed, shift_positive=not stable.holds)
    return ActivationProperties(name=label, g=g, log_g=log_g, nonlinear=nonlinear,
                                stable=stable, nonnegative=nonneg, increasing=increasing,
                                log_g_upper=log_g_upper, span=span, bound=bound,
                                breaks_bottleneck=span > bound, numeric_note=note)


def _sympy_text(value):
    """A sympy object (or a list of them) as text for ``as_dict``; plain
    numbers, strings and None as they are."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_sympy_text(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _sympy_text(v) for k, v in value.items()}
    return str(value)


def _short(expr, width=70):
    text = str(expr)
    return text if len(text) <= width else text[: width - 1] + "…"


def _two_different_values(expr):
    """Two points where `expr` takes different finite values, or None.

    ``((z_a, z_b), value_a, value_b)``; exact evaluation at small points, then
    the grid.
    """
    points = [sp.Integer(0), *_CANDIDATES]
    values = []
    for point in points:
        value = sp.N(expr.subs(z, point), 30)
        if value.is_finite and value.is_real:
            values.append((point, float(value)))
    f = _lambdify(expr, z)
    with np.errstate(all="ignore"):
        grid = np.broadcast_to(np.asarray(f(_GRID), dtype=float), _GRID.shape)
    values += [(p, v) for p, v in zip(_GRID, grid) if np.isfinite(v)]
    for (pa, va) in values[:1]:
        for (pb, vb) in values[1:]:
            if abs(va - vb) > 1e-12 * max(1.0, abs(va), abs(vb)):
                return (float(pa), float(pb)), va, vb
    return None


def _numeric_span(g, M, d, seed, shift_positive):

    rng = _as_rng(seed)
    W = rng.standard_normal((M, d)) / np.sqrt(d)
    Z = rng.standard_normal((M + 20, d)) @ W.T
    note = ""
    if shift_positive:
        Z = Z - Z.min() + 1.0
        note = "(logits shifted positive, where log g is finite)"
    log_g = _lambdify(sp.log(g), z)
    with np.errstate(all="ignore"):
        w = np.asarray(log_g(Z), dtype=np.float64)
    if not np.all(np.isfinite(w)):
        return 0, d + 1, "(log g not finite on the sample)"
    return numerical_rank(_log_normalize(w), "press").value, d + 1, note
