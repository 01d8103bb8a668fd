from __future__ import annotations

from pathlib import Path

import pytest

from powertrain.study.config import load_study, parse_study
from powertrain.typed import ConfigError

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.yaml"))


def study(**overrides):
    data = {
        "name": "s",
        "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.9},
        "grid": {"learning_rate": [0.01, 0.1], "batch_size": [16, 64]},
        "seeds": [0, 1, 2],
    }
    for key, value in overrides.items():
        target = data
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return data


def test_grid_expands_in_file_order_with_every_seed():
    s = parse_study(study())
    assert [x.varied for x in s.setups()] == [
        {"learning_rate": 0.01, "batch_size": 16},
        {"learning_rate": 0.01, "batch_size": 64},
        {"learning_rate": 0.1, "batch_size": 16},
        {"learning_rate": 0.1, "batch_size": 64},
    ]
    assert len(s.runs()) == 12
    keys = {s.run_key(setup, seed) for setup, seed in s.runs()}
    assert len(keys) == 12


def test_run_keys_change_with_the_task_so_old_runs_are_never_resumed_by_mistake():
    a, b = parse_study(study()), parse_study(study(**{"task.target_accuracy": 0.95}))
    assert a.run_key(*a.runs()[0]) != b.run_key(*b.runs()[0])
    assert a.run_key(*a.runs()[0]) == parse_study(study()).run_key(*parse_study(study()).runs()[0])


def test_grid_values_are_typed():
    s = parse_study(study(**{"grid.learning_rate": [1, 2]}))
    assert s.setups()[0].train.learning_rate == 1.0 and isinstance(
        s.setups()[0].train.learning_rate, float
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"task.lr": 0.1}, "task.lr: unknown key"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"task.target_accuracy": 1.5}, "task.target_accuracy: must be in (0, 1]"),
        ({"task.target_accuracy": 0}, "task.target_accuracy: must be in (0, 1]"),
        ({"task.target_accuracy": "high"}, "task.target_accuracy: expected a number"),
        ({"grid": {}}, "grid: is empty"),
        ({"grid": KeyError}, "grid: missing"),
        ({"grid.learning_rate": []}, "grid.learning_rate: needs a non-empty list"),
        ({"grid.learning_rate": [0.1, -0.01]}, "grid.learning_rate[1]: must be positive"),
        ({"grid.learning_rate": [0.1, 0]}, "grid.learning_rate[1]: must be positive"),
        ({"grid.batch_size": [16, "big"]}, "grid.batch_size[1]: expected a whole number"),
        ({"grid.dropout": [0.1]}, "grid.dropout: not a training hyperparameter"),
        ({"grid.optimizer": ["sgd", "lion"]}, "grid.optimizer[1]: expected one of"),
        ({"train": {"learning_rate": -1}}, "train.learning_rate: must be positive"),
        ({"task.dataset": "imagenet"}, "task.dataset: unknown data set"),
        ({"task.model": "gpt"}, "task.model: unknown model"),
        ({"task.model_options": {"depth": 3}}, "task.model_options.depth: not an option of mlp"),
        (
            {"task.dataset_options": {"colour": 1}},
            "task.dataset_options.colour: not an option of digits",
        ),
        ({"seeds": []}, "seeds: needs at least one seed"),
        ({"seeds": [1, 1]}, "seeds: has a seed twice"),
        ({"meters": {"backends": ["joulemeter"]}}, "meters.backends: unknown meter"),
        ({"task": KeyError}, "task: missing"),
    ],
)
def test_bad_studies_get_one_message_naming_the_key(override, message):
    with pytest.raises(ConfigError) as info:
        parse_study(study(**override))
    assert message in str(info.value)


def test_yaml_errors_and_missing_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_study(bad)
    with pytest.raises(ConfigError, match="cannot read study file"):
        load_study(tmp_path / "absent.yaml")
    code = tmp_path / "code.yaml"
    code.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):  # safe_load refuses to build objects
        load_study(code)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_a_valid_study(path):
    s = load_study(path)
    assert s.runs()


def test_paper_grid_is_the_studys_4x4_grid_with_3_seeds():
    s = load_study(next(p for p in EXAMPLES if p.name == "paper-grid.yaml"))
    assert (
        len(s.grid["batch_size"]) == 4 and len(s.grid["learning_rate"]) == 4 and len(s.seeds) == 3
    )
