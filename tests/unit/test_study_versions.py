"""A study edited and rerun under the same name is never pooled with its old runs silently."""

from __future__ import annotations

import dataclasses

import pytest

from powertrain.errors import PowertrainError
from powertrain.store.memory import MemoryStore
from powertrain.study.config import parse_study
from powertrain.study.versions import check_study_unchanged, study_changes, study_version
from tests.unit.test_study_config import study


def config(**overrides):
    return parse_study(study(**overrides))


@pytest.mark.parametrize(
    ("override", "changed"),
    [
        ({"task.target_accuracy": 0.95}, "task.target_accuracy: 0.9 -> 0.95"),
        ({"task.model": "small-cnn"}, 'task.model: "mlp" -> "small-cnn"'),
        ({"task.dataset_options": {"train_size": 500}}, "task.dataset_options.train_size"),
        ({"train": {"momentum": 0.9}}, "train.momentum: 0.0 -> 0.9"),
        ({"meters": {"backends": ["estimate"]}}, 'meters.backends: null -> ["estimate"]'),
        ({"meters": {"cpu_tdp_w": 65}}, "meters.cpu_tdp_w: null -> 65.0"),
    ],
)
def test_changes_that_change_what_a_run_means_are_named(override, changed):
    old, new = config(), config(**override)
    changes = study_changes(old.to_dict(), new.to_dict())
    assert any(changed in c for c in changes), changes


@pytest.mark.parametrize(
    "override",
    [
        {"seeds": [0, 1, 2, 3, 4]},  # seeds added: more runs of the same setups
        {"grid": {"learning_rate": [0.01, 0.1, 0.3], "batch_size": [16, 64]}},  # values added
        {"description": "now with notes"},
        {"meters": {"interval_s": 0.5}},
    ],
)
def test_changes_that_only_add_runs_or_words_are_not_changes(override):
    assert study_changes(config().to_dict(), config(**override).to_dict()) == []


def test_a_changed_study_is_refused_saying_what_changed_and_how_to_go_on():
    store = MemoryStore()
    store.save_study("s", config().to_dict())
    new = config(**{"task.target_accuracy": 0.95})
    with pytest.raises(PowertrainError) as info:
        check_study_unchanged(store, new)
    message = str(info.value)
    assert "task.target_accuracy: 0.9 -> 0.95" in message
    assert "new name" in message and "--allow-changed" in message
    assert check_study_unchanged(store, new, allow_changed=True) == [
        "task.target_accuracy: 0.9 -> 0.95"
    ]


def test_an_unchanged_or_new_study_passes_and_old_records_missing_new_keys_do_not_count():
    store = MemoryStore()
    assert check_study_unchanged(store, config()) == []
    stored = config().to_dict()
    del stored["save_models"], stored["task"]["evals_per_epoch"]  # as an older powertrain wrote it
    store.save_study("s", stored)
    assert check_study_unchanged(store, config()) == []
    assert check_study_unchanged(store, dataclasses.replace(config(), seeds=[7, 8])) == []


def test_allow_changed_runs_each_definition_as_its_own_version():
    store = MemoryStore()
    store.save_study("s", config().to_dict())
    assert study_version(store, config()) == (config(), [])  # unchanged: the study itself
    second = config(**{"task.target_accuracy": 0.95})
    with pytest.raises(PowertrainError, match="'s@2'"):
        study_version(store, second)
    renamed, changes = study_version(store, second, allow_changed=True)
    assert renamed.name == "s@2" and changes == ["task.target_accuracy: 0.9 -> 0.95"]
    store.save_study(renamed.name, renamed.to_dict())
    assert study_version(store, second, allow_changed=True)[0].name == "s@2"  # resumes it
    third = config(**{"task.target_accuracy": 0.8})
    assert study_version(store, third, allow_changed=True)[0].name == "s@3"
