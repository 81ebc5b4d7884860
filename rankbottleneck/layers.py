"""Output layers and the log-probability matrices they produce.

A layer maps a context ``h ∈ R^d`` to log-probabilities over ``M`` words.
Stacking ``N`` contexts gives the matrix ``A`` (N×M) whose rank is the object
of study. Two families:

* :class:`PointwiseLayer`: ``log f(W h + b)`` for a registered activation
  ``f`` (softmax, sigsoftmax, GSS, PLIF, the sparse maps, ...).
* :class:`MixtureLayer`: MoS / MoSS (a mixture of K activations with
  context-dependent priors, Yang et al. 2018 [1]_; Kanai et al. 2018 [2]_) and MoC (the
  contexts are mixed instead, a control whose rank stays ≤ d+1).

Matrices are built in row blocks, so the peak memory is ``A`` plus the
temporaries of one block, never several N×M arrays. Logits (or
log-probabilities) that overflow raise ``ValueError`` naming the layer and
its largest ``|logit|``, never ``inf``, NaN or zeros.

References
----------
.. [1] Z. Yang, Z. Dai, R. Salakhutdinov, W. W. Cohen, "Breaking the softmax
   bottleneck: a high-rank RNN language model", ICLR 2018, arXiv:1711.03953.
.. [2] S. Kanai, Y. Fujiwara, Y. Yamanaka, S. Adachi, "Sigsoftmax:
   reanalysis of the softmax bottleneck", NeurIPS 2018, arXiv:1805.10829.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import activations as _act
from ._lapack import _all_finite, _format_scaled, _peak, _unscaled
from ._validation import (
    _as_float_array,
    _as_int,
    _check_fits_in_memory,
    _result_dtype,
)
from .activations._mixture import _check_log_priors

__all__ = [
    "PointwiseLayer",
    "MixtureLayer",
    "log_prob_matrix",
    "mixture_log_prob_matrix",
    "mixture_log_probs_from_components",
]

# Target size of one block's temporaries: large enough that the matrix
# products run at full speed, small enough to be negligible beside A.
_BLOCK_BYTES = 64 * 2**20


def _block_rows(block_rows, n_rows, bytes_per_row):
    if block_rows is None:
        return int(max(1, min(n_rows, _BLOCK_BYTES // max(1, bytes_per_row))))
    return _as_int(block_rows, "block_rows", low=1)


def _as_params(params):
    """`params` as a new dict: a layer's activation parameters must be a
    mapping ``{name: value}`` (``dict(None)`` would say only that NoneType
    is not iterable, and ``dict("ab")`` something stranger)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict {{name: value}} of the activation's "
                        f"parameters (leave it out, or pass {{}}, for none); got "
                        f"{params!r}")
    return dict(params)


def _check_params_early(activation, params):
    """The :class:`~rankbottleneck.activations.Activation` and its bound
    parameters, exercised on a tiny input before any heavy work."""
    act = _act.get(activation)
    return act, act.check(params)


def _as_matrix(x, name, ncols=None, ncols_name=None):
    x = _as_float_array(x, name, ndim=2)
    if ncols is not None and x.shape[1] != ncols:
        raise ValueError(
            f"{name} must have {ncols} columns to match {ncols_name}; got shape "
            f"{x.shape}"
        )
    return x


def _as_bias(bias, M):
    if bias is None:
        return None
    bias = _as_float_array(bias, "bias", ndim=1)
    if bias.shape[0] != M:
        raise ValueError(
            f"bias must have shape ({M},) to match W; got shape {bias.shape}"
        )
    return bias


def _fill_blocks(out, H, block_rows, compute_block):
    for start in range(0, H.shape[0], block_rows):
        stop = min(start + block_rows, H.shape[0])
        out[start:stop] = compute_block(H[start:stop])
    return out


def _allocate(shape, dtype, block_bytes, what):
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    _check_fits_in_memory(
        nbytes + block_bytes,
        f"the {shape[0]}×{shape[1]} {np.dtype(dtype).name} {what}",
        "pass fewer contexts, float32 embeddings, or consume it in row blocks "
        "with layer.blocks(H) instead of building the whole matrix",
    )
    return np.empty(shape, dtype=dtype)


# ---------------------------------------------------------------------------
# Overflow: a layer whose logits (or log-probabilities) leave float64
# ---------------------------------------------------------------------------


def _log_probs_ok(out, sparse):
    """Log-probabilities with no NaN and no +inf, and no -inf either unless
    the activation is sparse (its zeros)."""
    out = np.asarray(out)
    if out.size == 0:
        return True
    if sparse:
        return bool(np.max(out) < np.inf)           # False for NaN too
    return _all_finite(out)


def _exponent_of(x):
    """The exponent of ``max |x|`` (0 for zeros)."""
    peak = _peak(x)
    return math.frexp(peak)[1] if peak > 0 else 0


def _largest_logit(layer, X, block_rows=4096):
    """``(m, e)``: the largest ``|logit|`` of `layer` on the contexts `X` is
    ``m · 2^e``. Contexts, W and the bias are scaled by powers of two before
    the product (so ``|m| ≤ d + 1``): it is found even where it overflows."""
    W = layer.W.astype(np.float64)
    eW = _exponent_of(W)
    Ws = np.ldexp(W, -eW)
    b = None if layer.bias is None else layer.bias.astype(np.float64)
    eb = None if b is None else _exponent_of(b)
    X = np.asarray(X)
    X = X.reshape(-1, X.shape[-1])
    best = (0.0, 0)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for start in range(0, X.shape[0], block_rows):
            block = X[start:start + block_rows]
            H = np.asarray(layer._component_contexts(block)[0],
                           dtype=np.float64).reshape(-1, layer.d)
            eH = _exponent_of(H)
            E = eH + eW if eb is None else max(eH + eW, eb)
            z = np.ldexp(np.ldexp(H, -eH) @ Ws.T, eH + eW - E)
            if b is not None:
                z += np.ldexp(b, -E)
            m = _peak(z)
            if m > 0 and (best[0] == 0 or math.log2(m) + E > math.log2(best[0]) + best[1]):
                best = (m, E)
    return best


class _Layer:
    """What every layer shares: sizes, and building its matrix in row blocks.

    Subclasses define ``__call__`` (contexts → log-probabilities),
    ``_check_contexts``, ``_temporaries`` (block-sized arrays alive at once
    while one block is computed, per context row and word), ``_activation``
    (the :class:`~rankbottleneck.activations.Activation` that turns logits
    into log-probabilities) and ``_component_contexts``: what the spectral
    engine (:mod:`rankbottleneck.spectra`) needs to build the columns of the
    matrix without the matrix.
    """

    @property
    def _shift_only(self):
        """Whether the log-probabilities are the logits ``W h + b`` minus a
        per-context shift (a ``shift_only`` activation: softmax, pointwise
        or in the MoC control), so that ``A = [H, 1, -lse][W, b, 1]ᵀ``."""
        return self._activation.shift_only and getattr(self, "kind", "moc") == "moc"

    _matrix_name = "log-probability matrix"

    def _overflow_error(self, X, dtype=np.float64):
        """The ValueError for this layer when its logits on the contexts `X`,
        or the log-probabilities made of them, are not finite in `dtype`: it
        names the layer and its largest logit."""
        m, e = _largest_logit(self, X)
        dt = np.dtype(dtype)
        largest = _format_scaled(m, e)
        top = float(np.finfo(dt).max)
        if not abs(_unscaled(m, e)) <= top:
            what = (f"its logits overflow {dt.name}: the largest |logit| is {largest}, "
                    f"beyond {dt.name}'s {top:.3g}")
        else:
            what = (f"its log-probabilities overflow {dt.name} although its logits do "
                    f"not (the largest |logit| is {largest}; the activation or the "
                    "normaliser of such logits leaves the range)")
        return ValueError(
            f"{self!r} on these contexts: {what}; scale W"
            + ("" if self.bias is None else ", the bias")
            + " or the contexts down")

    @property
    def M(self):
        """Vocabulary size."""
        return self.W.shape[0]

    @property
    def d(self):
        """Context dimension of the logits ``W h`` (the columns of W)."""
        return self.W.shape[1]

    def blocks(self, X, block_rows=None):
        """Yield ``(start, block)`` row blocks of the log-probability matrix.

        The streaming form of :meth:`log_prob_matrix`: memory is one block.
        """
        X = self._check_contexts(X)
        per_row = self._temporaries * self.M * np.result_type(X, self.dtype).itemsize
        rows = _block_rows(block_rows, X.shape[0], per_row)
        for start in range(0, X.shape[0], rows):
            yield start, self(X[start:start + rows])

    def log_prob_matrix(self, X, block_rows=None):
        """The N×M matrix ``A[i, j] = log p(word j | context i)``.

        Parameters
        ----------
        X : (N, d) array_like
            Contexts (``H`` for a pointwise layer, ``G`` for a mixture).
        block_rows : int, optional
            Rows per block; by default about 64 MiB of temporaries per block.
        """
        X = self._check_contexts(X)
        dtype = np.result_type(X, self.dtype)
        per_row = self._temporaries * self.M * dtype.itemsize
        rows = _block_rows(block_rows, X.shape[0], per_row)
        out = _allocate((X.shape[0], self.M), dtype, rows * per_row,
                        self._matrix_name)
        return _fill_blocks(out, X, rows, self)


@dataclass(frozen=True, eq=False)
class PointwiseLayer(_Layer):
    r"""``log p = log f(W h + b)`` for an activation ``f``.

    Parameters
    ----------
    W : (M, d) array_like
        Word embeddings, one row per word.
    bias : (M,) array_like, optional
        Output bias ``b``.
    activation : str or Activation
        A registered name (:func:`rankbottleneck.activations.available`) or
        an :class:`~rankbottleneck.activations.Activation`; the layer keeps
        the object, so ``layer.activation.name`` is its name.
    params : dict
        The activation's parameters (e.g. ``{"r": 0.5}`` for r-softmax).

    See Also
    --------
    MixtureLayer : MoS, MoSS and MoC layers.
    log_prob_matrix : the matrix of a layer in one call.
    rankbottleneck.rank_report, rankbottleneck.spectrum : take a layer with
        ``contexts=`` and stream its matrix.
    rankbottleneck.argmaxable_under : which words the layer can make the argmax.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.2, 0.2]])
    >>> layer = rb.PointwiseLayer(W, activation="sigsoftmax")
    >>> layer
    PointwiseLayer(M=4, d=2, bias=False, activation='sigsoftmax')
    >>> H = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    >>> A = layer.log_prob_matrix(H)
    >>> A.shape, bool(np.allclose(A, rb.log_prob_matrix(H, W, "sigsoftmax")))
    ((3, 4), True)
    """

    W: np.ndarray
    bias: np.ndarray | None = None
    activation: object = "softmax"
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        W = _as_matrix(self.W, "W")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "bias", _as_bias(self.bias, W.shape[0]))
        act, bound = _check_params_early(self.activation, _as_params(self.params))
        object.__setattr__(self, "activation", act)
        object.__setattr__(self, "params", bound)

    # shift, exp and log each hold one block-sized temporary, plus the block
    _temporaries = 4

    def _check_contexts(self, H, name="H"):
        return _as_matrix(H, name, self.d, f"W {self.W.shape}")

    @property
    def _activation(self):
        return self.activation

    def _component_contexts(self, H, kind=None):
        """``(H[..., None, :], None)``: one component, no log-priors (as
        :meth:`MixtureLayer._component_contexts`)."""
        return np.asarray(H)[..., None, :], None

    @property
    def dtype(self):
        return _result_dtype(self.W, self.bias)

    def logits(self, H):
        """``H W^T + b`` for contexts `H` of shape (..., d)."""
        H = _as_float_array(H, "H")
        if H.shape[-1] != self.d:
            raise ValueError(
                f"H must have d = {self.d} entries on its last axis to match W "
                f"{self.W.shape}; got shape {H.shape}"
            )
        dtype = np.result_type(H, self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            z = H.astype(dtype, copy=False) @ self.W.T.astype(dtype, copy=False)
            if self.bias is not None:
                z += self.bias.astype(dtype, copy=False)
        if not _all_finite(z):
            raise self._overflow_error(H, dtype)
        return z

    def __call__(self, H):
        """Log-probabilities of contexts `H` (..., d) → (..., M).

        Raises ``ValueError`` naming the layer and its largest logit when
        the logits or the log-probabilities overflow.
        """
        z = self.logits(H)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.activation.log_prob(z, **self.params)
        if not _log_probs_ok(out, self.activation.sparse):
            raise self._overflow_error(H, z.dtype)
        return out

    def __repr__(self):
        params = ", ".join(
            f"{k}=<{np.shape(v)} array>" if np.ndim(v) else f"{k}={v!r}"
            for k, v in self.params.items()
        )
        return (
            f"PointwiseLayer(M={self.M}, d={self.d}, bias={self.bias is not None}, "
            f"activation={self.activation.name!r}{', ' + params if params else ''})"
        )


@dataclass(frozen=True, eq=False)
class MixtureLayer(_Layer):
    r"""Mixture output layers: MoS, MoSS and the MoC control.

    For a context ``g`` (the last hidden state, dimension ``d_g``):

    .. math::
        π = \operatorname{softmax}(U g), \qquad
        h_k = \tanh(P_k g + c_k), \qquad k = 1..K

    * ``kind="mos"``: ``log p = lse_k(log π_k + log f(W h_k + b))`` with
      ``f`` = `base` (``"softmax"`` is MoS, Yang et al. 2018; ``"sigsoftmax"``
      is MoSS, Kanai et al. 2018).
    * ``kind="moc"``: ``log p = log f(W Σ_k π_k h_k + b)``; with softmax its
      rank stays ≤ d+1 (d+2 with a bias), the control of Yang et al.

    Parameters
    ----------
    W : (M, d) array_like
        Word embeddings.
    priors : (K, d_g) array_like
        Prior weights ``U``: the priors depend on the context (a constant
        prior is a known mistake of public reimplementations).
    projections : (K, d, d_g) array_like
        ``P_k``.
    offsets : (K, d) array_like, optional
        ``c_k``; zero by default.
    bias : (M,) array_like, optional
    base : str or Activation
        Activation of each component (a registered name or an object; the
        layer keeps the object).
    kind : {"mos", "moc"}
    params : dict
        Parameters of `base`.

    See Also
    --------
    PointwiseLayer : one activation of one context.
    mixture_log_prob_matrix, mixture_log_probs_from_components : the matrix in
        one call.
    rankbottleneck.synthetic.random_mixture_layer : a layer with random weights.

    Examples
    --------
    A mixture of K = 3 softmaxes over 6 words with d = 2 is not held to rank
    d + 1 = 3:

    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> layer = rb.synthetic.random_mixture_layer(6, 2, 3, seed=0)
    >>> layer
    MixtureLayer(MoS: K=3, M=6, d=2, d_g=2, bias=False, base='softmax')
    >>> G = np.random.default_rng(0).standard_normal((20, 2))
    >>> rb.numerical_rank(layer.log_prob_matrix(G), "press").value
    6
    """

    W: np.ndarray
    priors: np.ndarray
    projections: np.ndarray
    offsets: np.ndarray | None = None
    bias: np.ndarray | None = None
    base: object = "softmax"
    kind: str = "mos"
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        W = _as_matrix(self.W, "W")
        M, d = W.shape
        U = _as_matrix(self.priors, "priors")
        K, d_g = U.shape
        P = _as_float_array(self.projections, "projections", ndim=3)
        if P.shape != (K, d, d_g):
            raise ValueError(
                f"projections must have shape (K, d, d_g) = {(K, d, d_g)} to match "
                f"priors {U.shape} and W {W.shape}; got shape {P.shape}"
            )
        if self.offsets is None:
            c = np.zeros((K, d), dtype=P.dtype)
        else:
            c = _as_float_array(self.offsets, "offsets", ndim=2)
            if c.shape != (K, d):
                raise ValueError(
                    f"offsets must have shape (K, d) = {(K, d)}; got shape {c.shape}"
                )
        if self.kind not in ("mos", "moc"):
            raise ValueError(f"kind must be 'mos' or 'moc'; got {self.kind!r}")
        act, bound = _check_params_early(self.base, _as_params(self.params))
        for name, value in [("W", W), ("priors", U), ("projections", P),
                            ("offsets", c), ("bias", _as_bias(self.bias, M)),
                            ("base", act), ("params", bound)]:
            object.__setattr__(self, name, value)

    @property
    def _temporaries(self):
        # the (K, M) component logits and log-probabilities of each row
        return 4 * self.K

    @property
    def _matrix_name(self):
        return f"{self.kind.upper()} log-probability matrix"

    def _check_contexts(self, G, name="G"):
        return _as_matrix(G, name, self.d_context, f"priors {self.priors.shape}")

    @property
    def d_context(self):
        """Dimension ``d_g`` of the input context ``g``."""
        return self.priors.shape[1]

    @property
    def K(self):
        return self.priors.shape[0]

    @property
    def dtype(self):
        return _result_dtype(self.W, self.priors, self.projections,
                                     self.offsets, self.bias)

    def components(self, G):
        """Log-priors (..., K) and component contexts (..., K, d) of `G`."""
        G = _as_float_array(G, "G")
        if G.shape[-1] != self.d_context:
            raise ValueError(
                f"G must have d_g = {self.d_context} entries on its last axis to "
                f"match priors {self.priors.shape}; got shape {G.shape}"
            )
        dtype = np.result_type(G, self.dtype)
        G = G.astype(dtype, copy=False)
        log_pi = _act.log_softmax(G @ self.priors.T.astype(dtype, copy=False))
        Hk = np.tanh(np.einsum("...g,kdg->...kd", G,
                               self.projections.astype(dtype, copy=False))
                     + self.offsets.astype(dtype, copy=False))
        return log_pi, Hk

    @property
    def _activation(self):
        return self.base

    def _component_contexts(self, G, kind=None):
        """``(Hk, log_pi)``: the contexts (..., K', d) that go through ``W``
        and their log-priors (..., K'), or None when there is one context
        per row (MoC: ``K' = 1``). See :func:`_fold`; `kind` overrides the
        layer's (``"moc"`` gives the plain logits' contexts of a MoS)."""
        log_pi, Hk = self.components(G)
        return _fold(log_pi, Hk, self.kind if kind is None else kind)

    def __call__(self, G):
        """Log-probabilities of contexts `G` (..., d_g) → (..., M).

        Raises ``ValueError`` naming the layer and its largest logit when
        the logits or the log-probabilities overflow.
        """
        log_pi, Hk = self.components(G)
        return _mix(log_pi, Hk, self.W, self.bias, self.base, self.kind,
                    self.params, overflow=lambda dtype: self._overflow_error(G, dtype))

    def __repr__(self):
        base = self.base.name
        name = ("MoC" if self.kind == "moc" else
                {"softmax": "MoS", "sigsoftmax": "MoSS"}.get(base, f"MoS[{base}]"))
        return (
            f"MixtureLayer({name}: K={self.K}, M={self.M}, d={self.d}, "
            f"d_g={self.d_context}, bias={self.bias is not None}, "
            f"base={base!r})"
        )


def _fold(log_pi, Hk, kind):
    """The one place the MoC control differs from MoS in what goes through
    ``W``: ``(Hk, log_pi)`` for MoS, and for MoC its mixed context
    ``Σ_k π_k h_k`` as a single component, ``(h[..., None, :], None)``.
    Log-priors (..., K), component contexts (..., K, d)."""
    if kind == "moc":
        return np.einsum("...k,...kd->...d", np.exp(log_pi), Hk)[..., None, :], None
    return Hk, log_pi


def _mix(log_pi, Hk, W, bias, act, kind, params, overflow=None):
    """Combine log-priors (..., K) and component contexts (..., K, d) under
    the Activation `act`. `overflow(dtype)` is the error to raise when the
    logits or the log-probabilities are not finite."""
    dtype = np.result_type(log_pi, Hk, W)
    W = W.astype(dtype, copy=False)
    b = 0 if bias is None else bias.astype(dtype, copy=False)

    def log_prob(h):
        with np.errstate(over="ignore", invalid="ignore"):
            z = h @ W.T + b
            out = act.log_prob(z, **params) if _all_finite(z) else None
        if out is None or not _log_probs_ok(out, act.sparse):
            raise (overflow(dtype) if overflow is not None else ValueError(
                f"the logits of the mixture components (W {W.shape}) or their "
                f"log-probabilities overflow {np.dtype(dtype).name}; scale W, the "
                "bias or the contexts down"))
        return out

    Hk, log_pi = _fold(log_pi, Hk, kind)
    if log_pi is None:
        # one (N, d) product, as a pointwise layer's, not N products of 1 × d
        return log_prob(Hk[..., 0, :])
    comp = log_prob(Hk)
    comp += log_pi[..., None]
    return _act.logsumexp(comp, axis=-2)


def log_prob_matrix(H, W, activation="softmax", *, bias=None, block_rows=None,
                    **params):
    r"""The N×M log-probability matrix of a pointwise output layer.

    .. math:: A_{ij} = \log f(W h_i + b)_j

    With softmax, ``A = [H, 1] [W, -lse]^T``-type factorisations bound its
    rank by ``d + 1`` (``d + 2`` with a bias): the softmax bottleneck (Yang et
    al. 2018).

    Parameters
    ----------
    H : (N, d) array_like
        Contexts.
    W : (M, d) array_like
        Word embeddings.
    activation : str or Activation
        A registered name (:func:`rankbottleneck.activations.available`) or
        an :class:`~rankbottleneck.activations.Activation`.
    bias : (M,) array_like, optional
    block_rows : int, optional
        Rows per block (peak memory is A plus one block's temporaries).
    **params
        The activation's parameters.

    Returns
    -------
    (N, M) ndarray
        float32 when every input is float32, float64 otherwise.

    See Also
    --------
    PointwiseLayer : the same layer as an object (streamed spectra, argmax).
    mixture_log_prob_matrix : for MoS, MoSS and MoC.
    rankbottleneck.rank_report : the ranks of the result.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck import log_prob_matrix
    >>> rng = np.random.default_rng(0)
    >>> A = log_prob_matrix(rng.normal(size=(50, 4)), rng.normal(size=(30, 4)))
    >>> int(np.linalg.matrix_rank(A))        # d + 1
    5
    """
    H = _as_matrix(H, "H")
    W = _as_matrix(W, "W", H.shape[1], f"H {H.shape}")
    layer = PointwiseLayer(W, bias=bias, activation=activation, params=params)
    return layer.log_prob_matrix(H, block_rows=block_rows)


def mixture_log_prob_matrix(H, W, priors, projections, offsets=None, *, bias=None,
                            base="softmax", kind="mos", block_rows=None, **params):
    r"""The N×M log-probability matrix of a MoS / MoSS / MoC layer.

    See :class:`MixtureLayer` for the model. `H` holds the contexts ``g``
    (N, d_g); `priors` is ``U`` (K, d_g); `projections` is ``P`` (K, d, d_g).
    ``base="sigsoftmax"`` gives MoSS; ``kind="moc"`` the MoC control.

    See Also
    --------
    MixtureLayer : the model, as an object.
    mixture_log_probs_from_components : from component contexts and priors.
    log_prob_matrix : a pointwise layer.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> rng = np.random.default_rng(0)
    >>> W, G = rng.standard_normal((6, 2)), rng.standard_normal((20, 2))
    >>> U, P = rng.standard_normal((3, 2)), rng.standard_normal((3, 2, 2))
    >>> A = rb.mixture_log_prob_matrix(G, W, U, P)
    >>> A.shape, bool(np.allclose(np.exp(A).sum(axis=1), 1))
    ((20, 6), True)
    >>> moc = rb.mixture_log_prob_matrix(G, W, U, P, kind="moc")
    >>> rb.numerical_rank(moc, "press").value     # MoC stays at d + 1
    3
    """
    layer = MixtureLayer(W, priors, projections, offsets=offsets, bias=bias,
                         base=base, kind=kind, params=params)
    return layer.log_prob_matrix(H, block_rows=block_rows)


def mixture_log_probs_from_components(component_contexts, prior_probs, W,
                                      bias=None, *, base="softmax", kind="mos",
                                      **params):
    r"""A mixture built straight from component contexts and priors.

    For notebooks that already hold ``h_k`` and ``π`` (e.g. from a trained
    MoS model): ``log p = lse_k(log π_k + log f(W h_k + b))`` (``kind="mos"``)
    or ``log f(W Σ_k π_k h_k + b)`` (``kind="moc"``).

    Parameters
    ----------
    component_contexts : (..., K, d) array_like
    prior_probs : (..., K) array_like
        Mixture weights; each row a probability distribution.
    W : (M, d) array_like
    bias : (M,) array_like, optional
    base : str or Activation
    kind : {"mos", "moc"}

    Returns
    -------
    (..., M) ndarray

    See Also
    --------
    mixture_log_prob_matrix : from the contexts ``g`` and the layer's weights.
    rankbottleneck.log_mixture : the mixture of given distributions.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.eye(3, 2)
    >>> hk = np.array([[[4.0, 0.0], [0.0, 4.0]]])      # one row, K = 2 components
    >>> np.exp(rb.mixture_log_probs_from_components(hk, [[0.5, 0.5]], W)).round(3)
    array([[0.491, 0.491, 0.018]])
    """
    Hk = _as_float_array(component_contexts, "component_contexts")
    W = _as_matrix(W, "W")
    if Hk.ndim < 2 or Hk.shape[-1] != W.shape[1]:
        raise ValueError(
            f"component_contexts must have shape (..., K, d) with d = {W.shape[1]} "
            f"to match W {W.shape}; got shape {Hk.shape}"
        )
    pi = _as_float_array(prior_probs, "prior_probs")
    if pi.shape != Hk.shape[:-1]:
        raise ValueError(
            f"prior_probs must have shape {Hk.shape[:-1]} to match "
            f"component_contexts {Hk.shape}; got shape {pi.shape}"
        )
    if np.any(pi < 0):
        raise ValueError(
            f"prior_probs must be non-negative; got minimum {pi.min()}"
        )
    with np.errstate(divide="ignore"):
        log_pi = _check_log_priors(np.log(pi), "prior_probs (as logs)")
    if kind not in ("mos", "moc"):
        raise ValueError(f"kind must be 'mos' or 'moc'; got {kind!r}")
    act, bound = _check_params_early(base, params)
    return _mix(log_pi, Hk, W, _as_bias(bias, W.shape[0]), act, kind, bound)

