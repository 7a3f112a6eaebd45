"""Tests for the CUDA row-wise softmax (kernels/cuda/softmax_rows.cu), through
ml_refresher.cuda_kernels.

Lesson: katas/07_gpu_kernels/README.md, "CUDA softmax".
Run: pytest katas/07_gpu_kernels/test_cuda_softmax.py
Needs an NVIDIA GPU and a CUDA build of torch (elsewhere the project's pytest plugin lists these
tests as not run). Editing kernels/cuda/softmax_rows.cu is enough: the next run recompiles it.
"""

import math

import pytest
import torch

from ml_refresher import cuda_kernels
from ml_refresher.testing import assert_close, assert_shape, assert_true

DEVICE = "cuda"
# Row lengths below, at and above the warp's 32 lanes and its multiples (1, 31, 32, 33, 100,
# 1000, 4097: some lanes idle, or a last partial stride), and row counts that do not fill the
# last block of 4 rows (1, 3, 5, 7, 9).
SHAPES = [(1, 1), (3, 31), (5, 32), (7, 33), (9, 100), (3, 1000), (2, 4097), (1030, 65)]
# Each output is a quotient of float32 exponentials, each good to a couple of ulp (expf is
# within 2 ulp in CUDA), and a sum of up to 4097 of them: 1e-5 relative leaves room for the
# summation order, 1e-7 absolute for outputs near 0. A reduction over the wrong lanes, or a
# missing row max, gives errors of order 1 (or NaN).
RTOL, ATOL = 1e-5, 1e-7
HINT = "reduce the max and the sum over all 32 lanes with __shfl_xor_sync (README, CUDA softmax)"


def on_device(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32, device=DEVICE)


def random_rows(shape, scale, seed) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator)).to(DEVICE)


def exact(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x.cpu().double(), dim=-1)


def test_softmax_keeps_the_shape():
    y = cuda_kernels.softmax(random_rows((3, 5), 1.0, 0))
    assert_shape(y, (3, 5), "softmax of (3, 5)")
    assert_true(
        y.is_cuda and y.dtype == torch.float32, "softmax's result", [f"got {y.dtype} on {y.device}"]
    )


def test_softmax_hand_case():
    # softmax([0, ln 3]) = [1/4, 3/4]; [5, 5] = [1/2, 1/2]; softmax([1, 2, 3]) = e^i / (e + e^2 +
    # e^3) = 0.0900306, 0.2447285, 0.6652410 (rows of different lengths in separate calls: an
    # axis mix-up between rows and columns shows in the (2, 2) case, which is not symmetric).
    x = on_device([[0.0, math.log(3.0)], [5.0, 5.0]])
    assert_close(
        cuda_kernels.softmax(x).cpu(), [[0.25, 0.75], [0.5, 0.5]], "softmax by hand", atol=1e-6
    )
    y = cuda_kernels.softmax(on_device([[1.0, 2.0, 3.0]]))
    assert_close(y.cpu(), [[0.0900306, 0.2447285, 0.6652410]], "softmax([1, 2, 3])", atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_softmax_agrees_with_torch(shape):
    x = random_rows(shape, 3.0, shape[1])
    assert_close(
        cuda_kernels.softmax(x).cpu(),
        exact(x),
        f"softmax of {shape}",
        rtol=RTOL,
        atol=ATOL,
        hint=HINT,
    )
    # and with torch's own GPU softmax, in float32 as well: both within the same bound of exact
    assert_close(
        cuda_kernels.softmax(x),
        torch.softmax(x, dim=-1),
        f"softmax of {shape} vs torch on the GPU",
        rtol=2 * RTOL,
        atol=2 * ATOL,
        hint=HINT,
    )


def test_softmax_over_the_last_axis_of_3d_input():
    x = random_rows((2, 3, 45), 2.0, 7)
    assert_close(
        cuda_kernels.softmax(x).cpu(),
        exact(x),
        "softmax of (2, 3, 45) over the last axis",
        rtol=RTOL,
        atol=ATOL,
    )


def test_softmax_is_stable_for_large_values():
    # exp(1e4) overflows float32: only x - max keeps these finite. Row 2 is row 1 shifted by
    # -2e4, so both give the same probabilities.
    x = on_device([[1e4, 1e4 - 1.0, 1e4 - 2.0], [-1e4, -1e4 - 1.0, -1e4 - 2.0]])
    expected = torch.softmax(torch.tensor([0.0, -1.0, -2.0], dtype=torch.float64), 0)
    assert_close(
        cuda_kernels.softmax(x).cpu(),
        torch.stack([expected, expected]),
        "softmax of +-1e4",
        atol=1e-6,
        hint="subtract the row's max before expf",
    )


def test_softmax_of_minus_infinity():
    # -inf entries get probability 0; a row of all -inf is NaN, as in torch (0 / 0).
    x = on_device([[0.0, -math.inf, 0.0], [-math.inf] * 3, [-math.inf, 2.0, -math.inf]])
    y = cuda_kernels.softmax(x).cpu()
    assert_close(y[0], [0.5, 0.0, 0.5], "softmax of [0, -inf, 0]", atol=1e-7)
    assert_true(
        bool(torch.isnan(y[1]).all()),
        "softmax of a row of -inf",
        [f"expected NaN (as torch), got {y[1].tolist()}"],
    )
    assert_close(y[2], [0.0, 1.0, 0.0], "softmax of [-inf, 2, -inf]", atol=1e-7)


def test_softmax_does_not_mix_rows():
    # Rows with very different scales side by side, 5 rows (the last block of 4 is partly
    # empty): a warp that reads its neighbour's row, or a max shared across rows, fails here.
    x = torch.stack([random_rows((70,), 10.0**e, e) for e in range(-2, 3)])
    assert_close(
        cuda_kernels.softmax(x).cpu(),
        exact(x),
        "softmax of rows of scales 0.01..100",
        rtol=RTOL,
        atol=ATOL,
        hint="row = blockIdx.x * 4 + threadIdx.x / 32",
    )


def test_softmax_writes_every_element_of_its_output():
    x = random_rows((1030, 65), 1.0, 8)
    for attempt in range(3):
        poison = torch.full((1030, 65), math.nan, device=DEVICE)
        del poison  # the caching allocator hands this block back as the output
        assert_close(
            cuda_kernels.softmax(x).cpu(),
            exact(x),
            f"softmax into a reused NaN buffer, attempt {attempt}",
            rtol=RTOL,
            atol=ATOL,
            hint="every row, and every column of it: the last block and the last partial stride",
        )


@pytest.mark.parametrize(
    "shape", [(3, 31), (7, 33), (1030, 65)], ids=lambda s: "x".join(map(str, s))
)
def test_softmax_does_not_read_past_the_rows(shape):
    # x is the start of a larger buffer of NaN: a loop that runs to j <= cols (or a row that
    # does not exist) reads NaN, and the last row's result turns NaN.
    rows, cols = shape
    buffer = torch.full((rows * cols + 4096,), math.nan, device=DEVICE)
    buffer[: rows * cols] = random_rows((rows * cols,), 3.0, 9)
    x = buffer[: rows * cols].view(rows, cols)
    assert_close(
        cuda_kernels.softmax(x).cpu(),
        exact(x),
        f"softmax of {shape}, followed by NaN in memory",
        rtol=RTOL,
        atol=ATOL,
        hint="columns j < cols of rows < rows only: for (j = lane; j < cols; j += 32)",
    )


def test_softmax_rejects_bad_input():
    x = random_rows((3, 4), 1.0, 0)
    # The good call first: on the stub this test then stops at NotImplementedError, as every
    # kata test must, instead of passing on checks that the front end makes, not the kernel.
    assert_shape(cuda_kernels.softmax(x), (3, 4), "softmax of (3, 4)")
    with pytest.raises(TypeError, match="x"):
        cuda_kernels.softmax(x.tolist())
    with pytest.raises(TypeError, match="x .*float32"):
        cuda_kernels.softmax(x.half())
    with pytest.raises(ValueError, match="x .*CUDA tensor"):
        cuda_kernels.softmax(x.cpu())
    with pytest.raises(ValueError, match="x .*empty"):
        cuda_kernels.softmax(x[:, :0])
    with pytest.raises(ValueError, match="x .*contiguous"):
        cuda_kernels.softmax(x.T)
    with pytest.raises(ValueError, match="x .*at least 1 dimension"):
        cuda_kernels.softmax(x[0, 0])
