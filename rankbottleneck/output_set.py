r"""The set of log-outputs of a layer, not only one matrix of them.

For a layer ``F(h) = log f(W h + b)`` the papers argue about the *set*
``S = {F(h) : h ∈ R^d}`` (Kanai et al. 2018 [1]_). Two numbers describe it and are
easily confused:

* the dimension of its **span** (linear or affine): how many directions of
  ``R^M`` the outputs reach; this is what the rank of a log-probability
  matrix estimates;
* its **local dimension**: the rank of the Jacobian ``∂F/∂h``, at most ``d``
  however large the span is. ``S`` is a d-dimensional (curved) manifold even
  when it spans all of ``R^M``.

Bounds proved here for softmax (no bias / bias), with ``y(h) = W h + b -
lse(W h + b) 1``:

=========================== ======= ========== ====================================
quantity                    no bias with bias  why
=========================== ======= ========== ====================================
linear span                 d + 1   d + 2      ``y ∈ span(W, b, 1)``
affine span                 d + 1   d + 1      ``y - y₀ ∈ span(W, 1)``; equality
                                               because lse is not affine in h
linear span, rows centred   d       d + 1      ``C y = C W h + C b``
affine span, rows centred   d       d          ``C y - C y₀ = C W (h - h₀)``
local dimension             d       d          ``J = (I - 1 pᵀ) W``
=========================== ======= ========== ====================================

(The affine span is ``d + 1``, not ``d``: ``≤ d`` holds only after
centring the rows.) MoC with softmax components obeys the same
bounds; sigsoftmax, GSS, PLIF and MoS generically span ``R^M``.

:func:`estimate_hidden_size` uses the centred bound to read ``d`` off the
outputs of an unknown softmax model (Finlayson et al. 2024 [2]_).

References
----------
.. [1] S. Kanai, Y. Fujiwara, Y. Yamanaka, S. Adachi, "Sigsoftmax:
   reanalysis of the softmax bottleneck", NeurIPS 2018, arXiv:1805.10829.
.. [2] M. Finlayson, X. Ren, S. Swayamdipta, "Logits of API-protected LLMs
   leak proprietary information", 2024, arXiv:2403.09539.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._measures import (
    DEFAULT_LOG_FLOOR,
    Rank,
    rank_from_singular_values,
)
from ._result import Result
from ._validation import _as_float_array, _as_int, _as_scalar, _check_fits_in_memory
from .layers import MixtureLayer, PointwiseLayer
from .rank import singular_values
from .spectra._hidden_size import (
    HiddenSizeEstimate,
    estimate_hidden_size,
    hidden_size_by_rows,
)

__all__ = [
    "OutputSetDimension",
    "output_set_dimension",
    "local_dimension",
    "HiddenSizeEstimate",
    "estimate_hidden_size",
    "hidden_size_by_rows",
    "argmax_changes",
]

_JACOBIAN_RTOL = 1e-6


def _context_dim(layer):
    if isinstance(layer, PointwiseLayer):
        return layer.d
    if isinstance(layer, MixtureLayer):
        return layer.d_context
    raise TypeError(
        "layer must be a PointwiseLayer or a MixtureLayer; got "
        f"{type(layer).__name__}"
    )


def _span_bounds(layer):
    """Proven bounds (linear, affine, centred linear, centred affine)."""
    M = layer.M
    if not layer._shift_only:
        return {"linear": M, "affine": M, "centred_linear": M - 1,
                "centred_affine": M - 1}
    d, bias = layer.d, layer.bias is not None
    return {"linear": min(M, d + 1 + bias), "affine": min(M, d + 1),
            "centred_linear": min(M - 1, d + bias), "centred_affine": min(M - 1, d)}


def _sample_contexts(layer, n, context_scale, rng):
    k = _context_dim(layer)
    return rng.standard_normal((n, k)) * (context_scale / math.sqrt(k))


def _defined_contexts(layer, n, context_scale, rng, max_draws=50):
    """`n` sampled contexts at which the layer gives a distribution, and how
    many draws were skipped. An activation may be undefined on part of the
    context space (ReLU normalisation where every logit is ≤ 0); the output
    set is that of the contexts where it is defined, so those are resampled.
    Where no sampled context is defined, the layer's own error is raised."""
    H = _sample_contexts(layer, n, context_scale, rng)
    try:
        layer(H)
        return H, 0
    except ValueError as exc:
        if "overflow" in str(exc):      # the layer's _overflow_error: scale, not domain
            raise
        first = exc
    kept, skipped = [], 0
    for _ in range(max_draws):
        for h in H:
            try:
                layer(h[None])
            except ValueError:
                skipped += 1
                continue
            kept.append(h)
        if len(kept) >= n:
            return np.array(kept[:n]), skipped
        H = _sample_contexts(layer, n, context_scale, rng)
    if not kept:
        raise first
    raise ValueError(
        f"output_set_dimension: {layer!r} gives a distribution at only {len(kept)} "
        f"of {len(kept) + skipped} sampled contexts (its activation is undefined at "
        f"the others), fewer than n_samples = {n}; pass a layer with a bias, or "
        "fewer n_samples")


def _outputs(layer, H, log_floor):
    Y = layer(H).astype(np.float64, copy=False)
    clipped = bool(np.isneginf(Y).any())
    if clipped:
        Y = np.maximum(Y, log_floor)
    return Y, clipped


@dataclass(frozen=True, eq=False)
class OutputSetDimension(Result):
    """Span and local dimension of a layer's sampled log-output set.

    Attributes
    ----------
    linear, affine, centred_linear, centred_affine : Rank
        Dimension of the linear / affine span of the sampled outputs, and of
        the outputs with every row centred (the shift-invariant set).
    local : Rank
        Largest Jacobian rank over the sampled points.
    bounds : dict
        The proven upper bounds (``M`` where none is known), and ``"local"``.
    n_samples : int
    history : tuple of (int, int, int)
        ``(samples, linear, affine)`` at each checkpoint.
    converged : bool
        Whether the estimate stopped increasing before it was reported.
    clipped : bool
        Whether ``-inf`` outputs (sparse activations) were clipped at
        `log_floor` to measure the span.
    note : str
    """

    linear: Rank
    affine: Rank
    centred_linear: Rank
    centred_affine: Rank
    local: Rank
    bounds: dict
    n_samples: int
    history: tuple = field(repr=False)
    converged: bool = True
    clipped: bool = False
    note: str = ""

    def plot(self, ax=None):
        """The span estimate against the samples used (linear and affine),
        with the proven bound. Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        n, lin, aff = (np.array(v) for v in zip(*self.history))
        ax.plot(n, lin, "o-", ms=4, label="linear span")
        ax.plot(n, aff, "s--", ms=4, mfc="none", label="affine span")
        ax.axhline(self.bounds["linear"], color="0.4", ls=":", lw=0.8,
                   label=f"bound {self.bounds['linear']}")
        ax.axhline(self.local.value, color="C3", ls="-.", lw=0.8,
                   label=f"local (Jacobian) {self.local.value}")
        ax.set(xlabel="samples used", ylabel="dimension",
               title="output-set dimension" + ("" if self.converged else
                                               " (not converged)"))
        ax.legend(fontsize=7)
        return ax

    def __repr__(self):
        rows = [("linear span", self.linear, self.bounds["linear"]),
                ("affine span", self.affine, self.bounds["affine"]),
                ("centred linear", self.centred_linear, self.bounds["centred_linear"]),
                ("centred affine", self.centred_affine, self.bounds["centred_affine"]),
                ("local (Jacobian)", self.local, self.bounds["local"])]
        lines = [f"OutputSetDimension ({self.n_samples} samples, "
                 f"{'converged' if self.converged else 'NOT converged'}"
                 f"{', -inf clipped' if self.clipped else ''}):"]
        lines += [f"  {name:<17} {r.value:>6}  (bound {bound})" for name, r, bound in rows]
        lines.append(f"  tolerance: {self.linear.rule}")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


def _checkpoint_ranks(Y, n, shape_full, scale):
    """Linear and affine Press ranks of the first `n` rows of `Y`."""
    X = Y[:n]
    s = singular_values(X)
    lin = rank_from_singular_values(s, "press", shape=shape_full, scale=scale)
    s_aff = singular_values(X - X.mean(axis=0))
    aff = rank_from_singular_values(s_aff, "press", shape=shape_full, scale=scale)
    return lin, aff


def output_set_dimension(layer, n_samples=None, *, seed=None, context_scale=1.0,
                         n_local=5, log_floor=DEFAULT_LOG_FLOOR):
    r"""Dimension of the span of ``{log f(W h) : h}`` and of the output manifold.

    Samples ``n_samples`` contexts ``h ~ N(0, context_scale²/d · I)`` (the
    layer's parameters fixed) and measures the linear and affine spans of
    their log-outputs with the Press threshold, scaled by σ_1 of the
    uncentred outputs (centring shrinks σ_1 but not the rounding errors). The
    estimate is recomputed at a quarter, half, three quarters and all of the
    samples; it has *converged* when it reached the proven bound, or when the
    last two agree and are below the number of samples at the earlier one.

    Parameters
    ----------
    layer : PointwiseLayer or MixtureLayer
    n_samples : int, optional
        Default: the proven linear bound (``M`` where none is known) + 20.
        Fewer than that bound + 2 cannot show the span reaching it and raise.
    seed : None, int or numpy.random.Generator
    context_scale : float
        Typical norm of the sampled contexts.
    n_local : int
        Points at which the Jacobian rank is measured (the maximum is kept).
    log_floor : float
        Clipping floor for the ``-inf`` outputs of sparse activations, below 0.

    Returns
    -------
    OutputSetDimension

    See Also
    --------
    local_dimension : the Jacobian rank at given contexts.
    estimate_hidden_size : ``d`` from observed outputs.
    rankbottleneck.numerical_rank : the rank of one sampled matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((12, 3))
    >>> dims = rb.output_set_dimension(rb.PointwiseLayer(W), seed=0)
    >>> dims.linear.value, dims.centred_linear.value, dims.converged   # d + 1, d
    (4, 3, True)
    """
    _context_dim(layer)
    bounds = _span_bounds(layer)
    needed = bounds["linear"] + 2
    if n_samples is None:
        n_samples = bounds["linear"] + 20
    n_samples = _as_int(n_samples, "n_samples")
    if n_samples < needed:
        raise ValueError(
            f"n_samples must be at least {needed} to resolve the span bound "
            f"{bounds['linear']} of this layer (bound + 2); got {n_samples!r}"
        )
    context_scale = _as_scalar(context_scale, "context_scale", low=0, low_open=True)
    n_local = _as_int(n_local, "n_local", low=1)
    # a floor at or above 0 would clip every log-probability
    log_floor = _as_scalar(log_floor, "log_floor", high=0, high_open=True)
    _check_fits_in_memory(
        3 * n_samples * layer.M * 8,
        f"the {n_samples}×{layer.M} float64 log-outputs of n_samples contexts",
        "pass fewer n_samples")
    rng = np.random.default_rng(seed)
    H, skipped = _defined_contexts(layer, n_samples, context_scale, rng)
    Y, clipped = _outputs(layer, H, log_floor)
    s1 = float(singular_values(Y, top=1)[0])
    history = []
    checkpoints = sorted({max(2, n_samples * q // 4) for q in (1, 2, 3, 4)})
    for n in checkpoints:
        lin, aff = _checkpoint_ranks(Y, n, Y.shape, s1)
        history.append((n, lin.value, aff.value))
    # Converged: the span reached its proven bound (it cannot grow further),
    # or it stopped growing while there were spare samples.
    converged = history[-1][1] >= bounds["linear"] or (
        len(history) >= 2 and history[-1][1:] == history[-2][1:]
        and history[-1][1] < history[-2][0])
    C = Y - Y.mean(axis=1, keepdims=True)
    c_lin = rank_from_singular_values(singular_values(C), "press", shape=Y.shape,
                                      scale=s1)
    c_aff = rank_from_singular_values(singular_values(C - C.mean(axis=0)), "press",
                                      shape=Y.shape, scale=s1)
    local = local_dimension(layer, H[:n_local])
    bounds = dict(bounds, local=_context_dim(layer))
    note = "" if converged else (
        "the span was still growing at the last checkpoint: pass more n_samples "
        f"(at least {bounds['linear'] + 20}) or a larger context_scale")
    if skipped:
        note = "; ".join(filter(None, [note, (
            f"{skipped} sampled contexts were skipped: the layer gives no "
            "distribution there (its activation is undefined, e.g. no positive "
            "logit under ReLU normalisation)")]))
    return OutputSetDimension(lin, aff, c_lin, c_aff, local, bounds, int(n_samples),
                              tuple(history), converged, clipped, note)


def local_dimension(layer, contexts):
    r"""Largest rank of the Jacobian of ``h ↦ log f(W h + b)`` over `contexts`.

    Central differences with step ``δ = ε^{1/3} max(1, |h_k|)`` (error about
    ``ε^{2/3} ≈ 4e-11`` relative); the rank uses ``rtol = 1e-6``. For sparse
    activations only the coordinates in the support at ``h`` (finite at
    ``h ± δ e_k`` too) are differentiated.

    Parameters
    ----------
    layer : PointwiseLayer or MixtureLayer
    contexts : (n, d) array_like

    Returns
    -------
    Rank
        ``measure="rtol"``; the rule names the step and the tolerance.

    See Also
    --------
    output_set_dimension : the span of the whole output set.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((12, 3))
    >>> H = np.random.default_rng(1).standard_normal((4, 3))
    >>> rb.local_dimension(rb.PointwiseLayer(W), H).value           # d
    3
    """
    k = _context_dim(layer)
    H = _as_float_array(contexts, "contexts", ndim=2).astype(np.float64)
    if H.shape[1] != k:
        raise ValueError(
            f"contexts must have {k} columns to match the layer; got shape {H.shape}"
        )
    eps = np.finfo(np.float64).eps
    best = 0
    for h in H:
        step = eps ** (1 / 3) * np.maximum(1.0, np.abs(h))
        E = np.diag(step)
        plus, minus = layer(h + E), layer(h - E)  # (k, M) each
        support = np.all(np.isfinite(plus) & np.isfinite(minus), axis=0)
        J = (plus[:, support] - minus[:, support]) / (2 * step[:, None])
        if J.size:
            s = singular_values(J)
            r = rank_from_singular_values(s, "rtol", shape=J.shape,
                                          rtol=_JACOBIAN_RTOL)
            best = max(best, r.value)
    return Rank(best, "rtol", None,
                f"max over {H.shape[0]} points of rank(∂F/∂h), central differences "
                f"δ = ε^(1/3)·max(1,|h|), σ > {_JACOBIAN_RTOL:g}·σ1")


# ---------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------


def argmax_changes(layer, contexts):
    r"""Rows whose mode differs from the argmax of the plain logits.

    The plain logits are ``W h + b`` for a pointwise layer and the MoC logits
    ``W Σ_k π_k h_k + b`` for a mixture. A strictly increasing pointwise map
    (sigsoftmax, GSS with k > 0, PLIF) changes none (Ganea et al. 2019); MoS
    can.

    Returns
    -------
    (n,) bool ndarray
        True where ``argmax log p ≠ argmax logits``.

    See Also
    --------
    rankbottleneck.argmaxable_under : which words can be the argmax at all.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((12, 3))
    >>> H = np.random.default_rng(1).standard_normal((50, 3))
    >>> changed = rb.argmax_changes(rb.PointwiseLayer(W, activation="sigsoftmax"), H)
    >>> changed.shape, bool(changed.any())        # an increasing map keeps every argmax
    ((50,), False)
    """
    _context_dim(layer)
    if isinstance(layer, PointwiseLayer):
        logits = layer.logits(contexts)
    else:
        # the plain logits of a mixture: those of its MoC control
        h = layer._component_contexts(contexts, kind="moc")[0][..., 0, :]
        logits = h @ layer.W.T + (0 if layer.bias is None else layer.bias)
    return np.argmax(layer(contexts), axis=-1) != np.argmax(logits, axis=-1)
