import os

import numpy as np
import pytest

from rankbottleneck import activations as act


def pytest_configure(config):
    # the xdist workers start after this, with this environment: one BLAS
    # (and torch) thread each, so that two workers share the two cores
    # instead of four threads spinning on them (the tests' products are
    # small; a test that is about thread counts sets its own)
    if getattr(config.option, "numprocesses", None):
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


# One parameter setting per registered activation, used wherever a test loops
# over the whole registry.
ACTIVATION_PARAMS = {
    "softmax": {},
    "sigsoftmax": {},
    "gss": {"c": -1.5, "k": 2.5},
    "sigmoid_normalized": {},
    "relu_normalized": {},
    "plif": {"theta": act.plif_init(40, bound=5.0, scale=0.5, seed=3), "bound": 5.0},
    "t_softmax": {"t": 2.0},
    "r_softmax": {"r": 0.5},
    "sparsemax": {},
    "entmax": {"alpha": 1.5},
    "entmax_bisect": {"alpha": 1.7},
}
SPARSE = {"relu_normalized", "t_softmax", "r_softmax", "sparsemax", "entmax",
          "entmax_bisect"}


def registry_name(key):
    return "entmax" if key == "entmax_bisect" else key


def ensure_positive_max(z):
    """ReLU normalisation needs a positive logit in every row."""
    z = np.array(z, copy=True)
    z[..., 0] = np.abs(z).max(axis=-1) + 1
    return z


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def gradient_error(loss_and_gradient, x, h=1e-5):
    """Relative error of an analytic gradient against central differences:
    ``loss_and_gradient(x) -> (loss, grad, ...)``."""
    grad = loss_and_gradient(x)[1]
    num = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (loss_and_gradient(x + e)[0] - loss_and_gradient(x - e)[0]) / (2 * h)
    return np.linalg.norm(num - grad) / np.linalg.norm(num)
