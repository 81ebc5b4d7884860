"""What an activation is, declared once, and the registry of them.

An :class:`Activation` carries its log-probability function and, optionally,
the capabilities an analysis may ask for: the pointwise logit map ``φ``
(``log p = φ(z) - lse(φ(z))``) with its derivative and parameter gradients,
whether ``φ`` is strictly increasing, whether the map is only a shift of the
logits, whether it can give exact zeros (and which words can be nonzero),
and a sympy form of ``g = e^φ``. Analyses ask for a capability and never
test an activation's name; :func:`register` makes a user's activation work
by name everywhere a built-in one does. The design follows opt_einsum's
``register_path_fn``: a name space with explicit overwrite rules.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np

from .._validation import _as_bool
from ._base import _log_normalize, _on_last_axis, logsumexp

__all__ = ["REQUIRED", "Activation", "register", "unregister", "get", "available"]


class _Required:
    """Marks a parameter that has no default."""

    def __repr__(self):
        return "REQUIRED"

    def __reduce__(self):
        return "REQUIRED"


REQUIRED = _Required()

#: capability name → the field that declares it, for listings and errors
_CAPABILITIES = {
    "logit_map": "logit_map",
    "derivative": "logit_map_derivative",
    "param_gradients": "param_gradients",
    "increasing": "increasing",
    "shift_only": "shift_only",
    "convex_g": "convex_g",
    "sparse": "sparse",
    "support": "support",
    "top_support": "top_support",
    "sympy": "sympy_g",
}


@dataclass(frozen=True, eq=False)
class Activation:
    r"""An output activation and everything an analysis may ask of it.

    Only `name` and `log_prob` are required; every other field is a
    capability that the analyses use when it is declared.

    Parameters
    ----------
    name : str
        Registry name (a Python identifier).
    log_prob : callable
        ``log_prob(z, **params)``: log-probabilities of finite logits `z`
        (float32 or float64, vocabulary on the last axis, any leading
        shape), same shape and dtype. Exactly ``-inf`` only where the
        probability is exactly 0.
    params : dict
        Parameter names and defaults, in order; :data:`REQUIRED` for a
        parameter without a default.
    logit_map : callable, optional
        ``φ(z, **params)`` elementwise, with
        ``log_prob(z) = φ(z) - lse(φ(z))``: the *normalised pointwise*
        family of Kanai et al. 2018 (arXiv:1805.10829). Lets spectra be streamed from the
        logits (no stored matrix) and layers be fitted.
    logit_map_derivative : callable, optional
        ``φ'(z, **params)`` elementwise: analytic gradients in
        :func:`~rankbottleneck.fit_log_probs`.
    param_gradients : callable, optional
        ``param_gradients(z, dphi, **params) -> {name: dL/dparam}`` given
        ``dphi = dL/dφ(z)``: the parameters that can be learned.
    param_bounds : dict, optional
        ``{name: (low, high)}`` (either end None) that a learned parameter
        must stay within, e.g. GSS's ``k > 0``; used as the optimiser's box.
    increasing : bool
        ``φ`` is strictly increasing: the argmax of every row is that of the
        logits, so the argmaxable words are exactly the linear layer's
        (Ganea et al. 2019, arXiv:1902.08077).
    shift_only : bool
        ``log_prob(z) = z - s(z)``, the logits minus one number per row
        (softmax): the log-probability matrix has rank ≤ d + 1 and an exact
        factored spectrum.
    convex_g : bool
        ``g = e^φ`` is convex: an interior word (``w_i = Σ λ_j w_j``) then has
        ``g(z_i) ≤ Σ λ_j g(z_j)`` (Jensen), so no mixture of such components
        with a shared ``W``, ``b`` makes it the argmax.
    sparse : bool
        Can give probability exactly 0 (``-inf``).
    support : callable, optional
        ``support(W, b, **params) -> (mask, note)``: exactly which words can
        get nonzero probability for some context, and how it was decided.
    top_support : bool
        The nonzero probabilities are always exactly the words whose logits
        lie above a threshold (``p_i > 0 ⟺ z_i > τ(z)``), so every support
        is a top set of the logits: lets
        :func:`~rankbottleneck.topk.realizable_support` refuse a set that
        can never be a top set.
    sympy_g : callable, optional
        ``sympy_g(z, **params)``: ``g(z)`` as a sympy expression in the
        symbol `z`, with ``p_i = g(z_i) / Σ_j g(z_j)``; enables
        :func:`~rankbottleneck.symbolic.check_activation_properties`.
    reference : str
        Where the definition comes from.

    See Also
    --------
    register : adds one to the registry, after checking it numerically.
    get, available, unregister : look up, list and remove.
    rankbottleneck.PointwiseLayer : a layer with an activation, by name or
        object.

    Notes
    -----
    Declarations are checked for consistency (a derivative needs a logit
    map, a sparse activation has none, ...). :func:`register` also checks
    them numerically: ``log_prob`` against ``φ - lse(φ)``, ``φ'`` against
    central differences, monotonicity on a grid, the shift property.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck import activations as act
    >>> scaled = act.Activation("scaled_doc", lambda z: act.log_normalize(2 * z),
    ...                         logit_map=lambda z: 2 * z, increasing=True)
    >>> scaled
    Activation(scaled_doc(); capabilities: logit_map, increasing)
    >>> scaled(np.array([0.0, 1.0])).round(4)          # usable before registering
    array([-2.1269, -0.1269])
    >>> act.get("sigsoftmax").capabilities
    ('logit_map', 'derivative', 'increasing', 'convex_g', 'sympy')
    """

    name: str
    log_prob: object = field(repr=False)
    params: dict = field(default_factory=dict)
    logit_map: object = field(default=None, repr=False)
    logit_map_derivative: object = field(default=None, repr=False)
    param_gradients: object = field(default=None, repr=False)
    param_bounds: dict = field(default_factory=dict, repr=False)
    increasing: bool = False
    shift_only: bool = False
    convex_g: bool = False
    sparse: bool = False
    support: object = field(default=None, repr=False)
    top_support: bool = False
    sympy_g: object = field(default=None, repr=False)
    reference: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"name must be a Python identifier (a string); got {self.name!r}")
        for key in ("log_prob", "logit_map", "logit_map_derivative",
                    "param_gradients", "support", "sympy_g"):
            value = getattr(self, key)
            if value is not None and not callable(value):
                raise TypeError(f"{key} must be callable; got {value!r}")
        if self.log_prob is None:
            raise TypeError("log_prob must be callable; got None")
        for key in ("increasing", "shift_only", "convex_g", "sparse", "top_support"):
            if not isinstance(getattr(self, key), bool):
                raise TypeError(f"{key} must be True or False; got "
                                f"{getattr(self, key)!r}")
        try:
            params = dict(self.params)
        except (TypeError, ValueError):
            raise TypeError(f"params must be a dict {{name: default}}; got "
                            f"{self.params!r}") from None
        bad = [k for k in params if not (isinstance(k, str) and k.isidentifier())]
        if bad:
            raise ValueError(f"params names must be identifiers; got {bad}")
        object.__setattr__(self, "params", types.MappingProxyType(params))
        bounds = dict(self.param_bounds)
        stray = sorted(set(bounds) - set(params))
        if stray:
            raise ValueError(f"param_bounds names {stray}, which are not among the "
                             f"params {sorted(params)}")
        object.__setattr__(self, "param_bounds", types.MappingProxyType(bounds))
        needs_map = [k for k in ("logit_map_derivative", "param_gradients")
                     if getattr(self, k) is not None]
        needs_map += [k for k in ("increasing", "shift_only", "convex_g")
                      if getattr(self, k)]
        if needs_map and self.logit_map is None:
            raise ValueError(
                f"activation {self.name!r} declares {needs_map}, which are "
                "properties of the logit map φ: declare logit_map too")
        if self.sparse and self.logit_map is not None:
            raise ValueError(
                f"activation {self.name!r}: a sparse activation has no logit map "
                "(φ - lse(φ) is never -inf); declare one or the other")
        if self.top_support and not self.sparse:
            raise ValueError(
                f"activation {self.name!r}: top_support describes exact zeros; "
                "declare sparse=True with it")
        if self.support is not None and not self.sparse:
            raise ValueError(
                f"activation {self.name!r}: support describes exact zeros; "
                "declare sparse=True with it")

    # -- using it ---------------------------------------------------------

    def __call__(self, z, *, axis=-1, **params):
        """Log-probabilities of logits `z` along `axis`."""
        return _on_last_axis(self.log_prob, z, axis, **self.bind(params))

    def probabilities(self, z, *, axis=-1, **params):
        """``exp`` of :meth:`__call__`."""
        return np.exp(self(z, axis=axis, **params))

    def bind(self, params):
        """Check `params` against the declaration and fill in defaults."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise TypeError(
                f"activation {self.name!r} takes parameters "
                f"{sorted(self.params) or 'none'}; got unexpected {unknown}"
            )
        bound = {}
        for key, default in self.params.items():
            if key in params:
                bound[key] = params[key]
            elif default is REQUIRED:
                raise TypeError(f"activation {self.name!r} needs parameter {key!r}")
            else:
                bound[key] = default
        return bound

    def check(self, params):
        """:meth:`bind`, then one evaluation on a tiny input, so that bad
        parameters fail before any heavy work."""
        bound = self.bind(params)
        self.log_prob(np.array([[0.5, 1.0]]), **bound)
        return bound

    # -- describing it ----------------------------------------------------

    @property
    def capabilities(self):
        """Names of the declared capabilities, e.g. ``('logit_map', ...)``."""
        return tuple(name for name, attr in _CAPABILITIES.items()
                     if getattr(self, attr) not in (None, False))

    def require(self, capability, purpose):
        """Return the declared `capability`, or raise naming what is missing.

        ``TypeError`` such as "activation 'mine' declares no logit_map_derivative,
        which fit_log_probs needs for ...".
        """
        attr = _CAPABILITIES[capability]
        value = getattr(self, attr)
        if value in (None, False):
            have = ", ".join(self.capabilities) or "none"
            raise TypeError(
                f"activation {self.name!r} declares no {attr}, which {purpose}; "
                f"its capabilities: {have}. Register it with {attr}=... "
                "(see rankbottleneck.activations.Activation)")
        return value

    def signature(self):
        """``'name(p1, p2=default)'`` for listings."""
        parts = [k if v is REQUIRED else f"{k}={v!r}" for k, v in self.params.items()]
        return f"{self.name}({', '.join(parts)})"

    def __repr__(self):
        return (f"Activation({self.signature()}; capabilities: "
                f"{', '.join(self.capabilities) or 'none'}"
                + (f"; {self.reference}" if self.reference else "") + ")")


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

_REGISTRY: dict = {}
_BUILTIN: set = set()
#: names that mean a mixture layer, not an activation, wherever an activation
#: is named (``fit_log_probs(T, "mos")``, ``expressivity_sweep``)
_RESERVED = {"mos": "the mixture of softmaxes", "moss": "the mixture of sigsoftmaxes",
             "moc": "the mixture of contexts"}


def register(activation, /, *, overwrite=False, check=True, check_params=None):
    """Add an activation to the registry, so that it works by name everywhere.

    Parameters
    ----------
    activation : Activation
    overwrite : bool
        Replace a user activation registered under the same name. Built-in
        activations are never replaced.
    check : bool
        Check the declared capabilities numerically first (on random logits
        with `check_params`, or the defaults): ``log_prob`` normalised and of
        the right shape and dtype; ``log_prob = φ - lse(φ)``; ``φ'`` against
        central differences; ``φ`` strictly increasing on a grid when
        declared; ``e^φ`` convex on that grid (non-negative second
        differences) when declared; the shift property when declared. A failed check raises
        ``ValueError`` and registers nothing.
    check_params : dict, optional
        Parameter values for the check (required when a parameter has no
        default).

    Returns
    -------
    Activation
        The registered object.

    Raises
    ------
    ValueError
        A failed check; a built-in name; a name already registered (without
        `overwrite`); ``"mos"``, ``"moss"`` or ``"moc"``, which name the
        mixture layers of :func:`~rankbottleneck.fit_log_probs`.

    See Also
    --------
    Activation : what an activation declares.
    unregister, get, available : remove, look up, list.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck import activations as act
    >>> def phi(z):                       # log g for g(z) = e^z σ(z)²
    ...     return z + 2 * act.log_sigmoid(z)
    >>> sq = act.register(act.Activation(
    ...     "sigsq_doc", lambda z: act.log_normalize(phi(z)), logit_map=phi,
    ...     increasing=True))
    >>> round(float(act.get("sigsq_doc")(np.array([0.0, 1.0]))[1]), 4)
    -0.1588
    >>> act.unregister("sigsq_doc")
    """
    if not isinstance(activation, Activation):
        raise TypeError("activation must be an Activation (rankbottleneck."
                        f"activations.Activation); got {type(activation).__name__}")
    overwrite = _as_bool(overwrite, "overwrite")
    check = _as_bool(check, "check")
    if check_params is not None and not isinstance(check_params, dict):
        raise TypeError("check_params must be a dict {name: value} of the "
                        f"activation's parameters, or None; got {check_params!r}")
    name = activation.name
    if name.lower() in _RESERVED:
        raise ValueError(f"{name!r} names {_RESERVED[name.lower()]} layer "
                         "(fit_log_probs, expressivity_sweep), not an activation; "
                         "register yours under another name")
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in activation and cannot be "
                         "replaced; register yours under another name")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"an activation named {name!r} is already registered; "
                         "pass overwrite=True to replace it, or choose another name")
    if check:
        _self_check(activation, check_params or {})
    _REGISTRY[name] = activation
    return activation


def _register_builtin(activation):
    """:func:`register` for the package's own activations, which can then be
    neither replaced nor removed. Their declarations are checked by the test
    suite rather than at every import."""
    register(activation, check=False)
    _BUILTIN.add(activation.name)


def unregister(name):
    """Remove a user activation from the registry.

    Layers built with it keep working: they hold the object, not the name.

    Parameters
    ----------
    name : str or Activation
        A registered user activation; built-ins cannot be removed.

    See Also
    --------
    register, get, available

    Examples
    --------
    >>> from rankbottleneck import activations as act
    >>> a = act.register(act.Activation("half_doc", lambda z: act.log_normalize(z / 2),
    ...                                 logit_map=lambda z: z / 2, increasing=True))
    >>> "half_doc" in act.available()
    True
    >>> act.unregister("half_doc")
    >>> "half_doc" in act.available()
    False
    """
    if isinstance(name, Activation):
        name = name.name
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in activation and cannot be removed")
    if name not in _REGISTRY:
        raise ValueError(f"no activation named {name!r} is registered; have "
                         f"{sorted(_REGISTRY)}")
    del _REGISTRY[name]


def get(name):
    """The :class:`Activation` registered as `name`.

    Parameters
    ----------
    name : str or Activation
        A registered name; an :class:`Activation` passes through.

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        No activation of that name, with the list of those there are.

    See Also
    --------
    available, register, unregister

    Examples
    --------
    >>> from rankbottleneck import activations as act
    >>> act.get("gss")
    Activation(gss(c=0.0, k=2.0); capabilities: logit_map, derivative, param_gradients, increasing, sympy; Parthiban et al. 2021)
    """
    if isinstance(name, Activation):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(_REGISTRY)} or an Activation; "
            f"got {name!r}"
        ) from None


def available():
    """Registered activations and their parameters.

    Returns
    -------
    dict
        ``{name: {parameter: default}}``; a required parameter has default
        ``None``.

    See Also
    --------
    get, register, unregister

    Examples
    --------
    >>> from rankbottleneck import activations
    >>> activations.available()["gss"]
    {'c': 0.0, 'k': 2.0}
    """
    return {
        name: {k: (None if v is REQUIRED else v) for k, v in a.params.items()}
        for name, a in _REGISTRY.items()
    }


# ---------------------------------------------------------------------------
# Numerical self-check of a declaration
# ---------------------------------------------------------------------------


def _self_check(act, params):
    def fail(what):
        raise ValueError(f"activation {act.name!r} failed its registration check: "
                         f"{what} (register(..., check=False) skips the check)")

    try:
        bound = act.bind(params)
    except TypeError as exc:
        raise ValueError(f"{exc}; pass check_params={{...}} to register()") from None
    rng = np.random.default_rng(0)
    z = 3.0 * rng.standard_normal((4, 9))
    z[:, 0] = np.abs(z).max(axis=1) + 1.0      # one clearly positive logit
    for dtype in (np.float64, np.float32):
        zt = z.astype(dtype)
        out = np.asarray(act.log_prob(zt, **bound))
        if out.shape != zt.shape or out.dtype != dtype:
            fail(f"log_prob of a {zt.shape} {np.dtype(dtype).name} input returned "
                 f"shape {out.shape}, dtype {out.dtype}")
        if np.isnan(out).any() or (out == np.inf).any():
            fail("log_prob returned NaN or +inf")
        if not act.sparse and not np.isfinite(out).all():
            fail("log_prob returned -inf but sparse=False")
        tol = 1e3 * np.finfo(dtype).eps * z.shape[1]
        total = logsumexp(out.astype(np.float64), axis=-1)
        if np.abs(total).max() > tol:
            fail(f"probabilities sum to {np.exp(total).round(6).tolist()}, not 1")
    lp = act.log_prob(z, **bound)
    if act.logit_map is not None:
        phi = np.asarray(act.logit_map(z, **bound), dtype=np.float64)
        err = np.abs(_log_normalize(phi) - lp).max()
        if not err <= 1e-9 * (1 + np.abs(lp).max()):
            fail(f"log_prob differs from φ(z) - lse(φ(z)) by {err:.3g}")
        grid = np.linspace(-30.0, 30.0, 2001)
        on_grid = np.asarray(act.logit_map(grid, **bound), dtype=np.float64)
        steps = np.diff(on_grid)
        if act.increasing and not np.all(steps > 0):
            if np.all(steps >= 0):
                flat = grid[1:][steps == 0]
                fail(f"φ saturates in {np.dtype(on_grid.dtype).name}: it takes "
                     f"equal values at {flat.size} of the {steps.size} steps of a "
                     f"grid on [-30, 30] (the first at z = {flat[0]:.3g}), "
                     "although it may be increasing in exact arithmetic; it "
                     "saturates in floating point, where ties in the logits "
                     "reappear, and increasing=True needs it strictly increasing "
                     "as computed, for the argmax analyses. Declare "
                     "increasing=False, or a map that does not flatten, such as "
                     "tanh(z) + 1e-3 z")
            fail("increasing=True but φ is not strictly increasing on [-30, 30]")
        if act.convex_g:
            # Jensen's bound in argmaxable_under needs g = e^φ convex: second
            # differences on the grid, against their own rounding
            with np.errstate(over="ignore"):
                g = np.exp(on_grid)
            g = g[np.isfinite(g)] if np.all(np.isfinite(g[:2])) else g
            second = g[:-2] - 2 * g[1:-1] + g[2:]
            slack = 1e-9 * (np.abs(g[:-2]) + 2 * np.abs(g[1:-1]) + np.abs(g[2:]))
            if np.any(second < -slack):
                k = int(np.argmax(second < -slack))
                fail(f"convex_g=True but e^φ is not convex: its second difference "
                     f"at z = {grid[k + 1]:.3g} is {second[k]:.3g}")
        if act.logit_map_derivative is not None:
            x = np.linspace(-8.0, 8.0, 161) + 1e-3      # off any grid knots
            h = 1e-6
            fd = (act.logit_map(x + h, **bound) - act.logit_map(x - h, **bound)) / (2 * h)
            an = act.logit_map_derivative(x, **bound)
            err = np.abs(fd - an).max()
            if not err <= 1e-5 * (1 + np.abs(an).max()):
                fail(f"logit_map_derivative differs from central differences by "
                     f"{err:.3g}")
    if act.top_support:
        finite = np.isfinite(lp)
        low_in = np.where(finite, z, np.inf).min(axis=-1)
        high_out = np.where(finite, -np.inf, z).max(axis=-1)
        if np.any(high_out >= low_in):
            fail("top_support=True but a word with probability 0 has a logit at "
                 "least that of a word in the support")
    if act.shift_only:
        spread = np.ptp(lp - z, axis=-1).max()
        if not spread <= 1e-9 * (1 + np.abs(z).max()):
            fail(f"shift_only=True but log_prob - z varies along a row by {spread:.3g}")
