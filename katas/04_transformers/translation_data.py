"""Translation data glue for the transformer kata (given: this file is not the exercise).

- Codecs turn text into ids and back with the specials of ml_refresher.vocab (<pad> 0, <unk> 1,
  <bos> 2, <eos> 3, <mask> 4): `WordCodec` for the number-words task (words and punctuation),
  `train_bpe` for Multi30k (a subword vocabulary trained with Hugging Face `tokenizers`).
- `TranslationSet` encodes sentence pairs once: source = ids + <eos>, target = <bos> ids <eos>,
  and gives length-bucketed padded batches of (src (B, S), tgt (B, T)) int64 tensors.
- `corpus_scores`: corpus BLEU and chrF with sacreBLEU, the figures papers report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ml_refresher.vocab import SPECIALS, Vocabulary, length_bucketed_batches, pad_sequences

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

_WORD = re.compile(r"\w+|[^\w\s]")


def word_tokenize(text: str) -> list[str]:
    """Words and punctuation marks: "nine thousand, ninety-one" ->
    ["nine", "thousand", ",", "ninety", "-", "one"]."""
    return _WORD.findall(text)


def word_detokenize(tokens: Iterable[str]) -> str:
    """The inverse of word_tokenize for number words: no space before "," or around "-"."""
    text = " ".join(tokens)
    return text.replace(" ,", ",").replace(" - ", "-").replace(" -", "-").replace("- ", "-")


class WordCodec:
    """A word-level codec over a Vocabulary: encode(text) -> ids (no <bos>/<eos>),
    decode(ids) -> text (stops at <eos>, drops the other specials)."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary

    @classmethod
    def build(cls, texts: Iterable[str]) -> WordCodec:
        return cls(Vocabulary.build(word_tokenize(t) for t in texts))

    def __len__(self) -> int:
        return len(self.vocabulary)

    def encode(self, text: str) -> list[int]:
        return self.vocabulary.encode(word_tokenize(text))

    def decode(self, ids: Iterable[int]) -> str:
        return word_detokenize(self.vocabulary.decode(ids))


class BPECodec:
    """A Hugging Face `tokenizers` BPE model behind the same interface as WordCodec."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: Iterable[int]) -> str:
        kept = []
        for i in (int(i) for i in ids):
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID, 4):
                kept.append(i)
        return self.tokenizer.decode(kept)


def train_bpe(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> BPECodec:
    """A BPE subword vocabulary learnt from `texts` (the training side only: a vocabulary fitted
    on test sentences leaks them). NFKC normalisation folds look-alike Unicode forms."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIALS[UNK_ID]))
    tokenizer.normalizer = normalizers.NFKC()
    # Split at spaces (kept as "▁", so decode gives back the text), then cut punctuation off
    # the words: "bushes." is "▁bushes" + ".", not a word of its own.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation(behavior="isolated")]
    )
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIALS),  # ids 0..4, the order ml_refresher.vocab uses
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    return BPECodec(tokenizer)


class TranslationSet:
    """Sentence pairs encoded once. src[i] = source ids + <eos>; tgt[i] = <bos> ids <eos>,
    both cut to max_length ids. batches(epoch) -> list of (src (B, S), tgt (B, T)) int64 padded
    with <pad>, sentences of similar length together (ml_refresher.vocab)."""

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        src_codec,
        tgt_codec,
        max_length: int = 128,
        batch_size: int = 64,
        seed: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.pairs = list(pairs)
        self.src = [src_codec.encode(s)[: max_length - 1] + [EOS_ID] for s, _ in self.pairs]
        self.tgt = [
            [BOS_ID] + tgt_codec.encode(t)[: max_length - 2] + [EOS_ID] for _, t in self.pairs
        ]
        self.batch_size = batch_size
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        src = pad_sequences([self.src[i] for i in indices], PAD_ID)
        tgt = pad_sequences([self.tgt[i] for i in indices], PAD_ID)
        return src, tgt

    def batches(self, epoch: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, epoch])  # a new, repeatable order each epoch
        lengths = [len(s) + len(t) for s, t in zip(self.src, self.tgt, strict=True)]
        return [self.batch(b) for b in length_bucketed_batches(lengths, self.batch_size, rng)]

    def sources(self, indices: Sequence[int] | None = None) -> torch.Tensor:
        """The source side of the given pairs (all by default), padded: (n, S) int64."""
        indices = range(len(self)) if indices is None else indices
        return pad_sequences([self.src[i] for i in indices], PAD_ID)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (0..100) of detokenised hypotheses against one reference each,
    sacreBLEU's defaults (13a tokenisation, case-sensitive), so figures compare with papers."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references differ in number: {len(hypotheses)} vs {len(references)}"
        )
    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)])
    chrf = sacrebleu.corpus_chrf(list(hypotheses), [list(references)])
    return {"bleu": bleu.score, "chrf": chrf.score}
