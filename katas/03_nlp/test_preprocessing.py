"""Tests for preprocessing: each NLTK step on a hand case, the whole pipeline, then the regex
tokenizer against NLTK's on ordinary prose and on the hard cases the lesson explains.

Lesson: katas/03_nlp/README.md. Run: pytest katas/03_nlp/test_preprocessing.py
"""

import re

import nltk
import pytest
from preprocessing import (
    is_punctuation,
    lemmatise,
    normalise,
    preprocess,
    regex_tokenize,
    sentences,
    stem,
    wordnet_pos,
    words,
)

from ml_refresher.data import nltk_ready
from ml_refresher.testing import assert_equal, assert_true


@pytest.fixture(scope="module", autouse=True)
def nltk_data():
    nltk_ready("punkt_tab", "stopwords", "wordnet")


def assert_tokens(got, expected, what, hint=None, details=()):
    """Exact token lists: a wrong count shows both lists, a wrong token its index."""
    __tracebackhide__ = True
    assert_true(
        isinstance(got, list) and len(got) == len(expected),
        f"{what}: wrong number of tokens",
        [f"expected: {expected}", f"got:      {got}", *details],
        hint,
    )
    assert_equal(got, expected, what, hint=hint)


def test_sentences_know_that_mr_does_not_end_a_sentence():
    got = sentences("Mr. Smith arrived at noon. He sat down!")
    assert_tokens(got, ["Mr. Smith arrived at noon.", "He sat down!"], "sentences")


def test_words_split_clitics_like_the_treebank():
    got = words("Don't stop, it's late.")
    assert_tokens(got, ["Do", "n't", "stop", ",", "it", "'s", "late", "."], "words")


def test_is_punctuation():
    for token in [",", ".", "...", "--", "``", "''", "(", "$"]:
        assert_true(is_punctuation(token), f"is_punctuation({token!r})", ["expected True"])
    for token in ["a", "n't", "3.5", "U.S.", "state-of-the-art"]:
        assert_true(
            not is_punctuation(token),
            f"is_punctuation({token!r})",
            ["expected False: it has a letter or a digit"],
        )


def test_normalise_lowercases_before_removing_stop_words():
    got = normalise(["The", "Cat", "sat", ",", "on", "THE", "mat", "!"])
    assert_tokens(
        got,
        ["cat", "sat", "mat"],
        "normalise with NLTK's English stop words",
        hint="lower-case first: NLTK's stop-word list is lower-case, so 'The' would slip through",
    )


def test_normalise_with_an_empty_stop_list_keeps_the_negation():
    got = normalise(["Not", "a", "good", "film", "."], stop_words=[])
    assert_tokens(got, ["not", "a", "good", "film"], "normalise(stop_words=[])")


def test_porter_and_snowball_stems():
    tokens = ["running", "flies", "generously", "fairly", "happily", "organization"]
    porter = ["run", "fli", "gener", "fairli", "happili", "organ"]
    snowball = ["run", "fli", "generous", "fair", "happili", "organ"]
    assert_tokens(stem(tokens, "porter"), porter, "stem(..., 'porter')")
    assert_tokens(stem(tokens, "snowball"), snowball, "stem(..., 'snowball')")


def test_stem_rejects_an_unknown_algorithm():
    # The docstring's message: it names the argument, both choices and the value given.
    expected = "algorithm must be one of ['porter', 'snowball'], got 'lancaster-ish'"
    with pytest.raises(ValueError, match=re.escape(expected)):
        stem(["running"], "lancaster-ish")


def test_wordnet_pos_maps_penn_tags():
    expected = {"JJR": "a", "JJ": "a", "VBD": "v", "VB": "v", "RB": "r", "NNS": "n", "DT": "n"}
    got = [wordnet_pos(tag) for tag in expected]
    assert_equal(got, list(expected.values()), f"wordnet_pos of the tags {list(expected)}")


def test_lemmatise_needs_the_part_of_speech():
    tokens = ["geese", "running", "better", "was"]
    assert_tokens(
        lemmatise(tokens),
        ["goose", "running", "better", "wa"],
        "lemmatise without tags (every token taken as a noun)",
    )
    assert_tokens(
        lemmatise(tokens, ["NNS", "VBG", "JJR", "VBD"]),
        ["goose", "run", "good", "be"],
        "lemmatise with Penn tags",
        hint="map each tag with wordnet_pos and pass it as lemmatize(token, pos)",
    )


def test_lemmatise_rejects_tags_of_another_length():
    # The docstring's message: one tag per token, never a silently shorter result.
    expected = "tags has 1 entries, expected 2 (one per token)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        lemmatise(["geese", "running"], ["NNS"])


TEXT = "The striped bats are hanging on their feet. Mr. Smith wasn't running faster than geese!"


@pytest.mark.parametrize(
    "reduce, expected",
    [
        (
            "lemma",
            [
                ["striped", "bat", "hanging", "foot"],
                ["mr.", "smith", "n't", "running", "faster", "goose"],
            ],
        ),
        (
            "porter",
            [["stripe", "bat", "hang", "feet"], ["mr.", "smith", "n't", "run", "faster", "gees"]],
        ),
    ],
)
def test_preprocess_runs_the_steps_in_order(reduce, expected):
    got = preprocess(TEXT, reduce)
    hint = "sentences -> words -> normalise -> lemmatise or stem, one list per sentence"
    assert_equal(len(got), len(expected), f"preprocess(text, {reduce!r}): sentences", hint=hint)
    for i, (got_sentence, expected_sentence) in enumerate(zip(got, expected, strict=True)):
        what = f"preprocess(text, {reduce!r}), sentence {i}"
        assert_tokens(got_sentence, expected_sentence, what, hint=hint)


def test_regex_tokenize_agrees_with_nltk_on_plain_prose():
    text = (
        "The committee met on Tuesday, and the state-of-the-art plan (costing 1,200.50 euros) "
        "was approved -- almost unanimously. Members voted: 12 for, 3 against; nobody left..."
    )
    assert_tokens(regex_tokenize(text), nltk.word_tokenize(text), "regex_tokenize vs NLTK")


# (text, what regex_tokenize must give): the cases where it and NLTK part ways. The lesson's
# table explains each difference; NLTK's output is shown on failure for comparison.
HARD_CASES = [
    ("I can't go.", ["I", "can't", "go", "."]),
    ("It's O'Neill's car.", ["It's", "O'Neill's", "car", "."]),
    ("It costs $3.50 (50% off).", ["It", "costs", "$3.50", "(", "50%", "off", ")", "."]),
    ("Mr. Smith came.", ["Mr", ".", "Smith", "came", "."]),
    ("She moved to the U.S.", ["She", "moved", "to", "the", "U.S."]),
    ("Bring fruit, e.g. apples.", ["Bring", "fruit", ",", "e.g.", "apples", "."]),
    ('She said "hi".', ["She", "said", '"', "hi", '"', "."]),
    ("A well-known, up-to-date list.", ["A", "well-known", ",", "up-to-date", "list", "."]),
    ("He got a B. Then he left.", ["He", "got", "a", "B", ".", "Then", "he", "left", "."]),
]


@pytest.mark.parametrize("text, expected", HARD_CASES, ids=[t for t, _ in HARD_CASES])
def test_regex_tokenize_on_hard_cases(text, expected):
    assert_tokens(
        regex_tokenize(text),
        expected,
        f"regex_tokenize({text!r})",
        hint="the alternatives are tried left to right at each position: order them as the "
        "docstring does, longest and most specific first",
        details=[f"NLTK:     {nltk.word_tokenize(text)}"],
    )
