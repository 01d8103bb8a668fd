"""One run of a study whose task is a command: fill the command line with the setup's values and the
seed, run it to the target, and record it in the store like any other run.

``execute.execute_run`` calls ``command_argv`` and ``run_command_task`` inside the run's monitor, in
place of the built-in loop; everything else about the run (claim, records, timeline) is the same.
"""

from __future__ import annotations

from typing import Any

from powertrain.command import CommandNotFound, run_command_to_target
from powertrain.records import FAILED, RunOutcome
from powertrain.study.command_task import fill_command


def command_values(setup_train: dict[str, Any], varied: dict[str, Any], seed: int) -> dict:
    """What ``{name}`` can stand for: every training value, the grid's values, the seed."""
    return {**setup_train, **varied, "seed": seed}


def command_argv(task: Any, setup_train: dict[str, Any], varied: dict[str, Any], seed: int):
    return fill_command(task.command, command_values(setup_train, varied, seed))


def run_command_task(task: Any, argv: list[str], monitor: Any, on_eval) -> RunOutcome:
    """The run's outcome; a program that is not there is a failed run that says so."""
    try:
        return run_command_to_target(
            argv,
            task.target,
            monitor,
            on_eval,
            let_finish=task.let_finish,
            grace_s=task.stop_grace_s,
            max_time_s=task.max_time_s,
        )
    except CommandNotFound as exc:
        return RunOutcome(FAILED, "the command could not start", 0.0, {}, 0.0, 0, error=str(exc))
