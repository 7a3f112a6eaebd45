"""Kata 04_transformers/bert_finetune: fine-tune a pre-trained BERT encoder (MiniLM, 6 layers,
384 wide, English, uncased) for sentence sentiment, and measure what fine-tuning buys over a
frozen encoder and over TF-IDF.

Lesson: katas/04_transformers/README.md, section "Fine-tuning BERT".
Run the tests:  pytest katas/04_transformers/test_bert_finetune.py
Shapes: B sentences, T word pieces (after padding), H = 384 hidden units. A batch is a dict
{"input_ids": (B, T) int64, "attention_mask": (B, T) int64 (1 = real token, 0 = padding),
"labels": (B,) int64}. `encoder` is a transformers BertModel: encoder(input_ids=...,
attention_mask=...).last_hidden_state is (B, T, H).
"""

from __future__ import annotations

import json  # noqa: F401 (yours to use)
from collections.abc import Sequence
from dataclasses import asdict, dataclass  # noqa: F401 (for train)
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from bert_helpers import load_encoder  # noqa: F401 (given)
from sklearn.linear_model import LogisticRegression  # noqa: F401 (yours to use)
from sklearn.pipeline import make_pipeline  # noqa: F401 (yours to use)
from sklearn.preprocessing import StandardScaler  # noqa: F401 (yours to use)
from tfidf import logistic_regression_accuracy  # noqa: F401 (the 03_nlp baseline, for train)
from torch import nn
from train_bert_finetune import Config  # noqa: F401 (given: the full run's settings)
from transformers import AutoModel, AutoTokenizer  # noqa: F401 (yours to use)

from ml_refresher.data import load_imdb, load_sentence_polarity  # noqa: F401 (for train)
from ml_refresher.training import (  # noqa: F401 (given)
    History,
    apply_overrides,
    plot_history,
    seed_everything,
    train_loop,
)
from ml_refresher.vocab import length_bucketed_batches  # noqa: F401 (given)

POOLINGS = ("cls", "mean")


def encode_texts(tokenizer, texts: Sequence[str], max_length: int = 64) -> dict[str, torch.Tensor]:
    """Tokenise a list of sentences into {"input_ids", "attention_mask"}, both (B, T) int64:
    [CLS] word pieces [SEP], cut to at most max_length pieces ([SEP] kept last), padded with
    the pad id (0) to the longest sentence of this batch, mask 1 on real tokens and 0 on padding.
    TypeError if texts is a single string; ValueError if it is empty or max_length < 3."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write encode_texts()")


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, T, H), attention_mask (B, T) -> (B, H): the state at position 0, the [CLS]
    token. ValueError naming the argument if hidden is not 3-D or the mask's shape differs."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write cls_pool()")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, T, H), attention_mask (B, T) -> (B, H): the mean over each sentence's real
    tokens only, sum_t m_bt h_bt / sum_t m_bt. Padding must not change the result at all.
    ValueError naming the argument if hidden is not 3-D or the mask's shape differs."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write mean_pool()")


class SentimentClassifier(nn.Module):
    """A pre-trained encoder with a classification head: self.encoder = encoder; self.pooling
    ("cls" or "mean", else ValueError naming pooling); self.dropout = nn.Dropout(dropout);
    self.head = nn.Linear(encoder.config.hidden_size, n_classes) (n_classes >= 2)."""

    def __init__(self, encoder: nn.Module, n_classes: int = 2, pooling: str = "mean", dropout=0.1):
        super().__init__()
        raise NotImplementedError(
            "katas/04_transformers/bert_finetune.py: write SentimentClassifier.__init__()"
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T), (B, T) -> logits (B, n_classes) = head(dropout(pool(encoder states))).
        The encoder gets the attention mask too."""
        raise NotImplementedError(
            "katas/04_transformers/bert_finetune.py: write SentimentClassifier.forward()"
        )


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The optimiser's two parameter groups, in this order:
    [{"params": [...], "weight_decay": weight_decay}, {"params": [...], "weight_decay": 0.0}].
    Every bias and every weight of an nn.LayerNorm (found by module type, whatever its name)
    goes to the second group, every other parameter to the first; each trainable parameter is
    in exactly one group, frozen ones (requires_grad False) in none. ValueError if
    weight_decay < 0."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write parameter_groups()")


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.01):
    """torch.optim.AdamW over parameter_groups(model, weight_decay) at learning rate lr
    (ValueError unless lr > 0). AdamW's decay is decoupled: w <- w - lr * wd * w, next to the
    Adam step, not added to the gradient."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write make_optimizer()")


def linear_warmup_schedule(optimizer, warmup_steps: int, total_steps: int):
    """A torch.optim.lr_scheduler.LambdaLR whose factor at step s is s / warmup_steps while
    s < warmup_steps, then (total_steps - s) / (total_steps - warmup_steps), never below 0: the
    same learning rates as transformers.get_linear_schedule_with_warmup (write it yourself).
    ValueError unless total_steps >= 1 and 0 <= warmup_steps <= total_steps."""
    raise NotImplementedError(
        "katas/04_transformers/bert_finetune.py: write linear_warmup_schedule()"
    )


def make_batches(
    tokenizer,
    texts: Sequence[str],
    labels,
    batch_size: int = 32,
    max_length: int = 64,
    rng: np.random.Generator | None = None,
) -> list[dict[str, torch.Tensor]]:
    """Batches {"input_ids", "attention_mask", "labels"} (see the top of the file), each made by
    encode_texts. Without rng: in order, batch_size texts each (the last may be smaller). With
    rng: length_bucketed_batches(token lengths, batch_size, rng) picks the texts of each batch.
    ValueError if labels is not one int per text, or batch_size < 1."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write make_batches()")


def evaluate(model: nn.Module, batches: Sequence[dict[str, torch.Tensor]]) -> dict[str, float]:
    """{"loss": mean cross-entropy per sentence, "accuracy"} over all batches, computed in eval
    mode (dropout off) under torch.no_grad(); the model is handed back in the mode (train or
    eval) it came in, even if an error is raised. ValueError if batches is empty."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write evaluate()")


def fine_tune(
    model: nn.Module,
    train_batches: Sequence[dict[str, torch.Tensor]],
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    lr: float = 5e-5,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.1,
    clip_grad_norm: float | None = 1.0,
    eval_batches: Sequence[dict[str, torch.Tensor]] | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> History:
    """Train with ml_refresher.training.train_loop: total_steps = epochs * len(train_batches),
    capped at max_steps; make_optimizer(model, lr, weight_decay); linear_warmup_schedule with
    round(warmup_fraction * total_steps) warm-up steps; loss F.cross_entropy(model(ids, mask),
    labels); clip_grad_norm; each epoch visits train_batches in the order
    rng.permutation(len(train_batches)), rng = np.random.default_rng(seed). With eval_batches,
    evaluate(model, eval_batches) every eval_every steps and at each epoch's end, recorded as
    "test_loss" and "test_accuracy". Returns train_loop's History. ValueError if train_batches
    is empty or warmup_fraction is outside [0, 1]."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write fine_tune()")


def embed_texts(
    encoder: nn.Module, tokenizer, texts: Sequence[str], max_length: int = 64, batch_size: int = 64
) -> dict[str, np.ndarray]:
    """Frozen sentence embeddings {"cls": (N, H), "mean": (N, H)} float32, in the order of
    texts, batch_size texts at a time, in eval mode under torch.no_grad() (the encoder is handed
    back in the mode it came in)."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write embed_texts()")


def frozen_baseline_predict(
    train_features: np.ndarray, y_train, test_features: np.ndarray, C: float = 1.0
) -> np.ndarray:
    """The frozen-encoder baseline: StandardScaler then LogisticRegression(C=C, max_iter=2000),
    both fitted on the training rows only; returns the predicted labels of test_features (N,).
    A test row's prediction must not depend on the other test rows. ValueError if the features
    are not 2-D or their widths differ."""
    raise NotImplementedError(
        "katas/04_transformers/bert_finetune.py: write frozen_baseline_predict()"
    )


def save_classifier(model: SentimentClassifier, tokenizer, directory: str | Path) -> Path:
    """Save everything load_classifier needs under directory (returned): the encoder and the
    tokenizer with save_pretrained into directory/"encoder"; the head's state_dict with
    torch.save to directory/"head.pt"; {"n_classes", "pooling", "dropout"} as JSON to
    directory/"head.json"."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write save_classifier()")


def load_classifier(directory: str | Path):
    """(tokenizer, model) rebuilt from save_classifier's directory: AutoTokenizer and AutoModel
    .from_pretrained(directory/"encoder", local_files_only=True), a SentimentClassifier with
    the saved settings, the head from torch.load(..., weights_only=True); the model in eval
    mode. FileNotFoundError naming the directory if head.json is missing."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write load_classifier()")


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train bert_finetune`): config = apply_overrides(Config(), overrides);
    seed_everything; load the dataset (train_subset: a random subset of the training split);
    load_encoder(config.n_layers). Baselines (before any fine-tuning): the 03_nlp
    logistic_regression_accuracy on TF-IDF, and frozen_baseline_predict on embed_texts
    features, "cls" and "mean". Then SentimentClassifier, make_batches (training texts with an
    rng, test texts in order), fine_tune with the config, plot_history to out_dir/"curves.png",
    save_classifier to out_dir/"classifier". Returns the accuracies ("tfidf_logreg_accuracy",
    "frozen_cls_logreg_accuracy", "frozen_mean_logreg_accuracy", "fine_tuned_accuracy"), the
    number of steps and the config."""
    raise NotImplementedError("katas/04_transformers/bert_finetune.py: write train()")
