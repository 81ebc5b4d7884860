r"""Expressivity experiments: fit a target distribution with each output layer.

Rank is a proxy; what a modeller cares about is how close a layer can get to
a target and whether it gets the mode right — the two metrics of Ganea et al.
2019 [1]_ (cross-entropy and mode estimation). :func:`fit_log_probs` learns free
contexts, word embeddings, an optional bias and the activation's own
parameters by minimising the mean cross-entropy

.. math:: L = -\frac{1}{N} \sum_{i,j} P^*_{ij} \log p_{ij}

with analytic gradients and L-BFGS-B. ``L - H(P^*) = KL(P^* ‖ p)`` (mean over
rows), so the entropy of the target is the floor.

Fittable: every dense activation that declares a logit map and its
derivative (softmax, sigsoftmax, GSS with ``c, k`` fixed or learned,
sigmoid-normalisation, PLIF with its slopes learned, or a user's own), and
the mixtures MoS, MoSS, MoC. Not fittable by cross-entropy: the sparse
activations (ReLU-normalisation, t-/r-softmax, sparsemax, entmax). They give ``p_ij = 0`` exactly, so any target mass on
such a word makes the cross-entropy infinite and its gradient undefined;
their own losses (the sparsemax / Fenchel–Young losses of Martins & Astudillo
2016 [2]_ and Peters et al. 2019 [3]_) do not measure the KL divergence the other
layers are compared by, so mixing them into one table would compare
different quantities. They are refused with that reason.

References
----------
.. [1] O.-E. Ganea, S. Gelly, G. Bécigneul, A. Severyn, "Breaking the softmax
   bottleneck via learnable monotonic pointwise non-linearities", ICML 2019,
   arXiv:1902.08077.
.. [2] A. F. T. Martins, R. F. Astudillo, "From softmax to sparsemax",
   ICML 2016, arXiv:1602.02068.
.. [3] B. Peters, V. Niculae, A. F. T. Martins, "Sparse sequence-to-sequence
   models", ACL 2019, arXiv:1905.05702.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from . import activations as act
from ._progress import progress_bar
from ._result import Result
from ._threads import _blas_threads
from ._validation import (
    _as_bool,
    _as_float_array,
    _as_int,
    _as_rng,
    _as_scalar,
    _check_fits_in_memory,
    _has_bias,
)
from .layers import MixtureLayer, PointwiseLayer
from .reports import rank_report

__all__ = [
    "MIXTURES",
    "FitResult",
    "fit_log_probs",
    "loss_and_gradient",
    "expressivity_sweep",
    "Sweep",
]

#: mixture layers by name: (kind, default base activation)
MIXTURES = {"mos": ("mos", "softmax"), "moss": ("mos", "sigsoftmax"),
            "moc": ("moc", "softmax")}
_SPARSE_REASON = (
    "gives probability exactly 0, so cross-entropy is infinite wherever the "
    "target puts mass there and has no gradient; its own (Fenchel-Young) loss "
    "does not measure the KL divergence the other layers are compared by"
)


# ---------------------------------------------------------------------------
# What is fitted
# ---------------------------------------------------------------------------


def _resolve_activation(activation, base=None):
    """``(label, kind, Activation)`` of a fittable layer, or a clear error.

    `kind` is None for a pointwise layer, ``"mos"``/``"moc"`` for a mixture.
    Fitting asks the activation for two capabilities: the logit map ``φ``
    (``log p = φ(z) - lse(φ(z))``) and its derivative (unless the map is a
    shift, whose derivative is 1).
    """
    kind = None
    if isinstance(activation, str) and activation in MIXTURES:
        kind, default_base = MIXTURES[activation]
        spec = act.get(default_base if base is None else base)
        label = activation if base is None else f"{activation}[{spec.name}]"
    else:
        if base is not None:
            raise TypeError("base is for the mixtures "
                            f"{sorted(MIXTURES)}; got activation={activation!r}")
        try:
            spec = act.get(activation)
        except ValueError:
            raise ValueError(
                f"activation must be one of {sorted(act.available())} or "
                f"{sorted(MIXTURES)} (or an Activation); got {activation!r}"
            ) from None
        label = spec.name
    if spec.sparse:
        raise ValueError(f"{spec.name!r} is not fittable by cross-entropy: it "
                         + _SPARSE_REASON)
    purpose = "fit_log_probs needs to write log p = φ(z) - lse(φ(z))"
    spec.require("logit_map", purpose)
    if not spec.shift_only:
        spec.require("derivative", "fit_log_probs needs for its analytic gradient")
    return label, kind, spec


def _derivative(spec, Z, params):
    """``φ'(Z)``, or None for a shift (``φ' = 1``)."""
    return None if spec.shift_only else spec.logit_map_derivative(Z, **params)


# ---------------------------------------------------------------------------
# Parameter packing
# ---------------------------------------------------------------------------


class _Spec:
    """Shapes and names of the free parameters of one fitting problem.

    ``act`` is the :class:`~rankbottleneck.activations.Activation`, ``kind``
    None (pointwise) or ``"mos"``/``"moc"``, ``params`` the activation's
    bound parameters and ``learn`` the names of those that are learned.
    """

    def __init__(self, act, kind, N, M, d, bias, params, learn=(), n_components=3):
        self.act, self.kind = act, kind
        self.N, self.M, self.d, self.bias = N, M, d, bias
        self.params, self.learn = dict(params), tuple(learn)
        shapes = {}
        if kind is not None:
            K = n_components
            shapes.update(G=(N, d), U=(K, d), P=(K, d, d), c=(K, d))
        else:
            shapes["H"] = (N, d)
        shapes["W"] = (M, d)
        if bias:
            shapes["b"] = (M,)
        for name in self.learn:
            # learned parameters live beside the weights, under their own names
            shapes["param:" + name] = np.shape(self.params[name])
        self.shapes = shapes
        self.sizes = {k: int(np.prod(s)) for k, s in shapes.items()}
        self.size = sum(self.sizes.values())

    def unpack(self, x):
        out, start = {}, 0
        for key, shape in self.shapes.items():
            n = self.sizes[key]
            out[key] = x[start:start + n].reshape(shape)
            start += n
        return out

    def pack(self, parts):
        return np.concatenate([np.asarray(parts[k], dtype=np.float64).ravel()
                               for k in self.shapes])

    def bounds(self):
        """L-BFGS-B box: free weights, the activation's declared bounds on
        its learned parameters."""
        out = []
        for key, n in self.sizes.items():
            box = (None, None)
            if key.startswith("param:"):
                box = tuple(self.act.param_bounds.get(key[6:], (None, None)))
            out += [box] * n
        return out

    def activation_params(self, parts):
        """The activation's parameters at the point `parts`."""
        params = dict(self.params)
        for name in self.learn:
            value = parts["param:" + name]
            params[name] = float(value) if value.ndim == 0 else value
        return params


# ---------------------------------------------------------------------------
# Loss and gradient
# ---------------------------------------------------------------------------


def _log_softmax_and_probs(Phi, axis=-1):
    """``log p`` and ``p`` of ``softmax(Phi)``, sharing one exponential."""
    y = Phi - np.max(Phi, axis=axis, keepdims=True)
    e = np.exp(y)
    s = np.sum(e, axis=axis, keepdims=True)
    return y - np.log(s), e / s


def _param_grads(spec, Z, dPhi, params):
    """Gradients of the learned activation parameters from ``dL/dφ``."""
    if not spec.learn:
        return {}
    grads = spec.act.param_gradients(Z, dPhi, **params)
    return {"param:" + name: grads[name] for name in spec.learn}


def _pointwise_back(spec, Z, dlogp, params):
    """log p, dL/dZ and parameter gradients for a pointwise layer."""
    Phi = spec.act.logit_map(Z, **params)
    logp, p = _log_softmax_and_probs(Phi)
    dPhi = dlogp - p * dlogp.sum(axis=-1, keepdims=True)
    dphi = _derivative(spec.act, Z, params)
    dZ = dPhi if dphi is None else dPhi * dphi
    return logp, dZ, _param_grads(spec, Z, dPhi, params)


def _xent(target, logp):
    # every fittable activation is dense: log p is finite, so 0 · log p = 0
    return -np.vdot(target, logp)


def loss_and_gradient(x, spec, target):
    """Mean cross-entropy and its gradient with respect to the flat `x`."""
    p = spec.unpack(x)
    prm = spec.activation_params(p)
    N = spec.N
    dlogp = -target / N
    W = p["W"]
    b = p.get("b", 0.0)
    grads = {}
    if spec.kind is None:
        H = p["H"]
        Z = H @ W.T + b
        logp, dZ, g = _pointwise_back(spec, Z, dlogp, prm)
        grads.update(g)
        grads["H"] = dZ @ W
        grads["W"] = dZ.T @ H
        if spec.bias:
            grads["b"] = dZ.sum(axis=0)
        return _xent(target, logp) / N, spec.pack({**p, **grads}), logp
    G, U, P, c = p["G"], p["U"], p["P"], p["c"]
    logpi = act._log_normalize(G @ U.T)                       # (N, K)
    pi = np.exp(logpi)
    Hk = np.tanh(np.einsum("ng,kdg->nkd", G, P) + c)           # (N, K, d)
    if spec.kind == "moc":
        hbar = np.einsum("nk,nkd->nd", pi, Hk)
        Z = hbar @ W.T + b
        logp, dZ, g = _pointwise_back(spec, Z, dlogp, prm)
        grads.update(g)
        dhbar = dZ @ W
        grads["W"] = dZ.T @ hbar
        db = dZ.sum(axis=0)
        dpi = np.einsum("nd,nkd->nk", dhbar, Hk)             # dL/dπ
        dHk = pi[:, :, None] * dhbar[:, None, :]
        # through π = softmax(a), a = U g: dL/da = π ⊙ (dπ - Σ π dπ)
        da = pi * (dpi - np.sum(pi * dpi, axis=1, keepdims=True))
    else:
        Zk = Hk @ W.T + b                                      # (N, K, M)
        Phi = spec.act.logit_map(Zk, **prm)
        comp, pk = _log_softmax_and_probs(Phi)
        joint = logpi[:, :, None] + comp
        logp = act.logsumexp(joint, axis=1)
        resp = np.exp(joint - logp[:, None, :])                # π_k p_kj / p_j
        dcomp = dlogp[:, None, :] * resp
        dpi_log = dcomp.sum(axis=2)                            # dL/dlog π
        dPhi = dcomp - pk * dcomp.sum(axis=2, keepdims=True)
        dphi = _derivative(spec.act, Zk, prm)
        dZ = dPhi if dphi is None else dPhi * dphi
        grads.update(_param_grads(spec, Zk, dPhi, prm))
        grads["W"] = np.einsum("nkm,nkd->md", dZ, Hk)
        db = dZ.sum(axis=(0, 1))
        dHk = dZ @ W
        # through log π = log_softmax(a): dL/da = dlog π - π Σ dlog π
        da = dpi_log - pi * dpi_log.sum(axis=1, keepdims=True)
    du = dHk * (1 - Hk**2)
    grads["P"] = np.einsum("nkd,ng->kdg", du, G)
    grads["c"] = du.sum(axis=0)
    grads["U"] = da.T @ G
    grads["G"] = np.einsum("nkd,kdg->ng", du, P) + da @ U
    if spec.bias:
        grads["b"] = db
    return _xent(target, logp) / N, spec.pack({**p, **grads}), logp


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class FitResult(Result):
    """A fitted output layer and how close it got to the target.

    Attributes
    ----------
    activation : str
    d : int
    layer : PointwiseLayer or MixtureLayer
        The fitted layer; ``layer.log_prob_matrix(contexts)`` is the fit.
    contexts : ndarray
        The fitted contexts (``H``, or ``G`` for mixtures).
    log_probs : ndarray
        The fitted log-probability matrix.
    loss_history : ndarray
        Cross-entropy after each L-BFGS iteration.
    cross_entropy, entropy, kl : float
        Mean over rows; ``kl = cross_entropy - entropy`` is ``KL(P* ‖ p)``.
    mode_accuracy : float
        Fraction of rows whose argmax matches the target's.
    rank : RankReport
        Of the fitted log-probability matrix.
    n_iter : int
    converged : bool
    message : str
    seconds : float

    See Also
    --------
    fit_log_probs : makes one.
    expressivity_sweep : many, as rows.
    rankbottleneck.RankReport : its `rank`.

    Examples
    --------
    >>> from rankbottleneck import fit_log_probs
    >>> from rankbottleneck.synthetic import dirichlet_target
    >>> r = fit_log_probs(dirichlet_target(12, 6, seed=0), "softmax", d=2, max_iter=50)
    >>> r.log_probs.shape, r.layer.W.shape, r.contexts.shape
    ((12, 6), (6, 2), (12, 2))
    >>> bool(r.kl >= 0), bool(abs(r.kl - (r.cross_entropy - r.entropy)) < 1e-12)
    (True, True)
    """

    activation: str
    d: int
    layer: object = field(repr=False)
    contexts: np.ndarray = field(repr=False)
    log_probs: np.ndarray = field(repr=False)
    loss_history: np.ndarray = field(repr=False)
    cross_entropy: float = 0.0
    entropy: float = 0.0
    kl: float = 0.0
    mode_accuracy: float = 0.0
    rank: object = field(default=None, repr=False)
    n_iter: int = 0
    converged: bool = False
    message: str = ""
    seconds: float = 0.0

    def _as_dict_fields(self):
        # the layer and the matrices are large and rebuilt from the fit
        out = {k: v for k, v in super()._as_dict_fields().items()
               if k not in ("layer", "contexts", "log_probs")}
        out["shape"] = self.log_probs.shape
        return out

    def plot(self, ax=None):
        """Cross-entropy against L-BFGS iterations, with the target's entropy
        (the floor). Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        it = np.arange(1, self.loss_history.size + 1)
        ax.plot(it, self.loss_history, label=f"{self.activation}, d = {self.d}")
        ax.axhline(self.entropy, color="0.4", ls="--", lw=0.8,
                   label=f"entropy of the target {self.entropy:.3g}")
        ax.set(xlabel="L-BFGS iteration", ylabel="mean cross-entropy [nats]",
               title=f"KL {self.kl:.3g}, mode accuracy {self.mode_accuracy:.2f}")
        ax.legend(fontsize=7)
        return ax

    def __repr__(self):
        return (f"FitResult({self.activation}, d={self.d}: KL={self.kl:.4g} "
                f"(cross-entropy {self.cross_entropy:.4g}, floor {self.entropy:.4g}), "
                f"mode accuracy {self.mode_accuracy:.3f}, Press rank "
                f"{self.rank['press'].value if self.rank is not None else '?'}, "
                f"{self.n_iter} iterations, "
                f"{'converged' if self.converged else 'not converged: ' + self.message}"
                f", {self.seconds:.1f} s)")


def _check_target(target, log_target):
    name = "target"
    log_target = _as_bool(log_target, "log_target")
    T = _as_float_array(target, name, ndim=2, allow_neginf=log_target)
    T = T.astype(np.float64, copy=False)
    if log_target:
        T = np.exp(T)
    elif np.any(T < 0):
        i, j = (int(v) for v in np.argwhere(T < 0)[0])
        raise ValueError(f"target must be non-negative; got {T[i, j]} at ({i}, {j})")
    sums = T.sum(axis=1)
    off = np.abs(sums - 1)
    if np.any(off > 1e-6):
        i = int(np.argmax(off))
        raise ValueError(
            f"target rows must sum to 1 (within 1e-6); row {i} sums to {float(sums[i])!r}, "
            f"off by {off[i]:.3g}"
        )
    return T


def _init(spec, rng, T):
    N, M, d = spec.N, spec.M, spec.d
    scale = 1.0 / math.sqrt(d)
    parts = {"W": rng.standard_normal((M, d)) * scale}
    if spec.bias:
        # the bias starts at the log unigram distribution of the target
        parts["b"] = np.log(np.maximum(T.mean(axis=0), 1e-12))
        parts["b"] -= parts["b"].mean()
    if spec.kind is not None:
        K = spec.shapes["U"][0]
        parts.update(G=rng.standard_normal((N, d)), U=rng.standard_normal((K, d)) * scale,
                     P=rng.standard_normal((K, d, d)) * scale,
                     c=rng.standard_normal((K, d)) * 0.1)
    else:
        parts["H"] = rng.standard_normal((N, d)) * scale
    for name in spec.learn:
        parts["param:" + name] = spec.params[name]
    return spec.pack(parts)


def _check_learn(spec, learn, label):
    if isinstance(learn, str):
        learn = (learn,)
    try:
        learn = tuple(learn)
    except TypeError:
        raise TypeError(f"learn must be a sequence of parameter names; got "
                        f"{learn!r}") from None
    unknown = [n for n in learn if n not in spec.params]
    if unknown:
        raise ValueError(f"learn names parameters {unknown} that {label!r} does not "
                         f"have; its parameters: {sorted(spec.params) or 'none'}")
    if learn:
        spec.require("param_gradients", "fit_log_probs needs to learn "
                     f"{list(learn)}")
    return learn


def _check_param_bounds(activation, learn):
    """Refuse a declared box of a learned parameter that L-BFGS-B would
    choke on later, deep inside scipy, without naming the parameter."""
    for name in learn:
        box = activation.param_bounds.get(name, (None, None))
        what = (f"param_bounds[{name!r}] of activation {activation.name!r} must be "
                "(low, high), each a real number or None, with low <= high")
        if not isinstance(box, (tuple, list)) or len(box) != 2:
            raise TypeError(f"{what}; got {box!r}")
        for end in box:
            number = (isinstance(end, (int, float, np.integer, np.floating))
                      and not isinstance(end, (bool, np.bool_)))
            if end is not None and not number:
                raise TypeError(f"{what}; got {box!r}")
            if number and np.isnan(end):
                raise ValueError(f"{what}; got {box!r}")
        low, high = box
        if low is not None and high is not None and low > high:
            raise ValueError(f"{what}; got low {low!r} > high {high!r}")


def fit_log_probs(target, activation="softmax", d=16, *, params=None, learn=(),
                  base=None, n_components=3, has_bias=False, log_target=False, seed=0,
                  max_iter=500, tol=1e-10, bias=None):
    r"""Fit a target distribution matrix with one output layer.

    Parameters
    ----------
    target : (N, M) array_like
        ``P*``: rows are distributions (or their logs with `log_target`).
    activation : str or Activation
        A dense registered activation with a logit map and its derivative
        (softmax, sigsoftmax, GSS, sigmoid-normalisation, PLIF, or a user's
        own), or a mixture of :data:`MIXTURES`: ``"mos"``, ``"moss"``,
        ``"moc"``.
    d : int
        Context dimension (for mixtures, of ``g`` and of the components).
    params : dict, optional
        The activation's parameters (initial values of the learned ones),
        e.g. ``{"c": 0.0, "k": 2.0}`` for GSS or
        ``{"theta": plif_init(100, 10.0), "bound": 10.0}`` for PLIF.
    learn : sequence of str
        Parameters of the activation to learn too (the activation must
        declare ``param_gradients``): ``("c", "k")`` for GSS, ``("theta",)``
        for PLIF's slopes.
    base : str or Activation, optional
        For a mixture: the activation of its components instead of the
        default (softmax for MoS and MoC, sigsoftmax for MoSS).
    n_components : int
        Mixture components ``K``.
    has_bias : bool
        Learn an output bias.
    log_target : bool
        `target` holds log-probabilities.
    seed : None, int or numpy.random.Generator
        Initialisation.
    max_iter : int
        L-BFGS-B iterations.
    tol : float
        L-BFGS-B ``ftol`` and ``gtol``, ``≥ 0``.
    bias : bool, optional
        The old spelling of `has_bias`; deprecated.

    Returns
    -------
    FitResult

    Raises
    ------
    TypeError
        When the activation lacks a capability fitting needs (the message
        names it), `has_bias` or `log_target` is not a bool, or the declared
        ``param_bounds`` of a learned parameter are not two numbers or None.
    ValueError
        When an argument is out of range, or the declared bounds of a
        learned parameter have ``low > high``.
    FloatingPointError
        When the loss or gradient becomes NaN/inf, naming the iteration.

    See Also
    --------
    expressivity_sweep : every activation at every d and seed.
    FitResult : what is returned.
    rankbottleneck.rank_report : the ranks of `FitResult.log_probs`.
    rankbottleneck.synthetic.dirichlet_target : high-rank targets to fit.

    Notes
    -----
    The loss is the mean cross-entropy ``-Σ_i P*_i log p_i`` over rows,
    minimised by L-BFGS-B with analytic gradients through the activation's
    logit map ``φ`` and its derivative; ``kl`` is the same loss less the
    target's entropy.

    Examples
    --------
    A softmax layer with d = 2 is held to rank d + 1 = 3; a mixture of
    softmaxes with the same d is not, and fits better:

    >>> from rankbottleneck import fit_log_probs
    >>> from rankbottleneck.synthetic import dirichlet_target
    >>> T = dirichlet_target(12, 6, seed=0)           # 12 rows over 6 words
    >>> soft = fit_log_probs(T, "softmax", d=2, max_iter=50)
    >>> soft.rank["press"].value
    3
    >>> mos = fit_log_probs(T, "mos", d=2, max_iter=50)
    >>> mos.rank["press"].value, bool(mos.kl < soft.kl)
    (6, True)
    """
    bias = _has_bias(has_bias, bias, "fit_log_probs")
    T = _check_target(target, log_target)
    label, kind, spec_act = _resolve_activation(activation, base)
    d = _as_int(d, "d", low=1)
    max_iter = _as_int(max_iter, "max_iter", low=1)
    n_components = _as_int(n_components, "n_components", low=1)
    tol = _as_scalar(tol, "tol", low=0)
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{name: value}} of the activation's "
                        f"parameters, or None; got {params!r}")
    bound_params = spec_act.check(dict(params or {}))
    learn = _check_learn(spec_act, learn, label)
    _check_param_bounds(spec_act, learn)
    N, M = T.shape
    spec = _Spec(spec_act, kind, N, M, d, bias, bound_params, learn,
                 n_components)
    # L-BFGS keeps 10 pairs of parameter vectors; the loss needs a few N × M
    # arrays (N × K × M for a mixture)
    width = n_components if kind is not None else 1
    _check_fits_in_memory(8 * (24 * spec.size + 8 * N * M * width),
                          f"fitting {label} with d = {d} to a {N}×{M} target",
                          "pass a smaller d (or fewer components)")
    rng = _as_rng(seed)
    x0 = _init(spec, rng, T)
    entropy = float(-np.sum(np.where(T > 0, T * np.log(np.where(T > 0, T, 1)), 0)) / N)

    history = []
    state = {"iter": 0}

    def fun(x):
        loss, grad, _ = loss_and_gradient(x, spec, T)
        if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
            raise FloatingPointError(
                f"fitting {label} (d={d}) produced a non-finite loss or "
                f"gradient at iteration {state['iter']}: lower the learning scale "
                "(bound, initial c/k) or the iteration count"
            )
        return loss, grad

    def callback(intermediate_result):
        state["iter"] += 1
        history.append(float(intermediate_result.fun))

    start = time.perf_counter()
    # the loss's largest product, N × d by d × M (per component)
    with _blas_threads(2 * N * M * d * width):
        res = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                      callback=callback,
                                      bounds=spec.bounds() if spec.learn else None,
                                      options={"maxiter": int(max_iter), "ftol": tol,
                                               "gtol": tol})
        loss, _, logp = loss_and_gradient(res.x, spec, T)
    seconds = time.perf_counter() - start
    p = spec.unpack(res.x)
    fitted = spec.activation_params(p)
    b = p.get("b")
    if kind is not None:
        layer = MixtureLayer(p["W"], p["U"], p["P"], p["c"], b, base=spec_act,
                             kind=kind, params=fitted)
        contexts = p["G"]
    else:
        layer = PointwiseLayer(p["W"], b, spec_act, fitted)
        contexts = p["H"]
    mode = float(np.mean(np.argmax(logp, axis=1) == np.argmax(T, axis=1)))
    return FitResult(activation=label, d=d, layer=layer, contexts=contexts,
                     log_probs=logp, loss_history=np.array(history),
                     cross_entropy=float(loss), entropy=entropy,
                     kl=float(loss) - entropy, mode_accuracy=mode,
                     rank=rank_report(logp, d=int(d), has_bias=bool(bias)),
                     n_iter=int(res.nit), converged=bool(res.success),
                     message=str(res.message), seconds=seconds)


# ---------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sweep(Result):
    """Rows of an expressivity sweep (activation × d × seed), with a plot."""

    rows: list

    def __repr__(self):
        head = f"{'activation':<20}{'d':>5}{'seed':>6}{'KL':>11}{'mode acc':>10}{'press':>7}"
        lines = [head] + [
            f"{r['activation']:<20}{r['d']:>5}{r['seed']:>6}{r['kl']:>11.4g}"
            f"{r['mode_accuracy']:>10.3f}{r['press_rank']:>7}" for r in self.rows]
        return "\n".join(lines)

    def plot(self, axes=None):
        """KL (left) and mode accuracy (right) against d, mean over seeds."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        names = list(dict.fromkeys(r["activation"] for r in self.rows))
        # distinct dashes and markers, so that coinciding curves stay visible
        styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "v"), ("-", "D"),
                  ("--", "x"), (":", "+")]
        for n, name in enumerate(names):
            sel = [r for r in self.rows if r["activation"] == name]
            dims = sorted({r["d"] for r in sel})
            ls, marker = styles[n % len(styles)]
            for ax, key in zip(axes, ("kl", "mode_accuracy")):
                ax.plot(dims, [np.mean([r[key] for r in sel if r["d"] == d])
                               for d in dims], ls=ls, marker=marker, ms=4,
                        mfc="none", label=name)
        axes[0].set_yscale("log")
        axes[0].set_ylabel("KL(P* ‖ p) [nats per row]")
        axes[1].set_ylabel("mode accuracy")
        for ax in axes:
            ax.set_xlabel("context dimension d")
            ax.set_xscale("log", base=2)
        axes[1].legend(fontsize=7)
        return axes


def expressivity_sweep(target, *, activations=("softmax", "sigsoftmax", "gss", "mos"),
                       dims=(4, 8, 16), seeds=(0,), params=None, learn=None,
                       max_iter=300, progress=None, **kwargs):
    """Fit every activation at every d and seed; one row per fit.

    Parameters
    ----------
    target : (N, M) array_like
        As for :func:`fit_log_probs`.
    activations : sequence of str
        Names as for :func:`fit_log_probs` (a single string is refused, so
        that ``"softmax"`` is not read as seven letters).
    dims, seeds : sequence of int
    params, learn : dict, optional
        Per activation name, the ``params`` and ``learn`` arguments of
        :func:`fit_log_probs`, e.g. ``params={"plif": {"theta":
        plif_init(100, 10.0), "bound": 10.0}}, learn={"plif": ("theta",)}``.
    max_iter : int
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).
    **kwargs
        Passed to :func:`fit_log_probs` for every fit.

    Returns
    -------
    Sweep
        Rows hold ``activation, d, seed, kl, cross_entropy, entropy,
        mode_accuracy, press_rank, effective_rank_1e-3, n_iter, converged,
        seconds``.

    See Also
    --------
    fit_log_probs : one fit.

    Examples
    --------
    >>> from rankbottleneck import expressivity_sweep
    >>> from rankbottleneck.synthetic import dirichlet_target
    >>> s = expressivity_sweep(dirichlet_target(12, 6, seed=0),
    ...                        activations=("softmax", "mos"), dims=(1, 2), max_iter=20)
    >>> [(r["activation"], r["d"], r["press_rank"]) for r in s.rows]
    [('softmax', 1, 2), ('softmax', 2, 3), ('mos', 1, 6), ('mos', 2, 6)]
    """
    if isinstance(activations, str):
        raise TypeError("activations must be a sequence of names, e.g. "
                        f"({activations!r},); got the string {activations!r}")
    params, learn = dict(params or {}), dict(learn or {})
    _check_target(target, kwargs.get("log_target", False))
    for name in activations:
        _resolve_activation(name, kwargs.get("base"))
    for what, table in (("params", params), ("learn", learn)):
        stray = sorted(set(table) - set(activations))
        if stray:
            raise ValueError(f"{what} names {stray}, which are not among "
                             f"activations {list(activations)}")
    rows = []
    with progress_bar(len(activations) * len(dims) * len(seeds),
                      "expressivity_sweep", progress, unit="fit") as bar:
        for name in activations:
            for d in dims:
                for seed in seeds:
                    r = fit_log_probs(target, name, d, seed=seed, max_iter=max_iter,
                                      params=params.get(name),
                                      learn=learn.get(name, ()), **kwargs)
                    rows.append({
                        "activation": name, "d": d, "seed": seed, "kl": r.kl,
                        "cross_entropy": r.cross_entropy, "entropy": r.entropy,
                        "mode_accuracy": r.mode_accuracy,
                        "press_rank": r.rank["press"].value,
                        "effective_rank_1e-3": r.rank["effective(1e-03)"].value,
                        "n_iter": r.n_iter, "converged": r.converged,
                        "seconds": r.seconds})
                    bar.set_postfix_str(f"{name} d={d} seed={seed}", refresh=False)
                    bar.update()
    return Sweep(rows)
