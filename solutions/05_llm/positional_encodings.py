"""Reference: interchangeable positional schemes for the GPT (none, learned absolute, sinusoidal,
rotary, ALiBi) and build_gpt, which assembles a GPT with one of them. The study that compares them
is given in katas/05_llm/train_positional_encodings.py."""

from __future__ import annotations

import dataclasses
import math

import torch
from gpt import GPT, LearnedPositions
from gpt_helpers import GPTConfig, PositionalScheme
from torch import Tensor

SCHEMES = ("none", "learned", "sinusoidal", "rope", "alibi")


class NoPositions(PositionalScheme):
    """NoPE: no position information at all; the base class's do-nothing methods are the scheme."""


def _check_positions(positions: Tensor, name: str = "positions") -> None:
    if positions.ndim != 1 or positions.dtype != torch.int64:
        raise ValueError(
            f"{name} must be int64 (T,), got {positions.dtype} {tuple(positions.shape)}"
        )


# ----------------------------------------------------------------------------------------------
# Sinusoidal (Vaswani et al. 2017)


def sinusoids(positions: Tensor, d: int, base: float = 10000.0) -> Tensor:
    if d < 2 or d % 2:
        raise ValueError(f"d must be even and >= 2 (sin and cos come in pairs), got {d}")
    _check_positions(positions)
    # Pair i has the frequency base^(-2i/d): wavelengths from 2 pi (i = 0) to about 2 pi * base.
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, d/2)
    table = torch.empty(len(positions), d)
    table[:, 0::2] = torch.sin(angles)  # even features: sin
    table[:, 1::2] = torch.cos(angles)  # odd features: cos of the same angle
    return table  # (T, d)


class SinusoidalPositions(PositionalScheme):
    def __init__(self, n_embd: int, base: float = 10000.0, scale: float | None = None):
        super().__init__()
        if n_embd < 2 or n_embd % 2:
            raise ValueError(f"n_embd must be even and >= 2, got {n_embd}")
        self.n_embd, self.base = n_embd, base
        # Each position's vector has norm sqrt(d/2) (sin^2 + cos^2 = 1 per pair), 35x the norm
        # 0.02 sqrt(d) of a token embedding at d = 128: added unscaled, it drowns the tokens.
        # Divided by sqrt(d), its norm is sqrt(1/2) whatever d, a few times a token's.
        self.scale = 1 / math.sqrt(n_embd) if scale is None else scale

    def embed(self, positions: Tensor) -> Tensor:
        # Computed for the positions asked, not looked up in a table: any length works.
        return self.scale * sinusoids(positions, self.n_embd, self.base).to(positions.device)


# ----------------------------------------------------------------------------------------------
# Rotary (Su et al. 2021), in Hugging Face Llama's half-split layout


def rope_frequencies(head_dim: int, base: float = 10000.0) -> Tensor:
    if head_dim < 2 or head_dim % 2:
        raise ValueError(f"head_dim must be even and >= 2 (features turn in pairs), got {head_dim}")
    return base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (D/2,)


def rotate_half(x: Tensor) -> Tensor:
    # Pair i is (x_i, x_{i + D/2}); rotating it by 90 degrees maps (a, b) to (-b, a).
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class RotaryPositions(PositionalScheme):
    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        self.head_dim = head_dim
        # A buffer: it moves with .to(device) but is no parameter (nothing to learn).
        self.register_buffer("inv_freq", rope_frequencies(head_dim, base), persistent=False)

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        _check_positions(positions)
        if x.ndim < 2 or x.shape[-1] != self.head_dim or x.shape[-2] != len(positions):
            raise ValueError(
                f"x must be (..., T={len(positions)}, head_dim={self.head_dim}), "
                f"got {tuple(x.shape)}"
            )
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # (T, D/2): m * theta_i
        angles = torch.cat([angles, angles], dim=-1)  # (T, D): features i and i + D/2 share one
        # (a, b) -> (a cos - b sin, b cos + a sin) for every pair at once.
        return x * angles.cos() + rotate_half(x) * angles.sin()


# ----------------------------------------------------------------------------------------------
# ALiBi (Press et al. 2022)


def alibi_slopes(n_heads: int) -> Tensor:
    if n_heads < 1:
        raise ValueError(f"n_heads must be >= 1, got {n_heads}")

    def geometric(n: int) -> list[float]:  # n a power of two: 2^(-8/n), 2^(-16/n), ..., 2^-8
        return [2 ** (-8 * (i + 1) / n) for i in range(n)]

    closest = 2 ** math.floor(math.log2(n_heads))
    slopes = geometric(closest)
    if closest < n_heads:
        # The paper's rule: the closest power of two's slopes, then every other slope of the
        # next power of two (those fall between the ones already taken).
        slopes += geometric(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)  # (H,)


class ALiBi(PositionalScheme):
    def __init__(self, n_heads: int):
        super().__init__()
        self.register_buffer("slopes", alibi_slopes(n_heads), persistent=False)

    def score_bias(self, q_positions: Tensor, k_positions: Tensor) -> Tensor:
        _check_positions(q_positions, "q_positions")
        _check_positions(k_positions, "k_positions")
        # i - j from the absolute positions given (with a cache the queries start at its
        # length): > 0 for past keys, which lose slope * distance from their score.
        distance = q_positions[:, None] - k_positions[None, :]  # (T, S)
        return -self.slopes[:, None, None] * distance  # (H, T, S)


# ----------------------------------------------------------------------------------------------
# The GPT with a scheme


def build_gpt(config: GPTConfig, scheme: str) -> GPT:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    config = dataclasses.replace(config, positional=scheme)
    if scheme == "learned":
        positional = LearnedPositions(config.block_size, config.n_embd)  # the gpt kata's
    elif scheme == "none":
        positional = NoPositions()
    elif scheme == "sinusoidal":
        positional = SinusoidalPositions(config.n_embd)
    elif scheme == "rope":
        if config.n_embd % config.n_head:
            raise ValueError(
                f"config: n_embd={config.n_embd} must be divisible by n_head={config.n_head}"
            )
        positional = RotaryPositions(config.n_embd // config.n_head)  # one rotation per head
    else:
        positional = ALiBi(config.n_head)  # one slope per head
    return GPT(config, positional=positional)
