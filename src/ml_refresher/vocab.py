"""Vocabularies and batching for the text katas: code the model katas need but do not teach.

- Vocabulary: token <-> id with the specials every sequence model uses, built from counts;
- pad_sequences: a list of id lists -> one padded int64 tensor;
- length_bucketed_batches: index batches of similar lengths, so that padding costs little.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch

PAD, UNK, BOS, EOS, MASK = "<pad>", "<unk>", "<bos>", "<eos>", "<mask>"
SPECIALS = (PAD, UNK, BOS, EOS, MASK)  # ids 0..4, in this order, in every Vocabulary


class Vocabulary:
    """Tokens and their ids: the specials first (<pad> 0, <unk> 1, <bos> 2, <eos> 3, <mask> 4),
    then the given tokens in order. Unknown tokens encode to <unk>."""

    def __init__(self, tokens: Iterable[str] = ()):
        self._tokens: list[str] = list(SPECIALS)
        for token in tokens:
            if token not in SPECIALS:
                self._tokens.append(token)
        self._ids = {token: i for i, token in enumerate(self._tokens)}
        if len(self._ids) != len(self._tokens):
            raise ValueError("tokens: every token must appear once")

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], max_size: int | None = None, min_count: int = 1
    ) -> Vocabulary:
        """The max_size most frequent tokens seen at least min_count times, most frequent first,
        ties in alphabetical order (so the ids do not depend on the order of the data).
        max_size counts the tokens after the specials."""
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 or None, got {max_size}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        return cls(kept[:max_size])

    pad_id, unk_id, bos_id, eos_id, mask_id = range(len(SPECIALS))

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {self._tokens[5:10]}...)"

    def id(self, token: str) -> int:
        return self._ids.get(token, self.unk_id)

    def token(self, token_id: int) -> str:
        if not 0 <= token_id < len(self._tokens):
            raise IndexError(f"token_id {token_id} is outside the vocabulary (size {len(self)})")
        return self._tokens[token_id]

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def encode(self, tokens: Sequence[str], bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.id(t) for t in tokens]
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> list[str]:
        """Tokens for the ids; with skip_specials, <pad>/<bos>/<eos>/<mask> are dropped (<unk>
        is kept, it stands for a word) and decoding stops at the first <eos>."""
        out = []
        for i in (int(i) for i in ids):
            if skip_specials and i == self.eos_id:
                break
            if skip_specials and i in (self.pad_id, self.bos_id, self.mask_id):
                continue
            out.append(self.token(i))
        return out


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_id: int = 0, max_length: int | None = None
) -> torch.Tensor:
    """(batch, longest) int64, each row the sequence followed by pad_id; with max_length, the
    sequences are cut to their first max_length ids."""
    if len(sequences) == 0:
        raise ValueError("sequences: need at least one sequence to pad")
    rows = [list(s)[:max_length] for s in sequences]
    out = torch.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def length_bucketed_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Index batches for one epoch in which sequences of similar length go together, so that
    little of each padded batch is padding: shuffle, sort chunks of 50 batches by length, cut
    them into batches, then shuffle the batches. Every index appears exactly once."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    chunk = 50 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
