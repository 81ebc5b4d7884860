"""The streamed spectrum on a Dask LocalCluster against one process.

A sigsoftmax layer, N = 10,000 contexts × M = 33,278 words, d = 400 (the
issue's size; quick: 2,000 × 8,000, d = 100): the spectrum by the Gram path
in this process (BLAS on every core), then with ``client=`` on a LocalCluster
of 1 and of 2 process workers with one thread each. Prints the seconds, the
ratios, the ranks (which must be equal), the largest singular-value
difference, and the peak resident memory of each worker (sampled every
0.2 s). The stage times split each run into the passes on the cluster and
the local eigen-solves, which is what the scaling model in the README uses.

    python benchmarks/bench_cluster.py [--quick] [--workers 1 2] [--size 5000x33278]
"""

import argparse
import os
import threading
import time

import numpy as np

import rankbottleneck as rb
from rankbottleneck.cluster import local_cluster


def _peak_rss(pids, stop, out):
    import psutil

    procs = [psutil.Process(p) for p in pids]
    while not stop.is_set():
        for p in procs:
            try:
                out[p.pid] = max(out.get(p.pid, 0), p.memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(0.2)


def _describe(spec):
    ranks = {m: spec.rank(m).value for m in ("numpy", "press")}
    ranks["effective(1e-4)"] = spec.rank("effective", eps=1e-4).value
    return ranks


def _stages(spec):
    local = ("λ_1 and Cholesky test", "eigenvectors", "eigenvalues")
    here = sum(s for name, s in spec.stages if name in local
               or name.startswith("refinement") is False and "eig" in name)
    return {name: round(s, 1) for name, s in spec.stages}, here


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", metavar="NxM", help="contexts x words (d = 400)")
    args = parser.parse_args()
    N, M, d = (2000, 8000, 100) if args.quick else (10000, 33278, 400)
    if args.size:
        N, M = (int(v) for v in args.size.lower().split("x"))
    H, W, _ = rb.contexts_and_words(N, M, d, seed=0)
    layer = rb.PointwiseLayer(W, activation="sigsoftmax")
    print(f"sigsoftmax, N = {N:,}, M = {M:,}, d = {d}; {os.cpu_count()} cores",
          flush=True)
    t = time.perf_counter()
    here = rb.spectrum(layer, H, method="gram")
    t_here = time.perf_counter() - t
    print(f"  one process:  {t_here:7.1f} s  {here.method}; ranks {_describe(here)}; "
          f"stages {_stages(here)[0]}", flush=True)
    for k in args.workers:
        client = local_cluster(k, threads_per_worker=1)
        pids = list(client.run(os.getpid).values())
        peaks, stop = {}, threading.Event()
        watcher = threading.Thread(target=_peak_rss, args=(pids, stop, peaks))
        watcher.start()
        t = time.perf_counter()
        there = rb.spectrum(layer, H, method="gram", client=client)
        t_there = time.perf_counter() - t
        stop.set()
        watcher.join()
        diff = np.max(np.abs(there.values - here.values)) / here.values[0]
        same = _describe(there) == _describe(here)
        print(f"  {k} worker(s): {t_there:7.1f} s  ({t_there / t_here:.2f}x the one "
              f"process); ranks {'equal' if same else 'DIFFER: ' + str(_describe(there))}"
              f"; max |Δσ|/σ1 = {diff:.1e}; peak RSS per worker "
              f"{', '.join(f'{v / 2**30:.2f} GiB' for v in peaks.values())}; "
              f"stages {_stages(there)[0]}", flush=True)
        cluster = client.cluster
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
