"""Tests for the CUDA conv2d kernel (kernels/cuda/conv2d_nchw.cu), through
ml_refresher.cuda_kernels.

Lesson: katas/07_gpu_kernels/README.md, "CUDA conv2d".
Run: pytest katas/07_gpu_kernels/test_cuda_conv2d.py
Needs an NVIDIA GPU and a CUDA build of torch (elsewhere the project's pytest plugin lists these
tests as not run). Editing kernels/cuda/conv2d_nchw.cu is enough: the next run recompiles it.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from ml_refresher import cuda_kernels
from ml_refresher.testing import assert_close, assert_equal, assert_shape, assert_true

DEVICE = "cuda"
# (n, c, h, w, o, kh, kw, stride, padding, bias): the CPU kata's cases (1x1 kernels, non-square
# kernels and images, primes, strides that do not divide the image, a one-pixel-wide image),
# then ones sized against the 64 x 64 tile and the 16-long patch step: n*oh*ow pixels, o
# channels and c*kh*kw patch elements that are not multiples of them, several tiles along each,
# and tiles that hold the end of one image and the start of the next.
CASES = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0, False),
    (2, 3, 7, 5, 4, 3, 3, 1, 1, True),
    (2, 3, 11, 13, 5, 3, 2, 2, 1, True),
    (1, 16, 9, 9, 7, 5, 5, 3, 2, False),
    (3, 8, 17, 17, 13, 3, 3, 1, 1, True),
    (1, 5, 8, 31, 6, 1, 1, 2, 0, True),
    (2, 2, 3, 1, 3, 3, 3, 2, 1, True),  # a one-pixel-wide image: some taps only see padding
    (2, 5, 19, 23, 70, 3, 5, 2, 2, True),  # 264 pixels, 70 channels, a 75-long patch
    (3, 32, 21, 19, 130, 3, 3, 1, 1, True),  # 1197 pixels, 3 channel tiles, 18 patch steps
    (5, 3, 6, 10, 65, 2, 4, 2, 1, False),  # 5 images of 24 pixels: tiles span images
]
HINT = (
    "row (img, oy, ox) of the output matrix reads x[img, ch, oy*stride - padding + dy, "
    "ox*stride - padding + dx], 0 outside the image; store to out[img, oc, oy, ox] "
    "(README, CUDA conv2d)"
)


def random_conv(n, c, h, w, o, kh, kw, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((n, c, h, w), generator=generator)
    weight = torch.randn((o, c, kh, kw), generator=generator)
    bias = torch.randn((o,), generator=generator)
    return x.to(DEVICE), weight.to(DEVICE), bias.to(DEVICE)


def exact(x, weight, bias, stride, padding):
    """The convolution in float64 on the CPU: exact to ~1e-15, independent of cuDNN."""
    bias = None if bias is None else bias.cpu().double()
    return F.conv2d(x.cpu().double(), weight.cpu().double(), bias, stride, padding)


def tolerance(patch):
    # Each output is a float32 sum of c*kh*kw standard-normal products: rounding ~eps * patch at
    # worst in any summation order; 1e-6 * patch is ~16x that, while an indexing, padding or
    # edge bug is off by order 1 (as in the CPU kata).
    return 1e-6 * patch + 1e-6


def test_conv2d_output_shape_on_the_device():
    x, weight, _ = random_conv(2, 3, 7, 5, 4, 3, 3, seed=0)
    assert_shape(cuda_kernels.conv2d(x, weight, padding=1), (2, 4, 7, 5), "conv2d 3x3, padding 1")
    out = cuda_kernels.conv2d(x, weight, stride=2)
    assert_shape(out, (2, 4, 3, 2), "conv2d 3x3, stride 2")
    assert_true(
        out.is_cuda and out.dtype == torch.float32,
        "conv2d's result",
        [f"got {out.dtype} on {out.device}"],
    )


def test_conv2d_hand_case():
    x = torch.arange(9.0, device=DEVICE).reshape(1, 1, 3, 3)  # [[0,1,2],[3,4,5],[6,7,8]]
    weight = torch.ones((1, 1, 2, 2), device=DEVICE)  # sums each 2x2 window
    expected = torch.tensor([[[[8.0, 12.0], [20.0, 24.0]]]])
    # Small integers are exact in float32: any difference is a bug.
    got = cuda_kernels.conv2d(x, weight).cpu()
    assert_equal(got, expected, "2x2 box sum of 0..8", hint=HINT)


def test_conv2d_hand_case_with_stride_padding_and_bias():
    # A 2 x 3 image, one 2 x 2 kernel [[1, 0], [0, 2]] (not symmetric: a flipped or transposed
    # kernel gives other numbers), stride 2, padding 1, bias 10: output (2, 2), each window has
    # the pixel at the kernel's 1 (top left) and at its 2 (bottom right), 0 in the padding.
    x = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]], device=DEVICE)
    weight = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]]]], device=DEVICE)
    bias = torch.tensor([10.0], device=DEVICE)
    expected = torch.tensor([[[[12.0, 16.0], [10.0, 15.0]]]])
    got = cuda_kernels.conv2d(x, weight, bias, stride=2, padding=1).cpu()
    assert_equal(got, expected, "2x2 kernel [[1, 0], [0, 2]] on a 2x3 image, stride 2, padding 1")


def test_conv2d_padding_reads_zeros():
    x = torch.ones((1, 1, 2, 2), device=DEVICE)
    weight = torch.ones((1, 1, 3, 3), device=DEVICE)
    # With padding 1 every 3x3 window holds the whole 2x2 image and zeros around it.
    expected = torch.full((1, 1, 2, 2), 4.0)
    got = cuda_kernels.conv2d(x, weight, padding=1).cpu()
    assert_equal(got, expected, "3x3 sum, padding 1", hint="reads outside the image are 0")


@pytest.mark.parametrize(("n", "c", "h", "w", "o", "kh", "kw", "stride", "padding", "bias"), CASES)
def test_conv2d_agrees_with_float64(n, c, h, w, o, kh, kw, stride, padding, bias):
    x, weight, b = random_conv(n, c, h, w, o, kh, kw, seed=h * w)
    b = b if bias else None
    got = cuda_kernels.conv2d(x, weight, b, stride=stride, padding=padding)
    what = f"conv2d x{tuple(x.shape)} w{tuple(weight.shape)} stride={stride} padding={padding}"
    what += f" bias={bias} vs float64"
    expected = exact(x, weight, b, stride, padding)
    assert_close(got.cpu(), expected, what, atol=tolerance(c * kh * kw), hint=HINT)


@given(
    c=st.integers(1, 4),
    o=st.integers(1, 4),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 3),
)
def test_conv2d_agrees_with_float64_on_any_shape(c, o, h, w, kernel, stride, padding):
    padding = min(padding, kernel - 1)  # padding of a whole kernel side sees only zeros
    kh, kw = min(kernel, h + 2 * padding), min(kernel, w + 2 * padding)  # fits the padded image
    x, weight, b = random_conv(2, c, h, w, o, kh, kw, seed=h * w + c)
    got = cuda_kernels.conv2d(x, weight, b, stride=stride, padding=padding)
    what = f"conv2d c={c} o={o} {h}x{w} kernel {kh}x{kw} stride={stride} padding={padding}"
    assert_close(
        got.cpu(),
        exact(x, weight, b, stride, padding),
        what,
        atol=tolerance(c * kh * kw),
        hint=HINT,
    )


def test_conv2d_agrees_with_torch_on_the_gpu():
    # torch's GPU convolution in float64: in float32, torch lets cuDNN use TF32 for
    # convolutions by default (a 10-bit mantissa, ~1e-3 off), so a float32 result of torch's
    # could be further from the truth than the kernel under test.
    x, weight, b = random_conv(4, 16, 30, 22, 96, 3, 3, seed=10)
    expected = F.conv2d(x.double(), weight.double(), b.double(), stride=2, padding=1)
    got = cuda_kernels.conv2d(x, weight, b, stride=2, padding=1)
    what = "conv2d (4, 16, 30, 22) * (96, 16, 3, 3), stride 2, padding 1, vs torch on the GPU"
    assert_close(got, expected, what, atol=tolerance(16 * 9), hint=HINT)


def test_conv2d_writes_every_element_of_its_output():
    x, weight, b = random_conv(2, 5, 19, 23, 70, 3, 5, seed=2)
    expected = exact(x, weight, b, 2, 2)
    for attempt in range(3):
        # torch's caching allocator hands a freed block of the same size straight back, so the
        # output starts full of NaN: an element the kernel skips (or adds to) stays NaN.
        poison = torch.full(tuple(expected.shape), math.nan, device=DEVICE)
        del poison
        got = cuda_kernels.conv2d(x, weight, b, stride=2, padding=2)
        assert_close(
            got.cpu(),
            expected,
            f"conv2d into a reused NaN buffer, attempt {attempt}",
            atol=tolerance(5 * 15),
            hint="write every element of out, and write (=) rather than add (+=)",
        )


def nan_tailed(x: torch.Tensor) -> torch.Tensor:
    """x's values in a contiguous tensor at the start of a larger buffer of NaN: a kernel that
    reads past its end reads NaN, and NaN * 0 is NaN, so the 0 it loads into the other
    operand's tile does not hide the read."""
    buffer = torch.full((x.numel() + 4096,), math.nan, device=DEVICE)
    buffer[: x.numel()] = x.flatten()
    return buffer[: x.numel()].view(x.shape)


@pytest.mark.parametrize(
    ("n", "c", "h", "w", "o", "kh", "kw", "stride", "padding"),
    [(2, 3, 7, 5, 4, 3, 3, 1, 1), (2, 5, 19, 23, 70, 3, 5, 2, 2)],
    ids=str,
)
def test_conv2d_does_not_read_past_its_inputs(n, c, h, w, o, kh, kw, stride, padding):
    x, weight, b = (nan_tailed(t) for t in random_conv(n, c, h, w, o, kh, kw, seed=6))
    got = cuda_kernels.conv2d(x, weight, b, stride=stride, padding=padding)
    assert_close(
        got.cpu(),
        exact(x, weight, b, stride, padding),
        f"conv2d x{tuple(x.shape)} w{tuple(weight.shape)}, inputs followed by NaN in memory",
        atol=tolerance(c * kh * kw),
        hint="bound the patch tile by the last pixel and the patch length, the weight tile by "
        "the patch length and o, and read x only inside the image",
    )


def test_conv2d_runs_on_the_current_stream():
    # Launched on torch's current stream, the kernel is ordered after the copy that fills its
    # input on that stream; a kernel on another stream could read x before it is written.
    stream = torch.cuda.Stream()
    x0, weight, b = random_conv(8, 16, 32, 32, 32, 3, 3, seed=5)
    with torch.cuda.stream(stream):
        x = x0 * 2.0
        got = cuda_kernels.conv2d(x, weight, b, padding=1)
    stream.synchronize()
    assert_close(
        got.cpu(),
        exact(x, weight, b, 1, 1),
        "conv2d on a side stream",
        atol=tolerance(16 * 9),
        hint="launch with <<<grid, block, 0, stream>>>",
    )


def test_conv2d_rejects_bad_input():
    x, weight, b = random_conv(2, 3, 7, 5, 4, 3, 3, seed=0)
    # The good call first: on the stub this test then stops at NotImplementedError, as every
    # kata test must, instead of passing on checks that the front end makes, not the kernel.
    assert_shape(cuda_kernels.conv2d(x, weight, b), (2, 4, 5, 3), "conv2d 3x3 of (2, 3, 7, 5)")
    with pytest.raises(TypeError, match="x"):
        cuda_kernels.conv2d(x.tolist(), weight)
    with pytest.raises(TypeError, match="weight .*float32"):
        cuda_kernels.conv2d(x, weight.double())
    with pytest.raises(ValueError, match="x .*4 dimensions"):
        cuda_kernels.conv2d(x[0], weight)
    with pytest.raises(ValueError, match="input channels"):
        cuda_kernels.conv2d(x, weight[:, :2].contiguous())
    with pytest.raises(ValueError, match="bias must have one value per output channel"):
        cuda_kernels.conv2d(x, weight, b[:3])
    with pytest.raises(ValueError, match="stride must be >= 1"):
        cuda_kernels.conv2d(x, weight, stride=0)
    with pytest.raises(ValueError, match="padding must be in"):
        cuda_kernels.conv2d(x, weight, padding=3)
    with pytest.raises(ValueError, match="larger than x padded"):
        cuda_kernels.conv2d(x[:, :, :, :1].contiguous(), weight)
    with pytest.raises(TypeError, match="stride must be an int"):
        cuda_kernels.conv2d(x, weight, stride=1.0)
    with pytest.raises(ValueError, match="weight .*CUDA tensor"):
        cuda_kernels.conv2d(x, weight.cpu())
    with pytest.raises(ValueError, match="x .*contiguous"):
        cuda_kernels.conv2d(x.transpose(2, 3), weight)
