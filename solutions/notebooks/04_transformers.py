"""Model answers to the exercises of notebooks/04_transformers.py, used when
ML_REFRESHER_IMPL=solutions so that CI runs each exercise's check."""

import torch


def causal_mask(t: int, s: int) -> torch.Tensor:
    # True = query i may attend key j: keys 0..i (top-left aligned, as torch's is_causal).
    return torch.ones(t, s, dtype=torch.bool).tril()


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # Hidden keys get -inf before the softmax; a row with no visible key becomes all zeros
    # instead of the NaN that softmax of all -inf gives.
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.nan_to_num(weights, nan=0.0)
