r"""The extended logit matrix: the softmax bottleneck over sequences.

Golowich, Liu & Shetty [1]_ study a language model through a matrix with a
row per *history* ``h`` and a column per pair (*future* ``f``, token ``z``):

.. math::

    L[h, (f, z)] = \log P(z \mid h \circ f)
                   - \frac{1}{|\Sigma|} \sum_{z'} \log P(z' \mid h \circ f),

the log-probabilities of the next token after ``h ∘ f``, centred over the
vocabulary ``Σ`` (so each next-token distribution's normaliser drops out: for
a softmax model the entries are the centred logits). With the one empty
future it is the (centred) next-token matrix the rest of the toolkit studies.

A model given as any callable ``model(ids) -> logits`` (an ``(n, T)`` int64
array of token ids, one length per call, to ``(n, V)`` next-token logits at
the last position), or a :class:`rankbottleneck.lm.LanguageModel`, is run on
every ``h ∘ f`` in batches; :mod:`rankbottleneck.synthetic` has an ISAN
(exactly low rank) and a tanh recurrent control (not).

References
----------
.. [1] N. Golowich, A. Liu and A. Shetty, "Sequences of logits reveal the low
   rank structure of language models", arXiv:2510.24966 (2025).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._progress import progress_bar
from ._result import Result
from ._validation import (
    _as_bool,
    _as_int,
    _as_rng,
    _check_fits_in_memory,
    _format_bytes,
)
from .activations import log_softmax

__all__ = [
    "extended_logit_matrix",
    "sample_histories_futures",
    "ExtendedLogitMatrix",
    "PowerLaw",
    "TruncationKL",
    "lingen",
    "LingenResult",
]


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------

def _as_sequences(x, name, *, allow_empty_items):
    """`x` (a 2-D int array or a list of int sequences) as a tuple of tuples
    of non-negative Python ints, each checked, the message naming `name`."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a list of token-id sequences (or a 2-D "
                        f"int array); got a {type(x).__name__}")
    if isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise ValueError(f"{name} as an array must be 2-D (sequences × "
                             f"positions); got shape {x.shape}")
        if x.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer token ids; got dtype {x.dtype}")
        x = x.tolist()
    try:
        items = list(x)
    except TypeError:
        raise TypeError(f"{name} must be a list of token-id sequences; got "
                        f"{type(x).__name__}") from None
    if not items:
        raise ValueError(f"{name} must hold at least one sequence; got none")
    out = []
    for i, seq in enumerate(items):
        if isinstance(seq, (str, bytes)) or np.ndim(seq) != 1:
            raise TypeError(f"{name}[{i}] must be a 1-D sequence of token ids; got "
                            f"{seq!r:.80}")
        seq = list(seq)
        if not seq and not allow_empty_items:
            raise ValueError(f"{name}[{i}] is empty: a history needs at least one "
                             "token (only a future may be empty)")
        for j, t in enumerate(seq):
            if not isinstance(t, (int, np.integer)) or isinstance(t, (bool, np.bool_)):
                raise TypeError(f"{name}[{i}][{j}] must be an integer token id; got "
                                f"{t!r}")
            if t < 0:
                raise ValueError(f"{name}[{i}][{j}] = {t} is not a token id (ids are "
                                 "non-negative)")
        out.append(tuple(int(t) for t in seq))
    return tuple(out)


def _check_in_vocabulary(seqs, name, V):
    for i, seq in enumerate(seqs):
        for j, t in enumerate(seq):
            if t >= V:
                raise ValueError(f"{name}[{i}][{j}] = {t} is outside the model's "
                                 f"vocabulary of {V} tokens (ids 0 to {V - 1})")


def _language_model_function(model):
    """A LanguageModel as ``ids (n, T) -> last-position logits (n, V)``."""
    import torch

    net = model.model

    def logits(ids):
        with torch.no_grad():
            out = net(input_ids=torch.as_tensor(np.asarray(ids, dtype=np.int64)))
        return out.logits[:, -1, :].float().cpu().numpy()

    return logits


def _max_length(model):
    """The longest sequence a LanguageModel takes (None: any, or unknown)."""
    config = getattr(getattr(model, "model", None), "config", None)
    return getattr(config, "max_position_embeddings", None)


def _is_language_model(model):
    return hasattr(model, "model") and hasattr(model, "tokenizer") and \
        hasattr(model.model, "get_output_embeddings")


def _logit_function(model):
    if _is_language_model(model):
        return _language_model_function(model)
    if not callable(model):
        raise TypeError("model must be a rankbottleneck.lm.LanguageModel or a "
                        "callable mapping an (n, T) array of token ids to (n, V) "
                        f"next-token logits; got {type(model).__name__}")
    return model


def _run(function, ids, V=None):
    """Call the model on `ids` (n, T) and check what it returns."""
    n = ids.shape[0]
    out = np.asarray(function(ids))
    if out.dtype.kind not in "fiu":
        raise TypeError(f"model must return real logits; got dtype {out.dtype} for a "
                        f"batch of shape {ids.shape}")
    expected = f"({n}, V)" if V is None else f"({n}, {V})"
    if out.ndim != 2 or out.shape[0] != n or (V is not None and out.shape[1] != V) \
            or out.shape[1] < 2:
        raise ValueError(f"model must return next-token logits of shape {expected} "
                         f"(V ≥ 2) for a batch of {n} sequences of {ids.shape[1]} "
                         f"tokens; got shape {out.shape}")
    out = out.astype(np.float64, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"model must return finite logits; got {out[row, col]} at "
                         f"token {col} after the sequence {ids[row].tolist()} "
                         f"({int(bad.sum())} non-finite entries in that batch)")
    return out


def _centred_or_log_softmax(z, centre):
    if centre:
        return z - z.mean(axis=1, keepdims=True)
    return log_softmax(z, axis=1)


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, kw_only=True)
class PowerLaw(Result):
    r"""A power law fitted to a spectrum: ``σ_i ≈ C · i^(−α)``.

    Attributes
    ----------
    alpha : float
        The exponent α (a larger α: a faster decay, a lower approximate rank).
    C : float
        The prefactor.
    first, last : int
        The 1-based index range ``[first, last]`` fitted.
    r_squared : float
        The coefficient of determination of the straight-line fit of
        ``log σ_i`` on ``log i`` (1: a perfect power law).

    See Also
    --------
    ExtendedLogitMatrix.power_law : fits it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> fit = rb.ExtendedLogitMatrix.fit_power_law(3.0 * np.arange(1, 51) ** -0.5)
    >>> round(fit.alpha, 6), round(fit.C, 6), fit.first, fit.last
    (0.5, 3.0, 1, 50)
    """

    alpha: float
    C: float
    first: int
    last: int
    r_squared: float


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class TruncationKL(Result):
    r"""Mean KL between the model's next-token distributions and a rank-r
    truncation's, beside a bound from the truncation's Frobenius error.

    Attributes
    ----------
    ranks : (R,) int ndarray
    kl : (R,) float ndarray
        ``mean over (h, f) of KL(softmax(L[h, f]) ‖ softmax(L_r[h, f]))``,
        over the tokens kept for ``f`` (the whole vocabulary: the model's
        next-token distributions themselves).
    bound : (R,) float ndarray
        ``‖L − L_r‖_F² / (4 |H| |F|)``, an upper bound of `kl` (proved in
        :meth:`ExtendedLogitMatrix.truncation_kl`).
    frobenius_error : (R,) float ndarray
        ``‖L − L_r‖_F = sqrt(Σ_{i>r} σ_i²)``.
    n_pairs : int
        ``|H| · |F|``, the distributions averaged over.

    See Also
    --------
    ExtendedLogitMatrix.truncation_kl : computes it.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> import numpy as np
    >>> model = rb.synthetic.isan(8, 3, seed=0)
    >>> text = np.random.default_rng(0).integers(0, 8, 200)
    >>> H, F = rb.sample_histories_futures(text, 12, 4, 5, 2, seed=0)
    >>> kl = rb.extended_logit_matrix(model, H, F).truncation_kl([1, 2, 4])
    >>> bool((kl.kl <= kl.bound).all()), float(kl.kl[-1]) < 1e-20
    (True, True)
    """

    ranks: np.ndarray
    kl: np.ndarray
    bound: np.ndarray
    frobenius_error: np.ndarray
    n_pairs: int


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class ExtendedLogitMatrix(Result):
    r"""A model's extended logit matrix, with what it was built from.

    Attributes
    ----------
    matrix : (n_histories, n_futures · k) float64 ndarray
        ``L[h, (f, z)]``: column ``j·k + i`` is future ``j`` and token
        ``tokens[j, i]``.
    histories, futures : tuple of tuple of int
        The token ids of each history and each future (a future may be
        empty).
    tokens : (n_futures, k) int ndarray
        The token ids of each future's columns (every id, in order, when the
        whole vocabulary is kept).
    vocab_size : int
        ``V``, the model's vocabulary.
    centred : bool
        Whether entries are centred over the vocabulary (else they are the
        log-probabilities ``log P(z | h ∘ f)``).
    token_rule : str
        How the columns were chosen.
    n_sequences : int
        Next-token distributions computed: ``|H|·|F|`` (plus one probe call
        for a callable model).
    n_tokens_run : int
        Tokens the model processed: ``Σ_h Σ_f (len h + len f)`` for a
        callable (each ``h ∘ f`` run whole); ``Σ_h len h + |H| Σ_f len f``
        for a ``LanguageModel`` (each history once, its key/value cache
        reused for every future).

    See Also
    --------
    extended_logit_matrix : builds it.
    rankbottleneck.spectrum : what :meth:`spectrum` returns.
    rankbottleneck.rank_report : what :meth:`rank_report` returns.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> model = rb.synthetic.isan(10, 3, seed=0)
    >>> text = np.random.default_rng(0).integers(0, 10, 300)
    >>> H, F = rb.sample_histories_futures(text, 20, 6, 6, 2, seed=1)
    >>> L = rb.extended_logit_matrix(model, H, F)
    >>> L.matrix.shape, L.spectrum().rank("press").value
    ((20, 60), 4)
    """

    matrix: np.ndarray = dataclasses.field(metadata={"as_dict": False})
    histories: tuple
    futures: tuple
    tokens: np.ndarray
    vocab_size: int
    centred: bool
    token_rule: str
    n_sequences: int
    n_tokens_run: int

    def __repr__(self):
        return (f"ExtendedLogitMatrix({self.matrix.shape[0]} histories × "
                f"{len(self.futures)} futures × {self.tokens.shape[1]} tokens of "
                f"{self.vocab_size}; {'centred' if self.centred else 'log-probabilities'}"
                f", {self.n_tokens_run} tokens run)")

    def _as_dict_fields(self):
        fields = super()._as_dict_fields()
        fields["shape"] = list(self.matrix.shape)
        return fields

    def spectrum(self, **kwargs):
        """:func:`rankbottleneck.spectrum` of :attr:`matrix` (keywords passed
        on)."""
        from .spectra import spectrum

        return spectrum(self.matrix, **kwargs)

    def rank_report(self, **kwargs):
        """:func:`rankbottleneck.rank_report` of :attr:`matrix` (keywords
        passed on)."""
        from .reports import rank_report

        return rank_report(self.matrix, **kwargs)

    def power_law(self, first=1, last=None):
        r"""Fit ``σ_i ≈ C · i^(−α)`` to this matrix's singular values.

        Least squares on ``log σ_i = log C − α log i`` over the 1-based
        indices ``first ≤ i ≤ last``. The default `last` is the number of
        singular values above numpy's rank threshold ``σ_1 · max(N, M) · ε``
        (below it the values are float64 rounding, not the model, and would
        bend the fit); see :meth:`fit_power_law`.

        Returns
        -------
        PowerLaw
        """
        s = np.linalg.svd(self.matrix, compute_uv=False)
        if last is None and s.size and s[0] > 0:
            last = max(int(np.sum(s > s[0] * max(self.matrix.shape)
                                  * np.finfo(np.float64).eps)), 2)
        return self.fit_power_law(s, first=first, last=last)

    @staticmethod
    def fit_power_law(values, first=1, last=None):
        r"""Fit ``σ_i ≈ C · i^(−α)`` to given singular values (descending).

        ``log σ_i = log C − α log i`` by least squares over the 1-based
        indices ``first ≤ i ≤ last`` (default: every positive value); `r_squared`
        is that of the line in log-log coordinates.

        Returns
        -------
        PowerLaw

        Raises
        ------
        ValueError
            Fewer than two indices in range, or a value in range that is not
            positive.
        """
        s = np.asarray(values, dtype=np.float64)
        if s.ndim != 1:
            raise ValueError(f"values must be 1-D; got shape {s.shape}")
        first = _as_int(first, "first", low=1)
        if last is None:
            last = int(np.sum(s > 0))
        last = _as_int(last, "last", low=1, high=s.size)
        if last - first + 1 < 2:
            raise ValueError(f"a power law needs at least two indices; got first = "
                             f"{first}, last = {last} (of {s.size} values)")
        y = s[first - 1:last]
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise ValueError(f"values[{first - 1}:{last}] must be finite and positive "
                             "to fit a power law (lower last)")
        x = np.log(np.arange(first, last + 1, dtype=np.float64))
        ly = np.log(y)
        X = np.column_stack([np.ones_like(x), x])
        coef = np.linalg.lstsq(X, ly, rcond=None)[0]
        residual = ly - X @ coef
        total = np.sum((ly - ly.mean()) ** 2)
        r2 = 1.0 - float(np.sum(residual ** 2) / total) if total > 0 else 1.0
        return PowerLaw(alpha=float(-coef[1]), C=float(np.exp(coef[0])), first=first,
                        last=last, r_squared=r2)

    def truncation_kl(self, ranks):
        r"""Mean KL from the model's next-token distributions to those of the
        best rank-r approximation ``L_r`` (truncated SVD), for each r.

        For each pair (history h, future f) the distribution is
        ``p = softmax(L[h, f])`` over the tokens kept for f (the model's own
        next-token distribution when the whole vocabulary is kept: centring
        does not change a softmax) and ``q = softmax(L_r[h, f])``.

        Returns
        -------
        TruncationKL
            With ``bound = ‖L − L_r‖_F² / (4 |H| |F|)``.

        Notes
        -----
        **The bound.** Write ``δ = L_r[h, f] − L[h, f]``. Then
        ``q_z = p_z e^{δ_z} / E_p[e^δ]``, so

        .. math::

            \mathrm{KL}(p \,\|\, q) = \log E_p[e^{\delta}] - E_p[\delta]
            \le \frac{(\max\delta - \min\delta)^2}{8}
            \le \frac{\|\delta\|_2^2}{4},

        the first inequality Hoeffding's lemma (δ as a random variable under
        p lies in ``[min δ, max δ]``), the second ``(a − b)² ≤ 2(a² + b²)``
        for two entries of δ. Summed over the pairs, the ``‖δ‖²`` add up to
        ``‖L − L_r‖_F² = Σ_{i>r} σ_i²`` (Eckart–Young), hence the mean bound.
        The paper [1]_ also bounds the KL by the Frobenius error; its
        constant could not be checked here, so this bound is the one derived
        above, not a quotation.
        """
        ranks = np.atleast_1d(np.asarray(ranks))
        if ranks.ndim != 1 or ranks.size == 0 or ranks.dtype.kind not in "iu":
            raise TypeError(f"ranks must be an integer or a 1-D sequence of integers; "
                            f"got {ranks!r}")
        limit = min(self.matrix.shape)
        if ranks.min() < 0 or ranks.max() > limit:
            raise ValueError(f"ranks must lie in [0, {limit}] (min(|H|, columns)); got "
                             f"{ranks.tolist()}")
        U, s, Vt = np.linalg.svd(self.matrix, full_matrices=False)
        nH = self.matrix.shape[0]
        nF, k = self.tokens.shape
        p_logits = self.matrix.reshape(nH, nF, k)
        lp = log_softmax(p_logits)
        p = np.exp(lp)
        kl, bound, frob = [], [], []
        for r in ranks.tolist():
            Lr = (U[:, :r] * s[:r]) @ Vt[:r]
            lq = log_softmax(Lr.reshape(nH, nF, k))
            # KL ≥ 0: a negative mean is float rounding of an exact fit
            kl.append(max(float(np.mean(np.sum(p * (lp - lq), axis=2))), 0.0))
            tail = float(np.sum(s[r:] ** 2))
            frob.append(math.sqrt(tail))
            bound.append(tail / (4.0 * nH * nF))
        return TruncationKL(ranks=ranks.astype(np.int64), kl=np.array(kl),
                            bound=np.array(bound), frobenius_error=np.array(frob),
                            n_pairs=nH * nF)


# --------------------------------------------------------------------------
# histories and futures from a text
# --------------------------------------------------------------------------

def sample_histories_futures(text, n_histories, n_futures, history_len, future_len,
                             seed=None, *, tokenizer=None):
    """Random histories and futures: windows of a token stream.

    Parameters
    ----------
    text : str or 1-D sequence of int
        Token ids, or a text with a `tokenizer`.
    n_histories, n_futures : int
        How many of each; each set is drawn without replacement from the
        distinct start positions, so the text must have that many windows.
    history_len : int
        Tokens per history (at least 1).
    future_len : int
        Tokens per future; 0 gives the one empty future (then `n_futures`
        must be 1): the next-token matrix.
    seed : None, int or numpy.random.Generator
    tokenizer : callable, optional
        Maps a str to token ids (a ``transformers`` tokenizer, whose
        ``input_ids`` are taken, or a :class:`~rankbottleneck.lm.LanguageModel`,
        whose tokenizer is used). Needed when `text` is a str.

    Returns
    -------
    histories : (n_histories, history_len) int64 ndarray
    futures : (n_futures, future_len) int64 ndarray

    Raises
    ------
    ValueError
        The text has fewer tokens (or windows) than asked for: the message
        says how many it has.

    See Also
    --------
    extended_logit_matrix : the matrix of these histories and futures.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, F = rb.sample_histories_futures(list(range(100)), 3, 2, 4, 2, seed=0)
    >>> H.shape, F.shape
    ((3, 4), (2, 2))
    """
    n_histories = _as_int(n_histories, "n_histories", low=1)
    n_futures = _as_int(n_futures, "n_futures", low=1)
    history_len = _as_int(history_len, "history_len", low=1)
    future_len = _as_int(future_len, "future_len", low=0)
    rng = _as_rng(seed)
    if isinstance(text, str):
        if tokenizer is None:
            raise TypeError("text is a str: pass tokenizer= (a callable str -> ids, or "
                            "a LanguageModel), or pass the token ids themselves")
        tok = getattr(tokenizer, "tokenizer", tokenizer)
        if not callable(tok):
            raise TypeError(f"tokenizer must be callable; got {type(tokenizer).__name__}")
        out = tok(text)
        ids = out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out
    else:
        ids = text
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise TypeError(f"text must be a str or a 1-D sequence of integer token ids; "
                        f"got an array of shape {ids.shape}, dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise ValueError("text must hold non-negative token ids; got "
                         f"{int(ids.min())}")
    ids = ids.astype(np.int64)
    n = ids.size
    if future_len == 0 and n_futures != 1:
        raise ValueError(f"future_len = 0 gives the one empty future: n_futures must "
                         f"be 1; got {n_futures}")
    for what, length, count in (("histories", history_len, n_histories),
                                ("futures", future_len, n_futures)):
        windows = n - length + 1 if length else 1
        if windows < count:
            raise ValueError(
                f"text has {n} token{'s' if n != 1 else ''}: {max(windows, 0)} windows "
                f"of {length} tokens, too few for {count} {what} of {length} tokens; "
                "pass more text, or fewer or shorter ones")
    h_starts = np.sort(rng.choice(n - history_len + 1, n_histories, replace=False))
    H = np.stack([ids[s:s + history_len] for s in h_starts])
    if future_len == 0:
        F = np.zeros((1, 0), dtype=np.int64)
    else:
        f_starts = np.sort(rng.choice(n - future_len + 1, n_futures, replace=False))
        F = np.stack([ids[s:s + future_len] for s in f_starts])
    return H, F


# --------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------

def extended_logit_matrix(model, histories, futures, *, tokens=None, centre=True,
                          batch_size=64, progress=None):
    r"""The extended logit matrix ``L[h, (f, z)]`` of a model.

    .. math::

        L[h, (f, z)] = \log P(z \mid h \circ f)
                       - \frac{1}{V} \sum_{z'} \log P(z' \mid h \circ f)

    (Golowich, Liu & Shetty [1]_; for a softmax model, the logits after
    ``h ∘ f`` minus their mean, which is how they are computed here).

    Parameters
    ----------
    model : callable or rankbottleneck.lm.LanguageModel
        ``model(ids)`` with ``ids`` an ``(n, T)`` int64 array (the
        sequences of one call all have ``T`` tokens) returns ``(n, V)``
        next-token logits after each sequence. A ``LanguageModel`` is run
        with each history's key/value cache reused (see Notes).
    histories : list of int sequences, or (n_histories, T) int array
        Each at least one token long.
    futures : list of int sequences, or (n_futures, T') int array
        May be empty sequences: ``[[]]`` gives the centred next-token matrix.
    tokens : None, int, or 1-D int sequence
        Which tokens ``z`` get a column. None: all ``V``. An int ``k``: the
        top-``k`` tokens of each future, those with the largest mean (over
        the histories) log-probability after ``h ∘ f`` (chosen in the same
        single pass, future by future). A sequence of ids: those, for every
        future.
    centre : bool
        Centre each next-token vector over the whole vocabulary (the paper's
        definition); False keeps the log-probabilities ``log P(z | h ∘ f)``.
    batch_size : int
        Sequences per model call.
    progress : bool, optional
        A progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    ExtendedLogitMatrix

    Raises
    ------
    ValueError
        An empty history; a token id outside the model's vocabulary (in
        `histories`, `futures` or `tokens`); `model` returning a wrong shape
        or non-finite logits; a matrix that would not fit in memory
        (:class:`~rankbottleneck.InsufficientMemoryError`, before any
        forward pass beyond the one probe).
    TypeError
        An argument of the wrong type.

    Notes
    -----
    The matrix is filled future by future: all the histories' rows after one
    future are computed (in batches of `batch_size`), the top-k tokens chosen
    from their mean when asked, and those columns kept; only the matrix and
    one future's rows are held, so ``tokens=k`` costs one pass, not two.

    A callable runs on each ``h ∘ f`` whole: ``Σ_h Σ_f (len h + len f)``
    tokens. A ``LanguageModel`` runs each history once and keeps its
    key/value cache; each future then runs on a copy of the cache of a batch
    of histories: ``Σ_h len h + |H| · Σ_f len f`` tokens, and the cost grows
    as ``|H| · |F| · len(f)`` rather than ``|H| · |F| · (len h + len f)``
    (:attr:`ExtendedLogitMatrix.n_tokens_run` counts them). Its entries are
    computed in float64 from the final hidden states ``x`` (float32) as
    ``(w_z − w̄)·x + b_z − b̄``, so only the kept columns of the head are
    evaluated; with the whole vocabulary the head runs in float32, as in the
    model. The histories' caches are held throughout (counted in the memory
    check).

    See Also
    --------
    sample_histories_futures : histories and futures from a text.
    ExtendedLogitMatrix : the result: ``spectrum()``, ``power_law()``,
        ``truncation_kl()``.
    rankbottleneck.synthetic.isan : a model whose matrix has exactly low rank.

    Examples
    --------
    An ISAN with a 3-dimensional state and offsets has rank 3 + 1 = 4; the
    tanh recurrent net of the same size reaches ``|F|·3 + 1 = 19``, the most
    its futures allow:

    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> text = np.random.default_rng(0).integers(0, 10, 300)
    >>> H, F = rb.sample_histories_futures(text, 24, 6, 6, 2, seed=1)
    >>> for model in (rb.synthetic.isan(10, 3, seed=0),
    ...               rb.synthetic.tanh_rnn(10, 3, seed=0)):
    ...     print(rb.extended_logit_matrix(model, H, F).spectrum().rank("press").value)
    4
    19
    """
    function = _logit_function(model)
    H = _as_sequences(histories, "histories", allow_empty_items=False)
    F = _as_sequences(futures, "futures", allow_empty_items=True)
    centre = _as_bool(centre, "centre")
    batch_size = _as_int(batch_size, "batch_size", low=1)
    if progress is not None:
        progress = _as_bool(progress, "progress")
    top_k, chosen = None, None
    if tokens is not None:
        if isinstance(tokens, (int, np.integer)) and not isinstance(tokens, (bool, np.bool_)):
            top_k = _as_int(tokens, "tokens", low=1)
        else:
            chosen = _as_sequences([tokens], "tokens", allow_empty_items=False)[0]
            if len(set(chosen)) != len(chosen):
                raise ValueError(f"tokens must not repeat an id; got {list(chosen)}")
    limit = _max_length(model) if _is_language_model(model) else None
    longest = max(map(len, H)) + max(map(len, F))
    if limit is not None and longest > limit:
        raise ValueError(f"histories and futures make sequences of up to {longest} "
                         f"tokens; the model takes at most {limit} "
                         "(max_position_embeddings): pass shorter ones")
    if _is_language_model(model):
        V = int(model.model.get_output_embeddings().weight.shape[0])
        n_probe = 0
    else:
        # one probe call on the one-token sequence [0] (an id every vocabulary
        # has): the vocabulary size, and the callable's contract, before the
        # ids are checked against it
        V = _run(function, np.zeros((1, 1), dtype=np.int64)).shape[1]
        n_probe = 1
    _check_in_vocabulary(H, "histories", V)
    _check_in_vocabulary(F, "futures", V)
    if top_k is not None and top_k > V:
        raise ValueError(f"tokens = {top_k} exceeds the vocabulary of {V} tokens")
    if chosen is not None:
        _check_in_vocabulary([chosen], "tokens", V)
    k = V if tokens is None else (top_k if top_k is not None else len(chosen))
    nH, nF = len(H), len(F)
    nbytes = nH * nF * k * 8 + 2 * nH * V * 8 + _cache_bytes(model, H)
    _check_fits_in_memory(
        nbytes, f"the extended logit matrix ({nH} histories × {nF} futures × {k} "
        f"tokens, float64) and one future's rows",
        "pass fewer histories or futures, or tokens=k to keep k tokens per future "
        f"(each token column costs {_format_bytes(nH * nF * 8)})")
    if top_k is not None:
        rule = (f"top {top_k} of each future by the mean over the {nH} histories of "
                "the centred log-probability")
    elif chosen is not None:
        rule = f"{k} given tokens, for every future"
    else:
        rule = "the whole vocabulary"
    source = _source(model if _is_language_model(model) else function, H, V,
                     batch_size, progress)
    L = np.empty((nH, nF * k))
    columns = np.empty((nF, k), dtype=np.int64)
    everything = np.arange(V, dtype=np.int64)
    # future by future: all the histories' rows after one future are at hand
    # at once, so the top-k tokens (by their mean over the histories) are
    # chosen and gathered in the same pass
    with progress_bar(nF, "extended logit matrix", progress, unit="future") as bar:
        for j, f in enumerate(F):
            X = source.after(f)
            if top_k is not None:
                mean = source.logits(X.mean(axis=0, keepdims=True))[0]
                # ties broken by the lower id; each future's columns sorted by id
                columns[j] = np.sort(np.argsort(-mean, kind="stable")[:top_k])
            else:
                columns[j] = everything if chosen is None else chosen
            if centre and tokens is None:
                z = source.logits(X)
                block = z - z.mean(axis=1, keepdims=True)
            elif centre:
                block = source.logits(X, columns[j]) - source.row_mean(X)[:, None]
            else:
                block = log_softmax(source.logits(X), axis=1)[:, columns[j]]
            L[:, j * k:(j + 1) * k] = block
            bar.update(1)
    return ExtendedLogitMatrix(matrix=L, histories=H, futures=F, tokens=columns,
                               vocab_size=V, centred=centre, token_rule=rule,
                               n_sequences=n_probe + nH * nF,
                               n_tokens_run=n_probe + source.tokens)


class _CallableSource:
    """The rows after ``h ∘ f`` for every history h and one future f, from a
    callable: each ``h ∘ f`` run whole, histories of one length together."""

    def __init__(self, function, H, V, batch_size):
        self.function, self.H, self.V, self.batch_size = function, H, V, batch_size
        self.by_length = {}
        for i, h in enumerate(H):
            self.by_length.setdefault(len(h), []).append(i)
        self.tokens = 0

    def after(self, f):
        """``(|H|, V)`` float64 logits after each ``h ∘ f``."""
        out = np.empty((len(self.H), self.V))
        for _, idx in sorted(self.by_length.items()):
            for s in range(0, len(idx), self.batch_size):
                part = idx[s:s + self.batch_size]
                ids = np.array([self.H[i] + f for i in part], dtype=np.int64)
                out[part] = _run(self.function, ids, self.V)
                self.tokens += ids.size
        return out

    def logits(self, X, columns=None):
        return X if columns is None else X[:, columns]

    def row_mean(self, X):
        return X.mean(axis=1)


class _CachedSource:
    """The rows after ``h ∘ f`` for every history h and one future f, from a
    ``transformers`` model: each history runs once, and its key/value cache
    is reused for every future, so a future costs ``len(f)`` tokens per
    history. What is kept is the final hidden state ``x`` (after the last
    norm); logits are ``W x + b`` for the columns asked for, so choosing the
    top-k tokens needs no full-vocabulary head per sequence (the mean of the
    centred logits over the histories is the centred logits of the mean
    ``x``)."""

    def __init__(self, model, H, batch_size, progress):
        import inspect

        import torch

        self.torch = torch
        self.net = model.model
        self.body = self.net.get_decoder()
        params = inspect.signature(self.body.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        head = self.net.get_output_embeddings()
        self.W32 = head.weight.detach().float()
        self.W = self.W32.double().numpy()
        bias = getattr(head, "bias", None)
        self.b = (np.zeros(self.W.shape[0]) if bias is None
                  else bias.detach().double().numpy())
        self.w_mean, self.b_mean = self.W.mean(axis=0), float(self.b.mean())
        self.V = self.W.shape[0]
        self.H, self.batch_size = H, batch_size
        self.tokens = 0
        # per history length: its histories, their caches (per layer, keys and
        # values stacked over the histories) and their last hidden states
        self.groups = []
        by_length = {}
        for i, h in enumerate(H):
            by_length.setdefault(len(h), []).append(i)
        with progress_bar(len(H), "history caches", progress, unit="hist") as bar:
            for _, idx in sorted(by_length.items()):
                keys, values, last = None, None, []
                for s in range(0, len(idx), batch_size):
                    part = idx[s:s + batch_size]
                    ids = torch.as_tensor(np.array([H[i] for i in part], dtype=np.int64))
                    with torch.no_grad():
                        out = self.body(input_ids=ids, use_cache=True)
                    self.tokens += ids.numel()
                    cache = (getattr(out, "cache", None) if self.cache_arg == "cache"
                             else out.past_key_values)
                    kv = [(layer.keys, layer.values) for layer in self._layers(cache)]
                    keys = [k for k, _ in kv] if keys is None else \
                        [torch.cat([a, k]) for a, (k, _) in zip(keys, kv)]
                    values = [v for _, v in kv] if values is None else \
                        [torch.cat([a, v]) for a, (_, v) in zip(values, kv)]
                    last.append(out.last_hidden_state[:, -1].float())
                    bar.update(len(part))
                self.groups.append((np.array(idx), keys, values, torch.cat(last)))

    @staticmethod
    def _layers(cache):
        layers = getattr(cache, "layers", None)
        if layers is None:
            raise TypeError("this transformers version's key/value cache has no "
                            "`layers`; pass a callable instead (see "
                            "extended_logit_matrix)")
        return layers

    def after(self, f):
        """``(|H|, d)`` float64 final hidden states after each ``h ∘ f``."""
        from transformers import DynamicCache

        torch = self.torch
        out = np.empty((len(self.H), self.W.shape[1]))
        for idx, keys, values, last in self.groups:
            if not f:
                out[idx] = last.double().numpy()
                continue
            for s in range(0, len(idx), self.batch_size):
                part = slice(s, s + self.batch_size)
                n = len(idx[part])
                cache = DynamicCache([(k[part].clone(), v[part].clone())
                                      for k, v in zip(keys, values)])
                ids = torch.as_tensor(np.array([f] * n, dtype=np.int64))
                with torch.no_grad():
                    res = self.body(input_ids=ids, use_cache=True,
                                    **{self.cache_arg: cache})
                self.tokens += ids.numel()
                out[idx[part]] = res.last_hidden_state[:, -1].double().numpy()
        return out

    def logits(self, X, columns=None):
        if columns is None:
            # the whole vocabulary: the head in float32, as the model runs it
            z = (self.torch.as_tensor(X, dtype=self.torch.float32)
                 @ self.W32.T).double().numpy()
            return z + self.b
        return X @ self.W[columns].T + self.b[columns]

    def row_mean(self, X):
        return X @ self.w_mean + self.b_mean


def _source(model, H, V, batch_size, progress):
    if _is_language_model(model):
        return _CachedSource(model, H, batch_size, progress)
    return _CallableSource(model, H, V, batch_size)


def _cache_bytes(model, H):
    """Memory the histories' key/value caches take (0: not a LanguageModel)."""
    if not _is_language_model(model):
        return 0
    c = model.model.config
    heads = getattr(c, "num_attention_heads", 1)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
    kv = getattr(c, "num_key_value_heads", None) or heads
    layers = getattr(c, "num_hidden_layers", 1)
    return 2 * layers * kv * head_dim * 4 * sum(map(len, H))


# --------------------------------------------------------------------------
# LINGEN: generation from other histories
# --------------------------------------------------------------------------

def _rows(function, seqs, V, batch_size, centre=True):
    """The model's centred logits (or log-softmax) after each sequence,
    ``(len(seqs), V)``, in calls of one length and at most `batch_size`."""
    out = np.empty((len(seqs), V))
    by_length = {}
    for i, seq in enumerate(seqs):
        by_length.setdefault(len(seq), []).append(i)
    for _, idx in sorted(by_length.items()):
        for s in range(0, len(idx), batch_size):
            part = idx[s:s + batch_size]
            ids = np.array([seqs[i] for i in part], dtype=np.int64)
            out[part] = _centred_or_log_softmax(_run(function, ids, V), centre)
    return out


def _kl_rows(lp, lq):
    """KL(p ‖ q) of log-probability rows."""
    return np.sum(np.exp(lp) * (lp - lq), axis=-1)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class LingenResult(Result):
    r"""A continuation generated by LINGEN, and how close it stayed to the
    model.

    Attributes
    ----------
    target : tuple of int
        The history continued (never run through the model by the
        generator; only to score it).
    generated : tuple of int
        The tokens sampled, one per step.
    weights : (n_others,) float ndarray
        ``v``: the target's row as ``Σ v_h L[h, ·]`` on the fitted columns.
    fit_residual : float
        ``‖Σ v_h L[h, ·] − L[target, ·]‖ / ‖L[target, ·]‖`` on those columns.
    kl : (n_steps,) float ndarray
        ``KL(model(target ∘ f_t) ‖ LINGEN(f_t))`` at each step ``t``.
    cumulative_kl : (n_steps,) float ndarray
        The running sum of `kl`.
    baselines : dict
        ``{"last m tokens": (n_steps,) cumulative KL}`` (``"last 1 token"``): the same KL for the
        model run on only the last ``m`` tokens of ``target ∘ f_t`` (``m = 1``:
        the single-token distribution), on the same path.

    See Also
    --------
    lingen : generates it.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> model = rb.synthetic.isan(8, 2, seed=0)
    >>> H, F = rb.sample_histories_futures(np.arange(8).repeat(5), 6, 4, 3, 2, seed=0)
    >>> out = rb.lingen(model, [5, 1, 2], H, F, n_steps=4, seed=0)
    >>> len(out.generated), bool(out.cumulative_kl[-1] < 1e-12)
    (4, True)
    """

    target: tuple
    generated: tuple
    weights: np.ndarray
    fit_residual: float
    kl: np.ndarray
    cumulative_kl: np.ndarray
    baselines: dict


def lingen(model, target, histories, futures, *, n_steps, short_histories=(1, 4),
           seed=None, batch_size=64):
    r"""Continue a history without running the model on it (LINGEN).

    1. Fit ``v = argmin ‖Σ_h v_h L[h, ·] − L[target, ·]‖`` (least squares,
       minimum norm) on the columns of `futures` (every token): the only
       queries of the target are ``target ∘ f`` for ``f`` in `futures`.
    2. For ``t = 0, …, n_steps − 1`` sample the next token from
       ``softmax(Σ_h v_h ℓ_h(f_t))``, with ``ℓ_h(f_t)`` the model's centred
       logits after ``h ∘ f_t`` and ``f_t`` the continuation so far: the
       model runs only on the other histories.
    3. Score each step against the model's own distribution after
       ``target ∘ f_t`` (queried for the score only), and against the
       baselines: the model on only the last ``m`` tokens of ``target ∘ f_t``.

    Parameters
    ----------
    model : callable or rankbottleneck.lm.LanguageModel
        As for :func:`extended_logit_matrix`.
    target : sequence of int
        The history to continue.
    histories : list of int sequences
        The other histories (the target among them is not excluded: pass
        others).
    futures : list of int sequences
        The futures on which the target's row is fitted.
    n_steps : int
        Tokens to generate.
    short_histories : sequence of int
        The ``m`` of the short-history baselines.
    seed : None, int or numpy.random.Generator
    batch_size : int

    Returns
    -------
    LingenResult

    Notes
    -----
    For an ISAN (:func:`rankbottleneck.synthetic.isan`) the rows are affine
    in the state after the history; once the fitted columns have rank
    ``d + 1`` the fit is exact, and then ``Σ v_h ℓ_h(f) = ℓ_target(f)`` for
    every future ``f``: LINGEN reproduces the model's distributions to float
    accuracy. The paper's exact baselines could not be checked here; these
    are the short-history ones its description suggests.

    See Also
    --------
    extended_logit_matrix : the matrix whose rows are combined.
    LingenResult : what is returned.

    Examples
    --------
    >>> import numpy as np
    >>> import rankbottleneck as rb
    >>> text = np.random.default_rng(0).integers(0, 10, 300)
    >>> H, F = rb.sample_histories_futures(text, 20, 6, 6, 2, seed=1)
    >>> for model in (rb.synthetic.isan(10, 3, seed=0),
    ...               rb.synthetic.tanh_rnn(10, 3, seed=0)):
    ...     out = rb.lingen(model, [4, 4, 2, 7, 1, 9], H, F, n_steps=6, seed=0)
    ...     print(out.cumulative_kl[-1] < 1e-12, out.fit_residual < 1e-12)
    True True
    False True

    Both rows are fitted exactly on the six futures (the tanh model's rows
    lie in a space of dimension ``6·3 + 1 = 19`` there, spanned by 20
    histories), but only the ISAN's fit carries over to the futures LINGEN
    generates.
    """
    function = _logit_function(model)
    target = _as_sequences([target], "target", allow_empty_items=False)[0]
    H = _as_sequences(histories, "histories", allow_empty_items=False)
    F = _as_sequences(futures, "futures", allow_empty_items=True)
    n_steps = _as_int(n_steps, "n_steps", low=1)
    batch_size = _as_int(batch_size, "batch_size", low=1)
    short = [_as_int(m, "short_histories", low=1) for m in short_histories]
    rng = _as_rng(seed)
    if _is_language_model(model):
        V = int(model.model.get_output_embeddings().weight.shape[0])
        whole = _language_model_function(model)
    else:
        V = _run(function, np.zeros((1, 1), dtype=np.int64)).shape[1]
        whole = function
    for seqs, name in ((H, "histories"), (F, "futures"), ([target], "target")):
        _check_in_vocabulary(seqs, name, V)
    runner = model if _is_language_model(model) else function
    # a LanguageModel keeps each history's cache for every step
    others = _source(runner, H, V, batch_size, False)
    own_source = _source(runner, [target], V, batch_size, False)

    def logits(source, f):
        return source.logits(source.after(f))

    # 1. the target's row over the others', on the columns of the futures
    A = np.concatenate([_centred_or_log_softmax(logits(others, f), True) for f in F],
                       axis=1)
    b = np.concatenate([_centred_or_log_softmax(logits(own_source, f), True)[0]
                        for f in F])
    v = np.linalg.lstsq(A.T, b, rcond=None)[0]
    norm = np.linalg.norm(b)
    residual = float(np.linalg.norm(A.T @ v - b) / norm) if norm > 0 else 0.0
    del A
    # 2.–3. generate from the others, score against the target
    f_t, kl = (), []
    base = {m: [] for m in short}
    for _ in range(n_steps):
        mixed = v @ _centred_or_log_softmax(logits(others, f_t), True)
        lq = _centred_or_log_softmax(mixed[None], False)[0]
        own = _centred_or_log_softmax(logits(own_source, f_t), False)[0]
        kl.append(max(float(_kl_rows(own, lq)), 0.0))
        for m in short:
            lb = _rows(whole, [(target + f_t)[-m:]], V, batch_size, centre=False)[0]
            base[m].append(max(float(_kl_rows(own, lb)), 0.0))
        z = int(rng.choice(V, p=np.exp(lq) / np.exp(lq).sum()))
        f_t = f_t + (z,)
    kl = np.array(kl)
    return LingenResult(target=target, generated=f_t, weights=v, fit_residual=residual,
                        kl=kl, cumulative_kl=np.cumsum(kl),
                        baselines={f"last {m} token{'s' if m > 1 else ''}": np.cumsum(base[m])
                                   for m in short})
