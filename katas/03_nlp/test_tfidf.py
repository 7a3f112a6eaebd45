"""Tests for tfidf: each piece on a hand case, the whole TF-IDF against scikit-learn for every
option, Naive Bayes against scikit-learn, then both classifiers on movie reviews.

Lesson: katas/03_nlp/README.md. Run: pytest katas/03_nlp/test_tfidf.py
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB
from tfidf import (
    MultinomialNaiveBayes,
    TfidfVectoriser,
    analyse,
    count_matrix,
    fit_vocabulary,
    inverse_document_frequency,
    l2_normalise,
    logistic_regression_accuracy,
    naive_bayes_accuracy,
    term_frequency,
)

from ml_refresher.data import load_movie_reviews
from ml_refresher.testing import assert_close, assert_equal, assert_true

DOCS = [
    "the cat sat on the mat".split(),
    "the dog sat on the log".split(),
    "cats and dogs and cats".split(),
    "a log is not a mat".split(),
]


def assert_csr(matrix, what):
    __tracebackhide__ = True
    assert_true(
        sp.issparse(matrix) and matrix.format == "csr",
        f"{what}: expected a scipy.sparse CSR matrix",
        [f"got {type(matrix).__name__}" + (f" ({matrix.format})" if sp.issparse(matrix) else "")],
        hint="a dense (n_docs, V) array does not fit in memory for real corpora",
    )


def terms_by_column(vocabulary):
    """The terms of a term -> column vocabulary, in column order."""
    return sorted(vocabulary, key=vocabulary.get)


def test_analyse_on_a_hand_case():
    got = analyse("It's a GREAT film, isn't it? 10/10")
    expected = ["it's", "a", "great", "film", "isn't", "it", "10", "10"]
    assert_equal(got, expected, "analyse(\"It's a GREAT film, isn't it? 10/10\")")


def test_fit_vocabulary_is_sorted():
    got = fit_vocabulary([["b", "a"], ["c", "a"]])
    assert_equal(sorted(got.values()), [0, 1, 2], "fit_vocabulary columns: 0 .. V-1, each once")
    assert_equal(terms_by_column(got), ["a", "b", "c"], "fit_vocabulary terms by column")


def test_count_matrix_on_a_hand_case():
    got = count_matrix([["b", "a", "b"], ["c", "zebra"], []], {"a": 0, "b": 1, "c": 2})
    assert_csr(got, "count_matrix")
    expected = [[1, 2, 0], [0, 0, 1], [0, 0, 0]]
    assert_equal(got.toarray(), expected, "count_matrix ('zebra' is not in the vocabulary)")


def test_term_frequency_raw_and_sublinear():
    counts = sp.csr_matrix(np.array([[2, 0, 1], [0, 3, 0]]))
    assert_equal(term_frequency(counts).toarray(), counts.toarray(), "raw tf")
    got = term_frequency(counts, sublinear_tf=True)
    assert_csr(got, "term_frequency(sublinear_tf=True)")
    expected = [[1 + np.log(2), 0, 1], [0, 1 + np.log(3), 0]]
    assert_close(
        got.toarray(),
        expected,
        "sublinear tf",
        atol=1e-12,
        hint="1 + ln(tf) on the stored non-zeros only (matrix.data): ln(0) is -inf",
    )


def test_inverse_document_frequency_on_a_hand_case():
    counts = sp.csr_matrix(np.array([[1, 1, 0], [2, 0, 1], [1, 0, 5]]))  # df = 3, 1, 2; n = 3
    smooth = [np.log(4 / 4) + 1, np.log(4 / 2) + 1, np.log(4 / 3) + 1]
    plain = [np.log(3 / 3) + 1, np.log(3 / 1) + 1, np.log(3 / 2) + 1]
    hint = "df counts documents containing the term, not occurrences"
    assert_close(inverse_document_frequency(counts), smooth, "smooth idf", atol=1e-12, hint=hint)
    got = inverse_document_frequency(counts, smooth_idf=False)
    assert_close(got, plain, "idf without smoothing", atol=1e-12, hint=hint)


def test_l2_normalise_makes_unit_rows_and_keeps_empty_ones():
    got = l2_normalise(sp.csr_matrix(np.array([[3.0, 4.0], [0.0, 0.0]])))
    assert_csr(got, "l2_normalise")
    assert_close(
        got.toarray(),
        [[0.6, 0.8], [0.0, 0.0]],
        "l2_normalise",
        atol=1e-12,
        hint="divide each row by sqrt(sum of its squares): 3-4-5 gives 0.6, 0.8",
    )


@pytest.mark.parametrize("smooth_idf", [True, False])
@pytest.mark.parametrize("sublinear_tf", [False, True])
def test_tfidf_equals_sklearn(smooth_idf, sublinear_tf):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    # Zipf-like draws: a few frequent terms and a long tail, as in real text.
    p = 1.0 / np.arange(1, 31)
    random_docs = [
        list(rng.choice(words, size=rng.integers(1, 40), p=p / p.sum())) for _ in range(50)
    ]
    train_docs, new_docs = DOCS + random_docs, [["the", "cat", "unseen", "cat"], ["w0", "w29"]]
    reference = TfidfVectorizer(
        analyzer=lambda doc: doc, smooth_idf=smooth_idf, sublinear_tf=sublinear_tf
    ).fit(train_docs)
    mine = TfidfVectoriser(smooth_idf=smooth_idf, sublinear_tf=sublinear_tf)
    got = mine.fit_transform(train_docs)
    assert_csr(got, "TfidfVectoriser.fit_transform")
    assert_equal(
        terms_by_column(mine.vocabulary_),
        terms_by_column(reference.vocabulary_),
        "vocabulary_ terms by column vs sklearn",
    )
    # The same float64 formulas in a different order: only rounding, far below 1e-9.
    what = f"TF-IDF vs sklearn (smooth_idf={smooth_idf}, sublinear_tf={sublinear_tf})"
    assert_close(mine.idf_, reference.idf_, f"idf_ {what}", atol=1e-9)
    assert_close(got.toarray(), reference.transform(train_docs).toarray(), what, atol=1e-9)
    assert_close(
        mine.transform(new_docs).toarray(),
        reference.transform(new_docs).toarray(),
        f"transform of new documents, {what}",
        atol=1e-9,
        hint="transform reuses the fitted vocabulary_ and idf_; unseen terms are dropped",
    )


def test_naive_bayes_equals_sklearn():
    rng = np.random.default_rng(1)
    counts = sp.csr_matrix(rng.poisson(0.5, size=(60, 25)))
    # Labels that are not 0, 1, 2: predict must return classes_, not column numbers.
    y = np.array([-1, 4, 7])[rng.integers(0, 3, size=60)]
    reference = MultinomialNB(alpha=0.5).fit(counts, y)
    mine = MultinomialNaiveBayes(alpha=0.5).fit(counts, y)
    # Logs of the same ratios: rounding only.
    assert_close(mine.class_log_prior_, reference.class_log_prior_, "class_log_prior_", atol=1e-9)
    assert_close(
        mine.feature_log_prob_,
        reference.feature_log_prob_,
        "feature_log_prob_ vs sklearn",
        atol=1e-9,
        hint="smooth per class: (N_cj + alpha) / (N_c + alpha V)",
    )
    new = sp.csr_matrix(rng.poisson(0.5, size=(20, 25)))
    assert_close(
        mine.joint_log_likelihood(new),
        reference.predict_joint_log_proba(new),
        "joint_log_likelihood vs sklearn",
        atol=1e-9,
    )
    assert_equal(
        mine.predict(new),
        reference.predict(new),
        "predict vs sklearn (labels -1, 4, 7)",
        hint="return classes_[argmax], not the argmax itself",
    )


def test_naive_bayes_accuracy_ignores_words_only_in_the_test_texts():
    train_texts, y_train = ["good good fine", "bad"], np.array([0, 1])
    test_texts, y_test = ["good zzz zzz zzz zzz"], np.array([0])
    # Vocabulary from the training texts (bad, fine, good), alpha = 1: class 0 has N = 3, so
    # P(good | 0) = 3/6; class 1 has N = 1, P(good | 1) = 1/4; equal priors, zzz is dropped:
    # class 0. A vocabulary that also saw the test text adds zzz (V = 4): P(good | 0) = 3/7 and
    # P(zzz | 0) = 1/7 against 1/5 and 1/5, and four zzz outweigh good (15/7 (5/7)^4 < 1):
    # the review would go to class 1.
    got = naive_bayes_accuracy(train_texts, y_train, test_texts, y_test)
    assert_close(
        got,
        1.0,
        "naive_bayes_accuracy with words only the test text has",
        atol=1e-12,
        hint="build the vocabulary from the training texts only; unseen test words are dropped",
    )


def test_logistic_regression_fits_its_tfidf_on_the_training_texts_only(monkeypatch):
    import tfidf as module  # the module under test, whichever implementation the switch chose

    fitted, options = [], []

    class Recording(module.TfidfVectoriser):
        """The kata's vectoriser, noting what it is built with and what it is fitted on."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            options.append(self.sublinear_tf)

        def fit(self, docs):
            fitted.append([list(doc) for doc in docs])
            return super().fit(docs)

        def fit_transform(self, docs):
            fitted.append([list(doc) for doc in docs])
            return super().fit_transform(docs)

    monkeypatch.setattr(module, "TfidfVectoriser", Recording)
    train_texts = ["a good film", "a great film", "a bad film", "an awful film"]
    test_texts = ["good but awful zebra", "great"]
    logistic_regression_accuracy(train_texts, np.array([1, 1, 0, 0]), test_texts, np.array([0, 1]))
    train_docs = [analyse(t) for t in train_texts]
    assert_true(
        options == [True],
        "logistic_regression_accuracy builds one TfidfVectoriser(sublinear_tf=True)",
        [f"sublinear_tf of the vectorisers built: {options}"],
    )
    assert_true(
        len(fitted) > 0 and all(docs == train_docs for docs in fitted),
        "logistic_regression_accuracy fits the vectoriser on the training texts only",
        [f"expected every fit on: {train_docs}", f"got fits on: {fitted}"],
        hint="fit (or fit_transform) on the training texts, then transform the test texts: "
        "idf and vocabulary from the test split are a leak",
    )


@pytest.fixture(scope="module")
def reviews():
    data = load_movie_reviews()
    return data.train_texts, data.y_train, data.test_texts, data.y_test


def test_naive_bayes_classifies_movie_reviews(reviews):
    got = naive_bayes_accuracy(*reviews)
    # The reference scores 82%; 400 test reviews put one standard error near 2 points.
    assert_true(got >= 0.78, "Naive Bayes test accuracy on movie reviews", [f"got {got:.4f}"])


def test_logistic_regression_classifies_movie_reviews(reviews):
    got = logistic_regression_accuracy(*reviews)
    # The reference scores 90%; the bar leaves room for a different but sound tokenizer.
    assert_true(
        got >= 0.80,
        "logistic regression test accuracy on TF-IDF of movie reviews",
        [f"got {got:.4f}"],
        hint="fit the vectoriser on the training texts only, then transform the test texts",
    )
