"""Fashion-MNIST from its IDX files (gzipped or not): 60,000 training and 10,000 test images, 28x28."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Annotated

import numpy as np

from powertrain.data.base import Dataset, Task, build_image_dataset
from powertrain.data.paths import search_dirs
from powertrain.errors import PowertrainError
from powertrain.registry import COUNT, COUNT_OR_FRACTION

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _existing(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_fashion_mnist() -> Path | None:
    for folder in search_dirs("fashion-mnist", (str(DEBIAN_DIR),)):
        if all(_existing(folder, stem) for pair in FILES.values() for stem in pair):
            return folder
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file: magic (two zero bytes, a type code, the number of dimensions), sizes, data."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        what = "is not a readable gzip file" if path.suffix == ".gz" else "cannot be read"
        raise PowertrainError(f"{path} {what}: {exc}; download it again") from None
    if len(data) < 4:
        raise PowertrainError(f"{path} is truncated: {len(data)} bytes, not even an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise PowertrainError(f"{path} is not an IDX file of unsigned bytes")
    if len(data) < 4 + 4 * ndim:
        raise PowertrainError(f"{path} is truncated: its IDX header needs {4 + 4 * ndim} bytes")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise PowertrainError(
            f"{path} is truncated: expected {int(np.prod(shape))} values, found {array.size}"
        )
    return array.reshape(shape)


def load_fashion_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = find_fashion_mnist()
    if folder is None:
        raise PowertrainError(
            "Fashion-MNIST not found in $POWERTRAIN_DATA, ~/.cache/powertrain/fashion-mnist or "
            f"{DEBIAN_DIR}. Get it with `powertrain demo --fetch` or `python -m powertrain.data.fetch` "
            f"(Debian's {DEBIAN_PACKAGE} where apt-get is there, else a checked download; no root "
            "needed)."
        )
    images_stem, labels_stem = FILES[split]
    images = read_idx(_existing(folder, images_stem))
    labels = read_idx(_existing(folder, labels_stem))
    return images, labels


def load(
    val_size: Annotated[int | float, COUNT_OR_FRACTION] = 5000,
    train_size: Annotated[int | None, COUNT] = None,
    test_size: Annotated[int | None, COUNT] = None,
    seed: int = 0,
) -> Dataset:
    train_images, train_labels = load_fashion_mnist_arrays("train")
    test_images, test_labels = load_fashion_mnist_arrays("test")
    return build_image_dataset(
        "fashion-mnist",
        train_images,
        {"class": train_labels},
        test_images,
        {"class": test_labels},
        {"class": Task("class", 10)},
        val_size=val_size,
        train_size=train_size,
        test_size=test_size,
        seed=seed,
        info={"classes": CLASSES},
    )
