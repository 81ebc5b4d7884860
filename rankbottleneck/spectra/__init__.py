r"""Singular spectra at language-model scale: Gram, refinement, structure.

A dense SVD of a 10,000 × 33,278 log-probability matrix takes many minutes
and several copies of a 2.7 GB matrix, because LAPACK's bidiagonalisation is
bound by memory traffic. :func:`spectrum` gets the same singular values from
algorithms whose cost is matrix products:

``"gram"``
    ``G = B Bᵀ`` for ``B`` the matrix or its transpose, whichever has fewer
    rows (``n ≤ m``), accumulated in float64 over column blocks of ``B``
    that are built on the fly (the matrix is never stored when the caller
    passes a layer), then ``eigh(G)``. Its eigenvalues carry an absolute
    error ``δ ≈ ε √m λ_1``, so every ``σ_i`` below about ``√δ`` (``≈ 2e-7
    σ_1``) is lost, which is where the rank decision is made. A Cholesky
    test of ``G - κδ I`` (``κ = 10⁴``) says, at the cost of a quarter of a
    product, whether any eigenvalue is that small. If none is, the spectrum
    is ``√λ`` with relative error ``≤ 1/(2κ)`` (in practice ``~ε σ_1``
    absolute, as LAPACK's) and nothing else is done.

``refinement`` (automatic)
    Otherwise the eigenvectors ``U`` of ``G`` are split into the resolved
    block ``R`` (``λ > κδ``) and the rest ``Z``, and a second pass forms the
    Gram matrix of the rotated rows ``F = Uᵀ B``. Unlike ``G`` it is
    accurate *block by block*, relative to the norms of its rows, because
    the small rows ``Z^T B`` are computed from ``B`` directly instead of by
    cancellation inside ``B Bᵀ``. The small singular values are the square
    roots of the eigenvalues of the Schur complement
    ``S = F_Z F_Zᵀ - F_Z F_Rᵀ (F_R F_Rᵀ)^{-1} F_R F_Zᵀ``: ``FFᵀ = L diag(F_R F_Rᵀ, S) Lᵀ``
    with ``L = I + O(1/(κ√m))``, so by Ostrowski's theorem the eigenvalues of
    the two blocks are those of ``FFᵀ`` to a relative ``O(1/(κ√m))``; and
    ``eigh(S)`` resolves down to ``√(ε√m)·‖S‖^{1/2}``. The pass repeats on
    what is still unresolved (at most four passes; a softmax matrix needs
    one: its noise singular values ``~1e-17 σ_1`` come out as LAPACK's
    do). Once all that is unresolved lies below ``ε σ_1/10`` it is rounding
    noise of ``B`` itself (LAPACK's error is ``~ε σ_1``) and is reported with
    that as its error.

``deflation`` (``method="auto"`` on a matrix beyond 4·10⁶ entries)
    Where the first pass leaves values unresolved, the few eigenvalues
    above ``κδ`` (a low-rank signal under noise) are deflated instead: their
    Ritz vectors by subspace iteration, then one pass over ``Qᵀ B`` with
    ``Q`` their Householder completion (two thin products per block, no
    ``n × n`` eigenvectors) and the eigenvalues of the Schur complement.
    Ostrowski's theorem bounds the effect of the coupling ``η`` that the
    pass measures; the result is kept only when ``η ≤ 1/κ`` and every value
    is as certain as the dense SVD's (``√d_S ≤ ε σ_1 √n``), else the dense
    SVD is taken: the refinement passes cost more than it on such spectra.

``"structural"``
    A softmax layer (or the MoC control) gives ``A = [H, 1, -lse] [W, b, 1]ᵀ``:
    its spectrum is that of ``R_L R_Rᵀ`` after two thin QR factorisations,
    ``O((N + M) d²)`` after one pass for the log-normalisers; the other
    ``min(N, M) - d - 2`` singular values are exactly zero.

``"svd"``
    The dense LAPACK SVD (``scipy.linalg.svdvals``), for small matrices and
    for checking the others.

Scale: a Gram matrix squares the entries, so beyond about ``1e154`` (or
below ``1e-154``) it would overflow (or lose every small value). As LAPACK's
``dlascl`` does, a matrix whose largest entry lies outside ``[2^-204,
2^204]`` is scaled by a power of two first, exactly, and its singular values
scaled back (:mod:`rankbottleneck._lapack`): a matrix's from its largest
entry, a streamed layer's when its first pass finds its blocks that far
from 1 (the pass is then run again, scaled), a structural layer's factors
column by column. The spectrum of ``s·A`` is then ``s`` times that of ``A``
and its ranks are the same, for every ``s`` that leaves the singular values
representable (ranks are taken from the scaled values, so they hold even
where ``values`` overflow to ``inf``). Anything inside the band is computed
exactly as without this. A layer whose logits or log-probabilities overflow
raises ``ValueError`` naming it and its largest logit.

float32: what a float32 layer's log-probabilities are made of is computed
in float32, because those entries carry float32 rounding anyway (and the
rank thresholds then use float32's ε): the logits product, φ, and in the
structural path the exponentials inside lse. Everything the rank decision
rests on is float64: the sums inside lse, every Gram matrix, rotation, QR and
eigen-solve. A float32 Gram would lose every ``σ_i`` below ``√ε₃₂ σ_1 ≈ 3e-4
σ_1``, above float32's own Press threshold ``~1e-5 σ_1``.

The engine, one module per part (private; the public names are
:func:`spectrum`, :class:`Spectrum` and :data:`METHODS`):

=================== ==========================================================
``_sources``        the one column source: a matrix, a layer on contexts
                    (and, through ``_dask``, a layer on a cluster)
``_gram``           the streamed Gram pass and its refinement
``_structural``     the structural path of softmax / MoC layers
``_hidden_size``    the spectrum-cliff estimate of the hidden size, and the
                    largest drop that the ``"gap"`` rank measure also uses
``_power``          the one power iteration (``λ_1`` of a Gram matrix,
                    ``σ_1`` of outputs)
``_auto``           the one ``method="auto"`` rule
``_dask``           the Gram passes on a Dask cluster
``_spectrum``       :func:`spectrum` and :class:`Spectrum`
=================== ==========================================================
"""

from ._auto import METHODS
from ._spectrum import Spectrum, spectrum

__all__ = ["Spectrum", "spectrum", "METHODS"]
