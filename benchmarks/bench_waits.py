"""What a user waits for, against the targets of issue 24, measured in one run.

* ``rankbottleneck figures`` (every figure at full size, published-size
  points included) against 10 minutes, with each figure's seconds;
* the README's test command's ``pytest -q`` against 3 minutes;
* ``rankbottleneck analyze`` of SmolLM2-135M on 2,000 contexts of real text
  (every counterfactual and the argmax search) against 60 seconds, with its
  stage times; and each counterfactual's streamed Gram passes
  (``Spectrum.stages``, with the logits computed once as ``analyze`` does)
  against their ``N²M``-flop floor at this machine's measured GEMM rate (a
  refinement pass also rotates the blocks: ``3 N²M``).

Each is printed as seconds and as a ratio to its target (≤ 1 meets it). Run
it on a quiet machine: the 2 cores are the whole budget.

    python benchmarks/bench_waits.py                 # all three (about 15 minutes)
    python benchmarks/bench_waits.py --parts analyze  # one part
    python benchmarks/bench_waits.py --keep DIR       # and keep the figures
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# isort: off
# first, as the rankbottleneck command does: numpy's OpenBLAS then starts with
# the package's idle-thread timeout (rankbottleneck._threads)
import rankbottleneck  # noqa: F401
# isort: on
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"figures": 600.0, "tests": 180.0, "analyze": 60.0}


def _run(cmd, cwd=None):
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n"
                 f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def _line(name, seconds):
    target = TARGETS[name]
    print(f"{name:<8} {seconds:8.1f} s   target {target:5.0f} s   ratio "
          f"{seconds / target:5.2f}", flush=True)


def figures(keep=None):
    with tempfile.TemporaryDirectory() as out:
        seconds, log = _run([sys.executable, "-m", "rankbottleneck", "figures",
                             "--out", keep or out])
    for m in re.finditer(r"^([a-z_]+): .*\[([0-9.]+) s\]$", log, re.M):
        print(f"    {m.group(1):<28} {float(m.group(2)):7.1f} s")
    _line("figures", seconds)


def tests():
    seconds, log = _run([sys.executable, "-m", "pytest", "-q", "-p",
                         "no:cacheprovider"], cwd=ROOT)
    print("    " + log.strip().splitlines()[-1])
    _line("tests", seconds)


def _corpus(folder):
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    path = Path(folder) / "corpus.txt"
    path.write_text("\n\n".join(topics[k] for k in sorted(topics)))
    return path


def analyze():
    from bench_spectrum import _pass_ratios, gemm_rate

    import rankbottleneck as rb
    from rankbottleneck import lm
    from rankbottleneck.outputlayer import ACTIVATIONS

    model = lm.smollm2_file()
    with tempfile.TemporaryDirectory() as out:
        text = _corpus(out)
        seconds, _ = _run([sys.executable, "-m", "rankbottleneck", "analyze",
                           str(model), "--text", str(text), "--contexts", "2000",
                           "--out", out])
        report = json.loads(next(Path(out).glob("*-analysis.json")).read_text())
        for stage, s in report["seconds"].items():
            if stage != "total":
                print(f"    {stage:<36} {s:7.1f} s")
        _line("analyze", seconds)
        ctx = lm.collect_contexts(lm.load_model(model), text.read_text(),
                                  n_contexts=2000)
    H, W = ctx.H.astype(np.float64), ctx.W.astype(np.float64)
    N, M = H.shape[0], W.shape[0]
    rate = gemm_rate()
    print(f"    Gram passes (N = {N}, M = {M}, {rate / 1e9:.0f} GFLOP/s), as analyze "
          "runs them (the logits H Wᵀ computed once and read):")
    Z = rb.PointwiseLayer(W).logits(H)
    for act, params in list(ACTIVATIONS.items())[1:]:
        layer = rb.PointwiseLayer(W, None, act, params)._with_logits(H, Z)
        spec = rb.spectrum(layer, H)
        print(f"      {act:<11} {_pass_ratios(spec, N, M, rate)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(TARGETS),
                        choices=list(TARGETS))
    parser.add_argument("--keep", metavar="DIR",
                        help="write the figures there (to compare their data)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for part in args.parts:
        if part == "figures":
            figures(args.keep)
        else:
            {"tests": tests, "analyze": analyze}[part]()


if __name__ == "__main__":
    main()
