"""Tests for the Triton flash-attention forward (katas/07_gpu_kernels/triton_flash_attention.py).

Lesson: katas/07_gpu_kernels/README.md, "flash attention".
Run: pytest katas/07_gpu_kernels/test_triton_flash_attention.py
Without an NVIDIA GPU they run through Triton's interpreter on CPU tensors (slow: small sizes).
"""

import math

import pytest
import torch
import triton_flash_attention as kata
from triton_checks import expected_device
from triton_flash_attention import attention

from ml_refresher.testing import assert_close, assert_shape

DEVICE = expected_device()
# (B, H, T, S, D): one query and key; one full block; odd batch/heads with T and S that are not
# multiples of the 32-blocks nor powers of two (masks); D of 20 (padded to 32 lanes); more keys
# than queries and fewer; several key blocks so the online softmax rescales.
SHAPES = [
    (1, 1, 1, 1, 1),
    (1, 2, 32, 32, 16),
    (2, 3, 70, 70, 20),
    (3, 1, 100, 100, 8),
    (1, 2, 128, 128, 32),
    (2, 1, 37, 90, 16),
    (1, 3, 65, 9, 24),
]
# Each output is a convex combination of rows of v (|v| < 5) computed in float32, with the sums
# reordered by the online softmax and ~S/32 rescalings of exp(m_old - m_new): a few hundred ulp
# at most, i.e. < 1e-5 absolute. A missing rescale, a wrong sign or a lost mask is O(0.1).
ATOL, RTOL = 2e-5, 1e-5
ONLINE_HINT = (
    "rescale both l and acc by exp(m_old - m_new) before adding the new block (README, online "
    "softmax); mask keys >= S to -inf"
)


def qkv(b, h, t, s, d, seed, scale=1.0):
    """q (B, H, T, D), k and v (B, H, S, D); q scaled so that the softmax is peaked (rescaling
    matters when the max jumps from block to block)."""
    generator = torch.Generator().manual_seed(seed)
    q = scale * torch.randn((b, h, t, d), generator=generator)
    k = torch.randn((b, h, s, d), generator=generator)
    v = torch.randn((b, h, s, d), generator=generator)
    return q.to(DEVICE), k.to(DEVICE), v.to(DEVICE)


def reference(q, k, v, causal):
    """softmax(q k^T / sqrt(D)) v in float64 on the CPU."""
    q, k, v = (t.cpu().double() for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        t, s = scores.shape[-2:]
        scores = scores.masked_fill(torch.ones(t, s, dtype=torch.bool).triu(1), -math.inf)
    return torch.softmax(scores, dim=-1) @ v


def test_attention_keeps_the_shape():
    q, k, v = qkv(2, 3, 5, 7, 4, 0)
    assert_shape(attention(q, k, v), (2, 3, 5, 4), "attention of q (2, 3, 5, 4), k/v S=7")


@pytest.mark.parametrize("causal", [False, True])
def test_attention_hand_case(causal):
    # D = 1, so the scale 1/sqrt(D) is 1. Keys 0 and ln 3, values 1 and 5.
    # Query 0 (q = 0) scores [0, 0]: weights [1/2, 1/2], output 3; causal, it sees key 0 only: 1.
    # Query 1 (q = 1) scores [0, ln 3]: weights [1/4, 3/4], output 1/4 + 15/4 = 4, causal too.
    q = torch.tensor([0.0, 1.0], device=DEVICE).reshape(1, 1, 2, 1)
    k = torch.tensor([0.0, math.log(3.0)], device=DEVICE).reshape(1, 1, 2, 1)
    v = torch.tensor([1.0, 5.0], device=DEVICE).reshape(1, 1, 2, 1)
    expected = [1.0, 4.0] if causal else [3.0, 4.0]
    assert_close(
        attention(q, k, v, causal=causal).reshape(2),
        expected,
        f"attention hand case (causal={causal})",
        atol=1e-6,
        hint="causal: query i sees keys 0..i, itself included",
    )


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_agrees_with_float64(shape, causal):
    b, h, t, s, d = shape
    if causal:
        s = t  # causal attention needs as many keys as queries
    q, k, v = qkv(b, h, t, s, d, sum(shape), scale=3.0)
    assert_close(
        attention(q, k, v, causal=causal),
        reference(q, k, v, causal),
        f"attention B{b} H{h} T{t} S{s} D{d} causal={causal}",
        atol=ATOL,
        rtol=RTOL,
        hint=ONLINE_HINT,
    )


def test_attention_of_transposed_views_uses_their_strides():
    # q, k, v laid out (B, T, H, D) and viewed as (B, H, T, D), as a model's projections are:
    # the head stride is D and the time stride H * D.
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn((2, 50, 3, 16), generator=generator).to(DEVICE) for _ in range(3))
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))
    for causal in (False, True):
        assert_close(
            attention(q, k, v, causal=causal),
            reference(q, k, v, causal),
            f"attention of (B, T, H, D) tensors viewed as (B, H, T, D), causal={causal}",
            atol=ATOL,
            rtol=RTOL,
            hint="pass every tensor's four strides; do not assume a contiguous layout",
        )


def test_causal_attention_skips_the_key_blocks_after_the_query_block():
    # The first query block (rows < BLOCK_M) needs keys < BLOCK_M only, and the kernel must not
    # visit the key blocks after it. v is NaN from the first key block that lies wholly after
    # it: a kernel that loads that block computes 0 * NaN = NaN in p @ v, even with the block
    # masked to -inf. (The later query blocks do read those NaNs; only the first is checked.)
    block_m, block_n = kata.BLOCK_M, kata.BLOCK_N
    first_unneeded = math.ceil(block_m / block_n) * block_n
    t = first_unneeded + 2 * block_n + 5
    q, k, v = qkv(1, 2, t, t, 16, 2, scale=3.0)
    expected = reference(q[:, :, :block_m], k[:, :, :block_m], v[:, :, :block_m], True)
    v[:, :, first_unneeded:] = math.nan
    got = attention(q, k, v, causal=True)[:, :, :block_m]
    assert_close(
        got,
        expected,
        f"causal attention, first {block_m} queries, v NaN from key {first_unneeded} on",
        atol=ATOL,
        rtol=RTOL,
        hint="causal: stop the key loop at (pid_m + 1) * BLOCK_M (README, causal block skipping)",
    )


def test_attention_rejects_bad_input():
    q, k, v = qkv(1, 2, 5, 6, 4, 0)
    with pytest.raises(TypeError, match="q"):
        attention(q.tolist(), k, v)
    with pytest.raises(TypeError, match="k .*float32"):
        attention(q, k.half(), v)
    with pytest.raises(ValueError, match="v .*4 dimensions"):
        attention(q, k, v[0])
    with pytest.raises(ValueError, match="k"):
        attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="v"):
        attention(q, k, v[:, :, :5])
    with pytest.raises(ValueError, match="causal"):
        attention(q, k, v, causal=True)  # T = 5 queries, S = 6 keys
    with pytest.raises(TypeError, match="causal"):
        attention(q, k, v, causal="yes")
    with pytest.raises(ValueError, match="q .*device|q .*tensor"):
        attention(torch.ones(1, 2, 5, 4, device="meta"), k, v)
