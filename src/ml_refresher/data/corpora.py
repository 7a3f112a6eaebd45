"""Tagged and plain corpora: Penn Treebank sample, CoNLL-2002 NER and Brown through NLTK,
CoNLL-2003 English NER through Hugging Face `datasets`."""

from __future__ import annotations

from ml_refresher.data.nltk_packages import nltk_ready
from ml_refresher.data.settings import DataMissingError
from ml_refresher.data.splits import TaggedCorpus

TREEBANK_TRAIN_SENTENCES = 3000
CONLL2002_LANGUAGES = ("esp", "ned")
# The hub's "conll2003" is a loading script, which `datasets` no longer runs; this copy holds the
# same splits as Parquet files.
CONLL2003_HUB_NAME = "lhoestq/conll2003"
# The tag ids of the hub's CoNLL-2003 copies, for a copy whose features do not name them.
CONLL2003_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


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


def _hub_cache_only():
    """A context in which `datasets` reads only its cache: offline, a hub lookup would retry
    for about 20 seconds before falling back to it."""
    from unittest import mock

    import datasets

    return mock.patch.object(datasets.config, "HF_HUB_OFFLINE", True)


def load_conll2003() -> TaggedCorpus:
    """CoNLL-2003 English named entities, (word, BIO tag) sentences: train (14,041) and the
    final test split (3,453), from the Hugging Face cache that `kata setup` fills online."""
    from datasets import load_dataset

    try:
        with _hub_cache_only():
            splits = load_dataset(CONLL2003_HUB_NAME)
    except (ConnectionError, FileNotFoundError) as error:  # not in the cache
        from huggingface_hub import constants

        raise DataMissingError(
            f"CoNLL-2003 ({CONLL2003_HUB_NAME} on the Hugging Face Hub)",
            [f"the Hugging Face cache under {constants.HF_HOME} ($HF_HOME)"],
            offline="load_conll2002() (Spanish or Dutch, the same BIO tags)",
        ) from error

    def read(split) -> list[list[tuple[str, str]]]:
        names = getattr(getattr(split.features["ner_tags"], "feature", None), "names", None)
        names = names or CONLL2003_TAGS
        return [
            [(word, names[tag]) for word, tag in zip(row["tokens"], row["ner_tags"], strict=True)]
            for row in split
        ]

    return TaggedCorpus(train=read(splits["train"]), test=read(splits["test"]))
