"""Downloads, with the network replaced: checksums on every download, atomic writes, and damaged
or partial files replaced rather than used."""

import gzip
import hashlib
import io
import zipfile

import pytest

from ml_refresher.data import download

PAYLOAD = b"the published file\n" * 1000
SHA256 = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
URL = "https://example.org/data/file.gz"


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes, fail_after: int | None = None):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection dropped")
        return super().read(min(size, 4096) if size > 0 else size)


@pytest.fixture
def network(monkeypatch):
    """Serves `network.body` for any URL and counts the requests."""

    class Network:
        body = PAYLOAD
        fail_after = None
        requests = []

    def urlopen(url, timeout):
        Network.requests.append(url)
        return FakeResponse(Network.body, Network.fail_after)

    monkeypatch.setattr(download, "urlopen", urlopen)
    return Network


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_fetch_downloads_and_verifies(tmp_path, network):
    dest = download.fetch(URL, tmp_path / "sub" / "file.gz", (SHA256,))
    assert dest.read_bytes() == PAYLOAD and network.requests == [URL]
    assert leftovers(dest.parent) == []


def test_md5_is_accepted_where_that_is_all_a_source_publishes(tmp_path, network):
    assert download.fetch(URL, tmp_path / "file.gz", (MD5,)).read_bytes() == PAYLOAD


def test_a_verified_file_is_not_downloaded_again(tmp_path, network):
    (tmp_path / "file.gz").write_bytes(PAYLOAD)
    download.fetch(URL, tmp_path / "file.gz", (SHA256,))
    assert network.requests == []


@pytest.mark.parametrize("damage", [PAYLOAD[:100], b"", b"X" + PAYLOAD[1:]])
def test_a_damaged_or_partial_file_is_fetched_again(tmp_path, network, damage):
    (tmp_path / "file.gz").write_bytes(damage)
    download.fetch(URL, tmp_path / "file.gz", (SHA256,))
    assert (tmp_path / "file.gz").read_bytes() == PAYLOAD and len(network.requests) == 1


def test_a_download_that_does_not_match_is_discarded(tmp_path, network):
    network.body = PAYLOAD + b"tampered"
    (tmp_path / "file.gz").write_bytes(b"old")
    with pytest.raises(download.DownloadError, match="checksum"):
        download.fetch(URL, tmp_path / "file.gz", (SHA256,))
    assert (tmp_path / "file.gz").read_bytes() == b"old"  # left as it was
    assert leftovers(tmp_path) == []


def test_an_interrupted_download_leaves_nothing(tmp_path, network):
    network.fail_after = 8192
    with pytest.raises(ConnectionResetError):
        download.fetch(URL, tmp_path / "file.gz", (SHA256,))
    assert list(tmp_path.iterdir()) == []


def test_gzip_intact_catches_truncation(tmp_path):
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(PAYLOAD))
    assert download.gzip_intact(path)
    path.write_bytes(gzip.compress(PAYLOAD)[:-10])
    assert not download.gzip_intact(path)


def zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", text)
    return buffer.getvalue()


def test_without_a_published_checksum_the_zip_crc_is_the_check(tmp_path, network):
    network.body = zipped("anarchism originated as a term " * 500)
    dest = download.fetch(URL.replace(".gz", ".zip"), tmp_path / "text8.zip", ())
    assert download.intact(dest) and len(network.requests) == 1
    download.fetch(URL, dest, ())
    assert len(network.requests) == 1, "an intact copy is not downloaded again"


def test_without_a_published_checksum_a_damaged_download_is_discarded(tmp_path, network):
    network.body = zipped("anarchism originated as a term " * 500)[:-50]
    with pytest.raises(download.DownloadError, match="incomplete or damaged"):
        download.fetch(URL, tmp_path / "text8.zip", ())
    assert list(tmp_path.iterdir()) == []


def test_headers_are_sent_when_given(tmp_path, network, monkeypatch):
    sent = []

    def urlopen(request, timeout):
        sent.append(request.get_header("User-agent"))
        return FakeResponse(PAYLOAD)

    monkeypatch.setattr(download, "urlopen", urlopen)
    download.fetch(URL, tmp_path / "file.gz", (SHA256,), headers={"User-Agent": "Mozilla/5.0"})
    assert sent == ["Mozilla/5.0"]
