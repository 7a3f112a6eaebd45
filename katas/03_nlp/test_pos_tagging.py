"""Tests for pos_tagging: Viterbi on a hand case, against brute force and on a long sequence,
then the two taggers on hand corpora, then both on the Penn Treebank sample.

Lesson: katas/03_nlp/README.md. Run: pytest katas/03_nlp/test_pos_tagging.py
"""

import itertools

import numpy as np
import pytest
from pos_tagging import HMMTagger, MostFrequentTagTagger, accuracy, viterbi

from ml_refresher.data import load_treebank
from ml_refresher.testing import assert_close, assert_equal, assert_true


def path_log_prob(log_initial, log_transition, log_emission, path):
    score = log_initial[path[0]] + log_emission[0, path[0]]
    for t in range(1, len(path)):
        score += log_transition[path[t - 1], path[t]] + log_emission[t, path[t]]
    return score


def random_hmm(n_states, n_steps, rng):
    """Rows of random probabilities, as logs: (K,), (K, K), (T, K)."""
    initial = rng.dirichlet(np.ones(n_states))
    transition = rng.dirichlet(np.ones(n_states), size=n_states)
    emission = rng.uniform(0.01, 1.0, size=(n_steps, n_states))
    return np.log(initial), np.log(transition), np.log(emission)


def test_viterbi_on_a_hand_case():
    log_initial = np.log([0.6, 0.4])
    log_transition = np.log([[0.7, 0.3], [0.4, 0.6]])
    log_emission = np.log([[0.5, 0.1], [0.4, 0.3], [0.1, 0.6]])
    path, score = viterbi(log_initial, log_transition, log_emission)
    # The best of the 8 paths: 0.6*0.5 * 0.7*0.4 * 0.3*0.6 = 0.01512.
    assert_equal(list(path), [0, 0, 1], "viterbi path (states by step)")
    assert_close(score, np.log(0.01512), "viterbi log-probability", atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    hmm = random_hmm(n_states=3, n_steps=6, rng=rng)
    candidates = list(itertools.product(range(3), repeat=6))
    scores = [path_log_prob(*hmm, p) for p in candidates]
    best = candidates[int(np.argmax(scores))]
    path, score = viterbi(*hmm)
    assert_equal(
        list(path),
        list(best),
        "viterbi path vs trying all 3^6 paths",
        hint="take the max over the previous state i of delta[i] + log_transition[i, j]",
    )
    # The same sums in another order: only rounding differs.
    assert_close(score, max(scores), "viterbi log-probability vs brute force", atol=1e-9)


def test_viterbi_in_log_space_survives_long_sequences():
    hmm = random_hmm(n_states=4, n_steps=2000, rng=np.random.default_rng(0))
    path, score = viterbi(*hmm)
    # The path probability is about e^-3000: 0.0 in float64, so only log space can rank paths.
    assert_equal(len(path), 2000, "viterbi on 2,000 steps: states in the path")
    assert_true(
        np.isfinite(score),
        "viterbi on 2,000 steps: a finite log-probability",
        [f"got score {score}"],
        hint="add log-probabilities; never multiply probabilities",
    )
    assert_close(
        score, path_log_prob(*hmm, path), "viterbi score vs its own path's log-prob", atol=1e-6
    )


SMALL_CORPUS = [
    [("the", "DT"), ("dog", "NN"), ("runs", "VBZ")],
    [("the", "DT"), ("cat", "NN")],
    [("a", "DT"), ("dog", "NN"), ("sleeps", "VBZ")],
]


def test_most_frequent_tag_tagger_on_a_hand_corpus():
    corpus = [[("they", "PRP"), ("fish", "VBP")], *[[("the", "DT"), ("fish", "NN")]] * 2]
    corpus.append([("fish", "NN")])
    tagger = MostFrequentTagTagger().fit(corpus)
    got = tagger.tag(["they", "fish", "zebras"])
    assert_equal(
        got,
        ["PRP", "NN", "NN"],
        "MostFrequentTagTagger.tag(['they', 'fish', 'zebras'])",
        hint="fish is NN 3 times and VBP once, and the unseen zebras gets NN, the most frequent "
        "tag overall",
    )


def test_most_frequent_tag_tagger_counts_instead_of_remembering():
    corpus = [
        [("can", "MD"), ("go", "VB")],
        [("can", "MD"), ("run", "VB")],
        [("can", "NN"), ("walk", "VB")],
    ]
    tagger = MostFrequentTagTagger().fit(corpus)
    got = tagger.tag(["can", "zebras"])
    assert_equal(
        got,
        ["MD", "VB"],
        "MostFrequentTagTagger.tag(['can', 'zebras'])",
        hint="can is MD twice and NN once (last); an unseen word gets the most frequent tag of "
        "this training set, VB (3 of 7), not a fixed NN",
    )


def test_accuracy_counts_tokens_not_sentences():
    class AlwaysNoun:
        def tag(self, words):
            return ["NN"] * len(words)

    sents = [[("dog", "NN")], [("the", "DT"), ("cat", "NN"), ("runs", "VBZ")]]
    assert_close(accuracy(AlwaysNoun(), sents), 2 / 4, "accuracy", atol=1e-12)


def test_hmm_transitions_are_smoothed_counts():
    tagger = HMMTagger(transition_alpha=0.1, emission_alpha=0.01).fit(SMALL_CORPUS)
    assert_equal(tagger.tags_, ["DT", "NN", "VBZ"], "HMMTagger.tags_", hint="sorted tag names")
    # DT is followed by NN 3 times and by nothing else; K = 3 tags share alpha = 0.1 each.
    expected_transition = np.log(
        [
            [0.1 / 3.3, 3.1 / 3.3, 0.1 / 3.3],
            [0.1 / 2.3, 0.1 / 2.3, 2.1 / 2.3],
            [1 / 3, 1 / 3, 1 / 3],  # VBZ always ends the sentence: no counts, smoothing alone
        ]
    )
    assert_close(tagger.log_transition_, expected_transition, "log_transition_", atol=1e-12)
    assert_close(
        tagger.log_initial_, np.log([3.1 / 3.3, 0.1 / 3.3, 0.1 / 3.3]), "log_initial_", atol=1e-12
    )


def test_hmm_emissions_use_word_classes_for_rare_words():
    tagger = HMMTagger(transition_alpha=0.1, emission_alpha=0.01).fit(SMALL_CORPUS)
    # Symbols: "the" and "dog" (seen twice), "<-s>" (runs, sleeps) and "<unk>" (cat, a): S = 4.
    got = tagger.emission_scores(["dog", "zebras"])
    nn, vbz = 1, 2
    assert_close(got[0, nn], np.log(2.01 / 3.04), "log P(dog | NN)", atol=1e-12)
    assert_close(
        got[1, vbz],
        np.log(2.01 / 2.04),
        "log P(zebras | VBZ): an unseen word gets its class <-s>",
        atol=1e-12,
        hint="words seen once are replaced by unknown_word_class(word) before counting",
    )
    assert_close(np.exp(tagger.log_emission_).sum(axis=1), np.ones(3), "emission rows", atol=1e-12)


# Tags first seen as VB, DT, NN (not sorted), and pairs repeated inside one sentence: VB -> VB
# twice and ("go", VB) three times in the first sentence.
REPEAT_CORPUS = [
    [("go", "VB"), ("go", "VB"), ("go", "VB"), ("the", "DT"), ("dog", "NN")],
    [("the", "DT"), ("dog", "NN"), ("go", "VB")],
]


def test_hmm_counts_every_repeated_pair_and_sorts_its_tags():
    tagger = HMMTagger(transition_alpha=0.1, emission_alpha=0.01).fit(REPEAT_CORPUS)
    assert_equal(tagger.tags_, ["DT", "NN", "VB"], "HMMTagger.tags_", hint="sorted tag names")
    # Counted by hand, states in the order DT, NN, VB: DT -> NN twice; NN -> VB once;
    # VB -> VB twice and VB -> DT once. Each row: (count + 0.1) / (row total + 0.3).
    expected_transition = np.log(
        [
            [0.1 / 2.3, 2.1 / 2.3, 0.1 / 2.3],
            [0.1 / 1.3, 0.1 / 1.3, 1.1 / 1.3],
            [1.1 / 3.3, 0.1 / 3.3, 2.1 / 3.3],
        ]
    )
    hint = "np.add.at(array, (rows, cols), 1): array[rows, cols] += 1 counts a repeated pair once"
    # Logs of ratios of small decimals: rounding only.
    assert_close(
        tagger.log_transition_, expected_transition, "log_transition_", atol=1e-12, hint=hint
    )
    assert_close(
        tagger.log_initial_, np.log([1.1 / 2.3, 0.1 / 2.3, 1.1 / 2.3]), "log_initial_", atol=1e-12
    )
    # "go", "the" and "dog" are all seen more than once: S = 3 symbols. VB emits go 4 times.
    got = tagger.emission_scores(["go", "dog"])
    vb = 2
    assert_close(
        got[:, vb],
        np.log([4.01 / 4.03, 0.01 / 4.03]),
        "log P(go | VB), log P(dog | VB)",
        atol=1e-12,
        hint=hint,
    )


def test_hmm_tags_an_empty_sentence():
    got = HMMTagger().fit(SMALL_CORPUS).tag([])
    assert_equal(len(got), 0, "HMMTagger.tag([]): no words, no tags", hint="return [] early")


def test_hmm_uses_context_where_the_baseline_cannot():
    corpus = [
        *[[("they", "PRP"), ("fish", "VBP")]] * 2,
        *[[("the", "DT"), ("fish", "NN")]] * 3,
        *[[("they", "PRP"), ("swim", "VBP")]] * 2,
    ]
    got = HMMTagger().fit(corpus).tag(["they", "fish"])
    assert_equal(
        got,
        ["PRP", "VBP"],
        "HMMTagger.tag(['they', 'fish'])",
        hint="PRP is always followed by VBP: the transition outweighs fish's NN majority",
    )


@pytest.fixture(scope="module")
def treebank():
    return load_treebank()


def test_baseline_tags_the_treebank(treebank):
    got = accuracy(MostFrequentTagTagger().fit(treebank.train), treebank.test)
    # A correct baseline scores 87.4% here: 9.5% of the test tokens are unseen in training and
    # get NN, which is right for only some of them.
    assert_true(got >= 0.85, "baseline token accuracy on the treebank test part", [f"{got:.4f}"])


def test_hmm_tags_the_treebank(treebank):
    got = accuracy(HMMTagger().fit(treebank.train), treebank.test)
    # The reference scores 95.0%; 90% still catches a wrong smoothing or unknown-word scheme.
    assert_true(
        got >= 0.90,
        "HMM token accuracy on the treebank test part",
        [f"expected >= 0.90, got {got:.4f}"],
        hint="check the unknown-word classes and that emission_alpha is small (0.01)",
    )
