"""Tests for the Triton row-wise softmax (katas/07_gpu_kernels/triton_softmax.py).

Lesson: katas/07_gpu_kernels/README.md, "softmax".
Run: pytest katas/07_gpu_kernels/test_triton_softmax.py
Without an NVIDIA GPU they run through Triton's interpreter on CPU tensors (slow: small sizes).
"""

import math

import pytest
import torch
from triton_checks import expected_device
from triton_softmax import softmax

from ml_refresher.testing import assert_close, assert_shape, assert_true

DEVICE = expected_device()
# Row lengths below, at and above powers of two (1, 17, 100, 128, 257, 1000), so that most rows
# end inside the block and the mask on the tail matters; odd row counts.
SHAPES = [(1, 1), (3, 17), (5, 100), (7, 128), (2, 257), (3, 1000)]
# Each output is a quotient of float32 exponentials, each good to a few ulp (1e-7 relative):
# 1e-5 relative leaves room for exp implementations, 1e-7 absolute for outputs near 0.
RTOL, ATOL = 1e-5, 1e-7
MASK_HINT = "load the tail with mask=cols < n_cols and other=-inf (README, softmax: masks)"
STABILITY_HINT = "subtract the row's max before exp (README, softmax)"


def on_device(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).to(DEVICE)


def random_rows(shape, scale, seed) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator)).to(DEVICE)


def padded_view(x: torch.Tensor, fill: float) -> torch.Tensor:
    """x as the left part of a wider buffer whose other columns hold `fill`: a view with row
    stride > cols, and a kernel that reads past a row without its mask reads `fill`."""
    rows, cols = x.shape
    buffer = torch.full((rows, 2 * cols + 16), fill, device=x.device)
    buffer[:, :cols] = x
    return buffer[:, :cols]


def test_softmax_keeps_the_shape_and_dtype():
    y = softmax(random_rows((3, 5), 1.0, 0))
    assert_shape(y, (3, 5), "softmax of (3, 5)")
    assert_true(y.dtype == torch.float32, "softmax dtype", [f"expected float32, got {y.dtype}"])


def test_softmax_hand_case():
    # Row lengths 2 and 3 (3 is not a power of two: one masked lane). softmax([1, 2, 3]) =
    # e^i / (e + e^2 + e^3) = 0.0900306, 0.2447285, 0.6652410; a row of negatives keeps them.
    x = on_device([[0.0, math.log(3.0)], [5.0, 5.0]])
    assert_close(softmax(x), [[0.25, 0.75], [0.5, 0.5]], "softmax([0, ln 3]), ([5, 5])", atol=1e-6)
    x = on_device([[1.0, 2.0, 3.0], [-3.0, -2.0, -1.0]])
    expected = [[0.0900306, 0.2447285, 0.6652410], [0.0900306, 0.2447285, 0.6652410]]
    assert_close(
        softmax(x), expected, "softmax([1, 2, 3]), ([-3, -2, -1])", atol=1e-6, hint=MASK_HINT
    )


def test_softmax_of_huge_values_is_stable():
    x = on_device([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4]])
    e = math.exp(-1.0)
    expected = [[1 / (1 + e), e / (1 + e), 0.0], [1 / 3, 1 / 3, 1 / 3]]
    assert_close(softmax(x), expected, "softmax of +-1e4", atol=1e-6, hint=STABILITY_HINT)


# -inf - -inf is NaN on purpose here; numpy (under the interpreter) warns about it.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_softmax_handles_minus_infinity_like_torch():
    x = on_device([[0.0, -math.inf, 1.0], [-math.inf] * 3])
    got = softmax(x).cpu()
    expected = torch.softmax(x.cpu(), -1)  # [[.27, 0, .73], [nan, nan, nan]]
    assert_close(got[:1], expected[:1], "softmax of a row with one -inf", atol=1e-6)
    assert_true(
        bool(torch.isnan(got[1]).all()),
        "softmax of a row of only -inf is 0/0",
        ["expected: NaN everywhere (as torch)", f"got:      {got[1].tolist()}"],
        "-inf - max(-inf) is NaN: keep it (torch answers NaN); do not replace the max",
    )


@pytest.mark.parametrize("scale", [1.0, 100.0])
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_agrees_with_torch(shape, scale):
    x = random_rows(shape, scale, sum(shape))
    expected = torch.softmax(x.cpu(), -1)
    assert_close(softmax(x), expected, f"softmax {shape} (x{scale}) vs torch", atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("cols", [5, 100])
def test_softmax_reads_only_its_row_of_a_strided_view(cols):
    # The columns past each row hold NaN: a load without the mask, or a row offset of
    # row * cols instead of row * x_row_stride, reads them.
    x = random_rows((4, cols), 3.0, cols)
    view = padded_view(x, math.nan)
    expected = torch.softmax(x.cpu(), -1)
    assert_close(
        softmax(view),
        expected,
        f"softmax of a ({4}, {cols}) view with row stride {view.stride(0)}",
        atol=ATOL,
        rtol=RTOL,
        hint="mask the tail, and offset each row by x_row_stride, not by n_cols",
    )


def test_softmax_of_a_transposed_view():
    # x.T has stride 1 between rows and a large one between columns: a kernel that walks a row
    # with stride 1 must get a contiguous copy of it (or be told the column stride).
    x = random_rows((50, 6), 3.0, 11).T  # (6, 50), strides (1, 6)
    expected = torch.softmax(x.cpu(), -1)
    assert_close(
        softmax(x),
        expected,
        "softmax of a (6, 50) transposed view, strides (1, 6)",
        atol=ATOL,
        rtol=RTOL,
        hint="copy x with x.contiguous() when its columns are not adjacent (x.stride(1) != 1)",
    )


def test_softmax_rejects_bad_input():
    with pytest.raises(TypeError, match="x"):
        softmax([[1.0, 2.0]])
    with pytest.raises(TypeError, match="x .*float32"):
        softmax(torch.ones(2, 3, dtype=torch.float64, device=DEVICE))
    with pytest.raises(ValueError, match="x .*2 dimensions"):
        softmax(torch.ones(2, 3, 4, device=DEVICE))
    with pytest.raises(ValueError, match="x .*empty"):
        softmax(torch.ones(0, 3, device=DEVICE))
    with pytest.raises(ValueError, match="x .*device|x .*tensor"):
        softmax(torch.ones(2, 3, device="meta"))  # neither the CPU nor the GPU
