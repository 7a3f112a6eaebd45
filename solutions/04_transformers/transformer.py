"""Reference: an encoder-decoder transformer for translation, written from its parts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from attention import MultiHeadAttention
from torch import nn
from train_transformer import Config
from translation_data import BOS_ID, EOS_ID, PAD_ID, TranslationSet, WordCodec, corpus_scores

from ml_refresher.training import apply_overrides, plot_history, seed_everything, train_loop

# --------------------------------------------------------------------------- embeddings


def sinusoidal_positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if d_model < 2 or d_model % 2:
        raise ValueError(f"d_model must be even and >= 2 (sin/cos pairs), got {d_model}")
    position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    # 1 / 10000^(2i / d_model) for i = 0 .. d_model/2 - 1: wavelengths from 2 pi to 10000 * 2 pi.
    inv_freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    angles = position * inv_freq  # (max_len, d_model / 2)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(angles)  # even columns: sin, odd columns: cos of the same angle
    table[:, 1::2] = torch.cos(angles)
    return table


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, pad_id: int = PAD_ID):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        # std d^-1/2 so that the scaled embedding has unit variance, like the sinusoids.
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.embedding.weight[pad_id].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # The scale keeps the token signal from being drowned by the positional encoding.
        return self.embedding(ids) * math.sqrt(self.d_model)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        # A buffer: moves with .to(device) and is saved, but is not trained.
        self.register_buffer("table", sinusoidal_positional_encoding(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        if length > self.table.shape[0]:
            raise ValueError(
                f"x: sequences of {length} positions, the table has only "
                f"{self.table.shape[0]} (raise max_len)"
            )
        return self.dropout(x + self.table[:length])


# --------------------------------------------------------------------------- layers


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class EncoderLayer(nn.Module):
    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def _attend(self, x, src_mask):
        return self.dropout1(self.self_attn(x, mask=src_mask)[0])

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:
            # Pre-LN: the residual path x -> x + ... is never normalised, so gradients reach the
            # first layers undamped and training is stable without a warm-up.
            x = x + self._attend(self.norm1(x), src_mask)
            return x + self.dropout2(self.ff(self.norm2(x)))
        # Post-LN (the 2017 paper): normalise after each residual sum.
        x = self.norm1(x + self._attend(x, src_mask))
        return self.norm2(x + self.dropout2(self.ff(x)))


class DecoderLayer(nn.Module):
    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = False
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        def self_block(h):  # causal: position i sees target positions 0..i only
            return self.dropout1(self.self_attn(h, mask=tgt_mask, causal=True)[0])

        def cross_block(h):  # every target position may look at every real source position
            return self.dropout2(self.cross_attn(h, memory, mask=memory_mask)[0])

        if self.norm_first:
            y = y + self_block(self.norm1(y))
            y = y + cross_block(self.norm2(y))
            return y + self.dropout3(self.ff(self.norm3(y)))
        y = self.norm1(y + self_block(y))
        y = self.norm2(y + cross_block(y))
        return self.norm3(y + self.dropout3(self.ff(y)))


def padding_mask(ids: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    if ids.dim() != 2:
        raise ValueError(f"ids: expected (batch, seq) token ids, got shape {tuple(ids.shape)}")
    # True = "may attend": the real tokens. (B, 1, 1, S) broadcasts over heads and queries.
    return (ids != pad_id)[:, None, None, :]


# --------------------------------------------------------------------------- the model


class Transformer(nn.Module):
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
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary for both sides: src_vocab_size "
                f"{src_vocab_size} != tgt_vocab_size {tgt_vocab_size}"
            )
        self.pad_id, self.norm_first = pad_id, norm_first
        self.src_embed = TokenEmbedding(src_vocab_size, d_model, pad_id)
        self.tgt_embed = (
            self.src_embed if share_embeddings else TokenEmbedding(tgt_vocab_size, d_model, pad_id)
        )
        self.positions = PositionalEncoding(d_model, max_len, dropout)
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)
        )
        # Pre-LN stacks end on an un-normalised residual sum: one last LayerNorm each.
        self.encoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.generator = nn.Linear(d_model, tgt_vocab_size, bias=False)
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embed" not in name:
                nn.init.xavier_uniform_(p)
        # The output layer shares the target embedding (Press & Wolf 2017): fewer parameters,
        # and a word's input and output vectors learn together.
        self.generator.weight = self.tgt_embed.embedding.weight

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        src_mask = padding_mask(src, self.pad_id)
        x = self.positions(self.src_embed(src))
        for layer in self.encoder_layers:
            x = layer(x, src_mask)
        return self.encoder_norm(x), src_mask

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> torch.Tensor:
        tgt_mask = padding_mask(tgt_in, self.pad_id)
        y = self.positions(self.tgt_embed(tgt_in))
        for layer in self.decoder_layers:
            y = layer(y, memory, tgt_mask, src_mask)
        return self.generator(self.decoder_norm(y))

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask)


# --------------------------------------------------------------------------- the loss


def label_smoothed_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.1, pad_id: int = PAD_ID
) -> torch.Tensor:
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if logits.shape[:-1] != target.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} disagree: "
            "expected logits (..., V) for target (...)"
        )
    log_probs = logits.log_softmax(dim=-1)
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    # The smoothed target puts smoothing / V on every class (the true one included): its
    # cross-entropy is the mean of -log p over the classes.
    uniform = -log_probs.mean(dim=-1)
    loss = (1.0 - smoothing) * nll + smoothing * uniform
    real = target != pad_id  # padding is not a prediction: it neither counts nor averages
    return loss[real].sum() / real.sum().clamp(min=1)


def seq2seq_loss(
    model: Transformer, src: torch.Tensor, tgt: torch.Tensor, smoothing: float = 0.1
) -> torch.Tensor:
    # Teacher forcing: the decoder reads <bos> y1 .. y(n-1) and predicts y1 .. yn <eos>.
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    return label_smoothed_cross_entropy(model(src, tgt_in), tgt_out, smoothing, model.pad_id)


# --------------------------------------------------------------------------- decoding


@torch.no_grad()
def greedy_decode(
    model: Transformer,
    src: torch.Tensor,
    max_len: int = 64,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> list[list[int]]:
    model.eval()
    memory, src_mask = model.encode(src)  # encode once, decode token by token
    ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        next_token = model.decode(ys, memory, src_mask)[:, -1].argmax(dim=-1)
        # A finished sentence gets padding, which the causal decoder of the others never sees.
        next_token = next_token.masked_fill(done, model.pad_id)
        ys = torch.cat([ys, next_token[:, None]], dim=1)
        done |= next_token == eos_id
        if done.all():
            break
    out = []
    for row in ys[:, 1:].tolist():
        out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out


def beam_search(
    next_log_probs: Callable[[torch.Tensor], torch.Tensor],
    beam_size: int = 4,
    max_len: int = 64,
    length_penalty: float = 1.0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> list[int]:
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")

    def normalised(score: float, length: int) -> float:
        # Sums of log-probabilities only fall as a sequence grows: without dividing by
        # length ** alpha the search prefers translations that stop early.
        return score / length**length_penalty

    beams = [([bos_id], 0.0)]  # live hypotheses: (tokens with <bos>, sum of log-probabilities)
    finished: list[tuple[float, list[int]]] = []  # (normalised score, tokens without <bos>)
    for _ in range(max_len):
        prefixes = torch.tensor([tokens for tokens, _ in beams], dtype=torch.long)
        scores = torch.tensor([score for _, score in beams])[:, None] + next_log_probs(prefixes)
        vocab = scores.shape[1]
        # 2k candidates: even if k of them end in <eos>, k live ones remain.
        top_scores, top_ids = scores.flatten().topk(min(2 * beam_size, scores.numel()))
        previous, beams = beams, []
        for score, flat in zip(top_scores.tolist(), top_ids.tolist(), strict=True):
            tokens, token = previous[flat // vocab][0], flat % vocab
            if token == eos_id:  # its length counts the <eos> it generated, not the <bos>
                finished.append((normalised(score, len(tokens)), tokens[1:]))
            else:
                beams.append((tokens + [token], score))
            if len(beams) == beam_size:
                break
        if len(finished) >= beam_size or not beams:
            break
    else:  # max_len reached: the live hypotheses compete as they are
        finished += [(normalised(s, len(t) - 1), t[1:]) for t, s in beams]
    return max(finished, key=lambda f: f[0])[1]


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
    if src.dim() != 1:
        raise ValueError(f"src: expected one sentence (S,) of ids, got shape {tuple(src.shape)}")
    model.eval()
    memory, src_mask = model.encode(src[None])

    def next_log_probs(prefixes):  # (k, t) -> (k, V): the k hypotheses share one source
        k = prefixes.shape[0]
        logits = model.decode(prefixes, memory.expand(k, -1, -1), src_mask.expand(k, -1, -1, -1))
        return logits[:, -1].log_softmax(dim=-1)

    return beam_search(next_log_probs, beam_size, max_len, length_penalty, bos_id, eos_id)


# --------------------------------------------------------------------------- the full run


def _load(config: Config):
    from translation_data import train_bpe

    from ml_refresher.data import load_multi30k, translation_pairs

    if config.task == "numbers":
        train_pairs = translation_pairs(config.n_train, seed=config.seed)
        # Another seed draws numbers that may also be in training (there are only 10,000):
        # keep the unseen ones, or the test would measure memory instead of translation.
        seen = {english for english, _ in train_pairs}
        drawn = translation_pairs(5000, seed=config.seed + 10_000)
        test_pairs = [pair for pair in drawn if pair[0] not in seen][:1000]
        src_codec = WordCodec.build(s for s, _ in train_pairs)
        tgt_codec = WordCodec.build(t for _, t in train_pairs)
        return train_pairs, test_pairs, test_pairs, src_codec, tgt_codec, "number words en->fr"
    if config.task != "multi30k":
        raise ValueError(f"task must be 'numbers' or 'multi30k', got {config.task!r}")
    pair = tuple(config.pair.split("-"))
    train_pairs = load_multi30k("train", pair)
    val_pairs, test_pairs = load_multi30k("val", pair), load_multi30k("test_2016_flickr", pair)
    # Vocabularies from the training side only: the test sentences stay unseen.
    if config.share_vocabulary:
        src_codec = tgt_codec = train_bpe(
            [s for s, _ in train_pairs] + [t for _, t in train_pairs], config.bpe_vocab_size
        )
    else:
        src_codec = train_bpe([s for s, _ in train_pairs], config.bpe_vocab_size)
        tgt_codec = train_bpe([t for _, t in train_pairs], config.bpe_vocab_size)
    return train_pairs, val_pairs, test_pairs, src_codec, tgt_codec, f"Multi30k {config.pair}"


def _score(model, data: TranslationSet, tgt_codec, n: int | None = None, beam_size=1, **kw):
    """BLEU and chrF of the model's translations of the first n pairs of `data`."""
    n = len(data) if n is None else min(n, len(data))
    hypotheses = []
    for start in range(0, n, 128):
        indices = range(start, min(start + 128, n))
        if beam_size == 1:
            ids = greedy_decode(model, data.sources(indices))
        else:
            ids = [translate(model, torch.tensor(data.src[i]), beam_size, **kw) for i in indices]
        hypotheses += [tgt_codec.decode(row) for row in ids]
    return corpus_scores(hypotheses, [t for _, t in data.pairs[:n]]), hypotheses


def train(out_dir: Path, overrides: dict[str, str] | None = None) -> dict:
    config = apply_overrides(Config(), overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    started = time.perf_counter()
    train_pairs, val_pairs, test_pairs, src_codec, tgt_codec, name = _load(config)
    train_set = TranslationSet(train_pairs, src_codec, tgt_codec, batch_size=config.batch_size)
    val_set = TranslationSet(val_pairs, src_codec, tgt_codec)
    test_set = TranslationSet(test_pairs, src_codec, tgt_codec)
    model = Transformer(
        len(src_codec),
        len(tgt_codec),
        config.d_model,
        config.n_heads,
        config.n_layers,
        config.d_ff,
        config.dropout,
        config.norm_first,
        share_embeddings=config.share_vocabulary,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    # Linear warm-up then inverse square-root decay (the paper's schedule, peak at config.lr).
    warmup = max(1, config.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, (warmup / (step + 1)) ** 0.5)
    )

    def evaluate():
        scores, _ = _score(model, val_set, tgt_codec, config.eval_sentences)
        return {"val_bleu": scores["bleu"], "val_chrf": scores["chrf"]}

    history = train_loop(
        model,
        optimizer,
        train_set.batches,
        lambda batch: seq2seq_loss(model, *batch, config.smoothing),
        epochs=config.epochs,
        max_steps=config.max_steps,
        scheduler=scheduler,
        clip_grad_norm=config.clip_grad_norm,
        evaluate=evaluate,
        eval_every=config.eval_every,
        desc=f"transformer {name}",
    )
    test, hypotheses = _score(
        model, test_set, tgt_codec, beam_size=config.beam_size, length_penalty=config.length_penalty
    )
    plot_history(history, out_dir / "curves.png", f"Transformer, {name}")
    examples = [
        f"{s}\n  -> {h}\n  ref {t}" for (s, t), h in zip(test_pairs[:5], hypotheses, strict=False)
    ]
    (out_dir / "examples.txt").write_text("\n".join(examples) + "\n", encoding="utf-8")
    return {
        "data": f"{name}: {len(train_pairs):,} train / {len(test_pairs):,} test pairs",
        "test_bleu": round(test["bleu"], 2),
        "test_chrf": round(test["chrf"], 2),
        "val_bleu_by_eval": [round(v, 2) for _, v in history.series.get("val_bleu", [])],
        "steps": len(history.series["train_loss"]),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "config": asdict(config),
    }
