"""The loaders on small files written here in each dataset's canonical format, including a
damaged one and a missing one: a loader must never hand back junk or fail without a fix."""

import gzip
import json
import pickle
import zipfile

import nltk
import numpy as np
import pytest

from ml_refresher import data
from ml_refresher.data import corpora, lm_text
from ml_refresher.data.images import IDX_FILES, read_idx


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))
    return tmp_path


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def write_idx_folder(folder, n_train=6, n_test=4):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28)),
        "y_train": np.arange(n_train) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28)),
        "y_test": np.arange(n_test) % 10,
    }
    for name, file in IDX_FILES.items():
        write_idx(folder / file, arrays[name])
    return arrays


def test_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)


def test_fashion_mnist_reads_the_idx_layout(data_dir):
    arrays = write_idx_folder(data_dir / "fashion-mnist")
    dataset = data.load_fashion_mnist()
    assert np.array_equal(dataset.x_train, arrays["x_train"])
    assert np.array_equal(dataset.y_test, arrays["y_test"])
    assert dataset.y_train.dtype == np.int64


def test_full_mnist_is_used_when_present(data_dir):
    write_idx_folder(data_dir / "mnist", n_train=7, n_test=3)
    dataset = data.load_mnist()
    assert len(dataset.x_train) == 7 and len(dataset.x_test) == 3


@pytest.mark.parametrize(
    "damage",
    [lambda raw: raw[: len(raw) // 2], lambda raw: b"not gzip" + raw, lambda raw: b""],
    ids=["truncated", "not-gzip", "empty"],
)
def test_damaged_idx_file_raises_data_corrupt_error(data_dir, damage):
    write_idx_folder(data_dir / "fashion-mnist")
    path = data_dir / "fashion-mnist" / IDX_FILES["x_train"]
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DataCorruptError, match="kata setup"):
        data.load_fashion_mnist()


def test_idx_file_shorter_than_its_header_says(data_dir):
    write_idx_folder(data_dir / "fashion-mnist")
    path = data_dir / "fashion-mnist" / IDX_FILES["x_test"]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-28]))  # a valid gzip of a truncated IDX
    with pytest.raises(data.DataCorruptError, match="header says"):
        data.load_fashion_mnist()


def test_missing_dataset_names_where_it_looked_and_the_command(data_dir):
    with pytest.raises(data.DataMissingError) as error:
        data.load_fashion_mnist()
    message = str(error.value)
    assert "Fashion-MNIST" in message and "kata setup" in message
    assert str(data_dir / "fashion-mnist") in message
    assert isinstance(error.value, FileNotFoundError)


def write_cifar10(folder, per_batch=3):
    """The canonical layout: Python-2 pickles with bytes keys, rows of 3072 = R, G, B planes."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, per_batch))
        batches[name] = (images, labels)
        with open(folder / name, "wb") as file:
            pickle.dump({b"data": images, b"labels": labels}, file, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({b"label_names": names}, file, protocol=2)
    return batches


def test_cifar10_reads_the_pickled_batches(data_dir):
    batches = write_cifar10(data_dir / "cifar-10-batches-py")
    dataset = data.load_cifar10()
    assert dataset.x_train.shape == (15, 32, 32, 3) and dataset.x_test.shape == (3, 32, 32, 3)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.classes[0] == "airplane" and len(dataset.classes) == 10
    first_row = batches["data_batch_1"][0][0]
    # pixel (0, 1) of the first image: red is value 1 of the row, green 1025, blue 2049
    assert dataset.x_train[0, 0, 1].tolist() == [first_row[1], first_row[1025], first_row[2049]]
    assert dataset.y_test.tolist() == batches["test_batch"][1]


def test_cifar10_truncated_batch(data_dir):
    write_cifar10(data_dir / "cifar-10-batches-py")
    path = data_dir / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.DataCorruptError, match="data_batch_3"):
        data.load_cifar10()


def test_cifar10_missing(data_dir):
    with pytest.raises(data.DataMissingError, match="CIFAR-10"):
        data.load_cifar10()


def write_imdb(path, n_per_class=6):
    path.parent.mkdir(parents=True)
    rows = [
        {"text": f"review {label}-{i}", "label": label}
        for label in (0, 1)
        for i in range(n_per_class)
    ]
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.writelines(json.dumps(row) + "\n" for row in rows)


def test_imdb_shuffles_the_label_sorted_file_before_splitting(data_dir):
    write_imdb(data_dir / "imdb" / "reviews.jsonl.gz")
    dataset = data.load_imdb()
    assert len(dataset.train_texts) == len(dataset.test_texts) == 6
    assert dataset.y_train.sum() == 3 and dataset.y_test.sum() == 3
    for text, label in zip(dataset.train_texts, dataset.y_train, strict=True):
        assert text.startswith(f"review {label}-")


def test_imdb_truncated(data_dir):
    path = data_dir / "imdb" / "reviews.jsonl.gz"
    write_imdb(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(data.DataCorruptError):
        data.load_imdb()


def test_missing_nltk_package_names_it(data_dir, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(data_dir / "empty")])
    with pytest.raises(data.DataMissingError, match="treebank") as error:
        data.load_treebank()
    assert "kata setup" in str(error.value)
    assert str(data_dir / "nltk_data") in str(error.value)  # the data directory is searched too


PTB_LINES = {
    "ptb.train.txt": " aer banknote berlitz calloway\n pierre <unk> N years old will join\n",
    "ptb.valid.txt": " consumers may want to move their telephones\n",
    "ptb.test.txt": " no it was n't black monday\n",
}


def write_ptb(folder, lines=PTB_LINES):
    folder.mkdir(parents=True)
    for name, text in lines.items():
        (folder / name).write_text(text)


def test_ptb_text_reads_the_lm_files(data_dir):
    write_ptb(data_dir / "ptb")
    train, valid, test = text = data.load_ptb_text()
    assert text.source == lm_text.PTB_SOURCE
    assert train == [
        ["aer", "banknote", "berlitz", "calloway"],
        ["pierre", "<unk>", "N", "years", "old", "will", "join"],
    ]
    assert valid[0][:3] == ["consumers", "may", "want"]
    assert test == [["no", "it", "was", "n't", "black", "monday"]]


def test_ptb_text_with_a_file_missing_says_which(data_dir):
    write_ptb(data_dir / "ptb", {"ptb.train.txt": PTB_LINES["ptb.train.txt"]})
    with pytest.raises(data.DataMissingError, match="ptb.valid.txt"):
        data.load_ptb_text()  # not the small fallback: half a download is a problem to fix


@pytest.mark.parametrize("damage", [b"", b"\xff\xfe binary \x00"], ids=["empty", "not-text"])
def test_ptb_text_damaged(data_dir, damage):
    write_ptb(data_dir / "ptb")
    (data_dir / "ptb" / "ptb.test.txt").write_bytes(damage)
    with pytest.raises(data.DataCorruptError, match="ptb.test.txt"):
        data.load_ptb_text()


TEXT8 = " anarchism originated as a term of abuse first used against early working class"


def write_zip(path, member, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, text)


def test_text8_reads_the_zip(data_dir):
    write_zip(data_dir / "text8" / "text8.zip", "text8", TEXT8 + TEXT8)
    tokens = data.load_text8()
    assert tokens == (TEXT8 + TEXT8).split() and tokens.source == lm_text.TEXT8_SOURCE
    assert tokens[0] is tokens[13], "a repeated word should be one shared string"


def test_text8_tokens_across_chunk_boundaries():
    assert lm_text._shared_tokens(TEXT8, chunk_chars=7) == TEXT8.split()


@pytest.mark.parametrize("damage", ["truncated", "wrong-member"])
def test_text8_damaged(data_dir, damage):
    path = data_dir / "text8" / "text8.zip"
    write_zip(path, "text8" if damage == "truncated" else "enwik8", TEXT8)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(data.DataCorruptError, match="text8.zip"):
        data.load_text8()


ANKI_LINES = [
    "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)",
    "Hi.\tSalut !\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #509819 (Aiji)",
    "I'm ok.\tÇa va.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (a) & #2 (b)",
]


def test_translation_pairs_read_the_anki_zip(data_dir):
    write_zip(data_dir / "tatoeba" / "fra-eng.zip", "fra.txt", "\n".join(ANKI_LINES) + "\n")
    pairs = data.load_translation_pairs()
    assert pairs == [("Go.", "Va !"), ("Hi.", "Salut !"), ("I'm ok.", "Ça va.")]


def test_translation_pairs_missing_point_to_the_generated_task(data_dir):
    with pytest.raises(data.DataMissingError, match="translation_pairs") as error:
        data.load_translation_pairs("deu")
    assert str(data_dir / "tatoeba" / "deu-eng.zip") in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "two-fields"])
def test_translation_pairs_damaged(data_dir, damage):
    path = data_dir / "tatoeba" / "fra-eng.zip"
    lines = ANKI_LINES if damage == "truncated" else [*ANKI_LINES, "Run!\tCours !"]
    write_zip(path, "fra.txt", "\n".join(lines))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(data.DataCorruptError, match="fra-eng.zip"):
        data.load_translation_pairs()


def conll2003_split(tag_names):
    """A Hugging Face dataset in the hub copy's layout; `tag_names` None: plain integer tags."""
    import datasets

    tags = datasets.ClassLabel(names=tag_names) if tag_names else datasets.Value("int64")
    features = datasets.Features(
        {"tokens": datasets.List(datasets.Value("string")), "ner_tags": datasets.List(tags)}
    )
    rows = {"tokens": [["EU", "rejects", "German", "call"]], "ner_tags": [[3, 0, 7, 0]]}
    return datasets.Dataset.from_dict(rows, features=features)


@pytest.mark.parametrize("named", [True, False], ids=["class-labels", "integer-tags"])
def test_conll2003_maps_tag_ids_to_bio_strings(monkeypatch, named):
    import datasets

    def load_dataset(name):
        assert name == corpora.CONLL2003_HUB_NAME
        assert datasets.config.HF_HUB_OFFLINE, "the loader must read the cache, not the network"
        split = conll2003_split(corpora.CONLL2003_TAGS if named else None)
        return {"train": split, "validation": split, "test": split}

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    corpus = data.load_conll2003()
    expected = [("EU", "B-ORG"), ("rejects", "O"), ("German", "B-MISC"), ("call", "O")]
    assert corpus.train == [expected] and corpus.test == [expected]


def test_conll2003_not_in_the_cache_points_to_conll2002(tmp_path, monkeypatch):
    """The real `datasets` call, on an empty cache: offline mode makes it fail at once."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(datasets.config, "HF_MODULES_CACHE", tmp_path / "modules")
    with pytest.raises(data.DataMissingError, match="kata setup") as error:
        data.load_conll2003()
    assert "load_conll2002()" in str(error.value)
