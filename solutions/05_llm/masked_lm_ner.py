"""Reference: a BERT-style encoder built from the gpt kata's blocks, masked-LM pre-training with
BERT's 80/10/10 rule, and a token-classification head fine-tuned for Spanish NER (the full run built
on it is given in katas/05_llm/train_masked_lm_ner.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from gpt import Block
from gpt_helpers import GPTConfig
from ner_data import (
    IGNORE_INDEX,
    MASK_ID,
    N_SPECIAL,
    PAD_ID,
    TAGS,
    collate,
    encode_words,
)
from seqeval.metrics import f1_score, precision_score, recall_score
from torch import Tensor, nn

from ml_refresher.training import History, train_loop
from ml_refresher.vocab import length_bucketed_batches

# ----------------------------------------------------------------------------------------------
# Masking and labels


def mask_tokens(
    ids: Tensor, vocab_size: int, generator: torch.Generator, mask_prob: float = 0.15
) -> tuple[Tensor, Tensor]:
    if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.dtype != torch.int64:
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
        raise ValueError(f"ids must be an int64 tensor (batch, T), got {got}")
    if vocab_size <= N_SPECIAL:
        raise ValueError(f"vocab_size must exceed the {N_SPECIAL} special ids, got {vocab_size}")
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
    # Only real subwords can be chosen: [PAD], [CLS], [SEP] are the same in every sentence,
    # and predicting them teaches nothing (and padding is not even text).
    maskable = ids >= N_SPECIAL
    # Draw every random number for the whole batch, even where unused: the result depends on
    # the generator alone, not on how many positions happen to be maskable.
    selected = (torch.rand(ids.shape, generator=generator) < mask_prob) & maskable
    choice = torch.rand(ids.shape, generator=generator)
    to_mask = selected & (choice < 0.8)  # 80%: [MASK]
    to_random = selected & (choice >= 0.8) & (choice < 0.9)  # 10%: a random real subword
    # The remaining 10% stay as they are, but are still predicted: the model cannot learn that
    # an unmasked token is always itself, so it must build a good vector for every token.
    random_ids = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)

    inputs = ids.clone()  # never write into the caller's batch
    inputs[to_mask] = MASK_ID
    inputs[to_random] = random_ids[to_random]
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    return inputs, labels


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    if len(word_labels) == 0 and any(w is not None for w in word_ids):
        raise ValueError("word_labels is empty but word_ids names words")
    labels, previous = [], None
    for word in word_ids:
        if word is None:  # [CLS], [SEP]: no word, no label
            labels.append(IGNORE_INDEX)
        elif word != previous:  # the first subword of a word carries the word's tag
            if not 0 <= word < len(word_labels):
                raise ValueError(f"word_ids names word {word}, but there are {len(word_labels)}")
            labels.append(word_labels[word])
        else:  # "##bourne" of "Melbourne": one word is one decision, scored once
            labels.append(IGNORE_INDEX)
        previous = word
    return labels


def encode_tagged(
    tokenizer, sentence: list[tuple[str, str]], max_length: int
) -> tuple[list[int], list[int]]:
    words = [word for word, _ in sentence]
    try:
        tags = [TAGS.index(tag) for _, tag in sentence]
    except ValueError as error:
        raise ValueError(f"sentence: unknown tag ({error}); the tags are {TAGS}") from None
    ids, word_ids = encode_words(tokenizer, words)
    labels = align_labels(word_ids, tags)
    return ids[:max_length], labels[:max_length]


# ----------------------------------------------------------------------------------------------
# The model


def _init_weights(module: nn.Module) -> None:
    # BERT's initialisation: N(0, 0.02) for every matrix and embedding, zero biases.
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


class MaskedLMEncoder(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        # The blocks initialise themselves (GPT-2's scaled residual projections); the
        # embeddings get BERT's N(0, 0.02) here.
        _init_weights(self.tok_emb)
        _init_weights(self.pos_emb)

    def forward(self, ids: Tensor) -> Tensor:
        if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.dtype != torch.int64:
            raise ValueError(f"ids must be an int64 tensor (batch, T), got {ids!r:.60}")
        B, T = ids.shape
        if T > self.config.block_size:
            raise ValueError(
                f"ids has {T} positions, more than block_size={self.config.block_size}"
            )
        real = ids != PAD_ID  # (B, T), True = a real token that may be attended
        positions = torch.arange(T, device=ids.device)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(positions))  # (B, T, C)
        for block in self.blocks:
            # causal=False: every token sees the whole sentence, left and right. The padding
            # mask keeps [PAD] keys out of every real token's attention.
            x = block(x, causal=False, key_padding_mask=real)
        return self.ln_f(x)  # (B, T, C)


class MaskedLM(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.encoder = MaskedLMEncoder(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)
        nn.init.zeros_(self.lm_head.bias)
        # Tied: a token is predicted by the dot product with its own input embedding.
        self.lm_head.weight = self.encoder.tok_emb.weight

    def forward(self, ids: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        logits = self.lm_head(self.encoder(ids))  # (B, T, V)
        loss = None
        if labels is not None:
            if labels.shape != ids.shape:
                raise ValueError(
                    f"labels must have ids' shape {tuple(ids.shape)}, got {labels.shape}"
                )
            # ignore_index drops every unselected position: the mean is over selected ones only.
            loss = F.cross_entropy(
                logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
            )
        return logits, loss


class TokenClassifier(nn.Module):
    def __init__(self, encoder: MaskedLMEncoder, n_tags: int = len(TAGS), dropout: float = 0.1):
        super().__init__()
        if n_tags < 2:
            raise ValueError(f"n_tags must be >= 2, got {n_tags}")
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.n_embd, n_tags)
        _init_weights(self.head)

    def forward(self, ids: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        logits = self.head(self.dropout(self.encoder(ids)))  # (B, T, n_tags)
        loss = None
        if labels is not None:
            if labels.shape != ids.shape:
                raise ValueError(
                    f"labels must have ids' shape {tuple(ids.shape)}, got {labels.shape}"
                )
            loss = F.cross_entropy(
                logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
            )
        return logits, loss


# ----------------------------------------------------------------------------------------------
# Entity-level evaluation


def word_level_tags(
    predictions: Tensor, labels: Tensor, tags: tuple[str, ...] = TAGS
) -> tuple[list[list[str]], list[list[str]]]:
    if predictions.shape != labels.shape:
        raise ValueError(
            f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} must match"
        )
    true_tags, predicted_tags = [], []
    for row_pred, row_label in zip(predictions.tolist(), labels.tolist(), strict=True):
        # The labelled positions are exactly the first subword of each word, in word order.
        kept = [(p, y) for p, y in zip(row_pred, row_label, strict=True) if y != IGNORE_INDEX]
        true_tags.append([tags[y] for _, y in kept])
        predicted_tags.append([tags[p] for p, _ in kept])
    return true_tags, predicted_tags


def entity_scores(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict[str, float]:
    if len(true_tags) != len(predicted_tags):
        raise ValueError(
            f"true_tags has {len(true_tags)} sentences, predicted_tags {len(predicted_tags)}"
        )
    # seqeval reads BIO into entities (type, first word, last word) as the CoNLL script does;
    # an entity counts only if both its type and its exact span are right.
    return {
        "precision": float(precision_score(true_tags, predicted_tags, zero_division=0)),
        "recall": float(recall_score(true_tags, predicted_tags, zero_division=0)),
        "f1": float(f1_score(true_tags, predicted_tags, zero_division=0)),
    }


@torch.no_grad()
def evaluate_ner(model: TokenClassifier, examples, batch_size: int = 64) -> dict[str, float]:
    was_training = model.training
    model.eval()
    true_tags, predicted_tags = [], []
    for start in range(0, len(examples), batch_size):
        ids, labels = collate(examples[start : start + batch_size])
        logits, _ = model(ids)
        truth, guess = word_level_tags(logits.argmax(dim=-1), labels)
        true_tags += truth
        predicted_tags += guess
    model.train(was_training)
    return entity_scores(true_tags, predicted_tags)


# ----------------------------------------------------------------------------------------------
# Training


def _optimizer_and_schedule(model: nn.Module, lr: float, weight_decay: float, total_steps: int):
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    groups = [  # no decay on biases and LayerNorm gains, which only shift and scale
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=lr)
    warmup = max(1, total_steps // 10)

    def factor(step: int) -> float:  # BERT's schedule: linear warm-up, then linear decay
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def pretrain_mlm(
    model: MaskedLM,
    sequences: list[list[int]],
    *,
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    clip: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> History:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    vocab_size = model.encoder.config.vocab_size
    optimizer, scheduler = _optimizer_and_schedule(model, lr, weight_decay, steps)
    lengths = np.array([len(s) for s in sequences])
    steps_per_epoch = math.ceil(len(sequences) / batch_size)

    def batches(epoch):
        return length_bucketed_batches(lengths, batch_size, rng)

    def loss_fn(batch):
        ids, _ = collate([(sequences[i], sequences[i]) for i in batch])
        # Dynamic masking (RoBERTa): a fresh 15% every time a sentence comes round, so the
        # model sees each sentence with many different holes.
        inputs, labels = mask_tokens(ids, vocab_size, generator)
        return model(inputs, labels)[1]

    return train_loop(
        model,
        optimizer,
        batches,
        loss_fn,
        epochs=math.ceil(steps / steps_per_epoch),
        max_steps=steps,
        scheduler=scheduler,
        clip_grad_norm=clip,
        progress=progress,
        desc="mlm",
    )


def finetune_ner(
    model: TokenClassifier,
    train_examples,
    test_examples,
    *,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    clip: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> History:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lengths = np.array([len(ids) for ids, _ in train_examples])
    total = epochs * math.ceil(len(train_examples) / batch_size)
    optimizer, scheduler = _optimizer_and_schedule(model, lr, weight_decay, total)

    def batches(epoch):
        return length_bucketed_batches(lengths, batch_size, rng)

    def loss_fn(batch):
        ids, labels = collate([train_examples[i] for i in batch])
        return model(ids, labels)[1]

    def evaluate():
        scores = evaluate_ner(model, test_examples)
        return {f"test_{name}": value for name, value in scores.items()}

    return train_loop(
        model,
        optimizer,
        batches,
        loss_fn,
        epochs=epochs,
        scheduler=scheduler,
        clip_grad_norm=clip,
        evaluate=evaluate,
        progress=progress,
        desc="ner",
    )
