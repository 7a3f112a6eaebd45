"""The loaders on small files written here in each dataset's canonical format, including a
damaged one and a missing one: a loader must never hand back junk or fail without a fix."""

import gzip
import json
import pickle

import nltk
import numpy as np
import pytest

from ml_refresher import data
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
