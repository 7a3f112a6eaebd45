"""Given: the settings of the bert_finetune kata's full run (`kata train bert_finetune
--set key=value`); the run itself, train() in bert_finetune.py, is yours to write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    """The full run's settings; `kata train bert_finetune --set lr=1e-4` changes one."""

    dataset: str = "sentence_polarity"  # or "imdb"
    n_layers: int | None = None  # None: all 6 layers
    pooling: str = "mean"  # or "cls"
    max_length: int = 64
    batch_size: int = 32
    epochs: int = 1
    max_steps: int | None = None
    train_subset: int | None = None  # a random subset of the training texts, for a quick run
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    clip_grad_norm: float = 1.0
    dropout: float = 0.1
    eval_every: int | None = 135
    baselines: bool = True  # TF-IDF and frozen-encoder logistic regressions first
    save: bool = True  # save_classifier into out_dir/"classifier"
    seed: int = 0
