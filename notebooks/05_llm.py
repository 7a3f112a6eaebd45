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
# # 05 LLMs: your GPT learns Shakespeare's letters, samples, and knows where it is
#
# This notebook runs **your** katas from `katas/05_llm/` (open it with `kata notebook 05_llm`).
# How it works:
#
# - The first cell calls `setup()`: `from gpt import GPT` then resolves exactly as in the tests -
#   your stub by default, the reference for some katas with
#   `ML_REFRESHER_USE_REFERENCE=gpt kata notebook 05_llm`, or every kata with
#   `ML_REFRESHER_IMPL=solutions`. The GPT is built on your attention from 04_transformers:
#   while that is unfinished, the GPT cells say so (`ML_REFRESHER_USE_REFERENCE=attention`).
# - A cell that reaches a function you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: two cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank); the cell after checks it and says "not done yet" while the blank is there.
#   With `ML_REFRESHER_IMPL=solutions` the check runs on the model answer in
#   `solutions/notebooks/05_llm.py`: that is how CI executes every notebook, check cells
#   included (`pytest tests/test_notebooks.py`).
#
# The training here lasts seconds, so the text it writes is only Shakespeare-shaped; the full
# runs (`kata train gpt`, minutes) and their figures are in the lesson. The masked-LM NER kata is
# not shown: its pre-training alone takes minutes (`kata train masked_lm_ner`).

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import EXERCISE, check_exercise, save_figure, setup

setup("05_llm")

import math
import time
import warnings

import matplotlib.pyplot as plt
import torch

from ml_refresher.data import load_tiny_shakespeare
from ml_refresher.testing import assert_close, assert_equal

TOPIC = "05_llm"
torch.set_num_threads(1)  # a small model on small batches: one thread wastes least on a shared box
_ = torch.manual_seed(0)
# tqdm's notebook progress bars need ipywidgets; without it tqdm warns and prints plain bars.
warnings.filterwarnings("ignore", message="IProgress not found")

# %% [markdown]
# ## Data: characters of Tiny Shakespeare
#
# The first 200,000 characters, one token per character (the letters and signs of the text plus
# the five specials of every Vocabulary); the first 90% to train on, 5,000 characters of the rest to
# validate. A model that knows nothing gives every token the same probability: perplexity = the
# vocabulary size, the dashed line in the plot below.

# %%
from gpt_helpers import GPTConfig, char_vocabulary

text = load_tiny_shakespeare()[:200_000]
vocabulary = char_vocabulary(text)
ids = torch.tensor(vocabulary.encode(list(text)), dtype=torch.int64)
split = int(0.9 * len(ids))
train_ids, valid_ids = ids[:split], ids[split : split + 5000]
print(f"{len(vocabulary)} tokens; {len(train_ids):,} training characters")
print(repr(text[:80]))

# %% [markdown]
# ## Training for a few seconds: loss and perplexity; then sampling
#
# Your GPT (2 layers, 4 heads, d = 64, context 32) under the given `train_lm`: AdamW, warm-up then
# cosine decay, gradient clipping, and the validation perplexity exp(mean cross-entropy) every
# 50 steps. Perplexity is "as unsure as a uniform choice among that many characters".
#
# Then sampling from it, with and without the KV cache. Greedy decoding (temperature 0) with the
# cache must give exactly the tokens of the slow path that recomputes the whole context each
# step. Greedy text soon falls into a loop (always the likeliest next character: "the the the");
# a sample at temperature 0.8 from the 20 likeliest characters does not. A few seconds of
# training teach spelling and line breaks; words come later.

# %%
from gpt import GPT, generate
from train_gpt import train_lm

model = GPT(GPTConfig(len(vocabulary), block_size=32, n_layer=2, n_head=4, n_embd=64))
start = time.perf_counter()
history = train_lm(
    model, train_ids, valid_ids, max_steps=300, batch_size=16, lr=3e-3, warmup_steps=20,
    eval_every=50, seed=0,
)  # fmt: skip
print(f"300 steps in {time.perf_counter() - start:.1f} s")

steps, train_loss = zip(*history.series["train_loss"], strict=True)
eval_steps, valid_ppl = zip(*history.series["valid_perplexity"], strict=True)
print(f"validation perplexity {valid_ppl[0]:.1f} -> {valid_ppl[-1]:.1f}")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].plot(steps, train_loss, lw=0.8, label="train (each batch)")
axes[0].plot(eval_steps, [math.log(p) for p in valid_ppl], "o-", label="validation")
axes[0].axhline(math.log(len(vocabulary)), color="grey", ls="--", lw=1)  # uniform: ln V
axes[0].set(xlabel="step", ylabel="cross-entropy (nats per character)", title="loss")
axes[0].legend()
axes[1].plot(eval_steps, valid_ppl, "o-", color="C1")
axes[1].axhline(len(vocabulary), color="grey", ls="--", lw=1)
axes[1].set(xlabel="step", ylabel="perplexity", ylim=(0, None), title="validation perplexity")
fig.tight_layout()
save_figure(fig, "gpt_curves")  # docs/notebook_gpt_curves.png, when asked
plt.show()

prompt = valid_ids[None, :16]
greedy = {}
for use_cache in (True, False):
    start = time.perf_counter()
    greedy[use_cache] = generate(model, prompt, 16, temperature=0.0, use_cache=use_cache)
    print(f"greedy, use_cache={use_cache}: {time.perf_counter() - start:.3f} s")
assert_equal(greedy[True], greedy[False], "greedy tokens with and without the KV cache")
print(repr("".join(vocabulary.decode(greedy[True][0].tolist()))))

generator = torch.Generator().manual_seed(0)
sample = generate(
    model, prompt, 200, temperature=0.8, top_k=20, use_cache=False, generator=generator
)  # 216 tokens > block_size 32: without the cache the context is cropped to the last 32
print("".join(vocabulary.decode(sample[0].tolist())))

# %% [markdown]
# ## Positional encodings: sinusoids, and what a dot product sees of them
#
# Left: `sinusoids(positions, 64)`, one row per position; each pair of columns is a sine and a
# cosine of one frequency, from one turn per 6 positions to one per 60,000. Middle: the dot
# product of position p's vector with every other's depends on the distance only (the same curve
# for p = 20 and p = 60): attention can read relative positions from absolute ones. Right: RoPE
# rotates q and k by their positions, so q_i . k_j depends on i - j alone: a constant along each
# diagonal.

# %%
from positional_encodings import RotaryPositions, sinusoids

positions = torch.arange(128)
table = sinusoids(positions, 64)
rope = RotaryPositions(head_dim=64)
vector = torch.randn(64)
rotated = rope.rotate(vector.expand(32, 64), torch.arange(32))  # the same q (and k) everywhere
scores = rotated @ rotated.T  # (32, 32): q_i . k_j

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
axes[0].imshow(table.numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set(xlabel="feature", ylabel="position", title="sinusoids(positions, d=64)")
for p in (20, 60):
    axes[1].plot(positions - p, table @ table[p], label=f"p = {p}")
axes[1].set(xlabel="distance j - p", ylabel="PE(p) . PE(j)", title="similarity by distance")
axes[1].legend()
axes[2].imshow(scores.numpy(), cmap="viridis")
axes[2].set(xlabel="key position j", ylabel="query position i", title="RoPE: q_i . k_j")
fig.tight_layout()
save_figure(fig, "positional_encodings")  # docs/notebook_positional_encodings.png, when asked
plt.show()
spread = max(float(scores.diagonal(d).std()) for d in range(-30, 31))  # float32 rounding only
print(f"RoPE scores range {scores.min():.1f}..{scores.max():.1f}; along a diagonal: +-{spread:.0e}")

# %% [markdown]
# ## Exercise 1: ALiBi's bias for one head
#
# `alibi_bias(t, slope)`: the (t, t) float tensor added to one head's causal attention scores:
# -slope * (i - j) for a key j <= i (older keys lose more), -inf for j > i (the future).


# %%
def alibi_bias(t: int, slope: float) -> torch.Tensor:
    raise NotImplementedError(EXERCISE)


# %%
def check_alibi_bias(alibi_bias):
    inf = float("inf")
    # by hand, slope 0.5: the diagonal is 0, one step back -0.5, two steps back -1
    expected = torch.tensor([[0.0, -inf, -inf], [-0.5, 0.0, -inf], [-1.0, -0.5, 0.0]])
    got = alibi_bias(3, 0.5)
    future = torch.ones(3, 3, dtype=torch.bool).triu(1)
    assert_equal(
        torch.as_tensor(got) == -inf, future, "alibi_bias(3, 0.5) == -inf", hint="mask j > i"
    )
    assert_close(
        got.masked_fill(future, 0.0),
        expected.masked_fill(future, 0.0),
        "alibi_bias(3, slope=0.5) for keys j <= i",
        atol=0,  # halves and wholes: exact in float32
        hint="distance = i - j (rows are queries, columns keys), times -slope",
    )


check_exercise(TOPIC, alibi_bias, check_alibi_bias)

# %% [markdown]
# ## Exercise 2: top-k sampling's distribution
#
# `top_k_probs(logits, k)`: for logits (V,), the probabilities that top-k sampling draws from:
# softmax over the k largest logits, exactly 0 for the others.


# %%
def top_k_probs(logits: torch.Tensor, k: int) -> torch.Tensor:
    raise NotImplementedError(EXERCISE)


# %%
def check_top_k_probs(top_k_probs):
    logits = torch.log(torch.tensor([1.0, 4.0, 2.0, 3.0]))
    # by hand: the two largest are 4 and 3 (positions 1 and 3) -> 4/7 and 3/7, in place
    expected = torch.tensor([0.0, 4 / 7, 0.0, 3 / 7])
    assert_close(
        top_k_probs(logits, 2),
        expected,
        "top_k_probs(log [1, 4, 2, 3], k=2)",
        atol=1e-6,  # float32 log and exp
        hint="torch.topk, then -inf for every other logit before the softmax",
    )


check_exercise(TOPIC, top_k_probs, check_top_k_probs)
