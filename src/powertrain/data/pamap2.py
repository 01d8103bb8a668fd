"""PAMAP2 physical activity monitoring, from ``Protocol/subject101.dat`` ... ``subject109.dat``.

Each line holds 54 space-separated columns at 100 Hz: timestamp (s), activity id, heart rate (mostly
NaN: it is sampled at about 9 Hz), then 17 columns for each of three IMUs (hand, chest, ankle):
temperature, 3-D acceleration +-16 g, 3-D acceleration +-6 g, 3-D gyroscope, 3-D magnetometer and four
orientation values the data set's authors mark invalid. Dropped wireless packets show up as NaN.

We take, per IMU, the +-16 g acceleration, gyroscope and magnetometer (27 channels), fill NaN gaps by
linear interpolation within each recording, and cut windows (``window`` samples, every ``step``) that lie
wholly inside one of the 12 protocol activities (activity id 0, "transient", is never used). Tasks:
``activity`` (12 classes) and ``subject`` (one class per recording found).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch

from powertrain.data.base import Dataset, Split, Task, split_train_val, subsample
from powertrain.data.paths import search_dirs
from powertrain.errors import PowertrainError
from powertrain.registry import COUNT, COUNT_OR_FRACTION

COLUMNS = 54
ACTIVITIES = {
    1: "lying",
    2: "sitting",
    3: "standing",
    4: "walking",
    5: "running",
    6: "cycling",
    7: "Nordic walking",
    12: "ascending stairs",
    13: "descending stairs",
    16: "vacuum cleaning",
    17: "ironing",
    24: "rope jumping",
}
_IMU_STARTS = (3, 20, 37)  # 0-based column of each IMU's temperature
# Within an IMU: acceleration +-16 g at offsets 1-3, gyroscope 7-9, magnetometer 10-12.
CHANNELS = [start + offset for start in _IMU_STARTS for offset in (1, 2, 3, 7, 8, 9, 10, 11, 12)]


def find_pamap2() -> Path | None:
    for folder in search_dirs("pamap2"):
        for candidate in (folder / "Protocol", folder / "PAMAP2_Dataset" / "Protocol"):
            if sorted(candidate.glob("subject10*.dat")):
                return candidate
    return None


def read_recording(path: Path) -> np.ndarray:
    """One subject's (T, 54) float array."""
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise PowertrainError(f"{path} is not a PAMAP2 recording: {exc}") from None
    if data.shape[1] != COLUMNS:
        raise PowertrainError(f"{path}: expected {COLUMNS} columns, found {data.shape[1]}")
    return data


def _interpolate_nans(signal: np.ndarray) -> np.ndarray:
    out = signal.copy()
    index = np.arange(len(out))
    for c in range(out.shape[1]):
        bad = np.isnan(out[:, c])
        if bad.all():
            out[:, c] = 0.0
        elif bad.any():
            out[bad, c] = np.interp(index[bad], index[~bad], out[~bad, c])
    return out


def windows(recording: np.ndarray, window: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, channels, window) windows that lie within one protocol activity, and their activity ids."""
    activity = recording[:, 1].astype(np.int64)
    signal = _interpolate_nans(recording[:, CHANNELS])
    xs, ys = [], []
    for start in range(0, len(recording) - window + 1, step):
        labels = activity[start : start + window]
        if labels[0] in ACTIVITIES and (labels == labels[0]).all():
            xs.append(signal[start : start + window].T)
            ys.append(labels[0])
    if not xs:
        return np.zeros((0, len(CHANNELS), window), np.float32), np.zeros(0, np.int64)
    return np.stack(xs).astype(np.float32), np.array(ys)


def load(
    window: Annotated[int, COUNT] = 256,
    step: Annotated[int, COUNT] = 128,
    val_size: Annotated[int | float, COUNT_OR_FRACTION] = 0.15,
    test_size: Annotated[int | float, COUNT_OR_FRACTION] = 0.15,
    train_size: Annotated[int | None, COUNT] = None,
    seed: int = 0,
    root: str | None = None,
) -> Dataset:
    folder = Path(root) if root else find_pamap2()
    files = sorted(folder.glob("subject10*.dat")) if folder else []
    if not files:
        raise PowertrainError(
            "PAMAP2 not found: put the Protocol/ folder (subject101.dat ...) in $POWERTRAIN_DATA/pamap2 "
            "or ~/.cache/powertrain/pamap2"
        )
    activity_ids = sorted(ACTIVITIES)
    xs, activities, subjects = [], [], []
    for subject, path in enumerate(files):
        x, y = windows(read_recording(path), window, step)
        xs.append(x)
        activities.append(np.array([activity_ids.index(a) for a in y], dtype=np.int64))
        subjects.append(np.full(len(y), subject, dtype=np.int64))
    x = np.concatenate(xs)
    labels = {"activity": np.concatenate(activities), "subject": np.concatenate(subjects)}
    if len(x) < 3:
        raise PowertrainError(
            f"PAMAP2 in {folder} yields only {len(x)} windows of {window} samples"
        )
    (x_rest, y_rest), (x_test, y_test) = split_train_val(x, labels, test_size, seed + 1)
    (x_tr, y_tr), (x_val, y_val) = split_train_val(x_rest, y_rest, val_size, seed)
    x_tr, y_tr = subsample(x_tr, y_tr, train_size, seed, "train_size")
    mean = x_tr.mean(axis=(0, 2), keepdims=True)
    std = x_tr.std(axis=(0, 2), keepdims=True) + 1e-6

    def split(xa, ya) -> Split:
        return Split(
            torch.from_numpy((xa - mean) / std).float(),
            {k: torch.from_numpy(v) for k, v in ya.items()},
        )

    tasks = {"activity": Task("activity", len(ACTIVITIES)), "subject": Task("subject", len(files))}
    return Dataset(
        "pamap2",
        (len(CHANNELS), window),
        tasks,
        split(x_tr, y_tr),
        split(x_val, y_val),
        split(x_test, y_test),
        {"activities": [ACTIVITIES[a] for a in activity_ids], "subjects": [f.stem for f in files]},
    )
