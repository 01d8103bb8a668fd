"""Whether a replay is in-sample: run on a study its strategy's settings were chosen on.

A study is known by what it measures, not by its name: its **workload**, a digest of its setups
(every axis and value), its target and, where the study says, its data set (a file's name, not its
folder) and model. ``KNOWN`` holds the workload of each of the project's studies (those a
strategy's ``tuned_on`` names among them), as the project ran or imported it. So a study is in-sample when its workload is one of them, whatever
it is called (a tuned-on grid run again, or imported under another name), and a study that only
shares a tuned-on study's name (a user's own ``paper-grid``) is out-of-sample, which the note says.
A tuned-on name whose workload is not known here is taken as in-sample by its name, and the note
says so: an in-sample label can only understate a strategy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: The workload (``workload``) of the project's studies, by name, those the strategies were tuned on
#: among them: the Zeus NSDI'23 traces as ``benchmarks/search_traces.py`` imports them (their
#: README's targets), the project's grids as ``benchmarks/data/own-grids.db.gz`` holds them.
KNOWN: dict[str, str] = {
    "cifar100-v100": "eaa4178437c5431a",
    "cifar100-a40": "359075750a8e9205",
    "imagenet-v100": "816e35ae12157ffc",
    "imagenet-a40": "9aea114cddcadb67",
    "paper-grid": "e2834413824ef9c2",
    "holdout-grid": "5aa127341a8eb436",
    "holdout-cnn-mnist": "8cc00028e3ba4ad0",
    "holdout-cnn-digits": "eee5e1fd2ec4b778",
    "holdout-mlp-tabular": "d2cbaab424cca672",
    "holdout-mlp-quantiles": "d08244948071e3b2",
    "holdout-mlp-spirals": "6fc46f5f70e103de",
    "holdout-cnn-waves": "f481cdce68c96711",
    "holdout-cnn-shapes": "c72e46fc487459b5",
    "holdout-mlp-hastie": "6444460224d584ac",
    "holdout-gpu-shapes": "c72e46fc487459b5",  # holdout-cnn-shapes' setups, task and target
    "holdout-mlp-classif": "14c746e5665145c6",
    "holdout-mlp-blobs": "443c1d5f2b9fc5dd",
    "holdout-mlp-rings": "896a59641937025f",
    "holdout-cnn-shapes-adamw": "b72c64b3498752eb",
}


def workload(setup_keys: Iterable[str], config: dict[str, Any]) -> str:
    """A digest of what the study measures (see the module's docstring): ``setup_keys`` are its
    setups (``simulate.setup_key``), ``config`` the study's stored definition."""
    task = config.get("task") or {}
    dataset = task.get("dataset")
    if isinstance(dataset, str):  # a loader in a file: its name, wherever the checkout is
        dataset = dataset.replace("\\", "/").rsplit("/", 1)[-1]
    identity = {
        "setups": sorted(setup_keys),
        "target": task.get("target_accuracy"),
        "dataset": dataset,
        "model": task.get("model"),
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Sample:
    """Whether a study is in-sample for a strategy, and which tuned-on study it is (``like``)."""

    in_sample: bool
    like: str | None = None  # the tuned-on study whose workload it is (or whose name it has)
    by_name: bool = False  # in-sample by its name alone: that study's workload is not known here
    named_like: str | None = None  # a tuned-on study it shares a name with but is not


def sample_of(study: str, study_workload: str, tuned_on: Iterable[str]) -> Sample:
    """``study`` (of ``study_workload``) against the studies a strategy was ``tuned_on``."""
    tuned_on = tuple(tuned_on)
    for name in tuned_on:
        if study_workload and KNOWN.get(name) == study_workload:
            return Sample(True, like=name)
    if study in tuned_on and study not in KNOWN:
        return Sample(True, like=study, by_name=True)
    return Sample(False, named_like=study if study in tuned_on else None)
