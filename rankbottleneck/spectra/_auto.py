"""The one ``method="auto"`` rule of the spectral engine.

:func:`~rankbottleneck.spectrum`, :func:`~rankbottleneck.numerical_rank`,
:func:`~rankbottleneck.shift_invariant_rank`,
:func:`~rankbottleneck.rank_report` and
:func:`~rankbottleneck.analyze_output_layer` all ask :func:`_choose`, so a
matrix or a layer is analysed the same way whichever of them is called.

The rule (measured on 2 cores, ``benchmarks/bench_spectrum.py``):

* a layer whose log-probabilities are its logits minus a shift (softmax,
  pointwise or in the MoC control): ``"structural"``, ``O((N + M) d²)``;
* any other layer: ``"gram"``, streamed, so that its ``N × M`` matrix is
  never stored;
* a matrix of at most :data:`_DENSE_ENTRIES` entries: ``"svd"``; LAPACK's
  SVD is as fast as the Gram path's eigen-solve there (a 2000 × 2000
  Gaussian: 1.2 s against 2.1 s);
* a larger matrix: ``"gram"`` (a 4000 × 4000 Gaussian: 3.5 s against
  15 s). When its first pass leaves eigenvalues that a Gram matrix cannot
  resolve (a noise-dominated spectrum, which the refinement passes of
  ``method="gram"`` resolve more slowly than the dense SVD: 24 s against
  10 s at 4000 × 4000), ``"auto"`` deflates the few resolved directions
  and takes the rest from one more pass
  (:func:`~rankbottleneck.spectra._gram._deflated_spectrum`: a low-rank
  signal under noise, ``analyses/noise_fragility.py``), and where that would
  leave any value less certain than the dense SVD's ``ε σ_1 √n`` it takes
  the dense SVD of the matrix, which is in memory.
"""

from __future__ import annotations

__all__: list[str] = []

METHODS = ("auto", "svd", "gram", "structural")

# Up to this many entries a matrix goes to the dense SVD, and
# analyze_output_layer builds every activation's matrix for its hidden size.
_DENSE_ENTRIES = 4_000_000


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return method


def _dense_is_cheap(n_entries):
    """Whether a matrix of `n_entries` is small enough to build and to
    decompose densely (the threshold of ``"auto"``)."""
    return n_entries <= _DENSE_ENTRIES


def _choose(method, *, is_layer, structural=False, n_entries=0):
    """The method `"auto"` stands for (any other is returned as it is).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    is_layer : bool
        Whether the spectrum is of a layer on contexts (else of a matrix).
    structural : bool
        For a layer: whether its log-probabilities are its logits minus a
        shift (the structural path applies).
    n_entries : int
        For a matrix: its number of entries.
    """
    _check_method(method)
    if method != "auto":
        return method
    if is_layer:
        return "structural" if structural else "gram"
    return "svd" if _dense_is_cheap(n_entries) else "gram"
