# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 NLP: tokens, tags, TF-IDF and word vectors - on your code
#
# This notebook runs **your** katas from `katas/03_nlp/` (open it with `kata notebook 03_nlp`).
# How it works:
#
# - The first cell calls `setup()`: `from pos_tagging import HMMTagger` then resolves exactly as
#   in the tests - your stub by default, the reference for some katas with
#   `ML_REFRESHER_USE_REFERENCE=pos_tagging kata notebook 03_nlp`, or every kata with
#   `ML_REFRESHER_IMPL=solutions`.
# - A cell that reaches a function you have not written yet prints one line - which kata to
#   finish, and how to look at the reference instead - and the cells after it still run.
# - **Exercises**: two cells ask you for a small function (`raise NotImplementedError(EXERCISE)`
#   marks the blank); the cell after checks it and says "not done yet" while the blank is there.
#   With `ML_REFRESHER_IMPL=solutions` the check runs on the model answer in
#   `solutions/notebooks/03_nlp.py`: that is how CI executes every notebook, check cells
#   included (`pytest tests/test_notebooks.py`).
#
# The data is offline: NLTK's Penn Treebank sample and movie reviews (`NLTK_DATA`), and a
# generated corpus with planted synonyms for word2vec.

# %%
# ruff: noqa: E402 (the kata modules are imported after setup(), cell by cell)
from ml_refresher.notebooks import EXERCISE, check_exercise, save_figure, setup

setup("03_nlp")

import warnings
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch

from ml_refresher.testing import assert_equal

TOPIC = "03_nlp"
torch.set_num_threads(1)  # word2vec's batches are small: extra threads only wait for each other
# tqdm's notebook progress bars need ipywidgets; without it tqdm warns and prints plain bars.
warnings.filterwarnings("ignore", message="IProgress not found")

# %% [markdown]
# ## Preprocessing: three tokenizers and two ways to shorten a word
#
# NLTK's `word_tokenize` splits "isn't" into "is" + "n't" (Penn Treebank's convention) and "$3.50"
# into "$" + "3.50"; your regex tokenizer keeps both whole. Then the pipeline: lower-case, drop
# punctuation and stop words, and reduce each word - the lemmatiser gives dictionary words
# ("coffee"), the Porter stemmer a stem that need not be a word ("coffe").

# %%
from preprocessing import preprocess, regex_tokenize, sentences, words

text = (
    "The U.S.A. isn't cheap: Dr. Smith paid $3.50 for 2 coffees... "
    "The cats were running faster than the dogs."
)
print("sentences:", sentences(text))
print("NLTK words:", words(text))
print("your regex:", regex_tokenize(text))
print("lemmas:", preprocess(text, reduce="lemma"))
print("porter:", preprocess(text, reduce="porter"))

# %% [markdown]
# ## Part-of-speech tagging: which tags does the HMM confuse?
#
# Both taggers learn from 1,500 sentences of the Penn Treebank sample and tag 200 others. The
# table counts the HMM's mistakes (gold tag on the rows, predicted on the columns) for the tags
# involved most often: nouns against adjectives, proper nouns against common ones, VBD against
# VBN (the same form "paid" is both) - the ambiguities a bigram of tags cannot always resolve.

# %%
from ml_refresher.data import load_treebank

treebank = load_treebank()
train_sents, test_sents = treebank.train[:1500], treebank.test[:200]

# %%
from pos_tagging import HMMTagger, MostFrequentTagTagger, accuracy

baseline = MostFrequentTagTagger().fit(train_sents)
hmm = HMMTagger().fit(train_sents)
print(f"accuracy: most frequent tag {accuracy(baseline, test_sents):.1%}, HMM", end=" ")
print(f"{accuracy(hmm, test_sents):.1%}")

gold_tags, predicted_tags = [], []
for sentence in test_sents:
    tokens, gold = zip(*sentence, strict=True)
    gold_tags += gold
    predicted_tags += hmm.tag(list(tokens))
mistakes = Counter((g, p) for g, p in zip(gold_tags, predicted_tags, strict=True) if g != p)
print("most frequent mistakes (gold -> predicted):")
for (gold, predicted), count in mistakes.most_common(8):
    print(f"  {gold:>5} -> {predicted:<5} {count:3d}")

involved = Counter()
for (gold, predicted), count in mistakes.items():
    involved[gold] += count
    involved[predicted] += count
shown = sorted(tag for tag, _ in involved.most_common(8))
table = np.array([[mistakes[(g, p)] for p in shown] for g in shown])
fig, ax = plt.subplots(figsize=(5, 4.2))
ax.imshow(table, cmap="Reds")
for (i, j), count in np.ndenumerate(table):
    if count:
        dark = count > table.max() / 2  # white text on the darkest cells
        ax.text(j, i, count, ha="center", va="center", fontsize=8, color="w" if dark else "k")
ax.set_xticks(range(len(shown)), shown, rotation=45)
ax.set_yticks(range(len(shown)), shown)
ax.set(xlabel="predicted", ylabel="gold", title="HMM mistakes (diagonal: none by definition)")
fig.tight_layout()
save_figure(fig, "pos_confusion")  # docs/notebook_pos_confusion.png, when asked
plt.show()

# %% [markdown]
# ## TF-IDF: the words that make a review stand out
#
# Your vectoriser fitted on 1,600 movie reviews; for three of them, the five terms with the
# largest weight. With raw counts "the" still wins: its idf is the smallest there is (1, with the
# smoothing's +1), but it occurs dozens of times. Sublinear tf (1 + log count) tames the
# repetition, and the top terms become the ones rare in the collection but repeated in that
# review: the film's names. The last line compares the whole matrix with scikit-learn's
# `TfidfVectorizer` on the same tokens.

# %%
from sklearn.feature_extraction.text import TfidfVectorizer

from ml_refresher.data import load_movie_reviews

reviews = load_movie_reviews()

# %%
from tfidf import TfidfVectoriser, analyse

docs = [analyse(t) for t in reviews.train_texts]
for sublinear in (False, True):
    vectoriser = TfidfVectoriser(sublinear_tf=sublinear)
    X = vectoriser.fit_transform(docs)
    terms = np.array(sorted(vectoriser.vocabulary_, key=vectoriser.vocabulary_.get))
    print("tf = 1 + log(count):" if sublinear else "tf = count:")
    for i in range(3):
        row = X[i].toarray().ravel()
        top = np.argsort(-row)[:5]
        label = reviews.classes[reviews.y_train[i]]
        print(f"  review {i} ({label}): " + ", ".join(f"{terms[j]} {row[j]:.2f}" for j in top))

theirs = TfidfVectorizer(analyzer=lambda doc: doc, sublinear_tf=True).fit_transform(docs)
print(f"max |yours - scikit-learn| over the {X.shape} matrix: {abs(X - theirs).max():.1e}")

# %% [markdown]
# ## word2vec: planted synonyms, nearest neighbours and a t-SNE map
#
# A generated corpus of 2,000 sentences in which the words of each group ("cat", "dog", "fox",
# "horse") fill the same slots, so they share their contexts. Skip-gram with negative sampling
# should put each word next to its group mates; t-SNE then squeezes the 20-dimensional vectors
# onto a page, keeping near neighbours near (distances between clusters mean little).

# %%
from nlp_helpers import synonym_corpus

corpus, groups = synonym_corpus(2000, seed=0)
print(" ".join(corpus[0]), "|", " ".join(corpus[1]))

# %%
from word2vec import nearest_neighbours, train_word2vec, tsne_coordinates

w2v = train_word2vec(
    corpus, dim=20, window=2, epochs=4, batch_size=256, lr=0.02, subsample_threshold=1e-2, seed=0
)
print("loss per epoch:", np.round(w2v.losses, 3))
for word in ("cat", "red", "morning"):
    neighbours = nearest_neighbours(w2v.vectors, w2v.vocab, word, k=3)
    print(f"{word:>8}: " + ", ".join(f"{w} {s:.2f}" for w, s in neighbours))

planted = [w for members in groups.values() for w in members]
others = [w for w in w2v.vocab.words if w not in planted][:12]  # "the", "in", ...: no group
shown_words = planted + others
coords = tsne_coordinates(w2v.vectors[[w2v.vocab.index[w] for w in shown_words]], seed=0)
group_of = {w: g for g, members in enumerate(groups.values()) for w in members}
colours = [group_of.get(w, 7) for w in shown_words]  # tab10's 7 is grey
fig, ax = plt.subplots(figsize=(6.5, 5))
ax.scatter(*coords.T, c=colours, cmap="tab10", vmin=0, vmax=9, s=25)
for (x, y), word in zip(coords, shown_words, strict=True):
    ax.annotate(word, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
ax.set(title="t-SNE of your word vectors (grey: words of no group)", xticks=[], yticks=[])
fig.tight_layout()
save_figure(fig, "word2vec_tsne")  # docs/notebook_word2vec_tsne.png, when asked
plt.show()

# %% [markdown]
# ## Exercise 1: a confusion table
#
# `confusion_counts(gold, predicted, tags)`: a (K, K) int array for the K tags in `tags`, entry
# [i, j] the number of positions whose gold tag is tags[i] and predicted tag tags[j] (the diagonal
# counts the right answers). Positions whose gold or predicted tag is not in `tags` are skipped.


# %%
def confusion_counts(gold: list[str], predicted: list[str], tags: list[str]) -> np.ndarray:
    raise NotImplementedError(EXERCISE)


# %%
def check_confusion_counts(confusion_counts):
    gold = ["DT", "NN", "VB", "NN", "JJ", "NN", "."]
    predicted = ["DT", "JJ", "VB", "NN", "NN", "JJ", "."]
    # by hand, tags DT NN JJ (VB and "." skipped): DT->DT once; NN->JJ twice, NN->NN once;
    # JJ->NN once. Rows are gold, so the table is not symmetric.
    expected = np.array([[1, 0, 0], [0, 1, 2], [0, 1, 0]])
    assert_equal(
        np.asarray(confusion_counts(gold, predicted, ["DT", "NN", "JJ"])),
        expected,
        "confusion_counts, tags [DT, NN, JJ]",
        hint="row = index of the gold tag, column = index of the predicted one",
    )


check_exercise(TOPIC, confusion_counts, check_confusion_counts)

# %% [markdown]
# ## Exercise 2: skip-gram's (centre, context) pairs for one sentence
#
# `context_pairs(tokens, window)`: every (tokens[i], tokens[j]) with 0 < |i - j| <= window, in
# order of i, then j. These are the positive examples word2vec learns from.


# %%
def context_pairs(tokens: list[str], window: int) -> list[tuple[str, str]]:
    raise NotImplementedError(EXERCISE)


# %%
def check_context_pairs(context_pairs):
    # by hand, window 2 over 4 tokens: each word pairs with up to 2 on each side, none past
    # the ends; 2 + 3 + 3 + 2 = 10 pairs
    expected = [
        ("the", "cat"), ("the", "sat"),
        ("cat", "the"), ("cat", "sat"), ("cat", "down"),
        ("sat", "the"), ("sat", "cat"), ("sat", "down"),
        ("down", "cat"), ("down", "sat"),
    ]  # fmt: skip
    assert_equal(
        [tuple(p) for p in context_pairs(["the", "cat", "sat", "down"], 2)],
        expected,
        "context_pairs(['the', 'cat', 'sat', 'down'], window=2)",
        hint="for i, then j in range(i - window, i + window + 1), skip j == i and j off the ends",
    )
    assert_equal(list(context_pairs(["alone"], 3)), [], "one token has no context")


check_exercise(TOPIC, context_pairs, check_context_pairs)
