"""Tests for the CUDA flash attention kernel (kernels/cuda/flash_attention.cu), through
ml_refresher.cuda_kernels.

Lesson: katas/07_gpu_kernels/README.md, "CUDA flash attention".
Run: pytest katas/07_gpu_kernels/test_cuda_flash_attention.py
Needs an NVIDIA GPU and a CUDA build of torch (elsewhere the project's pytest plugin lists these
tests as not run). Editing kernels/cuda/flash_attention.cu is enough: the next run recompiles it.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from ml_refresher import cuda_kernels
from ml_refresher.testing import assert_close, assert_shape, assert_true

DEVICE = "cuda"
# (batch, heads, t, s, d): one element; t and s not multiples of the 32-query block or the
# 16-key tile; more keys than queries and fewer (causal is top-left aligned then); head
# dimensions 1, 5, 8, 64 and the largest, 128; odd batch and head counts.
SHAPES = [
    (1, 1, 1, 1, 1),
    (2, 3, 17, 17, 8),
    (1, 2, 33, 50, 64),
    (1, 2, 50, 33, 64),
    (1, 1, 70, 70, 128),
    (3, 1, 40, 19, 5),
]
# Each output is an average of values of size ~1 with float32 weights: errors of a few 1e-7
# (2e-5 is ~30x the largest seen in the CPU emulation of the reference), while a wrong scale, a
# mask off by one or a missing rescale gives errors of order 0.1 to 1.
ATOL = 2e-5
HINT = "online softmax: rescale l and acc by exp(m - m_new) before adding each key (README)"


def random_qkv(batch, heads, t, s, d, seed):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn((batch, heads, t, d), generator=generator)
    k = torch.randn((batch, heads, s, d), generator=generator)
    v = torch.randn((batch, heads, s, d), generator=generator)
    return q.to(DEVICE), k.to(DEVICE), v.to(DEVICE)


def exact(q, k, v, causal):
    """Attention in float64 on the CPU; causal hides key j from query i when j > i."""
    q, k, v = (x.cpu().double() for x in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        t, s = scores.shape[-2:]
        hidden = torch.ones(t, s, dtype=torch.bool).triu(1)  # j > i
        scores = scores.masked_fill(hidden, -math.inf)
    return torch.softmax(scores, dim=-1) @ v


def test_attention_keeps_q_shape():
    q, k, v = random_qkv(2, 3, 5, 7, 4, 0)
    out = cuda_kernels.attention(q, k, v)
    assert_shape(out, (2, 3, 5, 4), "attention of q (2, 3, 5, 4), k and v (2, 3, 7, 4)")
    assert_true(out.is_cuda, "attention's result", [f"got a tensor on {out.device}"])


def test_attention_hand_case():
    # One query, two keys, d = 4, so the scale is 1/2: q.k0 = 0 and q.k1 = 2 ln 3, scaled 0 and
    # ln 3, weights 1/4 and 3/4, out = v0 / 4 + 3 v1 / 4 = [1/4, 3/4, 1, -1/2]. Causal (t = 1):
    # the query sees key 0 only, out = v0.
    q = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]], device=DEVICE)
    k = torch.tensor([[[[0.0, 0.0, 1.0, 0.0], [math.log(3.0), math.log(3.0), 0.0, 0.0]]]])
    v = torch.tensor([[[[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, -1.0]]]])
    k, v = k.to(DEVICE), v.to(DEVICE)
    expected = [[[[0.25, 0.75, 1.0, -0.5]]]]
    assert_close(cuda_kernels.attention(q, k, v).cpu(), expected, "attention by hand", atol=1e-6)
    causal = cuda_kernels.attention(q, k, v, causal=True).cpu()
    assert_close(causal, [[[[1.0, 0.0, 1.0, 1.0]]]], "causal attention by hand", atol=1e-6)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_agrees_with_float64(shape, causal):
    q, k, v = random_qkv(*shape, seed=sum(shape))
    got = cuda_kernels.attention(q, k, v, causal=causal)
    what = f"{'causal ' if causal else ''}attention (b, h, t, s, d) = {shape}"
    assert_close(got.cpu(), exact(q, k, v, causal), what, atol=ATOL, hint=HINT)


def test_attention_agrees_with_torch_on_the_gpu():
    q, k, v = random_qkv(2, 4, 100, 100, 64, 1)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    got = cuda_kernels.attention(q, k, v, causal=True)
    # torch's float32 GPU kernel rounds differently: both within ATOL of float64, so 2 * ATOL.
    assert_close(got, expected, "causal attention vs torch on the GPU", atol=2 * ATOL, hint=HINT)


def test_attention_does_not_read_past_its_inputs():
    # Each input is the start of a larger buffer of NaN: a tile load without the key bound (or
    # a query block past t) reads NaN into the scores, and NaN survives the softmax.
    shape = (1, 2, 33, 50, 64)
    tensors = []
    for x in random_qkv(*shape, seed=3):
        buffer = torch.full((x.numel() + 4096,), math.nan, device=DEVICE)
        buffer[: x.numel()] = x.flatten()
        tensors.append(buffer[: x.numel()].view(x.shape))
    q, k, v = tensors
    for causal in (False, True):
        got = cuda_kernels.attention(q, k, v, causal=causal).cpu()
        what = f"attention {shape} (causal={causal}), inputs followed by NaN in memory"
        assert_close(got, exact(q, k, v, causal), what, atol=ATOL, hint="load 0 for keys >= s")


def test_attention_writes_every_element_of_its_output():
    q, k, v = random_qkv(3, 1, 40, 19, 5, 4)
    for attempt in range(3):
        poison = torch.full(q.shape, math.nan, device=DEVICE)
        del poison  # the caching allocator hands this block back as the output
        got = cuda_kernels.attention(q, k, v, causal=True).cpu()
        what = f"attention into a reused NaN buffer, attempt {attempt}"
        assert_close(got, exact(q, k, v, True), what, atol=ATOL, hint="every query row < t")


def test_attention_rejects_bad_input():
    q, k, v = random_qkv(1, 2, 5, 7, 4, 0)
    # The good call first: on the stub this test then stops at NotImplementedError, as every
    # kata test must, instead of passing on checks that the front end makes, not the kernel.
    assert_shape(cuda_kernels.attention(q, k, v), (1, 2, 5, 4), "attention of q (1, 2, 5, 4)")
    with pytest.raises(TypeError, match="q"):
        cuda_kernels.attention(q.tolist(), k, v)
    with pytest.raises(TypeError, match="v .*float32"):
        cuda_kernels.attention(q, k, v.double())
    with pytest.raises(ValueError, match="q .*4 dimensions"):
        cuda_kernels.attention(q[0], k, v)
    with pytest.raises(ValueError, match="k must be"):
        cuda_kernels.attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="v must have"):
        cuda_kernels.attention(q, k, v[:, :, :6])
    with pytest.raises(ValueError, match="head dimension"):
        big = torch.zeros(1, 1, 2, 129, device=DEVICE)
        cuda_kernels.attention(big, big, big)
    with pytest.raises(ValueError, match="k .*CUDA tensor"):
        cuda_kernels.attention(q, k.cpu(), v)
    with pytest.raises(TypeError, match="causal"):
        cuda_kernels.attention(q, k, v, causal=1)
