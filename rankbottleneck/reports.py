"""Every rank measure of a matrix side by side, and comparisons of several.

:func:`rank_report` returns a :class:`RankReport` (a table ``repr`` and a
``plot(ax)`` of the spectrum with its tolerances), with explicit handling
of ``-inf`` entries (:class:`SparseSummary`); :func:`compare_ranks` puts
several reports in a :class:`RankComparison`. The measures are those of
:mod:`rankbottleneck.rank`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ._lapack import _exponent, _peak, _scaled, _unscaled
from ._measures import (
    DEFAULT_EFFECTIVE_EPS,
    DEFAULT_LOG_FLOOR,
    _as_matrix,
    _centre_rows,
    _check_eps,
    _computed_in,
    _rank_of,
    _shift_invariant_from,
    rank_from_singular_values,
)
from ._result import Result, json_safe
from ._validation import _as_int, _as_scalar, _check_finite, _has_bias
from .rank import singular_values
from .spectra._sources import _is_layer
from .spectra._spectrum import _singular_values, _spectrum_unless_dense

__all__ = [
    "SparseSummary",
    "RankReport",
    "RankComparison",
    "rank_report",
    "compare_ranks",
]


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SparseSummary(Result):
    """What a matrix with ``-inf`` entries looks like before any clipping.

    Attributes
    ----------
    support_density : float
        Fraction of finite entries.
    empty_rows : int
        Rows that are ``-inf`` everywhere (not a distribution; reported).
    n_support_patterns : int
        Distinct rows of the support mask ``isfinite(A)``.
    n_finite_columns : int
        Columns finite in every row.
    finite_column_ranks : tuple of Rank
        numpy, Press and ε-effective ranks of ``A`` restricted to those
        columns (empty when there are none).
    log_floor : float
        The floor at which ``A`` was clipped for the main report.
    n_clipped_finite : int
        Finite entries below `log_floor`, which clipping changed too.
    """

    support_density: float
    empty_rows: int
    n_support_patterns: int
    n_finite_columns: int
    finite_column_ranks: tuple
    log_floor: float
    n_clipped_finite: int

    def __repr__(self):
        ranks = ", ".join(f"{r.label}={r.value}" for r in self.finite_column_ranks)
        return (
            f"SparseSummary(density={self.support_density:.4g}, "
            f"empty_rows={self.empty_rows}, "
            f"support_patterns={self.n_support_patterns}, "
            f"finite_columns={self.n_finite_columns} [{ranks or 'no rank'}], "
            f"log_floor={self.log_floor:.4g}, "
            f"finite_entries_clipped={self.n_clipped_finite})"
        )


@dataclass(frozen=True, eq=False)
class RankReport(Result):
    """Every rank measure of one matrix, side by side.

    Build with :func:`rank_report`. ``repr`` is a short table; :meth:`plot`
    draws the normalised spectrum with the tolerance lines.

    Attributes
    ----------
    shape, dtype : tuple, str
        Of the input matrix.
    computed_in : str
        Dtype whose ε the thresholds use.
    singular_values : ndarray
        Of the analysed matrix (the clipped one when the input had ``-inf``).
    ranks : tuple of Rank
        Every measure.
    shift_invariant : tuple of Rank
        numpy and Press ranks with every row centred.
    d : int or None
        Context dimension the caller stated.
    bias : bool or None
        Whether the caller's layer has an output bias.
    sparse : SparseSummary or None
        Present when the input had ``-inf`` entries.
    method : str
        How the spectrum was computed (see :func:`rankbottleneck.spectrum`):
        ``"svd"``, ``"gram"`` (+ refinement passes) or ``"structural"``.

    See Also
    --------
    rank_report : makes one.
    compare_ranks : several side by side.
    Rank : each entry.

    Examples
    --------
    >>> import json
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(60, 20, 2, seed=0)
    >>> report = rb.rank_report(rb.log_prob_matrix(H, W), d=2)
    >>> report["numpy"].value, report["press"].value, report.bound
    (3, 3, 3)
    >>> sorted(json.loads(json.dumps(report.as_dict())))[:3]
    ['bound', 'effective(1e-03)', 'effective(1e-04)']
    """

    shape: tuple
    dtype: str
    computed_in: str
    singular_values: np.ndarray = field(repr=False)
    ranks: tuple
    shift_invariant: tuple
    d: int | None = None
    bias: bool | None = None
    sparse: SparseSummary | None = None
    method: str = "svd"

    @property
    def bound(self):
        """Softmax bound ``d + 1`` (``d + 2`` with bias), if `d` was given."""
        if self.d is None:
            return None
        return self.d + 1 + bool(self.bias)

    @property
    def shift_invariant_bound(self):
        """Softmax bound after centring: ``d`` (``d + 1`` with bias)."""
        if self.d is None:
            return None
        return self.d + bool(self.bias)

    def __getitem__(self, label):
        """The :class:`Rank` with this label: ``report["press"]``,
        ``report["effective(1e-04)"]``, ``report["effective"]`` (first eps)."""
        for r in self.ranks:
            if label in (r.label, r.measure):
                return r
        raise KeyError(f"no measure {label!r}; have {[r.label for r in self.ranks]}")

    @property
    def has_bias(self):
        """`bias` under the name every function's bool argument now has."""
        return self.bias

    def as_dict(self):
        """Flat ``{label: value}`` (with ``shift_invariant_*`` entries and the
        ``bound``), JSON-safe: one row of a :class:`RankComparison`. The
        rules, thresholds and singular values are on the report itself."""
        out = {r.label: r.value for r in self.ranks}
        out.update({f"shift_invariant_{r.label}": r.value
                    for r in self.shift_invariant})
        if self.bound is not None:
            out["bound"] = self.bound
        return json_safe(out)

    def __repr__(self):
        lines = [
            f"RankReport: {self.shape[0]}×{self.shape[1]} {self.dtype}, "
            f"thresholds use ε of {self.computed_in}"
            + (f", d = {self.d}{' + bias' if self.bias else ''}" if self.d else "")
            + f"; spectrum by {self.method}"
        ]
        if self.sparse is not None:
            lines.append(f"  {self.sparse!r}")
            lines.append(f"  (ranks below: -inf clipped at {self.sparse.log_floor:.4g})")
        width = max(len(r.label) for r in self.ranks + self.shift_invariant) + 17
        for r in self.ranks:
            value = r.value if isinstance(r.value, int) else f"{r.value:.2f}"
            lines.append(f"  {r.label:<{width - 17}} {value!s:>8}   {r.rule}")
        for r in self.shift_invariant:
            value = r.value
            lines.append(f"  {'shift-inv. ' + r.label:<{width - 17}} {value!s:>8}")
        if self.bound is not None:
            lines.append(f"  {'softmax bound':<{width - 17}} {self.bound:>8}   "
                         f"d+1{' +1 (bias)' if self.bias else ''}; shift-invariant "
                         f"{self.shift_invariant_bound}")
        return "\n".join(lines)

    def plot(self, ax=None, label=None, **kwargs):
        """Normalised spectrum ``σ_i/σ_1`` (log scale) with the tolerances.

        Draws the numpy and Press thresholds as horizontal lines and the
        softmax bound ``d + 1`` (or ``d + 2``) as a vertical line when `d` was
        given. Returns the axis.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        s = self.singular_values
        s1 = s[0] if s[0] > 0 else 1.0
        k = np.arange(1, len(s) + 1)
        line, = ax.semilogy(k, np.maximum(s / s1, np.finfo(float).tiny),
                            label=label, **kwargs)
        for name, style in (("numpy", ":"), ("press", "--")):
            r = self[name]
            ax.axhline(r.threshold / s1, color=line.get_color(), ls=style, lw=0.8,
                       alpha=0.7)
            ax.annotate(f"{name} = {r.value}", (len(s), r.threshold / s1),
                        ha="right", va="bottom", fontsize=7, color=line.get_color())
        if self.bound is not None:
            ax.axvline(self.bound, color="0.4", lw=0.8, ls="-.")
            ax.annotate(f"d+{1 + bool(self.bias)} = {self.bound}",
                        (self.bound, ax.get_ylim()[0]), rotation=90, fontsize=7,
                        va="bottom", ha="right", color="0.3")
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        return ax


def _support_summary(A, log_floor, computed_in, eps_values):
    finite = np.isfinite(A)
    N, M = A.shape
    empty_rows = int(np.sum(~finite.any(axis=1)))
    patterns = np.unique(np.packbits(finite, axis=1), axis=0).shape[0]
    columns = np.flatnonzero(finite.all(axis=0))
    ranks = ()
    if columns.size:
        sub = A[:, columns]
        s = singular_values(sub)
        ranks = tuple(
            rank_from_singular_values(s, m, shape=sub.shape, computed_in=computed_in,
                                      eps=e)
            for m, e in [("numpy", 1e-3), ("press", 1e-3)]
            + [("effective", e) for e in eps_values])
    n_clipped = int(np.sum(finite & (A < log_floor)))
    return SparseSummary(float(finite.mean()), empty_rows, int(patterns),
                         int(columns.size), ranks, float(log_floor), n_clipped)


def rank_report(A, *, d=None, bias=None, contexts=None, method="auto",
                eps_values=DEFAULT_EFFECTIVE_EPS, rtol=None, atol=None,
                log_floor=DEFAULT_LOG_FLOOR, computed_in=None, shift_invariant=True,
                progress=None, client=None, has_bias=None):
    r"""Every rank measure of `A`, its spectrum, and the softmax bound.

    Parameters
    ----------
    A : (N, M) array_like or layer
        Typically a log-probability matrix. ``-inf`` entries (zeros of a
        sparse activation) are allowed and never silently turned into
        numbers: the report states the support density, the distinct support
        patterns, the ranks of the columns finite in every row, and then
        measures the matrix clipped at `log_floor`, saying so. A layer with
        its `contexts` is analysed without storing its matrix (structural
        path for softmax and MoC, streamed Gram path otherwise; sparse
        activations are built and reported as a matrix).
    d : int, optional
        Context dimension of the layer that produced `A`: the report then
        states the softmax bound ``d + 1`` (``d + 2`` with `has_bias`) and
        the shift-invariant bound ``d`` (``d + 1``). Taken from a layer.
    bias : bool, optional
        The old spelling of `has_bias`; deprecated (everywhere else `bias`
        is the bias vector).
    contexts : (N, d) array_like, optional
        The contexts, when `A` is a layer (then `d` and `has_bias`, if given,
        must agree with it).
    method : {"auto", "svd", "gram", "structural"}
        How the spectra are computed (:func:`rankbottleneck.spectrum`); the
        report's ``method`` says which was used.
    eps_values : sequence of float
        Energy fractions of the ε-effective ranks (Parthiban et al. report
        1e-3, 1e-4, 1e-5).
    rtol, atol : float, optional
        Also report the ``"rtol"`` / ``"atol"`` rank.
    log_floor : float
        Value that replaces ``-inf`` (and clips finite entries below it) for
        the main measures. The default ``log(1e-30) ≈ -69.1`` is below the
        log-probability of any word a model could sample in practice, yet
        within a factor of ten of typical entries (``-log M`` is -7 to -10 for
        ``M`` from 10³ to 3·10⁴), so the floor does not dominate σ_1. Finite
        entries below the floor are counted in the report.
    computed_in : dtype, optional
        Dtype whose ε the thresholds use; default ``A.dtype``.
    shift_invariant : bool
        Also the shift-invariant ranks (a second spectrum, of the matrix with
        its rows centred); ``False`` halves the time of a streamed layer.
    progress : bool, optional
        Progress bars of the Gram path on stderr (default: when stderr is a
        terminal).
    client : distributed.Client, optional
        For a layer: run the Gram passes on a Dask cluster
        (:mod:`rankbottleneck.cluster`); the ranks are the single-machine
        ranks.
    has_bias : bool, optional
        Whether that layer has an output bias. Taken from a layer.

    Returns
    -------
    RankReport

    See Also
    --------
    numerical_rank : one measure.
    compare_ranks : several matrices side by side.
    rankbottleneck.spectrum : the singular values, with their error estimates.
    rankbottleneck.Spectrum.rank : a measure of a spectrum already computed.
    estimate_hidden_size : ``d`` read off the gap.
    RankReport : what is returned.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, W, b = rb.contexts_and_words(200, 50, 4, has_bias=True, seed=0)
    >>> report = rb.rank_report(rb.log_prob_matrix(H, W, bias=b), d=4, has_bias=True)
    >>> report["press"].value, report.bound
    (6, 6)
    """
    bias = _has_bias(has_bias, bias, "rank_report", default=None)
    layer = A if _is_layer(A) else None
    if layer is not None:
        # d and has_bias state what a layer already says: they must agree
        if d is not None and _as_int(d, "d", low=0) != layer.d:
            raise ValueError(f"d = {d} contradicts the layer's d = {layer.d} (W has "
                             f"{layer.d} columns); leave d out for a layer")
        if bias is not None and bias != (layer.bias is not None):
            raise ValueError(f"has_bias = {bias} contradicts the layer, which has "
                             f"{'a' if layer.bias is not None else 'no'} bias; leave "
                             "has_bias out for a layer")
        d = layer.d if d is None else d
        bias = (layer.bias is not None) if bias is None else bias
    eps_values = tuple(_check_eps(e) for e in np.atleast_1d(eps_values))
    if not eps_values:
        raise ValueError("eps_values must hold at least one value; got none")
    if rtol is not None and atol is not None:
        raise ValueError(f"rtol and atol can't both be set; got rtol={rtol}, atol={atol}")
    # a floor at or above 0 would clip every log-probability
    log_floor = _as_scalar(log_floor, "log_floor", high=0, high_open=True)
    if d is not None:
        d = _as_int(d, "d", low=0)
    if layer is not None and layer._activation.sparse:
        # its zeros need the support analysis of the whole matrix, made here
        if client is not None:
            from .spectra._dask import _require_client

            _require_client(client)
            warnings.warn("rank_report: client not used: a sparse layer's matrix is "
                          "built and analysed here (its -inf entries need the "
                          "whole matrix)", UserWarning, stacklevel=2)
            client = None
        A, layer, contexts = layer.log_prob_matrix(contexts), None, None
    if layer is None:
        A = _as_matrix(A)
    sparse = None
    scale = 0       # a matrix far from 1 is analysed scaled by 2^-scale
    if layer is not None:
        spec = _spectrum_unless_dense(layer, contexts, method, computed_in,
                              progress=progress, client=client)
        computed_in, shape, dtype = spec.computed_in, spec.shape, spec.computed_in
    else:
        computed_in = _computed_in(computed_in, A)
        if np.isneginf(A).any():
            sparse = _support_summary(A, log_floor, computed_in, eps_values)
            A = np.maximum(A, log_floor)
        _check_finite(A, "A")
        shape, dtype = A.shape, np.dtype(A.dtype).name
        # exactly (a power of two), so that no row mean or σ overflows
        scale = _exponent(_peak(A))
        A = _scaled(A, scale)
        spec = _spectrum_unless_dense(A, None, method, computed_in, progress=progress,
                              client=client)
    s, e = _singular_values(A) if spec is None else spec._scaled()
    e += scale
    ranks = [_rank_of(s, e, m, shape=shape, computed_in=computed_in)
             for m in ("numpy", "press")]
    if rtol is not None:
        ranks.append(_rank_of(s, e, "rtol", shape=shape, rtol=rtol,
                              computed_in=computed_in))
    if atol is not None:
        ranks.append(_rank_of(s, e, "atol", shape=shape, atol=atol,
                              computed_in=computed_in))
    ranks += [_rank_of(s, e, "effective", shape=shape, eps=eps,
                       computed_in=computed_in) for eps in eps_values]
    ranks += [_rank_of(s, e, m, shape=shape, computed_in=computed_in)
              for m in ("entropy", "stable", "gap")]
    shift = ()
    if shift_invariant:
        if spec is None:
            s_centred, e_centred = _singular_values(_centre_rows(A))
        else:
            s_centred, e_centred = _spectrum_unless_dense(
                A if layer is None else layer, contexts, method, computed_in,
                centre_rows=True, progress=progress, client=client)._scaled()
        e_centred += scale
        s1 = _unscaled(float(s[0]), e - e_centred)
        shift = tuple(_shift_invariant_from(s_centred, s1, m, shape, computed_in,
                                            exponent=e_centred)
                      for m in ("numpy", "press"))
    return RankReport(shape, dtype, computed_in, _unscaled(s, e), tuple(ranks),
                      shift, None if d is None else int(d),
                      None if bias is None else bool(bias), sparse,
                      "svd" if spec is None else spec.method)


# ---------------------------------------------------------------------------
# Several matrices
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RankComparison(Result):
    """Rank reports of several matrices, as a table and a figure.

    ``reports`` maps each name to its :class:`RankReport`; ``repr`` prints
    one row per matrix and one column per measure.

    See Also
    --------
    compare_ranks : makes one.
    RankReport : each column.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(60, 20, 2, seed=0)
    >>> table = rb.compare_ranks({"softmax": rb.log_prob_matrix(H, W)}, d=2)
    >>> table.reports["softmax"]["press"].value
    3
    """

    reports: dict

    @property
    def columns(self):
        cols = []
        for rep in self.reports.values():
            for key in rep.as_dict():
                if key not in cols:
                    cols.append(key)
        return cols

    def rows(self):
        """``[{"name": ..., measure: value, ...}, ...]``, ready for CSV."""
        return [{"name": name, **rep.as_dict()} for name, rep in self.reports.items()]

    def as_dict(self):
        """``{name: report.as_dict()}``, JSON-safe (the rows of the table)."""
        return json_safe({name: rep.as_dict() for name, rep in self.reports.items()})

    def __repr__(self):
        cols = self.columns
        names = list(self.reports)
        w0 = max(4, *(len(n) for n in names))
        widths = [max(len(c), 7) for c in cols]
        head = "name".ljust(w0) + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths))
        lines = [head]
        for name, rep in self.reports.items():
            values = rep.as_dict()
            cells = []
            for c, w in zip(cols, widths):
                v = values.get(c, "")
                cells.append((f"{v:.2f}" if isinstance(v, float) else str(v)).rjust(w))
            lines.append(name.ljust(w0) + "  " + "  ".join(cells))
        return "\n".join(lines)

    def plot(self, ax=None):
        """Overlay the normalised spectra, Press rank marked on each."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        n = len(self.reports)
        # beyond ten series, tab10 repeats: use tab20 and vary the dashes
        colors = plt.get_cmap("tab10" if n <= 10 else "tab20")(np.arange(n) % 20)
        dashes = ["-", "--", "-.", ":"]
        for k, (name, rep) in enumerate(self.reports.items()):
            s = rep.singular_values
            s1 = s[0] if s[0] > 0 else 1.0
            line, = ax.semilogy(np.arange(1, len(s) + 1),
                                np.maximum(s / s1, np.finfo(float).tiny),
                                color=colors[k], ls=dashes[(k // 5) % 4] if n > 10 else "-",
                                label=f"{name} (Press {rep['press'].value})")
            press = rep["press"].value
            if 0 < press <= len(s):
                ax.plot(press, max(s[press - 1] / s1, np.finfo(float).tiny), "o",
                        color=line.get_color(), ms=4)
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        ax.legend(fontsize=7)
        return ax

    def plot_measures(self, ax=None, measures=None):
        """Grouped bars: one group per measure, one bar per matrix (log scale)."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.gca()
        measures = measures or [c for c in self.columns if c != "bound"]
        n = len(self.reports)
        width = 0.8 / max(n, 1)
        x = np.arange(len(measures))
        for i, (name, rep) in enumerate(self.reports.items()):
            values = rep.as_dict()
            ax.bar(x + i * width, [max(values.get(m, 0), 0.5) for m in measures],
                   width, label=name)
        ax.set_xticks(x + 0.4 - width / 2, measures, rotation=45, ha="right",
                      fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("rank")
        ax.legend(fontsize=7)
        return ax


def compare_ranks(matrices, *, d=None, bias=None, has_bias=None, **kwargs):
    """Rank reports of several matrices side by side.

    Parameters
    ----------
    matrices : dict
        ``{name: A}``; each `A` as for :func:`rank_report`.
    d, has_bias, **kwargs
        Passed to :func:`rank_report` for every matrix.
    bias : bool, optional
        The old spelling of `has_bias`; deprecated.

    Returns
    -------
    RankComparison

    See Also
    --------
    rank_report : one matrix.
    RankComparison : what is returned.

    Examples
    --------
    >>> import rankbottleneck as rb
    >>> H, W, _ = rb.contexts_and_words(100, 40, 3, logit_scale=2.0, seed=0)
    >>> table = rb.compare_ranks({a: rb.log_prob_matrix(H, W, a)
    ...                           for a in ("softmax", "sigsoftmax")}, d=3)
    >>> [table.reports[a]["press"].value for a in ("softmax", "sigsoftmax")]
    [4, 40]
    """
    has_bias = _has_bias(has_bias, bias, "compare_ranks", default=None)
    if not isinstance(matrices, dict) or not matrices:
        raise ValueError(
            "matrices must be a non-empty dict {name: matrix}; got "
            f"{type(matrices).__name__} of length {len(matrices) if hasattr(matrices, '__len__') else '?'}"
        )
    return RankComparison({str(name): rank_report(A, d=d, has_bias=has_bias, **kwargs)
                           for name, A in matrices.items()})
