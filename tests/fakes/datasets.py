"""Writes small data sets in the exact formats of the real downloads."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_fashion_mnist(folder: Path, n_train: int = 120, n_test: int = 40, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = (
            rng.integers(0, 60, (n, 28, 28)) + labels[:, None, None] * 19
        )  # learnable brightness
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)


def write_cifar10(folder: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """cifar-10-batches-py as the python version ships it: pickled dicts with bytes keys."""
    rng = np.random.default_rng(seed)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)],
        }
        with (root / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)
    with (root / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, f, protocol=2)
    return root


ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes"]


def write_celeba(folder: Path, n: int = 12, seed: int = 0) -> None:
    """img_align_celeba/ JPEGs (178 x 218) and the three list files, column layout as released."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for name in names:
        pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / name, quality=90)
    attr_lines = [str(n), " ".join(ATTRIBUTES) + " "]
    for name in names:
        values = rng.choice([-1, 1], len(ATTRIBUTES))
        attr_lines.append(name + "".join(f" {v:2d}" for v in values))
    (folder / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    people = [100 + (i % 3) for i in range(n)]
    (folder / "identity_CelebA.txt").write_text(
        "".join(f"{nm} {p}\n" for nm, p in zip(names, people, strict=True))
    )
    parts = [0] * (n - 4) + [1, 1, 2, 2]
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{nm} {p}\n" for nm, p in zip(names, parts, strict=True))
    )


def write_pamap2(folder: Path, subjects: int = 2, seconds: float = 12.0, seed: int = 0) -> Path:
    """Protocol/subject10N.dat: 54 space-separated columns at 100 Hz, heart rate mostly NaN, a few
    dropped IMU packets (NaN), activity 0 (transient) between activities."""
    rng = np.random.default_rng(seed)
    protocol = folder / "Protocol"
    protocol.mkdir(parents=True)
    for s in range(subjects):
        t = np.arange(0, seconds, 0.01)
        activity = np.where(t < seconds / 3, 1, np.where(t < seconds / 3 + 1, 0, 4))
        rows = rng.normal(size=(len(t), 54))
        rows[:, 0] = t + 5.64
        rows[:, 1] = activity
        rows[:, 2] = np.where(np.arange(len(t)) % 11 == 0, 100.0, np.nan)
        rows[rng.integers(0, len(t), 15), 5] = np.nan  # dropped packets
        rows[:, 4] += activity  # a learnable signal in the hand accelerometer
        lines = [" ".join("NaN" if np.isnan(v) else f"{v:.6f}" for v in row) for row in rows]
        (protocol / f"subject10{s + 1}.dat").write_text("\n".join(lines) + "\n")
    return protocol
