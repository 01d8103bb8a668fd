"""Makes Fashion-MNIST available offline from Debian's ``dataset-fashion-mnist`` package.

As root: ``apt-get install``. Otherwise ``apt-get download`` and ``dpkg -x`` into the user cache.
``python -m powertrain.data.fetch`` does nothing when the files are already found.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from powertrain.data.fashion_mnist import DEBIAN_DIR, DEBIAN_PACKAGE, find_fashion_mnist
from powertrain.data.paths import cache_dir
from powertrain.errors import PowertrainError

log = logging.getLogger("powertrain.data.fetch")  # its name under `python -m` too


def fetch_fashion_mnist() -> Path:
    found = find_fashion_mnist()
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        raise PowertrainError(
            "Fashion-MNIST is missing and apt-get is not available: download the four IDX files "
            "(train-images-idx3-ubyte.gz, ...) into ~/.cache/powertrain/fashion-mnist"
        )
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
