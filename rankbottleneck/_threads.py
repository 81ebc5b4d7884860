"""Elementwise work over row ranges in threads.

numpy's elementwise ufuncs (exp, log1p over the N·M entries of a streamed
log-probability matrix) run on one core and would otherwise cost as much as
the matrix products; they release the GIL, so contiguous row ranges run in
threads. Each row is computed the same way whatever the thread count, so
results do not depend on it.
"""

from __future__ import annotations

import concurrent.futures
import os

__all__: list[str] = []

_THREADS = max(1, min(os.cpu_count() or 1, 8))
_CHUNK_BYTES = 512 * 2**10
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
    """``func(rows)`` over consecutive row slices of about ``_CHUNK_BYTES``
    (so that several elementwise passes over a chunk stay in cache), the
    slices shared out to threads; the results in row order."""
    step = max(1, _CHUNK_BYTES // max(1, row_bytes))

    def part(S):
        return [func(slice(a, min(a + step, S.stop)))
                for a in range(S.start, S.stop, step)]
    return [r for results in _threaded(part, n) for r in results]
