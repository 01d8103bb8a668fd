"""CelebA, from the files a user has downloaded: 202,599 aligned faces, 40 binary attributes, identities.

Layout (in ``$POWERTRAIN_DATA/celeba`` or ``~/.cache/powertrain/celeba``)::

    img_align_celeba/000001.jpg ...     178 x 218 JPEG images
    list_attr_celeba.txt                line 1: the image count; line 2: the 40 attribute names;
                                        then "000001.jpg -1  1  1 -1 ..." (-1 or 1 per attribute)
    identity_CelebA.txt                 "000001.jpg 2880"
    list_eval_partition.txt             "000001.jpg 0"  (0 train, 1 validation, 2 test)

Tasks: ``attributes`` (40 binary labels) and ``identity`` (one class per person in the training split;
images of people absent from it are dropped from every split). Images are centre-cropped to a square
and resized (64 x 64 by default), decoded once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch

from powertrain.data.base import Dataset, Split, Task, channel_stats, images_to_tensor, subsample
from powertrain.data.paths import search_dirs
from powertrain.errors import PowertrainError
from powertrain.inputs import read_text
from powertrain.registry import COUNT

FILES = ("list_attr_celeba.txt", "identity_CelebA.txt", "list_eval_partition.txt")


def find_celeba() -> Path | None:
    for folder in search_dirs("celeba"):
        if all((folder / f).is_file() for f in FILES) and (folder / "img_align_celeba").is_dir():
            return folder
    return None


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Attribute names, image names, and a (N, 40) array of 0/1."""
    lines = read_text(path, "CelebA attribute file").splitlines()
    try:
        count = int(lines[0].strip())
        names = lines[1].split()
        rows = [line.split() for line in lines[2 : 2 + count]]
        images = [row[0] for row in rows]
        values = np.array([[int(v) for v in row[1:]] for row in rows], dtype=np.int8)
    except (IndexError, ValueError) as exc:
        raise PowertrainError(f"{path} is not in CelebA's attribute format: {exc}") from None
    if values.shape != (count, len(names)):
        raise PowertrainError(f"{path}: expected {count} rows of {len(names)} attributes")
    return names, images, (values > 0).astype(np.float32)


def read_pairs(path: Path) -> dict[str, int]:
    """``image integer`` lines (identities, partitions)."""
    pairs = {}
    for number, line in enumerate(read_text(path, "CelebA label file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            image, value = line.split()
            pairs[image] = int(value)
        except ValueError:
            raise PowertrainError(f"{path}, line {number}: expected 'IMAGE NUMBER'") from None
    return pairs


def _decode(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize(
                (size, size), Image.BILINEAR
            )
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    except FileNotFoundError:
        raise PowertrainError(
            f"{path} is missing, but list_attr_celeba.txt lists it; restore img_align_celeba/"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PowertrainError(
            f"{path} is not a readable image ({exc}); download it again"
        ) from None


def _decode_all(folder: Path, images: list[str], rows, size: int) -> np.ndarray:
    if not len(rows):
        return np.zeros((0, 3, size, size), np.uint8)
    return np.stack([_decode(folder / "img_align_celeba" / images[i], size) for i in rows])


def load(
    image_size: Annotated[int, COUNT] = 64,
    train_size: Annotated[int | None, COUNT] = None,
    val_size: Annotated[int | None, COUNT] = None,
    test_size: Annotated[int | None, COUNT] = None,
    seed: int = 0,
    root: str | None = None,
) -> Dataset:
    folder = Path(root) if root else find_celeba()
    if folder is None or not all((folder / f).is_file() for f in FILES):
        raise PowertrainError(
            "CelebA not found: put img_align_celeba/ and "
            + ", ".join(FILES)
            + " in $POWERTRAIN_DATA/celeba or ~/.cache/powertrain/celeba"
        )
    names, images, attributes = read_attributes(folder / FILES[0])
    identity = read_pairs(folder / FILES[1])
    partition = read_pairs(folder / FILES[2])
    part = np.array([partition.get(img, -1) for img in images])
    ids = np.array([identity.get(img, -1) for img in images])
    # Identity classes are the people seen in training; others cannot be classified.
    known = np.unique(ids[part == 0])
    class_of = {person: i for i, person in enumerate(known)}
    keep_rows = {
        split: [i for i in np.flatnonzero(part == code) if ids[i] in class_of]
        for split, code in (("train", 0), ("val", 1), ("test", 2))
    }
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    chosen = {
        split: subsample(np.array(rows, dtype=np.int64), {}, sizes[split], seed, f"{split}_size")[0]
        for split, rows in keep_rows.items()
    }
    pixels = {s: _decode_all(folder, images, rows, image_size) for s, rows in chosen.items()}
    mean, std = channel_stats(pixels["train"])

    def split(name: str) -> Split:
        rows = chosen[name]
        return Split(
            images_to_tensor(pixels[name], mean, std),
            {
                "attributes": torch.from_numpy(attributes[rows]),
                "identity": torch.tensor([class_of[p] for p in ids[rows]], dtype=torch.long),
            },
        )

    tasks = {
        "attributes": Task("attributes", len(names), multilabel=True),
        "identity": Task("identity", len(known)),
    }
    return Dataset(
        "celeba",
        (3, image_size, image_size),
        tasks,
        split("train"),
        split("val"),
        split("test"),
        {"attributes": names},
    )
