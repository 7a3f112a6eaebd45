"""Tests for word2vec: the vocabulary and sampling pieces on hand cases, the loss against its
formula, neighbours on hand vectors, then a model trained on a corpus with planted synonyms.

Lesson: katas/03_nlp/README.md. Run: pytest katas/03_nlp/test_word2vec.py
"""

import re

import numpy as np
import pytest
import torch
from nlp_helpers import synonym_corpus
from word2vec import (
    SkipGram,
    Vocabulary,
    build_vocabulary,
    group_hit_rate,
    keep_probabilities,
    nearest_neighbours,
    noise_distribution,
    plot_tsne,
    skipgram_pairs,
    subsample,
    train_word2vec,
    tsne_coordinates,
)

from ml_refresher.testing import assert_close, assert_equal, assert_png, assert_shape, assert_true


def test_build_vocabulary_orders_by_count_then_alphabet():
    # c is seen before a, so only an alphabetical tie-break puts a first.
    vocab = build_vocabulary([["b", "c", "b"], ["a", "c", "b"], ["d", "a"]], min_count=2)
    assert_equal(
        vocab.words,
        ["b", "a", "c"],
        "build_vocabulary(min_count=2).words",
        hint="b 3 times, then a and c twice (ties alphabetical, whatever came first); d, seen "
        "once, is dropped; min_count itself is enough",
    )
    assert_equal(vocab.counts, [3, 2, 2], "build_vocabulary counts")
    assert_equal(
        vocab.encode(["a", "zebra", "b"]), [1, 0], "Vocabulary.encode", hint="drop unknown words"
    )


def test_keep_probabilities_on_a_hand_case():
    got = keep_probabilities(np.array([880, 90, 20, 10]), threshold=0.02)  # f = .88, .09, .02, .01
    # sqrt(0.02 / 0.01) = 1.41 is not a probability: clipped to 1.
    expected = [np.sqrt(0.02 / 0.88), np.sqrt(0.02 / 0.09), 1.0, 1.0]
    assert_close(
        got,
        expected,
        "keep_probabilities",
        atol=1e-12,
        hint="min(1, sqrt(threshold / f)) with f = count / total count",
    )


def test_subsample_keeps_each_word_at_its_rate():
    ids = np.repeat(np.arange(3), 30_000)
    kept = subsample(ids, np.array([0.1, 0.5, 1.0]), np.random.default_rng(0))
    rates = np.bincount(kept, minlength=3) / 30_000
    # Binomial standard error at p = 0.5 and n = 30,000 is 0.003: 0.015 is five of them.
    assert_close(rates, [0.1, 0.5, 1.0], "share of each id kept by subsample", atol=0.015)


def test_noise_distribution_flattens_the_unigram():
    got = noise_distribution(np.array([16, 1]))
    # 16^0.75 = 8: the rare word's share rises from 1/17 to 1/9.
    assert_close(got, [8 / 9, 1 / 9], "noise_distribution", atol=1e-12)


def test_skipgram_pairs_on_a_hand_case():
    sentences = [np.array([0, 1, 2]), np.array([3, 4])]
    centres, contexts = skipgram_pairs(sentences, window=1)
    # The pairs as a multiset: any order is right, a pair twice or missing is not.
    got = sorted(zip(centres.tolist(), contexts.tolist(), strict=True))
    expected = sorted([(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3)])
    hint = "both directions of each pair; pairs never cross a sentence boundary: (2, 3) is not one"
    assert_equal(got, expected, "skipgram_pairs(window=1), sorted (centre, context)", hint=hint)
    centres, contexts = skipgram_pairs(sentences, window=2)
    got = sorted(zip(centres.tolist(), contexts.tolist(), strict=True))
    expected = sorted([*expected, (0, 2), (2, 0)])
    assert_equal(got, expected, "skipgram_pairs(window=2), sorted (centre, context)", hint=hint)


def test_skipgram_starts_at_the_loss_of_a_coin_toss():
    torch.manual_seed(0)
    model = SkipGram(vocab_size=10, dim=8)
    assert_equal(model.context.weight, torch.zeros(10, 8), "initial context vectors")
    assert_true(
        model.center.weight.abs().max().item() <= 0.5 / 8,
        "initial centre vectors lie in [-0.5/d, 0.5/d]",
        [f"max |v| = {model.center.weight.abs().max().item():.4f}"],
    )
    loss = model(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6, 7], [8, 9, 0]]))
    # Zero context vectors make every score 0 and every sigmoid 1/2: (1 + k) log 2 with k = 3.
    assert_close(loss, 4 * np.log(2), "initial loss", atol=1e-6)


def test_skipgram_loss_matches_its_formula():
    torch.manual_seed(1)
    model = SkipGram(vocab_size=7, dim=4)
    with torch.no_grad():
        model.center.weight.normal_(0, 3)
        model.context.weight.normal_(0, 3)
    centres, contexts = torch.tensor([0, 3, 6]), torch.tensor([1, 1, 2])
    negatives = torch.tensor([[2, 4], [5, 6], [0, 0]])
    v = model.center.weight.detach().double().numpy()
    u = model.context.weight.detach().double().numpy()

    def log_sigmoid(x):
        return -np.logaddexp(0, -x)  # stable for the large scores that std 3 produces

    rows = zip(centres.tolist(), contexts.tolist(), negatives.tolist(), strict=True)
    expected = np.mean(
        [
            -log_sigmoid(u[o] @ v[c]) - sum(log_sigmoid(-u[k] @ v[c]) for k in negs)
            for c, o, negs in rows
        ]
    )
    got = model(centres, contexts, negatives)
    assert_true(got.dim() == 0, "SkipGram.forward returns a scalar", [f"shape {tuple(got.shape)}"])
    # float32 sums of a few terms of size ~30: rounding is about 1e-5.
    assert_close(
        got,
        expected,
        "negative-sampling loss vs its formula",
        atol=1e-4,
        hint="negatives score -u_k . v_c inside the log-sigmoid; sum over k, mean over the batch",
    )


def test_skipgram_loss_is_exact_for_huge_scores():
    model = SkipGram(vocab_size=3, dim=2)
    with torch.no_grad():
        model.center.weight.copy_(torch.tensor([[10.0, 10.0], [0.0, 0.0], [0.0, 0.0]]))
        model.context.weight.copy_(torch.tensor([[0.0, 0.0], [-10.0, -10.0], [10.0, 10.0]]))
    # Centre 0, context 1 scores -200, negative 2 scores +200: each term is -log sigmoid(-200)
    # = 200 + log1p(e^-200), so the loss is 400. sigmoid(-200) is 0.0 in float32, and
    # log(sigmoid(x)) gives -inf; F.logsigmoid stays exact. 400 in float32: ulp 3e-5.
    loss = model(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2]]))
    assert_close(
        loss,
        400.0,
        "loss at scores of +-200",
        atol=1e-3,
        hint="F.logsigmoid(x), not torch.log(torch.sigmoid(x))",
    )


HAND_WORDS = ["a", "b", "c", "d"]
HAND_VECTORS = np.array([[1.0, 0.0], [2.0, 0.2], [0.0, 1.0], [-1.0, 0.1]])
HAND_VOCAB = Vocabulary(
    HAND_WORDS, np.ones(4, dtype=np.int64), {w: i for i, w in enumerate("abcd")}
)


def test_nearest_neighbours_by_cosine():
    got = nearest_neighbours(HAND_VECTORS, HAND_VOCAB, "a", k=2)
    assert_equal(
        [w for w, _ in got],
        ["b", "c"],
        "nearest_neighbours of 'a', k=2 (a itself excluded)",
        hint="cosine ignores length: b = 2a + small, so it is the nearest although it is far",
    )
    assert_close([s for _, s in got], [2 / np.hypot(2, 0.2), 0.0], "similarities", atol=1e-9)
    with pytest.raises(KeyError, match=re.escape("'zebra' is not in the vocabulary (4 words)")):
        nearest_neighbours(HAND_VECTORS, HAND_VOCAB, "zebra")


def test_group_hit_rate_on_hand_vectors():
    got = group_hit_rate(HAND_VECTORS, HAND_VOCAB, {"x": ["a", "b"], "y": ["c", "d"]}, k=1)
    # a and b are each other's nearest; c's nearest is b, d's is c: 3 of 4 words hit.
    assert_close(got, 0.75, "group_hit_rate(k=1)", atol=1e-12)
    # Groups of unequal size, and a word not in the vocabulary (skipped): a, b, c hit (their
    # nearest is a group mate), d has no mate: 3 of 4 words, although the groups score 1 and 0.
    groups = {"x": ["a", "b", "c", "zebra"], "y": ["d"]}
    got = group_hit_rate(HAND_VECTORS, HAND_VOCAB, groups, k=1)
    assert_close(
        got,
        0.75,
        "group_hit_rate(k=1) with groups of 3 and 1 words",
        atol=1e-12,
        hint="the share over words, not the mean of the groups' shares; skip words not in vocab",
    )


@pytest.fixture(scope="module")
def synonym_model():
    sentences, groups = synonym_corpus(2000, seed=0)
    model = train_word2vec(
        sentences,
        dim=20,
        window=2,
        epochs=4,
        batch_size=256,
        lr=0.02,
        subsample_threshold=1e-2,
        seed=0,
    )
    return model, groups


def test_training_loss_falls(synonym_model):
    model, _ = synonym_model
    losses = model.losses
    assert_equal(len(losses), 4, "train_word2vec(epochs=4): losses, one per epoch")
    assert_true(
        losses[-1] < 0.85 * losses[0],
        "train_word2vec: the loss falls by 15% or more over 4 epochs",
        [f"losses {[round(x, 3) for x in losses]}"],
        hint="zero_grad before backward; the reference falls from ~2.74 to ~2.15",
    )


def test_planted_synonyms_are_each_others_nearest_neighbours(synonym_model):
    model, groups = synonym_model
    assert_shape(model.vectors, (len(model.vocab.words), 20), "Word2Vec.vectors")
    wrong = []
    for members in groups.values():
        for word in members:
            neighbours = {w for w, _ in nearest_neighbours(model.vectors, model.vocab, word, 3)}
            if neighbours != set(members) - {word}:
                wrong.append(f"{word}: {sorted(neighbours)}")
    # The reference gets every word right with a cosine margin of at least 0.45 over 6 seeds.
    assert_true(
        not wrong,
        "each planted word's 3 nearest neighbours are its group mates",
        wrong,
        hint="check the pairs (both directions), the noise distribution and that you return "
        "the centre vectors",
    )


def small_corpus():
    sentences, _ = synonym_corpus(200, seed=1)
    return sentences


def test_train_word2vec_is_reproducible_across_calls():
    settings = dict(dim=8, window=2, epochs=2, batch_size=256, subsample_threshold=1e-2, seed=3)
    first = train_word2vec(small_corpus(), **settings)
    second = train_word2vec(small_corpus(), **settings)
    hint = (
        "seed numpy, torch and the negatives' torch.Generator inside train_word2vec from its "
        "seed: no generator or cache may outlive a call"
    )
    assert_equal(first.losses, second.losses, "losses of two runs with one seed", hint=hint)
    assert_equal(first.vectors, second.vectors, "vectors of two runs with one seed", hint=hint)


class RecordingSkipGram(SkipGram):
    """The kata's SkipGram, noting every batch that training feeds it and the loss it gave."""

    calls = []

    def forward(self, centers, contexts, negatives):
        loss = super().forward(centers, contexts, negatives)
        RecordingSkipGram.calls.append(
            (centers.numpy().copy(), contexts.numpy().copy(), negatives.numpy().copy(), loss.item())
        )
        return loss


def record_training(monkeypatch, sentences, **settings):
    import word2vec as module  # the module under test, whichever implementation the switch chose

    monkeypatch.setattr(module, "SkipGram", RecordingSkipGram)
    RecordingSkipGram.calls = []
    model = train_word2vec(sentences, **settings)
    return model, RecordingSkipGram.calls


def test_training_feeds_shuffled_pairs_and_count_power_negatives(monkeypatch):
    sentences = small_corpus()
    vocab = build_vocabulary(sentences, min_count=1)
    # threshold 1 keeps every occurrence (sqrt(1 / f) >= 1): each epoch has the same pairs.
    centres, contexts = skipgram_pairs([vocab.encode(s) for s in sentences], window=2)
    n_pairs, batch = len(centres), len(centres) // 3 + 1  # three batches, the last smaller
    model, calls = record_training(
        monkeypatch,
        sentences,
        dim=8,
        window=2,
        negatives=5,
        epochs=2,
        batch_size=batch,
        subsample_threshold=1.0,
        seed=0,
    )
    assert_equal(len(calls), 6, f"batches fed to SkipGram: 2 epochs of {n_pairs} pairs by {batch}")
    expected_pairs = sorted(zip(centres.tolist(), contexts.tolist(), strict=True))
    epochs = []
    for e in range(2):
        c = np.concatenate([call[0] for call in calls[3 * e : 3 * e + 3]])
        o = np.concatenate([call[1] for call in calls[3 * e : 3 * e + 3]])
        epochs.append((c, o))
        assert_equal(
            sorted(zip(c.tolist(), o.tolist(), strict=True)),
            expected_pairs,
            f"epoch {e}: the (centre, context) pairs fed to the model, sorted",
            hint="every epoch trains on all of skipgram_pairs' pairs, each once",
        )
        sizes = [len(call[0]) for call in calls[3 * e : 3 * e + 3]]
        mean = sum(call[3] * n for call, n in zip(calls[3 * e : 3 * e + 3], sizes, strict=True))
        # The same float32 batch losses averaged in float64: rounding of order 1e-7.
        assert_close(
            model.losses[e],
            mean / n_pairs,
            f"losses[{e}]: the mean loss over the epoch's pairs",
            atol=1e-5,
            hint="weight each batch's mean loss by its size and divide by the number of pairs",
        )
    assert_true(
        not np.array_equal(epochs[0][0], centres)
        and not np.array_equal(epochs[0][0], epochs[1][0]),
        "the pairs are shuffled, and in a new order every epoch",
        ["the centres of epoch 0 came in skipgram_pairs' order or in epoch 1's order"],
        hint="a fresh permutation of the pairs each epoch, from the one generator of the run",
    )
    drawn = np.concatenate([call[2].ravel() for call in calls])
    share = np.bincount(drawn, minlength=len(vocab.words)) / len(drawn)
    expected = vocab.counts**0.75 / (vocab.counts**0.75).sum()
    # About 59,000 draws: a share p <= 0.13 has standard error sqrt(p (1 - p) / 59,000) < 0.0014,
    # so 0.01 is 7 of them; the unigram (power 1) is off by 0.07 for "the", uniform noise by 0.10.
    assert_close(
        share,
        expected,
        "share of each word among the negatives vs count^0.75",
        atol=0.01,
        hint="draw negatives with torch.multinomial from noise_distribution(vocab.counts)",
    )


def test_training_subsamples_afresh_every_epoch(monkeypatch):
    sentences = small_corpus()
    # One batch per epoch (the batch is larger than the corpus' pairs), so call e is epoch e.
    _, calls = record_training(
        monkeypatch,
        sentences,
        dim=8,
        window=2,
        epochs=2,
        batch_size=10**6,
        subsample_threshold=1e-2,
        seed=0,
    )
    assert_equal(len(calls), 2, "batches fed to SkipGram: one per epoch at this batch size")
    # With threshold 0.01, "the" (20% of the tokens) keeps sqrt(0.01 / 0.2) = 22% of its
    # occurrences, so two independent subsamples differ in hundreds of pairs.
    first, second = (sorted(zip(c.tolist(), o.tolist(), strict=True)) for c, o, _, _ in calls)
    assert_true(
        first != second,
        "each epoch trains on a new subsample",
        ["epochs 0 and 1 trained on exactly the same pairs"],
        hint="subsample every sentence again at the start of each epoch, then make the pairs",
    )


def test_tsne_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 10)) * 5
    points = np.concatenate([c + rng.normal(size=(10, 10)) for c in centres])
    coords = tsne_coordinates(points, seed=0)
    assert_shape(coords, (30, 2), "tsne_coordinates")
    label = np.repeat(np.arange(3), 10)
    distance = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    same = label[:, None] == label[None]
    within = distance[same & ~np.eye(30, dtype=bool)].mean()
    across = distance[~same].mean()
    assert_true(
        within < 0.5 * across,
        "t-SNE keeps three well-separated clusters apart",
        [f"mean distance within clusters {within:.2f}, across {across:.2f}"],
    )


def test_plot_tsne_writes_a_png(synonym_model, tmp_path):
    model, groups = synonym_model
    path = plot_tsne(model.vectors, model.vocab, groups, tmp_path / "tsne.png")
    assert_png(path, "plot_tsne", size=(800, 800), hint="draw with the given scatter_words")
