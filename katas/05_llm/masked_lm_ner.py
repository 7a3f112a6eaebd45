"""Kata 05_llm/masked_lm_ner: a BERT-style encoder from your GPT blocks, masked-LM pre-training,
then named-entity recognition on Spanish news (CoNLL-2002) scored by entity F1.

Lesson: katas/05_llm/README.md, section "Masked LM for NER".
Run the tests:  pytest katas/05_llm/test_masked_lm_ner.py
(ML_REFRESHER_USE_REFERENCE=attention,gpt puts the katas this one builds on on the reference.)
You write everything here; the full run built on it (`kata train masked_lm_ner`) is given in
train_masked_lm_ner.py.
Shapes: B sentences, T subword positions, C = n_embd, V = vocab_size. A batch of subword ids is
(B, T) int64, right-padded with PAD_ID (0); ids below N_SPECIAL (5) are the specials [PAD] [UNK]
[CLS] [SEP] [MASK]. Labels are (B, T) int64, IGNORE_INDEX (-100) where nothing is predicted.
"""

from __future__ import annotations

import math  # noqa: F401 (yours to use)

import numpy as np  # noqa: F401 (yours to use)
import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from gpt import Block  # noqa: F401 (your gpt kata: the encoder is made of its Blocks)
from gpt_helpers import GPTConfig  # noqa: F401 (given)
from ner_data import (  # noqa: F401 (given)
    IGNORE_INDEX,
    MASK_ID,
    N_SPECIAL,
    PAD_ID,
    TAGS,
    collate,
    encode_words,
)
from seqeval.metrics import f1_score, precision_score, recall_score  # noqa: F401 (yours to use)
from torch import Tensor, nn

from ml_refresher.training import History, train_loop  # noqa: F401 (given)
from ml_refresher.vocab import length_bucketed_batches  # noqa: F401 (given)

# ----------------------------------------------------------------------------------------------
# Masking and labels


def mask_tokens(
    ids: Tensor, vocab_size: int, generator: torch.Generator, mask_prob: float = 0.15
) -> tuple[Tensor, Tensor]:
    """BERT's masking rule. ids: (B, T) int64 -> (inputs (B, T), labels (B, T)).
    Each position holding a real subword (id >= N_SPECIAL; never [PAD], [CLS], [SEP]...) is
    selected with probability mask_prob. Of the selected: 80% become MASK_ID, 10% a random id
    drawn uniformly from N_SPECIAL..vocab_size-1, 10% stay unchanged. labels = the original id at
    selected positions, IGNORE_INDEX elsewhere; inputs equal ids wherever nothing was selected.
    Draw every random number from `generator` (not torch's global one) and leave `ids` unchanged.
    ValueError naming the argument for ids that are not a 2-D int64 tensor, vocab_size <=
    N_SPECIAL, or mask_prob outside (0, 1)."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write mask_tokens()")


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """One label per subword: word_ids[i] is the word subword i comes from (None for [CLS] and
    [SEP]); word_labels[w] is word w's tag id. The first subword of each word gets the word's
    label; the word's other subwords and the specials get IGNORE_INDEX.
    Example: word_ids [None, 0, 0, 1, None], word_labels [5, 0] -> [-100, 5, -100, 0, -100].
    ValueError if word_ids names a word that word_labels does not have."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write align_labels()")


def encode_tagged(
    tokenizer, sentence: list[tuple[str, str]], max_length: int
) -> tuple[list[int], list[int]]:
    """A (word, BIO tag) sentence -> (subword ids, labels) of the same length: encode_words gives
    the ids ([CLS] ... [SEP]) and word_ids, the tags become ids by their index in TAGS, and
    align_labels puts them on the first subwords. Both lists are cut to max_length.
    ValueError for a tag that is not in TAGS."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write encode_tagged()")


# ----------------------------------------------------------------------------------------------
# The model


class MaskedLMEncoder(nn.Module):
    """A BERT-style encoder: self.tok_emb = nn.Embedding(V, C), self.pos_emb =
    nn.Embedding(block_size, C) (learned absolute positions), both initialised N(0, 0.02);
    self.drop = nn.Dropout(dropout); self.blocks = nn.ModuleList of config.n_layer
    Block(config) from your gpt kata; self.ln_f = nn.LayerNorm(C). Keep config as self.config."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write MaskedLMEncoder.__init__()")

    def forward(self, ids: Tensor) -> Tensor:
        """ids: (B, T) int64 -> hidden states (B, T, C):
            x = drop(tok_emb(ids) + pos_emb(0..T-1));  x = block(x, causal=False,
            key_padding_mask=ids != PAD_ID) for each block;  return ln_f(x).
        Bidirectional: every token sees the whole sentence. [PAD] keys are never attended, so
        padding changes nothing for the real tokens. ValueError for ids that are not 2-D int64
        or longer than block_size."""
        raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write MaskedLMEncoder.forward()")


class MaskedLM(nn.Module):
    """The encoder with a masked-LM head: self.encoder = MaskedLMEncoder(config); self.lm_head =
    nn.Linear(C, V) whose weight IS self.encoder.tok_emb.weight (tied) and whose bias starts
    at 0."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write MaskedLM.__init__()")

    def forward(self, ids: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """ids: (B, T) -> (logits (B, T, V), loss). With labels (B, T) (from mask_tokens), loss is
        the mean cross-entropy over the selected positions only (labels != IGNORE_INDEX):
            L = -1/|S| sum_{(b,t) in S} log softmax(logits[b, t])[labels[b, t]];
        without labels, loss is None. ValueError if labels' shape differs from ids'."""
        raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write MaskedLM.forward()")


class TokenClassifier(nn.Module):
    """A tagging head on an encoder (pre-trained or fresh): self.encoder = encoder; self.dropout =
    nn.Dropout(dropout); self.head = nn.Linear(C, n_tags), initialised N(0, 0.02), bias 0.
    ValueError if n_tags < 2."""

    def __init__(self, encoder: MaskedLMEncoder, n_tags: int = len(TAGS), dropout: float = 0.1):
        super().__init__()
        raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write TokenClassifier.__init__()")

    def forward(self, ids: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """ids: (B, T) -> (logits (B, T, n_tags) = head(dropout(encoder(ids))), loss): with labels
        (B, T) (from encode_tagged and collate), the mean cross-entropy over the positions whose
        label is not IGNORE_INDEX (the first subword of each word); else None."""
        raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write TokenClassifier.forward()")


# ----------------------------------------------------------------------------------------------
# Entity-level evaluation


def word_level_tags(
    predictions: Tensor, labels: Tensor, tags: tuple[str, ...] = TAGS
) -> tuple[list[list[str]], list[list[str]]]:
    """predictions, labels: (B, T) tag ids per subword -> (true tags, predicted tags), one list of
    tag names per sentence, with one tag per word: only the positions where labels !=
    IGNORE_INDEX count, in order. ValueError if the two shapes differ."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write word_level_tags()")


def entity_scores(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict[str, float]:
    """Entity-level {"precision", "recall", "f1"} as CoNLL scores them (seqeval's default mode):
    an entity is a maximal B-X I-X ... run (an I-X that follows O or another type starts one);
    a predicted entity is correct only if its type and its exact span match a true one.
    P = correct / predicted, R = correct / true, F1 = 2PR / (P + R); 0 when undefined.
    ValueError if the two lists hold different numbers of sentences."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write entity_scores()")


@torch.no_grad()
def evaluate_ner(model: TokenClassifier, examples, batch_size: int = 64) -> dict[str, float]:
    """entity_scores over the (ids, labels) examples, batch_size at a time (collate), in eval
    mode: predictions are logits.argmax(-1), mapped to words by word_level_tags. The model's
    train/eval mode is restored afterwards."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write evaluate_ner()")


# ----------------------------------------------------------------------------------------------
# Training


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
    """Masked-LM pre-training for `steps` optimiser steps through the given train_loop
    (max_steps=steps, clip_grad_norm=clip): torch.manual_seed(seed), rng =
    np.random.default_rng(seed) for length_bucketed_batches, generator =
    torch.Generator().manual_seed(seed) for mask_tokens; AdamW(lr, weight_decay on matrices only)
    with a linear warm-up over the first 10% of the steps, then linear decay to 0. Each batch:
    collate the id sequences, mask_tokens afresh (dynamic masking), model(inputs, labels) loss.
    Returns train_loop's History ("train_loss" per step)."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write pretrain_mlm()")


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
    """Fine-tuning on (ids, labels) examples through train_loop for `epochs`, seeded and
    scheduled as pretrain_mlm (warm-up 10%, linear decay over all the steps); each batch is
    collate(...) -> model(ids, labels) loss; evaluate() returns {"test_precision",
    "test_recall", "test_f1"} from evaluate_ner on test_examples at the end of each epoch."""
    raise NotImplementedError("katas/05_llm/masked_lm_ner.py: write finetune_ner()")
