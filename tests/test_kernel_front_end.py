"""The kernel front end and bindings reject bad input with a clear Python exception naming the
argument, for both compiled modules (these checks are the support package's, not the kata's)."""

import re

import numpy as np
import pytest
import torch

from ml_refresher import _kernels_reference, kernel_build, kernels

F32 = np.float32


def compiled(implementation: str, kernel: str):
    """The reference module (every kernel), or the learner's module of `kernel` (kernels/), both
    compiled from the same bindings."""
    return _kernels_reference if implementation == "reference" else kernel_build.build(kernel)


def ones(*shape):
    return np.ones(shape, F32)


BAD_MATMUL_CALLS = [
    (np.ones((2, 3)), ones(3, 2), TypeError, "a must have dtype float32"),
    (ones(2, 3), ones(2, 2), ValueError, "a and b do not chain"),
    (ones(3), ones(3, 2), ValueError, "a must have 2 dimensions"),
    (ones(2, 3), [[1.0]], TypeError, "b must be a numpy.ndarray or torch.Tensor"),
    (ones(0, 3), ones(3, 2), ValueError, "a must not have an empty"),
]


@pytest.mark.parametrize(("a", "b", "error", "message"), BAD_MATMUL_CALLS)
def test_front_end_rejects_bad_matmul_input(a, b, error, message):
    with pytest.raises(error, match=message):
        kernels.matmul(a, b)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: kernels.softmax(np.array(1.0, F32)), ValueError, "x must have at least 1 dim"),
        (lambda: kernels.softmax(ones(3, 0)), ValueError, "x must not have an empty"),
        (lambda: kernels.softmax(ones(3).astype(np.float16)), TypeError, "x must have dtype"),
        (
            lambda: kernels.attention(ones(1, 2, 3), ones(1, 1, 2, 3), ones(1, 1, 2, 3)),
            ValueError,
            "q must have 4 dimensions",
        ),
        (
            lambda: kernels.attention(ones(1, 1, 2, 3), ones(1, 1, 2, 4), ones(1, 1, 2, 4)),
            ValueError,
            "k must have q's batch, heads and head size",
        ),
        (
            lambda: kernels.attention(ones(1, 1, 2, 3), ones(1, 1, 2, 3), ones(1, 1, 5, 3)),
            ValueError,
            "v must have the shape of k",
        ),
        (
            lambda: kernels.attention(
                ones(1, 1, 2, 3), ones(1, 1, 2, 3), ones(1, 1, 2, 3), causal=1
            ),
            TypeError,
            "causal must be a bool",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 4, 3, 3)),
            ValueError,
            "weight's input channels differ from x's",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), ones(4)),
            ValueError,
            "bias must have one value per output channel",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), ones(1, 3)),
            ValueError,
            "bias must have 1 dimensions",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), stride=0),
            ValueError,
            "stride must be >= 1",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), stride=1.5),
            TypeError,
            "stride must be an int",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), padding=-1),
            ValueError,
            "padding must be in",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), padding=2**62),
            ValueError,
            "padding must be in",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 2, 5), ones(3, 2, 3, 3)),
            ValueError,
            "weight's kernel is larger than x padded",
        ),
        (
            lambda: kernels.conv2d(ones(1, 2, 5, 5), ones(3, 2, 3, 3), padding=float("nan")),
            TypeError,
            "padding must be an int",
        ),
        (lambda: kernels.softmax(ones(3), threads=0), ValueError, "threads must be between 1"),
        (
            lambda: kernels.softmax(ones(3), threads=2**31),
            ValueError,
            re.escape(
                "threads must be between 1 and 1024 (or None for the default), got 2147483648"
            ),
        ),
        (
            lambda: kernels.matmul(np.float32(2.0), ones(1, 1)),
            TypeError,
            re.escape("a must be a 2-D array, got a scalar (float32 2.0)"),
        ),
        (lambda: kernels.softmax(ones(3), threads="2"), TypeError, "threads must be an int"),
    ],
)
def test_front_end_rejects_bad_kernel_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("implementation", ["reference", "learner"])
@pytest.mark.parametrize(
    ("a", "b", "error", "message"),
    [
        (np.ones((2, 3)), ones(3, 2), TypeError, "a must have dtype float32"),
        (ones(2, 3), ones(2, 2), ValueError, "a and b do not chain"),
        (ones(2, 3), ones(3), ValueError, "b must have 2 dimensions"),
        (ones(3, 2).T, ones(3, 2), ValueError, "a must be C-contiguous"),
        (ones(2, 3), [[1.0]], TypeError, "b must be a numpy.ndarray"),
        (ones(2, 0), ones(0, 2), ValueError, "a must not have an empty dimension"),
    ],
)
def test_bindings_reject_bad_input_without_crashing(implementation, a, b, error, message):
    with pytest.raises(error, match=message):
        compiled(implementation, "matmul").matmul(a, b)


@pytest.mark.parametrize("implementation", ["reference", "learner"])
@pytest.mark.parametrize(
    ("name", "args", "error", "message"),
    [
        ("softmax_rows", (np.array(1.0, F32),), ValueError, "x must have at least 1"),
        ("softmax_rows", (ones(4, 4)[:, ::2],), ValueError, "x must be C-contiguous"),
        ("matmul", (ones(2, 2), ones(2, 2), -1), ValueError, "threads must be between 0"),
        (
            "flash_attention",
            (ones(1, 1, 2, 3), ones(1, 2, 2, 3), ones(1, 2, 2, 3)),
            ValueError,
            "k must have q's batch",
        ),
        (
            "flash_attention",
            (ones(1, 1, 2, 3), ones(1, 1, 2, 3), ones(1, 1, 2, 3, 1)),
            ValueError,
            "v must have 4 dimensions",
        ),
        (
            "conv2d_nchw",
            (ones(1, 2, 5, 5), ones(3, 2, 3, 3), None, 1, 3),
            ValueError,
            "padding must be in",
        ),
        (
            "conv2d_nchw",
            (ones(1, 2, 5, 5), ones(3, 2, 3, 3), None, -2, 0),
            ValueError,
            "stride must be >= 1",
        ),
        (
            "conv2d_nchw",
            (ones(1, 2, 5, 5), ones(3, 2, 3, 3), [1.0, 2.0, 3.0]),
            TypeError,
            "bias must be a numpy.ndarray",
        ),
    ],
)
def test_bindings_check_every_kernel_argument(implementation, name, args, error, message):
    with pytest.raises(error, match=message):
        getattr(compiled(implementation, name), name)(*args)


def test_front_end_does_not_copy_contiguous_float32_input():
    t = torch.ones(3, 4)
    assert np.shares_memory(kernels._as_float32_array(t, "x", 2), t.numpy())
    a = ones(3, 4)
    assert kernels._as_float32_array(a, "x", 2) is a
    strided = ones(4, 4)[:, ::2]  # copied once, so that the kernel sees contiguous rows
    assert kernels._as_float32_array(strided, "x", 2).flags.c_contiguous


def test_front_end_takes_torch_tensors_and_returns_tensors(monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_IMPL", "solutions")
    x = torch.randn(3, 5, requires_grad=True)
    y = kernels.softmax(x)
    assert isinstance(y, torch.Tensor)
    torch.testing.assert_close(y, torch.softmax(x.detach(), -1))


def test_threads_argument_and_default(monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_IMPL", "solutions")
    assert kernels.max_threads() >= 1
    a = np.random.default_rng(0).standard_normal((40, 30)).astype(F32)
    np.testing.assert_allclose(kernels.matmul(a, a.T, threads=1), a @ a.T, atol=1e-4)
    assert kernels.max_threads() >= 1  # the call restores the default thread count
