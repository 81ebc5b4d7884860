"""Threads: elementwise work over row ranges, and BLAS's own threads.

numpy's elementwise ufuncs (exp, log1p over the N·M entries of a streamed
log-probability matrix) run on one core and would otherwise cost as much as
the matrix products; they release the GIL, so contiguous row ranges run in
threads. Each row is computed the same way whatever the thread count, so
results do not depend on it.

The other way round, a loop of many small products (an L-BFGS fit of a
300 × 200 target) loses to BLAS's threads: OpenBLAS wakes them for every
call, and splits a dot product's sum among them. :func:`_blas_threads`
runs such a loop on one BLAS thread (``threadpoolctl``).

And between products, OpenBLAS's idle threads spin for ``2^28`` cycles
(about 0.1 s) before they sleep, taking a core from the elementwise threads
above and from Python: a Gram pass of SmolLM2's sigsoftmax log-probabilities
took 6.6 s that way and 4.4 s with ``OPENBLAS_THREAD_TIMEOUT=20`` (``2^20``
cycles, under a millisecond: enough for back-to-back products), the small
figures up to half as long. Importing the package sets that variable
unless it is set (:mod:`rankbottleneck` imports this module before numpy);
it acts on an OpenBLAS not yet loaded, so a notebook that imported numpy
first keeps the default. It changes when idle threads sleep, never a result.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os

__all__: list[str] = []

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

_THREADS = max(1, min(os.cpu_count() or 1, 8))
_CHUNK_BYTES = 4 * 2**20
_POOL = []


def _threaded(func, n, min_rows=64):
    """``[func(rows) for rows in slices of range(n)]``, the slices in threads."""
    k = max(1, min(_THREADS, n // min_rows))
    edges = [n * i // k for i in range(k + 1)]
    parts = [slice(a, b) for a, b in zip(edges, edges[1:])]
    if k == 1:
        return [func(parts[0])]
    if not _POOL:
        _POOL.append(concurrent.futures.ThreadPoolExecutor(_THREADS))
    return list(_POOL[0].map(func, parts))


def _by_chunks(func, n, row_bytes):
    """``func(rows)`` over consecutive row slices of about ``_CHUNK_BYTES``,
    the slices shared out to threads; the results in row order.

    Each numpy call on a chunk takes the GIL to start, so a chunk must be
    large enough that the two threads rarely wait for each other: in a
    streamed Gram pass over SmolLM2's 2,000 × 49,152 PLIF logits the
    elementwise work took 0.92 s in 512 KiB chunks (chunks to stay in the
    2 MiB L2 cache) and 0.68 s in 4 MiB ones, with the same values (a row
    is computed the same way in any chunk).
    """
    step = max(1, _CHUNK_BYTES // max(1, row_bytes))

    def part(S):
        return [func(slice(a, min(a + step, S.stop)))
                for a in range(S.start, S.stop, step)]
    return [r for results in _threaded(part, n) for r in results]


#: below this many flops per product, one BLAS thread is faster than two
_SMALL_PRODUCT = 2**27


def _blas_threads(flops):
    """A context in which BLAS uses one thread if the loop's largest product
    has fewer than ``_SMALL_PRODUCT`` flops (else it changes nothing).

    On two cores, the expressivity sweep's fits (products of at most
    6·10⁶ flops) took 83 s on OpenBLAS's two threads and 23 s on one. A
    loop on one thread also rounds the same on every machine: a threaded
    dot product sums in as many parts as there are threads, and an
    optimiser's path amplifies the difference.
    """
    if flops >= _SMALL_PRODUCT:
        return contextlib.nullcontext()
    import threadpoolctl

    return threadpoolctl.threadpool_limits(1, user_api="blas")
