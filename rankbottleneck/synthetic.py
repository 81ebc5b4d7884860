"""Synthetic contexts, word embeddings, layers and target distributions.

All randomness goes through a `seed` (None, an int or a
``numpy.random.Generator``); the same seed gives the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import activations as _act
from ._result import Result
from ._validation import (
    _as_int,
    _as_rng,
    _as_scalar,
    _check_fits_in_memory,
    _has_bias,
)
from .layers import MixtureLayer

__all__ = [
    "embeddings",
    "contexts_and_words",
    "ContextsAndWords",
    "random_mixture_layer",
    "teacher_target",
    "dirichlet_target",
    "multimode_target",
    "noisy_low_rank",
    "isan",
    "tanh_rnn",
]

_KINDS = ("gaussian", "anisotropic", "unit")


def embeddings(n, d, *, kind="gaussian", decay=1.0, seed=None):
    r"""``n`` vectors in ``R^d``, one per row.

    Parameters
    ----------
    n, d : int
    kind : {"gaussian", "anisotropic", "unit"}
        ``"gaussian"``: i.i.d. ``N(0, 1/d)`` entries (rows of norm about 1).
        ``"anisotropic"``: Gaussian rows with covariance ``diag(s_i^2)``,
        ``s_i ∝ i^{-decay}`` scaled so that ``Σ s_i^2 = 1`` and rotated by a
        random orthogonal matrix: a power-law singular spectrum, as in real LM
        heads. ``"unit"``: Gaussian rows normalised to unit norm.
    decay : float
        Power-law exponent of the anisotropic spectrum.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    (n, d) float64 ndarray

    See Also
    --------
    rankbottleneck.contexts_and_words : contexts and words at a chosen logit
        scale.

    Examples
    --------
    >>> import numpy as np
    >>> from rankbottleneck.synthetic import embeddings
    >>> X = embeddings(500, 8, kind="anisotropic", seed=0)
    >>> s = np.linalg.svd(X, compute_uv=False)
    >>> (s[:3] / s[0]).round(2)                # a power-law spectrum
    array([1.  , 0.51, 0.35])
    >>> np.linalg.norm(embeddings(3, 4, kind="unit", seed=0), axis=1)
    array([1., 1., 1.])
    """
    n = _as_int(n, "n", low=1)
    d = _as_int(d, "d", low=1)
    decay = _as_scalar(decay, "decay", low=0)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}")
    rng = _as_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    if kind == "anisotropic":
        s = np.arange(1, d + 1, dtype=np.float64) ** -decay
        s *= np.sqrt(d) / np.linalg.norm(s)
        Q, R = np.linalg.qr(rng.standard_normal((d, d)))
        Q *= np.sign(np.diag(R))  # Haar-distributed rotation
        X = (X * s) @ Q.T
    elif kind == "unit":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


@dataclass(frozen=True, eq=False)
class ContextsAndWords(Result):
    """Contexts `H` (N, d), words `W` (M, d) and an optional `bias` (M,).

    ``as_dict()`` describes the draw (sizes, kind, scale); the arrays are
    reproduced by calling :func:`contexts_and_words` with the same seed.
    """

    H: np.ndarray
    W: np.ndarray
    bias: np.ndarray | None
    logit_scale: float
    kind: str

    def __repr__(self):
        return (
            f"ContextsAndWords(N={self.H.shape[0]}, M={self.W.shape[0]}, "
            f"d={self.H.shape[1]}, kind={self.kind!r}, "
            f"logit_scale={self.logit_scale}, bias={self.bias is not None})"
        )

    def _as_dict_fields(self):
        return {"N": self.H.shape[0], "M": self.W.shape[0], "d": self.H.shape[1],
                "kind": self.kind, "logit_scale": self.logit_scale,
                "bias": self.bias is not None}

    def __iter__(self):
        # Allows ``H, W, bias = contexts_and_words(...)``.
        return iter((self.H, self.W, self.bias))


def _logit_std(H, W):
    """Exact standard deviation of all entries of ``H W^T``, in O((N+M)d²).

    ``mean(z²) = tr(HᵀH WᵀW)/(NM)`` and ``mean(z) = mean(h)·mean(w)``.
    """
    N, M = H.shape[0], W.shape[0]
    second = np.sum((H.T @ H) * (W.T @ W)) / (N * M)
    mean = H.mean(axis=0) @ W.mean(axis=0)
    return float(np.sqrt(max(second - mean**2, 0.0)))


def contexts_and_words(N, M, d, *, kind="gaussian", logit_scale=1.0, has_bias=False,
                       decay=1.0, seed=None, bias=None):
    r"""Synthetic contexts and word embeddings with a chosen logit scale.

    `H` and `W` are drawn by :func:`embeddings` and rescaled by the same
    factor so that the logits ``H W^T`` have standard deviation exactly
    `logit_scale` (computed over all N·M entries without forming them). The
    rank of sigsoftmax, GSS and PLIF matrices depends strongly on this scale:
    their logit maps are nearly linear for small or large logits.

    Parameters
    ----------
    N, M, d : int
        Contexts, words, dimension.
    kind : {"gaussian", "anisotropic", "unit"}
        Distribution of both `H` and `W` (see :func:`embeddings`).
    logit_scale : float
        Standard deviation of the logits, ``> 0``.
    has_bias : bool
        Also draw an output bias ``b ~ N(0, logit_scale²)``.
    decay : float
        Spectrum decay of the anisotropic kind.
    seed : None, int or numpy.random.Generator
    bias : bool, optional
        The old spelling of `has_bias`; deprecated.

    Returns
    -------
    ContextsAndWords
        Unpacks as ``H, W, bias``.

    See Also
    --------
    rankbottleneck.synthetic.embeddings : one matrix of one kind.
    rankbottleneck.log_prob_matrix : the log-probabilities of the pair.
    rankbottleneck.synthetic.dirichlet_target : a high-rank target to fit.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> H, W, b = rb.contexts_and_words(200, 50, 4, logit_scale=2.0, has_bias=True,
    ...                                 seed=0)
    >>> H.shape, W.shape, b.shape
    ((200, 4), (50, 4), (50,))
    >>> round(float(np.std(H @ W.T)), 6)             # the logit scale, exactly
    2.0
    >>> rb.numerical_rank(rb.log_prob_matrix(H, W, bias=b), "press").value  # d + 2
    6
    """
    N, M, d = (_as_int(v, name, low=1) for v, name in ((N, "N"), (M, "M"), (d, "d")))
    logit_scale = _as_scalar(logit_scale, "logit_scale", low=0, low_open=True)
    _check_fits_in_memory(2 * (N + M) * d * 8,
                          f"{N} contexts and {M} words of dimension {d} (float64)",
                          "pass smaller N, M or d")
    rng = _as_rng(seed)
    H = embeddings(N, d, kind=kind, decay=decay, seed=rng)
    W = embeddings(M, d, kind=kind, decay=decay, seed=rng)
    factor = np.sqrt(logit_scale / _logit_std(H, W))
    has_bias = _has_bias(has_bias, bias, "contexts_and_words")
    b = logit_scale * rng.standard_normal(M) if has_bias else None
    return ContextsAndWords(H * factor, W * factor, b, logit_scale, kind)


def random_mixture_layer(M, d, K, *, kind="mos", base="softmax", d_context=None,
                         has_bias=False, logit_scale=1.0, seed=None, bias=None,
                         **params):
    r"""A MoS / MoSS / MoC layer with random weights.

    ``W`` has rows of norm about `logit_scale`, so that with component
    contexts ``h_k = tanh(P_k g + c_k)`` (entries in (-1, 1)) the logits have
    a standard deviation of roughly `logit_scale`. ``U`` and ``P_k`` have
    ``N(0, 1/d_g)`` entries, the offsets ``N(0, 1)``. `has_bias` draws an
    output bias ``b ~ N(0, logit_scale²)`` (`bias`, its old spelling, is
    deprecated).

    See Also
    --------
    rankbottleneck.MixtureLayer : the layer returned; `kind` and `base` as
        there.
    rankbottleneck.fit_log_probs : fits such a layer (``"mos"``) to a target.

    Examples
    --------
    >>> from rankbottleneck.synthetic import random_mixture_layer
    >>> random_mixture_layer(50, 4, 3, kind="moc", seed=0)
    MixtureLayer(MoC: K=3, M=50, d=4, d_g=4, bias=False, base='softmax')
    """
    M = _as_int(M, "M", low=1)
    d = _as_int(d, "d", low=1)
    K = _as_int(K, "K", low=1)
    d_g = d if d_context is None else _as_int(d_context, "d_context", low=1)
    logit_scale = _as_scalar(logit_scale, "logit_scale", low=0, low_open=True)
    rng = _as_rng(seed)
    W = rng.standard_normal((M, d)) * (logit_scale / np.sqrt(d))
    U = rng.standard_normal((K, d_g)) / np.sqrt(d_g)
    P = rng.standard_normal((K, d, d_g)) / np.sqrt(d_g)
    c = rng.standard_normal((K, d))
    has_bias = _has_bias(has_bias, bias, "random_mixture_layer")
    b = logit_scale * rng.standard_normal(M) if has_bias else None
    return MixtureLayer(W, U, P, offsets=c, bias=b, base=base, kind=kind,
                        params=params)


def teacher_target(N, M, d_teacher, *, temperature=1.0, seed=None):
    r"""Target distributions from a wide softmax teacher.

    ``P* = softmax(H W^T / temperature)`` with Gaussian ``H`` (N, d_teacher),
    ``W`` (M, d_teacher) scaled to unit logit standard deviation: rank
    ``d_teacher + 1``, so ``d_teacher ≫ d`` gives a target a d-dimensional
    softmax cannot fit exactly.

    Returns
    -------
    (N, M) ndarray
        Rows are probability distributions.

    See Also
    --------
    dirichlet_target, multimode_target : full-rank targets.
    rankbottleneck.fit_log_probs : fits a layer to one.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> T = rb.synthetic.teacher_target(50, 30, 8, seed=0)
    >>> rb.numerical_rank(np.log(T), "press").value      # d_teacher + 1
    9
    """
    temperature = _as_scalar(temperature, "temperature", low=0, low_open=True)
    H, W, _ = contexts_and_words(N, M, d_teacher, logit_scale=1.0 / temperature,
                                 seed=seed)
    return _act.softmax(H @ W.T)


def dirichlet_target(N, M, *, concentration=1.0, seed=None):
    r"""Rows drawn from a symmetric Dirichlet(`concentration`): full rank.

    Drawn as normalised Gamma variables; a small concentration gives peaked
    rows, and entries that underflow to exactly 0.

    See Also
    --------
    teacher_target : a target of known rank.
    multimode_target : a sparse one.
    rankbottleneck.expressivity_sweep : fits every activation to one.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> T = rb.synthetic.dirichlet_target(50, 30, seed=0)
    >>> T.shape, bool(np.allclose(T.sum(axis=1), 1))
    ((50, 30), True)
    >>> rb.numerical_rank(np.log(T), "press").value
    30
    """
    N = _as_int(N, "N", low=1)
    M = _as_int(M, "M", low=1)
    concentration = _as_scalar(concentration, "concentration", low=0,
                               low_open=True)
    rng = _as_rng(seed)
    G = rng.gamma(concentration, size=(N, M))
    total = G.sum(axis=1, keepdims=True)
    # A row whose every Gamma draw underflowed gets one random word.
    empty = total[:, 0] == 0
    if np.any(empty):
        G[empty, rng.integers(M, size=int(empty.sum()))] = 1.0
        total = G.sum(axis=1, keepdims=True)
    return G / total


def multimode_target(N, M, *, n_modes=3, smoothing=0.0, seed=None):
    r"""Sparse multi-mode rows: `n_modes` random words share the mass.

    Each row puts Dirichlet(1) weights on `n_modes` distinct random words;
    ``smoothing`` mixes in the uniform distribution,
    ``(1 - smoothing) P + smoothing / M``, so that ``smoothing > 0`` gives a
    target with no zeros.

    See Also
    --------
    dirichlet_target : a dense full-rank target.

    Examples
    --------
    >>> from rankbottleneck.synthetic import multimode_target
    >>> (multimode_target(4, 6, n_modes=2, seed=0) > 0).sum(axis=1)
    array([2, 2, 2, 2])
    """
    N = _as_int(N, "N", low=1)
    M = _as_int(M, "M", low=1)
    n_modes = _as_int(n_modes, "n_modes", low=1)
    if n_modes > M:
        raise ValueError(f"n_modes must be at most M = {M}; got {n_modes}")
    smoothing = _as_scalar(smoothing, "smoothing", low=0, high=1)
    rng = _as_rng(seed)
    words = np.argsort(rng.random((N, M)), axis=1)[:, :n_modes]
    weights = rng.dirichlet(np.ones(n_modes), size=N)
    P = np.zeros((N, M))
    np.put_along_axis(P, words, weights, axis=1)
    return (1 - smoothing) * P + smoothing / M


def noisy_low_rank(n, *, rank=10, c=0.0, signal_norm=None, seed=None):
    r"""A rank-`rank` n×n matrix plus Gaussian noise of standard deviation ``c/n²``.

    The noise experiment of Parthiban et al. 2021 (supplement): Press rank
    climbs to thousands as ``c`` grows from 1e-26 to 1e-20 while the
    ε-effective rank stays at `rank`.

    The paper does not give the scale of the rank-`rank` part. Its
    published pattern at ``n = 10⁴`` (Press rank 10 at ``c = 1e-26``, 1,159 at
    1e-24) puts the noise edge ``2(c/n²)√n`` at the Press threshold
    ``0.5·√(2n+1)·σ_1·ε`` near ``c = 1e-24``, i.e. ``σ_1 ≈ 10⁻¹⁶ = n⁻⁴``;
    so the default `signal_norm` (the spectral norm of the signal) is
    ``n⁻⁴``. The signal is ``U Vᵀ`` with Gaussian factors, rescaled.

    Returns
    -------
    (n, n) ndarray

    See Also
    --------
    rankbottleneck.numerical_rank : Press against ε-effective rank.

    Examples
    --------
    The Press rank climbs with the noise; the ε-effective rank stays at 10:

    >>> import rankbottleneck as rb
    >>> A = rb.synthetic.noisy_low_rank(200, rank=10, c=1e-20, seed=0)
    >>> rb.numerical_rank(A, "press").value, rb.numerical_rank(A, "effective", eps=1e-3).value
    (152, 10)
    """
    n = _as_int(n, "n", low=1)
    rank = _as_int(rank, "rank", low=1)
    if rank > n:
        raise ValueError(f"rank must be at most n = {n}; got {rank}")
    c = _as_scalar(c, "c", low=0)
    signal_norm = float(n) ** -4 if signal_norm is None else _as_scalar(
        signal_norm, "signal_norm", low=0, low_open=True)
    rng = _as_rng(seed)
    U = rng.standard_normal((n, rank))
    V = rng.standard_normal((n, rank))
    # spectral norm of U Vᵀ from the small factors: ‖U Vᵀ‖ = ‖R_U R_Vᵀ‖
    norm = np.linalg.norm(np.linalg.qr(U, mode="r") @ np.linalg.qr(V, mode="r").T, 2)
    S = (U * (signal_norm / norm)) @ V.T
    if c > 0:
        S += rng.standard_normal((n, n)) * (c / n**2)
    return S


class _Recurrent:
    """A seeded recurrent token model: ``model(ids) -> logits`` (see
    :func:`isan` and :func:`tanh_rnn`).

    ``s_t = φ(A[x_t] s_{t−1} + b[x_t])`` from ``s_0``, logits ``W s_T + c``,
    with φ the identity (an ISAN) or tanh.
    """

    def __init__(self, kind, A, b, W, c, s0):
        self.kind, self.A, self.b, self.W, self.c, self.s0 = kind, A, b, W, c, s0
        self.vocab_size, self.hidden_size = W.shape

    def states(self, ids):
        """The state after each sequence: ``(n, d)`` for ``ids`` ``(n, T)``."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"ids must be a 2-D int array (sequences × positions); "
                             f"got shape {ids.shape}, dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size}); got "
                             f"{int(ids.min())} to {int(ids.max())}")
        s = np.tile(self.s0, (ids.shape[0], 1))
        for t in range(ids.shape[1]):
            x = ids[:, t]
            s = np.einsum("nij,nj->ni", self.A[x], s) + self.b[x]
            if self.kind == "tanh":
                s = np.tanh(s)
        return s

    def __call__(self, ids):
        return self.states(ids) @ self.W.T + self.c

    def __repr__(self):
        name = "isan" if self.kind == "isan" else "tanh_rnn"
        return f"{name}(vocab_size={self.vocab_size}, d={self.hidden_size})"


def _recurrent_parameters(vocab_size, d, logit_scale, seed):
    vocab_size = _as_int(vocab_size, "vocab_size", low=2)
    d = _as_int(d, "d", low=1)
    logit_scale = _as_scalar(logit_scale, "logit_scale", low=0, low_open=True)
    rng = _as_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((vocab_size, d, d)))
    # sign-fixed QR: Haar-distributed orthogonal matrices, one per token
    A = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
    b = rng.standard_normal((vocab_size, d)) / np.sqrt(d)
    W = rng.standard_normal((vocab_size, d)) * (logit_scale / np.sqrt(d))
    c = rng.standard_normal(vocab_size) * logit_scale
    s0 = rng.standard_normal(d) / np.sqrt(d)
    return A, b, W, c, s0


def isan(vocab_size, d, *, offsets=True, logit_scale=1.0, seed=None):
    r"""A seeded input-switched affine network (ISAN) as a token model.

    .. math::

        s_t = A_{x_t} s_{t-1} + b_{x_t}, \qquad
        \text{logits} = W s_T + c,

    with ``A_x`` Haar-random orthogonal ``d × d`` (states neither blow up
    nor vanish over long sequences), ``b_x``, ``W``, ``c`` and ``s_0``
    Gaussian.

    Parameters
    ----------
    vocab_size : int
        ``V ≥ 2``.
    d : int
        The state size.
    offsets : bool
        Keep the offsets ``b_x`` and ``c``; False sets both to zero.
    logit_scale : float
        Standard deviation of ``W``'s rows' logits (and of ``c``).
    seed : None, int or numpy.random.Generator

    Returns
    -------
    callable
        ``model(ids)``: ``(n, T)`` int token ids to ``(n, V)`` logits after
        each sequence; ``model.states(ids)`` the ``(n, d)`` states;
        attributes ``A, b, W, c, s0, vocab_size, hidden_size``.

    Notes
    -----
    **Its extended logit matrix has rank exactly d + 1 with offsets, d
    without** (for generic parameters and enough histories and columns). After
    ``h ∘ f`` the state is ``A_f s_h + b_f`` (``A_f`` the product of the
    future's matrices, ``b_f`` its accumulated offset), so the centred entry
    is

    .. math::

        L[h, (f, z)] = \tilde W_z A_f s_h + (\tilde W_z b_f + \tilde c_z),

    with ``W̃``, ``c̃`` centred over the vocabulary. It is affine in ``s_h``:
    ``L = [S_H, 1] M``, rank at most ``d + 1``. Centring removes only the
    mean of ``c``, not ``c``: the constant column survives through ``c̃`` and
    ``W̃ b_f``, and for generic parameters the rank is ``d + 1``. With
    ``offsets=False`` (``b = 0``, ``c = 0``) every entry is linear in
    ``s_h``: rank at most ``d``, exactly ``d`` once the states of the
    histories span ``R^d``. Golowich, Liu & Shetty's (time-varying) ISAN is
    the linear kind, ``x_t = A_{y_t, t} x_{t−1}``; an affine ISAN of size d
    is a linear one of size d + 1 (a constant coordinate).

    See Also
    --------
    tanh_rnn : the same recursion through tanh: not low rank.
    rankbottleneck.extended_logit_matrix : the matrix of such a model.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> model = rb.synthetic.isan(10, 3, seed=0)
    >>> model([[1, 2, 3], [4, 5, 6]]).shape
    (2, 10)
    """
    offsets = bool(offsets) if isinstance(offsets, (bool, np.bool_)) else offsets
    if not isinstance(offsets, bool):
        raise TypeError(f"offsets must be True or False; got {offsets!r}")
    A, b, W, c, s0 = _recurrent_parameters(vocab_size, d, logit_scale, seed)
    if not offsets:
        b, c = np.zeros_like(b), np.zeros_like(c)
    return _Recurrent("isan", A, b, W, c, s0)


def tanh_rnn(vocab_size, d, *, gain=2.0, logit_scale=1.0, seed=None):
    r"""A seeded nonlinear recurrent token model: the ISAN through tanh.

    .. math::

        s_t = \tanh(g A_{x_t} s_{t-1} + b_{x_t}), \qquad
        \text{logits} = W s_T + c,

    the parameters drawn as in :func:`isan` (same seed, same ``A, b, W, c``)
    and ``g`` the `gain`.

    Returns
    -------
    callable
        As :func:`isan`.

    Notes
    -----
    With only the empty future its (centred next-token) matrix is still
    ``W̃ s_h + c̃``, rank at most ``d + 1``; with non-empty futures the
    entries are nonlinear in ``s_h`` and the rank rises above ``d + 1`` (the
    control for :func:`isan`'s exact cliff). Each future's block of columns
    is ``W̃ s_{h∘f} + c̃``, so the rank is at most ``|F| · d + 1``, which
    generic parameters reach when there are that many histories.

    See Also
    --------
    isan : the linear recursion, exactly low rank.
    rankbottleneck.extended_logit_matrix : the matrix of such a model.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> rb.synthetic.tanh_rnn(10, 3, seed=0)
    tanh_rnn(vocab_size=10, d=3)
    """
    gain = _as_scalar(gain, "gain", low=0, low_open=True)
    A, b, W, c, s0 = _recurrent_parameters(vocab_size, d, logit_scale, seed)
    return _Recurrent("tanh", gain * A, b, W, c, s0)
