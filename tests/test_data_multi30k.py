"""load_multi30k: the prepared copy under $ML_REFRESHER_DATA, small files written here in the
upstream layout (multi30k/<split>.<language>.gz), and the missing, damaged and misaligned cases;
the `kata setup` entry that fetches and checks the files."""

import gzip
from pathlib import Path

import pytest

from ml_refresher import data
from ml_refresher.data import DataCorruptError, DataMissingError, load_multi30k
from ml_refresher.data.setup import DATASETS, verified


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))
    (tmp_path / "multi30k").mkdir()
    return tmp_path


def write(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / "multi30k" / name
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    return path


def test_the_prepared_copy_has_the_published_sizes():
    sizes = {"train": 29_000, "val": 1_014, "test_2016_flickr": 1_000}
    for split, size in sizes.items():
        pairs = load_multi30k(split)
        assert len(pairs) == size, f"{split}: {len(pairs)} pairs"
    first = load_multi30k("train", ("en", "fr"))[0]
    assert first == (
        "Two young, White males are outside near many bushes.",
        "Deux jeunes hommes blancs sont dehors près de buissons.",
    )
    de, en = load_multi30k("val", ("de", "en"))[0]
    assert en == "A group of men are loading cotton onto a truck" and de.startswith("Eine Gruppe")


def test_pairs_are_aligned_line_by_line_in_the_order_asked(data_dir):
    write(data_dir, "val.en.gz", ["A dog runs.", "Two cats, one hat."])
    write(data_dir, "val.fr.gz", ["Un chien court.", "Deux chats, un chapeau."])
    assert load_multi30k("val") == [
        ("A dog runs.", "Un chien court."),
        ("Two cats, one hat.", "Deux chats, un chapeau."),
    ]
    assert load_multi30k("val", ("fr", "en"))[1] == (
        "Deux chats, un chapeau.",
        "Two cats, one hat.",
    )


def test_a_missing_file_names_it_and_the_command(data_dir):
    write(data_dir, "train.en.gz", ["A dog runs."])
    with pytest.raises(DataMissingError) as error:
        load_multi30k("train", ("en", "de"))
    message = str(error.value)
    assert str(data_dir / "multi30k" / "train.de.gz") in message
    assert "train.en.gz" not in message  # only what is missing
    assert "kata setup" in message and "translation_pairs" in message


@pytest.mark.parametrize(
    "damage", [b"", b"not gzip at all", "truncated", "latin-1"], ids=["empty", "junk", "cut", "enc"]
)
def test_a_damaged_file_raises_data_corrupt_error(data_dir, damage):
    write(data_dir, "val.en.gz", ["A dog runs."])
    path = data_dir / "multi30k" / "val.fr.gz"
    if damage == "truncated":
        path.write_bytes(gzip.compress(b"Un chien court.\n" * 50)[:-12])
    elif damage == "latin-1":
        path.write_bytes(gzip.compress("Un chien pr\u00e8s.\n".encode("latin-1")))
    else:
        path.write_bytes(damage)
    with pytest.raises(DataCorruptError, match="val.fr.gz"):
        load_multi30k("val")


def test_files_of_different_lengths_are_not_paired_silently(data_dir):
    write(data_dir, "test_2016_flickr.en.gz", ["One.", "Two."])
    write(data_dir, "test_2016_flickr.fr.gz", ["Un."])
    with pytest.raises(DataCorruptError, match="not aligned"):
        load_multi30k("test_2016_flickr")


@pytest.mark.parametrize(
    ("split", "pair", "argument"),
    [
        ("test", ("en", "fr"), "split"),
        ("train", ("en", "en"), "pair"),
        ("val", ("en", "cs"), "pair"),
    ],
)
def test_bad_arguments_name_the_argument(split, pair, argument):
    with pytest.raises(ValueError, match=argument):
        load_multi30k(split, pair)


def test_setup_entry_pins_the_upstream_files_and_checks_the_prepared_copy():
    (multi30k,) = [d for d in DATASETS if d.name.startswith("Multi30k")]
    names = sorted(Path(f.path).name for f in multi30k.files)
    expected = sorted(
        f"{split}.{language}.gz"
        for split in ("train", "val", "test_2016_flickr")
        for language in ("en", "fr", "de")
    )
    assert names == expected
    for file in multi30k.files:
        assert file.url.startswith("https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d")
        assert file.url.endswith("/data/task1/raw/" + Path(file.path).name)
        assert file.digests and file.digests[0].startswith("sha256:")
    root = data.data_dir()  # the prepared copy: the digests must accept it
    unverified = [f.path for f in multi30k.files if not verified(f, root)]
    assert unverified == [], f"files in {root} that fail their SHA-256: {unverified}"
