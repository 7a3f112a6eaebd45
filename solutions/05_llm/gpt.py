"""Reference: a small GPT (decoder-only transformer LM) with GPT-2's layout, its data pipeline,
perplexity, sampling with a KV cache, and n-gram baselines (the training runs built on it are
given in katas/05_llm/train_gpt.py)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from attention import MultiHeadAttention, merge_heads, scaled_dot_product_attention, split_heads
from gpt_helpers import GPTConfig, KVCache, LayerCache, PositionalScheme, biased_attention
from torch import Tensor, nn

from ml_refresher.vocab import Vocabulary

# ----------------------------------------------------------------------------------------------
# The model


def _init_weights(module: nn.Module) -> None:
    # GPT-2: every weight N(0, 0.02), biases 0; LayerNorm keeps its ones and zeros.
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = MultiHeadAttention(config.n_embd, config.n_head, config.dropout, config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)
        self.apply(_init_weights)
        # Each block adds its two projections to the residual stream: 2 * n_layer additions
        # whose variances add up. Scaling these weights by 1/sqrt(2 * n_layer) keeps the
        # stream's variance independent of depth at initialisation (GPT-2, section 2.3).
        std = 0.02 / math.sqrt(2 * config.n_layer)
        nn.init.normal_(self.attn.out_proj.weight, mean=0.0, std=std)
        nn.init.normal_(self.mlp.c_proj.weight, mean=0.0, std=std)

    def _self_attention(
        self,
        x: Tensor,
        causal: bool,
        key_padding_mask: Tensor | None,
        positional: PositionalScheme,
        cache: LayerCache | None,
    ) -> Tensor:
        B, T, _ = x.shape
        attn = self.attn
        q = split_heads(attn.q_proj(x), attn.n_heads)  # (B, H, T, Dh)
        k = split_heads(attn.k_proj(x), attn.n_heads)
        v = split_heads(attn.v_proj(x), attn.n_heads)
        past = 0 if cache is None else cache.length
        positions = torch.arange(past, past + T, device=x.device)
        # RoPE rotates queries and keys by their own positions (identity for other schemes);
        # the cache stores keys already rotated, so old keys are never touched again.
        q, k = positional.rotate(q, positions), positional.rotate(k, positions)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H, past + T, Dh)
        S = k.shape[2]
        mask = None
        if key_padding_mask is not None:
            if key_padding_mask.shape != (B, S) or key_padding_mask.dtype != torch.bool:
                raise ValueError(
                    f"key_padding_mask must be bool (batch, keys) = {(B, S)}, got "
                    f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
                )
            mask = key_padding_mask[:, None, None, :]  # (B, 1, 1, S)
        use_causal_flag = causal and past == 0
        if causal and past > 0:
            # New query i sits at position past + i and may see keys 0..past + i: the causal
            # mask is aligned to the bottom right, which is_causal (top-left) would get wrong.
            future = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=past)
            mask = future if mask is None else mask & future
        bias = positional.score_bias(positions, torch.arange(S, device=x.device))
        if bias is None:
            out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=use_causal_flag)
        else:  # ALiBi: the bias is added to the scores, so the scores are computed here
            if use_causal_flag:
                future = torch.ones(T, S, dtype=torch.bool, device=x.device).tril()
                mask = future if mask is None else mask & future
            out, weights = biased_attention(q, k, v, bias, mask)
        if self.training and attn.dropout.p > 0:
            out = attn.dropout(weights) @ v  # dropout on the attention weights, as in the kata
        return self.resid_dropout(attn.out_proj(merge_heads(out)))

    def forward(
        self,
        x: Tensor,
        causal: bool = True,
        key_padding_mask: Tensor | None = None,
        *,
        positional: PositionalScheme | None = None,
        cache: LayerCache | None = None,
    ) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.config.n_embd:
            raise ValueError(f"x must be (batch, T, n_embd={self.config.n_embd}), got {x.shape}")
        positional = PositionalScheme() if positional is None else positional
        # Pre-LN: normalise the input of each branch, add the branch to an untouched residual
        # stream; gradients reach the embeddings through the additions unchanged.
        x = x + self._self_attention(self.ln_1(x), causal, key_padding_mask, positional, cache)
        return x + self.mlp(self.ln_2(x))


class LearnedPositions(PositionalScheme):
    def __init__(self, block_size: int, n_embd: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(block_size, n_embd).normal_(0.0, 0.02))

    def embed(self, positions: Tensor) -> Tensor:
        table_size = self.weight.shape[0]
        if int(positions.max()) >= table_size:
            raise ValueError(
                f"position {int(positions.max())} is outside the learned position table "
                f"(block_size={table_size} positions): a learned table cannot extrapolate"
            )
        return self.weight[positions]  # (T, n_embd)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig, positional: PositionalScheme | None = None):
        super().__init__()
        if config.vocab_size < 1 or config.block_size < 1 or config.n_layer < 1:
            raise ValueError(f"config: vocab_size, block_size and n_layer must be >= 1: {config}")
        if config.n_embd % config.n_head != 0:
            raise ValueError(
                f"config: n_embd={config.n_embd} must be divisible by n_head={config.n_head}"
            )
        if positional is None:
            if config.positional != "learned":
                raise ValueError(
                    f"config.positional={config.positional!r}: pass the scheme, "
                    "GPT(config, positional=...) (positional_encodings.build_gpt does it)"
                )
            positional = LearnedPositions(config.block_size, config.n_embd)
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=positional,  # named as in GPT-2, whatever the scheme
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        nn.init.normal_(self.transformer.wte.weight, mean=0.0, std=0.02)
        # Weight tying: the output layer scores each word by its input embedding. One matrix
        # of V x d parameters instead of two, and every word's row is trained by both uses.
        self.lm_head.weight = self.transformer.wte.weight

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, *, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        if idx.ndim != 2 or idx.dtype != torch.int64:
            raise ValueError(f"idx must be int64 (batch, T), got {idx.dtype} {tuple(idx.shape)}")
        B, T = idx.shape
        start = 0 if cache is None else cache.length
        positions = torch.arange(start, start + T, device=idx.device)
        positional = self.transformer.wpe
        x = self.transformer.wte(idx)  # (B, T, n_embd)
        absolute = positional.embed(positions)
        if absolute is not None:
            x = x + absolute  # (T, n_embd) broadcast over the batch
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, positional=positional, cache=None if cache is None else cache[i])
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have idx's shape {(B, T)}, got {targets.shape}")
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


# ----------------------------------------------------------------------------------------------
# Data: vocabulary, token stream, batches


def build_word_vocabulary(sentences: list[list[str]], size: int = 2000) -> Vocabulary:
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    # From the training sentences only; every rarer word becomes <unk>.
    return Vocabulary.build(sentences, max_size=size)


def encode_stream(sentences: list[list[str]], vocabulary: Vocabulary) -> Tensor:
    ids = []
    for sentence in sentences:
        # <eos> after every sentence: the model learns where sentences end, and the next
        # sentence's first word is predicted from the previous ones, as in the PTB setup.
        ids += vocabulary.encode(sentence, eos=True)
    return torch.tensor(ids, dtype=torch.int64)


def contiguous_batches(
    stream: Tensor, block_size: int, batch_size: int, rng: np.random.Generator
) -> list[tuple[Tensor, Tensor]]:
    if stream.ndim != 1 or len(stream) < block_size + 1:
        raise ValueError(
            f"stream must be 1-D with more than block_size={block_size} tokens, "
            f"got shape {tuple(stream.shape)}"
        )
    # A random offset each epoch, so that the window boundaries (where context is shortest)
    # fall on different tokens; then non-overlapping windows, each target shifted by one.
    offset = int(rng.integers(block_size))
    n_windows = (len(stream) - offset - 1) // block_size
    end = offset + n_windows * block_size
    x = stream[offset:end].view(n_windows, block_size)
    y = stream[offset + 1 : end + 1].view(n_windows, block_size)
    order = torch.from_numpy(rng.permutation(n_windows))
    return [
        (x[order[i : i + batch_size]], y[order[i : i + batch_size]])
        for i in range(0, n_windows, batch_size)
    ]


# ----------------------------------------------------------------------------------------------
# Evaluation and baselines


@torch.no_grad()
def perplexity(model: GPT, stream: Tensor, block_size: int, batch_size: int = 32) -> float:
    if len(stream) < 2:
        raise ValueError(f"stream must hold at least 2 tokens, got {len(stream)}")
    was_training = model.training
    model.eval()  # no dropout while measuring
    n = len(stream) - 1  # every token but the first is predicted once
    n_full = n // block_size
    x = stream[: n_full * block_size].view(n_full, block_size)
    y = stream[1 : n_full * block_size + 1].view(n_full, block_size)
    pieces = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, n_full, batch_size)]
    if n_full * block_size < n:  # the last, shorter window
        pieces.append(
            (stream[n_full * block_size : n][None], stream[n_full * block_size + 1 :][None])
        )
    total_nll = 0.0
    for inputs, targets in pieces:
        logits, _ = model(inputs)
        # Sum, not mean: batches hold different numbers of tokens, and the perplexity of the
        # split is exp of the mean over its tokens, not the mean of per-batch perplexities.
        total_nll += F.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), reduction="sum"
        ).item()
    model.train(was_training)
    return math.exp(total_nll / n)


def unigram_perplexity(train_stream: Tensor, eval_stream: Tensor, vocab_size: int) -> float:
    counts = torch.bincount(train_stream, minlength=vocab_size).double()
    # Add-one smoothing: a word never seen in training still gets a little probability.
    log_p = torch.log((counts + 1) / (counts.sum() + vocab_size))
    return math.exp(-log_p[eval_stream[1:]].mean().item())


class KneserNeyTrigram:
    def __init__(self, vocab_size: int, discount: float = 0.75):
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.vocab_size, self.d = vocab_size, discount

    def fit(self, stream) -> KneserNeyTrigram:
        tokens = [int(t) for t in stream]
        self.c3 = Counter(zip(tokens, tokens[1:], tokens[2:], strict=False))
        bigrams = set(zip(tokens, tokens[1:], strict=False))
        self.ctx3, self.types3 = Counter(), Counter()  # c(u v .) and N1+(u v .)
        self.cont2 = Counter()  # N1+(. v w): distinct u before v w
        for (u, v, w), count in self.c3.items():
            self.ctx3[u, v] += count
            self.types3[u, v] += 1
            self.cont2[v, w] += 1
        self.ctx2, self.types2 = Counter(), Counter()  # N1+(. v .) and N1+(v .) among those
        for (v, _), count in self.cont2.items():
            self.ctx2[v] += count
            self.types2[v] += 1
        self.cont1 = Counter(w for _, w in bigrams)  # N1+(. w): distinct words before w
        self.total1 = sum(self.cont1.values())
        return self

    def _p1(self, w: int) -> float:
        # Continuation unigram: how many different words w follows, not how often it occurs
        # ("Francisco" is frequent but only after "San"); interpolated with the uniform.
        discounted = max(self.cont1[w] - self.d, 0) / self.total1
        return discounted + self.d * len(self.cont1) / self.total1 / self.vocab_size

    def _p2(self, w: int, v: int) -> float:
        if self.ctx2[v] == 0:
            return self._p1(w)
        lam = self.d * self.types2[v] / self.ctx2[v]
        return max(self.cont2[v, w] - self.d, 0) / self.ctx2[v] + lam * self._p1(w)

    def prob(self, w: int, context: tuple[int, ...]) -> float:
        if len(context) == 0:
            return self._p1(w)
        if len(context) == 1:
            return self._p2(w, context[0])
        u, v = context[-2:]
        if self.ctx3[u, v] == 0:
            return self._p2(w, v)
        # Subtract d from every seen trigram count and give that mass, d per distinct
        # continuation, to the lower order.
        lam = self.d * self.types3[u, v] / self.ctx3[u, v]
        return max(self.c3[u, v, w] - self.d, 0) / self.ctx3[u, v] + lam * self._p2(w, v)

    def perplexity(self, stream) -> float:
        tokens = [int(t) for t in stream]
        nll = -sum(
            math.log(self.prob(tokens[t], tuple(tokens[max(0, t - 2) : t])))
            for t in range(1, len(tokens))
        )
        return math.exp(nll / (len(tokens) - 1))


# ----------------------------------------------------------------------------------------------
# Sampling


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")
    logits = logits.clone()
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits[logits < kth] = float("-inf")  # ties with the k-th are kept
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs
        # Keep the smallest prefix whose mass reaches top_p: a token is dropped when the
        # tokens before it already hold top_p. The most likely token is always kept.
        drop_sorted = mass_before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits[drop] = float("-inf")
    return logits


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    if logits.ndim != 2:
        raise ValueError(f"logits must be (batch, vocab), got shape {tuple(logits.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)  # greedy
    # Temperature first (it reshapes the distribution), then cut it to top-k / top-p.
    logits = filter_logits(logits / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(
    model: GPT,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    block_size = model.config.block_size
    if use_cache and idx.shape[1] + max_new_tokens > block_size:
        raise ValueError(
            f"with use_cache the prompt ({idx.shape[1]}) plus max_new_tokens ({max_new_tokens}) "
            f"must fit block_size={block_size}; use use_cache=False for longer texts"
        )
    was_training = model.training
    model.eval()
    cache = KVCache(model.config.n_layer) if use_cache else None
    # With a cache, the prompt goes in once; afterwards only the newest token is fed and the
    # keys and values of the earlier ones come from the cache.
    logits, _ = model(idx if use_cache else idx[:, -block_size:], cache=cache)
    for i in range(max_new_tokens):
        next_id = sample_next(logits[:, -1], temperature, top_k, top_p, generator)  # (B,)
        idx = torch.cat([idx, next_id[:, None]], dim=1)
        if i == max_new_tokens - 1:
            break
        if use_cache:
            logits, _ = model(next_id[:, None], cache=cache)
        else:  # recompute the whole (cropped) context each step: O(T) times the work
            logits, _ = model(idx[:, -block_size:])
    model.train(was_training)
    return idx


# ----------------------------------------------------------------------------------------------
# Training


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95)
) -> torch.optim.AdamW:
    # Decay the matrices (linear weights, embeddings); not biases and LayerNorm gains, whose
    # job is to shift and scale and which a pull towards 0 would only hurt.
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_factor: float = 0.1) -> float:
    if step < warmup_steps:  # linear warm-up: Adam's early moment estimates are noisy
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
