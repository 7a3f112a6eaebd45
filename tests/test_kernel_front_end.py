"""The kernel front end and bindings reject bad input with a clear Python exception naming the
argument, for both compiled modules (these checks are the support package's, not the kata's)."""

import numpy as np
import pytest

from ml_refresher import _kernels_learner, _kernels_reference, kernels

F32 = np.float32
BAD_MATMUL_CALLS = [
    (np.ones((2, 3)), np.ones((3, 2), F32), TypeError, "a must have dtype float32"),
    (np.ones((2, 3), F32), np.ones((2, 2), F32), ValueError, "a and b do not chain"),
    (np.ones(3, F32), np.ones((3, 2), F32), ValueError, "a must have 2 dimensions"),
    (np.ones((2, 3), F32), [[1.0]], TypeError, "b must be a numpy.ndarray or torch.Tensor"),
    (np.ones((0, 3), F32), np.ones((3, 2), F32), ValueError, "a must not have an empty"),
]


@pytest.mark.parametrize(("a", "b", "error", "message"), BAD_MATMUL_CALLS)
def test_front_end_rejects_bad_matmul_input(a, b, error, message):
    with pytest.raises(error, match=message):
        kernels.matmul(a, b)


@pytest.mark.parametrize("module", [_kernels_learner, _kernels_reference])
@pytest.mark.parametrize(
    ("a", "b", "error", "message"),
    [
        (np.ones((2, 3)), np.ones((3, 2), F32), TypeError, "a must have dtype float32"),
        (np.ones((2, 3), F32), np.ones((2, 2), F32), ValueError, "inner dimensions differ"),
        (np.ones((2, 3), F32), np.ones(3, F32), ValueError, "b must have 2 dimensions"),
        (np.ones((3, 2), F32).T, np.ones((3, 2), F32), ValueError, "a must be C-contiguous"),
        (np.ones((2, 3), F32), [[1.0]], TypeError, "b must be a numpy.ndarray"),
    ],
)
def test_bindings_reject_bad_input_without_crashing(module, a, b, error, message):
    with pytest.raises(error, match=message):
        module.matmul(a, b)


def test_learner_stub_raises_not_implemented_naming_the_file():
    with pytest.raises(NotImplementedError, match="kernels/matmul.cpp"):
        _kernels_learner.matmul(np.ones((2, 2), F32), np.ones((2, 2), F32))
