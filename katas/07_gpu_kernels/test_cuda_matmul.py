"""Tests for the CUDA matmul kernel (kernels/cuda/matmul.cu), through ml_refresher.cuda_kernels.

Lesson: katas/07_gpu_kernels/README.md, "CUDA matmul".
Run: pytest katas/07_gpu_kernels/test_cuda_matmul.py
Needs an NVIDIA GPU and a CUDA build of torch (elsewhere the project's pytest plugin lists these
tests as not run). Editing kernels/cuda/matmul.cu is enough: the next run recompiles it with nvcc.
"""

import math

import pytest
import torch

from ml_refresher import cuda_kernels
from ml_refresher.testing import assert_close, assert_equal, assert_shape, assert_true

DEVICE = "cuda"
# 1s, primes and sizes that are not multiples of the 64 x 64 tile or of BK = 16 in any axis
# (every edge of a tile is partly outside), one exact tile, several tiles and K steps, a thin
# row and a thin column of blocks.
SHAPES = [
    (1, 1, 1),
    (1, 7, 1),
    (3, 5, 7),
    (17, 13, 31),
    (64, 64, 64),
    (65, 129, 33),
    (131, 400, 97),
    (2, 5, 3100),
    (3100, 7, 2),
]
HINT = (
    "check the edges: load 0 past m, k and n and store only row < m and col < n "
    "(README, CUDA matmul: tiles and edges)"
)


def random_matrix(rows, cols, seed) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((rows, cols), generator=generator).to(DEVICE)


def exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b in float64 on the CPU: exact to ~1e-15, independent of the GPU's BLAS."""
    return a.cpu().double() @ b.cpu().double()


def tolerance(k: int) -> float:
    # A float32 dot product of k standard-normal products has a rounding error of about
    # eps * sqrt(k) typically and eps * k at worst (eps = 6e-8) in any summation order (fused
    # multiply-adds only shrink it); 1e-6 * k is ~16x the worst case, while an indexing or edge
    # bug gives errors of order 1.
    return 1e-6 * k + 1e-6


def test_matmul_returns_m_by_n_on_the_device():
    c = cuda_kernels.matmul(random_matrix(3, 5, 0), random_matrix(5, 7, 1))
    assert_shape(c, (3, 7), "matmul (3x5) @ (5x7)")
    assert_true(
        c.is_cuda and c.dtype == torch.float32, "matmul's result", [f"got {c.dtype} on {c.device}"]
    )


def test_matmul_hand_case():
    # (3, 2) @ (2, 3), not square: a transposed operand or swapped m and n changes the answer.
    # Small integers are exact in float32: any difference is a bug.
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=DEVICE)
    b = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]], device=DEVICE)
    expected = torch.tensor([[1.0, 2.0, 8.0], [3.0, 4.0, 18.0], [5.0, 6.0, 28.0]])
    assert_equal(cuda_kernels.matmul(a, b).cpu(), expected, "matmul (3, 2) @ (2, 3) by hand")


@pytest.mark.parametrize(("m", "k", "n"), SHAPES, ids=lambda v: str(v))
def test_matmul_agrees_with_float64_on_any_shape(m, k, n):
    a, b = random_matrix(m, k, m), random_matrix(k, n, n)
    got = cuda_kernels.matmul(a, b)
    assert_close(
        got.cpu(), exact(a, b), f"matmul {m}x{k} @ {k}x{n} vs float64", atol=tolerance(k), hint=HINT
    )


def test_matmul_agrees_with_torch_on_the_gpu():
    # torch's own float32 GPU matmul (TF32 is off for matmul by default): both are float32 sums
    # of k = 300 products, so they differ by rounding only, within twice tolerance(k).
    a, b = random_matrix(200, 300, 10), random_matrix(300, 150, 11)
    assert_close(
        cuda_kernels.matmul(a, b),
        a @ b,
        "matmul 200x300 @ 300x150 vs torch on the GPU",
        atol=2 * tolerance(300),
        hint=HINT,
    )


def test_matmul_writes_every_element_of_its_output():
    a, b = random_matrix(131, 400, 2), random_matrix(400, 97, 3)
    expected = exact(a, b)
    for attempt in range(3):
        # torch's caching allocator hands a freed block of the same size straight back, so the
        # output starts full of NaN: an element the kernel skips (or adds to) stays NaN.
        poison = torch.full((131, 97), math.nan, device=DEVICE)
        del poison
        got = cuda_kernels.matmul(a, b)
        assert_close(
            got.cpu(),
            expected,
            f"matmul into a reused NaN buffer, attempt {attempt}",
            atol=tolerance(400),
            hint="write every element of c, and write (=) rather than add (+=)",
        )


def nan_tailed(rows, cols, seed) -> torch.Tensor:
    """A contiguous (rows, cols) tensor at the start of a larger buffer of NaN: a kernel that
    reads past its end reads NaN, and NaN * 0 is NaN, so the 0 it loads into the other
    operand's tile does not hide the read."""
    buffer = torch.full((rows * cols + 4096,), math.nan, device=DEVICE)
    buffer[: rows * cols] = random_matrix(rows, cols, seed).flatten()
    return buffer[: rows * cols].view(rows, cols)


@pytest.mark.parametrize(("m", "k", "n"), [(3, 5, 7), (65, 129, 33)], ids=str)
def test_matmul_does_not_read_past_its_inputs(m, k, n):
    a, b = nan_tailed(m, k, 6), nan_tailed(k, n, 7)
    assert_close(
        cuda_kernels.matmul(a, b).cpu(),
        exact(a, b),
        f"matmul {m}x{k} @ {k}x{n}, inputs followed by NaN in memory",
        atol=tolerance(k),
        hint="bound both tile loads by k as well as by m and n: (row < m && p < k) for a, "
        "(p < k && col < n) for b",
    )


def test_matmul_runs_on_the_current_stream():
    # Launched on torch's current stream, the kernel is ordered after the copy that fills its
    # input on that stream; a kernel on another stream could read a before it is written.
    stream = torch.cuda.Stream()
    b = random_matrix(64, 33, 5)
    with torch.cuda.stream(stream):
        a = random_matrix(70, 64, 4) * 2.0
        got = cuda_kernels.matmul(a, b)
    stream.synchronize()
    assert_close(
        got.cpu(),
        exact(a, b),
        "matmul on a side stream",
        atol=tolerance(64),
        hint="launch with <<<grid, block, 0, stream>>>",
    )


def test_matmul_rejects_bad_input():
    a, b = random_matrix(4, 3, 0), random_matrix(3, 2, 1)
    # The good call first: on the stub this test then stops at NotImplementedError, as every
    # kata test must, instead of passing on checks that the front end makes, not the kernel.
    assert_shape(cuda_kernels.matmul(a, b), (4, 2), "matmul (4x3) @ (3x2)")
    with pytest.raises(TypeError, match="a"):
        cuda_kernels.matmul(a.tolist(), b)
    with pytest.raises(TypeError, match="b .*float32"):
        cuda_kernels.matmul(a, b.double())
    with pytest.raises(ValueError, match="a .*2 dimensions"):
        cuda_kernels.matmul(a[0], b)
    with pytest.raises(ValueError, match="do not chain"):
        cuda_kernels.matmul(a, random_matrix(4, 2, 2))
    with pytest.raises(ValueError, match="b .*CUDA tensor"):
        cuda_kernels.matmul(a, b.cpu())
    with pytest.raises(ValueError, match="a .*contiguous"):
        cuda_kernels.matmul(random_matrix(3, 4, 3).T, b)
