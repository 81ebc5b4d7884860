"""rankbottleneck: what an output layer can and cannot represent.

Build log-probability matrices under softmax and its alternatives
(:mod:`rankbottleneck.activations`, :mod:`rankbottleneck.layers`), from
synthetic or real embeddings (:mod:`rankbottleneck.synthetic`), and measure
their rank.

matplotlib is imported only by the functions that draw, and sympy only when
:mod:`rankbottleneck.symbolic` is first used.
"""

import importlib

# _threads first: it sets OpenBLAS's idle-thread timeout before numpy loads it
from . import (
    _threads,  # noqa: F401
    activations,
    argmax,
    cluster,
    fit,
    headcost,
    image,
    io,
    output_set,
    outputlayer,
    rank,
    reports,
    sequences,
    spectra,
    synthetic,
    topk,
)
from ._result import Verification
from ._validation import InsufficientMemoryError
from .activations import (
    Activation,
    available,
    get,
    log_entmax,
    log_gss,
    log_mixture,
    log_plif_softmax,
    log_r_softmax,
    log_relu_normalized,
    log_sigmoid_normalized,
    log_sigsoftmax,
    log_softmax,
    log_sparsemax,
    log_t_softmax,
    plif,
    register,
    unregister,
)
from .argmax import ArgmaxReport, argmaxable, argmaxable_under, dominating_word
from .fit import FitResult, expressivity_sweep, fit_log_probs
from .headcost import (
    HeadCostReport,
    HeadRankLoss,
    SuppressedGradient,
    UniformTopCapacity,
    head_cost_report,
    head_rank_loss,
    suppressed_gradient,
    uniform_top_capacity,
)
from .image import (
    APIHiddenSize,
    EllipseResidual,
    MembershipROC,
    ModelComparison,
    OutputImage,
    RecoveredLogprobs,
    RestrictedAPI,
    api_hidden_size,
    compare_models,
    compare_outputs,
    ellipse_residual,
    membership_roc,
    output_image,
    recover_logprobs,
)
from .io import Embeddings, load_embeddings
from .layers import (
    MixtureLayer,
    PointwiseLayer,
    log_prob_matrix,
    mixture_log_prob_matrix,
    mixture_log_probs_from_components,
)
from .output_set import (
    argmax_changes,
    estimate_hidden_size,
    local_dimension,
    output_set_dimension,
)
from .outputlayer import OutputLayerReport, analyze_output_layer
from .rank import Rank, numerical_rank, shift_invariant_rank, singular_values
from .reports import RankComparison, RankReport, compare_ranks, rank_report
from .sequences import (
    ExtendedLogitMatrix,
    LingenResult,
    PowerLaw,
    TruncationKL,
    extended_logit_matrix,
    lingen,
    sample_histories_futures,
)
from .spectra import Spectrum, spectrum
from .synthetic import contexts_and_words
from .topk import (
    RealizableFraction,
    RealizableReport,
    ranking_count,
    realizable_fraction,
    realizable_order,
    realizable_set,
    realizable_support,
)

__version__ = "0.1.0"

__all__ = [
    "activations",
    "argmax",
    "cluster",
    "fit",
    "headcost",
    "image",
    "io",
    "outputlayer",
    "rank",
    "reports",
    "sequences",
    "spectra",
    "output_set",
    "symbolic",
    "synthetic",
    "topk",
    "InsufficientMemoryError",
    "log_softmax",
    "log_sigsoftmax",
    "log_gss",
    "log_sigmoid_normalized",
    "log_relu_normalized",
    "plif",
    "log_plif_softmax",
    "log_t_softmax",
    "log_r_softmax",
    "log_sparsemax",
    "log_entmax",
    "log_mixture",
    "Activation",
    "register",
    "unregister",
    "get",
    "available",
    "PointwiseLayer",
    "MixtureLayer",
    "log_prob_matrix",
    "mixture_log_prob_matrix",
    "mixture_log_probs_from_components",
    "contexts_and_words",
    "singular_values",
    "numerical_rank",
    "shift_invariant_rank",
    "rank_report",
    "compare_ranks",
    "spectrum",
    "Spectrum",
    "Rank",
    "RankReport",
    "RankComparison",
    "output_set_dimension",
    "local_dimension",
    "estimate_hidden_size",
    "argmax_changes",
    "argmaxable",
    "argmaxable_under",
    "dominating_word",
    "ArgmaxReport",
    "realizable_set",
    "realizable_order",
    "realizable_support",
    "realizable_fraction",
    "ranking_count",
    "RealizableReport",
    "RealizableFraction",
    "Verification",
    "fit_log_probs",
    "expressivity_sweep",
    "FitResult",
    "load_embeddings",
    "Embeddings",
    "analyze_output_layer",
    "OutputLayerReport",
    "head_rank_loss",
    "suppressed_gradient",
    "uniform_top_capacity",
    "head_cost_report",
    "HeadRankLoss",
    "SuppressedGradient",
    "UniformTopCapacity",
    "HeadCostReport",
    "extended_logit_matrix",
    "sample_histories_futures",
    "ExtendedLogitMatrix",
    "PowerLaw",
    "TruncationKL",
    "lingen",
    "LingenResult",
    "output_image",
    "OutputImage",
    "membership_roc",
    "MembershipROC",
    "compare_models",
    "compare_outputs",
    "ModelComparison",
    "ellipse_residual",
    "EllipseResidual",
    "RestrictedAPI",
    "recover_logprobs",
    "RecoveredLogprobs",
    "api_hidden_size",
    "APIHiddenSize",
]


def __getattr__(name):
    # sympy takes longer to import than the rest of the package together.
    if name == "symbolic":
        return importlib.import_module(".symbolic", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
