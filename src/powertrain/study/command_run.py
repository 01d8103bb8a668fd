"""One run of a study whose task is a command: fill the command line with the setup's values and the
seed, run it to the target, and record it in the store like any other run.

(The runner calls ``run_command_study_run`` for command tasks; the single run body of the seam calls
``command_argv`` and ``run_command_to_target`` the same way.)
"""

from __future__ import annotations

from typing import Any

from powertrain.command import CommandNotFound, run_command_to_target
from powertrain.records import FAILED, EvalPoint, RunOutcome, method_label
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


def run_command_study_run(ctx: Any, setup: Any, seed: int, retry_failed: bool) -> RunOutcome:
    """Today's runner's run body for a command task (``ctx`` is its StudyContext)."""
    study, store = ctx.study, ctx.store
    ctx.reporter.run_started(setup, seed)
    run_id = store.begin_run(
        study.name,
        study.run_key(setup, seed),
        setup.varied,
        setup.train.__dict__,
        seed,
        ctx.hardware,
        ctx.provenance,
        replace_failed=retry_failed,
    )

    def record(point: EvalPoint) -> None:
        store.add_eval_point(run_id, point)
        ctx.reporter.eval_point(point)

    argv = command_argv(study.task, setup.train.__dict__, setup.varied, seed)
    monitor = ctx.monitor()
    with monitor:
        outcome = run_command_task(study.task, argv, monitor, record)
    if study.meters.record_timeline:
        trace = monitor.trace()
        store.save_timeline(
            run_id, {"header": trace.header, "t_s": trace.t_s, "energy_j": trace.energy_j}
        )
    store.finish_run(run_id, outcome)
    ctx.reporter.run_finished(setup, seed, outcome, method_label(ctx.provenance))
    return outcome
