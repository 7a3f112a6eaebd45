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
# # 04 Transformers: attention weights you can look at
#
# This notebook runs **your** `katas/04_transformers/attention.py` (open it with
# `kata notebook 04_transformers`). How it works:
#
# - The first cell calls `setup()`: `from attention import scaled_dot_product_attention` then
#   resolves exactly as in the tests - your stub by default, the reference with
#   `ML_REFRESHER_USE_REFERENCE=attention kata notebook 04_transformers`, or every kata with
#   `ML_REFRESHER_IMPL=solutions`.
# - A cell that reaches a function you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: two cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank); the cell after checks it and says "not done yet" while the blank is there.
#   With `ML_REFRESHER_IMPL=solutions` the check runs on the model answer in
#   `solutions/notebooks/04_transformers.py`: that is how CI executes every notebook, check
#   cells included (`pytest tests/test_notebooks.py`).

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import EXERCISE, check_exercise, save_figure, setup

setup("04_transformers")

import matplotlib.pyplot as plt
import torch

from ml_refresher.testing import assert_close, assert_equal

TOPIC = "04_transformers"
_ = torch.manual_seed(0)  # the random q, k, v below

# %% [markdown]
# ## Your attention, causal and with padding
#
# One sequence of 6 queries against 6 keys, the last two keys padding (mask False), causal on
# top. Every row sums to 1 over the keys it may see; the upper triangle and the padded columns
# must be exactly 0.

# %%
from attention import scaled_dot_product_attention

q, k, v = torch.randn(1, 1, 6, 8), torch.randn(1, 1, 6, 8), torch.randn(1, 1, 6, 8)
padding = torch.tensor([True, True, True, True, False, False])[None, None, None, :]
_, weights = scaled_dot_product_attention(q, k, v, mask=padding, causal=True)
fig, ax = plt.subplots(figsize=(3.6, 3.2))
ax.imshow(weights[0, 0].numpy(), cmap="viridis", vmin=0, vmax=1)
ax.set(xlabel="key", ylabel="query", title="causal + 2 padded keys")
plt.show()
print("row sums:", weights[0, 0].sum(-1).numpy().round(6))

# %% [markdown]
# ## A pretrained encoder: MiniLM's attention on one sentence
#
# all-MiniLM-L6-v2 (6 layers, 12 heads, shipped offline). Each panel is one head of the last
# layer: rows are the attending tokens, columns the attended ones. Look for heads that park their
# weight on [CLS], and heads where every token gathers on one content word ("mat", "tired").

# %%
from ml_refresher.data import load_pretrained_bert

tokenizer, bert = load_pretrained_bert()
bert.set_attn_implementation("eager")  # the fused kernel does not return the weights
batch = tokenizer("the cat sat on the mat because it was tired", return_tensors="pt")
with torch.no_grad():
    attentions = bert(**batch, output_attentions=True).attentions  # 6 x (1, 12, T, T)
tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
for ax, head in zip(axes, (0, 3, 6, 9), strict=True):
    ax.imshow(attentions[-1][0, head].numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
    ax.set_title(f"layer 6, head {head}")
fig.tight_layout()
save_figure(fig, "minilm_attention")  # docs/notebook_minilm_attention.png, when asked
plt.show()

# %% [markdown]
# ## Exercise 1: the causal mask
#
# `causal_mask(t, s)`: a (t, s) bool tensor, True where query i may attend key j, i.e. j <= i
# (top-left aligned, also when t != s).


# %%
def causal_mask(t: int, s: int) -> torch.Tensor:
    raise NotImplementedError(EXERCISE)


# %%
def check_causal_mask(causal_mask):
    expected = torch.tensor(
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool
    )  # by hand, t=3 queries, s=5 keys: not square, so a transposed mask has the wrong shape
    assert_equal(
        causal_mask(3, 5),
        expected,
        "causal_mask(3, 5)",
        hint="True = may attend; query i sees keys 0..i (torch.tril)",
    )


check_exercise(TOPIC, causal_mask, check_causal_mask)

# %% [markdown]
# ## Exercise 2: softmax with a mask, and a row that sees nothing
#
# `masked_softmax(scores, mask)`: softmax over the last axis of scores (..., s) where mask is
# True, exactly 0 where it is False; a row with no True gets all zeros, not NaN.


# %%
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError(EXERCISE)


# %%
def check_masked_softmax(masked_softmax):
    scores = torch.tensor([[0.0, torch.log(torch.tensor(3.0)), 5.0], [1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    # by hand: row 0 sees [1, 3] -> [1/4, 3/4, 0] (the 5.0 is hidden); row 1 sees nothing -> 0
    expected = torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]])
    assert_close(
        masked_softmax(scores, mask),
        expected,
        "masked_softmax",
        atol=1e-6,
        hint="fill hidden scores with -inf (mask False), softmax on dim=-1, NaN -> 0",
    )
    # float32: log(3) and the softmax each round at ~1e-7


check_exercise(TOPIC, masked_softmax, check_masked_softmax)
