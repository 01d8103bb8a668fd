"""Fashion-MNIST for someone without Debian's package: downloaded over HTTP (here from a server on
127.0.0.1), each file kept only when its MD5 is the published one."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest

from powertrain.data import fetch
from powertrain.errors import PowertrainError

FILES = {name: f"{name} bytes".encode() * 1000 for name in fetch.UPSTREAM_MD5}
MD5 = {name: hashlib.md5(body, usedforsecurity=False).hexdigest() for name, body in FILES.items()}


@pytest.fixture
def mirror(tmp_path):
    """A folder served on 127.0.0.1, as a mirror of the data set would serve it; yields its URL."""
    served = tmp_path / "served"
    served.mkdir()
    for name, body in FILES.items():
        (served / name).write_bytes(body)
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_the_four_files_are_downloaded_checked_and_kept(mirror, tmp_path):
    _, url = mirror
    target = fetch.download_fashion_mnist(url, MD5, tmp_path / "cache")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == FILES


def test_a_file_that_is_not_the_published_one_is_refused_and_nothing_of_it_is_kept(
    mirror, tmp_path
):
    served, url = mirror
    (served / "t10k-images-idx3-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(PowertrainError, match="is not the published file .* nothing was kept"):
        fetch.download_fashion_mnist(url, MD5, tmp_path / "cache")
    assert not (tmp_path / "cache" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "cache").glob("*.part"))


def test_an_unreachable_mirror_is_one_clear_error(tmp_path):
    with pytest.raises(PowertrainError, match="could not download http://127.0.0.1:9/"):
        fetch.download_fashion_mnist("http://127.0.0.1:9", MD5, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.part"))


def test_files_already_there_with_the_right_md5_are_not_fetched_again(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, body in FILES.items():
        (cache / name).write_bytes(body)
    assert fetch.download_fashion_mnist("http://127.0.0.1:9", MD5, cache) == cache  # no server
