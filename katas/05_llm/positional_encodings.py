"""Kata 05_llm/positional_encodings: five ways for your GPT to know where a token is, each a
gpt_helpers.PositionalScheme: none (NoPE), learned absolute (the gpt kata's LearnedPositions),
sinusoidal (Vaswani et al. 2017), rotary (RoPE, Su et al. 2021) and ALiBi (Press et al. 2022),
and build_gpt, which puts one of them into a GPT.

Lesson: katas/05_llm/README.md, section "Positional encodings compared".
Run the tests:  pytest katas/05_llm/test_positional_encodings.py
Builds on your gpt kata (GPT, LearnedPositions), which builds on your attention kata; to run this
kata on their references:
    ML_REFRESHER_USE_REFERENCE=attention,gpt pytest katas/05_llm/test_positional_encodings.py
Shapes: T query positions, S key positions (S = cache length + T with a KV cache), H heads,
D = head_dim = n_embd / n_head; positions are int64 (T,) absolute positions.

How a GPT uses a scheme (gpt_helpers.PositionalScheme; your GPT already calls all three):
    x = wte(idx) + scheme.embed(positions)              absolute schemes; None adds nothing
    q, k = scheme.rotate(q, positions), scheme.rotate(k, positions)   in every layer (RoPE)
    scores = q k^T / sqrt(D) + scheme.score_bias(q_positions, k_positions)          (ALiBi)

The study comparing the schemes (`kata train positional_encodings`) is given, complete, in
train_positional_encodings.py.
"""

from __future__ import annotations

import dataclasses  # noqa: F401 (yours to use)
import math  # noqa: F401 (yours to use)

import torch  # noqa: F401 (yours to use)
from gpt import GPT, LearnedPositions  # noqa: F401 (your gpt kata)
from gpt_helpers import GPTConfig, PositionalScheme
from torch import Tensor

SCHEMES = ("none", "learned", "sinusoidal", "rope", "alibi")


class NoPositions(PositionalScheme):
    """NoPE: no position information at all; the base class's do-nothing methods are the scheme.
    (Given: there is nothing to write. Causal attention can still infer positions; the tests
    show how.)"""


# ----------------------------------------------------------------------------------------------
# Sinusoidal (Vaswani et al. 2017)


def sinusoids(positions: Tensor, d: int, base: float = 10000.0) -> Tensor:
    """The sinusoidal table at the given positions: for p = positions[t] and i = 0 .. d/2 - 1,
        PE[t, 2i] = sin(p / base^(2i/d)),   PE[t, 2i + 1] = cos(p / base^(2i/d)).
    positions int64 (T,) (any values: no table to run out of), d even -> (T, d) float32.
    ValueError naming d for an odd d, naming positions for anything but int64 (T,)."""
    raise NotImplementedError("katas/05_llm/positional_encodings.py: write sinusoids()")


class SinusoidalPositions(PositionalScheme):
    """The sinusoidal absolute scheme: embed(positions) = scale * sinusoids(positions, n_embd,
    base), scale = 1 / sqrt(n_embd) by default (each position's vector then has norm sqrt(1/2),
    a few times a 0.02-std token embedding's, instead of sqrt(n_embd / 2)). No parameters.
    Keep n_embd, base and scale as attributes; ValueError naming n_embd if it is odd."""

    def __init__(self, n_embd: int, base: float = 10000.0, scale: float | None = None):
        super().__init__()
        raise NotImplementedError(
            "katas/05_llm/positional_encodings.py: write SinusoidalPositions.__init__()"
        )

    def embed(self, positions: Tensor) -> Tensor:
        """positions int64 (T,) -> (T, n_embd), on positions' device."""
        raise NotImplementedError(
            "katas/05_llm/positional_encodings.py: write SinusoidalPositions.embed()"
        )


# ----------------------------------------------------------------------------------------------
# Rotary (Su et al. 2021), in Hugging Face Llama's half-split layout


def rope_frequencies(head_dim: int, base: float = 10000.0) -> Tensor:
    """theta_i = base^(-2i / head_dim) for i = 0 .. head_dim/2 - 1 -> (head_dim/2,) float32.
    ValueError naming head_dim if it is odd."""
    raise NotImplementedError("katas/05_llm/positional_encodings.py: write rope_frequencies()")


def rotate_half(x: Tensor) -> Tensor:
    """Half-split pairing: feature i pairs with feature i + D/2. With x1, x2 the two halves of
    the last axis, returns cat(-x2, x1): each pair (a, b) turned by 90 degrees to (-b, a).
    x (..., D) -> (..., D)."""
    raise NotImplementedError("katas/05_llm/positional_encodings.py: write rotate_half()")


class RotaryPositions(PositionalScheme):
    """RoPE: rotate(x, positions) turns pair i of the vector at position m by the angle
    m * theta_i:
        rotate(x, m) = x * cos(m theta) + rotate_half(x) * sin(m theta),
    with theta = rope_frequencies(head_dim, base) repeated twice, [theta, theta] (D,), so that
    features i and i + D/2 share one angle. Then q_m . k_n depends on m - n only.
    Keep head_dim as an attribute and theta as a buffer self.inv_freq (not a parameter:
    register_buffer(..., persistent=False))."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        raise NotImplementedError(
            "katas/05_llm/positional_encodings.py: write RotaryPositions.__init__()"
        )

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """x (B, H, T, D) (any leading axes), positions int64 (T,): the absolute position of
        each of the T rows (with a KV cache they start at the cache's length) -> x's shape.
        ValueError naming x if its last two axes are not (len(positions), head_dim)."""
        raise NotImplementedError(
            "katas/05_llm/positional_encodings.py: write RotaryPositions.rotate()"
        )


# ----------------------------------------------------------------------------------------------
# ALiBi (Press et al. 2022)


def alibi_slopes(n_heads: int) -> Tensor:
    """One slope per head (H,) float32. For n a power of two, the geometric sequence
    2^(-8/n), 2^(-16/n), ..., 2^(-8) (8 heads: 1/2, 1/4, ..., 1/256). Otherwise the paper's
    rule: the slopes of the closest power of two below n, m = 2^floor(log2 n), followed by the
    first n - m of every other slope (indices 0, 2, 4, ...) of the power 2m.
    ValueError naming n_heads if it is < 1."""
    raise NotImplementedError("katas/05_llm/positional_encodings.py: write alibi_slopes()")


class ALiBi(PositionalScheme):
    """ALiBi: score_bias adds -slope_h * (i - j) to the score of query position i for key
    position j in head h: a key d positions back loses slope * d, in every layer.
    Keep the slopes as a buffer self.slopes (H,) (register_buffer(..., persistent=False))."""

    def __init__(self, n_heads: int):
        super().__init__()
        raise NotImplementedError("katas/05_llm/positional_encodings.py: write ALiBi.__init__()")

    def score_bias(self, q_positions: Tensor, k_positions: Tensor) -> Tensor:
        """q_positions int64 (T,), k_positions int64 (S,), absolute positions (with a KV cache
        the queries start at the cache's length, the keys at 0) -> bias (H, T, S) =
        -slope_h * (q_positions[t] - k_positions[s]), the signed distance for every pair
        (future keys, which the causal mask hides, get a positive bias)."""
        raise NotImplementedError("katas/05_llm/positional_encodings.py: write ALiBi.score_bias()")


# ----------------------------------------------------------------------------------------------
# The GPT with a scheme


def build_gpt(config: GPTConfig, scheme: str) -> GPT:
    """A GPT(config', positional=...) with config' = config with positional=scheme, for scheme
    in SCHEMES: "none" NoPositions(), "learned" LearnedPositions(block_size, n_embd) (your gpt
    kata's), "sinusoidal" SinusoidalPositions(n_embd), "rope" RotaryPositions(n_embd // n_head)
    (one rotation per head), "alibi" ALiBi(n_head). An unknown scheme is a ValueError that
    lists the valid ones."""
    raise NotImplementedError("katas/05_llm/positional_encodings.py: write build_gpt()")
