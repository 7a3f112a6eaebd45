"""Reference: fine-tuning a pre-trained BERT encoder (MiniLM) for sentence sentiment, with the
frozen-encoder and TF-IDF baselines it has to beat."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bert_helpers import load_encoder
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tfidf import logistic_regression_accuracy
from torch import nn
from train_bert_finetune import Config
from transformers import AutoModel, AutoTokenizer

from ml_refresher.data import load_imdb, load_sentence_polarity
from ml_refresher.training import (
    History,
    apply_overrides,
    plot_history,
    seed_everything,
    train_loop,
)
from ml_refresher.vocab import length_bucketed_batches

POOLINGS = ("cls", "mean")


def encode_texts(tokenizer, texts: Sequence[str], max_length: int = 64) -> dict[str, torch.Tensor]:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of strings (one per sentence), not a single string")
    if len(texts) == 0:
        raise ValueError("texts is empty")
    if max_length < 3:
        raise ValueError(f"max_length must be >= 3 ([CLS], one token, [SEP]), got {max_length}")
    # Pad to the longest sentence of this batch only (dynamic padding): a batch of short
    # sentences then costs little. Truncation keeps the first max_length - 2 word pieces.
    encoded = tokenizer(
        list(texts),
        padding="longest",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def _check_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if hidden.dim() != 3:
        raise ValueError(f"hidden must be (batch, seq, hidden), got shape {tuple(hidden.shape)}")
    if tuple(attention_mask.shape) != tuple(hidden.shape[:2]):
        raise ValueError(
            f"attention_mask must be (batch, seq) = {tuple(hidden.shape[:2])} like hidden, "
            f"got shape {tuple(attention_mask.shape)}"
        )


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    _check_hidden(hidden, attention_mask)
    # [CLS] is always at position 0 (padding goes to the right), so no mask is needed.
    return hidden[:, 0]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    _check_hidden(hidden, attention_mask)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): 1 for real tokens
    total = (hidden * mask).sum(dim=1)  # (B, H): padded positions add exactly zero
    count = mask.sum(dim=1).clamp(min=1.0)  # (B, 1): each sentence's own length
    return total / count


class SentimentClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, n_classes: int = 2, pooling: str = "mean", dropout=0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # The attention mask goes into the encoder too: it keeps real tokens from attending to
        # padding. Pooling then keeps the padded positions out of the sentence vector.
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pool = cls_pool if self.pooling == "cls" else mean_pool
        pooled = pool(hidden, attention_mask)  # (B, H)
        return self.head(self.dropout(pooled))  # (B, n_classes)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    # LayerNorm parameters found by module type, not by name: a norm called `ln` is one too.
    norm_parameters = {
        id(p)
        for module in model.modules()
        if isinstance(module, nn.LayerNorm)
        for p in module.parameters(recurse=False)
    }
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue  # frozen: the optimiser must not see it
        # Decay pulls weights towards zero. A bias or a LayerNorm gain is a shift or a scale,
        # not a pattern in the data: pulling a gain to zero only mutes its layer.
        if name.rsplit(".", 1)[-1] == "bias" or id(parameter) in norm_parameters:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.01):
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    # AdamW decays the weights directly (w -= lr * wd * w), apart from the adaptive step;
    # Adam's weight_decay would add wd * w to the gradient, where the 1/sqrt(v) scaling blurs it.
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr)


def linear_warmup_schedule(optimizer, warmup_steps: int, total_steps: int):
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"warmup_steps must be in 0..total_steps={total_steps}, got {warmup_steps}"
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)  # 0 -> 1 during warm-up
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))  # 1 -> 0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_batches(
    tokenizer,
    texts: Sequence[str],
    labels,
    batch_size: int = 32,
    max_length: int = 64,
    rng: np.random.Generator | None = None,
) -> list[dict[str, torch.Tensor]]:
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if labels.shape != (len(texts),):
        raise ValueError(f"labels must be ({len(texts)},), one per text, got {tuple(labels.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if rng is None:
        order = np.arange(len(texts))
        index_batches = [order[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    else:
        # Sentences of similar length go together, so that little of each batch is padding.
        lengths = [
            len(ids)
            for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        ]
        index_batches = length_bucketed_batches(lengths, batch_size, rng)
    batches = []
    for index in index_batches:
        batch = encode_texts(tokenizer, [texts[i] for i in index], max_length)
        batch["labels"] = labels[torch.as_tensor(index)]
        batches.append(batch)
    return batches


def evaluate(model: nn.Module, batches: Sequence[dict[str, torch.Tensor]]) -> dict[str, float]:
    was_training = model.training
    model.eval()  # dropout off: the same input always gives the same logits
    loss = correct = count = 0.0
    try:
        with torch.no_grad():
            for batch in batches:
                logits = model(batch["input_ids"], batch["attention_mask"])
                loss += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
                correct += (logits.argmax(dim=1) == batch["labels"]).sum().item()
                count += len(batch["labels"])
    finally:
        model.train(was_training)  # hand the model back in the mode it came in
    if count == 0:
        raise ValueError("batches is empty")
    return {"loss": loss / count, "accuracy": correct / count}


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
    if len(train_batches) == 0:
        raise ValueError("train_batches is empty")
    if not 0 <= warmup_fraction <= 1:
        raise ValueError(f"warmup_fraction must be in [0, 1], got {warmup_fraction}")
    total_steps = epochs * len(train_batches)
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    optimizer = make_optimizer(model, lr, weight_decay)
    # Warm-up: Adam's second-moment estimate is noise for the first steps, and full-size steps
    # on it can wreck pre-trained weights before the head has learnt anything useful.
    scheduler = linear_warmup_schedule(optimizer, round(warmup_fraction * total_steps), total_steps)
    rng = np.random.default_rng(seed)

    def batches(epoch: int):
        return [train_batches[i] for i in rng.permutation(len(train_batches))]

    def loss_fn(batch):
        return F.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), batch["labels"])

    def test_metrics() -> dict[str, float]:
        return {f"test_{name}": value for name, value in evaluate(model, eval_batches).items()}

    return train_loop(
        model,
        optimizer,
        batches,
        loss_fn,
        epochs=epochs,
        max_steps=total_steps,
        scheduler=scheduler,
        clip_grad_norm=clip_grad_norm,
        evaluate=test_metrics if eval_batches is not None else None,
        eval_every=eval_every,
        progress=progress,
        desc="fine-tune",
    )


def embed_texts(
    encoder: nn.Module, tokenizer, texts: Sequence[str], max_length: int = 64, batch_size: int = 64
) -> dict[str, np.ndarray]:
    was_training = encoder.training
    encoder.eval()
    pooled = {"cls": [], "mean": []}
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = encode_texts(tokenizer, texts[start : start + batch_size], max_length)
                hidden = encoder(**batch).last_hidden_state
                pooled["cls"].append(cls_pool(hidden, batch["attention_mask"]))
                pooled["mean"].append(mean_pool(hidden, batch["attention_mask"]))
    finally:
        encoder.train(was_training)
    return {name: torch.cat(parts).numpy() for name, parts in pooled.items()}


def frozen_baseline_predict(
    train_features: np.ndarray, y_train, test_features: np.ndarray, C: float = 1.0
) -> np.ndarray:
    train_features, test_features = np.asarray(train_features), np.asarray(test_features)
    if train_features.ndim != 2 or test_features.ndim != 2:
        raise ValueError("train_features and test_features must be 2-D (texts, hidden)")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"test_features has {test_features.shape[1]} columns, train_features "
            f"{train_features.shape[1]}: both must come from the same encoder"
        )
    # The scaler learns its means and deviations in fit, from the training rows only: fitting
    # it on test rows too would leak the test set into the model.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    model.fit(train_features, np.asarray(y_train))
    return model.predict(test_features)


def save_classifier(model: SentimentClassifier, tokenizer, directory: str | Path) -> Path:
    directory = Path(directory)
    # The encoder and the tokenizer in Hugging Face's format (config.json, model.safetensors,
    # vocab.txt...), so that AutoModel / AutoTokenizer.from_pretrained read them back; the head
    # is ours, so its weights go to head.pt and what rebuilds it to head.json.
    model.encoder.save_pretrained(directory / "encoder")
    tokenizer.save_pretrained(directory / "encoder")
    torch.save(model.head.state_dict(), directory / "head.pt")
    settings = {"n_classes": model.head.out_features, "pooling": model.pooling}
    settings["dropout"] = model.dropout.p
    (directory / "head.json").write_text(json.dumps(settings))
    return directory


def load_classifier(directory: str | Path):
    directory = Path(directory)
    if not (directory / "head.json").is_file():
        raise FileNotFoundError(f"directory {directory} holds no saved classifier (no head.json)")
    tokenizer = AutoTokenizer.from_pretrained(directory / "encoder", local_files_only=True)
    encoder = AutoModel.from_pretrained(directory / "encoder", local_files_only=True)
    settings = json.loads((directory / "head.json").read_text())
    model = SentimentClassifier(encoder, **settings)
    model.head.load_state_dict(torch.load(directory / "head.pt", weights_only=True))
    return tokenizer, model.eval()


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    config = apply_overrides(Config(), overrides)
    if config.dataset not in ("sentence_polarity", "imdb"):
        raise ValueError(f"dataset must be sentence_polarity or imdb, got {config.dataset!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    data = load_sentence_polarity() if config.dataset == "sentence_polarity" else load_imdb()
    train_texts, y_train = data.train_texts, data.y_train
    if config.train_subset is not None:
        keep = np.random.default_rng(config.seed).permutation(len(train_texts))
        keep = keep[: config.train_subset]
        train_texts, y_train = [train_texts[i] for i in keep], y_train[keep]
    tokenizer, encoder = load_encoder(config.n_layers)
    metrics = {
        "data": f"{config.dataset} {len(train_texts)} / {len(data.test_texts)}",
        "config": asdict(config),
    }
    if config.baselines:
        # Baselines first, while the encoder still holds its pre-trained weights.
        tfidf = logistic_regression_accuracy(train_texts, y_train, data.test_texts, data.y_test)
        metrics["tfidf_logreg_accuracy"] = round(tfidf, 4)
        train_features = embed_texts(encoder, tokenizer, train_texts, config.max_length)
        test_features = embed_texts(encoder, tokenizer, data.test_texts, config.max_length)
        for pooling in POOLINGS:
            predicted = frozen_baseline_predict(
                train_features[pooling], y_train, test_features[pooling]
            )
            accuracy = float(np.mean(predicted == data.y_test))
            metrics[f"frozen_{pooling}_logreg_accuracy"] = round(accuracy, 4)
    model = SentimentClassifier(encoder, pooling=config.pooling, dropout=config.dropout)
    rng = np.random.default_rng(config.seed)
    train_batches = make_batches(
        tokenizer, train_texts, y_train, config.batch_size, config.max_length, rng
    )
    test_batches = make_batches(tokenizer, data.test_texts, data.y_test, 128, config.max_length)
    history = fine_tune(
        model,
        train_batches,
        epochs=config.epochs,
        max_steps=config.max_steps,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_fraction=config.warmup_fraction,
        clip_grad_norm=config.clip_grad_norm,
        eval_batches=test_batches,
        eval_every=config.eval_every,
        seed=config.seed,
        progress=True,
    )
    plot_history(history, out_dir / "curves.png", f"fine-tuning MiniLM on {config.dataset}")
    metrics["fine_tuned_accuracy"] = round(history.last("test_accuracy"), 4)
    metrics["steps"] = history.series["train_loss"][-1][0]
    metrics["test_accuracy_by_step"] = history.series["test_accuracy"]
    if config.save:
        metrics["saved_to"] = str(save_classifier(model, tokenizer, out_dir / "classifier"))
    return metrics
