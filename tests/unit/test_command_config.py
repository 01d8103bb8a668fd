"""A study whose task is a command: validated at load, filled in per (setup, seed) without a shell."""

from __future__ import annotations

import pytest

from powertrain.study.command_run import command_argv
from powertrain.study.command_task import CommandTarget, fill_command, parse_target
from powertrain.study.config import parse_study
from powertrain.typed import ConfigError


def study(**task):
    return {
        "name": "mine",
        "task": {
            "command": "python train.py --lr {learning_rate} --batch-size {batch_size} --seed {seed}",
            "target": {"metric": "val_acc", "at_least": 0.9},
            **task,
        },
        "grid": {"learning_rate": [0.01, 0.1], "batch_size": [32, 128]},
        "train": {"momentum": 0.9},
        "seeds": [0, 1],
    }


def test_a_command_study_fills_each_setup_and_seed_in():
    s = parse_study(study())
    assert s.task.target == CommandTarget("val_acc", 0.9, None) and not s.task.let_finish
    assert len(s.runs()) == 8
    setup, seed = s.runs()[-1]
    argv = command_argv(s.task, setup.train.__dict__, setup.varied, seed)
    assert argv == ["python", "train.py", "--lr", "0.1", "--batch-size", "128", "--seed", "1"]
    keys = {s.run_key(setup, seed) for setup, seed in s.runs()}
    assert len(keys) == 8
    other = parse_study(study(command="python other.py --seed {seed}"))
    assert s.run_key(*s.runs()[0]) != other.run_key(*other.runs()[0])


def test_fixed_training_values_fill_in_and_values_stay_one_argument_each():
    s = parse_study(
        study(command="python 'my train.py' --m={momentum:.2f} --opt {optimizer} {{x}}")
    )
    setup, seed = s.runs()[0]
    assert command_argv(s.task, setup.train.__dict__, setup.varied, seed) == [
        "python",
        "my train.py",
        "--m=0.90",
        "--opt",
        "sgd",
        "{x}",
    ]
    assert fill_command("echo {name}", {"name": "a b; rm -rf /"}) == ["echo", "a b; rm -rf /"]


def test_an_unknown_name_in_the_command_lists_the_available_ones():
    with pytest.raises(ConfigError) as info:
        parse_study(study(command="python train.py --lr {lr}"))
    message = str(info.value)
    assert message.startswith("task.command: {lr} is neither a grid key, the seed")
    for name in (
        "learning_rate (grid)",
        "batch_size (grid)",
        "seed (seed)",
        "momentum (train: 0.9)",
    ):
        assert name in message


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"target": None}, "task.target: missing"),
        ({"target": {"metric": "val_acc"}}, "task.target: give one of at_least"),
        ({"target": {"metric": "a", "at_least": 1, "at_most": 2}}, "give one of at_least"),
        ({"dataset": "digits"}, "task.dataset: is for the built-in loop"),
        ({"max_epochs": 3}, "task.max_epochs: is for the built-in loop"),
        ({"command": "python train.py {learning_rate:d}"}, "task.command: cannot fill in"),
        ({"command": "python train.py {a.b}"}, "is not a plain name"),
        ({"command": "python train.py {"}, "task.command: Single '{'"),
        ({"command": "python 'train.py"}, "task.command: cannot split it"),
        ({"command": ""}, "task.command: is empty"),
        ({"command": "no-such-program-xyz --seed {seed}"}, "not a program on PATH"),
        ({"stop_grace_s": -1.0}, "task.stop_grace_s: must be"),
        ({"max_time_s": 0.0}, "task.max_time_s: must be positive"),
    ],
)
def test_a_bad_command_task_is_one_message_naming_the_key(task, message):
    data = study(**task)
    if data["task"]["target"] is None:
        del data["task"]["target"]
    with pytest.raises(ConfigError, match=None) as info:
        parse_study(data)
    assert message in str(info.value)


def test_a_target_without_a_command_and_a_builtin_task_without_a_dataset_say_so():
    with pytest.raises(ConfigError, match="task.command: missing"):
        parse_study({**study(), "task": {"target": {"metric": "val_acc", "at_least": 0.9}}})
    builtin = {
        "name": "s",
        "task": {"model": "mlp", "target_accuracy": 0.9},
        "grid": {"learning_rate": [0.1]},
    }
    with pytest.raises(
        ConfigError, match="task.dataset: missing; this key is required .or give `command:`"
    ):
        parse_study(builtin)


def test_a_command_study_has_no_pretraining_extra_tasks_or_saved_models():
    with pytest.raises(ConfigError, match="save_models: is not available for a command task"):
        parse_study({**study(), "save_models": True})


def test_the_measure_target_option_reads_both_directions():
    assert parse_target("val_acc>=0.9") == CommandTarget("val_acc", 0.9, None)
    assert parse_target(" val_loss <= 0.25 ") == CommandTarget("val_loss", None, 0.25)
    assert parse_target("val_acc>=0.9").describe() == "val_acc >= 0.9"
    for bad, message in [
        ("val_acc>0.9", "write METRIC>=VALUE"),
        ("val_acc>=high", "'high' is not a number"),
        ("val_acc>=nan", "--target.at_least: must be a finite number"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_target(bad)


def test_a_study_run_whose_program_is_not_there_is_failed_and_says_so():
    import time

    from powertrain.meters.base import Component
    from powertrain.monitor import Monitor
    from powertrain.study.command_run import run_command_task
    from tests.fakes.meters import ConstantPowerMeter

    task = parse_study(study()).task
    monitor = Monitor([ConstantPowerMeter(Component.CPU, 10.0, time.monotonic)])
    with monitor:
        outcome = run_command_task(task, ["no-such-program-xyz"], monitor, lambda point: None)
    assert (outcome.status, outcome.error) == ("failed", "command not found: no-such-program-xyz")
