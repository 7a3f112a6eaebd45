"""Given code for the masked_lm_ner kata: the NER data, a subword tokenizer and batching, which the
kata uses but does not ask you to write.

- TAGS, SPECIAL_TOKENS and their ids: the BIO tag set of CoNLL-2002 and the tokenizer's specials
  ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4; every id >= N_SPECIAL is a real subword);
- pretraining_sentences: the Spanish text for masked-LM pre-training (CoNLL-2002's training and
  development sentences, words only; never the test sentences);
- train_wordpiece, encode_words: a WordPiece tokenizer (Hugging Face `tokenizers`) trained on
  word lists, and one sentence -> subword ids plus the word each subword came from;
- collate: examples of different lengths -> one padded batch (ids with [PAD], labels with -100).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

from ml_refresher.data import load_conll2002
from ml_refresher.data.nltk_packages import nltk_ready
from ml_refresher.vocab import pad_sequences

__all__ = [
    "CLS_ID",
    "IGNORE_INDEX",
    "MASK_ID",
    "N_SPECIAL",
    "PAD_ID",
    "SEP_ID",
    "SPECIAL_TOKENS",
    "TAGS",
    "UNK_ID",
    "collate",
    "encode_words",
    "pretraining_sentences",
    "train_wordpiece",
]

# CoNLL-2002's tags: B- begins an entity, I- continues it, O is outside every entity.
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
N_SPECIAL = len(SPECIAL_TOKENS)
IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index: a label that adds no loss


def pretraining_sentences(language: str = "esp") -> list[list[str]]:
    """The words of CoNLL-2002's training and development (testa) sentences: unlabelled text for
    the masked LM (the tags are never read here). The test sentences (testb) are left out, so
    that the evaluation measures text the model has never seen in any form."""
    train = [[word for word, _tag in sentence] for sentence in load_conll2002(language).train]
    nltk_ready("conll2002")
    from nltk.corpus import conll2002

    development = [list(sentence) for sentence in conll2002.sents(f"{language}.testa")]
    return train + development


def train_wordpiece(word_lists: Iterable[Sequence[str]], vocab_size: int = 4000) -> Tokenizer:
    """A WordPiece tokenizer learned from sentences given as word lists: the specials at ids 0..4,
    then the subwords. Case and accents are kept (capitals are most of the evidence for a name).
    Encoding adds [CLS] before and [SEP] after each sentence; continuation pieces start with ##
    ("Melbourne" -> "Mel", "##bourne")."""
    if vocab_size <= N_SPECIAL:
        raise ValueError(f"vocab_size must exceed the {N_SPECIAL} special tokens, got {vocab_size}")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    # The words are given already split: do not split them again at punctuation.
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tokenizer.train_from_iterator((" ".join(words) for words in word_lists), trainer=trainer)
    # The trainer numbers the pieces in a hash map's order, different in every process
    # (huggingface/tokenizers#1794), so the same seed would give each piece another embedding
    # row from run to run. WordPiece encodes by longest match, whatever the ids: renumber the
    # pieces in sorted order, specials first. (On rare count ties the same bug can still pick
    # another piece; the tests' floors allow for that.)
    pieces = sorted(set(tokenizer.get_vocab()) - set(SPECIAL_TOKENS))
    vocab = {piece: i for i, piece in enumerate([*SPECIAL_TOKENS, *pieces])}
    tokenizer.model = models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)]
    )
    for token_id, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == token_id, "the specials must come first"
    return tokenizer


def encode_words(tokenizer: Tokenizer, words: Sequence[str]) -> tuple[list[int], list[int | None]]:
    """One sentence (a word list) -> (subword ids with [CLS] ... [SEP], word_ids): word_ids[i] is
    the index of the word that subword i comes from, None for [CLS] and [SEP]."""
    if isinstance(words, str):
        raise TypeError("words must be a list of words, not one string")
    encoding = tokenizer.encode(list(words), is_pretokenized=True)
    return encoding.ids, encoding.word_ids


def collate(examples: Sequence[tuple[Sequence[int], Sequence[int]]]) -> tuple[torch.Tensor, ...]:
    """[(ids, labels), ...] of different lengths -> (ids (B, T) padded with PAD_ID, labels (B, T)
    padded with IGNORE_INDEX), T the longest example."""
    ids = pad_sequences([ids for ids, _ in examples], PAD_ID)
    labels = pad_sequences([labels for _, labels in examples], IGNORE_INDEX)
    return ids, labels
