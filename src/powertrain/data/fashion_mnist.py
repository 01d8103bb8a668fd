"""Fashion-MNIST from its IDX files (gzipped or not): 60,000 training and 10,000 test images, 28x28."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from powertrain.data.base import Dataset, Task, build_image_dataset
from powertrain.data.paths import search_dirs
from powertrain.errors import PowertrainError

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
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise PowertrainError(f"{path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise PowertrainError(f"{path} is truncated: expected {int(np.prod(shape))} values")
    return array.reshape(shape)


def load_fashion_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = find_fashion_mnist()
    if folder is None:
        raise PowertrainError(
            "Fashion-MNIST not found in $POWERTRAIN_DATA, ~/.cache/powertrain/fashion-mnist or "
            f"{DEBIAN_DIR}. Get it with `sudo apt-get install {DEBIAN_PACKAGE}`, or run "
            "`python -m powertrain.data.fetch` (no root needed)."
        )
    images_stem, labels_stem = FILES[split]
    images = read_idx(_existing(folder, images_stem))
    labels = read_idx(_existing(folder, labels_stem))
    return images, labels


def load(
    val_size: int | float = 5000,
    train_size: int | None = None,
    test_size: int | None = None,
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
