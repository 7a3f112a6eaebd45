"""Tests for the C++ fused attention (kernels/flash_attention.cpp), through ml_refresher.kernels.

Lesson: katas/06_kernels/README.md. Run: pytest katas/06_kernels/test_flash_attention.py
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_refresher import kernels
from ml_refresher.testing import assert_close, assert_equal, assert_shape

# (batch, heads, t, s, d): 1s, primes, t and s that are not multiples of tile sizes (48, 64),
# head sizes that are not multiples of a 16-float vector, and t != s (cross-attention).
SHAPES = [
    (1, 1, 1, 1, 1),
    (2, 3, 17, 17, 5),
    (1, 2, 131, 131, 64),
    (1, 1, 7, 130, 33),
    (2, 1, 130, 7, 16),
    (1, 1, 67, 67, 80),
]
# Each output is a convex combination of rows of v (|v| < 5) with weights from a float32
# softmax (relative error ~1e-6): 2e-5 absolute is ~4x that rounding, far below a mask or
# scaling bug (errors of order 0.1).
ATOL = 2e-5
HINT = "rescale o and l by exp(m_old - m_new) whenever the running max grows (README, attention)"


def random_qkv(b, h, t, s, d, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    q = scale * rng.standard_normal((b, h, t, d))
    k = scale * rng.standard_normal((b, h, s, d))
    v = rng.standard_normal((b, h, s, d))
    return [x.astype(np.float32) for x in (q, k, v)]


def torch_attention(q, k, v, causal):
    q, k, v = map(torch.from_numpy, (q, k, v))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def test_attention_returns_the_shape_of_q():
    q, k, v = random_qkv(2, 3, 5, 9, 4, seed=0)
    assert_shape(kernels.attention(q, k, v), (2, 3, 5, 4), "attention q (2,3,5,4), k/v (2,3,9,4)")


def test_attention_with_equal_keys_averages_the_values():
    q, _, v = random_qkv(1, 1, 3, 4, 8, seed=0)
    k = np.ones((1, 1, 4, 8), np.float32)  # every key scores the same: uniform weights
    expected = np.broadcast_to(v.mean(axis=2, keepdims=True), q.shape)
    assert_close(kernels.attention(q, k, v), expected, "attention with equal keys", atol=1e-6)


def test_causal_attention_of_the_first_query_is_the_first_value():
    q, k, v = random_qkv(1, 2, 6, 6, 8, seed=1)
    got = np.asarray(kernels.attention(q, k, v, causal=True))
    # Query 0 may only see key 0, whose softmax weight is then exactly 1.
    assert_close(got[:, :, 0], v[:, :, 0], "causal attention, query 0", atol=1e-6)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("b", "h", "t", "s", "d"), SHAPES)
def test_attention_agrees_with_torch(b, h, t, s, d, causal):
    q, k, v = random_qkv(b, h, t, s, d, seed=t + s)
    expected = torch_attention(q, k, v, causal)
    got = kernels.attention(q, k, v, causal=causal)
    assert_close(
        got, expected, f"attention {(b, h, t, s, d)} causal={causal}", atol=ATOL, hint=HINT
    )


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_with_huge_scores_is_stable(causal):
    # Scores of several hundred: exp overflows unless every tile subtracts a running max.
    q, k, v = random_qkv(1, 2, 100, 100, 64, seed=2, scale=6.0)
    expected = torch_attention(q, k, v, causal)
    got = kernels.attention(q, k, v, causal=causal)
    # Near one-hot weights: the float32 rounding of a score of ~300 (3e-5) moves a weight by
    # that much relative, so the margin grows to 1e-4.
    assert_close(got, expected, "attention with scores ~300", atol=1e-4, hint=HINT)


def test_causal_attention_ignores_the_future():
    q, k, v = random_qkv(1, 1, 70, 70, 16, seed=3)
    before = np.asarray(kernels.attention(q, k, v, causal=True))
    k[:, :, 40:] += 5.0
    v[:, :, 40:] -= 5.0
    after = np.asarray(kernels.attention(q, k, v, causal=True))
    # Queries 0..39 never see keys 40.. under the mask: their outputs must not move at all.
    assert_equal(after[:, :, :40], before[:, :, :40], "causal outputs after changing keys 40..")


@settings(max_examples=12)  # fewer than the "katas" profile's 15: shapes up to 100x100
@given(
    heads=st.integers(1, 3),
    t=st.integers(1, 100),
    s=st.integers(1, 100),
    d=st.integers(1, 40),
    causal=st.booleans(),
)
def test_attention_agrees_with_torch_on_any_shape(heads, t, s, d, causal):
    q, k, v = random_qkv(1, heads, t, s, d, seed=t * s)
    expected = torch_attention(q, k, v, causal)
    got = kernels.attention(q, k, v, causal=causal)
    assert_close(
        got, expected, f"attention t={t} s={s} d={d} causal={causal}", atol=ATOL, hint=HINT
    )


def test_attention_gives_the_same_answer_on_one_and_two_threads():
    q, k, v = random_qkv(2, 2, 50, 50, 16, seed=4)
    one = kernels.attention(q, k, v, causal=True, threads=1)
    # Heads and query blocks are independent: threads must not change a single bit.
    two = kernels.attention(q, k, v, causal=True, threads=2)
    assert_equal(two, one, "attention threads=2 vs threads=1")


# (batch, heads, t, s, d, calls) for the race test: a long call (~20 ms on one core) that keeps
# every thread busy long after the slowest one wakes up, and many short ones.
RACE_CASES = [(1, 8, 1024, 1024, 64, 5), (4, 4, 100, 100, 16, 10)]


@pytest.mark.parametrize("threads", [2, 8])
@pytest.mark.parametrize(("b", "h", "t", "s", "d", "calls"), RACE_CASES)
def test_attention_has_no_race_between_threads(b, h, t, s, d, calls, threads):
    q, k, v = random_qkv(b, h, t, s, d, seed=5)
    one = kernels.attention(q, k, v, causal=True, threads=1)
    # A race shows only while two threads run at the same moment, which a busy machine does
    # not promise: repeated calls at 2 threads and at 8 (more threads than cores, so that some
    # pair runs together even when other processes hold cores) give it many chances. Here, on
    # 2 cores shared with 2-3 other busy processes, shared scratch buffers were caught in every
    # call of the long case; on an idle machine they show in nearly every call of both.
    for call in range(calls):
        assert_equal(
            kernels.attention(q, k, v, causal=True, threads=threads),
            one,
            f"attention {(b, h, t, s, d)} threads={threads} (call {call + 1} of {calls}) vs 1",
            hint="each thread needs its own q block, score tile, o, m and l",
        )
