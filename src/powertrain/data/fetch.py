"""Makes Fashion-MNIST available: from Debian's ``dataset-fashion-mnist`` package where apt-get is
there (offline mirrors included), else downloaded from Zalando's repository and checked against the
published MD5 of each file.

Debian: as root ``apt-get install``; otherwise ``apt-get download`` and ``dpkg -x`` into the user cache.
``python -m powertrain.data.fetch`` (and ``powertrain demo --fetch``) does nothing when the files are
already found.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from powertrain.data.fashion_mnist import DEBIAN_DIR, DEBIAN_PACKAGE, find_fashion_mnist
from powertrain.data.paths import cache_dir
from powertrain.errors import PowertrainError

log = logging.getLogger("powertrain.data.fetch")  # its name under `python -m` too

UPSTREAM_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion"
URL_ENV = "POWERTRAIN_FASHION_MNIST_URL"  # another mirror (or a local folder as file://...)
# The published files' MD5s (zalandoresearch/fashion-mnist; torchvision checks the same four).
UPSTREAM_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
MANUAL = (
    "or put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from "
    f"{UPSTREAM_URL} into ~/.cache/powertrain/fashion-mnist or $POWERTRAIN_DATA/fashion-mnist"
)


def fetch_fashion_mnist() -> Path:
    """The folder holding Fashion-MNIST, getting it first when it is missing (Debian, else download)."""
    found = find_fashion_mnist()
    if found is not None:
        return found
    problems = []
    if shutil.which("apt-get") is not None:
        try:
            return _from_debian()
        except PowertrainError as exc:
            problems.append(str(exc))
    try:
        return download_fashion_mnist()
    except PowertrainError as exc:
        problems.append(str(exc))
    raise PowertrainError(f"could not get Fashion-MNIST: {'; '.join(problems)}; {MANUAL}")


def _from_debian() -> Path:
    log.info("Fashion-MNIST is missing: installing it from Debian's %s", DEBIAN_PACKAGE)
    if os.geteuid() == 0:
        _run(["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE], retry_after_update=True)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            _run(["apt-get", "download", DEBIAN_PACKAGE], cwd=tmp)
            (deb,) = Path(tmp).glob("*.deb")
            unpacked = Path(tmp) / "root"
            _run(["dpkg", "-x", str(deb), str(unpacked)])
            target = cache_dir() / "fashion-mnist"
            target.mkdir(parents=True, exist_ok=True)
            for file in (unpacked / DEBIAN_DIR.relative_to("/")).iterdir():
                shutil.copy(file, target / file.name)
    found = find_fashion_mnist()
    if found is None:
        raise PowertrainError(f"installed {DEBIAN_PACKAGE} but found no Fashion-MNIST files")
    return found


def download_fashion_mnist(
    base_url: str | None = None, md5: dict[str, str] | None = None, target: Path | None = None
) -> Path:
    """Download the four files into ``target`` (the user cache), each checked against its MD5 before
    it is kept; a file already there with the right MD5 is not fetched again."""
    base_url = (base_url or os.environ.get(URL_ENV) or UPSTREAM_URL).rstrip("/")
    target = target or cache_dir() / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name, digest in (md5 or UPSTREAM_MD5).items():
        if (target / name).is_file() and _md5(target / name) == digest:
            continue
        _download(f"{base_url}/{name}", target / name, digest)
    return target


def _download(url: str, destination: Path, digest: str) -> None:
    log.info("downloading %s", url)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (
        OSError,
        ValueError,
    ) as exc:  # URLError and HTTPError are OSErrors; a bad URL, ValueError
        partial.unlink(missing_ok=True)
        raise PowertrainError(f"could not download {url}: {getattr(exc, 'reason', exc)}") from None
    got = _md5(partial)
    if got != digest:
        partial.unlink()
        raise PowertrainError(
            f"{url} is not the published file (MD5 {got}, expected {digest}); nothing was kept"
        )
    partial.replace(destination)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(command: list[str], cwd: str | None = None, retry_after_update: bool = False) -> None:
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if run.returncode != 0 and retry_after_update:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        run = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if run.returncode != 0:
        raise PowertrainError(f"`{' '.join(command)}` failed: {run.stderr.strip()[-300:]}")


def main() -> None:
    """``python -m powertrain.data.fetch``: where the files are, through the ``powertrain`` logger."""
    logging.basicConfig(level=logging.INFO, format="powertrain: %(message)s")
    try:
        log.info("Fashion-MNIST: %s", fetch_fashion_mnist())
    except PowertrainError as exc:
        log.error("error: %s", exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
