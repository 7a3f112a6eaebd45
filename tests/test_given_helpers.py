"""The given modules of 02_deep_learning and 03_nlp: the generated tasks hold the signal they
promise, the text helpers keep ids 0 and 1 for padding and unknown words, the support functions
dl_helpers passes on behave as its lessons say, and the plots are PNGs.
These modules are found by the kata import hook, which the pytest plugin installs."""

from collections import Counter

import dl_helpers
import nlp_helpers
import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from ml_refresher import training, vocab
from ml_refresher.testing import assert_equal, assert_png

# --- bars_task -------------------------------------------------------------------------------


def test_bars_task_shapes_range_and_classes():
    images, labels = dl_helpers.bars_task(200, channels=3, size=32, seed=0)
    assert images.shape == (200, 3, 32, 32) and images.dtype == np.float32
    assert labels.shape == (200,) and labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1, 2, 3}
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_bars_task_is_deterministic_for_a_seed():
    a_images, a_labels = dl_helpers.bars_task(20, seed=3)
    b_images, b_labels = dl_helpers.bars_task(20, seed=3)
    assert_equal(a_images, b_images, "bars_task images, same seed")
    assert_equal(a_labels, b_labels, "bars_task labels, same seed")
    assert not np.array_equal(a_images, dl_helpers.bars_task(20, seed=4)[0])


@pytest.mark.parametrize("channels, size", [(3, 32), (1, 16)])
def test_bars_task_label_is_the_bar_orientation(channels, size):
    images, labels = dl_helpers.bars_task(100, channels=channels, size=size, seed=1)
    # Noise is below 0.3 and every channel of the bar at least 0.6, so a threshold between finds
    # exactly the bar's pixels.
    for image, label in zip(images, labels, strict=True):
        rows, cols = np.nonzero(image[0] > 0.45)
        length = len(rows)
        assert size // 3 <= length < size // 2, f"bar of {length} pixels in a {size}-pixel image"
        assert (image[:, rows, cols] >= 0.6).all()
        # Along the bar one coordinate combination is constant, the other runs without a gap.
        constant, running = {
            0: (rows, cols),
            1: (cols, rows),
            2: (rows - cols, rows),
            3: (rows + cols, rows),
        }[int(label)]
        assert len(set(constant.tolist())) == 1, f"label {label}: rows {rows}, columns {cols}"
        assert_equal(np.sort(running), np.arange(length) + running.min(), f"bar of label {label}")


# --- negation_task ---------------------------------------------------------------------------


def test_negation_task_sentences_and_labels():
    sentences, labels = dl_helpers.negation_task(300, seed=0)
    assert len(sentences) == 300
    assert labels.shape == (300,) and labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1}
    positive, negative = set(dl_helpers._POSITIVE), set(dl_helpers._NEGATIVE)
    for words, label in zip(sentences, labels, strict=True):
        assert words.count("not") == 1
        sentiment = [i for i, w in enumerate(words) if w in positive | negative]
        assert len(sentiment) == 1, words
        others = set(words) - {"not", words[sentiment[0]]}
        assert others <= set(dl_helpers._FILLERS), words
        # The documented rule: the sentiment word's label, flipped by a "not" right before it.
        at = sentiment[0]
        negated = at > 0 and words[at - 1] == "not"
        assert label == int((words[at] in positive) != negated), words


def test_negation_task_is_deterministic_for_a_seed():
    a_sentences, a_labels = dl_helpers.negation_task(50, seed=7)
    b_sentences, b_labels = dl_helpers.negation_task(50, seed=7)
    assert a_sentences == b_sentences
    assert_equal(a_labels, b_labels, "negation_task labels, same seed")
    assert a_sentences != dl_helpers.negation_task(50, seed=8)[0]


def test_negation_task_defeats_a_bag_of_words():
    sentences, labels = dl_helpers.negation_task(3000, seed=0)
    texts = [" ".join(words) for words in sentences]
    vectorizer = CountVectorizer(token_pattern=r"\S+")
    train = vectorizer.fit_transform(texts[:2000])
    model = LogisticRegression(max_iter=1000).fit(train, labels[:2000])
    accuracy = model.score(vectorizer.transform(texts[2000:]), labels[2000:])
    # Word counts say nothing about the label, so the best is chance; on 1000 test sentences
    # chance accuracy has a standard deviation of 0.016, and 0.6 is six of them away.
    assert accuracy < 0.6, f"a bag of words scored {accuracy:.3f}: word order is not needed"


# --- text to ids -----------------------------------------------------------------------------


def test_tokenize_hand_case():
    text = "It's <br />GREAT, really!! Didn't I say so? 10/10."
    assert dl_helpers.tokenize(text) == [
        "it's", "great", "really", "!", "!", "didn't", "i", "say", "so", "?", "10", "10",
    ]  # fmt: skip


def test_build_vocabulary_reserves_pad_and_unk():
    assert (dl_helpers.PAD, dl_helpers.UNK) == (0, 1)
    token_lists = [["b", "a", "c", "a"], ["c", "a", "d"], ["e"]]
    vocabulary = dl_helpers.build_vocabulary(token_lists)
    assert isinstance(vocabulary, vocab.Vocabulary)
    assert (vocabulary.pad_id, vocabulary.unk_id) == (dl_helpers.PAD, dl_helpers.UNK)
    # The five specials, then a: 3, c: 2, then b d e once each in alphabetical order.
    assert vocabulary.tokens == [*vocab.SPECIALS, "a", "c", "b", "d", "e"]
    assert len(vocabulary) == 10, "len counts the specials: it is the embedding size"
    assert dl_helpers.build_vocabulary(token_lists, max_size=2).tokens[5:] == ["a", "c"]
    assert dl_helpers.build_vocabulary(token_lists, min_count=2).tokens[5:] == ["a", "c"]
    many = [[f"w{i}" for i in range(20_010)]]
    assert len(dl_helpers.build_vocabulary(many)) == 5 + 20_000, "max_size defaults to 20,000"


def test_encode_unknown_words_truncation_and_empty_text():
    vocabulary = vocab.Vocabulary(["good", "film"])
    good, film = vocabulary.id("good"), vocabulary.id("film")
    ids = dl_helpers.encode(["good", "odd", "film"], vocabulary)
    assert ids.dtype == np.int64
    assert_equal(ids, [good, dl_helpers.UNK, film], "encode with an unknown word")
    truncated = dl_helpers.encode(["good", "film", "good"], vocabulary, max_length=2)
    assert_equal(truncated, [good, film], "encode(max_length=2)")
    assert_equal(dl_helpers.encode([], vocabulary), [dl_helpers.UNK], "encode of an empty text")
    assert dl_helpers.PAD not in dl_helpers.encode(["x", "good"], vocabulary)


# --- length_bucketed_batches -----------------------------------------------------------------


def padding(lengths, batches):
    return sum(int((lengths[b].max() - lengths[b]).sum()) for b in batches)


def test_length_bucketed_batches_is_the_support_function():
    assert dl_helpers.length_bucketed_batches is vocab.length_bucketed_batches
    assert dl_helpers.plot_history is training.plot_history


def test_length_bucketed_batches_cover_every_index_once():
    lengths = np.random.default_rng(0).integers(1, 500, size=2345)
    batches = dl_helpers.length_bucketed_batches(lengths, 16, np.random.default_rng(1))
    assert_equal(np.sort(np.concatenate(batches)), np.arange(2345), "indices of one epoch")
    sizes = [len(b) for b in batches]
    # 2345 examples in chunks of 50 batches of 16: 800, 800, 745, and only a chunk's last batch
    # may be short (745 = 46 * 16 + 9).
    assert max(sizes) == 16 and sorted(sizes)[:1] == [9] and sizes.count(16) == len(sizes) - 1


def test_length_bucketed_batches_save_padding_and_repeat_for_a_seed():
    lengths = np.random.default_rng(0).integers(1, 500, size=2345)
    batches = dl_helpers.length_bucketed_batches(lengths, 16, np.random.default_rng(1))
    again = dl_helpers.length_bucketed_batches(lengths, 16, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    order = np.random.default_rng(1).permutation(2345)
    random_batches = [order[i : i + 16] for i in range(0, 2345, 16)]
    # Random batches of uniform lengths in [1, 500) pad by about 200 per sequence; sorted chunks
    # of 800 leave gaps of about 500 / 800 between neighbours, so a tenth is a loose bound.
    assert padding(lengths, batches) < 0.1 * padding(lengths, random_batches)


# --- plots -----------------------------------------------------------------------------------


def test_plot_history_writes_a_png_and_splits_loss_from_the_rest(tmp_path, monkeypatch):
    figures = []

    class RecordedFigure(training.Figure):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            figures.append(self)

    monkeypatch.setattr(training, "Figure", RecordedFigure)
    history = {
        "loss": [1.0, 0.6, 0.4],
        "val_loss": [1.1, 0.8, 0.7],
        "accuracy": [0.5, 0.7, 0.8],
        "val_accuracy": [0.4, 0.6, 0.7],
        "learning_rate": [0.1, 0.1, 0.01],
    }
    path = dl_helpers.plot_history(history, str(tmp_path / "history.png"), "a run")
    assert path == tmp_path / "history.png"
    assert_png(path, "plot_history", size=(1000, 400))  # figsize (10, 4) at 100 dpi
    loss_ax, metric_ax = figures[0].axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["loss", "val_loss"]
    labels = [line.get_label() for line in metric_ax.get_lines()]
    assert labels == ["accuracy", "val_accuracy", "learning_rate"]
    # Per-epoch lists are drawn against epochs 1, 2, 3.
    assert_equal(loss_ax.get_lines()[0].get_xdata(), [1, 2, 3], "x of a per-epoch series")
    assert loss_ax.get_xlabel() == "epoch"


@pytest.mark.parametrize("colours", [None, [0, 0, 1, 1, 2]])
def test_scatter_words_writes_a_png(tmp_path, colours):
    coords = np.random.default_rng(0).normal(size=(5, 2))
    words = ["cat", "dog", "red", "blue", "night"]
    path = nlp_helpers.scatter_words(coords, words, str(tmp_path / "map.png"), colours)
    assert path == tmp_path / "map.png"
    assert_png(path, "scatter_words", size=(800, 800))  # figsize (8, 8) at 100 dpi


# --- unknown_word_class ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "word, expected",
    [
        ("1,000", "<num>"),
        ("3.14", "<num>"),
        ("10/24", "<num>"),
        ("1980s", "<-s>"),  # a digit, but not only number characters
        ("*T*-1", "<trace>"),
        ("*-2", "<trace>"),  # a trace before a hyphen
        ("well-known", "<hyphen>"),
        ("12-year-old", "<hyphen>"),
        ("Smith", "<cap>"),
        ("Americans", "<cap-s>"),
        ("Running", "<cap>"),  # capital before suffix
        ("running", "<-ing>"),
        ("walked", "<-ed>"),
        ("quickly", "<-ly>"),
        ("nation", "<-ion>"),
        ("city", "<-ity>"),
        ("bigger", "<-er>"),
        ("biggest", "<-est>"),
        ("national", "<-al>"),
        ("active", "<-ive>"),
        ("readable", "<-able>"),
        ("famous", "<-ous>"),
        ("things", "<-s>"),
        ("cat", "<unk>"),
    ],
)
def test_unknown_word_class(word, expected):
    assert nlp_helpers.unknown_word_class(word) == expected


# --- synonym_corpus --------------------------------------------------------------------------


def test_synonym_corpus_is_deterministic_and_uses_its_groups():
    sentences, groups = nlp_helpers.synonym_corpus(100, seed=2)
    assert groups is nlp_helpers.SYNONYM_GROUPS
    assert len(sentences) == 100
    assert sentences == nlp_helpers.synonym_corpus(100, seed=2)[0]
    assert sentences != nlp_helpers.synonym_corpus(100, seed=3)[0]
    group_words = [w for words in groups.values() for w in words]
    assert len(set(group_words)) == len(group_words), "a word in two groups"
    template_words = {w for t in nlp_helpers._TEMPLATES for w in t.split() if "{" not in w}
    assert not template_words & set(group_words), "a group word is also a template word"


def test_synonym_corpus_group_mates_share_their_contexts():
    sentences, groups = nlp_helpers.synonym_corpus(3000, seed=0)
    contexts, counts = {}, Counter()
    for words in sentences:
        padded = ["<s>", *words, "</s>"]
        for i, word in enumerate(words, start=1):
            contexts.setdefault(word, set()).add((padded[i - 1], padded[i + 1]))
            counts[word] += 1
    for name, words in groups.items():
        # Slots are filled uniformly and independently: 3000 sentences hold every combination of
        # neighbouring slot words (the rarest, template 1's colour-animal-verb, about 9 times), so
        # group mates are seen in exactly the same neighbourhoods.
        assert all(contexts[w] == contexts[words[0]] for w in words), name
        group_counts = [counts[w] for w in words]
        # A word's share of its group's slots is 1/4; with over 1000 slots its standard deviation
        # is under 0.014, so 0.2 to 0.3 is more than three of them either side.
        shares = np.array(group_counts) / sum(group_counts)
        assert ((shares > 0.2) & (shares < 0.3)).all(), (name, group_counts)


def test_sanity_groups_are_lower_case_and_disjoint():
    words = [w for group in nlp_helpers.SANITY_GROUPS.values() for w in group]
    assert all(w == w.lower() for w in words)
    assert len(set(words)) == len(words)
