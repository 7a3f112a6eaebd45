"""Sentence pairs for translation: the Tatoeba pairs that manythings.org/anki packs per language,
and Multi30k's image captions in English, French and German. Offline, `translation_pairs(n)`
(generated.py) is the task the katas train on."""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

from ml_refresher.data.settings import DataCorruptError, DataMissingError, data_dir


def load_translation_pairs(language: str = "fra") -> list[tuple[str, str]]:
    """(English, <language>) sentence pairs from tatoeba/<language>-eng.zip in the data
    directory, in the file's order (short sentences first), e.g. ("Go.", "Va !"). `language` is
    the ISO 639-3 code of the file name: "fra", "deu", "spa", ..."""
    path = data_dir() / "tatoeba" / f"{language}-eng.zip"
    if not path.is_file():
        raise DataMissingError(
            f"Tatoeba English-{language} pairs", [path], offline="translation_pairs(n)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            lines = archive.read(f"{language}.txt").decode("utf-8").splitlines()
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise DataCorruptError(
            path, f"not a complete zip holding {language}.txt: {error}"
        ) from error
    except UnicodeDecodeError as error:
        raise DataCorruptError(path, f"not UTF-8 text: {error}") from error
    pairs = []
    for number, line in enumerate(lines, 1):
        # English, translation, attribution (CC-BY 2.0 (France), the Tatoeba sentence numbers)
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataCorruptError(
                path, f"line {number} has {len(fields)} tab-separated fields, not 3"
            )
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise DataCorruptError(path, f"{language}.txt holds no sentence pairs")
    return pairs


MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")
MULTI30K_LANGUAGES = ("en", "fr", "de")


def _multi30k_lines(path: Path) -> list[str]:
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, zlib.error) as error:  # truncated or not gzip at all
        raise DataCorruptError(path, f"not a complete gzip file: {error}") from error
    except UnicodeDecodeError as error:
        raise DataCorruptError(path, f"not UTF-8 text: {error}") from error
    if not text.strip():
        raise DataCorruptError(path, "no sentences in it")
    # The files end with a newline; splitting on "\n" alone keeps a caption holding U+2028 or
    # another exotic line break in one piece.
    return text.removesuffix("\n").split("\n")


def load_multi30k(
    split: str = "train", pair: tuple[str, str] = ("en", "fr")
) -> list[tuple[str, str]]:
    """Multi30k (Elliott et al., 2016) sentence pairs, e.g. ("Two dogs run.", "Deux chiens
    courent."): image captions aligned line by line, untokenised, original case. `split` is
    "train" (29,000 pairs), "val" (1,014) or "test_2016_flickr" (1,000); `pair` is
    (source, target) among "en", "fr", "de". Reads multi30k/<split>.<language>.gz in the data
    directory."""
    if split not in MULTI30K_SPLITS:
        raise ValueError(f"split must be one of {', '.join(MULTI30K_SPLITS)}; got {split!r}")
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(MULTI30K_LANGUAGES):
        raise ValueError(
            f"pair must be two different languages among {', '.join(MULTI30K_LANGUAGES)}; "
            f"got {pair!r}"
        )
    paths = [data_dir() / "multi30k" / f"{split}.{language}.gz" for language in pair]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise DataMissingError(
            f"Multi30k {split} ({'-'.join(pair)})", missing, offline="translation_pairs(n)"
        )
    source, target = (_multi30k_lines(path) for path in paths)
    if len(source) != len(target):
        raise DataCorruptError(
            paths[1], f"{len(target)} lines, but {paths[0].name} has {len(source)}: not aligned"
        )
    return list(zip(source, target, strict=True))
