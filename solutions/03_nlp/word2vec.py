"""Reference: skip-gram with negative sampling (word2vec) in torch, nearest neighbours, t-SNE."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nlp_helpers import SANITY_GROUPS, scatter_words
from sklearn.manifold import TSNE
from torch import nn
from tqdm import tqdm

from ml_refresher.data import load_brown
from ml_refresher.training import apply_overrides


@dataclass
class Vocabulary:
    words: list[str]
    counts: np.ndarray
    index: dict[str, int]

    def encode(self, sentence):
        return np.array([self.index[w] for w in sentence if w in self.index], dtype=np.int64)


def build_vocabulary(sentences, min_count=5):
    counts = Counter(word for sentence in sentences for word in sentence)
    # Most frequent first, ties alphabetical: a deterministic order whatever the input order.
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return Vocabulary(
        words=kept,
        counts=np.array([counts[w] for w in kept], dtype=np.int64),
        index={w: i for i, w in enumerate(kept)},
    )


def keep_probabilities(counts, threshold=1e-4):
    frequency = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    return np.minimum(1.0, np.sqrt(threshold / frequency))


def subsample(ids, keep_prob, rng):
    return ids[rng.random(len(ids)) < keep_prob[ids]]


def noise_distribution(counts, power=0.75):
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def skipgram_pairs(sentences, window):
    if not sentences:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ids = np.concatenate(sentences)
    sentence_of = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    centers, contexts = [], []
    # All (i, i + d) pairs at once for each offset d, kept where both ends are in one sentence.
    for d in range(1, window + 1):
        same = sentence_of[:-d] == sentence_of[d:]
        left, right = ids[:-d][same], ids[d:][same]
        centers += [left, right]
        contexts += [right, left]
    return np.concatenate(centers), np.concatenate(contexts)


class SkipGram(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.center = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        # As in the original code: small random centre vectors, zero context vectors, so that
        # every score starts at 0 and the first gradients are the same for all words.
        nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.context.weight)

    def forward(self, centers, contexts, negatives):
        v = self.center(centers)  # (B, d)
        positive = (self.context(contexts) * v).sum(-1)  # (B,)
        negative = torch.bmm(self.context(negatives), v.unsqueeze(-1)).squeeze(-1)  # (B, k)
        # log(sigmoid(x)) via logsigmoid: exact for large |x| where sigmoid rounds to 0 or 1.
        loss = -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)
        return loss.mean()


@dataclass
class Word2Vec:
    vocab: Vocabulary
    vectors: np.ndarray
    losses: list[float]


def train_word2vec(
    sentences,
    dim=50,
    window=2,
    negatives=5,
    epochs=5,
    batch_size=512,
    lr=0.01,
    min_count=1,
    subsample_threshold=1e-3,
    seed=0,
    progress=False,
):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    vocab = build_vocabulary(sentences, min_count)
    encoded = [vocab.encode(s) for s in sentences]
    keep = keep_probabilities(vocab.counts, subsample_threshold)
    noise = torch.as_tensor(noise_distribution(vocab.counts), dtype=torch.float32)
    model = SkipGram(len(vocab.words), dim)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        # A fresh subsample each epoch: every occurrence of a frequent word gets its turn.
        centers, contexts = skipgram_pairs([subsample(s, keep, rng) for s in encoded], window)
        order = torch.as_tensor(rng.permutation(len(centers)))
        centers, contexts = torch.as_tensor(centers)[order], torch.as_tensor(contexts)[order]
        total, batches = 0.0, range(0, len(centers), batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress):
            c, o = centers[start : start + batch_size], contexts[start : start + batch_size]
            k = torch.multinomial(noise, len(c) * negatives, True, generator=generator)
            loss = model(c, o, k.view(len(c), negatives))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(c)
        losses.append(total / max(len(centers), 1))
    return Word2Vec(vocab, model.center.weight.detach().numpy().copy(), losses)


def nearest_neighbours(vectors, vocab, word, k=5):
    if word not in vocab.index:
        raise KeyError(f"{word!r} is not in the vocabulary ({len(vocab.words)} words)")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[vocab.index[word]]
    similarity[vocab.index[word]] = -np.inf  # a word is not its own neighbour
    best = np.argsort(-similarity, kind="stable")[:k]
    return [(vocab.words[i], float(similarity[i])) for i in best]


def group_hit_rate(vectors, vocab, groups, k=10):
    hits = total = 0
    for members in groups.values():
        present = [w for w in members if w in vocab.index]
        for word in present:
            neighbours = {w for w, _ in nearest_neighbours(vectors, vocab, word, k)}
            hits += bool(neighbours & (set(present) - {word}))
            total += 1
    return hits / total


def tsne_coordinates(vectors, seed=0):
    # Perplexity is an effective number of neighbours and must stay below the number of points.
    perplexity = min(30.0, (len(vectors) - 1) / 3)
    # Exact gradients cost O(n^2): for a few dozen words that beats Barnes-Hut's tree by 10x.
    tsne = TSNE(
        2, perplexity=perplexity, metric="cosine", init="pca", method="exact", random_state=seed
    )
    return tsne.fit_transform(np.asarray(vectors, dtype=np.float64))


def plot_tsne(vectors, vocab, groups, path, seed=0):
    words = [w for members in groups.values() for w in members if w in vocab.index]
    colour = {w: g for g, members in enumerate(groups.values()) for w in members}
    coords = tsne_coordinates(vectors[[vocab.index[w] for w in words]], seed)
    return scatter_words(coords, words, path, [colour[w] for w in words])


@dataclass
class Config:
    """`kata train word2vec --set name=value` changes one of these."""

    dim: int = 100
    window: int = 5
    negatives: int = 5
    epochs: int = 5
    batch_size: int = 4096
    lr: float = 0.003
    min_count: int = 5
    subsample_threshold: float = 1e-4
    seed: int = 0


def train(out_dir, overrides=None):
    config = apply_overrides(Config(), overrides)
    sentences = [[w.lower() for w in s if any(c.isalpha() for c in w)] for s in load_brown()]
    model = train_word2vec(sentences, **dataclasses.asdict(config), progress=True)
    plot_tsne(model.vectors, model.vocab, SANITY_GROUPS, Path(out_dir) / "tsne.png")
    metrics = {"vocabulary": len(model.vocab.words), "final_loss": round(model.losses[-1], 4)}
    for name, members in SANITY_GROUPS.items():
        hit_rate = group_hit_rate(model.vectors, model.vocab, {name: members})
        metrics[f"{name}_hit_rate@10"] = round(hit_rate, 3)
    for word in ("monday", "three"):
        metrics[f"neighbours_of_{word}"] = [
            w for w, _ in nearest_neighbours(model.vectors, model.vocab, word)
        ]
    return metrics
