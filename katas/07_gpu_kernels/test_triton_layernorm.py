"""Tests for the Triton layer norm (katas/07_gpu_kernels/triton_layernorm.py).

Lesson: katas/07_gpu_kernels/README.md, "layer norm".
Run: pytest katas/07_gpu_kernels/test_triton_layernorm.py
Without an NVIDIA GPU they run through Triton's interpreter on CPU tensors (slow: small sizes).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from triton_checks import expected_device
from triton_layernorm import layer_norm

from ml_refresher.testing import assert_close, assert_shape, assert_true

DEVICE = expected_device()
# Row lengths 1 (variance 0), non-powers of two (masked lanes) and 128 (none); 3-D inputs.
SHAPES = [(3, 1), (3, 17), (5, 100), (2, 3, 128), (4, 1000), (7, 33)]
# float32: y = (x - mean) * inv_std * w + b with each factor good to a few float32 ulp, and |y|
# up to ~4 sigma: 1e-5 absolute and relative is ~100 ulp, while an unbiased variance (a factor
# sqrt(n / (n - 1)), 0.05% even at n = 1000) or a missed lane are far larger.
RTOL, ATOL = 1e-5, 1e-5
MASK_HINT = "zero x - mean in the masked lanes (tl.where) before squaring (README, layer norm)"


def random_tensor(shape, seed, scale=1.0, offset=0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (offset + scale * torch.randn(shape, generator=generator)).to(DEVICE)


def reference(x, weight, bias, eps=1e-5) -> torch.Tensor:
    """torch's layer norm in float64 on the CPU."""
    n = x.shape[-1]
    return F.layer_norm(x.cpu().double(), (n,), weight.cpu().double(), bias.cpu().double(), eps)


def params(n, seed, dtype=torch.float32):
    return random_tensor((n,), seed).to(dtype), random_tensor((n,), seed + 1).to(dtype)


def test_layer_norm_keeps_the_shape_and_dtype():
    weight, bias = params(5, 0)
    y = layer_norm(random_tensor((2, 3, 5), 0), weight, bias)
    assert_shape(y, (2, 3, 5), "layer_norm of (2, 3, 5)")
    assert_true(y.dtype == torch.float32, "layer_norm dtype", [f"expected float32, got {y.dtype}"])


def test_layer_norm_hand_case():
    # Row [1, 2, 3] (3 lanes of a 4-lane block): mean 2, biased variance (1 + 0 + 1) / 3 = 2/3,
    # 1 / sqrt(2/3 + 1e-5) = 1.2247357. With w = [2, 1, -1], b = [0.5, 0, 1]:
    # y = [-2 * 1.2247357 + 0.5, 0, -1.2247357 + 1] = [-1.9494714, 0, -0.2247357].
    # (Unbiased variance 1 gives [-1.5, 0, 0]; a masked lane counted as x = 0 gives var 2.)
    x = torch.tensor([[1.0, 2.0, 3.0]], device=DEVICE)
    weight = torch.tensor([2.0, 1.0, -1.0], device=DEVICE)
    bias = torch.tensor([0.5, 0.0, 1.0], device=DEVICE)
    expected = [[-1.9494714, 0.0, -0.2247357]]
    assert_close(
        layer_norm(x, weight, bias),
        expected,
        "layer_norm([1, 2, 3]) with w [2, 1, -1], b [0.5, 0, 1]",
        atol=1e-6,
        hint="biased variance (divide by n) over the row's own lanes only; " + MASK_HINT,
    )


@pytest.mark.parametrize("offset", [0.0, 100.0])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_layer_norm_agrees_with_torch(shape, offset):
    x = random_tensor(shape, sum(shape), scale=2.0, offset=offset)
    weight, bias = params(shape[-1], len(shape))
    assert_close(
        layer_norm(x, weight, bias),
        reference(x, weight, bias),
        f"layer_norm {shape} (offset {offset}) vs torch",
        atol=ATOL,
        rtol=RTOL,
        hint=MASK_HINT,
    )


@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_puts_eps_inside_the_square_root(eps):
    # Rows of standard deviation 0.01 (variance 1e-4, comparable to eps): 1 / sqrt(var + eps)
    # and 1 / (sqrt(var) + eps) differ by 5% at eps = 1e-5 and by a factor 10 at eps = 1e-2.
    x = random_tensor((6, 50), 7, scale=0.01)
    weight, bias = params(50, 8)
    assert_close(
        layer_norm(x, weight, bias, eps=eps),
        reference(x, weight, bias, eps),
        f"layer_norm of rows with variance 1e-4, eps={eps}",
        atol=ATOL,
        rtol=RTOL,
        hint="eps goes inside the square root: 1 / sqrt(var + eps)",
    )


def test_layer_norm_reads_only_its_row_of_a_strided_view():
    # The columns past each row hold NaN: a load without the mask, or a row offset of
    # row * n_cols instead of row * x_row_stride, reads them.
    x = random_tensor((4, 37), 9)
    buffer = torch.full((4, 80), math.nan, device=DEVICE)
    buffer[:, :37] = x
    weight, bias = params(37, 10)
    assert_close(
        layer_norm(buffer[:, :37], weight, bias),
        reference(x, weight, bias),
        "layer_norm of a (4, 37) view with row stride 80",
        atol=ATOL,
        rtol=RTOL,
        hint="mask the loads, and offset each row by x_row_stride",
    )


def test_layer_norm_of_float16_keeps_statistics_in_float32():
    # Rows of 1000 values near 100: their sum, 1e5, is past float16's largest number (65504),
    # so statistics kept in float16 overflow. The output is rounded once to float16 (half an
    # ulp of |y| <= 4 is 2^-9 = 2e-3): 4e-3 absolute and 2e-3 relative allow it.
    x = random_tensor((3, 1000), 11, offset=100.0).half()
    weight, bias = params(1000, 12, torch.float16)
    got = layer_norm(x, weight, bias)
    assert_true(got.dtype == torch.float16, "layer_norm of float16", [f"got dtype {got.dtype}"])
    assert_close(
        got,
        reference(x, weight, bias),
        "layer_norm of float16 rows near 100",
        atol=4e-3,
        rtol=2e-3,
        hint="convert the loaded row to float32 (.to(tl.float32)) before the sums",
    )


def test_layer_norm_rejects_bad_input():
    x = random_tensor((2, 5), 0)
    weight, bias = params(5, 1)
    with pytest.raises(TypeError, match="x"):
        layer_norm(x.tolist(), weight, bias)
    with pytest.raises(TypeError, match="x .*float"):
        layer_norm(x.double(), weight, bias)
    with pytest.raises(TypeError, match="weight"):
        layer_norm(x, weight.half(), bias)
    with pytest.raises(ValueError, match="weight"):
        layer_norm(x, params(4, 2)[0], bias)
    with pytest.raises(ValueError, match="bias"):
        layer_norm(x, weight, params(6, 3)[1])
    with pytest.raises(ValueError, match="eps"):
        layer_norm(x, weight, bias, eps=0.0)
    with pytest.raises(ValueError, match="x .*device|x .*tensor"):
        layer_norm(torch.ones(2, 5, device="meta"), weight, bias)
