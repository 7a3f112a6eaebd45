"""load_tiny_shakespeare: the prepared copy under $ML_REFRESHER_DATA, and the missing and damaged
cases with small files written here."""

import pytest

from ml_refresher.data import DataCorruptError, DataMissingError, load_tiny_shakespeare


def test_the_prepared_copy_is_the_published_file():
    text = load_tiny_shakespeare()
    assert len(text) == 1_115_394
    assert len(set(text)) == 65
    assert text.count("\n") == 40_000
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path))
    return tmp_path


def test_a_missing_file_names_it_and_the_command(data_dir):
    with pytest.raises(DataMissingError) as error:
        load_tiny_shakespeare()
    message = str(error.value)
    assert str(data_dir / "tinyshakespeare" / "input.txt") in message
    assert "kata setup" in message


@pytest.mark.parametrize(
    "content", [b"First Citizen:\nBefore we proceed", b"\xff\xfe not text"], ids=["short", "binary"]
)
def test_a_damaged_file_raises_data_corrupt_error(data_dir, content):
    (data_dir / "tinyshakespeare").mkdir()
    (data_dir / "tinyshakespeare" / "input.txt").write_bytes(content)
    with pytest.raises(DataCorruptError, match="input.txt"):
        load_tiny_shakespeare()
