# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 GPU kernels: your Triton kernels against torch, and the online softmax up close
#
# This notebook runs **your** Triton katas from `katas/07_gpu_kernels/` (open it with
# `kata notebook 07_gpu_kernels`). How it works:
#
# - The first cell calls `setup()`: `from triton_softmax import softmax` then resolves exactly as
#   in the tests - your stub by default, the reference for some katas with
#   `ML_REFRESHER_USE_REFERENCE=triton_softmax kata notebook 07_gpu_kernels`, or every kata with
#   `ML_REFRESHER_IMPL=solutions`.
# - **Without an NVIDIA GPU** the same cell sets `TRITON_INTERPRET=1`, as the tests do: Triton
#   then runs each kernel through its interpreter, one program after another, on CPU tensors.
#   That shows whether a kernel is *correct* (indices, masks, the online-softmax algebra), not
#   whether it is fast; hence the tiny shapes. It must happen before the first kernel is defined:
#   after changing it, restart the kernel. With a GPU the kernels are compiled and take CUDA
#   tensors. Triton itself installs on Linux x86-64 only (`pip install -e '.[gpu]'`).
# - A cell that reaches a function you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: two cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank); the cell after checks it and says "not done yet" while the blank is there.
#   With `ML_REFRESHER_IMPL=solutions` the check runs on the model answer in
#   `solutions/notebooks/07_gpu_kernels.py`: that is how CI executes every notebook, check cells
#   included (`pytest tests/test_notebooks.py`).
#
# **The CUDA katas** (`cuda_*`, `kernels/cuda/*.cu`) are not in this notebook: CUDA C++ has no
# interpreter, so they run only on an NVIDIA GPU with a CUDA build of torch. There,
# `pytest katas/07_gpu_kernels -k cuda` tests them; elsewhere the board lists them as "not run:
# needs an NVIDIA GPU".

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import (
    EXERCISE,
    check_exercise,
    save_figure,
    setup,
    unfinished_line,
    use_triton_interpreter_without_gpu,
)

setup("07_gpu_kernels")
INTERPRETED = use_triton_interpreter_without_gpu()  # before triton is imported

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from triton_checks import expected_device

from ml_refresher.testing import assert_close

TOPIC = "07_gpu_kernels"
DEVICE = expected_device()  # "cpu" under the interpreter, "cuda" compiled
torch.set_num_threads(1)
print("Triton", triton.__version__, "interpreted on CPU" if INTERPRETED else "compiled for the GPU")


def rand(*shape, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).to(DEVICE, dtype)


def agreement(kernel, case, got, expected, atol, rtol):
    """One row of the agreement table; assert_close stops the cell with details if it fails."""
    assert_close(got, expected, f"{kernel} {case}", atol=atol, rtol=rtol)
    error = (got.cpu().double() - expected.cpu().double()).abs().max().item()
    print(f"{kernel:>16} {case:<34} {error:10.1e} {atol:8.0e} {rtol:6.0e}  ok")


print(f"{'kernel':>16} {'case':<34} {'max |err|':>10} {'atol':>8} {'rtol':>6}")

# %% [markdown]
# ## Correct first: each kernel against torch
#
# Shapes that are not multiples of the blocks (37, 53, 70, 100) exercise the masks; float16
# inputs check the float32 accumulator. The tolerances are the tests' (README, "Tests and
# tolerances"): a few ulp of float32 for softmax and layer norm, summation order for matmul,
# half a float16 ulp for float16 outputs. Each line is one `assert_close`.

# %%
from triton_softmax import softmax

x = rand(5, 77) * 30
agreement("softmax", "5 x 77, logits up to ~100", softmax(x), torch.softmax(x, -1), 1e-7, 1e-5)
x = rand(3, 1000, seed=1)  # BLOCK = 1024: 24 lanes of each row are masked
agreement("softmax", "3 x 1000", softmax(x), torch.softmax(x, -1), 1e-7, 1e-5)

# %%
from triton_matmul import matmul

a, b = rand(37, 19), rand(19, 53, seed=1)
agreement("matmul", "37x19 @ 19x53 float32", matmul(a, b), a.double() @ b.double(), 1e-4, 1e-4)
a, b = rand(70, 40, dtype=torch.float16), rand(40, 33, seed=1, dtype=torch.float16)
agreement(
    "matmul", "70x40 @ 40x33 float16", matmul(a, b), (a.double() @ b.double()).half(), 0, 1e-3
)

# %%
from triton_layernorm import layer_norm

x, w, bias = rand(4, 100), rand(100, seed=1), rand(100, seed=2)
expected = F.layer_norm(x.double(), (100,), w.double(), bias.double())
agreement("layer_norm", "4 x 100 float32", layer_norm(x, w, bias), expected, 1e-5, 1e-5)

# %%
from triton_flash_attention import attention

q, k, v = rand(1, 2, 70, 20), rand(1, 2, 70, 20, seed=1), rand(1, 2, 70, 20, seed=2)
for causal in (False, True):
    expected = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)
    case = f"(1, 2, 70, 20){' causal' if causal else ''}"
    agreement("flash_attention", case, attention(q, k, v, causal=causal), expected, 2e-5, 1e-5)

# %% [markdown]
# ## The online softmax, block by block, for one query row
#
# Flash attention never holds a query's row of scores: it walks the keys in blocks of
# `BLOCK_N` = 32 and keeps three things per row - the running max m, the running sum
# l = sum exp(s - m) and the running output acc = sum exp(s - m) v. When a block brings a larger
# score, m jumps and the old l and acc are multiplied by exp(m_old - m_new) < 1 before the block
# is added. This cell replays the kernel's arithmetic for one row of 160 keys (5 blocks) in
# float64; one key of the fourth block (key 100) is made to match the query, so the max jumps
# there and everything summed before it is scaled down by about e^-9.

# %%
from triton_flash_attention import BLOCK_N

d, s = 16, 160
q_row = rand(1, 1, 1, d, seed=3) * 2
keys, values = rand(1, 1, s, d, seed=4), rand(1, 1, s, d, seed=5)
keys[0, 0, 100] = q_row[0, 0, 0] * 1.5  # the fourth block holds the best match
q64, k64, v64 = (t[0, 0].cpu().double() for t in (q_row, keys, values))  # the replay: float64
scores = k64 @ q64[0] / math.sqrt(d)  # (s,)

m, l, acc = -math.inf, 0.0, torch.zeros(d, dtype=torch.float64)
trace = []  # (block end, m, l, rescale factor)
for start in range(0, s, BLOCK_N):
    block = scores[start : start + BLOCK_N]
    m_new = max(m, block.max().item())
    rescale = math.exp(m - m_new)  # exp(-inf) = 0 on the first block: nothing to rescale
    p = torch.exp(block - m_new)
    l = l * rescale + p.sum().item()
    acc = acc * rescale + p @ v64[start : start + BLOCK_N]
    m = m_new
    trace.append((start + len(block), m, l, rescale))
replayed = acc / l

ends, ms, ls, rescales = zip(*trace, strict=True)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
axes[0].plot(scores.numpy(), ".", ms=3, color="grey", label="score q . k_j / sqrt(d)")
axes[0].step([0, *ends], [ms[0], *ms], where="pre", color="C3", label="running max m")
for end in ends[:-1]:
    axes[0].axvline(end, color="k", lw=0.5, ls=":")
axes[0].set(xlabel="key j (dotted: block boundaries)", title="scores and the running max")
axes[0].legend(fontsize=8)
block_index = np.arange(1, len(ends) + 1)
axes[1].plot(block_index, ls, "o-", label="running sum l")
# (no rescale after block 1: nothing was summed before it)
axes[1].plot(block_index[1:], rescales[1:], "s--", label="rescale exp(m_old - m_new)")
axes[1].axhline(torch.exp(scores - scores.max()).sum().item(), color="grey", ls=":", lw=1)
axes[1].set(xlabel="after block", yscale="log", title="l and its rescaling (dotted: final l)")
axes[1].set_xticks(block_index)
axes[1].legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "online_softmax")  # docs/notebook_online_softmax.png, when asked
plt.show()
full = torch.softmax(scores, 0) @ v64
print(f"replayed online softmax vs full softmax: max |err| {(replayed - full).abs().max():.1e}")

# %% [markdown]
# The same row through your kernel, which does this arithmetic in float32:

# %%
agreement(
    "flash_attention", "1 query, 160 keys (5 blocks)", attention(q_row, keys, values)[0, 0, 0],
    full, 2e-5, 1e-5,
)  # fmt: skip

# %% [markdown]
# ## Then fast: speed against torch, on a GPU only
#
# Under the interpreter a timing means nothing (programs run one after another in Python), so
# this cell only draws its bar chart on a machine with an NVIDIA GPU: each kernel's time with
# `triton.testing.do_bench` as a ratio to torch's (above 1: faster than torch) at sizes where a
# GPU is busy. Without a GPU it says so and draws nothing.

# %%
if INTERPRETED:
    print("no GPU here: Triton is interpreted, so there is no speed to measure")
else:
    half = dict(dtype=torch.float16)
    x = rand(8192, 1024)
    a, b = rand(2048, 2048, **half), rand(2048, 2048, seed=1, **half)
    xl, wl, bl = rand(8192, 1024), rand(1024, seed=1), rand(1024, seed=2)
    qb, kb, vb = (rand(4, 16, 1024, 64, seed=i) for i in range(3))
    cases = [
        ("softmax 8192x1024", lambda: softmax(x), lambda: torch.softmax(x, -1)),
        ("matmul 2048^3 fp16", lambda: matmul(a, b), lambda: a @ b),
        (
            "layer_norm 8192x1024",
            lambda: layer_norm(xl, wl, bl),
            lambda: F.layer_norm(xl, (1024,), wl, bl),
        ),
        (
            "attention causal T=1024",
            lambda: attention(qb, kb, vb, causal=True),
            lambda: F.scaled_dot_product_attention(qb, kb, vb, is_causal=True),
        ),
    ]
    names, ratios = [], []
    for name, ours, theirs in cases:
        try:
            ours_ms, torch_ms = triton.testing.do_bench(ours), triton.testing.do_bench(theirs)
        except NotImplementedError as error:
            print(f"{name}: {unfinished_line(error)}")
            continue
        print(f"{name:>24}: yours {ours_ms:.3f} ms, torch {torch_ms:.3f} ms")
        names.append(name)
        ratios.append(torch_ms / ours_ms)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh(names, ratios)
    ax.axvline(1.0, color="k", lw=1)
    ax.set(xlabel="speed vs torch (torch time / your time)", title=torch.cuda.get_device_name())
    fig.tight_layout()
    save_figure(fig, "triton_speed")  # docs/notebook_triton_speed.png, when asked
    plt.show()

# %% [markdown]
# ## Exercise 1: your first Triton kernel, out = x + alpha * y
#
# Write the kernel and its launcher for 1-D float32 tensors of any length n: program `pid`
# handles elements pid * BLOCK ... pid * BLOCK + BLOCK - 1; the last block is partly past the
# end, so mask its loads and its store (offsets < n). Launch `triton.cdiv(n, BLOCK)` programs
# with BLOCK = 256, on tensors of `DEVICE`.


# %%
@triton.jit
def add_scaled_kernel(x_ptr, y_ptr, out_ptr, n, alpha, BLOCK: tl.constexpr):
    """Write out[i] = x[i] + alpha * y[i] for this program's BLOCK elements."""


def add_scaled(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    raise NotImplementedError(EXERCISE)


# %%
def check_add_scaled(add_scaled):
    # by hand: [1, 2, 3] + 10 * [1, 1, 1] = [11, 12, 13] (3 elements: 253 lanes masked)
    ones = torch.ones(3, device=DEVICE)
    assert_close(
        add_scaled(torch.tensor([1.0, 2.0, 3.0], device=DEVICE), ones, 10.0),
        [11.0, 12.0, 13.0],
        "add_scaled([1, 2, 3], [1, 1, 1], 10)",
        atol=0,  # small integers: exact
        hint="offsets = pid * BLOCK + tl.arange(0, BLOCK); mask = offsets < n",
    )
    x, y = rand(1000), rand(1000, seed=1)  # 4 programs, the last one with 24 lanes in use
    assert_close(
        add_scaled(x, y, -0.5),
        x - 0.5 * y,
        "add_scaled, n=1000 (not a multiple of 256)",
        atol=1e-6,  # one float32 multiply-add: torch may fuse it, Triton may not
        hint="grid = (triton.cdiv(n, BLOCK),): one program per block, the last one masked",
    )


check_exercise(TOPIC, add_scaled, check_add_scaled)

# %% [markdown]
# ## Exercise 2: merging two halves of an online softmax
#
# Two programs each walked half of a row's scores and kept (m, l): the max of their half and
# l = sum exp(s - m) over it. `merge_softmax_stats(m1, l1, m2, l2)` returns the (m, l) of the
# whole row, without the scores (this is how split-K "flash decoding" combines its pieces).


# %%
def merge_softmax_stats(m1: float, l1: float, m2: float, l2: float) -> tuple[float, float]:
    raise NotImplementedError(EXERCISE)


# %%
def check_merge_softmax_stats(merge_softmax_stats):
    first, second = np.array([1.0, 3.0]), np.array([2.0, 7.0, 0.0])
    # by hand: m1 = 3, l1 = e^-2 + 1; m2 = 7, l2 = e^-5 + 1 + e^-7; the whole row: m = 7,
    # l = sum exp(s - 7) = e^-6 + e^-4 + e^-5 + 1 + e^-7
    m1, l1 = 3.0, np.exp(first - 3.0).sum()
    m2, l2 = 7.0, np.exp(second - 7.0).sum()
    expected = [7.0, np.exp(np.r_[first, second] - 7.0).sum()]
    assert_close(
        merge_softmax_stats(m1, l1, m2, l2),
        expected,
        "merge_softmax_stats(3, l1, 7, l2)",
        atol=1e-12,  # float64 rounding only
        hint="m = max(m1, m2); rescale each l by exp(m_i - m) before adding",
    )
    assert_close(
        merge_softmax_stats(m2, l2, m1, l1), expected, "merge_softmax_stats, halves swapped",
        atol=1e-12, hint="the order of the halves must not matter",
    )  # fmt: skip


check_exercise(TOPIC, merge_softmax_stats, check_merge_softmax_stats)
