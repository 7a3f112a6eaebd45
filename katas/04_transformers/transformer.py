"""Kata 04_transformers/transformer: an encoder-decoder transformer for translation, from its parts.

Lesson: katas/04_transformers/README.md, section "Translation transformer".
Run the tests:  pytest katas/04_transformers/test_transformer.py
Built on your attention kata (`MultiHeadAttention`); to use the reference one meanwhile:
    ML_REFRESHER_USE_REFERENCE=attention pytest katas/04_transformers/test_transformer.py
Shapes: B sentences, S source and T target positions, d = d_model, V a vocabulary size.
Masks are boolean, True = "may attend", broadcastable to (B, heads, T, S).
Token ids: <pad> 0, <unk> 1, <bos> 2, <eos> 3 (ml_refresher.vocab); batches are right-padded.
"""

from __future__ import annotations

import math  # noqa: F401 (yours to use)
import time  # noqa: F401 (for train)
from collections.abc import Callable
from dataclasses import asdict, dataclass  # noqa: F401 (for train)
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: F401 (yours to use)
from attention import MultiHeadAttention  # noqa: F401 (your attention kata)
from torch import nn
from train_transformer import Config  # noqa: F401 (given: the full run's settings)
from translation_data import (  # noqa: F401 (given)
    BOS_ID,
    EOS_ID,
    PAD_ID,
    TranslationSet,
    WordCodec,
    corpus_scores,
    train_bpe,
)

from ml_refresher.training import (  # noqa: F401 (for train)
    apply_overrides,
    plot_history,
    seed_everything,
    train_loop,
)

_FILE = "katas/04_transformers/transformer.py"


def sinusoidal_positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The (max_len, d_model) float32 table of "Attention is all you need":
        PE[pos, 2i] = sin(pos / 10000^(2i / d_model)),  PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))
    (column 2i and 2i+1 share one angle). ValueError naming d_model if it is odd or < 2, naming
    max_len if < 1."""  # noqa: E501
    raise NotImplementedError(f"{_FILE}: write sinusoidal_positional_encoding()")


class TokenEmbedding(nn.Module):
    """self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id), initialised
    normal with std d_model^-1/2 (the <pad> row zero); keep d_model as an attribute.
    forward(ids (B, L)) -> (B, L, d) = embedding(ids) * sqrt(d_model)."""

    def __init__(self, vocab_size: int, d_model: int, pad_id: int = PAD_ID):
        super().__init__()
        raise NotImplementedError(f"{_FILE}: write TokenEmbedding.__init__()")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{_FILE}: write TokenEmbedding.forward()")


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal table: forward(x (B, L, d)) -> dropout(x + PE[:L]). Keep the table
    as a buffer (register_buffer): it moves with the model but is not trained. ValueError
    naming x if L > max_len."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError(f"{_FILE}: write PositionalEncoding.__init__()")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{_FILE}: write PositionalEncoding.forward()")


class FeedForward(nn.Module):
    """Position-wise: linear2(dropout(relu(linear1(x)))), self.linear1 = nn.Linear(d_model, d_ff),
    self.linear2 = nn.Linear(d_ff, d_model), self.dropout = nn.Dropout(dropout)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError(f"{_FILE}: write FeedForward.__init__()")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{_FILE}: write FeedForward.forward()")


class EncoderLayer(nn.Module):
    """One encoder layer, computing what torch.nn.TransformerEncoderLayer(batch_first=True,
    activation="relu") computes. Attributes: self_attn (your MultiHeadAttention(d_model,
    n_heads, dropout)), ff (FeedForward), norm1, norm2 (nn.LayerNorm(d_model)), dropout1,
    dropout2 (nn.Dropout(dropout), on each sublayer's output before the residual sum).
        post-LN (norm_first=False): x = norm1(x + SA(x));  x = norm2(x + FF(x))
        pre-LN  (norm_first=True):  x = x + SA(norm1(x));  x = x + FF(norm2(x))"""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False
    ):
        super().__init__()
        raise NotImplementedError(f"{_FILE}: write EncoderLayer.__init__()")

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, S, d); src_mask: bool (B, 1, 1, S), True at real tokens -> (B, S, d)."""
        raise NotImplementedError(f"{_FILE}: write EncoderLayer.forward()")


class DecoderLayer(nn.Module):
    """One decoder layer, as torch.nn.TransformerDecoderLayer(batch_first=True) with a causal
    tgt_mask. Attributes: self_attn, cross_attn (MultiHeadAttention), ff, norm1..3, dropout1..3.
        post-LN: y = norm1(y + SA(y, causal));  y = norm2(y + CA(y, memory));  y = norm3(y + FF(y))
        pre-LN:  y = y + SA(norm1(y), causal);  y = y + CA(norm2(y), memory);  y = y + FF(norm3(y))
    SA is causal (query i sees target keys 0..i) and also gets tgt_mask; CA's queries are the
    target positions, its keys and values the encoder output `memory`, masked by memory_mask."""  # noqa: E501

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False
    ):
        super().__init__()
        raise NotImplementedError(f"{_FILE}: write DecoderLayer.__init__()")

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """y: (B, T, d), memory: (B, S, d), tgt_mask (B, 1, 1, T), memory_mask (B, 1, 1, S)
        bool, True at real tokens -> (B, T, d)."""
        raise NotImplementedError(f"{_FILE}: write DecoderLayer.forward()")


def padding_mask(ids: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """ids (B, L) -> bool (B, 1, 1, L), True where ids != pad_id (a real token may be attended).
    ValueError naming ids if it is not 2-D."""
    raise NotImplementedError(f"{_FILE}: write padding_mask()")


class Transformer(nn.Module):
    """The encoder-decoder. Attributes: src_embed, tgt_embed (TokenEmbedding; the same object
    when share_embeddings, which needs src_vocab_size == tgt_vocab_size, else a ValueError),
    positions (one PositionalEncoding for both sides), encoder_layers, decoder_layers
    (nn.ModuleList of n_layers each), encoder_norm, decoder_norm (a final nn.LayerNorm each if
    norm_first, else nn.Identity()), generator = nn.Linear(d_model, tgt_vocab_size, bias=False)
    whose weight IS tgt_embed.embedding.weight (tied), pad_id. Initialise every other matrix
    (dim > 1) with nn.init.xavier_uniform_. ValueError if d_model % n_heads."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 128,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.1,
        norm_first: bool = True,
        share_embeddings: bool = False,
        pad_id: int = PAD_ID,
        max_len: int = 512,
    ):
        super().__init__()
        raise NotImplementedError(f"{_FILE}: write Transformer.__init__()")

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src ids (B, S) -> (memory (B, S, d), src_mask (B, 1, 1, S)): embed, add positions,
        the encoder layers with the padding mask, encoder_norm."""
        raise NotImplementedError(f"{_FILE}: write Transformer.encode()")

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> torch.Tensor:
        """tgt_in ids (B, T) (starting with <bos>), memory (B, S, d), src_mask -> logits
        (B, T, V_tgt): logits[:, t] predicts the token after tgt_in[:, :t + 1]."""
        raise NotImplementedError(f"{_FILE}: write Transformer.decode()")

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """decode(tgt_in, *encode(src)) -> (B, T, V_tgt)."""
        raise NotImplementedError(f"{_FILE}: write Transformer.forward()")


def label_smoothed_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.1, pad_id: int = PAD_ID
) -> torch.Tensor:
    """logits (..., V), target (...) -> the scalar mean over non-pad positions of
        (1 - eps) * (-log p[target]) + eps * mean_v(-log p[v])        (eps = smoothing)
    which is F.cross_entropy(..., ignore_index=pad_id, label_smoothing=eps); write it from
    log_softmax. ValueError naming smoothing outside [0, 1), or if the shapes disagree."""
    raise NotImplementedError(f"{_FILE}: write label_smoothed_cross_entropy()")


def seq2seq_loss(
    model: Transformer, src: torch.Tensor, tgt: torch.Tensor, smoothing: float = 0.1
) -> torch.Tensor:
    """Teacher forcing on a batch: tgt (B, T) = <bos> y1 .. yn <eos> <pad>..; the decoder reads
    tgt[:, :-1] and is scored on tgt[:, 1:] with label_smoothed_cross_entropy."""
    raise NotImplementedError(f"{_FILE}: write seq2seq_loss()")


@torch.no_grad()
def greedy_decode(
    model: Transformer,
    src: torch.Tensor,
    max_len: int = 64,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> list[list[int]]:
    """Batched greedy decoding in eval mode: encode src (B, S) once, start every sentence with
    <bos>, append the argmax of the last position's logits, at most max_len tokens, stop when
    every sentence has produced <eos>. Returns per sentence the ids after <bos>, up to and
    without its first <eos>."""
    raise NotImplementedError(f"{_FILE}: write greedy_decode()")


def beam_search(
    next_log_probs: Callable[[torch.Tensor], torch.Tensor],
    beam_size: int = 4,
    max_len: int = 64,
    length_penalty: float = 1.0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> list[int]:
    """Beam search for one sentence. next_log_probs(prefixes (k, t) int64, each starting with
    <bos>) -> (k, V) log-probabilities of the next token. Keep the beam_size best live prefixes
    by their sum of log-probabilities; a hypothesis that picks <eos> is finished with score
        sum of log-probabilities / length ** length_penalty     (length counts the <eos>)
    Stop when beam_size hypotheses are finished, or after max_len steps (then the live ones
    compete too, length = their token count). Returns the best one's ids after <bos>, without
    <eos>. beam_size=1 is greedy decoding. ValueError naming beam_size if < 1."""
    raise NotImplementedError(f"{_FILE}: write beam_search()")


@torch.no_grad()
def translate(
    model: Transformer,
    src: torch.Tensor,
    beam_size: int = 4,
    max_len: int = 64,
    length_penalty: float = 1.0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> list[int]:
    """One sentence src (S,) -> target ids by beam_search, in eval mode: encode once, and let
    next_log_probs decode the k prefixes against the memory expanded to k copies. ValueError
    naming src if it is not 1-D."""
    raise NotImplementedError(f"{_FILE}: write translate()")


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    """The full run (`kata train transformer [--set task=multi30k]`).
    config = apply_overrides(Config(), overrides); seed_everything(config.seed).
    Data: "numbers": translation_pairs(n_train, seed) to train, 1,000 numbers of another seed
    that are not among them held out, a WordCodec per side; "multi30k": load_multi30k(split,
    pair) for "train", "val" and "test_2016_flickr", train_bpe on the training side only (one
    codec for both sides if share_vocabulary). A TranslationSet per split; Transformer(...);
    AdamW(lr, betas=(0.9, 0.98)) with a linear warm-up over warmup_steps then 1/sqrt(step)
    decay (LambdaLR); train_loop(..., clip_grad_norm=..., evaluate=greedy val BLEU/chrF of
    eval_sentences sentences with corpus_scores); score the test split (greedy, or translate
    with beam_size); plot_history to out_dir/curves.png; return {"test_bleu", "test_chrf",
    ...}."""
    raise NotImplementedError(f"{_FILE}: write train()")
