"""Given: the input checks every launcher of this topic starts with (you do not write these).

A Triton kernel trusts its pointers completely: a float16 tensor passed where float32 was meant,
a CPU tensor on a GPU or a shape that does not agree is read as whatever bytes lie there, with no
error. So each launcher checks its arguments in Python first, naming the argument that is wrong.

Where the tensors must live: with an NVIDIA GPU, Triton compiles the kernel and the tensors must
be CUDA tensors; without one, the project's pytest plugin sets TRITON_INTERPRET=1 and Triton's
interpreter runs the kernel on CPU tensors (see the lesson, "What the interpreter shows").
"""

from __future__ import annotations

import torch
import triton


def interpreting() -> bool:
    """True when Triton runs kernels through its interpreter (TRITON_INTERPRET=1) on CPU tensors."""
    return bool(triton.knobs.runtime.interpret)


def expected_device() -> str:
    """The device type the launchers accept: "cpu" under the interpreter, else "cuda"."""
    return "cpu" if interpreting() else "cuda"


def check_tensor(
    x, name: str, *, dtypes: tuple[torch.dtype, ...], ndim: int | None = None, min_ndim: int = 1
) -> None:
    """Raise TypeError/ValueError naming `name` unless x is a torch.Tensor of one of `dtypes`,
    with `ndim` dimensions (or at least `min_ndim`), none of them empty, on the device that
    Triton runs on here."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in dtypes:
        wanted = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(
            f"{name} must have dtype {wanted}, got {str(x.dtype).removeprefix('torch.')}"
        )
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(x.shape)}"
        )
    if 0 in x.shape:
        raise ValueError(f"{name} must not have an empty dimension, got shape {tuple(x.shape)}")
    device = expected_device()
    if x.device.type != device:
        where = (
            "Triton's interpreter (TRITON_INTERPRET=1) runs on CPU tensors"
            if device == "cpu"
            else "compiled Triton kernels run on the GPU: move it with .cuda()"
        )
        raise ValueError(f"{name} must be a {device} tensor, got one on {x.device} ({where})")


def check_same_device(**tensors: torch.Tensor) -> None:
    """Raise ValueError unless all tensors are on one device (cuda:0 and cuda:1 differ)."""
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listed = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise ValueError(f"all tensors must be on one device, got {listed}")
