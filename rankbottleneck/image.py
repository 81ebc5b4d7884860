r"""The output image of a softmax model, and what it gives through an API.

The logits ``ℓ = W h + b`` of a softmax model lie in a ``d``-dimensional
affine subspace of ``R^V``, its **image**; the log-probabilities
``y = ℓ − lse(ℓ) 1`` lie in that subspace plus the all-ones direction
(``d + 1`` dimensions). :mod:`rankbottleneck.output_set` proves these
dimensions for a layer; this module takes a *basis* of the image from
observed outputs and uses it as Finlayson, Ren & Swayamdipta [1]_ do:

* membership (:meth:`OutputImage.contains`): an output of the same model lies
  in the image to float accuracy, the output of a model with another head
  does not;
* principal angles between two images (:meth:`OutputImage.angles`);
* :func:`compare_models`: "same image, other outputs" (a change inside the
  network, or of the final norm's weights) against "another image" (another
  head), and, with :func:`ellipse_residual`, the final norm told apart from
  an inner change (Finlayson et al. 2025 [2]_);
* :class:`RestrictedAPI`, a model served as a provider serves it (top-k
  log-probabilities after a bounded logit bias), and
  :func:`recover_logprobs`, the full output vector from it: token by token in
  ``1 + ⌈(V − k)/(k − 1)⌉`` calls, or with the image in about
  ``⌈d/(k − 1)⌉`` calls; :func:`api_hidden_size` reads ``d`` through the API.

References
----------
.. [1] M. Finlayson, X. Ren, S. Swayamdipta, "Logits of API-protected LLMs
   leak proprietary information", COLM 2024, arXiv:2403.09539.
.. [2] M. Finlayson et al., arXiv:2510.14086 (2025): the outputs of a model
   whose head follows an RMS or layer norm lie on an ellipse in its image.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.linalg

from ._lapack import _qr_r, _unscaled
from ._measures import _computed_in, _machine_eps
from ._result import Result
from ._validation import _as_float_array, _as_int, _as_scalar
from .activations import log_softmax
from .activations._base import logsumexp as _lse
from .spectra._hidden_size import HiddenSizeEstimate, _cliff, estimate_hidden_size
from .spectra._spectrum import _singular_values

__all__ = [
    "OutputImage",
    "output_image",
    "MembershipROC",
    "membership_roc",
    "RestrictedAPI",
    "RecoveredLogprobs",
    "recover_logprobs",
    "APIHiddenSize",
    "api_hidden_size",
    "EllipseResidual",
    "ellipse_residual",
    "ModelComparison",
    "compare_models",
    "compare_outputs",
]

_KINDS = ("logprobs", "logits")
#: how far above the noise of the data (or the rounding floor) a residual
#: must be to count as outside: see the Notes of output_image
DEFAULT_FACTOR = 10.0


def _eps(dtype):
    return _machine_eps(dtype)[0]


# --------------------------------------------------------------------------
# the image
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class OutputImage(Result):
    r"""The image of a softmax model, from its outputs: ``offset + span(basis)``.

    Returned by :func:`output_image`.

    Attributes
    ----------
    kind : {"logprobs", "logits"}
    basis : (V, r) ndarray
        Orthonormal columns. For log-probabilities ``r = d + 1``: the
        all-ones direction ``1/√V`` first, then ``d`` directions orthogonal
        to it; for logits ``r = d``.
    offset : (V,) ndarray
        The mean of the outputs the image was taken from (the image is
        affine: an output bias ``b`` need not lie in ``span(W)``).
    d : int
        The hidden size (the dimension of the image of the logits).
    hidden_size : HiddenSizeEstimate
        The evidence for ``d``: the spectrum cliff (None when `d` was given).
    noise : float
        The largest relative residual :meth:`residual` of the outputs the
        image was taken from: the noise level of the data.
    tolerance : float
        ``factor · max(noise, √V · ε)`` with ``ε`` that of `computed_in`:
        :meth:`contains` accepts residuals up to it.
    factor : float
    computed_in : str
        The dtype the outputs were computed in.
    n_outputs : int

    See Also
    --------
    output_image : builds it.
    compare_models : one model's outputs in another's image.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
    >>> image = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
    >>> image.V, image.d, image.kind
    (50, 6, 'logprobs')
    """

    kind: str
    basis: np.ndarray
    offset: np.ndarray
    d: int
    hidden_size: HiddenSizeEstimate | None
    noise: float
    tolerance: float
    factor: float
    computed_in: str
    n_outputs: int

    @property
    def V(self):
        """The width of an output (the vocabulary size)."""
        return self.basis.shape[0]

    def _as_dict_fields(self):
        fields = super()._as_dict_fields()
        fields.pop("basis")
        fields.pop("offset")
        return {**fields, "V": self.V, "rank": self.basis.shape[1]}

    def __repr__(self):
        cliff = ("given" if self.hidden_size is None else
                 f"cliff σ_d/σ_(d+1) = {self.hidden_size.gap:.3g}")
        return (f"OutputImage({self.kind}, V = {self.V}, d = {self.d} ({cliff}), "
                f"basis of {self.basis.shape[1]}, noise {self.noise:.3g}, "
                f"tolerance {self.tolerance:.3g}, from {self.n_outputs} outputs)")

    def _outputs(self, outputs, name="outputs"):
        Y = _as_float_array(outputs, name)
        if Y.ndim not in (1, 2) or Y.shape[-1] != self.V:
            raise ValueError(f"{name} must have shape ({self.V},) or (n, {self.V}) "
                             f"to match the image (V = {self.V}); got shape {Y.shape}")
        return Y

    def residual(self, outputs):
        r"""Relative distance of outputs from the image.

        .. math::

            ρ(y) = ‖(I − B Bᵀ)(y − o)‖ / ‖y‖

        with ``B`` the basis and ``o`` the offset.

        Parameters
        ----------
        outputs : (V,) or (n, V) array_like
            Outputs of the image's kind.

        Returns
        -------
        float or (n,) ndarray

        See Also
        --------
        OutputImage.contains : the residual against the image's tolerance.

        Examples
        --------
        >>> import rankbottleneck as rb
        >>> H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
        >>> image = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
        >>> H2, _, _ = rb.contexts_and_words(3, 50, 6, seed=1)
        >>> bool((image.residual(rb.PointwiseLayer(W).log_prob_matrix(H2)) < 1e-13).all())
        True
        """
        Y = self._outputs(outputs)
        X = Y.astype(np.float64) - self.offset
        R = X - (X @ self.basis) @ self.basis.T
        norm = np.maximum(np.linalg.norm(Y, axis=-1), np.finfo(np.float64).tiny)
        rho = np.linalg.norm(R, axis=-1) / norm
        return float(rho) if Y.ndim == 1 else rho

    def contains(self, outputs, *, computed_in=None):
        r"""Whether outputs lie in the image, to the precision of the data.

        An output is a member when ``residual(y) ≤ factor · max(noise,
        √V · ε)``: the image's own tolerance, with ``ε`` the larger of that
        of the image's outputs and that of `computed_in`.

        Parameters
        ----------
        outputs : (V,) or (n, V) array_like
        computed_in : dtype, optional
            The dtype these outputs were computed in; default their own.

        Returns
        -------
        bool or (n,) bool ndarray

        See Also
        --------
        OutputImage.residual : the distances themselves.
        compare_models : membership of one model's outputs in another's image.

        Examples
        --------
        >>> import numpy as np
        >>> import rankbottleneck as rb
        >>> H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
        >>> image = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
        >>> W2 = W + 0.01 * np.random.default_rng(2).standard_normal(W.shape)
        >>> bool(image.contains(rb.PointwiseLayer(W2).log_prob_matrix(H)).any())
        False
        """
        Y = self._outputs(outputs)
        inside = np.asarray(self.residual(Y)) <= self._tolerance(
            _computed_in(computed_in, Y))
        return bool(inside) if Y.ndim == 1 else inside

    def _tolerance(self, computed_in):
        """The membership threshold for outputs computed in `computed_in`."""
        eps = max(_eps(self.computed_in), _eps(computed_in))
        return self.factor * max(self.noise, math.sqrt(self.V) * eps)

    def angles(self, other):
        r"""Principal angles between this image and `other` (radians, descending).

        The angles between the linear parts ``span(basis)`` (the offsets are
        not compared: :meth:`residual` does that), computed as
        :func:`scipy.linalg.subspace_angles` does (Knyazev & Argentati: the
        sine formula for small angles). Two log-probability images share the
        all-ones direction, so one angle is always 0.

        Parameters
        ----------
        other : OutputImage
            Of the same width ``V``.

        Returns
        -------
        (min(r, r'),) ndarray

        See Also
        --------
        OutputImage.residual, compare_models

        Examples
        --------
        >>> import numpy as np
        >>> import rankbottleneck as rb
        >>> H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
        >>> a = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
        >>> b = rb.output_image(rb.PointwiseLayer(W @ np.diag(np.arange(1.0, 7))).log_prob_matrix(H))
        >>> bool(a.angles(b).max() < 1e-6)       # W and W·diag(γ): one image
        True
        """
        if not isinstance(other, OutputImage):
            raise TypeError(f"other must be an OutputImage; got {type(other).__name__}")
        if other.V != self.V:
            raise ValueError(f"other must have the same width V = {self.V}; got "
                             f"V = {other.V}")
        return scipy.linalg.subspace_angles(self.basis, other.basis)


def output_image(outputs, *, kind="logprobs", dimension=None, computed_in=None,
                 factor=DEFAULT_FACTOR):
    r"""The image of a softmax model: an orthonormal basis of its outputs' span.

    For log-probabilities ``y = W h + b − lse·1`` the image is the affine
    subspace ``ȳ + span(W, 1)`` (``d + 1`` dimensions); for logits
    ``ℓ = W h + b`` it is ``ℓ̄ + span(W)`` (``d``), with ``ȳ``, ``ℓ̄`` the
    mean output. ``d`` is read off the spectrum cliff of the doubly centred
    outputs by :func:`estimate_hidden_size`; the ``d`` leading right
    singular vectors of those outputs (rows centred for log-probabilities,
    columns always) span ``C W`` (``C`` the centring), and with ``1/√V``
    they span ``W`` and ``1``.

    Parameters
    ----------
    outputs : (N, V) array_like
        Full output vectors of one model at ``N`` contexts; ``N ≥ d + 2``.
    kind : {"logprobs", "logits"}
    dimension : int, optional
        ``d`` when known (the cliff is then not read; ``N ≥ d + 2`` still).
    computed_in : dtype, optional
        The dtype the outputs were computed in (default their own); its
        ``ε`` sets the rounding floor.
    factor : float
        See Notes.

    Returns
    -------
    OutputImage

    Notes
    -----
    The membership tolerance is ``factor · max(noise, √V · ε)``. ``noise``
    is the largest relative residual of the outputs the image was taken
    from (the data's own noise: the model's rounding in its dtype, or
    whatever else the outputs carry); ``√V · ε`` is the relative error of a
    length-V vector whose entries each carry an error of ``ε`` times the
    largest entry (a floor when the data are exact). ``factor = 10`` covers
    that the fitted basis absorbs part of the noise of its own data (so a
    fresh output's residual is somewhat larger) and leaves an order of
    magnitude between a member and anything counted as outside.

    For log-probabilities each row must sum to one in probability: a row
    whose ``logsumexp`` differs from 0 by more than ``V · ε · max(1, |y|)``
    (the error bound of summing ``V`` exponentials) is refused.

    See Also
    --------
    estimate_hidden_size : the cliff that gives ``d``.
    output_set_dimension : the span dimensions of a layer's output set.
    OutputImage.contains, compare_models, recover_logprobs

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
    >>> image = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
    >>> image.d, image.basis.shape
    (6, (50, 7))
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}")
    Y = _as_float_array(outputs, "outputs", ndim=2)
    N, V = Y.shape
    if V < 3:
        raise ValueError(f"outputs must have at least 3 columns (V ≥ 3); got shape "
                         f"{Y.shape}")
    dt = _computed_in(computed_in, Y)
    factor = _as_scalar(factor, "factor", low=1)
    eps = _eps(dt)
    Y64 = Y.astype(np.float64)
    if kind == "logprobs":
        lse = _lse(Y64)
        limit = V * eps * np.maximum(1.0, np.abs(Y64).max(axis=1))
        bad = np.abs(lse) > limit
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"outputs[{i}] are not log-probabilities: their logsumexp is "
                f"{lse[i]:.3g}, not 0 (to {limit[i]:.3g}); pass kind='logits' for "
                "logits")
    offset = Y64.mean(axis=0)
    X = Y64 - offset
    if kind == "logprobs":          # doubly centred, as estimate_hidden_size reads
        X = X - X.mean(axis=1, keepdims=True)
    U, s = _left_vectors_and_values(X)
    if dimension is not None:
        d = _as_int(dimension, "dimension", low=1, high=V - 2)
        evidence = None
    else:
        if kind == "logprobs":      # the cliff of these very singular values
            s1 = float(_unscaled(*_singular_values(Y64, top=1))[0])
            evidence = _cliff(s, s1, Y64.shape, dt, 1e3)
        else:
            evidence = estimate_hidden_size(Y64, computed_in=dt)
        d = evidence.d
        if d is None:
            raise ValueError(
                f"outputs: {evidence.message}. The image needs at least d + 2 "
                f"outputs (d the hidden size); {N} outputs cannot show a d of "
                f"{N - 1} or more: pass more outputs (more contexts than d + 1), "
                "or dimension= if d is known")
    if N < d + 2:
        raise ValueError(f"outputs: the image of dimension d = {d} needs at least "
                         f"d + 2 = {d + 2} outputs; got {N}")
    # the d leading right singular vectors, Xᵀ u_i / σ_i (orthonormal to
    # ε σ_1/σ_d: σ_d is far above the cliff)
    B = (X.T @ U[:, :d]) / s[:d]
    if kind == "logprobs":
        B = np.column_stack([np.full(V, 1 / math.sqrt(V)), B])
    image = OutputImage(kind=kind, basis=B, offset=offset, d=int(d),
                        hidden_size=evidence, noise=0.0, tolerance=0.0,
                        factor=factor, computed_in=str(dt), n_outputs=int(N))
    noise = float(np.max(image.residual(Y64)))
    return dataclasses.replace(image, noise=noise,
                               tolerance=factor * max(noise, math.sqrt(V) * eps))


def _left_vectors_and_values(X):
    """``(U, σ)`` of the SVD ``X = U diag(σ) Zᵀ`` of a wide ``(N, V)`` matrix,
    by a QR of ``Xᵀ`` (``dgeqrf``) and the SVD of its ``N × N`` triangle:
    the right vectors ``Z`` (length ``V``) are never formed (``np.linalg.svd``
    forms all ``N`` of them: 9 s for 600 × 49,152, against 3 s here)."""
    if X.shape[0] > X.shape[1]:
        U, s, _ = np.linalg.svd(X, full_matrices=False)
        return U, s
    U, s, _ = np.linalg.svd(_qr_r(np.array(X.T, order="F")).T)
    return U, s


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class MembershipROC(Result):
    r"""How well an image's residual tells members from other outputs.

    Returned by :func:`membership_roc`.

    Attributes
    ----------
    auc : float
        Area under the ROC: the probability that an other output's residual
        exceeds a member's (ties count one half).
    false_positive_rate, true_positive_rate : ndarray
        The ROC, from (0, 0) to (1, 1): "other" is the positive class and
        an output is called other when its residual exceeds a threshold.
    thresholds : ndarray
        The residual thresholds of the points (``inf`` first).
    members, others : (n,) ndarray
        The residuals.
    tolerance : float
        The image's own threshold (:meth:`OutputImage.contains`; nan when
        not given).
    separated : bool
        Every member within `tolerance`, every other output beyond it.

    See Also
    --------
    membership_roc : computes it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(60, 50, 6, seed=0)
    >>> image = rb.output_image(rb.PointwiseLayer(W).log_prob_matrix(H))
    >>> H2, _, _ = rb.contexts_and_words(20, 50, 6, seed=1)
    >>> W2 = W + 0.01 * np.random.default_rng(2).standard_normal(W.shape)
    >>> roc = rb.membership_roc(
    ...     image.residual(rb.PointwiseLayer(W).log_prob_matrix(H2)),
    ...     image.residual(rb.PointwiseLayer(W2).log_prob_matrix(H2)),
    ...     tolerance=image.tolerance)
    >>> roc.auc, roc.separated
    (1.0, True)
    """

    auc: float
    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    thresholds: np.ndarray
    members: np.ndarray
    others: np.ndarray
    tolerance: float
    separated: bool

    def __repr__(self):
        return (f"MembershipROC(AUC {self.auc:.4g}; {self.members.size} members, "
                f"largest residual {self.members.max():.3g}; {self.others.size} "
                f"others, smallest {self.others.min():.3g}; tolerance "
                f"{self.tolerance:.3g}{', separated' if self.separated else ''})")


def membership_roc(members, others, *, tolerance=None):
    r"""The ROC and its AUC of membership, scored by the residual.

    Parameters
    ----------
    members : (n,) array_like
        Residuals (:meth:`OutputImage.residual`) of outputs of the image's
        model, at contexts the image was not taken from.
    others : (m,) array_like
        Residuals of another model's outputs.
    tolerance : float, optional
        The image's threshold (:attr:`OutputImage.tolerance`), for
        ``separated``.

    Returns
    -------
    MembershipROC

    See Also
    --------
    OutputImage.residual, OutputImage.contains, compare_outputs

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> rb.membership_roc([1e-14, 2e-14], [1e-3, 5e-2], tolerance=1e-6)
    MembershipROC(AUC 1; 2 members, largest residual 2e-14; 2 others, smallest 0.001; tolerance 1e-06, separated)
    """
    a = _as_float_array(members, "members", ndim=1).astype(np.float64)
    b = _as_float_array(others, "others", ndim=1).astype(np.float64)
    tol = np.nan if tolerance is None else _as_scalar(tolerance, "tolerance", low=0)
    # AUC as the Mann-Whitney statistic: P(b > a) + P(b = a) / 2
    both = np.concatenate([a, b])
    # imported here: scipy.stats is a quarter of the package's import time
    import scipy.stats

    ranks = scipy.stats.rankdata(both)
    auc = float((ranks[a.size:].sum() - b.size * (b.size + 1) / 2) / (a.size * b.size))
    thresholds = np.concatenate([[np.inf], np.unique(both)[::-1]])
    fpr = np.array([(a >= t).mean() for t in thresholds])
    tpr = np.array([(b >= t).mean() for t in thresholds])
    fpr[0] = tpr[0] = 0.0
    sep = bool(a.max() <= tol < b.min())
    return MembershipROC(auc=auc, false_positive_rate=fpr, true_positive_rate=tpr,
                         thresholds=thresholds, members=a, others=b,
                         tolerance=tol, separated=sep)


# --------------------------------------------------------------------------
# models: a LanguageModel or a callable ids -> logits (the sequences adapter)
# --------------------------------------------------------------------------

def _model_logprobs(model, contexts, name="contexts"):
    """Log-probabilities (float64) and the dtype of the logits of `model` at
    `contexts` ((n, T) token ids)."""
    from .sequences import _logit_function

    ids = np.asarray(contexts)
    if ids.ndim != 2 or ids.dtype.kind not in "iu" or ids.size == 0:
        raise ValueError(f"{name} must be a non-empty (n, T) array of token ids; got "
                         f"shape {ids.shape}, dtype {ids.dtype}")
    if (ids < 0).any():
        raise ValueError(f"{name} must hold token ids ≥ 0; got {int(ids.min())}")
    raw = np.asarray(_logit_function(model)(ids.astype(np.int64)))
    if raw.ndim != 2 or raw.shape[0] != ids.shape[0] or raw.dtype.kind != "f":
        raise ValueError(f"model must return (n, V) float logits for {ids.shape[0]} "
                         f"contexts; got shape {raw.shape}, dtype {raw.dtype}")
    logits = _as_float_array(raw, "the model's logits")
    return log_softmax(logits.astype(np.float64), axis=1), logits.dtype


# --------------------------------------------------------------------------
# the ellipse
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class EllipseResidual(Result):
    r"""How far outputs sit from the ellipse of a normed head.

    Returned by :func:`ellipse_residual`.

    Attributes
    ----------
    residual : (n,) ndarray
        ``r = ‖u‖²/d − 1`` per output.
    tolerance : float
        The numerical error allowed above 0 (see :func:`ellipse_residual`).
    holds : bool
        No output lies outside the ellipse by more than `tolerance`.
    n_outside : int
    norm : str
        ``"rms"`` or ``"layer"``.

    See Also
    --------
    ellipse_residual : computes it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> rng = np.random.default_rng(0)
    >>> W, X = rng.standard_normal((40, 5)), rng.standard_normal((30, 5))
    >>> U = X / np.sqrt((X ** 2).mean(axis=1, keepdims=True))
    >>> e = rb.ellipse_residual((W, np.ones(5)), rb.log_softmax(U @ W.T, axis=1))
    >>> e.holds, e.n_outside, e.norm
    (True, 0, 'rms')
    """

    residual: np.ndarray
    tolerance: float
    holds: bool
    n_outside: int
    norm: str

    def __repr__(self):
        return (f"EllipseResidual({self.norm} norm: {'holds' if self.holds else 'FAILS'}"
                f", {self.n_outside} of {self.residual.size} outputs outside by more "
                f"than {self.tolerance:.3g}; max r = {self.residual.max():.3g})")


def _final_norm(model):
    """(W, γ, β, b, ε, kind) of a LanguageModel whose head follows a norm."""
    net = model.model
    head = net.get_output_embeddings()
    base = getattr(net, "base_model", net)
    norm = next((getattr(base, a) for a in ("norm", "ln_f", "final_layer_norm",
                                            "norm_f") if hasattr(base, a)), None)
    if norm is None:
        raise ValueError("model: no final norm found before the head (looked for "
                         "norm, ln_f, final_layer_norm, norm_f)")
    name = type(norm).__name__
    kind = "rms" if "RMS" in name.upper() else "layer"
    eps = next((float(getattr(norm, a)) for a in ("variance_epsilon", "eps")
                if hasattr(norm, a)), 0.0)

    def arr(t):
        return None if t is None else t.detach().cpu().double().numpy()

    return (arr(head.weight), arr(norm.weight), arr(getattr(norm, "bias", None)),
            arr(getattr(head, "bias", None)), eps, kind)


def ellipse_residual(model, outputs, *, computed_in=None, factor=DEFAULT_FACTOR):
    r"""Whether log-probabilities lie on the ellipse of a normed head.

    A head ``ℓ = W (γ ⊙ u + β) + b`` after an RMS norm (``u = x /
    √(mean(x²) + ε)``) or a layer norm (``x`` centred first) gives
    ``‖u‖² = d · m / (m + ε) ≤ d`` (``m`` the mean square of ``x``, or
    its variance for a layer norm): the
    outputs lie on (just inside) an ellipse in the image [2]_. Solving
    ``y − W β − b = W diag(γ) u + s 1`` by least squares for ``u`` (and the
    shift ``s`` of log-probabilities), ``r = ‖u‖²/d − 1`` is in
    ``[−ε/(m + ε), 0]`` for the model's own outputs; a changed ``γ`` moves
    outputs outside, ``r > 0``.

    Only that side is a proof (``m`` is not known from outputs, so a small
    ``r < 0`` is no evidence): the ellipse *holds* when no ``r`` exceeds
    ``tolerance = factor · 2 κ · max(ρ, √V ε)``, with ``κ`` the condition
    number of ``[W diag(γ), 1]``, ``ρ`` the largest relative residual of the
    least-squares fit and ``ε`` that of `computed_in` (the relative error of
    ``u`` is at most ``κ`` times that of the data, and ``r`` doubles it).

    Parameters
    ----------
    model : rankbottleneck.lm.LanguageModel or tuple
        A model whose head follows its final norm, or ``(W, γ)`` (RMS norm,
        no bias) or ``(W, γ, β)`` (layer norm) as arrays.
    outputs : (n, V) array_like
        Log-probabilities.
    computed_in : dtype, optional
        Default: float32 for a LanguageModel, else the outputs' dtype.
    factor : float

    Returns
    -------
    EllipseResidual

    See Also
    --------
    compare_models : uses this to tell a final-norm edit from an inner one.
    output_image : the image the ellipse lies in.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> rng = np.random.default_rng(0)
    >>> W, gamma = rng.standard_normal((40, 5)), 1 + 0.1 * rng.standard_normal(5)
    >>> X = rng.standard_normal((30, 5))
    >>> U = X / np.sqrt((X ** 2).mean(axis=1, keepdims=True))      # RMS norm, ε = 0
    >>> Y = rb.log_softmax(U @ (W * gamma).T, axis=1)
    >>> rb.ellipse_residual((W, gamma), Y).holds
    True
    >>> rb.ellipse_residual((W, 1.2 * gamma * rng.uniform(0.5, 1.5, 5)), Y).holds
    False
    """
    if isinstance(model, tuple):
        if len(model) not in (2, 3):
            raise ValueError("model as a tuple must be (W, γ) or (W, γ, β)")
        W = _as_float_array(model[0], "model[0] (W)", ndim=2).astype(np.float64)
        gamma = _as_float_array(model[1], "model[1] (γ)", ndim=1).astype(np.float64)
        beta = None if len(model) == 2 else _as_float_array(
            model[2], "model[2] (β)", ndim=1).astype(np.float64)
        b, kind, default_dt = None, "rms" if len(model) == 2 else "layer", None
    else:
        W, gamma, beta, b, _, kind = _final_norm(model)
        default_dt = np.float32
    V, d = W.shape
    if gamma.shape != (d,) or (beta is not None and beta.shape != (d,)):
        raise ValueError(f"model: γ (and β) must have the d = {d} entries of W's "
                         f"columns; got {gamma.shape}")
    Y = _as_float_array(outputs, "outputs", ndim=2)
    if Y.shape[1] != V:
        raise ValueError(f"outputs must have V = {V} columns to match the head; got "
                         f"shape {Y.shape}")
    dt = _computed_in(computed_in if computed_in is not None else default_dt, Y)
    factor = _as_scalar(factor, "factor", low=1)
    T = Y.astype(np.float64)
    if beta is not None:
        T = T - W @ beta
    if b is not None:
        T = T - b
    A = np.column_stack([W * gamma, np.ones(V)])
    # least squares by the normal equations when [W diag(γ), 1] is well
    # conditioned (error κ² ε: 3e-12 for SmolLM2's κ ≈ 180, in 0.3 s), by a
    # QR otherwise; the triangle gives κ either way
    try:
        R = scipy.linalg.cholesky(A.T @ A)
        s = scipy.linalg.svdvals(R)
        kappa = float(s[0] / s[-1])
    except np.linalg.LinAlgError:
        kappa = np.inf
    if kappa < 1e4:
        coef = scipy.linalg.cho_solve((R, False), A.T @ T.T)
    else:
        Q, R = np.linalg.qr(A)
        coef = scipy.linalg.solve_triangular(R, Q.T @ T.T)
        s = scipy.linalg.svdvals(R)
        kappa = float(s[0] / s[-1])
    U = coef[:d].T
    fit = np.linalg.norm(T - (A @ coef).T, axis=1) / np.linalg.norm(T, axis=1)
    tol = factor * 2 * kappa * max(float(fit.max()), math.sqrt(V) * _eps(dt))
    r = (U ** 2).sum(axis=1) / d - 1
    outside = int((r > tol).sum())
    return EllipseResidual(residual=r, tolerance=tol, holds=outside == 0,
                           n_outside=outside, norm=kind)


# --------------------------------------------------------------------------
# comparing models
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class ModelComparison(Result):
    r"""Model B against model A at the same contexts.

    Returned by :func:`compare_models`.

    Attributes
    ----------
    verdict : str
        ``"same outputs"``, ``"same image, different outputs"`` or
        ``"different image"``.
    change : str
        For "same image, different outputs" with a normed head: ``"final
        norm"`` (B's outputs leave A's ellipse) or ``"inside the network"``;
        else ``""``.
    image : OutputImage
        A's image.
    residual : (n,) ndarray
        B's outputs' residuals in A's image.
    members : int
        How many of B's outputs A's image contains.
    output_difference : float
        ``max ‖y_B − y_A‖ / ‖y_A‖`` over the contexts.
    angles : (r,) ndarray
        Principal angles between A's and B's images (``[nan]`` when B's
        outputs show no spectrum cliff, so have no image).
    ellipse : EllipseResidual or None
        B's outputs against A's ellipse (LanguageModels only).

    See Also
    --------
    compare_models : computes it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((30, 4))
    >>> model = lambda ids: np.cos(ids * np.arange(1, 5)) @ W.T
    >>> ids = np.arange(20)[:, None]
    >>> c = rb.compare_models(model, lambda i: model(i) @ np.eye(30)[::-1], ids)
    >>> c.verdict, c.members
    ('different image', 0)
    """

    verdict: str
    change: str
    image: OutputImage
    residual: np.ndarray
    members: int
    output_difference: float
    angles: np.ndarray
    ellipse: EllipseResidual | None

    def __repr__(self):
        what = self.verdict + (f" (change: {self.change})" if self.change else "")
        return (f"ModelComparison({what}: {self.members} of {self.residual.size} "
                f"outputs of B in A's image (max residual {self.residual.max():.3g}, "
                f"tolerance {self.image.tolerance:.3g}); outputs differ by "
                f"{self.output_difference:.3g}; largest angle {self.angles.max():.3g})")


def compare_models(model_a, model_b, contexts, *, factor=DEFAULT_FACTOR):
    r"""Same image, different outputs — or a different image?

    A's image is taken from its log-probabilities at `contexts`
    (:func:`output_image`); B's log-probabilities at the same contexts are
    tested for membership. "same outputs": B's outputs equal A's within A's
    tolerance; "same image, different outputs": every output of B is in A's
    image (a change inside the network, or of the final norm's weights, which
    maps ``span(W)`` onto itself); "different image": otherwise (another head,
    another model). For two LanguageModels with a normed head, a same-image
    change is told apart by :func:`ellipse_residual`: B's outputs off A's
    ellipse mean the final norm changed.

    Parameters
    ----------
    model_a, model_b : rankbottleneck.lm.LanguageModel or callable
        A callable maps an ``(n, T)`` int64 array of token ids to ``(n, V)``
        next-token logits (as in :func:`extended_logit_matrix`).
    contexts : (n, T) int array_like
        Token ids; ``n ≥ d + 2`` (``d + 20`` recommended).
    factor : float
        Passed to :func:`output_image`.

    Returns
    -------
    ModelComparison

    See Also
    --------
    output_image, ellipse_residual, OutputImage.angles

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> rng = np.random.default_rng(0)
    >>> E, W = rng.standard_normal((30, 6)), rng.standard_normal((30, 6))
    >>> def model(ids, M=np.eye(6), W=W):       # mean embedding, a linear map, a head
    ...     return np.tanh(E[ids].mean(axis=1) @ M) @ W.T
    >>> ids = rng.integers(0, 30, size=(40, 3))
    >>> rb.compare_models(model, lambda i: model(i, M=2 * np.eye(6)), ids).verdict
    'same image, different outputs'
    >>> rb.compare_models(model, lambda i: model(i, W=np.roll(W, 1, axis=0)), ids).verdict
    'different image'
    """
    Ya, dta = _model_logprobs(model_a, contexts)
    Yb, dtb = _model_logprobs(model_b, contexts)
    if Yb.shape != Ya.shape:
        raise ValueError(f"model_b must give outputs of A's shape {Ya.shape}; got "
                         f"{Yb.shape}")
    image = output_image(Ya, computed_in=dta, factor=factor)
    return compare_outputs(image, Ya, Yb, model=model_a, computed_in=dtb)


def compare_outputs(image, outputs_a, outputs_b, *, model=None, computed_in=None):
    r""":func:`compare_models` on outputs: B's against A's image and outputs.

    Parameters
    ----------
    image : OutputImage
        A's image (from other contexts than these, or the same).
    outputs_a, outputs_b : (n, V) array_like
        Log-probabilities of A and of B at the same `n` contexts.
    model : rankbottleneck.lm.LanguageModel, optional
        Model A, for the ellipse (a same-image change told apart).
    computed_in : dtype, optional
        The dtype B's outputs were computed in (default their own).

    Returns
    -------
    ModelComparison
        ``angles`` is ``[nan]`` when B's `n` outputs are too few for an image
        (``n < d + 2``) or show no cliff.

    See Also
    --------
    compare_models : runs both models first.
    membership_roc : the ROC of the residual.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> rng = np.random.default_rng(0)
    >>> W = rng.standard_normal((40, 3))
    >>> image = rb.output_image(rb.log_softmax(rng.standard_normal((12, 3)) @ W.T, axis=1))
    >>> H = rng.standard_normal((8, 3))
    >>> mine = rb.log_softmax(H @ W.T, axis=1)
    >>> other = rb.log_softmax(H @ rng.standard_normal((40, 3)).T, axis=1)
    >>> rb.compare_outputs(image, mine, other).verdict
    'different image'
    """
    if not isinstance(image, OutputImage):
        raise TypeError(f"image must be an OutputImage; got {type(image).__name__}")
    Ya = image._outputs(outputs_a, "outputs_a").astype(np.float64)
    Yb = image._outputs(outputs_b, "outputs_b")
    if Ya.ndim != 2 or Yb.shape != Ya.shape:
        raise ValueError(f"outputs_a and outputs_b must be (n, V) of one shape; got "
                         f"{Ya.shape} and {Yb.shape}")
    dtb = _computed_in(computed_in, Yb)
    Yb = Yb.astype(np.float64)
    factor = image.factor
    rho = image.residual(Yb)
    inside = rho <= image._tolerance(dtb)
    diff = float(np.max(np.linalg.norm(Yb - Ya, axis=1) / np.linalg.norm(Ya, axis=1)))
    angles = np.array([np.nan])
    if Yb.shape[0] >= image.d + 2:
        try:
            angles = image.angles(output_image(Yb, computed_in=dtb, factor=factor))
        except ValueError:      # B's outputs show no cliff: no image to compare
            pass
    ellipse, change = None, ""
    if diff <= image.tolerance:
        verdict = "same outputs"
    elif inside.all():
        verdict = "same image, different outputs"
        from .sequences import _is_language_model
        if model is not None and _is_language_model(model):
            try:
                ellipse = ellipse_residual(model, Yb, computed_in=dtb, factor=factor)
            except ValueError:
                ellipse = None
            if ellipse is not None:
                change = "inside the network" if ellipse.holds else "final norm"
    else:
        verdict = "different image"
    return ModelComparison(verdict=verdict, change=change, image=image, residual=rho,
                           members=int(inside.sum()), output_difference=diff,
                           angles=angles, ellipse=ellipse)


# --------------------------------------------------------------------------
# a restricted API
# --------------------------------------------------------------------------

class RestrictedAPI:
    r"""A model served as a provider serves it: top-k log-probabilities.

    ``api(prompt, bias)`` runs the model on `prompt` (a sequence of token
    ids), adds the logit bias ``{token: value}`` (``|value| ≤ max_bias``) to
    its next-token logits and returns the `top_k` tokens of the biased
    distribution with their log-probabilities, largest first, as a
    provider's API does (Finlayson et al. [1]_). Each call is counted in
    :attr:`calls`. The model runs once per prompt (the answers are cached;
    every call is still counted).

    Parameters
    ----------
    model : rankbottleneck.lm.LanguageModel or callable
        A callable maps an ``(n, T)`` int64 array of token ids to ``(n, V)``
        next-token logits.
    top_k : int
        How many tokens each call returns (≥ 2).
    logit_bias : bool
        Whether the API takes a bias.
    max_bias : float
        The largest ``|bias|`` it takes.
    decimals : int, optional
        Round returned log-probabilities to this many decimals.

    Attributes
    ----------
    calls : int
    V : int or None
        The vocabulary size (known after the first call).
    dtype : numpy.dtype or None
        The dtype of the model's logits (known after the first call).

    See Also
    --------
    recover_logprobs : the full vector from this API.
    api_hidden_size : ``d`` through this API.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((20, 3))
    >>> api = rb.RestrictedAPI(lambda ids: np.cos(ids[:, -1:] + np.arange(3)) @ W.T,
    ...                        top_k=3)
    >>> tokens, logprobs = api([4, 7])
    >>> tokens.shape, api.calls
    ((3,), 1)
    >>> tokens, _ = api([4, 7], bias={5: 100.0})
    >>> int(tokens[0]), api.calls
    (5, 2)
    """

    def __init__(self, model, *, top_k=5, logit_bias=True, max_bias=100.0,
                 decimals=None):
        from .sequences import _logit_function

        self._function = _logit_function(model)
        self.top_k = _as_int(top_k, "top_k", low=2)
        if not isinstance(logit_bias, (bool, np.bool_)):
            raise TypeError(f"logit_bias must be True or False; got {logit_bias!r}")
        self.logit_bias = bool(logit_bias)
        self.max_bias = _as_scalar(max_bias, "max_bias", low=0, low_open=True)
        self.decimals = None if decimals is None else _as_int(decimals, "decimals",
                                                              low=0)
        self.calls = 0
        self.V = None
        self.dtype = None
        self._cache = {}
        self._ranks = {}

    def __repr__(self):
        return (f"RestrictedAPI(top_k = {self.top_k}, logit_bias = {self.logit_bias}"
                f", max_bias = {self.max_bias:g}, V = {self.V}, calls = {self.calls})")

    def _logits(self, prompt):
        key = tuple(prompt)
        if key not in self._cache:
            raw = np.asarray(self._function(np.asarray([key], dtype=np.int64)))
            if raw.ndim != 2 or raw.shape[0] != 1 or raw.dtype.kind != "f":
                raise ValueError(f"model must return (1, V) float logits for one "
                                 f"prompt; got shape {raw.shape}, dtype {raw.dtype}")
            logits = _as_float_array(raw[0], "the model's logits")
            if self.V is not None and logits.size != self.V:
                raise ValueError(f"model returned {logits.size} logits, not V = "
                                 f"{self.V}")
            self.V, self.dtype = logits.size, logits.dtype
            if self.top_k > self.V:
                raise ValueError(f"top_k = {self.top_k} exceeds the vocabulary V = "
                                 f"{self.V}")
            self._cache[key] = logits.astype(np.float64)
        return self._cache[key]

    def _prompt(self, prompt):
        p = np.asarray(prompt)
        if p.ndim != 1 or p.size == 0 or p.dtype.kind not in "iu" or (p < 0).any():
            raise ValueError(f"prompt must be a non-empty sequence of token ids ≥ 0; "
                             f"got {prompt!r}")
        return [int(t) for t in p]

    def logprobs(self, prompt):
        """The full log-probability vector the API hides (to check a recovery
        against); not counted as a call."""
        return log_softmax(self._logits(self._prompt(prompt)))

    def _ranked(self, key):
        """The tokens by descending logit (ties by id) and ``lse(z)``."""
        if key not in self._ranks:
            z = self._cache[key]
            self._ranks[key] = (np.argsort(-z, kind="stable"), float(_lse(z)))
        return self._ranks[key]

    def __call__(self, prompt, bias=None):
        key = tuple(self._prompt(prompt))
        z = self._logits(key)
        order, lse = self._ranked(key)
        k = self.top_k
        if bias:
            if not self.logit_bias:
                raise ValueError("bias: this API takes no logit bias "
                                 "(logit_bias=False)")
            shift = {}
            for token, value in dict(bias).items():
                t = _as_int(token, "bias token", low=0, high=self.V - 1)
                v = _as_scalar(value, f"bias[{t}]")
                if abs(v) > self.max_bias:
                    raise ValueError(f"bias[{t}] = {v:g} is beyond the API's limit "
                                     f"max_bias = {self.max_bias:g}")
                shift[t] = v
        self.calls += 1
        if not bias:
            top = order[:k]
            values = z[top] - lse
        else:
            # O(k) per call, exactly as log_softmax(z + bias) ranked: the
            # biased normaliser from lse(z) and the biased terms, the top k
            # among the biased tokens and the leading unbiased ones
            toks = np.fromiter(shift, dtype=np.intp, count=len(shift))
            zb = z[toks] + np.fromiter(shift.values(), dtype=np.float64,
                                       count=len(shift))
            m = max(lse, float(zb.max()))
            rest = math.exp(lse - m) - float(np.exp(z[toks] - m).sum())
            if rest < 0.5 * math.exp(lse - m):      # cancellation: sum directly
                mask = np.ones(z.size, dtype=bool)
                mask[toks] = False
                rest = float(np.exp(z[mask] - m).sum())
            norm = m + math.log(max(rest, 0.0) + float(np.exp(zb - m).sum()))
            plain = [int(t) for t in order[:k + len(shift)] if int(t) not in shift][:k]
            pool = [(-float(v), int(t)) for t, v in zip(toks, zb)]
            pool += [(-float(z[t]), t) for t in plain]
            pool.sort()
            top = np.array([t for _, t in pool[:k]], dtype=np.intp)
            values = np.array([-v for v, _ in pool[:k]]) - norm
        if self.decimals is not None:
            values = np.round(values, self.decimals)
        return top, values


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class RecoveredLogprobs(Result):
    r"""A full log-probability vector recovered through a restricted API.

    Returned by :func:`recover_logprobs`.

    Attributes
    ----------
    logprobs : (V,) ndarray
        NaN where a token could not be lifted into the top k.
    calls : int
        API calls spent.
    method : str
        ``"image"`` or ``"token by token"``.
    observed : int
        Tokens whose log-probability a call returned.
    missing : tuple of int
        Tokens not recovered (token by token only).
    fit_residual : float
        Largest absolute residual of the observed values in the
        least-squares fit (0 token by token).
    normaliser_error : float
        ``logsumexp`` of the recovered vector: 0 for an exact recovery.

    See Also
    --------
    recover_logprobs : computes it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((12, 3))
    >>> api = rb.RestrictedAPI(lambda ids: np.cos(ids + np.arange(3)) @ W.T, top_k=4)
    >>> got = rb.recover_logprobs(api, [2])
    >>> got.method, got.calls, got.missing
    ('token by token', 4, ())
    """

    logprobs: np.ndarray
    calls: int
    method: str
    observed: int
    missing: tuple = ()
    fit_residual: float = 0.0
    normaliser_error: float = 0.0

    def __repr__(self):
        extra = f", {len(self.missing)} missing" if self.missing else ""
        return (f"RecoveredLogprobs({self.method}: V = {self.logprobs.size} in "
                f"{self.calls} calls, {self.observed} observed{extra}; normaliser "
                f"error {self.normaliser_error:.3g})")


def _call(api, prompt, bias=None):
    tokens, values = api(prompt, bias) if bias else api(prompt)
    tokens, values = np.asarray(tokens), np.asarray(values, dtype=np.float64)
    if tokens.shape != (api.top_k,) or values.shape != (api.top_k,):
        raise ValueError(f"api returned {tokens.size} tokens and {values.size} values;"
                         f" top_k = {api.top_k} promises {api.top_k} of each")
    return [int(t) for t in tokens], values


def recover_logprobs(api, prompt, image=None):
    r"""The full next-token log-probabilities from top-k answers and a bias.

    A call with no bias returns ``k`` true log-probabilities; the top token
    ``r`` is the reference. A call biasing ``k − 1`` other tokens by ``B =
    max_bias`` returns them with ``r`` (the largest unbiased logit), all
    shifted by the biased distribution's unknown normaliser, which the
    difference to ``r`` removes:

    .. math::

        y_t = y_r + (\tilde y_t − B) − \tilde y_r.

    So each call after the first gives ``k − 1`` numbers (one of its ``k`` is
    spent on the normaliser).

    *Token by token* (``image=None``): every token, ``1 + ⌈(V − k)/(k −
    1)⌉`` calls. *With the image* ``y = o + B c`` (``d + 1`` unknowns ``c``):
    the tokens queried are those a column-pivoted QR of ``Bᵀ`` ranks first
    (the best-conditioned rows of ``B``), and ``c`` is the least-squares
    solution over every value observed, once they number ``d + 1`` plus
    ``k − 1`` to spare: ``⌈d/(k − 1)⌉ + 1`` calls.

    Parameters
    ----------
    api : RestrictedAPI
        Or any object with ``top_k``, ``max_bias``, ``V`` and a call
        ``api(prompt, bias) -> (tokens, logprobs)``.
    prompt : sequence of int
    image : OutputImage, optional
        The model's image (of log-probabilities or logits).

    Returns
    -------
    RecoveredLogprobs

    Notes
    -----
    A token whose logit is more than ``max_bias`` below the others' cannot
    be lifted into the top k; token by token it stays NaN and is listed in
    ``missing``, with the image it is solved for like every other token.

    See Also
    --------
    RestrictedAPI, output_image, api_hidden_size

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((40, 4))
    >>> model = lambda ids: np.cos(ids @ np.ones((ids.shape[1], 4)) + np.arange(4)) @ W.T
    >>> api = rb.RestrictedAPI(model, top_k=5)
    >>> full = rb.recover_logprobs(api, [3])
    >>> full.calls, bool(np.allclose(full.logprobs, api.logprobs([3])))
    (10, True)
    >>> outputs = rb.log_softmax(model(np.arange(40)[:, None]), axis=1)
    >>> fast = rb.recover_logprobs(api, [3], image=rb.output_image(outputs))
    >>> fast.calls, bool(np.allclose(fast.logprobs, api.logprobs([3])))
    (2, True)
    """
    for attr in ("top_k", "max_bias"):
        if not hasattr(api, attr):
            raise TypeError(f"api must be a RestrictedAPI (or have top_k, max_bias and"
                            f" a call); it has no {attr}")
    k = _as_int(api.top_k, "api.top_k", low=2)
    B = float(api.max_bias)
    if image is not None and not isinstance(image, OutputImage):
        raise TypeError(f"image must be an OutputImage; got {type(image).__name__}")
    tokens, values = _call(api, prompt)            # no bias: true log-probabilities
    V = api.V
    if image is not None and image.V != V:
        raise ValueError(f"image has width V = {image.V}; the API's vocabulary is "
                         f"{V}")
    known = dict(zip(tokens, values))
    ref = tokens[0]
    calls = 1

    def query(group):
        nonlocal calls
        got, vals = _call(api, prompt, {t: B for t in group})
        calls += 1
        answer = dict(zip(got, vals))
        if ref not in answer:
            raise ValueError(f"api: the reference token {ref} left the top {k} under "
                             f"a bias of other tokens: the API does not behave as a "
                             "top-k API with a logit bias")
        for t in group:
            if t in answer:
                known[t] = known[ref] + (answer[t] - B) - answer[ref]

    if image is None:
        rest = [t for t in range(V) if t not in known]
        for i in range(0, len(rest), k - 1):
            query(rest[i:i + k - 1])
        y = np.full(V, np.nan)
        for t, v in known.items():
            y[t] = v
        missing = tuple(int(t) for t in np.flatnonzero(np.isnan(y)))
        lse = float(_lse(y[~np.isnan(y)])) if not missing else float("nan")
        return RecoveredLogprobs(logprobs=y, calls=calls, method="token by token",
                                 observed=len(known), missing=missing,
                                 normaliser_error=lse)
    Bas, o = image.basis, image.offset
    if image.kind == "logits":             # log-probabilities add the ones direction
        Bas, _ = np.linalg.qr(np.column_stack([np.ones(V), Bas]))
    r = Bas.shape[1]
    order = _query_order(image, Bas)
    queue = [int(t) for t in order if int(t) not in known]   # order: all V tokens
    need = r + (k - 1)
    while len(known) < need and queue:
        group, queue = queue[:k - 1], queue[k - 1:]
        query(group)
    if len(known) < r:
        raise ValueError(f"api: only {len(known)} tokens could be lifted into the top "
                         f"{k} by max_bias = {B:g}; the image needs {r} values")
    idx = np.fromiter(known, dtype=np.intp)
    rhs = np.fromiter(known.values(), dtype=np.float64) - o[idx]
    c, *_ = np.linalg.lstsq(Bas[idx], rhs, rcond=None)
    y = o + Bas @ c
    fit = float(np.max(np.abs(Bas[idx] @ c - rhs)))
    return RecoveredLogprobs(logprobs=y, calls=calls, method="image",
                             observed=len(known), fit_residual=fit,
                             normaliser_error=float(_lse(y)))


def _query_order(image, basis):
    """All tokens, the best-conditioned rows of `basis` first: a
    column-pivoted QR of ``basisᵀ`` over the ``4 r`` rows of largest leverage
    (``‖basis_t‖``; the whole QR over V = 49,152 tokens costs 4 s, this
    0.2 s), then the other tokens by leverage. Kept on the image."""
    key = f"_query_order_{basis.shape[1]}"
    cached = image.__dict__.get(key)
    if cached is not None:
        return cached
    by_leverage = np.argsort(-np.einsum("ij,ij->i", basis, basis), kind="stable")
    head = by_leverage[:4 * basis.shape[1]]
    _, _, piv = scipy.linalg.qr(basis[head].T, mode="economic", pivoting=True)
    order = np.concatenate([head[piv], by_leverage[head.size:]])
    image.__dict__[key] = order
    return order


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class APIHiddenSize(Result):
    r"""The hidden size read through a restricted API.

    Returned by :func:`api_hidden_size`.

    Attributes
    ----------
    d : int or None
    estimate : HiddenSizeEstimate
        The cliff, as :func:`estimate_hidden_size` reads it.
    calls : int
        API calls spent.
    outputs : (n, V) ndarray
        The recovered log-probabilities (to build an :func:`output_image`).

    See Also
    --------
    api_hidden_size : computes it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((30, 4))
    >>> api = rb.RestrictedAPI(lambda ids: np.cos(ids * np.arange(1, 5)) @ W.T,
    ...                        top_k=10)
    >>> rb.api_hidden_size(api, [[t] for t in range(12)]).outputs.shape
    (12, 30)
    """

    d: int | None
    estimate: HiddenSizeEstimate
    calls: int
    outputs: np.ndarray = dataclasses.field(metadata={"as_dict": False})

    def __repr__(self):
        return (f"APIHiddenSize(d = {self.d}, from {self.outputs.shape[0]} prompts in "
                f"{self.calls} calls; {self.estimate.message})")


def api_hidden_size(api, prompts):
    r"""The hidden size of the model behind a restricted API.

    Recovers the full log-probabilities after each prompt token by token
    (:func:`recover_logprobs`) and reads ``d`` off their spectrum cliff with
    :func:`estimate_hidden_size`, in the dtype of the model's logits (which
    sets the noise floor).

    Parameters
    ----------
    api : RestrictedAPI
    prompts : sequence of sequences of int
        At least ``d + 2`` prompts (``d + 20`` recommended).

    Returns
    -------
    APIHiddenSize

    See Also
    --------
    estimate_hidden_size, recover_logprobs, output_image

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> W = np.random.default_rng(0).standard_normal((30, 4))
    >>> api = rb.RestrictedAPI(lambda ids: np.cos(ids * np.arange(1, 5)) @ W.T,
    ...                        top_k=10)
    >>> found = rb.api_hidden_size(api, [[t] for t in range(12)])
    >>> found.d, found.calls
    (4, 48)
    """
    prompts = list(prompts)
    if len(prompts) < 3:
        raise ValueError(f"prompts must hold at least 3 prompts (d + 2 for a "
                         f"hidden size d); got {len(prompts)}")
    before = api.calls
    Y = np.stack([recover_logprobs(api, p).logprobs for p in prompts])
    if np.isnan(Y).any():
        raise ValueError("api: some tokens could not be lifted into the top k by "
                         f"max_bias = {api.max_bias:g}; the full outputs are "
                         "incomplete")
    est = estimate_hidden_size(Y, computed_in=getattr(api, "dtype", None))
    return APIHiddenSize(d=est.d, estimate=est, calls=api.calls - before, outputs=Y)
