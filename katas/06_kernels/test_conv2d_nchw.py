"""Tests for the C++ conv2d (kernels/conv2d_nchw.cpp), through ml_refresher.kernels.

Lesson: katas/06_kernels/README.md. Run: pytest katas/06_kernels/test_conv2d_nchw.py
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from ml_refresher import kernels
from ml_refresher.testing import assert_close, assert_equal, assert_shape

# (n, c, h, w, o, kh, kw, stride, padding, bias): 1x1 kernels, non-square kernels and images,
# primes, strides that do not divide the image, with and without bias.
CASES = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0, False),
    (2, 3, 7, 5, 4, 3, 3, 1, 1, True),
    (2, 3, 11, 13, 5, 3, 2, 2, 1, True),
    (1, 16, 9, 9, 7, 5, 5, 3, 2, False),
    (3, 8, 17, 17, 13, 3, 3, 1, 1, True),
    (1, 5, 8, 31, 6, 1, 1, 2, 0, True),
    (2, 2, 3, 1, 3, 3, 3, 2, 1, True),  # a one-pixel-wide image: some taps only see padding
    (1, 3, 6, 70, 4, 3, 3, 2, 1, True),  # 35 outputs a row: whole vector-wide runs, strided
]
HINT = "output size (h + 2*padding - kh) // stride + 1; reads outside the image are 0"


def random_conv(n, c, h, w, o, kh, kw, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((o, c, kh, kw)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    return x, weight, bias


def tolerance(patch):
    # Each output is a float32 sum of c*kh*kw standard-normal products: rounding ~eps * patch;
    # 1e-6 * patch is ~16x that, while an indexing bug is off by order 1.
    return 1e-6 * patch + 1e-6


def torch_conv(x, weight, bias, stride, padding):
    bias = None if bias is None else torch.from_numpy(bias)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), bias, stride, padding)


def test_conv2d_output_shape():
    x, weight, _ = random_conv(2, 3, 7, 5, 4, 3, 3, seed=0)
    assert_shape(kernels.conv2d(x, weight, padding=1), (2, 4, 7, 5), "conv2d 3x3, padding 1")
    assert_shape(kernels.conv2d(x, weight, stride=2), (2, 4, 3, 2), "conv2d 3x3, stride 2")


def test_conv2d_hand_case():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)  # [[0,1,2],[3,4,5],[6,7,8]]
    weight = np.ones((1, 1, 2, 2), np.float32)  # sums each 2x2 window
    expected = np.array([[[[8, 12], [20, 24]]]], np.float32)
    # Small integers are exact in float32: any difference is a bug.
    assert_equal(kernels.conv2d(x, weight), expected, "2x2 box sum of 0..8", hint=HINT)


def test_conv2d_padding_reads_zeros():
    x = np.ones((1, 1, 2, 2), np.float32)
    weight = np.ones((1, 1, 3, 3), np.float32)
    # With padding 1 every 3x3 window holds the whole 2x2 image and zeros around it.
    expected = np.full((1, 1, 2, 2), 4.0, np.float32)
    assert_equal(kernels.conv2d(x, weight, padding=1), expected, "3x3 sum, padding 1")


@pytest.mark.parametrize(("n", "c", "h", "w", "o", "kh", "kw", "stride", "padding", "bias"), CASES)
def test_conv2d_agrees_with_torch(n, c, h, w, o, kh, kw, stride, padding, bias):
    x, weight, b = random_conv(n, c, h, w, o, kh, kw, seed=h * w)
    b = b if bias else None
    expected = torch_conv(x, weight, b, stride, padding)
    got = kernels.conv2d(x, weight, b, stride=stride, padding=padding)
    what = f"conv2d x{x.shape} w{weight.shape} stride={stride} padding={padding} bias={bias}"
    assert_close(got, expected, what, atol=tolerance(c * kh * kw), hint=HINT)


@given(
    c=st.integers(1, 4),
    o=st.integers(1, 4),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 3),
)
def test_conv2d_agrees_with_torch_on_any_shape(c, o, h, w, kernel, stride, padding):
    padding = min(padding, kernel - 1)  # padding of a whole kernel side sees only zeros
    kh, kw = min(kernel, h + 2 * padding), min(kernel, w + 2 * padding)  # fits the padded image
    x, weight, b = random_conv(2, c, h, w, o, kh, kw, seed=h * w + c)
    expected = torch_conv(x, weight, b, stride, padding)
    got = kernels.conv2d(x, weight, b, stride=stride, padding=padding)
    what = f"conv2d c={c} o={o} {h}x{w} kernel {kh}x{kw} stride={stride} padding={padding}"
    assert_close(got, expected, what, atol=tolerance(c * kh * kw), hint=HINT)


def test_conv2d_gives_the_same_answer_on_one_and_two_threads():
    x, weight, b = random_conv(3, 6, 10, 10, 8, 3, 3, seed=5)
    one = kernels.conv2d(x, weight, b, padding=1, threads=1)
    two = kernels.conv2d(x, weight, b, padding=1, threads=2)
    # Threads that split pixels or channels do not change any sum; a race does.
    assert_close(two, one, "conv2d threads=2 vs threads=1", atol=tolerance(54))


@pytest.mark.parametrize("threads", [2, 8])
def test_conv2d_has_no_race_between_threads(threads):
    # 16 images of 64 channels, 32x32, 64 filters: ~30 ms on one core, so every thread is awake
    # and working for most of a call (a call of a millisecond is over before a second thread
    # wakes up, and then no race can show). 8 threads, more than the cores, keep some pair
    # running together even when other processes hold cores. Here, on 2 cores shared with 2-3
    # other busy processes, a shared im2col buffer was caught in 9 of 10 calls.
    x, weight, b = random_conv(16, 64, 32, 32, 64, 3, 3, seed=6)
    one = kernels.conv2d(x, weight, b, padding=1, threads=1)
    for call in range(5):
        assert_close(
            kernels.conv2d(x, weight, b, padding=1, threads=threads),
            one,
            f"conv2d 16x64x32x32, 64 filters, threads={threads} (call {call + 1} of 5) vs 1",
            atol=tolerance(64 * 9),
            hint="a thread that takes whole images needs its own im2col (or padded image) buffer",
        )
