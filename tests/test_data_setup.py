"""`kata setup`: copying from a prepared directory, downloading (network replaced), checking
what is there, and leaving a fresh clone able to load everything with no environment variable."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nltk
import pytest

from ml_refresher import data
from ml_refresher.data import download, setup
from ml_refresher.data.nltk_packages import find_package


def sha256(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


CONTENT = {"toy/a.bin": b"first file" * 100, "toy/b.bin": b"second file" * 100}
TOY = setup.Dataset(
    "Toy",
    tuple(
        setup.DataFile(path, (sha256(content),), f"https://example.org/{path}")
        for path, content in CONTENT.items()
    ),
    setup._download_files,
)
GZIPPED = setup.Dataset("Gzipped", (setup.DataFile("gz/rows.jsonl.gz", ()),), None)


def write_prepared(root: Path) -> Path:
    for path, content in CONTENT.items():
        (root / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / path).write_bytes(content)
    (root / "data" / "gz").mkdir()
    (root / "data" / "gz" / "rows.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n'))
    corpora = root / "nltk_data" / "corpora"
    corpora.mkdir(parents=True)
    with zipfile.ZipFile(corpora / "stopwords.zip", "w") as archive:
        archive.writestr("stopwords/english", "the\na\n")
    punkt = root / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True)
    (punkt / "sent_starters.txt").write_text("The\n")
    return root


@pytest.fixture
def target(tmp_path, monkeypatch):
    """An empty data directory, and NLTK looking nowhere else."""
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path / "target"))
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr(setup, "NLTK_PACKAGES", ("stopwords", "punkt_tab"))
    monkeypatch.setattr(setup, "DATASETS", (TOY, GZIPPED))
    monkeypatch.setattr(setup, "setup_conll2003", lambda source: None)  # tested on its own
    return tmp_path / "target"


REAL_DATASETS = setup.DATASETS


def test_from_copies_verifies_and_is_idempotent(tmp_path, target, capsys):
    prepared = write_prepared(tmp_path / "prepared")
    assert setup.run(source=str(prepared)) == 0
    first = capsys.readouterr().out
    assert (target / "toy" / "a.bin").read_bytes() == CONTENT["toy/a.bin"]
    assert (target / "nltk_data" / "corpora" / "stopwords.zip").is_file()
    assert find_package("punkt_tab") == str(target / "nltk_data" / "tokenizers" / "punkt_tab")
    assert "copied" in first and "MB" in first
    assert setup.run(source=str(prepared)) == 0
    second = capsys.readouterr().out
    assert "copied" not in second and second.count("present") == 4


def test_a_damaged_copy_in_the_data_directory_is_replaced(tmp_path, target):
    prepared = write_prepared(tmp_path / "prepared")
    (target / "toy").mkdir(parents=True)
    (target / "toy" / "a.bin").write_bytes(b"half a fi")
    assert setup.run(source=str(prepared)) == 0
    assert (target / "toy" / "a.bin").read_bytes() == CONTENT["toy/a.bin"]


def test_a_damaged_source_is_not_copied_and_the_run_fails(tmp_path, target, capsys):
    prepared = write_prepared(tmp_path / "prepared")
    (prepared / "data" / "toy" / "b.bin").write_bytes(b"truncated")
    (prepared / "data" / "gz" / "rows.jsonl.gz").unlink()
    assert setup.run(source=str(prepared)) == 1
    out = capsys.readouterr().out
    assert "does not match its checksum" in out and "MISSING" in out
    assert not (target / "toy" / "b.bin").exists()


def test_a_missing_optional_dataset_does_not_fail_the_run(tmp_path, target, monkeypatch, capsys):
    optional = setup.Dataset("Extra", (setup.DataFile("extra/x", ("md5:0",)),), None, False)
    monkeypatch.setattr(setup, "DATASETS", (TOY, GZIPPED, optional))
    assert setup.run(source=str(write_prepared(tmp_path / "prepared"))) == 0
    assert "Extra (optional)" in capsys.readouterr().out


def test_online_downloads_with_checksums(tmp_path, target, monkeypatch, capsys):
    def urlopen(url, timeout):
        body = CONTENT[url.removeprefix("https://example.org/")]
        response = io.BytesIO(body)
        response.headers = {"Content-Length": str(len(body))}
        return response

    def nltk_download(package, download_dir, quiet, raise_on_error):
        folder = Path(download_dir) / ("tokenizers" if package == "punkt_tab" else "corpora")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / package).mkdir()
        return True

    def build_gzipped(dataset, root):
        (root / "gz").mkdir()
        (root / "gz" / "rows.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))

    monkeypatch.setattr(download, "urlopen", urlopen)
    monkeypatch.setattr(nltk, "download", nltk_download)
    built = setup.Dataset("Gzipped", GZIPPED.files, build_gzipped)
    monkeypatch.setattr(setup, "DATASETS", (TOY, built))
    assert setup.run() == 0
    assert "fetched" in capsys.readouterr().out
    assert (target / "toy" / "b.bin").read_bytes() == CONTENT["toy/b.bin"]


def test_nltk_packages_go_to_the_first_nltk_data_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", os.pathsep.join([str(tmp_path / "one"), str(tmp_path / "two")]))
    assert setup.nltk_target() == tmp_path / "one"
    monkeypatch.delenv("NLTK_DATA")
    monkeypatch.setenv("ML_REFRESHER_DATA", str(tmp_path / "d"))
    assert setup.nltk_target() == tmp_path / "d" / "nltk_data"


def test_from_a_directory_that_does_not_exist(tmp_path, target):
    assert setup.run(source=str(tmp_path / "nowhere")) == 2


def test_fresh_clone_loads_everything_after_setup_from_the_prepared_copies(tmp_path):
    """The real datasets: the prepared copies this machine is configured with, laid out as
    DIR/data and DIR/nltk_data, copied into a fresh home with no data variables set."""
    from ml_refresher.data import data_dir

    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "data").symlink_to(data_dir().resolve())
    (prepared / "nltk_data").symlink_to(Path(setup.nltk_target()).resolve())
    env = {k: v for k, v in os.environ.items() if k not in ("NLTK_DATA", "ML_REFRESHER_DATA")}
    env |= {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "home" / ".cache")}

    def kata_setup():
        command = [sys.executable, "-m", "ml_refresher.cli", "setup", "--from", str(prepared)]
        return subprocess.run(command, env=env, capture_output=True, text=True)

    first = kata_setup()
    assert first.returncode == 0, first.stdout + first.stderr
    loaders = (
        "from ml_refresher import data as d;"
        "assert len(d.load_fashion_mnist().x_train) == 60000;"
        "assert len(d.load_imdb().test_texts) == 25000;"
        "assert len(d.load_treebank().test) == 914;"
        "assert len(d.load_movie_reviews().test_texts) == 400;"
        "d.nltk_ready('stopwords', 'punkt_tab', 'wordnet')"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", loaders], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    again = kata_setup()
    assert again.returncode == 0 and "copied" not in again.stdout, again.stdout


def test_cifar10_download_extracts_only_the_expected_members(tmp_path, target, monkeypatch):
    members = {"cifar-10-batches-py/data_batch_1": b"batch", "cifar-10-batches-py/meta": b"m"}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, content in [*members.items(), ("../escape", b"outside")]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    body = archive.getvalue()

    def urlopen(url, timeout):
        response = io.BytesIO(body)
        response.headers = {}
        return response

    monkeypatch.setattr(download, "urlopen", urlopen)
    digest = "md5:" + hashlib.md5(body).hexdigest()
    monkeypatch.setattr(setup, "CIFAR10_ARCHIVE", ("https://example.org/c.tar.gz", digest))
    files = tuple(setup.DataFile(name, (sha256(content),)) for name, content in members.items())
    cifar = setup.Dataset("CIFAR-10", files, setup._download_cifar10)
    assert setup.setup_dataset(cifar, target, source=None)
    assert (target / "cifar-10-batches-py" / "meta").read_bytes() == b"m"
    assert not (tmp_path / "escape").exists() and not (target / "c.tar.gz").exists()


def test_imdb_download_writes_the_prepared_layout(target, monkeypatch):
    import datasets

    splits = {
        "train": [{"text": "good", "label": 1}, {"text": "bad", "label": 0}],
        "test": [{"text": "fine", "label": 1}, {"text": "dull", "label": 0}],
    }
    monkeypatch.setattr(datasets, "load_dataset", lambda name: splits)
    imdb = next(d for d in REAL_DATASETS if d.name == "IMDB reviews")
    assert setup.setup_dataset(imdb, target, source=None)
    lines = gzip.decompress((target / "imdb" / "reviews.jsonl.gz").read_bytes()).splitlines()
    assert [json.loads(line)["label"] for line in lines] == [0, 0, 1, 1]  # sorted by label


def test_tatoeba_download_sends_a_browser_user_agent(target, monkeypatch):
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.writestr("fra.txt", "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\n")
    agents = []

    def urlopen(request, timeout):
        agents.append(request.get_header("User-agent"))
        response = io.BytesIO(body.getvalue())
        response.headers = {}
        return response

    monkeypatch.setattr(download, "urlopen", urlopen)
    tatoeba = next(d for d in REAL_DATASETS if d.name.startswith("Tatoeba"))
    assert setup.setup_dataset(tatoeba, target, source=None)
    assert agents[0].startswith("Mozilla/5.0")
    assert data.load_translation_pairs() == [("Go.", "Va !")]


@pytest.fixture
def hub(monkeypatch):
    """A Hugging Face cache that holds CoNLL-2003 once `load_dataset` ran online."""
    import datasets

    class Hub:
        cached = False
        online_calls = 0

    def load_dataset(name):
        if datasets.config.HF_HUB_OFFLINE and not Hub.cached:
            raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")
        if not datasets.config.HF_HUB_OFFLINE:
            Hub.online_calls += 1
            Hub.cached = True
        rows = {"tokens": [["EU", "rejects"]], "ner_tags": [[3, 0]]}
        split = datasets.Dataset.from_dict(rows)
        return {"train": split, "validation": split, "test": split}

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    # "Online" here is this fake hub; a learner's HF_HUB_OFFLINE=1 must not change the test.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    return Hub


def test_conll2003_is_fetched_into_the_hf_cache_online(hub, capsys):
    setup.setup_conll2003(source=None)
    assert hub.online_calls == 1 and "fetched" in capsys.readouterr().out
    setup.setup_conll2003(source=None)
    assert hub.online_calls == 1 and "present" in capsys.readouterr().out


def test_conll2003_cannot_come_from_a_prepared_directory(hub, tmp_path, capsys):
    setup.setup_conll2003(source=tmp_path)
    out = capsys.readouterr().out
    assert hub.online_calls == 0 and "absent" in out and "without --from" in out
