"""Tagged and plain corpora read through NLTK: Penn Treebank sample, CoNLL-2002 NER, Brown."""

from __future__ import annotations

from ml_refresher.data.nltk_packages import nltk_ready
from ml_refresher.data.splits import TaggedCorpus

TREEBANK_TRAIN_SENTENCES = 3000
CONLL2002_LANGUAGES = ("esp", "ned")


def load_treebank() -> TaggedCorpus:
    """Penn Treebank sample, (word, POS tag) sentences: the first 3,000 train, the other 914 test.
    Tags include the -NONE- tag of empty elements (traces), as NLTK reads them."""
    nltk_ready("treebank")
    from nltk.corpus import treebank

    sentences = [list(sentence) for sentence in treebank.tagged_sents()]
    return TaggedCorpus(
        train=sentences[:TREEBANK_TRAIN_SENTENCES], test=sentences[TREEBANK_TRAIN_SENTENCES:]
    )


def load_conll2002(language: str = "esp") -> TaggedCorpus:
    """CoNLL-2002 named entities, (word, BIO tag) sentences: the shared task's train file, and
    its final test file (testb)."""
    if language not in CONLL2002_LANGUAGES:
        raise ValueError(f"language must be one of {CONLL2002_LANGUAGES}, got {language!r}")
    nltk_ready("conll2002")
    from nltk.corpus import conll2002

    def read(fileid: str) -> list[list[tuple[str, str]]]:
        return [[(w, tag) for w, _pos, tag in s] for s in conll2002.iob_sents(fileid)]

    return TaggedCorpus(train=read(f"{language}.train"), test=read(f"{language}.testb"))


def load_brown(categories: str | list[str] | None = None) -> list[list[str]]:
    """Brown corpus sentences as token lists, all of them or those of the given categories."""
    nltk_ready("brown")
    from nltk.corpus import brown

    return [list(sentence) for sentence in brown.sents(categories=categories)]
