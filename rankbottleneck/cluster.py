r"""Spectra, ranks and argmaxable words on a Dask cluster.

The streamed Gram path of :func:`~rankbottleneck.spectrum` is a sum over
blocks of the log-probability matrix, and :func:`~rankbottleneck.argmaxable`
decides words independently: both run on ``distributed`` unchanged in
substance. Pass ``client=`` (a ``distributed.Client``) to
:func:`~rankbottleneck.spectrum`, :func:`~rankbottleneck.numerical_rank`,
:func:`~rankbottleneck.shift_invariant_rank`,
:func:`~rankbottleneck.rank_report`, :func:`~rankbottleneck.argmaxable` or
:func:`~rankbottleneck.argmaxable_under`.

How a spectrum is computed on the cluster (``N`` contexts, ``M`` words,
``n = min(N, M)``):

1. the layer (``W``, ``b``, parameters) and the contexts are put into the
   task graph once (so a worker that dies loses nothing the scheduler
   cannot rebuild) and fetched by every worker that needs them;
2. *normalisers* (``N ≤ M``): each task builds the logits of a chunk of
   words from ``H`` and ``W`` and returns, per row, its maximum and
   ``Σ exp(φ - max)``; these are combined on the cluster into the
   log-normalisers (``N·K`` of them for a mixture);
3. *Gram passes*: each task forms the log-probability columns of its chunk,
   ``A_J = φ(H W_Jᵀ + b_J) - lse`` (a mixture's ``lse_k`` of its
   components), a block at a time, and accumulates ``A_J A_Jᵀ`` (or
   ``(Tᵀ A_J)(Tᵀ A_J)ᵀ`` in a refinement pass, with the rotation ``T``
   sent the same way); the partial Gram matrices are summed pairwise on the
   cluster. With ``N > M`` the tasks take chunks of contexts instead and
   need no normaliser pass.
4. the client receives one ``n × n`` matrix per pass and does what
   :mod:`rankbottleneck.spectra` does with it: the Cholesky test, ``eigh``,
   the Schur complements. Those are the only local work.

The whole matrix is never in one place; a task holds one block of columns
(``N × block_cols``) and one ``n × n`` accumulator. The answer is the
single-machine answer: the same algorithm on sums taken in another order.

Scale: the normaliser tasks also return each row's smallest ``φ``, so the
largest ``|log p|`` is known before the first Gram pass; when it is far from
1 every task scales its columns by the same power of two (exactly, as on one
machine), and each Gram task returns its largest entry, so that a pass whose
entries turn out far from 1 anyway is run again scaled. Logits or
log-probabilities that overflow raise a ``ValueError`` naming the layer.

The tasks and the source live in :mod:`rankbottleneck.spectra._dask`; they
build their blocks with the engine's one column source, so a worker's block
is the single-machine block.

A softmax layer needs no cluster: its structural path (two thin QRs,
``O((N + M) d²)``) is faster on one machine than any distributed Gram, so
``client=`` is ignored there and the spectrum's notes say so.

**Faults.** A task whose worker dies is rerun elsewhere by the scheduler
(its inputs can be rebuilt from the graph); only its blocks, and the partial
sums it held, are recomputed. Before a pass
is submitted, its per-task memory (block temporaries, accumulator and
rotation) is compared with the smallest worker's memory limit, and a pass
that would not fit is refused with :class:`~rankbottleneck.InsufficientMemoryError`
instead of letting the nanny kill the worker.
"""

from __future__ import annotations

import math

import numpy as np

# _require_client is asked by argmaxable too (client= there)
from .spectra._dask import (  # noqa: F401
    _aligned,
    _check_task_memory,
    _require_client,
    _share,
)

__all__ = ["local_cluster"]


def local_cluster(n_workers=2, threads_per_worker=1, memory_limit="auto"):
    """A ``distributed.Client`` on a ``LocalCluster`` of process workers.

    For trying the cluster paths on one machine (and for the CLI's
    ``--workers``); close it with ``client.close(); client.cluster.close()``
    or use it as a context manager.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                           processes=True, memory_limit=memory_limit,
                           dashboard_address=":0")   # any free port, never a clash
    return Client(cluster)


def _with_aligned(fn, W, b, *args, **kwargs):
    return fn(_aligned(W), _aligned(b), *args, **kwargs)


def _argmaxable_on(client, decide, W, b, options, chunk_words=None):
    """``decide(W, b, words, **options)`` on chunks of words, on the cluster;
    the list of what each chunk returned."""
    M = W.shape[0]
    n_workers = len(client.scheduler_info()["workers"])
    step = chunk_words or max(1, math.ceil(M / (8 * n_workers)))
    _check_task_memory(client, 3 * W.nbytes + 2 * options.get("block", 256) * M * 8,
                       f"deciding words of a {M}×{W.shape[1]} layer",
                       "use workers with more memory")
    Wf, bf = _share(client, W, b)
    futures = [client.submit(_with_aligned, decide, Wf, bf,
                             np.arange(lo, min(lo + step, M)), pure=False, **options)
               for lo in range(0, M, step)]
    return client.gather(futures)
