"""Data loaders, offline-first: each reads a prepared local copy (the data directory and NLTK's
paths) and says which command fetches what is missing; `kata setup` keeps the download paths.

    from ml_refresher.data import load_fashion_mnist
    data = load_fashion_mnist()    # data.x_train (60000, 28, 28) uint8, data.y_train (60000,)
"""

from ml_refresher.data.corpora import load_brown, load_conll2002, load_conll2003, load_treebank
from ml_refresher.data.generated import translation_pairs
from ml_refresher.data.images import load_cifar10, load_fashion_mnist, load_mnist
from ml_refresher.data.lm_text import load_ptb_text, load_text8, load_tiny_shakespeare
from ml_refresher.data.nltk_packages import nltk_ready
from ml_refresher.data.pretrained import load_pretrained_bert
from ml_refresher.data.settings import DataCorruptError, DataMissingError, data_dir
from ml_refresher.data.splits import (
    ImageDataset,
    LanguageModelText,
    TaggedCorpus,
    TextDataset,
    TokenStream,
)
from ml_refresher.data.text import load_imdb, load_movie_reviews, load_sentence_polarity
from ml_refresher.data.translation import load_multi30k, load_translation_pairs

__all__ = [
    "DataCorruptError",
    "DataMissingError",
    "ImageDataset",
    "LanguageModelText",
    "TaggedCorpus",
    "TextDataset",
    "TokenStream",
    "data_dir",
    "load_brown",
    "load_cifar10",
    "load_conll2002",
    "load_conll2003",
    "load_fashion_mnist",
    "load_imdb",
    "load_mnist",
    "load_multi30k",
    "load_pretrained_bert",
    "load_movie_reviews",
    "load_ptb_text",
    "load_sentence_polarity",
    "load_text8",
    "load_tiny_shakespeare",
    "load_translation_pairs",
    "load_treebank",
    "nltk_ready",
    "translation_pairs",
]
