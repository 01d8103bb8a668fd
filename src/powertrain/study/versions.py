"""A study edited and run again under the same name: what changed, and whether its old runs still mean
the same thing as the new ones.

Only what defines a run counts: the task (data set, model, target, limits, evaluation schedule), the
data, the base training hyperparameters, extra tasks, pretraining, the device and how energy is
metered (which backends, the CPU's TDP for the estimate). Seeds or grid values added only add runs;
a description, a name, the sampling interval or keeping models change nothing a run measured.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError
from powertrain.store.base import ResultStore

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig

#: Paths (into the study's plain dict) whose change changes what a run means.
MEANING_PATHS: tuple[tuple[str, ...], ...] = (
    ("task",),
    ("data",),
    ("train",),
    ("extra_tasks",),
    ("pretrain",),
    ("device",),
    ("meters", "backends"),
    ("meters", "cpu_tdp_w"),
    ("meters", "method"),
)
_ABSENT = object()
#: ``NAME@2``: the second definition of study NAME, whose runs are kept apart from NAME's.
VERSION_MARK = "@"
log = logging.getLogger(__name__)


def study_changes(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two study definitions (plain dicts, as ``StudyConfig.to_dict()`` gives
    and the store keeps) that changes what a run means, one ``path: old -> new`` line each."""
    changes: list[str] = []
    for path in MEANING_PATHS:
        old_value, new_value = _get(stored, path), _get(new, path)
        changes += _diff(".".join(path), old_value, new_value)
    return changes


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return _ABSENT
        data = data[key]
    return data


def _diff(path: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            lines += _diff(f"{path}.{key}", old.get(key, _ABSENT), new.get(key, _ABSENT))
        return lines
    if _canonical(old) == _canonical(new):
        return []
    return [f"{path}: {_show(old)} -> {_show(new)}"]


def _canonical(value: Any) -> str:
    if value is _ABSENT:
        return "<absent>"
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(not set)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _normalised(config: dict[str, Any]) -> dict[str, Any]:
    """A stored definition read by today's parser, so that keys added since (with their defaults)
    do not count as changes; the raw dict when today's parser no longer reads it."""
    from powertrain.study.config import parse_study

    try:
        return parse_study(config).to_dict()
    except (PowertrainError, TypeError, ValueError):
        return config


#: ``source`` of a study made by ``track()`` (``tracking.store.SOURCE``, below which this sits).
TRACKED = "track"


def definitions_differ(stored: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """``study_changes`` between two stored definitions, each read by today's parser (a merge of two
    machines' stores: ``store.merge.Differs``). A tracked study is defined by its targets alone:
    its task names the model and data of its last tracked run, which may vary run to run."""
    if stored.get("source") != other.get("source"):
        return _diff("source", stored.get("source", _ABSENT), other.get("source", _ABSENT))
    if stored.get("source") == TRACKED:
        return _diff("targets", stored.get("targets", _ABSENT), other.get("targets", _ABSENT))
    return study_changes(_normalised(stored), _normalised(other))


def check_study_unchanged(
    store: ResultStore, study: StudyConfig, allow_changed: bool = False
) -> list[str]:
    """Refuse to run ``study`` into a store that holds a different definition under its name.

    Returns what changed (empty when nothing did, or the store has no such study). With
    ``allow_changed`` the changes are returned for the caller to keep the runs as a new version;
    without it, PowertrainError says what changed and how to go on."""
    studies = {s["name"]: s for s in store.studies()}
    stored = studies.get(study.name)
    if stored is None:
        return []
    changes = study_changes(_normalised(stored["config"]), study.to_dict())
    if not changes or allow_changed:
        return changes
    listed = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
    finished = sum(1 for r in store.runs(study.name) if r.outcome is not None)
    raise PowertrainError(
        f"study {study.name!r} is in the store with another definition ({listed}); its "
        f"{finished} finished runs measured something else and would be pooled with the new ones. "
        f"Give the study a new name (name: {study.name}-v2), or run with --allow-changed to keep "
        f"them apart as a new version (study {version_name(study, studies)!r})"
    )


def version_name(study: StudyConfig, studies: dict[str, dict[str, Any]]) -> str:
    """The name a changed definition of ``study`` runs under: ``NAME@2``, ``NAME@3``, ... the first
    that the store does not hold, or holds with this same definition (so that running it again
    resumes that version). ``studies``: the store's studies by name."""
    n = 2
    while True:
        name = f"{study.name}{VERSION_MARK}{n}"
        held = studies.get(name)
        if held is None or not study_changes(_normalised(held["config"]), study.to_dict()):
            return name
        n += 1


def study_version(
    store: ResultStore, study: StudyConfig, allow_changed: bool = False
) -> tuple[StudyConfig, list[str]]:
    """The study to run into ``store``, and what changed: ``study`` itself when the store holds no
    other definition under its name; with ``allow_changed``, ``study`` renamed ``NAME@N`` (see
    ``version_name``), so the old runs and the new are never pooled; PowertrainError otherwise."""
    changes = check_study_unchanged(store, study, allow_changed)
    if not changes:
        return study, []
    name = version_name(study, {s["name"]: s for s in store.studies()})
    log.warning(
        "study %r changed (%s): its runs are kept apart as study %r",
        study.name,
        "; ".join(changes),
        name,
    )
    return dataclasses.replace(study, name=name), changes
