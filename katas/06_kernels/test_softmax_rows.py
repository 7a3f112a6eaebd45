"""Tests for the C++ row-wise softmax (kernels/softmax_rows.cpp), through ml_refresher.kernels.

Lesson: katas/06_kernels/README.md. Run: pytest katas/06_kernels/test_softmax_rows.py
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ml_refresher import kernels
from ml_refresher.testing import assert_close, assert_equal, assert_shape, assert_true

# Row lengths of 1, primes and non-multiples of a 16-float vector, so the vector tail matters.
SHAPES = [(1, 1), (1, 7), (3, 17), (5, 1000), (2, 3, 33), (64, 4099)]
# Each output is a quotient of float32 exponentials, each good to a few ulp (1e-7 relative):
# 1e-5 relative leaves room for a polynomial exp, 1e-7 absolute for the outputs near 0.
RTOL, ATOL = 1e-5, 1e-7
STABILITY_HINT = "subtract the row's max before exp (README, softmax)"


def random_rows(shape, scale, seed):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def test_softmax_keeps_the_shape():
    assert_shape(kernels.softmax(random_rows((2, 3, 5), 1.0, 0)), (2, 3, 5), "softmax of (2,3,5)")


def test_softmax_hand_case():
    x = np.array([[0.0, math.log(3.0)], [5.0, 5.0]], np.float32)
    expected = np.array([[0.25, 0.75], [0.5, 0.5]], np.float32)
    assert_close(kernels.softmax(x), expected, "softmax([0, ln 3]), softmax([5, 5])", atol=1e-6)


def test_softmax_of_huge_values_is_stable():
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4]], np.float32)
    e = math.exp(-1.0)
    expected = np.array([[1 / (1 + e), e / (1 + e), 0.0], [1 / 3, 1 / 3, 1 / 3]], np.float32)
    got = kernels.softmax(x)
    assert_close(got, expected, "softmax of +-1e4", atol=1e-6, hint=STABILITY_HINT)


def test_softmax_handles_minus_infinity_like_torch():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf] * 3], np.float32)
    got = kernels.softmax(x)
    expected = torch.softmax(torch.from_numpy(x), -1)  # [[.27, 0, .73], [nan, nan, nan]]
    assert_close(got[:1], expected[:1], "softmax of a row with one -inf", atol=1e-6)
    assert_true(
        bool(np.isnan(np.asarray(got[1])).all()),
        "softmax of a row of only -inf is 0/0",
        ["expected: NaN everywhere (as torch)", f"got:      {np.asarray(got[1])}"],
        "when the row's max is -inf, x - max is NaN; fill the row with NaN",
    )


@pytest.mark.parametrize("scale", [1.0, 100.0])
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_agrees_with_torch(shape, scale):
    x = random_rows(shape, scale, 0)
    expected = torch.softmax(torch.from_numpy(x), -1)
    got = kernels.softmax(x)
    assert_close(got, expected, f"softmax {shape} (x{scale}) vs torch", atol=ATOL, rtol=RTOL)


@given(rows=st.integers(1, 9), cols=st.integers(1, 300), scale=st.sampled_from([1.0, 1e3]))
def test_softmax_agrees_with_torch_on_any_shape(rows, cols, scale):
    x = random_rows((rows, cols), scale, cols)
    expected = torch.softmax(torch.from_numpy(x), -1)
    got = kernels.softmax(x)
    assert_close(got, expected, f"softmax ({rows}, {cols}) vs torch", atol=ATOL, rtol=RTOL)


def test_softmax_gives_the_same_answer_on_one_and_two_threads():
    x = random_rows((33, 257), 10.0, 1)
    # Rows are independent, so threads must not change a single bit.
    got = kernels.softmax(x, threads=2)
    assert_equal(got, kernels.softmax(x, threads=1), "softmax threads=2 vs threads=1")


@pytest.mark.parametrize("threads", [2, 8])
@pytest.mark.parametrize("shape", [(20000, 300), (100000, 31)])
def test_softmax_has_no_race_between_threads(shape, threads):
    x = random_rows(shape, 10.0, 2)
    one = kernels.softmax(x, threads=1)
    # A race shows only while two threads run at the same moment, which a busy machine does
    # not promise: a call of a millisecond can be over before the second thread wakes up, so
    # these calls take ~10 ms on one core, and 8 threads (more than the cores) keep some pair
    # running together even when other processes hold cores. Here (2 cores, other jobs
    # running) a shared scratch row was caught in every call at a moderate load; a shared
    # scalar normaliser, which the compiler keeps in a register for most of each row, in
    # 20-60% of them. Rows are independent, so a correct kernel gives the same bits on any
    # number of threads.
    for call in range(5):
        assert_equal(
            kernels.softmax(x, threads=threads),
            one,
            f"softmax {shape} with threads={threads} (call {call + 1} of 5) vs threads=1",
            hint="variables and buffers declared outside the parallel loop are shared: declare "
            "them inside, one per thread",
        )
