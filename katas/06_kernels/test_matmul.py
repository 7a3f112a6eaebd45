"""Tests for the C++ matmul kernel (kernels/matmul.cpp), through ml_refresher.kernels.

Lesson: katas/06_kernels/README.md. Run: pytest katas/06_kernels/test_matmul.py
Editing kernels/matmul.cpp is enough: the next import rebuilds the module.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ml_refresher import kernels
from ml_refresher.testing import assert_close, assert_equal, assert_shape, assert_true

# 1s, primes, and sizes that are not multiples of any tile or block size a kernel is likely to
# use (8, 12, 16, 32, 64, ...); k = 400 and m = 131 cross the reference's k and row blocks
# (384 and 120), n = 3100 its column block (3072).
SHAPES = [
    (1, 1, 1),
    (1, 7, 1),
    (3, 5, 7),
    (17, 13, 31),
    (64, 64, 64),
    (65, 129, 33),
    (131, 400, 97),
    (2, 5, 3100),
]
HINT = "check the edges: the last partial block of rows, columns and k (README, matmul steps)"


def random_matrix(rows, cols, seed):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def tolerance(k):
    # A float32 dot product of k standard-normal products has a typical rounding error of about
    # eps * k (eps = 6e-8) in any summation order; 1e-6 * k is ~16x that, while an indexing
    # or edge bug gives errors of order 1.
    return 1e-6 * k + 1e-6


def test_matmul_returns_m_by_n():
    c = kernels.matmul(random_matrix(3, 5, 0), random_matrix(5, 7, 1))
    assert_shape(c, (3, 7), "matmul (3x5) @ (5x7)")


def test_matmul_hand_case():
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[5, 6], [7, 8]], np.float32)
    expected = np.array([[19, 22], [43, 50]], np.float32)
    # Small integers are exact in float32: any difference is a bug.
    assert_equal(kernels.matmul(a, b), expected, "[[1,2],[3,4]] @ [[5,6],[7,8]]")


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
def test_matmul_agrees_with_torch(m, k, n):
    a, b = random_matrix(m, k, 0), random_matrix(k, n, 1)
    expected = torch.from_numpy(a) @ torch.from_numpy(b)
    got = kernels.matmul(a, b)
    assert_close(got, expected, f"matmul {m}x{k} @ {k}x{n} vs torch", atol=tolerance(k), hint=HINT)


@given(m=st.integers(1, 80), k=st.integers(1, 80), n=st.integers(1, 80))
def test_matmul_agrees_with_numpy_on_any_shape(m, k, n):
    a, b = random_matrix(m, k, m), random_matrix(k, n, n)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    got = kernels.matmul(a, b)
    assert_close(
        got, expected, f"matmul {m}x{k} @ {k}x{n} vs float64", atol=tolerance(k), hint=HINT
    )


def test_matmul_writes_every_element_of_its_output():
    a, b = random_matrix(131, 400, 2), random_matrix(400, 97, 3)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    for attempt in range(3):
        # The output comes from the allocator uninitialised. Freeing a block of NaNs of the same
        # size just before makes the allocator hand it back (glibc reuses a freed block of this
        # size, 50 KB, for the next request of that size), so an element the kernel adds to
        # without first writing it comes out NaN instead of silently starting from a zero page.
        poison = np.full((131, 97), np.nan, np.float32)
        del poison
        got = kernels.matmul(a, b)
        assert_close(
            got,
            expected,
            f"matmul 131x400 @ 400x97 into a reused buffer (attempt {attempt + 1})",
            atol=tolerance(400),
            hint="the output buffer is not zeroed: write c (c = sum), do not add to it (c += ...)",
        )


def test_matmul_gives_the_same_answer_on_one_and_two_threads():
    a, b = random_matrix(200, 150, 0), random_matrix(150, 160, 1)  # big enough to split
    one = kernels.matmul(a, b, threads=1)
    # Threads that split the rows or columns of C do not change any sum; a race (two threads
    # writing one element, or a shared buffer) does, by far more than this rounding margin.
    assert_close(
        kernels.matmul(a, b, threads=2),
        one,
        "matmul with threads=2 vs threads=1",
        atol=tolerance(150),
        hint="give each thread its own rows/columns of C and its own packing buffer",
    )


def test_matmul_accepts_torch_tensors_and_returns_one():
    a, b = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.ones(3, 2)
    got = kernels.matmul(a, b)
    assert_true(
        isinstance(got, torch.Tensor),
        "matmul of torch tensors returns a torch.Tensor",
        [f"got {type(got).__name__}"],
    )
    assert_close(got, a @ b, "matmul on torch tensors", atol=tolerance(3))


# (m, k, n, calls) for the race test: four row blocks and four slices of k, ~30 ms a call on
# one core, so both threads work on their own blocks of A for most of it (480x1536x3072); a
# short A whose every tile is an edge tile, with short slices of k, so the threads copy edge
# tiles all the time (10x64x65536 and 10x1000x2000); three row blocks, three slices of k and
# edge tiles (250x800x500).
RACE_CASES = [(480, 1536, 3072, 5), (10, 64, 65536, 10), (10, 1000, 2000, 10), (250, 800, 500, 10)]


@pytest.mark.parametrize("threads", [2, 8])
@pytest.mark.parametrize(("m", "k", "n", "calls"), RACE_CASES)
def test_matmul_has_no_race_between_threads(m, k, n, calls, threads):
    a, b = random_matrix(m, k, 4), random_matrix(k, n, 5)
    one = kernels.matmul(a, b, threads=1)
    # A race shows only while two threads run at the same moment, which a busy machine does
    # not promise: a call of a millisecond can be over before the second thread wakes up.
    # Repeated calls at 2 threads and at 8 (more threads than cores, so that some pair runs
    # together even when other processes hold cores) give it many chances. Here (2 cores, other
    # jobs running) each shared-buffer or missing-barrier mistake was caught in every call of
    # at least one case when the load was moderate, and in 10-50% of them at a load of 8-10.
    for call in range(calls):
        assert_close(
            kernels.matmul(a, b, threads=threads),
            one,
            f"matmul {m}x{k} @ {k}x{n} with threads={threads} (call {call + 1} of {calls}) vs 1",
            atol=tolerance(k),
            hint="each thread its own packing and edge buffers; a barrier after packing B and "
            "before repacking it",
        )
