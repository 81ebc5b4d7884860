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
        Sequences the model was run on (``|H|·|F|``, twice that when the
        top-k tokens were chosen, plus one probe).

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

    def __repr__(self):
        return (f"ExtendedLogitMatrix({self.matrix.shape[0]} histories × "
                f"{len(self.futures)} futures × {self.tokens.shape[1]} tokens of "
                f"{self.vocab_size}; {'centred' if self.centred else 'log-probabilities'}"
                f", {self.n_sequences} sequences run)")

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
        next-token logits after each sequence; a ``LanguageModel`` is run
        that way (its logits at the last position).
    histories : list of int sequences, or (n_histories, T) int array
        Each at least one token long.
    futures : list of int sequences, or (n_futures, T') int array
        May be empty sequences: ``[[]]`` gives the centred next-token matrix.
    tokens : None, int, or 1-D int sequence
        Which tokens ``z`` get a column. None: all ``V``. An int ``k``: the
        top-``k`` tokens of each future, those with the largest mean (over
        the histories) log-probability after ``h ∘ f`` (found in a first
        pass, so the model runs twice). A sequence of ids: those, for every
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
    The model runs on ``|H| · |F|`` sequences (one forward pass each,
    batched), history by history, and the matrix is filled in row blocks;
    only the matrix itself and one batch of logits are held. The entries are
    computed in float64 from the model's logits (a float32 model's entries
    carry its float32 rounding).

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
    # one probe call on the one-token sequence [0] (an id every vocabulary
    # has): the vocabulary size, and the callable's contract, before the ids
    # are checked against it
    probe = np.zeros((1, 1), dtype=np.int64)
    V = _run(function, probe).shape[1]
    _check_in_vocabulary(H, "histories", V)
    _check_in_vocabulary(F, "futures", V)
    if top_k is not None and top_k > V:
        raise ValueError(f"tokens = {top_k} exceeds the vocabulary of {V} tokens")
    if chosen is not None:
        _check_in_vocabulary([chosen], "tokens", V)
    k = V if tokens is None else (top_k if top_k is not None else len(chosen))
    nH, nF = len(H), len(F)
    nbytes = nH * nF * k * 8 + (nF * V * 8 if top_k is not None else 0)
    _check_fits_in_memory(
        nbytes, f"the extended logit matrix ({nH} histories × {nF} futures × {k} "
        f"tokens, float64)",
        "pass fewer histories or futures, or tokens=k to keep k tokens per future "
        f"(each token column costs {_format_bytes(nH * nF * 8)})")
    n_sequences = 1
    if top_k is not None:
        # pass 1: the mean centred log-probability of every token after each future
        mean = np.zeros((nF, V))
        for _, j, rows in _passes(function, H, F, V, batch_size, progress,
                                  "top-k pass"):
            mean[j] += rows.sum(axis=0)
        n_sequences += nH * nF
        # ties broken by the lower id; each future's columns sorted by id
        order = np.argsort(-mean, axis=1, kind="stable")[:, :top_k]
        columns = np.sort(order, axis=1)
        rule = (f"top {top_k} of each future by the mean over the {nH} histories of "
                "the centred log-probability")
    elif chosen is not None:
        columns = np.tile(np.array(chosen, dtype=np.int64), (nF, 1))
        rule = f"{k} given tokens, for every future"
    else:
        columns = np.tile(np.arange(V, dtype=np.int64), (nF, 1))
        rule = "the whole vocabulary"
    L = np.empty((nH, nF * k))
    for i, j, rows in _passes(function, H, F, V, batch_size, progress,
                              "extended logit matrix", centre=centre):
        L[i, j * k:(j + 1) * k] = rows[:, columns[j]]
    n_sequences += nH * nF
    return ExtendedLogitMatrix(matrix=L, histories=H, futures=F, tokens=columns,
                               vocab_size=V, centred=centre, token_rule=rule,
                               n_sequences=n_sequences)


def _passes(function, H, F, V, batch_size, progress, desc, centre=True):
    """Run the model on every ``h ∘ f``; yield ``(h indices, f index, rows)``:
    the rows (centred, or log-softmax) of a batch that share one future.

    Sequences of one length go through together (a model call takes one
    length); within a length, in history order, so the matrix fills in row
    blocks.
    """
    nH, nF = len(H), len(F)
    by_length = {}
    for i in range(nH):
        for j in range(nF):
            by_length.setdefault(len(H[i]) + len(F[j]), []).append((i, j))
    with progress_bar(nH * nF, desc, progress, unit="seq") as bar:
        for _, pairs in sorted(by_length.items()):
            for s in range(0, len(pairs), batch_size):
                batch = pairs[s:s + batch_size]
                ids = np.array([H[i] + F[j] for i, j in batch], dtype=np.int64)
                rows = _centred_or_log_softmax(_run(function, ids, V), centre)
                js = np.array([j for _, j in batch])
                for j in np.unique(js):
                    where = np.flatnonzero(js == j)
                    yield (np.array([batch[w][0] for w in where]), int(j), rows[where])
                bar.update(len(batch))


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
    V = _run(function, np.zeros((1, 1), dtype=np.int64)).shape[1]
    for seqs, name in ((H, "histories"), (F, "futures"), ([target], "target")):
        _check_in_vocabulary(seqs, name, V)
    # 1. the target's row over the others', on the columns of the futures
    others = _rows(function, [h + f for h in H for f in F], V, batch_size)
    A = others.reshape(len(H), len(F) * V)
    b = _rows(function, [target + f for f in F], V, batch_size).reshape(-1)
    v = np.linalg.lstsq(A.T, b, rcond=None)[0]
    norm = np.linalg.norm(b)
    residual = float(np.linalg.norm(A.T @ v - b) / norm) if norm > 0 else 0.0
    # 2.–3. generate from the others, score against the target
    f_t, kl = (), []
    base = {m: [] for m in short}
    for _ in range(n_steps):
        mixed = v @ _rows(function, [h + f_t for h in H], V, batch_size)
        lq = _centred_or_log_softmax(mixed[None], False)[0]
        own = _rows(function, [target + f_t], V, batch_size, centre=False)[0]
        kl.append(max(float(_kl_rows(own, lq)), 0.0))
        for m in short:
            lb = _rows(function, [(target + f_t)[-m:]], V, batch_size, centre=False)[0]
            base[m].append(max(float(_kl_rows(own, lb)), 0.0))
        z = int(rng.choice(V, p=np.exp(lq) / np.exp(lq).sum()))
        f_t = f_t + (z,)
    kl = np.array(kl)
    return LingenResult(target=target, generated=f_t, weights=v, fit_residual=residual,
                        kl=kl, cumulative_kl=np.cumsum(kl),
                        baselines={f"last {m} token{'s' if m > 1 else ''}": np.cumsum(base[m])
                                   for m in short})
