"""Running text for language models and word embeddings: the Penn Treebank LM text (Mikolov's
preprocessing) and text8, each with a fallback built from an NLTK corpus when it is not here, and
Tiny Shakespeare for character-level models."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from pathlib import Path

from ml_refresher.data.nltk_packages import nltk_ready
from ml_refresher.data.settings import DataCorruptError, DataMissingError, data_dir
from ml_refresher.data.splits import LanguageModelText, TokenStream

PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
PTB_SOURCE = "Penn Treebank LM text (Mikolov's ptb.*.txt)"
TREEBANK_SOURCE = "NLTK treebank sample, preprocessed like the PTB LM text"
TEXT8_SOURCE = "text8 (first 10^8 bytes of English Wikipedia, cleaned)"
BROWN_SOURCE = "NLTK Brown corpus, lower-cased alphabetic tokens"
TINY_SHAKESPEARE_FILE = Path("tinyshakespeare") / "input.txt"
TINY_SHAKESPEARE_CHARS = 1_115_394  # the published file: 40,000 lines, 65 distinct characters

UNKNOWN, NUMBER = "<unk>", "N"
# Trace tokens (-NONE-: *-1, *T*-2, 0) are not words. Mikolov's files have no punctuation
# either, but "$" and "#" stay, as in his files ("$ N million").
DROPPED_TAGS = {"-NONE-", ",", ".", ":", "``", "''", "-LRB-", "-RRB-"}
NUMERAL = re.compile(r"[\d.,:\\/-]*\d[\d.,:\\/-]*")  # 61, 3,000, 1.5, 3\/4 (treebank escapes /)


def _read_ptb_file(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataCorruptError(path, f"not UTF-8 text: {error}") from error
    sentences = [line.split() for line in text.splitlines()]
    if not any(sentences):
        raise DataCorruptError(path, "no sentences in it")
    # Every line of the published files ends with a newline, so a download cut at a random byte
    # ends without one (unless it stops exactly after a newline, 1 byte in ~25): cut short.
    if not text.endswith("\n"):
        raise DataCorruptError(path, "its last line has no newline: the file was cut short")
    return sentences


def _treebank_lm_text() -> LanguageModelText:
    """The NLTK sample of the treebank in the LM files' form: lower-cased, numbers as N,
    traces and punctuation dropped, words seen once in train as <unk>; 80/10/10 by position."""
    nltk_ready("treebank")
    from nltk.corpus import treebank

    sentences = [
        [
            NUMBER if NUMERAL.fullmatch(word) else word.lower()
            for word, tag in sentence
            if tag not in DROPPED_TAGS
        ]
        for sentence in treebank.tagged_sents()
    ]
    n_train, n_valid = int(0.8 * len(sentences)), int(0.1 * len(sentences))
    train = sentences[:n_train]
    counts = Counter(word for sentence in train for word in sentence)
    # A closed vocabulary, as in the LM files: valid and test words unseen in train are <unk> too.
    vocabulary = {word for word, count in counts.items() if count > 1}

    def closed(part: list[list[str]]) -> list[list[str]]:
        return [[w if w in vocabulary else UNKNOWN for w in sentence] for sentence in part]

    return LanguageModelText(
        train=closed(train),
        valid=closed(sentences[n_train : n_train + n_valid]),
        test=closed(sentences[n_train + n_valid :]),
        source=TREEBANK_SOURCE,
    )


def load_ptb_text() -> LanguageModelText:
    """Penn Treebank language-model text: sentences as token lists, `train, valid, test`.
    From ptb/ptb.{train,valid,test}.txt in the data directory if they are there (42,068 / 3,370
    / 3,761 sentences, 10,000-word vocabulary with <unk>, numbers as N); else built the same
    way from NLTK's 3,914-sentence treebank sample (about 3,100 / 390 / 390). `.source` says
    which."""
    folder = data_dir() / "ptb"
    present = [(folder / name).is_file() for name in PTB_FILES]
    if not any(present):
        return _treebank_lm_text()
    if not all(present):  # half a download: say so rather than quietly use the small sample
        missing = [folder / name for name, here in zip(PTB_FILES, present, strict=True) if not here]
        raise DataMissingError("Penn Treebank LM text", missing)
    train, valid, test = (_read_ptb_file(folder / name) for name in PTB_FILES)
    return LanguageModelText(train, valid, test, source=PTB_SOURCE)


def _shared_tokens(text: str, chunk_chars: int = 1 << 20) -> list[str]:
    """text.split(), with one string object per distinct word: text8's 17 million tokens as
    separate strings would take about a gigabyte, shared ones a few megabytes."""
    vocabulary: dict[str, str] = {}
    tokens: list[str] = []
    start = 0
    while start < len(text):
        end = text.find(" ", start + chunk_chars)
        end = len(text) if end == -1 else end
        tokens.extend(vocabulary.setdefault(word, word) for word in text[start:end].split())
        start = end
    return tokens


def load_text8() -> TokenStream:
    """One stream of lower-case word tokens for word2vec. text8 (17 million tokens of cleaned
    Wikipedia) from text8/text8.zip in the data directory if it is there; else the Brown corpus
    lower-cased, alphabetic tokens only (about 980,000). `.source` says which."""
    path = data_dir() / "text8" / "text8.zip"
    if not path.is_file():
        nltk_ready("brown")
        from nltk.corpus import brown

        return TokenStream((w.lower() for w in brown.words() if w.isalpha()), BROWN_SOURCE)
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("text8").decode("ascii")  # reading checks the member's CRC-32
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise DataCorruptError(path, f"not a complete zip holding text8: {error}") from error
    except UnicodeDecodeError as error:
        raise DataCorruptError(path, f"text8 is plain ASCII, this is not: {error}") from error
    return TokenStream(_shared_tokens(text), TEXT8_SOURCE)


def load_tiny_shakespeare() -> str:
    """Tiny Shakespeare (char-rnn's and nanoGPT's character-level set): 40,000 lines of the
    plays as one string of 1,115,394 characters, 65 distinct ones. Read from
    tinyshakespeare/input.txt in the data directory; there is no fallback corpus."""
    path = data_dir() / TINY_SHAKESPEARE_FILE
    if not path.is_file():
        raise DataMissingError("Tiny Shakespeare", [path])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataCorruptError(path, f"not UTF-8 text: {error}") from error
    if len(text) != TINY_SHAKESPEARE_CHARS:
        raise DataCorruptError(
            path, f"{len(text):,} characters, the published file has {TINY_SHAKESPEARE_CHARS:,}"
        )
    return text
