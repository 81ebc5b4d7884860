r"""Expressivity experiments: fit a target distribution with each output layer.

Rank is a proxy; what a modeller cares about is how close a layer can get to
a target and whether it gets the mode right — the two metrics of Ganea et al.
2019 (cross-entropy and mode estimation). :func:`fit_log_probs` learns free
contexts, word embeddings, an optional bias and the activation's own
parameters by minimising the mean cross-entropy

.. math:: L = -\frac{1}{N} \sum_{i,j} P^*_{ij} \log p_{ij}

with analytic gradients and L-BFGS-B. ``L - H(P^*) = KL(P^* ‖ p)`` (mean over
rows), so the entropy of the target is the floor.

Fittable: softmax, sigsoftmax, GSS (``c, k`` fixed or learned),
sigmoid-normalisation, PLIF (slopes learned), MoS, MoSS, MoC. Not fittable by
cross-entropy: the sparse activations (ReLU-normalisation, t-/r-softmax,
sparsemax, entmax). They give ``p_ij = 0`` exactly, so any target mass on
such a word makes the cross-entropy infinite and its gradient undefined;
their own losses (the sparsemax / Fenchel–Young losses of Martins & Astudillo
2016 and Peters et al. 2019) do not measure the KL divergence the other
layers are compared by, so mixing them into one table would compare
different quantities. They are refused with that reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from . import activations as act
from ._validation import _as_float_array, _as_scalar
from .layers import MixtureLayer, PointwiseLayer

__all__ = [
    "FITTABLE",
    "FitResult",
    "fit_log_probs",
    "loss_and_gradient",
    "expressivity_sweep",
    "Sweep",
]

POINTWISE = ("softmax", "sigsoftmax", "gss", "sigmoid_normalized", "plif")
MIXTURES = {"mos": ("mos", "softmax"), "moss": ("mos", "sigsoftmax"),
            "moc": ("moc", "softmax")}
FITTABLE = POINTWISE + tuple(MIXTURES)
_SPARSE_REASON = (
    "gives probability exactly 0, so cross-entropy is infinite wherever the "
    "target puts mass there and has no gradient; its own (Fenchel-Young) loss "
    "does not measure the KL divergence the other layers are compared by"
)


# ---------------------------------------------------------------------------
# Logit maps and their derivatives
# ---------------------------------------------------------------------------


def _sigmoid(x):
    return np.exp(-act.softplus(-x))


def _softplus_sigmoid(x):
    """``softplus(x)`` and ``σ(x)`` from one ``exp(-|x|)``, both stable."""
    e = np.exp(-np.abs(x))
    sp = np.log1p(e) + np.maximum(x, 0)
    inv = 1 / (1 + e)
    return sp, np.where(x >= 0, inv, e * inv)


def _phi(name, Z, prm):
    """``φ(Z)`` and ``φ'(Z)`` of ``log p = φ(z) - lse(φ(z))``."""
    if name == "softmax":
        return Z, None
    if name == "sigsoftmax":
        sp, sig = _softplus_sigmoid(-Z)      # φ = z - softplus(-z)
        return Z - sp, 1 + sig
    if name == "gss":
        c, k = prm["c"], prm["k"]
        u = Z - c
        sp, sig = _softplus_sigmoid(u)
        return k * u + c - (k - 1) * sp, k - (k - 1) * sig
    if name == "sigmoid_normalized":
        sp, sig = _softplus_sigmoid(-Z)
        return -sp, sig
    if name == "plif":
        slopes, bound = act.softplus(prm["theta"]), prm["bound"]
        K = slopes.shape[0]
        delta = 2 * bound / K
        knots = -bound + delta * np.arange(K)
        offsets = delta * np.concatenate(([0.0], np.cumsum(slopes[:-1])))
        k = np.clip(np.floor((Z + bound) / delta), 0, K - 1).astype(np.intp)
        prm["_plif"] = (k, knots, delta)  # reused by the theta gradient
        return (Z - knots[k]) * slopes[k] + offsets[k], slopes[k]
    raise ValueError(f"no logit map for {name!r}")  # pragma: no cover


def _param_grads(name, Z, dPhi, prm):
    """Gradients of the activation's own parameters from ``dL/dφ``."""
    if name == "gss" and prm.get("_learn"):
        u = Z - prm["c"]
        k = prm["k"]
        s = _sigmoid(u)
        return {"c": np.sum(dPhi * (1 - k + (k - 1) * s)),
                "k": np.sum(dPhi * (u - act.softplus(u)))}
    if name == "plif":
        k, knots, delta = prm["_plif"]
        K = knots.shape[0]
        own = np.bincount(k.ravel(), (dPhi * (Z - knots[k])).ravel(), minlength=K)
        mass = np.bincount(k.ravel(), dPhi.ravel(), minlength=K)
        # f depends on w_m through the piece it lies in and every piece above
        above = np.concatenate((np.cumsum(mass[::-1])[::-1][1:], [0.0]))
        dslope = own + delta * above
        return {"theta": dslope * _sigmoid(prm["theta"])}
    return {}


# ---------------------------------------------------------------------------
# Parameter packing
# ---------------------------------------------------------------------------


class _Spec:
    """Shapes and names of the free parameters of one fitting problem."""

    def __init__(self, name, N, M, d, bias, prm):
        self.name, self.N, self.M, self.d, self.bias = name, N, M, d, bias
        self.prm = prm
        shapes = {}
        if name in MIXTURES:
            K = prm["n_components"]
            shapes.update(G=(N, d), U=(K, d), P=(K, d, d), c=(K, d))
        else:
            shapes["H"] = (N, d)
        shapes["W"] = (M, d)
        if bias:
            shapes["b"] = (M,)
        if name == "plif":
            shapes["theta"] = (prm["n_pieces"],)
        if name == "gss" and prm["_learn"]:
            shapes.update(c=(), k=())
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


def _activation_params(spec, p):
    prm = dict(spec.prm)
    if spec.name == "gss" and prm["_learn"]:
        prm["c"], prm["k"] = float(p["c"]), float(p["k"])
    if spec.name == "plif":
        prm["theta"] = p["theta"]
    return prm


# ---------------------------------------------------------------------------
# Loss and gradient
# ---------------------------------------------------------------------------


def _log_softmax_and_probs(Phi, axis=-1):
    """``log p`` and ``p`` of ``softmax(Phi)``, sharing one exponential."""
    y = Phi - np.max(Phi, axis=axis, keepdims=True)
    e = np.exp(y)
    s = np.sum(e, axis=axis, keepdims=True)
    return y - np.log(s), e / s


def _pointwise_back(name, Z, dlogp, prm):
    """log p, dL/dZ and parameter gradients for a pointwise layer."""
    Phi, dphi = _phi(name, Z, prm)
    logp, p = _log_softmax_and_probs(Phi)
    dPhi = dlogp - p * dlogp.sum(axis=-1, keepdims=True)
    dZ = dPhi if dphi is None else dPhi * dphi
    return logp, dZ, _param_grads(name, Z, dPhi, prm)


def _xent(target, logp):
    # every fittable activation is dense: log p is finite, so 0 · log p = 0
    return -np.vdot(target, logp)


def loss_and_gradient(x, spec, target):
    """Mean cross-entropy and its gradient with respect to the flat `x`."""
    p = spec.unpack(x)
    prm = _activation_params(spec, p)
    N = spec.N
    dlogp = -target / N
    W = p["W"]
    b = p.get("b", 0.0)
    grads = {}
    if spec.name in POINTWISE:
        H = p["H"]
        Z = H @ W.T + b
        logp, dZ, g = _pointwise_back(spec.name, Z, dlogp, prm)
        grads.update(g)
        grads["H"] = dZ @ W
        grads["W"] = dZ.T @ H
        if spec.bias:
            grads["b"] = dZ.sum(axis=0)
        return _xent(target, logp) / N, spec.pack({**p, **grads}), logp
    kind, base = MIXTURES[spec.name]
    G, U, P, c = p["G"], p["U"], p["P"], p["c"]
    logpi = act._log_normalize(G @ U.T)                       # (N, K)
    pi = np.exp(logpi)
    Hk = np.tanh(np.einsum("ng,kdg->nkd", G, P) + c)           # (N, K, d)
    if kind == "moc":
        hbar = np.einsum("nk,nkd->nd", pi, Hk)
        Z = hbar @ W.T + b
        logp, dZ, _ = _pointwise_back(base, Z, dlogp, prm)
        dhbar = dZ @ W
        grads["W"] = dZ.T @ hbar
        db = dZ.sum(axis=0)
        dpi = np.einsum("nd,nkd->nk", dhbar, Hk)             # dL/dπ
        dHk = pi[:, :, None] * dhbar[:, None, :]
        # through π = softmax(a), a = U g: dL/da = π ⊙ (dπ - Σ π dπ)
        da = pi * (dpi - np.sum(pi * dpi, axis=1, keepdims=True))
    else:
        Zk = Hk @ W.T + b                                      # (N, K, M)
        Phi, dphi = _phi(base, Zk, prm)
        comp, pk = _log_softmax_and_probs(Phi)
        joint = logpi[:, :, None] + comp
        logp = act.logsumexp(joint, axis=1)
        resp = np.exp(joint - logp[:, None, :])                # π_k p_kj / p_j
        dcomp = dlogp[:, None, :] * resp
        dpi_log = dcomp.sum(axis=2)                            # dL/dlog π
        dPhi = dcomp - pk * dcomp.sum(axis=2, keepdims=True)
        dZ = dPhi if dphi is None else dPhi * dphi
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


@dataclass(frozen=True, eq=False)
class FitResult:
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


def _resolve_activation(activation):
    if activation in FITTABLE:
        return activation
    try:
        spec = act.get(activation)
    except ValueError:
        raise ValueError(
            f"activation must be one of {FITTABLE}; got {activation!r}"
        ) from None
    if spec.sparse:
        raise ValueError(f"{activation!r} is not fittable by cross-entropy: it "
                         + _SPARSE_REASON)
    raise ValueError(  # pragma: no cover - every dense activation is fittable
        f"activation must be one of {FITTABLE}; got {activation!r}")


def _init(spec, rng, T):
    N, M, d = spec.N, spec.M, spec.d
    scale = 1.0 / math.sqrt(d)
    parts = {"W": rng.standard_normal((M, d)) * scale}
    if spec.bias:
        # the bias starts at the log unigram distribution of the target
        parts["b"] = np.log(np.maximum(T.mean(axis=0), 1e-12))
        parts["b"] -= parts["b"].mean()
    if spec.name in MIXTURES:
        K = spec.prm["n_components"]
        parts.update(G=rng.standard_normal((N, d)), U=rng.standard_normal((K, d)) * scale,
                     P=rng.standard_normal((K, d, d)) * scale,
                     c=rng.standard_normal((K, d)) * 0.1)
    else:
        parts["H"] = rng.standard_normal((N, d)) * scale
    if spec.name == "plif":
        parts["theta"] = act.plif_init(spec.prm["n_pieces"], spec.prm["bound"],
                                       scale=0.0)
    if spec.name == "gss" and spec.prm["_learn"]:
        parts.update(c=spec.prm["c"], k=spec.prm["k"])
    return spec.pack(parts)


def fit_log_probs(target, activation="softmax", d=16, *, seed=0, max_iter=500,
                  bias=False, log_target=False, learn_params=False, c=0.0, k=2.0,
                  n_pieces=100, bound=10.0, n_components=3, tol=1e-10):
    r"""Fit a target distribution matrix with one output layer.

    Parameters
    ----------
    target : (N, M) array_like
        ``P*``: rows are distributions (or their logs with `log_target`).
    activation : str
        One of :data:`FITTABLE`: ``"softmax"``, ``"sigsoftmax"``, ``"gss"``,
        ``"sigmoid_normalized"``, ``"plif"``, ``"mos"``, ``"moss"``, ``"moc"``.
    d : int
        Context dimension (for mixtures, of ``g`` and of the components).
    seed : None, int or numpy.random.Generator
        Initialisation.
    max_iter : int
        L-BFGS-B iterations.
    bias : bool
        Learn an output bias.
    learn_params : bool
        GSS: learn ``c`` and ``k`` too (else fixed at `c`, `k`).
    c, k : float
        GSS parameters (initial values when learned).
    n_pieces, bound : int, float
        PLIF pieces and half-width; the slopes are learned.
    n_components : int
        Mixture components ``K``.
    tol : float
        L-BFGS-B ``ftol`` and ``gtol``.

    Returns
    -------
    FitResult

    Raises
    ------
    FloatingPointError
        When the loss or gradient becomes NaN/inf, naming the iteration.
    """
    from .rank import rank_report

    T = _check_target(target, log_target)
    activation = _resolve_activation(activation)
    if (not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1):
        raise ValueError(f"d must be a positive integer; got {d!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    prm = {"_learn": bool(learn_params) and activation == "gss"}
    if activation == "gss":
        prm["c"] = _as_scalar(c, "c")
        prm["k"] = _as_scalar(k, "k")
    if activation == "plif":
        if not isinstance(n_pieces, (int, np.integer)) or n_pieces < 1:
            raise ValueError(f"n_pieces must be a positive integer; got {n_pieces!r}")
        prm["n_pieces"] = int(n_pieces)
        prm["bound"] = _as_scalar(bound, "bound", low=0, low_open=True)
    if activation in MIXTURES:
        if not isinstance(n_components, (int, np.integer)) or n_components < 1:
            raise ValueError(
                f"n_components must be a positive integer; got {n_components!r}")
        prm["n_components"] = int(n_components)
    N, M = T.shape
    spec = _Spec(activation, N, M, int(d), bool(bias), prm)
    rng = np.random.default_rng(seed)
    x0 = _init(spec, rng, T)
    entropy = float(-np.sum(np.where(T > 0, T * np.log(np.where(T > 0, T, 1)), 0)) / N)

    history = []
    state = {"iter": 0}

    def fun(x):
        loss, grad, _ = loss_and_gradient(x, spec, T)
        if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
            raise FloatingPointError(
                f"fitting {activation} (d={d}) produced a non-finite loss or "
                f"gradient at iteration {state['iter']}: lower the learning scale "
                "(bound, initial c/k) or the iteration count"
            )
        return loss, grad

    def callback(intermediate_result):
        state["iter"] += 1
        history.append(float(intermediate_result.fun))

    start = time.perf_counter()
    res = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                  callback=callback,
                                  options={"maxiter": int(max_iter), "ftol": tol,
                                           "gtol": tol})
    loss, _, logp = loss_and_gradient(res.x, spec, T)
    seconds = time.perf_counter() - start
    p = spec.unpack(res.x)
    prm_fit = _activation_params(spec, p)
    b = p.get("b")
    if activation in MIXTURES:
        kind, base = MIXTURES[activation]
        layer = MixtureLayer(p["W"], p["U"], p["P"], p["c"], b, base=base, kind=kind)
        contexts = p["G"]
    else:
        params = {}
        if activation == "gss":
            params = {"c": prm_fit["c"], "k": prm_fit["k"]}
        elif activation == "plif":
            params = {"theta": prm_fit["theta"], "bound": prm_fit["bound"]}
        layer = PointwiseLayer(p["W"], b, activation, params)
        contexts = p["H"]
    mode = float(np.mean(np.argmax(logp, axis=1) == np.argmax(T, axis=1)))
    return FitResult(activation, int(d), layer, contexts, logp, np.array(history),
                     float(loss), entropy, float(loss) - entropy, mode,
                     rank_report(logp, d=int(d), bias=bool(bias)), int(res.nit),
                     bool(res.success), str(res.message), seconds)


# ---------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sweep:
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


def expressivity_sweep(target, activations=("softmax", "sigsoftmax", "gss", "plif",
                                            "mos"),
                       dims=(4, 8, 16), seeds=(0,), *, max_iter=300, progress=None,
                       **kwargs):
    """Fit every activation at every d and seed; one row per fit.

    Rows hold ``activation, d, seed, kl, cross_entropy, entropy,
    mode_accuracy, press_rank, effective_rank_1e-3, n_iter, converged,
    seconds``. ``**kwargs`` go to :func:`fit_log_probs`.
    """
    from ._output import Progress

    _check_target(target, kwargs.get("log_target", False))
    for name in activations:
        _resolve_activation(name)
    prog = Progress("expressivity_sweep", len(activations) * len(dims) * len(seeds))
    rows = []
    for name in activations:
        for d in dims:
            for seed in seeds:
                r = fit_log_probs(target, name, d, seed=seed, max_iter=max_iter,
                                  **kwargs)
                rows.append({
                    "activation": name, "d": d, "seed": seed, "kl": r.kl,
                    "cross_entropy": r.cross_entropy, "entropy": r.entropy,
                    "mode_accuracy": r.mode_accuracy,
                    "press_rank": r.rank["press"].value,
                    "effective_rank_1e-3": r.rank["effective(1e-03)"].value,
                    "n_iter": r.n_iter, "converged": r.converged,
                    "seconds": r.seconds})
                prog.step(f"{name} d={d} seed={seed}")
    return Sweep(rows)
