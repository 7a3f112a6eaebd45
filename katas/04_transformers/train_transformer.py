"""Given: the settings of the transformer kata's full run (`kata train transformer
--set key=value`); the run itself, train() in transformer.py, is yours to write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    """`kata train transformer --set key=value` settings (given)."""

    task: str = "numbers"  # "numbers" (generated number words) | "multi30k"
    pair: str = "en-fr"  # multi30k: en-fr or en-de
    n_train: int = 8_000  # numbers task: generated training pairs (of 10,000 numbers)
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.1
    norm_first: bool = True
    share_vocabulary: bool = False  # one BPE vocabulary and embedding for both languages
    bpe_vocab_size: int = 8000
    smoothing: float = 0.1
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 400
    epochs: int = 6
    max_steps: int | None = None
    clip_grad_norm: float = 1.0
    eval_sentences: int = 500  # held-out sentences scored after each epoch (greedy)
    eval_every: int | None = None  # and every that many steps, for a finer BLEU curve
    beam_size: int = 1  # the final test score; 1 = greedy
    length_penalty: float = 1.0
    seed: int = 0
