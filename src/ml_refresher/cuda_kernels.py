"""Front end of the CUDA kernels (katas/07_gpu_kernels, cuda_*): takes torch CUDA tensors,
checks them, and calls the learner's or the reference module (see ml_refresher.impl) with
their device pointers and the current stream.

Inputs must be float32, contiguous, non-empty CUDA tensors on one device; anything else gets a
TypeError or ValueError that names the argument. Without a CUDA device every call fails with a
clear error (a CPU tensor is a ValueError that says so), never a crash. Results are new CUDA
tensors; the kernels run asynchronously on torch's current stream, like torch's own.
"""

from __future__ import annotations

import numbers
import warnings
from pathlib import Path

from ml_refresher import cuda_build, impl, registry
from ml_refresher.kernel_build import KernelBuildError

NO_DEVICE = (
    "no CUDA device: torch.cuda.is_available() is False; these kernels need an NVIDIA GPU and "
    "a CUDA build of torch; on this machine run the Triton katas through the interpreter"
)

# kata id of each kernel (the .cu file stem is the registry's cuda_kernel)
KATAS = {
    "matmul": "cuda_matmul",
    "softmax_rows": "cuda_softmax",
    "flash_attention": "cuda_flash_attention",
    "conv2d_nchw": "cuda_conv2d",
}
FLASH_D_MAX = 128  # as kernels/cuda/cuda_kernels.h

_learner_modules: dict[str, object] = {}
_build_failures: dict[str, KernelBuildError] = {}
_reference_checked = False


def _reference_module():
    """The reference CUDA kernels, compiled when the package was installed (only where nvcc was
    found); a warning, once, if their sources changed since."""
    global _reference_checked
    try:
        from ml_refresher import _cuda_kernels_reference
    except ImportError:
        raise ImportError(
            "the CUDA reference kernels were not built: the package was installed without a "
            "CUDA compiler; install the CUDA toolkit (nvcc) and run `pip install -e .` again"
        ) from None
    if not _reference_checked:
        _reference_checked = True
        root = registry.project_root()
        sources = [
            *(root / "solutions" / "kernels" / "cuda").glob("*.cu"),
            root / "src" / "bindings" / "cuda_module.cu",
            root / "kernels" / "cuda" / "cuda_kernels.h",
        ]
        built = Path(_cuda_kernels_reference.__file__).stat().st_mtime
        changed = sorted(
            str(p.relative_to(root)) for p in sources if p.is_file() and p.stat().st_mtime > built
        )
        if changed:
            warnings.warn(
                f"the CUDA reference kernels were compiled before {', '.join(changed)} changed; "
                "run `pip install -e .` again to rebuild them",
                stacklevel=3,
            )
    return _cuda_kernels_reference


def _module_for(kernel: str):
    if impl.uses_reference(registry.kata(KATAS[kernel])):
        return _reference_module()
    __tracebackhide__ = True
    if kernel in _build_failures:
        raise KernelBuildError(
            f"kernels/cuda/{kernel}.cu did not compile: see nvcc's errors in the first failing "
            "test above"
        ) from None
    if kernel not in _learner_modules:
        try:
            _learner_modules[kernel] = cuda_build.build(kernel)
        except KernelBuildError as failure:
            _build_failures[kernel] = failure
            raise failure from None
    return _learner_modules[kernel]


def _checked(x, name: str, ndim: int | None):
    """x if it is a float32, contiguous, non-empty CUDA tensor of rank `ndim` (any rank >= 1
    when None), else a TypeError/ValueError naming `name`."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor on a CUDA device, got {type(x).__name__}")
    if x.device.type != "cuda":
        where = "" if torch.cuda.is_available() else f" ({NO_DEVICE})"
        raise ValueError(
            f"{name} must be a CUDA tensor, got a tensor on {x.device}: use .cuda(){where}"
        )
    if x.layout != torch.strided:
        raise TypeError(f"{name} must be a dense tensor, got layout {x.layout}: use .to_dense()")
    if x.dtype != torch.float32:
        dtype = str(x.dtype).removeprefix("torch.")
        raise TypeError(f"{name} must have dtype float32, got {dtype}: use .float()")
    if ndim is None and x.dim() < 1:
        raise ValueError(f"{name} must have at least 1 dimension, got a scalar")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if 0 in x.shape:
        raise ValueError(f"{name} must not have an empty dimension, got shape {tuple(x.shape)}")
    if not x.is_contiguous():
        raise ValueError(
            f"{name} must be contiguous (row-major), got strides {x.stride()} for shape "
            f"{tuple(x.shape)}: use .contiguous()"
        )
    if x.is_neg() or x.is_conj():
        raise ValueError(f"{name} is a lazily negated view: use .resolve_neg()")
    return x


def _same_device(**tensors) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listed = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise ValueError(f"the inputs must be on one device, got {listed}")


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


def _stream(device) -> int:
    import torch

    return torch.cuda.current_stream(device).cuda_stream


def matmul(a, b):
    """c = a @ b. a: (m, k), b: (k, n), float32 CUDA tensors -> c: (m, n)."""
    __tracebackhide__ = True
    import torch

    a, b = _checked(a, "a", 2), _checked(b, "b", 2)
    _same_device(a=a, b=b)
    (m, k), (k_b, n) = a.shape, b.shape
    if k != k_b:
        raise ValueError(
            f"a and b do not chain: a is {tuple(a.shape)}, b is {tuple(b.shape)} "
            "(a's columns must equal b's rows)"
        )
    module = _module_for("matmul")
    with torch.cuda.device(a.device):
        c = torch.empty((m, n), dtype=torch.float32, device=a.device)
        module.matmul(a.data_ptr(), b.data_ptr(), c.data_ptr(), m, k, n, _stream(a.device))
    return c


def softmax(x):
    """y = softmax(x) over the last axis. x: (..., cols) float32 CUDA tensor -> y, same shape:
    y[..., j] = exp(x[..., j] - max) / sum_i exp(x[..., i] - max)."""
    __tracebackhide__ = True
    import torch

    x = _checked(x, "x", None)
    cols = x.shape[-1]
    rows = x.numel() // cols
    module = _module_for("softmax_rows")
    with torch.cuda.device(x.device):
        y = torch.empty_like(x)
        module.softmax_rows(x.data_ptr(), y.data_ptr(), rows, cols, _stream(x.device))
    return y


def attention(q, k, v, *, causal: bool = False):
    """out = softmax(q k^T / sqrt(d)) v per batch and head. q: (batch, heads, t, d), k and v:
    (batch, heads, s, d), float32 CUDA tensors, d <= 128 -> out: (batch, heads, t, d). causal
    hides key j from query i when j > i (torch's is_causal, top-left aligned when t != s)."""
    __tracebackhide__ = True
    import torch

    q, k, v = _checked(q, "q", 4), _checked(k, "k", 4), _checked(v, "v", 4)
    _same_device(q=q, k=k, v=v)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__} {causal!r}")
    batch, heads, t, d = q.shape
    s = k.shape[2]
    if k.shape != (batch, heads, s, d):
        raise ValueError(
            f"k must be (batch, heads, s, d) = ({batch}, {heads}, s, {d}) like q "
            f"{tuple(q.shape)}, got {tuple(k.shape)}"
        )
    if v.shape != k.shape:
        raise ValueError(f"v must have k's shape {tuple(k.shape)}, got {tuple(v.shape)}")
    if d > FLASH_D_MAX:
        raise ValueError(f"q's head dimension must be <= {FLASH_D_MAX}, got {d}")
    if batch * heads > 65535:  # the grid's y dimension
        raise ValueError(f"batch * heads must be <= 65535, got {batch} * {heads}")
    module = _module_for("flash_attention")
    with torch.cuda.device(q.device):
        out = torch.empty_like(q)
        module.flash_attention(
            q.data_ptr(),
            k.data_ptr(),
            v.data_ptr(),
            out.data_ptr(),
            batch * heads,
            t,
            s,
            d,
            causal,
            _stream(q.device),
        )
    return out


def conv2d(x, weight, bias=None, *, stride: int = 1, padding: int = 0):
    """2-D convolution (cross-correlation, as torch), zero padding, 0 <= padding < kernel size.
    x: (n, c, h, w), weight: (o, c, kh, kw), bias: (o,) or None, float32 CUDA tensors
    -> (n, o, (h + 2*padding - kh) // stride + 1, (w + 2*padding - kw) // stride + 1).
    The same arguments and checks as ml_refresher.kernels.conv2d, the CPU kernel."""
    __tracebackhide__ = True
    import torch

    x, weight = _checked(x, "x", 4), _checked(weight, "weight", 4)
    tensors = {"x": x, "weight": weight}
    if bias is not None:
        tensors["bias"] = bias = _checked(bias, "bias", 1)
    _same_device(**tensors)
    stride, padding = _int(stride, "stride"), _int(padding, "padding")
    (n, c, h, w), (o, c_w, kh, kw) = x.shape, weight.shape
    if c_w != c:
        raise ValueError(
            f"weight's input channels differ from x's: x is {tuple(x.shape)} (n, c, h, w), "
            f"weight is {tuple(weight.shape)} (o, c, kh, kw)"
        )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    # Padding of a whole kernel side or more only adds outputs that see nothing but zeros.
    if not 0 <= padding < min(kh, kw):
        raise ValueError(
            f"padding must be in [0, {min(kh, kw)}) for a {kh}x{kw} kernel, got {padding}"
        )
    if h + 2 * padding < kh or w + 2 * padding < kw:
        raise ValueError(
            f"weight's kernel is larger than x padded by {padding}: weight is "
            f"{tuple(weight.shape)} (o, c, kh, kw), x is {tuple(x.shape)} (n, c, h, w)"
        )
    if bias is not None and bias.shape[0] != o:
        raise ValueError(
            f"bias must have one value per output channel: weight is {tuple(weight.shape)}, "
            f"bias is {tuple(bias.shape)}"
        )
    if o > 64 * 65535:  # the grid's y dimension, one block per 64 channels
        raise ValueError(f"weight must have at most {64 * 65535} output channels, got {o}")
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    module = _module_for("conv2d_nchw")
    with torch.cuda.device(x.device):
        out = torch.empty((n, o, oh, ow), dtype=torch.float32, device=x.device)
        module.conv2d_nchw(
            x.data_ptr(),
            weight.data_ptr(),
            0 if bias is None else bias.data_ptr(),
            out.data_ptr(),
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            stride,
            padding,
            _stream(x.device),
        )
    return out


__all__ = ["NO_DEVICE", "KernelBuildError", "attention", "conv2d", "matmul", "softmax"]
