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
# # 06 Kernels in C++: your kernels against torch
#
# This notebook calls **your** kernels in `kernels/*.cpp` through `ml_refresher.kernels` (open it
# with `kata notebook 06_kernels`; an edited kernel is rebuilt on the next call, after a kernel
# restart). How it works:
#
# - The first cell calls `setup()`: each kernel resolves exactly as in the tests - yours by
#   default, the reference for some with `ML_REFRESHER_USE_REFERENCE=matmul kata notebook
#   06_kernels`, or all with `ML_REFRESHER_IMPL=solutions`.
# - A cell that reaches a kernel you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: two cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank); the cell after checks it and says "not done yet" while the blank is there.
#   With `ML_REFRESHER_IMPL=solutions` the check runs on the model answer in
#   `solutions/notebooks/06_kernels.py`: that is how CI executes every notebook, check cells
#   included (`pytest tests/test_notebooks.py`).
#
# The timings here are a glance (a few rounds, small sizes); `kata bench` is the measurement.

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import EXERCISE, check_exercise, save_figure, setup

setup("06_kernels")

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ml_refresher import bench, kernels
from ml_refresher.testing import assert_close

TOPIC = "06_kernels"
CALL_BUDGET = 0.2  # seconds a call may take before the larger sizes are skipped (bench's ladder)
torch.set_num_threads(1)  # one thread each: ours is called with threads=1 too


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def best_seconds(call, rounds=5):
    """Best of a few rounds after one warm-up call (fewer rounds when a call is slow)."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = []
    for _ in range(bench.rounds_for(first, rounds, CALL_BUDGET)):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


# %% [markdown]
# ## Correct first: each kernel against torch on an awkward shape
#
# Shapes that are not multiples of any tile (37, 19, 53) catch the edge cases of a blocked kernel.

# %%
a, b = rand(37, 19), rand(19, 53, seed=1)
assert_close(
    kernels.matmul(a, b, threads=1), a @ b, "matmul 37x19 @ 19x53", atol=1e-4, rtol=1e-4
)  # float32, sums of 19 products: a few ulps of reordering
print("matmul: agrees with numpy")

# %%
x = rand(5, 77) * 30
assert_close(
    kernels.softmax(x, threads=1),
    torch.softmax(torch.from_numpy(x), -1),
    "softmax 5x77",
    atol=1e-6,
    rtol=1e-4,
)  # float32 exp and division
print("softmax: agrees with torch")

# %%
q, k, v = rand(1, 2, 13, 8), rand(1, 2, 21, 8, seed=1), rand(1, 2, 21, 8, seed=2)
expected = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)))
assert_close(
    kernels.attention(q, k, v, threads=1), expected, "attention t=13 s=21", atol=1e-5, rtol=1e-4
)  # float32 online softmax vs torch's one-pass softmax
print("attention: agrees with torch SDPA")

# %%
xc, wc, bc = rand(2, 3, 11, 9), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)
expected = F.conv2d(*map(torch.from_numpy, (xc, wc, bc)), padding=1)
assert_close(
    kernels.conv2d(xc, wc, bc, padding=1, threads=1),
    expected,
    "conv2d 11x9 pad 1",
    atol=1e-4,
    rtol=1e-4,
)  # float32 sums of 27 products
print("conv2d: agrees with torch")

# %% [markdown]
# ## Then fast: GFLOP/s of matmul, yours against torch, one thread
#
# Each size is timed only if the previous one was quick (`bench.size_skip_reason`, the ladder of
# `kata bench`), so an unoptimised triple loop does not stall the notebook.

# %%
rows, previous = [], []
for n in (64, 128, 256):
    flops = 2.0 * n**3
    reason = bench.size_skip_reason(previous, flops, CALL_BUDGET)
    if reason:
        print(f"matmul {n}: {reason}")
        continue
    a, b = rand(n, n), rand(n, n, seed=1)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ours = best_seconds(lambda a=a, b=b: kernels.matmul(a, b, threads=1))
    theirs = best_seconds(lambda ta=ta, tb=tb: ta @ tb)
    previous.append((str(n), flops, ours))
    rows.append((n, flops / ours / 1e9, flops / theirs / 1e9))
    print(f"matmul {n}: ours {flops / ours / 1e9:6.1f} GFLOP/s, torch {flops / theirs / 1e9:6.1f}")

sizes, ours_rate, torch_rate = zip(*rows, strict=True)
fig, ax = plt.subplots(figsize=(6, 3.2))
where = np.arange(len(sizes))
ax.bar(where - 0.2, ours_rate, 0.4, label="your matmul")
ax.bar(where + 0.2, torch_rate, 0.4, label="torch.matmul")
ax.set(
    xticks=where,
    xticklabels=[f"{n}x{n}" for n in sizes],
    ylabel="GFLOP/s (1 thread)",
    title="matmul, one thread (a shared machine: a glance, not a benchmark)",
)
ax.legend()
fig.tight_layout()
save_figure(fig, "kernels_matmul")  # docs/notebook_kernels_matmul.png, when asked
plt.show()

# %% [markdown]
# ## Exercise 1: im2col
#
# conv2d becomes one matmul once the input is unrolled: for one image x (c, h, w), a kernel of
# kh x kw, stride 1 and zero padding p, build the (c*kh*kw, oh*ow) matrix whose column
# `y*ow + x` holds the inputs that output pixel (y, x) sees, row `(ci*kh + dy)*kw + dx` - the order
# of `weight.reshape(o, -1)`. Then `out = weight.reshape(o, -1) @ cols`.


# %%
def im2col(x: np.ndarray, kh: int, kw: int, padding: int) -> np.ndarray:
    raise NotImplementedError(EXERCISE)


# %%
def check_im2col(im2col):
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # c=2, h=3, w=4: not square
    cols = im2col(x, 2, 3, 1)
    # by hand: oh = 3 + 2 - 2 + 1 = 4, ow = 4 + 2 - 3 + 1 = 4; output pixel (0, 0) sees the
    # padded corner: row dy=0 is all padding, row dy=1 is [0, x[c,0,0], x[c,0,1]]
    assert_close(cols.shape, (2 * 2 * 3, 16), "im2col shape (c*kh*kw, oh*ow)", atol=0)
    assert_close(
        cols[:, 0],
        [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 12, 13],
        "im2col column 0",
        atol=0,
        hint="row (ci*kh + dy)*kw + dx; positions outside the image are 0",
    )
    w = np.random.default_rng(0).standard_normal((5, 2, 2, 3)).astype(np.float32)
    out = (w.reshape(5, -1) @ cols).reshape(5, 4, 4)
    expected = F.conv2d(torch.from_numpy(x[None]), torch.from_numpy(w), padding=1)[0]
    assert_close(
        out, expected, "weight @ im2col vs torch conv2d", atol=1e-4, rtol=1e-5
    )  # float32 sums of 12 products of values up to 23


check_exercise(TOPIC, im2col, check_im2col)

# %% [markdown]
# ## Exercise 2: the online softmax of flash attention
#
# Walk the scores of one query row in tiles, keeping only m (the max so far) and l (the sum of
# exp(score - m)). Return (m, l) at the end; then softmax(s)_j = exp(s_j - m) / l.


# %%
def online_softmax_stats(scores: np.ndarray, tile: int) -> tuple[float, float]:
    raise NotImplementedError(EXERCISE)


# %%
def check_online_softmax_stats(online_softmax_stats):
    scores = np.array([1.0, 3.0, 2.0, 7.0, 0.0])  # the max arrives in the second tile
    m, l = online_softmax_stats(scores, tile=2)
    expected_l = np.exp(scores - 7.0).sum()  # by hand: e^-6 + e^-4 + e^-5 + 1 + e^-7
    assert_close(
        [m, l],
        [7.0, expected_l],
        "online softmax (m, l), tiles of 2",
        atol=1e-12,
        hint="when the max rises, multiply l by exp(m_old - m_new) first",
    )


check_exercise(TOPIC, online_softmax_stats, check_online_softmax_stats)
