"""Sentence pairs for translation: the Tatoeba pairs that manythings.org/anki packs per language.
Offline, `translation_pairs(n)` (generated.py) is the task the katas train on."""

from __future__ import annotations

import zipfile
import zlib

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
    return pairs
