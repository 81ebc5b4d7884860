r"""What the output layer costs a trained model: three measurements.

A language model's head ``z = W h + b`` (``W`` of shape ``V × d``, ``d ≪ V``)
limits it in three ways that recent papers measure, each computed here on
the model's real hidden states ``H`` (:func:`rankbottleneck.lm.collect_contexts`):

* **Loss against head rank** (:func:`head_rank_loss`; Godey, de la
  Clergerie & Sagot 2024 [1]_): the mean cross-entropy, in nats per token,
  with ``W`` replaced by its best rank-``r`` approximation. At ``r = d`` it
  is the model's own cross-entropy.
* **The gradient the head suppresses** (:func:`suppressed_gradient`; Godey
  & Artzi 2026 [2]_): of the logit gradient ``g = softmax(z) - e_y`` only
  ``P_W g`` reaches the model (``Wᵀ g = Wᵀ P_W g``); the share ``1 - ‖P_W
  g‖² / ‖g‖²`` is lost, beside the ``1 - d/V`` of a random direction.
* **How many modes the head holds** (:func:`uniform_top_capacity`; after
  Basri & Jacobs 2026 [3]_ and Chang & McCallum 2022 [4]_): for random sets
  of ``m`` tokens, whether some context gives them (nearly) equal
  probabilities above every other token, each answer proved (a verified
  witness or certificate from the feasibility engine) or left undecided.

:func:`head_cost_report` runs all three on a model and a text.

References
----------
.. [1] N. Godey, É. de la Clergerie, B. Sagot, "Why do small language
   models underperform? Studying language model saturation via the softmax
   bottleneck", 2024, arXiv:2404.07647.
.. [2] N. Godey, Y. Artzi, "Lost in backpropagation: the LM head is a
   gradient bottleneck", 2026, arXiv:2603.10145.
.. [3] R. Basri, D. Jacobs, "The softmax bottleneck does not limit the
   probabilities of the most likely tokens", ICLR 2026.
.. [4] H.-S. Chang, A. McCallum, "Softmax bottleneck makes language models
   unable to represent multi-mode word distributions", ACL 2022.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import activations as _act
from ._progress import progress_bar
from ._result import Result
from ._threads import _by_chunks
from ._validation import (
    _as_bool,
    _as_float_array,
    _as_int,
    _as_rng,
    _as_scalar,
    _check_embeddings,
    _check_fits_in_memory,
    _result_dtype,
)
from .feasibility._candidates import whitening
from .feasibility._lp import decide
from .feasibility._proof import max_row_norm1
from .feasibility._scale import to_unit
from .feasibility._systems import at, certificate_holds, holds, uniform_system

__all__ = [
    "HeadRankLoss",
    "SuppressedGradient",
    "UniformTopCapacity",
    "HeadCostReport",
    "head_rank_loss",
    "suppressed_gradient",
    "uniform_top_capacity",
    "head_cost_report",
]

#: entries of one block of streamed logits (``rows × V``; two such arrays):
#: at least 128 rows for V = 49,152, so that the elementwise work shares out
#: to threads (:func:`~rankbottleneck._threads._threaded` wants 64 a thread)
_BLOCK_ENTRIES = 2 ** 23


# ---------------------------------------------------------------------------
# Checking the input
# ---------------------------------------------------------------------------


def _check_contexts(contexts):
    """``(H, W, b, y, source)`` of a :class:`~rankbottleneck.lm.ModelContexts`
    (or anything with ``H``, ``W``, ``bias`` and ``next_ids``), checked."""
    missing = [a for a in ("H", "W", "bias", "next_ids") if not hasattr(contexts, a)]
    if missing:
        raise TypeError("contexts must be a ModelContexts (rankbottleneck.lm."
                        "collect_contexts) or have the attributes H, W, bias and "
                        f"next_ids; got a {type(contexts).__name__} without "
                        f"{missing}")
    W = _as_float_array(contexts.W, "contexts.W", ndim=2)
    b = contexts.bias
    if b is not None:
        b = _as_float_array(b, "contexts.bias", ndim=1)
        if b.shape != (W.shape[0],):
            raise ValueError(f"contexts.bias must have shape ({W.shape[0]},) to match "
                             f"contexts.W {W.shape}; got {b.shape}")
    H = _as_float_array(contexts.H, "contexts.H", ndim=2)
    if H.shape[1] != W.shape[1]:
        raise ValueError(f"contexts.H has d = {H.shape[1]} columns but contexts.W "
                         f"has {W.shape[1]}: they must match")
    y = np.asarray(contexts.next_ids)
    if y.dtype.kind not in "iu" or y.shape != (H.shape[0],):
        raise ValueError(f"contexts.next_ids must be ({H.shape[0]},) integers, one "
                         f"target token per context; got {y.dtype} {y.shape}")
    bad = y[(y < 0) | (y >= W.shape[0])]
    if len(bad):
        raise ValueError(f"contexts.next_ids must be token ids in [0, {W.shape[0] - 1}]; "
                         f"got {bad[:5].tolist()}")
    return H, W, b, y.astype(np.int64), str(getattr(contexts, "source", ""))


def _check_ints(values, name, lo, hi, why):
    """Distinct integers in ``lo..hi``, sorted: a tuple."""
    arr = np.atleast_1d(np.asarray(values, dtype=object))
    if arr.ndim != 1 or arr.size == 0:
        raise TypeError(f"{name} must be an integer or a 1-D sequence of integers; "
                        f"got {values!r}")
    out = [_as_int(v, name) for v in arr.tolist()]
    bad = [v for v in out if not lo <= v <= hi]
    if bad:
        raise ValueError(f"{name} must lie in {why}; got {bad}")
    return tuple(sorted(set(out)))


def _check_ranks(ranks, d):
    return _check_ints(ranks, "ranks", 1, d, f"[1, d] = [1, {d}] (d, the hidden "
                       "size, is the largest rank a V × d head has)")


def _check_ms(m, M):
    return _check_ints(m, "m", 2, M - 1, f"[2, V - 1] = [2, {M - 1}] (at least two "
                       "tokens to share the top, and at least one other token below "
                       f"them; the head has V = {M})")


def _activation(activation, params):
    """A pointwise Activation (one with a logit map ``φ``: ``log p = φ(z) -
    lse φ(z)``) and its checked parameters."""
    act = activation if isinstance(activation, _act.Activation) else None
    if act is None:
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a name or an Activation; got "
                            f"{activation!r}")
        act = _act.get(activation)
    act.require("logit_map", "a head-rank loss (log p = φ(z) - lse φ(z))")
    return act, act.check(params)


# ---------------------------------------------------------------------------
# The head in its singular basis, and one streamed pass over the contexts
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Basis:
    """``W - 1 μᵀ = U Σ Vᵀ`` (``μ = 0`` without re-centring) from the
    eigenvectors of its Gram matrix: ``V`` by decreasing ``σ``, the rotated
    rows ``UT = ((W - 1 μᵀ) V)ᵀ`` in the working dtype, and the numerical
    rank."""

    V: np.ndarray
    sigma: np.ndarray
    UT: np.ndarray
    mean: np.ndarray
    rank: int


def _basis(W, recentre, dtype):
    M, d = W.shape
    G = np.zeros((d, d))
    for s in range(0, M, 8192):                 # float64, never a copy of W
        Wi = W[s:s + 8192].astype(np.float64)
        G += Wi.T @ Wi
    mean = W.mean(axis=0, dtype=np.float64) if recentre else np.zeros(d)
    lam, V = np.linalg.eigh(G - M * np.outer(mean, mean))
    lam, V = lam[::-1], V[:, ::-1]
    sigma = np.sqrt(np.maximum(lam, 0.0))
    rank = int(np.sum(sigma > sigma[0] * max(M, d) * np.finfo(np.float64).eps))
    UT = (W.astype(dtype, copy=False) @ V.astype(dtype)).T
    UT -= (mean @ V).astype(dtype)[:, None]
    return _Basis(V, sigma, np.ascontiguousarray(UT), mean, rank)


class _Pass:
    """One pass over the contexts in row blocks: the logits at each rank of
    `ranks` (cumulative in the singular basis: one GEMM in all), the
    cross-entropy of each activation there from one ``exp`` per entry, and
    with `gradient`, at full rank, ``‖P_W g‖²`` and ``‖g‖²`` from the same
    exponentials (one more product, with ``W V``).

    Normalisers are summed in the working dtype (float32 for a model: numpy
    sums a row pairwise, relative error below ``2⁻²⁴ (log₂ V + 2)``, about
    1e-6 nats of loss) over cache-sized chunks in threads
    (:func:`~rankbottleneck._threads._by_chunks`). A row whose sum leaves
    the float range is recomputed in float64 (`n_fallback`).
    """

    def __init__(self, H, b, y, basis, ranks, acts, gradient=False):
        self.H, self.b, self.y, self.basis = H, b, y, basis
        self.ranks, self.acts, self.gradient = ranks, acts, gradient
        self.dtype = basis.UT.dtype
        self.N, self.M = H.shape[0], basis.UT.shape[1]
        self.losses = np.zeros((len(acts), len(ranks)))
        self.kept = np.full(self.N, np.nan) if gradient else None
        self.g2 = np.full(self.N, np.nan) if gradient else None
        self.n_fallback = 0
        self._sig = any(a is _act.get("sigsoftmax") for a, _ in acts)
        self._floor = self.dtype.type(np.log(np.finfo(self.dtype).tiny) + 1)
        self._half = np.exp(self._floor / 2).astype(self.dtype)

    def run(self, progress=None, desc="contexts"):
        rows = max(16, min(self.N, _BLOCK_ENTRIES // self.M))
        _check_fits_in_memory(2 * rows * self.M * self.dtype.itemsize,
                              "the streamed logits", "pass fewer contexts")
        Z = np.empty((rows, self.M), self.dtype)
        E = np.empty_like(Z)
        V = self.basis.V.astype(self.dtype)
        with progress_bar(self.N, desc, progress, unit="context") as bar:
            for s in range(0, self.N, rows):
                n = min(rows, self.N - s)
                self._block(s, Z[:n], E[:n], V)
                bar.update(n)
        return self

    def _block(self, s, Z, E, V):
        n, d = Z.shape[0], self.H.shape[1]
        Hb, y = self.H[s:s + n], self.y[s:s + n]
        C = Hb.astype(self.dtype, copy=False) @ V
        Z[...] = 0 if self.b is None else self.b
        if self.basis.mean.any():
            Z += (Hb.astype(np.float64) @ self.basis.mean).astype(self.dtype)[:, None]
        done = 0
        for k, r in enumerate(self.ranks):
            if r > done:                    # Z += the next columns' product
                np.matmul(C[:, done:r], self.basis.UT[done:r], out=E)
                Z += E
            done = r
            full = self.gradient and r == d
            parts = _by_chunks(lambda R, full=full, Z=Z: self._sums(Z, E, y, R, full), n,
                               self.M * Z.itemsize)
            sums = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            zy = Z[np.arange(n), y].astype(np.float64)
            for j, (act, params) in enumerate(self.acts):
                self.losses[j, k] += self._nll(act, params, Z, sums, zy, y).sum()
            if full:
                self._kept(s, Z, E, sums, y)

    def _sums(self, Z, E, y, R, full):
        """For the rows `R`: ``Σ e^z`` and ``Σ e^z σ(z)`` (sigsoftmax), each
        summed without the target's entry, which is added in float64 (so
        ``1 - p_y = Σ_{j≠y} e^{z_j} / Σ e^z`` loses no digits when ``p_y ≈
        1``); at full rank also ``Σ_{j≠y} p_j²``, ``E[R]`` left holding
        ``p`` without its target entries."""
        e = E[R]
        rows, yR = np.arange(e.shape[0]), y[R]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # logits below log(tiny) + 1 raised to it: exp and products of
            # subnormals are several times slower; the V·e·tiny this adds at
            # most is below 2⁻²⁴ of any normaliser `_ok` accepts
            np.maximum(Z[R], self._floor, out=e)
            np.exp(e, out=e)
            ey = e[rows, yR].astype(np.float64)
            e[rows, yR] = 0
            rest = e.sum(axis=1).astype(np.float64)
            out = {"softmax": rest + ey, "1-p_y": rest / (rest + ey)}
            if self._sig:
                t = np.maximum(e, self._half)  # e^z σ(z) = e · e / (1 + e)
                u = t + 1
                np.divide(t, u, out=u)
                t *= u
                out["sigsoftmax"] = t.sum(axis=1).astype(np.float64) + ey * ey / (1 + ey)
            if full:
                e *= (1.0 / out["softmax"]).astype(e.dtype)[:, None]
                out["sum p^2"] = np.einsum("ij,ij->i", e, e, dtype=np.float64)
        return out

    def _ok(self, total):
        return np.isfinite(total) & (total > np.finfo(self.dtype).tiny * 2.0 ** 40)

    def _nll(self, act, params, Z, sums, zy, y):
        """``lse φ(z) - φ(z_y)`` per row (softmax and sigsoftmax from the
        sums, other activations and out-of-range rows in float64)."""
        out = np.empty(len(zy))
        ok = np.zeros(len(zy), dtype=bool)
        if act.name in sums:
            total = sums[act.name]
            ok = self._ok(total)
            phi_y = zy if act.name == "softmax" else act.logit_map(zy)
            out[ok] = np.log(total[ok]) - phi_y[ok]
            self.n_fallback += int(np.sum(~ok))
        bad = np.flatnonzero(~ok)
        if len(bad):
            phi = act.logit_map(Z[bad].astype(np.float64), **params)
            out[bad] = _act.logsumexp(phi, axis=1) - phi[np.arange(len(bad)), y[bad]]
        return out

    def _kept(self, s, Z, E, sums, y):
        """``‖P_W g‖²`` (:func:`_projected_norm2` of ``(W V)ᵀ g``) and ``‖g‖²``, for ``g = p - e_y`` (``E`` holds ``p`` without
        its target entries)."""
        UT = self.basis.UT
        omp, ok = sums["1-p_y"], self._ok(sums["softmax"])
        A = (E @ UT.T).astype(np.float64) - omp[:, None] * UT[:, y].T
        g2 = sums["sum p^2"] + omp ** 2
        bad = np.flatnonzero(~ok | ~np.isfinite(g2) | ~np.all(np.isfinite(A), axis=1))
        if len(bad):
            self.n_fallback += len(bad)
            p = np.exp(_act.log_softmax(Z[bad].astype(np.float64)))
            p[np.arange(len(bad)), y[bad]] -= 1.0
            A[bad] = p @ UT.T.astype(np.float64)
            g2[bad] = np.einsum("ij,ij->i", p, p)
        self.kept[s:s + len(y)] = _projected_norm2(A, self.basis)
        self.g2[s:s + len(y)] = g2


def _projected_norm2(A, basis):
    """``‖P_W g‖² = (Wᵀg)ᵀ (WᵀW)⁺ (Wᵀg)`` per row of ``A = (Vᵀ Wᵀ g)ᵀ``
    (``Wᵀ g`` in the singular basis): ``Σ_k A_k² / σ_k²`` over the numerical
    rank."""
    c = A[:, :basis.rank] / basis.sigma[:basis.rank]
    return np.einsum("ij,ij->i", c, c)


# ---------------------------------------------------------------------------
# Loss against head rank
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class HeadRankLoss(Result):
    """Cross-entropy of a model's next-token predictions with its head
    replaced by its best rank-``r`` approximation.

    Attributes
    ----------
    ranks : tuple of int
    loss : (len(ranks),) ndarray
        Mean cross-entropy, nats per token, at each rank.
    full_loss : float
        The same at ``r = d``: the model's own cross-entropy (for
        ``activation="softmax"``).
    activation : str
    recentre : bool
        Whether the mean row of ``W`` was kept and the rest truncated.
    d, vocabulary, n_tokens : int
    singular_values : (d,) ndarray
        Of ``W`` (``recentre``: of ``W - 1 μᵀ``), the spectrum truncated.
    rank : int
        Its numerical rank.
    dtype : str
        Precision of the streamed logits (that of ``H`` and ``W``).
    n_fallback : int
        Rows recomputed in float64 because their normaliser left the range
        of `dtype`.
    seconds : dict
    source : str

    See Also
    --------
    head_rank_loss : makes one.
    head_cost_report : this beside the suppressed gradient and the capacity.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> from rankbottleneck.lm import ModelContexts
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.standard_normal((50, 8)), rng.standard_normal((200, 8))
    >>> ctx = ModelContexts(H=H, W=W, bias=None, token_ids=np.zeros(200, int),
    ...                     next_ids=np.argmax(H @ W.T, axis=1), tokens=())
    >>> res = rb.head_rank_loss(ctx, [2, 8])
    >>> res.ranks, bool(res.loss[-1] == res.full_loss), bool(res.loss[0] > res.full_loss)
    ((2, 8), True, True)
    """

    ranks: tuple
    loss: np.ndarray
    full_loss: float
    activation: str = "softmax"
    recentre: bool = False
    d: int = 0
    vocabulary: int = 0
    n_tokens: int = 0
    singular_values: np.ndarray = field(default=None, repr=False)
    rank: int = 0
    dtype: str = "float64"
    n_fallback: int = 0
    seconds: dict = field(default_factory=dict, repr=False)
    source: str = ""

    @property
    def excess(self):
        """``loss - full_loss``: nats per token lost to the truncation."""
        return self.loss - self.full_loss

    def label(self):
        return self.activation + (", re-centred" if self.recentre else "")

    def plot(self, ax=None, **kwargs):
        """Loss against rank (log axis), the full-rank loss dashed; `kwargs`
        go to ``ax.plot``. Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        style = {"marker": "o", "ms": 3, "ls": "-", "label": self.label(), **kwargs}
        line, = ax.plot(self.ranks, self.loss, **style)
        ax.axhline(self.full_loss, color=line.get_color(), ls="--", lw=0.8)
        ax.set(xscale="log", xlabel="rank r of the head",
               ylabel="cross-entropy (nats / token)")
        return ax

    def __repr__(self):
        shown = ", ".join(f"r = {r}: {v:.4g}" for r, v in
                          list(zip(self.ranks, self.loss))[:6])
        more = ", …" if len(self.ranks) > 6 else ""
        return (f"HeadRankLoss({self.label()}, {self.n_tokens:,} tokens, d = {self.d}, "
                f"vocabulary {self.vocabulary:,}: {self.full_loss:.4f} nats/token at "
                f"full rank; {shown}{more})")


def head_rank_loss(contexts, ranks, *, recentre=False, activation="softmax",
                   progress=None, **params):
    r"""Cross-entropy with the head replaced by its best rank-``r`` approximation.

    For each rank ``r`` the head ``W = U Σ Vᵀ`` becomes ``W_r = W V_r V_rᵀ``
    (Eckart–Young: the closest rank-``r`` matrix), the bias is kept, and the
    loss is the mean over the contexts of

    .. math::
        \ell_r = \operatorname{lse}_j \varphi(z_{r,j}) - \varphi(z_{r,y}),
        \qquad z_r = W_r h + b,

    in nats, ``y`` the token that follows (``φ`` the identity for softmax,
    ``z + log σ(z)`` for sigsoftmax: the counterfactual of the same ``H``
    and ``W``). With ``recentre=True`` the mean row ``μ`` is kept and the
    centred head truncated, ``W_r = 1 μᵀ + (W - 1 μᵀ)_r``; under softmax
    ``1 μᵀ h`` shifts every logit alike, so this is the loss of the
    truncated centred head, whose spectrum is not dominated by the common
    direction of anisotropic embeddings.

    Parameters
    ----------
    contexts : ModelContexts
        From :func:`rankbottleneck.lm.collect_contexts` (or anything with
        ``H`` (N, d), ``W`` (V, d), ``bias`` and ``next_ids`` (N,)).
    ranks : int or sequence of int
        Each in ``1..d``.
    recentre : bool
    activation : str or Activation
        A pointwise activation (with a logit map ``φ``). Softmax and
        sigsoftmax are summed from one ``exp`` per entry; others through
        their logit map in float64.
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).
    **params
        The activation's parameters.

    Returns
    -------
    HeadRankLoss

    Raises
    ------
    ValueError
        A rank outside ``1..d``, or contexts that do not fit together.
    TypeError
        An activation without a logit map, or arguments of the wrong type.

    See Also
    --------
    suppressed_gradient, uniform_top_capacity : the other two costs.
    head_cost_report : all three on a model and a text.

    Notes
    -----
    ``W`` is factored once from its Gram matrix (float64) and its rotated
    rows ``W V`` kept in the precision of ``H`` and ``W``. The contexts are
    streamed in blocks: ``c = Vᵀ h``, then the logits at the ranks in
    increasing order, each adding ``c_{[r', r)} (W V)_{[r', r)}ᵀ`` to the
    last (one GEMM in all), with one ``exp`` per entry at each rank.
    ``r = d`` is always computed (`full_loss`): there ``W V Vᵀ = W``.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> from rankbottleneck.lm import ModelContexts
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.standard_normal((50, 8)), rng.standard_normal((200, 8))
    >>> y = np.argmax(H @ W.T, axis=1)          # a model that predicts its text
    >>> ctx = ModelContexts(H=H, W=W, bias=None, token_ids=np.zeros(200, int),
    ...                     next_ids=y, tokens=())
    >>> res = rb.head_rank_loss(ctx, [2, 8])
    >>> own = -np.mean(rb.log_softmax(H @ W.T)[np.arange(200), y])
    >>> bool(abs(res.full_loss - own) < 1e-12), bool(res.loss[0] > res.loss[1])
    (True, True)
    """
    start = time.perf_counter()
    H, W, b, y, source = _check_contexts(contexts)
    ranks = _check_ranks(ranks, H.shape[1])
    recentre = _as_bool(recentre, "recentre")
    act = _activation(activation, params)
    basis = _basis(W, recentre, np.dtype(_result_dtype(H, W)))
    run = _Pass(H, b, y, basis, _with_full(ranks, H.shape[1]), [act]).run(
        progress, f"rank loss ({act[0].name})")
    return _rank_loss(run, 0, ranks, recentre, source,
                      {"total": time.perf_counter() - start})


def _with_full(ranks, d):
    return ranks if ranks[-1] == d else (*ranks, d)


def _rank_loss(run, j, ranks, recentre, source, seconds, full=None):
    """The HeadRankLoss of activation `j` of `run` (`full`: the loss at
    ``r = d`` when `run` stopped short of it)."""
    loss = run.losses[j] / run.N
    full = float(loss[-1]) if full is None else full
    return HeadRankLoss(
        ranks=ranks, loss=np.r_[loss, full][:len(ranks)], full_loss=full,
        activation=run.acts[j][0].name, recentre=recentre, d=run.H.shape[1],
        vocabulary=run.M, n_tokens=run.N, singular_values=run.basis.sigma,
        rank=run.basis.rank, dtype=str(run.dtype), n_fallback=run.n_fallback,
        seconds=seconds, source=source)


# ---------------------------------------------------------------------------
# The suppressed gradient
# ---------------------------------------------------------------------------


def _frequency_bins(y, M):
    """Occurrences of each context's target token among all targets, and the
    bins ``[1, 4), [4, 16), …`` (powers of 4) they fall in."""
    counts = np.bincount(y, minlength=M)[y]
    top = int(counts.max())
    edges = [1]
    while edges[-1] <= top:
        edges.append(edges[-1] * 4)
    which = np.searchsorted(edges, counts, side="right") - 1
    return counts, np.array(edges), which


@dataclass(frozen=True, eq=False, kw_only=True)
class SuppressedGradient(Result):
    """How much of the logit gradient ``g = softmax(z) - e_y`` the head
    keeps from the rest of the model.

    Attributes
    ----------
    suppressed : (N,) ndarray
        Per context, ``1 - ‖P_W g‖² / ‖g‖²`` (NaN where ``g`` is zero to
        the precision used).
    mean : float
        The mean of `suppressed`.
    pooled : float
        ``1 - Σ‖P_W g‖² / Σ‖g‖²``: the share of the gradients' total squared
        norm that is suppressed.
    random : float
        ``1 - rank(W) / V``: what a direction drawn uniformly from the
        sphere loses on average.
    rank, d, vocabulary, n_tokens : int
    bin_edges : (n_bins + 1,) ndarray
        Occurrences of the target token among the ``N`` targets (powers of
        4): bin ``k`` holds the contexts whose target occurs
        ``bin_edges[k] ≤ count < bin_edges[k + 1]`` times.
    by_frequency : (n_bins,) ndarray
        Mean suppressed share in each bin.
    bin_contexts : (n_bins,) ndarray
        Contexts in each bin.
    dtype : str
    seconds : dict
    source : str

    See Also
    --------
    suppressed_gradient : makes one.
    head_cost_report : this beside the rank loss and the capacity.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> from rankbottleneck.lm import ModelContexts
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.standard_normal((50, 8)), rng.standard_normal((200, 8))
    >>> ctx = ModelContexts(H=H, W=W, bias=None, token_ids=np.zeros(200, int),
    ...                     next_ids=np.argmax(H @ W.T, axis=1), tokens=())
    >>> res = rb.suppressed_gradient(ctx)
    >>> res.random, bool(0 < res.mean < 1)        # a random direction loses 1 - d/V
    (0.84, True)
    """

    suppressed: np.ndarray = field(repr=False, metadata={"as_dict": False})
    mean: float
    pooled: float
    random: float
    rank: int
    d: int
    vocabulary: int
    n_tokens: int
    bin_edges: np.ndarray = field(repr=False)
    by_frequency: np.ndarray = field(repr=False)
    bin_contexts: np.ndarray = field(repr=False)
    dtype: str = "float64"
    seconds: dict = field(default_factory=dict, repr=False)
    source: str = ""

    def _as_dict_fields(self):
        out = super()._as_dict_fields()
        ok = self.suppressed[np.isfinite(self.suppressed)]
        out["quantiles"] = {f"{q:g}": float(np.quantile(ok, q)) if ok.size else None
                            for q in (0.1, 0.5, 0.9)}
        out["n_zero_gradient"] = int(np.sum(~np.isfinite(self.suppressed)))
        return out

    def bin_labels(self):
        """``"1–3"``, ``"4–15"``, …: the occurrences each bin covers."""
        e = self.bin_edges
        return [f"{int(e[k])}" if e[k + 1] - e[k] == 1 else
                f"{int(e[k])}–{int(e[k + 1]) - 1}" for k in range(len(e) - 1)]

    def plot(self, ax=None):
        """Mean suppressed share by the target token's frequency, beside
        what a random direction loses. Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        x = np.arange(len(self.by_frequency))
        ax.bar(x, self.by_frequency, color="C0",
               label=f"suppressed share (mean {self.mean:.4f})")
        for k, n in enumerate(self.bin_contexts):
            ax.annotate(f"{int(n)}", (k, self.by_frequency[k]), fontsize=6,
                        ha="center", va="bottom")
        ax.axhline(self.random, color="C3", ls="--", lw=0.8,
                   label=f"random direction: 1 − rank/V = {self.random:.4f}")
        ax.set_xticks(x, self.bin_labels(), fontsize=7, rotation=30)
        lo = min(np.nanmin(self.by_frequency), self.random)
        ax.set(xlabel="occurrences of the target token in the text",
               ylabel="1 − ‖P_W g‖² / ‖g‖²", ylim=(max(0.0, lo - 0.05 * (1 - lo)
                                                      - 1e-3), 1.0))
        ax.legend(fontsize=7, loc="lower left")
        return ax

    def __repr__(self):
        return (f"SuppressedGradient({self.n_tokens:,} tokens, V = {self.vocabulary:,}, "
                f"rank {self.rank}: mean suppressed share {self.mean:.4f}, pooled "
                f"{self.pooled:.4f}; a random direction loses {self.random:.4f})")


def suppressed_gradient(contexts, *, progress=None):
    r"""The share of the logit gradient that the head keeps from the model.

    At each context the gradient of the cross-entropy with respect to the
    logits is ``g = softmax(z) - e_y``; what reaches the hidden state is
    ``Wᵀ g = Wᵀ P_W g``, with ``P_W`` the orthogonal projection onto the
    column space of ``W``. The rest,

    .. math::
        s = 1 - \frac{\lVert P_W g \rVert^2}{\lVert g \rVert^2},

    is suppressed (Godey & Artzi [2]_). A direction drawn uniformly from the
    sphere of ``R^V`` keeps ``rank(W)/V`` of its squared norm on average, so
    ``s`` is compared with ``1 - rank(W)/V``.

    Parameters
    ----------
    contexts : ModelContexts
        As for :func:`head_rank_loss`.
    progress : bool, optional

    Returns
    -------
    SuppressedGradient

    See Also
    --------
    head_rank_loss, uniform_top_capacity : the other two costs.
    head_cost_report : all three on a model and a text.

    Notes
    -----
    ``‖P_W g‖² = (Wᵀg)ᵀ (WᵀW)⁺ (Wᵀg)``, from the eigen-decomposition of
    ``WᵀW`` (float64, once): only ``Wᵀ g`` is needed (one product of the
    probabilities with ``W V``, streamed with the logits), never a ``V × d``
    orthonormal basis. The target's entry is taken out of ``p`` before the
    product and ``1 - p_y`` computed as ``Σ_{j≠y} p_j``, so a confident
    correct prediction loses no digits to cancellation.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> from rankbottleneck.lm import ModelContexts
    >>> rng = np.random.default_rng(1)
    >>> W = rng.standard_normal((6, 6))               # d = V: nothing is lost
    >>> ctx = ModelContexts(H=rng.standard_normal((20, 6)), W=W, bias=None,
    ...                     token_ids=np.zeros(20, int),
    ...                     next_ids=rng.integers(0, 6, 20), tokens=())
    >>> bool(abs(rb.suppressed_gradient(ctx).mean) < 1e-12)
    True
    """
    start = time.perf_counter()
    H, W, b, y, source = _check_contexts(contexts)
    basis = _basis(W, False, np.dtype(_result_dtype(H, W)))
    run = _Pass(H, b, y, basis, (H.shape[1],), [], gradient=True).run(
        progress, "logit gradients")
    return _suppressed(run, source, {"total": time.perf_counter() - start})


def _suppressed(run, source, seconds):
    with np.errstate(divide="ignore", invalid="ignore"):
        kept = np.where(run.g2 > 0, run.kept / run.g2, np.nan)
    share = 1.0 - np.minimum(kept, 1.0)
    _, edges, which = _frequency_bins(run.y, run.M)
    n_bins = len(edges) - 1
    by = np.array([np.nanmean(share[which == k]) if np.any(which == k) else np.nan
                   for k in range(n_bins)])
    finite = np.isfinite(share)
    pooled = 1.0 - float(np.sum(run.kept[finite]) / np.sum(run.g2[finite]))
    return SuppressedGradient(
        suppressed=share, mean=float(np.nanmean(share)), pooled=pooled,
        random=1.0 - run.basis.rank / run.M, rank=run.basis.rank, d=run.H.shape[1],
        vocabulary=run.M, n_tokens=run.N, bin_edges=edges, by_frequency=by,
        bin_contexts=np.bincount(which, minlength=n_bins), dtype=str(run.dtype),
        seconds=seconds, source=source)


# ---------------------------------------------------------------------------
# How many tokens can share the top
# ---------------------------------------------------------------------------



def _crossing(ms, rate):
    """The ``m`` at which `rate` falls through one half (linear interpolation
    between the last ``m`` at or above it and the next below), or None when
    it does not within `ms`."""
    for k in range(len(ms) - 1):
        a, b = rate[k], rate[k + 1]
        if a >= 0.5 > b:
            return float(ms[k] + (a - 0.5) / (a - b) * (ms[k + 1] - ms[k]))
    return None


@dataclass(frozen=True, eq=False, kw_only=True)
class UniformTopCapacity(Result):
    """How often random sets of ``m`` tokens can share the top probability.

    Attributes
    ----------
    ms : tuple of int
        The set sizes asked.
    n_sets : int
        Random sets decided per size.
    holds, fails, undecided : (len(ms),) ndarray of int
        Sets proved able to share the top (a verified witness context),
        proved unable (a verified certificate), and neither within the
        effort allowed (`max_rounds`).
    m_half : float or None
        Where the success rate falls through one half (linear interpolation
        in ``m``), counting undecided sets as half a success; None when it
        does not within `ms`.
    m_half_bounds : (float or None, float or None)
        The same with undecided sets counted as failures, then as
        successes.
    tolerance : float
        ``τ``: the shared tokens' logits (log-probabilities) within ``τ`` of
        each other.
    margins : (len(ms),) ndarray
        ``δ`` at each size: each shared token ahead of every other token by
        more than ``δ`` nats.
    ratios : tuple of (int, int)
        ``τ/δ`` as the fraction ``p/q`` the homogeneous system uses (a head
        without a bias), or empty.
    vocabulary, d : int
    has_bias : bool
    head : str
        What the head is (``"given"`` or ``"Gaussian"``).
    sets : dict
        ``{m: (n_sets, m) int array}``: the sets decided.
    answers : dict
        ``{m: (n_sets,) object array}`` of True, False, None.
    methods : dict
        ``{m: (n_sets,) str array}``: ``"search"`` (a cheap context),
        ``"nnls"`` (a certificate without an LP) or ``"lp"`` (the feasibility
        engine's constraint generation); empty for undecided sets.
    witnesses, certificates : dict
        ``{(m, k): context}`` and ``{(m, k): Multipliers}``, in the units of
        the data as given.
    max_rounds : int
    n_lp : int
    seconds : float
    gaussian : UniformTopCapacity or None
        The same sets asked of a Gaussian head of the same shape (entries
        ``N(0, σ²)``, ``σ`` the root mean square of ``W``, no bias).

    See Also
    --------
    uniform_top_capacity : makes one.
    rankbottleneck.realizable_fraction : the top-k sets in any order.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((60, 6))
    >>> cap = rb.uniform_top_capacity(W, [2, 4, 6], n_sets=8, gaussian=False)
    >>> cap.holds.tolist(), cap.fails.tolist(), cap.undecided.tolist()
    ([7, 0, 0], [1, 8, 8], [0, 0, 0])
    >>> cap.verify(W)
    True
    """

    ms: tuple
    n_sets: int
    holds: np.ndarray
    fails: np.ndarray
    undecided: np.ndarray
    m_half: float | None
    m_half_bounds: tuple
    tolerance: float
    margins: np.ndarray
    ratios: tuple = ()
    vocabulary: int = 0
    d: int = 0
    has_bias: bool = False
    head: str = "given"
    sets: dict = field(default_factory=dict, repr=False)
    answers: dict = field(default_factory=dict, repr=False)
    methods: dict = field(default_factory=dict, repr=False)
    witnesses: dict = field(default_factory=dict, repr=False,
                            metadata={"as_dict": False})
    certificates: dict = field(default_factory=dict, repr=False,
                               metadata={"as_dict": False})
    max_rounds: int = 0
    n_lp: int = 0
    seconds: float = 0.0
    gaussian: UniformTopCapacity | None = field(default=None, repr=False)

    @property
    def rate(self):
        """Proved successes per set asked, at each size."""
        return self.holds / self.n_sets

    @property
    def interval(self):
        """``(lower, upper)`` success rates: undecided sets counted as
        failures, then as successes."""
        return self.holds / self.n_sets, (self.holds + self.undecided) / self.n_sets

    def _as_dict_fields(self):
        out = super()._as_dict_fields()
        out["sets"] = {str(m): v for m, v in self.sets.items()}
        out["answers"] = {str(m): v for m, v in self.answers.items()}
        out["methods"] = {str(m): v for m, v in self.methods.items()}
        return out

    def verify(self, W, bias=None):
        """Re-prove every witness and certificate against `W`, `bias`: True
        when all hold (the Gaussian head's are not re-checked: its matrix
        is not kept)."""
        W, b = _check_embeddings(W, bias)
        for (m, k), x in self.witnesses.items():
            system = self._system(m, k)
            _, margin, tol = at(system, W, b, x)
            if not holds(system, W, b, x, margin, tol):
                return False
        for (m, k), cert in self.certificates.items():
            if not certificate_holds(self._system(m, k), W, b, cert):
                return False
        return True

    def _system(self, m, k):
        j = self.ms.index(m)
        S = self.sets[m][k]
        if self.ratios:
            return uniform_system(S, ratio=self.ratios[j])
        return uniform_system(S, tolerance=self.tolerance, margin=self.margins[j])

    def plot(self, ax=None, **kwargs):
        """Success rate against ``m``, the undecided sets as a band, the
        Gaussian head beside. Returns the axis."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        for res, color, name in ((self, kwargs.pop("color", "C0"),
                                  kwargs.pop("label", f"{self.head} head")),
                                 (self.gaussian, "C1", "Gaussian head, same shape")):
            if res is None:
                continue
            lo, hi = res.interval
            mid = (lo + hi) / 2
            ax.fill_between(res.ms, lo, hi, color=color, alpha=0.2, lw=0)
            ax.plot(res.ms, mid, "o-", ms=3, color=color,
                    label=name + (f" (m½ ≈ {res.m_half:.0f})" if res.m_half else ""))
        ax.axhline(0.5, color="0.5", lw=0.6, ls=":")
        ax.set(xlabel="m (tokens asked to share the top)",
               ylabel="share of random m-sets", ylim=(-0.03, 1.03))
        ax.legend(fontsize=7)
        return ax

    def __repr__(self):
        def part(res):
            per = ", ".join(f"{m}: {h}/{res.n_sets}" + (f" (+{u}?)" if u else "")
                            for m, h, u in zip(res.ms, res.holds, res.undecided))
            half = ("m½ ≈ " + f"{res.m_half:.1f}") if res.m_half else "m½ not crossed"
            return f"{res.head} head: {per}; {half}"
        text = part(self)
        if self.gaussian is not None:
            text += f" | {part(self.gaussian)}"
        return (f"UniformTopCapacity(V = {self.vocabulary:,}, d = {self.d}, τ = "
                f"{self.tolerance:g}: {text})")


def _mass_margin(M, m, mass=0.99):
    """The lead ``δ`` (nats) at which ``m`` tokens with equal probabilities
    hold at least `mass` of it whatever the other ``M - m`` do: each other
    token then has at most ``e^{-δ}`` of a top token's probability."""
    return math.log(mass / (1 - mass) * (M - m) / m)


def _ratio(tolerance, margin):
    """``τ/δ`` as a fraction ``p/q`` of small integers, the homogeneous
    system's coefficients (large ones make its LPs and certificates badly
    scaled): the nearest with ``q ≤ 100``, or ``1/round(δ/τ)`` below 1/100
    (a relative change of at most ``τ/(2δ)``)."""
    from fractions import Fraction

    rho = tolerance / margin
    if rho >= 0.01:
        f = Fraction(rho).limit_denominator(100)
        return f.numerator, f.denominator
    return 1, int(round(1 / rho))


def _span_complement(Q, X):
    """``X`` minus its projection onto the columns of each ``Q[k]``."""
    return X - np.einsum("kdm,km->kd", Q, np.einsum("kdm,kd->km", Q, X))


def _search(W, sets, mu, whiten, rounds=50):
    """Cheap contexts for many sets at once: in the subspace ``L`` where the
    set's scores are equal (``(w_s - w_t)·x = 0``), the whitened direction of
    its mean row, then relaxed projections (Agmon–Motzkin) onto the best
    other word's condition, in the whitened metric restricted to ``L``.
    Returns the starting directions, the best context of each set and its
    lead over the best other word relative to the spread of the scores."""
    n = len(sets)
    rows = np.arange(n)
    D = W[sets[:, 1:]] - W[sets[:, :1]]
    Q = np.linalg.qr(np.transpose(D, (0, 2, 1)))[0]
    g = W[sets].mean(axis=1)
    X = _span_complement(Q, (g - mu) @ whiten)
    start = X.copy()
    best = np.full(n, -np.inf)
    best_x = X.copy()
    spread = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(rounds):
            Z = X @ W.T
            if spread is None:
                spread = Z.std(axis=1) + 1e-300
            level = Z[rows[:, None], sets].mean(axis=1)
            Z[rows[:, None], sets] = -np.inf
            c = Z.argmax(axis=1)
            lead = (level - Z[rows, c]) / spread
            better = lead > best
            best[better], best_x[better] = lead[better], X[better]
            need = np.flatnonzero(lead < 0.05)
            if len(need) == 0:
                break
            normal = g[need] - W[c[need]]
            step = _span_complement(Q[need], _span_complement(Q[need], normal) @ whiten)
            q = np.einsum("ij,ij->i", step, normal)
            gain = (0.05 - lead[need]) * spread[need] * 1.5 / q
            moved = X[need] + gain[:, None] * step
            ok = np.all(np.isfinite(moved), axis=1)
            X[need[ok]] = moved[ok]
    return start, best_x, best


def _equalising_shift(W, b, S):
    """A context ``x₀`` with ``(w_s - w_t)·x₀ = b_t - b_s`` (least squares):
    the set's scores equal at ``x₀`` when the bias differs among them."""
    D = W[S[1:]] - W[S[0]]
    return np.linalg.lstsq(D, -(b[S[1:]] - b[S[0]]), rcond=None)[0]


def _along(system, W, b, S, u, margin, w1):
    """``(witness or None, first context tried)`` along the searched
    direction `u`: itself (a cone, `margin` None), or from the equalising
    shift at growing scales; each proved by :func:`holds`."""
    if margin is None:
        top = np.max(np.abs(u))
        tries = [u / top if top > 0 else u]
    else:
        x0 = _equalising_shift(W, b, S)
        z = W @ u
        lead = z[S].mean() - np.delete(z, S).max()
        tries = [x0 + u * (margin * 2.0 ** k / lead) for k in range(12)] if lead > 0 \
            else [x0]
    for x in tries:
        _, slack, tol = at(system, W, b, x, w1)
        if holds(system, W, b, x, slack, tol):
            return x, tries[0]
    return None, tries[0]


def _capacity(W, b, all_sets, tolerance, margin, max_rounds, head, progress):
    """Decide the sets `all_sets` (``{m: (n_sets, m) array}``) on one head:
    a searched witness, else the feasibility engine with a bounded effort
    (an NNLS certificate when the search ended far from a witness, then at
    most `max_rounds` LPs, no last resort)."""
    start = time.perf_counter()
    M, d = W.shape
    ms = tuple(all_sets)
    n_sets = len(all_sets[ms[0]])
    homogeneous = not b.any()
    # unit scale (exact): witnesses and multipliers hold for the data as given
    Wu, bu, k = to_unit(W, b)
    scale = 2.0 ** -k
    mu, whiten = whitening(Wu)
    w1 = max_row_norm1(Wu)
    step = int(min(M - 1, max(256, 2 * (d + 1))))
    counts, margins, ratios = np.zeros((3, len(ms)), dtype=int), [], []
    answers, methods, witnesses, certificates = {}, {}, {}, {}
    n_lp = 0
    with progress_bar(len(ms) * n_sets, f"shared top ({head} head)", progress,
                      unit="set") as bar:
        for j, m in enumerate(ms):
            delta = _mass_margin(M, m) if margin is None else margin
            margins.append(delta)
            ratio = _ratio(tolerance, delta) if homogeneous else None
            if ratio is not None:
                ratios.append(ratio)
            X0, X, lead = _search(Wu, all_sets[m], mu, whiten)
            answers[m] = np.full(n_sets, None, dtype=object)
            methods[m] = np.full(n_sets, "", dtype="<U6")
            for i, S in enumerate(all_sets[m]):
                system = (uniform_system(S, ratio=ratio) if ratio else
                          uniform_system(S, tolerance=tolerance * scale,
                                         margin=delta * scale))
                x, first = _along(system, Wu, bu, S, X[i],
                                  None if ratio else delta * scale, w1)
                if x is not None:
                    got, how = True, "search"
                else:
                    dec = decide(system, Wu, bu, first, k0=step, max_rounds=max_rounds,
                                 w1=w1, repair_rounds=0, last_resort=False,
                                 # far from a witness: a certificate, most likely
                                 first_certificate=(min(M - m, 2 * (d + 1))
                                                    if lead[i] < -0.25 else 0),
                                 certificate_from=X0[i])
                    got, how, x = dec.feasible, dec.method, dec.witness
                    n_lp += dec.n_lp
                    if got is False:
                        certificates[(m, i)] = dec.certificate
                if got:
                    witnesses[(m, i)] = x
                answers[m][i] = got
                methods[m][i] = how if got is not None else ""
                counts[{True: 0, False: 1, None: 2}[got], j] += 1
                bar.update(1)
    holds_, fails, undecided = counts
    lo, hi = holds_ / n_sets, (holds_ + undecided) / n_sets
    return UniformTopCapacity(
        ms=ms, n_sets=n_sets, holds=holds_, fails=fails, undecided=undecided,
        m_half=_crossing(ms, (lo + hi) / 2),
        m_half_bounds=(_crossing(ms, lo), _crossing(ms, hi)),
        tolerance=tolerance, margins=np.array(margins), ratios=tuple(ratios),
        vocabulary=M, d=d, has_bias=not homogeneous, head=head, sets=all_sets,
        answers=answers, methods=methods, witnesses=witnesses,
        certificates=certificates, max_rounds=max_rounds, n_lp=n_lp,
        seconds=time.perf_counter() - start)


def uniform_top_capacity(W, m, *, bias=None, tolerance=0.1, margin=None, n_sets=16,
                         seed=0, gaussian=True, max_rounds=3, progress=None):
    r"""How many tokens a head can make share the top probability at once.

    For random sets ``S`` of ``m`` tokens, decide exactly whether some
    context ``x`` gives them (nearly) equal probabilities above every other
    token:

    .. math::
        \max_{s \in S} z_s - \min_{s \in S} z_s < \tau, \qquad
        \min_{s \in S} z_s - \max_{j \notin S} z_j > \delta,
        \qquad z = W x + b,

    logits being log-probabilities up to one shared constant. Each answer
    is proved: a witness context checked with rigorous rounding bounds, or
    Motzkin multipliers that no context can meet (the feasibility engine of
    :mod:`rankbottleneck.topk`, with the shared top as conditions on the
    chosen scores and a threshold on the rest). The success rate against
    ``m``, and where it falls through one half, measure how many modes the
    head can hold (Chang & McCallum [4]_ asked whether it can; Basri &
    Jacobs [3]_ bound how many top probabilities a head can set).

    Parameters
    ----------
    W : (V, d) array_like
        The head.
    m : int or sequence of int
        Set sizes, each in ``2..V-1``.
    bias : (V,) array_like, optional
    tolerance : float
        ``τ`` in nats: the shared tokens' probabilities within a factor
        ``e^τ`` of each other.
    margin : float, optional
        ``δ`` in nats. Default: ``log(99 (V - m)/m)``, the lead at which
        the ``m`` tokens hold at least 99% of the probability whatever the
        others do (each other token has at most ``e^{-δ}`` of a shared
        token's probability).
    n_sets : int
        Random sets per size.
    seed : None, int or Generator
        The sets (and the Gaussian head).
    gaussian : bool
        Also ask the same sets of a Gaussian head of the same shape (entries
        ``N(0, σ²)``, ``σ`` the root mean square of `W`, no bias).
    max_rounds : int
        LPs at most per set (constraint generation over a working set of
        other words that grows by ``max(256, 2(d + 1))`` words a round); a
        set not proved within them is counted as undecided.
    progress : bool, optional

    Returns
    -------
    UniformTopCapacity

    Raises
    ------
    ValueError
        An ``m`` below 2 or above ``V - 1``, a tolerance or margin not
        positive, or a bad head.

    See Also
    --------
    head_rank_loss, suppressed_gradient : the other two costs.
    rankbottleneck.realizable_set : ``S`` as the top set, in any order.
    UniformTopCapacity : what is returned.

    Notes
    -----
    Without a bias the scores scale with the context, so only ``τ/δ``
    matters: the question is then asked in the homogeneous form
    ``max_S z - min_S z < (p/q)(min_S z - max_{j∉S} z_j)``, ``p/q`` a
    fraction of small integers next to ``τ/δ`` (:attr:`UniformTopCapacity.ratios`),
    a cone the LP solves in the unit box.

    Each set is tried first by a cheap context, found for all sets of a size
    at once: the whitened mean of its rows, in the subspace where its
    scores are equal, repaired by relaxed projections (Agmon–Motzkin). The
    rest go to the feasibility engine (:mod:`rankbottleneck.feasibility`)
    with a bounded effort: a certificate by non-negative least squares on
    the ``2(d + 1)`` other words nearest the set's direction, then at most
    `max_rounds` LPs of constraint generation, and no LP over every word.
    Every answer is proved by the engine's rigorous checks; a set not
    proved either way within that effort is undecided. Near the capacity
    the witnesses are thin and a certificate needs at least ``d - m + 2``
    other words: that is where sets are left undecided.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0],
    ...               [0.1, 0.1]])
    >>> cap = rb.uniform_top_capacity(W, 2, n_sets=6, seed=0, gaussian=False)
    >>> cap.holds + cap.fails                       # every set decided
    array([6])
    >>> cap.verify(W)
    True
    """
    W, b = _check_embeddings(W, bias)
    M, d = W.shape
    ms = _check_ms(m, M)
    tolerance = _as_scalar(tolerance, "tolerance", low=0, low_open=True)
    if margin is not None:
        margin = _as_scalar(margin, "margin", low=0, low_open=True)
    n_sets = _as_int(n_sets, "n_sets", low=1)
    max_rounds = _as_int(max_rounds, "max_rounds", low=0)
    gaussian = _as_bool(gaussian, "gaussian")
    rng = _as_rng(seed)
    all_sets = {m: np.sort(np.array([rng.choice(M, m, replace=False)
                                     for _ in range(n_sets)]), axis=1) for m in ms}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = _capacity(W, b, all_sets, tolerance, margin, max_rounds, "given",
                           progress)
        if gaussian:
            sigma = float(np.sqrt(np.mean(W ** 2)))
            G = rng.standard_normal(W.shape) * sigma
            # the same sets: the Gaussian rows are exchangeable
            twin = _capacity(G, np.zeros(M), all_sets, tolerance, margin, max_rounds,
                             "Gaussian", progress)
            result = dataclasses.replace(result, gaussian=twin)
    return result



# ---------------------------------------------------------------------------
# All three on a model and a text
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class HeadCostReport(Result):
    """What the output layer costs a model, on one text: loss against head
    rank, the suppressed gradient, and how many tokens can share the top.

    Attributes
    ----------
    losses : dict
        ``{"softmax": HeadRankLoss, "softmax, re-centred": …,
        "sigsoftmax": …}``.
    gradient : SuppressedGradient
    capacity : UniformTopCapacity or None
        With the Gaussian head beside it (None when not asked).
    source : str
    n_tokens, d, vocabulary : int
    seconds : dict
        Seconds per stage.
    notes : tuple of str

    See Also
    --------
    head_cost_report : makes one (with an example).

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> from rankbottleneck.lm import ModelContexts
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.standard_normal((50, 8)), rng.standard_normal((200, 8))
    >>> ctx = ModelContexts(H=H, W=W, bias=None, token_ids=np.zeros(200, int),
    ...                     next_ids=np.argmax(H @ W.T, axis=1), tokens=())
    >>> rep = rb.head_cost_report(ctx, ranks=[2, 8], ms=None)
    >>> sorted(rep.losses), rep.capacity is None
    (['sigsoftmax', 'softmax', 'softmax, re-centred'], True)
    """

    losses: dict
    gradient: SuppressedGradient
    capacity: UniformTopCapacity | None
    source: str = ""
    n_tokens: int = 0
    d: int = 0
    vocabulary: int = 0
    seconds: dict = field(default_factory=dict)
    notes: tuple = ()

    def plot(self, axes=None):
        """Three panels: loss against rank (beside sigsoftmax and the
        re-centred truncation), the suppressed share by token frequency, and
        the capacity against ``m`` beside the Gaussian head. Returns the
        axes."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        ax = axes[0]
        styles = {"softmax": {"marker": "o", "lw": 2.5, "alpha": 0.6},
                  "sigsoftmax": {"marker": "x", "ls": "--"}}
        for name, res in self.losses.items():
            res.plot(ax=ax, label=f"{name} (full rank {res.full_loss:.3f})",
                     **styles.get(name, {"marker": "s"}))
        ax.axvline(self.d, color="0.5", lw=0.6, ls=":")
        ax.set(xscale="linear", title=f"loss with the head truncated to rank r "
                                      f"(d = {self.d})")
        ax.legend(fontsize=7)
        self.gradient.plot(ax=axes[1])
        axes[1].set_title(f"logit gradient suppressed by the head "
                          f"({self.n_tokens:,} tokens)", fontsize=10)
        if self.capacity is not None:
            self.capacity.plot(ax=axes[2])
            axes[2].set_title("how many tokens can share the top", fontsize=10)
        return axes

    def __repr__(self):
        soft = self.losses.get("softmax")
        lines = [f"HeadCostReport({self.source}; {self.n_tokens:,} tokens, d = {self.d}, "
                 f"V = {self.vocabulary:,})"]
        if soft is not None:
            lines.append(f"  loss: {soft.full_loss:.4f} nats/token at full rank; " +
                         ", ".join(f"r = {r}: {v:.3f}" for r, v in
                                   zip(soft.ranks, soft.loss)))
        lines.append(f"  gradient: {self.gradient.mean:.4f} suppressed on average "
                     f"(pooled {self.gradient.pooled:.4f}; random direction "
                     f"{self.gradient.random:.4f})")
        if self.capacity is not None:
            lines.append(f"  capacity: {self.capacity!r}")
        return "\n".join(lines)


def head_cost_report(contexts_or_source, text=None, *, n_contexts=20000, ranks=None,
                     ms=(8, 16, 32, 48, 64), n_sets=8, max_rounds=2, window=None,
                     tokenizer=None, seed=0, progress=None):
    """The three costs of the head on one model and one text, in one report.

    Parameters
    ----------
    contexts_or_source : ModelContexts, or a model :func:`rankbottleneck.lm.load_model` opens
        Contexts already collected, or a model (a ``.gguf`` file, a local
        Hugging Face folder, a :class:`~rankbottleneck.lm.LanguageModel`),
        which is then run over `text`.
    text : str, pathlib.Path or list of str, optional
        Required with a model; refused with contexts.
    n_contexts : int
        Positions of the text scored (the first ones; a model only).
    ranks : sequence of int, optional
        Head ranks for the loss; default the powers of 4 below ``d``, and
        ``d``.
    ms : sequence of int, or None
        Set sizes for the capacity (None: no capacity).
    n_sets, max_rounds : int
        As for :func:`uniform_top_capacity`.
    window, tokenizer
        As for :func:`rankbottleneck.lm.collect_contexts` and
        :func:`~rankbottleneck.lm.load_model`.
    seed : None, int or Generator
    progress : bool, optional

    Returns
    -------
    HeadCostReport

    Raises
    ------
    ValueError
        A rank outside ``1..d`` or a set size outside ``2..V-1`` (checked
        as soon as the model is open, before it runs), or a text with fewer
        positions than `n_contexts` (the message says how many it has).
    TypeError
        `text` given with contexts, or missing with a model.

    See Also
    --------
    head_rank_loss, suppressed_gradient, uniform_top_capacity : the parts.
    rankbottleneck.lm.analyze_model : the rank diagnostics of the same model.

    Notes
    -----
    One streamed pass in the head's own singular basis gives softmax and
    sigsoftmax at every rank and, from the same exponentials at full rank,
    the gradient; a second, in the centred head's basis, gives the
    re-centred softmax at the ranks below ``d`` only (at ``r = d`` the
    re-centred head is the head: its loss is the first pass's).

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> from rankbottleneck.lm import ModelContexts
    >>> rng = np.random.default_rng(0)
    >>> W, H = rng.standard_normal((80, 6)), rng.standard_normal((100, 6))
    >>> ctx = ModelContexts(H=H, W=W, bias=None, token_ids=np.zeros(100, int),
    ...                     next_ids=np.argmax(H @ W.T, axis=1), tokens=())
    >>> rep = rb.head_cost_report(ctx, ranks=[1, 6], ms=None)
    >>> bool(rep.losses["softmax"].loss[0] > rep.losses["softmax"].full_loss)
    True
    """
    start = time.perf_counter()
    seconds, notes = {}, []
    n_sets = _as_int(n_sets, "n_sets", low=1)
    max_rounds = _as_int(max_rounds, "max_rounds", low=0)
    if all(hasattr(contexts_or_source, a) for a in ("H", "W", "next_ids")):
        if text is not None:
            raise TypeError("text is for a model to run over; contexts were given "
                            "already (pass text=None)")
        ctx = contexts_or_source
    else:
        from . import lm

        if text is None:
            raise TypeError("a model needs text to run over: head_cost_report(model, "
                            "text=...)")
        n_contexts = _as_int(n_contexts, "n_contexts", low=1)
        t = time.perf_counter()
        model = (contexts_or_source if isinstance(contexts_or_source, lm.LanguageModel)
                 else lm.load_model(contexts_or_source, tokenizer=tokenizer))
        seconds["load model"] = time.perf_counter() - t
        # the arguments the model's shape decides, before it runs
        if ranks is not None:
            _check_ranks(ranks, model.hidden_size)
        if ms is not None:
            _check_ms(ms, model.W.shape[0])
        ctx = lm.collect_contexts(model, text, n_contexts=n_contexts, window=window,
                                  progress=progress)
        seconds.update(ctx.seconds)
        notes.append(f"the head reproduces the model's logits to "
                     f"{ctx.logit_error:.1e} (max abs, float32)")
    H, W, b, y, source = _check_contexts(ctx)
    d, M = H.shape[1], W.shape[0]
    ranks = (tuple(sorted({4 ** k for k in range(d.bit_length()) if 4 ** k < d} | {d}))
             if ranks is None else _check_ranks(ranks, d))
    if ms is not None:
        ms = _check_ms(ms, M)
    dtype = np.dtype(_result_dtype(H, W))
    soft, sig = _activation("softmax", {}), _activation("sigsoftmax", {})

    def timed(name, func, *args):
        t = time.perf_counter()
        out = func(*args)
        seconds[name] = time.perf_counter() - t
        return out

    raw = timed("factorise W", _basis, W, False, dtype)
    run = timed("rank loss (softmax, sigsoftmax) and gradient",
                _Pass(H, b, y, raw, _with_full(ranks, d), [soft, sig],
                      gradient=True).run, progress, "rank loss and gradient")
    losses = {"softmax": _rank_loss(run, 0, ranks, False, source, {}),
              "sigsoftmax": _rank_loss(run, 1, ranks, False, source, {})}
    below = tuple(r for r in ranks if r < d)
    centred = timed("factorise W - 1 mu^T", _basis, W, True, dtype)
    run_c = timed("rank loss (re-centred)",
                  _Pass(H, b, y, centred, below, [soft]).run, progress,
                  "rank loss (re-centred)")
    losses["softmax, re-centred"] = _rank_loss(run_c, 0, ranks, True, source, {},
                                               full=losses["softmax"].full_loss)
    capacity = None
    if ms is not None:
        capacity = timed("capacity (given and Gaussian heads)",
                         lambda: uniform_top_capacity(
                             W, ms, bias=b, n_sets=n_sets, seed=seed,
                             max_rounds=max_rounds, progress=progress))
    seconds["total"] = time.perf_counter() - start
    return HeadCostReport(losses=losses, gradient=_suppressed(run, source, {}),
                          capacity=capacity, source=source, n_tokens=H.shape[0], d=d,
                          vocabulary=M, seconds=seconds, notes=tuple(notes))
