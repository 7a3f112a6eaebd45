"""Model answers to the exercises of notebooks/05_llm.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check."""

import torch


def alibi_bias(t: int, slope: float) -> torch.Tensor:
    # distance[i, j] = i - j: 0 on the diagonal, growing towards older keys; the future is
    # masked with -inf, so that the softmax gives it exactly 0.
    positions = torch.arange(t)
    distance = (positions[:, None] - positions[None, :]).float()
    bias = -slope * distance
    return bias.masked_fill(distance < 0, float("-inf"))


def top_k_probs(logits: torch.Tensor, k: int) -> torch.Tensor:
    # Keep the k largest logits in place, -inf elsewhere; the softmax then renormalises over them.
    kept = torch.full_like(logits, float("-inf"))
    top = torch.topk(logits, k)
    kept[top.indices] = top.values
    return torch.softmax(kept, dim=-1)
