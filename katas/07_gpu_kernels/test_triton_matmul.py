"""Tests for the Triton tiled matmul (katas/07_gpu_kernels/triton_matmul.py).

Lesson: katas/07_gpu_kernels/README.md, "matmul".
Run: pytest katas/07_gpu_kernels/test_triton_matmul.py
Without an NVIDIA GPU they run through Triton's interpreter on CPU tensors (slow: small sizes).
"""

import math

import pytest
import torch
from triton_checks import expected_device
from triton_matmul import matmul

from ml_refresher.testing import assert_close, assert_shape, assert_true

DEVICE = expected_device()
# (M, K, N): one element; exactly one 32-tile; sizes that are not multiples of 32 in each axis
# (masks on every edge); K of several blocks (the K loop); tall, wide and thin shapes.
SHAPES = [(1, 1, 1), (32, 32, 32), (33, 17, 65), (70, 45, 33), (16, 100, 8), (5, 130, 97)]
# float32: the kernel sums K products in another order than torch's BLAS. The rounding error of
# a K-term float32 dot product of unit normals grows like sqrt(K) * 2^-24 * |terms| ~ 1e-6 for
# K <= 130; 1e-4 leaves 100x margin, while a float16 accumulator (errors ~1e-3 of the values)
# or a lost block of K (errors ~1) are far outside.
RTOL, ATOL = 1e-4, 1e-4
MASK_HINT = "mask rows >= M, cols >= N and k >= K with other=0 (README, matmul: masks)"


def random_matrix(shape, seed, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).to(dtype).to(DEVICE)


def reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b in float64 on the CPU: the exact answer to within 1e-15."""
    return a.cpu().double() @ b.cpu().double()


def test_matmul_shape_and_dtype():
    for dtype in (torch.float32, torch.float16):
        c = matmul(random_matrix((5, 7), 0, dtype), random_matrix((7, 3), 1, dtype))
        assert_shape(c, (5, 3), f"matmul (5, 7) @ (7, 3) in {dtype}")
        assert_true(c.dtype == dtype, "matmul's dtype", [f"expected {dtype}, got {c.dtype}"])


def test_matmul_hand_case():
    # (3, 2) @ (2, 3): not square, so a transposed operand or swapped strides changes the answer.
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=DEVICE)
    b = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]], device=DEVICE)
    expected = [[1.0, 2.0, 8.0], [3.0, 4.0, 18.0], [5.0, 6.0, 28.0]]
    assert_close(matmul(a, b), expected, "matmul hand case (3, 2) @ (2, 3)", atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_agrees_with_float64_on_any_shape(shape):
    m, k, n = shape
    a, b = random_matrix((m, k), m), random_matrix((k, n), n)
    got = matmul(a, b)
    assert_close(
        got,
        reference(a, b),
        f"matmul ({m}, {k}) @ ({k}, {n})",
        atol=ATOL * math.sqrt(k),
        rtol=RTOL,
        hint=MASK_HINT
        + "; advance both pointer blocks by BLOCK_K along K at each step of the K loop",
    )


def test_matmul_of_transposed_views_uses_their_strides():
    # a.T and b.T are views with strides (1, rows): a kernel that assumes row-major inputs, or
    # swaps a row stride with a column stride, reads the wrong elements.
    a = random_matrix((45, 70), 2).T  # (70, 45), strides (1, 70)
    b = random_matrix((33, 45), 3).T  # (45, 33), strides (1, 45)
    assert_close(
        matmul(a, b),
        reference(a, b),
        "matmul of transposed views (70, 45) @ (45, 33)",
        atol=ATOL * math.sqrt(45),
        rtol=RTOL,
        hint="pass a.stride(0), a.stride(1), b.stride(0), b.stride(1) in the kernel's order",
    )


def test_matmul_does_not_read_past_k():
    # a and b are parts of larger buffers full of NaN: a K mask missing on the loads of A (or of
    # B) reads NaN, and NaN * 0 is NaN, so zeros in the other operand's masked lanes do not hide it.
    a_buffer = torch.full((40, 64), math.nan, device=DEVICE)
    a_buffer[:, :37] = random_matrix((40, 37), 4)
    b_buffer = torch.full((64, 20), math.nan, device=DEVICE)
    b_buffer[:37] = random_matrix((37, 20), 5)
    a, b = a_buffer[:, :37], b_buffer[:37]
    assert_close(
        matmul(a, b),
        reference(a, b),
        "matmul of a (40, 37) view (row stride 64) @ the first 37 rows of a (64, 20) buffer",
        atol=ATOL * math.sqrt(37),
        rtol=RTOL,
        hint=MASK_HINT,
    )


def test_matmul_of_float16_accumulates_in_float32():
    # K = 1024 products of numbers in [0, 1): sums near 256, where float16's spacing is 0.25.
    # Summed in float32 and rounded once, each output is within half a float16 ulp (2^-11 =
    # 4.9e-4 relative) of the exact sum of the float16 inputs' products; 1e-3 relative allows
    # that. Partial sums kept in float16 across the 32 steps of the K loop drift further
    # (2.2e-3 relative measured under the interpreter).
    generator = torch.Generator().manual_seed(6)
    a = torch.rand((40, 1024), generator=generator).half().to(DEVICE)
    b = torch.rand((1024, 24), generator=generator).half().to(DEVICE)
    got = matmul(a, b)
    assert_true(got.dtype == torch.float16, "matmul of float16", [f"got dtype {got.dtype}"])
    assert_close(
        got,
        reference(a, b),
        "matmul of float16 (40, 1024) @ (1024, 24) vs the exact sum",
        atol=0.0,
        rtol=1e-3,
        hint="keep the accumulator in float32 (tl.zeros(..., dtype=tl.float32)), round at the end",
    )


@pytest.mark.parametrize("shape", [(33, 17, 65), (5, 130, 97)], ids=["33x17x65", "5x130x97"])
def test_matmul_of_float16_normals_agrees(shape):
    m, k, n = shape
    a, b = random_matrix((m, k), m, torch.float16), random_matrix((k, n), n, torch.float16)
    # Rounded once to float16: half an ulp is 2^-11 = 4.9e-4 relative; outputs near 0 get
    # 1e-2 absolute (float32 sums of K ~ 130 products, rounded to float16 near 1).
    assert_close(matmul(a, b), reference(a, b), f"matmul float16 {shape}", atol=1e-2, rtol=1e-3)


def test_matmul_rejects_bad_input():
    a, b = random_matrix((4, 3), 0), random_matrix((3, 2), 1)
    with pytest.raises(TypeError, match="a"):
        matmul(a.tolist(), b)
    with pytest.raises(TypeError, match="b .*float32"):
        matmul(a, b.double())
    with pytest.raises(TypeError, match="dtype"):
        matmul(a, b.half())
    with pytest.raises(ValueError, match="a .*2 dimensions"):
        matmul(a[0], b)
    with pytest.raises(ValueError, match="b|columns|rows"):
        matmul(a, random_matrix((4, 2), 2))
    with pytest.raises(ValueError, match="b .*device|b .*tensor"):
        matmul(a, torch.ones(3, 2, device="meta"))
