"""ml_refresher.vocab: fixed special ids, a frequency order that does not depend on the data's
order, round trips, padding, and length buckets that cover every index once."""

import numpy as np
import pytest
import torch

from ml_refresher.testing import assert_equal
from ml_refresher.vocab import (
    SPECIALS,
    Vocabulary,
    length_bucketed_batches,
    pad_sequences,
)


def test_specials_have_fixed_ids():
    vocab = Vocabulary(["a"])
    assert SPECIALS == ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>")
    ids = [vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id, vocab.mask_id]
    assert ids == [0, 1, 2, 3, 4]
    assert [vocab.token(i) for i in range(5)] == list(SPECIALS)


def test_build_orders_by_frequency_then_alphabet_and_respects_limits():
    texts = [["b", "a", "c", "a"], ["b", "d", "c"], ["e"]]
    vocab = Vocabulary.build(texts)
    # a, b, c twice (alphabetical among ties), then d, e once.
    assert vocab.tokens[5:] == ["a", "b", "c", "d", "e"]
    assert Vocabulary.build(texts[::-1]).tokens == vocab.tokens
    assert Vocabulary.build(texts, max_size=2).tokens[5:] == ["a", "b"]
    assert Vocabulary.build(texts, min_count=2).tokens[5:] == ["a", "b", "c"]
    assert "<pad>" not in Vocabulary.build([["<pad>", "x"]]).tokens[5:]


def test_encode_decode_round_trip_with_unknowns_and_specials():
    vocab = Vocabulary.build([["the", "cat", "sat"]])
    ids = vocab.encode(["the", "dog", "sat"], bos=True, eos=True)
    assert ids == [2, vocab.id("the"), 1, vocab.id("sat"), 3]
    assert vocab.decode(ids + [0, 0]) == ["the", "<unk>", "sat"]
    assert vocab.decode([vocab.id("cat"), 3, vocab.id("sat")]) == ["cat"], "stops at <eos>"
    assert vocab.decode(ids, skip_specials=False)[0] == "<bos>"
    with pytest.raises(IndexError, match="token_id 99 is outside the vocabulary"):
        vocab.token(99)


def test_pad_sequences_pads_on_the_right_and_cuts_to_max_length():
    padded = pad_sequences([[5, 6, 7], [8]], pad_id=0)
    assert padded.dtype == torch.long
    assert_equal(padded, torch.tensor([[5, 6, 7], [8, 0, 0]]), "padded batch")
    assert_equal(pad_sequences([[5, 6, 7], [8]], 0, max_length=2), [[5, 6], [8, 0]], "cut")
    with pytest.raises(ValueError, match="sequences: need at least one sequence to pad"):
        pad_sequences([], 0)


def test_length_buckets_cover_every_index_once_and_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    batches = length_bucketed_batches(lengths, 10, np.random.default_rng(1))
    assert_equal(np.sort(np.concatenate(batches)), np.arange(1000), "indices over one epoch")
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.split(rng.permutation(1000), 100)])
    # Sorted chunks of 500 lengths in 1..199 leave ~4 between neighbours in a batch of 10;
    # random batches of 10 span ~80% of the range (~160). 20 is far from both.
    assert spread < 20 < random_spread
