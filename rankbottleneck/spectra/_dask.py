r"""The Gram passes of :mod:`rankbottleneck.spectra` on a Dask cluster.

See :mod:`rankbottleneck.cluster` for what runs where. The tasks build their
blocks with the engine's own column source
(:class:`~rankbottleneck.spectra._sources._LayerColumns` and
:func:`~rankbottleneck.spectra._sources._row_block`), so a block on a worker
is the block on one machine; only the order of the sums differs. The
helpers for sharing inputs, reducing on the cluster and refusing tasks that
would not fit are shared with :mod:`rankbottleneck.cluster`'s argmaxable.
"""

from __future__ import annotations

import numpy as np

from .._lapack import _all_finite, _exponent, _peak, _scaled, _syrk_update
from .._progress import progress_bar
from .._validation import InsufficientMemoryError, _format_bytes
from ._sources import _LayerColumns, _row_block

__all__: list[str] = []


def _require_client(client):
    """`client` as a ``distributed.Client``, or a clear error."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("client= needs Dask: pip install 'rankbottleneck[dask]'"
                          ) from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client; got "
                        f"{type(client).__name__}")
    workers = client.scheduler_info()["workers"]
    if not workers:
        raise ValueError("client has no workers; start some (or wait for them) "
                         "before passing it")
    return client


def _worker_memory(client):
    limits = [w.get("memory_limit") or 0
              for w in client.scheduler_info()["workers"].values()]
    limits = [m for m in limits if m > 0]
    return min(limits) if limits else None


def _check_task_memory(client, nbytes, what, instead):
    limit = _worker_memory(client)
    # the nanny pauses a worker at 80% of its limit and kills it at 95%
    if limit is not None and nbytes > 0.7 * limit:
        raise InsufficientMemoryError(
            f"{what} would need {_format_bytes(nbytes)} per task but the smallest "
            f"worker has a memory limit of {_format_bytes(limit)}; {instead}")


def _identity(x):
    return x


def _share(client, *objects):
    """Futures of `objects` that the cluster can rebuild.

    Scattered data is lost with the worker that holds it (the active memory
    manager drops extra replicas), so the inputs go into the task graph
    instead: a task returning the object, which the scheduler reruns if the
    worker holding its result dies.
    """
    import warnings

    with warnings.catch_warnings():
        # the graph carries the layer and the contexts on purpose
        warnings.filterwarnings("ignore", message="Large object of size",
                                category=UserWarning)
        return [client.submit(_identity, obj, pure=False) for obj in objects]


def _tree_sum(client, futures, combine):
    """Reduce `futures` pairwise on the cluster; one future remains."""
    while len(futures) > 1:
        nxt = [client.submit(combine, futures[i], futures[i + 1], pure=False)
               for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0]


def _add(a, b):
    a += b
    return a


def _merge_lse(a, b):
    """Combine two (max, Σexp(x - max), min) triples."""
    (ma, sa, la), (mb, sb, lb) = a, b
    m = np.maximum(ma, mb)
    with np.errstate(invalid="ignore", over="ignore"):
        return m, sa * np.exp(ma - m) + sb * np.exp(mb - m), np.minimum(la, lb)


def _add_gram(a, b):
    """Combine two (Gram matrix, largest |entry|) pairs."""
    (Ga, pa), (Gb, pb) = a, b
    Ga += Gb
    return Ga, max(pa, pb)


# ---------------------------------------------------------------------------
# What the workers run
# ---------------------------------------------------------------------------


def _aligned(a):
    """`a`, copied only if it is not aligned: arrays unpickled from a message
    buffer may not be, and numpy then multiplies them without BLAS."""
    return None if a is None else np.require(a, requirements=["ALIGNED"])


def _normaliser_task(layer, X, lo, hi, block):
    """Per row and component (N, K): max, Σ exp(φ - max) and min over the
    words lo..hi."""
    cols = _LayerColumns(layer, _aligned(X))
    shape = (cols.N, cols.K)
    acc = None
    for j in range(lo, hi, block):
        _, (top, low, sum_exp, _) = cols.unnormalised(slice(j, min(j + block, hi)),
                                                      stats=True)
        part = (top.reshape(shape), sum_exp.reshape(shape), low.reshape(shape))
        acc = part if acc is None else _merge_lse(acc, part)
    return acc


def _row_sum_task(layer, X, lo, hi, block, lognorm, exponent=0):
    cols, lognorm = _LayerColumns(layer, _aligned(X)), _aligned(lognorm)
    return sum(cols.columns(slice(j, min(j + block, hi)), lognorm, exponent).sum(axis=1)
               for j in range(lo, hi, block))


def _gram_columns_task(layer, X, lo, hi, block, lognorm, mean, rotate, exponent=0):
    """``(Σ_J F_J F_Jᵀ, max |A_J|)`` over the column blocks of lo..hi (the
    columns times ``2^-exponent``), upper triangle."""
    cols = _LayerColumns(layer, _aligned(X))
    lognorm, mean, rotate = _aligned(lognorm), _aligned(mean), _aligned(rotate)
    k = X.shape[0] if rotate is None else rotate.shape[1]
    G = np.zeros((k, k), order="F")
    peak = 0.0
    for j in range(lo, hi, block):
        A = cols.columns(slice(j, min(j + block, hi)), lognorm, exponent)
        if mean is not None:
            A -= mean[:, None]
        peak = max(peak, _peak(A))
        if not np.isfinite(peak):
            return G, peak          # the client raises: the layer overflows
        G = _syrk_update(G, A if rotate is None else rotate.T @ A)
    return G, peak


def _gram_rows_task(layer, X, lo, hi, block, centre, rotate, exponent=0):
    """For N > M: ``(Σ F Fᵀ, max |B|)`` with ``F = (Tᵀ) B`` over the row
    blocks ``B`` of the contexts lo..hi (:func:`_row_block`)."""
    X, rotate = _aligned(X), _aligned(rotate)
    k = layer.M if rotate is None else rotate.shape[1]
    G = np.zeros((k, k), order="F")
    peak = 0.0
    for s in range(lo, hi, block):
        B = _row_block(layer, X[s:min(s + block, hi)], exponent, centre)
        peak = max(peak, _peak(B))
        G = _syrk_update(G, B if rotate is None else rotate.T @ B)
    return G, peak


# ---------------------------------------------------------------------------
# The source the Gram path consumes
# ---------------------------------------------------------------------------


class _ClusterSource:
    """A Gram source whose passes run on the cluster (see the module notes).

    Duck-types :class:`rankbottleneck.spectra._sources._Source` for
    :func:`rankbottleneck.spectra._gram._gram_spectrum`: ``n``, ``m``, ``width``, ``block_bytes``,
    ``prepare_passes``, ``finish`` and :meth:`gram`.
    """

    def __init__(self, client, layer, X, block_cols, centre, chunks_per_worker=4):
        self.client = client
        N, M = X.shape[0], layer.M
        self.by_rows = N > M
        self.n, self.m = min(N, M), max(N, M)
        act = layer._activation
        if not self.by_rows and act.logit_map is None:
            raise ValueError(
                f"client= streams the columns of the log-probability matrix through "
                f"the activation's logit map, which {act.name!r} does not declare; "
                "pass more contexts than words (then rows are streamed) or no client")
        n_workers = len(client.scheduler_info()["workers"])
        K = getattr(layer, "K", 1)
        per_col = 4 * K * M * 8 if self.by_rows else 3 * N * K * 8
        # several tasks per worker: a worker that dies costs only its share,
        # and the scheduler balances the rest
        step = -(-self.m // min(self.m, chunks_per_worker * n_workers))
        if block_cols is None:
            block_cols = int(min(step, max(64, (64 << 20) // max(1, per_col))))
        self.width = block_cols
        self.chunks = [(lo, min(lo + step, self.m)) for lo in range(0, self.m, step)]
        self.block_bytes = per_col * block_cols
        self.prepare_passes = 0
        self.finish = lambda G: G
        self.centre = centre
        self.exponent = 0
        dtype = np.result_type(X, layer.dtype)
        self.overflow = lambda: layer._overflow_error(X, dtype)
        self.layer_f, self.X_f = _share(client, layer, np.asarray(X))
        self._check(None)
        self.lognorm = self.mean = None
        if not self.by_rows:
            self._normalisers(K)

    def rescale(self, e):
        """Scale every later pass by ``2^-e`` (the row means too)."""
        if self.mean is not None:
            self.mean = _scaled(self.mean, e - self.exponent)
        self.exponent = e

    def _check(self, rotate_n):
        k = self.n if rotate_n is None else rotate_n
        need = 2 * k * k * 8 + self.block_bytes + (0 if rotate_n is None else
                                                   self.n * k * 8 + k * self.width * 8)
        _check_task_memory(
            self.client, need, f"a Gram pass over {self.n}×{self.n} with blocks of "
            f"{self.width} columns",
            "use workers with more memory, fewer contexts, or a smaller block_cols")

    def _normalisers(self, K):
        c, L, X = self.client, self.layer_f, self.X_f
        parts = [c.submit(_normaliser_task, L, X, lo, hi, self.width, pure=False)
                 for lo, hi in self.chunks]
        top, total, bottom = _tree_sum(c, parts, _merge_lse).result()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            lognorm = top + np.log(total)
            # the log-probabilities reach min φ - lse (minus log π for MoS)
            reach = lognorm - bottom
        if not (_all_finite(lognorm) and _all_finite(reach)):
            raise self.overflow()
        self.lognorm = lognorm.reshape(-1, K)
        # far from 1: every task scales its columns by the same 2^-e
        self.exponent = _exponent(_peak(reach))
        self.prepare_passes += 1
        if self.centre:
            sums = [c.submit(_row_sum_task, L, X, lo, hi, self.width, self.lognorm,
                             self.exponent, pure=False) for lo, hi in self.chunks]
            self.mean = _tree_sum(c, sums, _add).result() / self.m
            self.prepare_passes += 1

    def gram(self, rotate=None, what="Gram", progress=None):
        """One pass: the summed Gram matrix, upper triangle (Fortran order),
        and the largest magnitude of the blocks it was made of."""
        from distributed import as_completed

        c = self.client
        self._check(None if rotate is None else rotate.shape[1])
        T = None if rotate is None else _share(c, rotate)[0]
        if self.by_rows:
            parts = [c.submit(_gram_rows_task, self.layer_f, self.X_f, lo, hi,
                              self.width, self.centre, T, self.exponent, pure=False)
                     for lo, hi in self.chunks]
        else:
            parts = [c.submit(_gram_columns_task, self.layer_f, self.X_f, lo, hi,
                              self.width, self.lognorm, self.mean, T, self.exponent,
                              pure=False)
                     for lo, hi in self.chunks]
        with progress_bar(len(parts), f"spectrum on the cluster, {what}", progress,
                          unit="task") as bar:
            for _ in as_completed(parts):
                bar.update()
        G, peak = _tree_sum(c, parts, _add_gram).result()
        del parts, T
        # what arrives is unpickled from a message buffer: possibly read-only
        # and not even 8-byte aligned, where numpy's products leave BLAS for a
        # loop 25 times slower (measured on the power iteration at n = 10⁴)
        return (np.require(G, np.float64, ["F_CONTIGUOUS", "ALIGNED", "WRITEABLE"]),
                float(peak))
