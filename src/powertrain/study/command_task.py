"""A study whose task is the user's own command: its target, and the command line with the setup's
values filled in (``python train.py --lr {learning_rate} --seed {seed}``).

The template is split once with ``shlex`` (no shell ever runs it), then each ``{name}`` is filled in its
own argument, so a value with spaces stays one argument. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import math
import re
import shlex
import string
from dataclasses import dataclass
from typing import Any

from powertrain.typed import ConfigError, check

_TARGET = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(>=|<=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class CommandTarget:
    """The metric the script reports and the value that ends its run: ``at_least`` for accuracies,
    ``at_most`` for losses or errors (give one)."""

    metric: str
    at_least: float | None = None
    at_most: float | None = None

    def reached(self, value: float) -> bool:
        if self.at_least is not None:
            return value >= self.at_least
        return self.at_most is not None and value <= self.at_most

    def describe(self) -> str:
        if self.at_least is not None:
            return f"{self.metric} >= {self.at_least:g}"
        return f"{self.metric} <= {self.at_most:g}"

    def validate(self, at: str = "task.target") -> None:
        check(self.metric.strip() != "", f"{at}.metric", "must name the metric the script reports")
        check(
            (self.at_least is None) != (self.at_most is None),
            at,
            "give one of at_least (accuracies) or at_most (losses), e.g. "
            "`{metric: val_acc, at_least: 0.9}`",
        )
        for key in ("at_least", "at_most"):
            value = getattr(self, key)
            check(value is None or math.isfinite(value), f"{at}.{key}", "must be a finite number")


def parse_target(text: str) -> CommandTarget:
    """``val_acc>=0.9`` or ``val_loss<=0.3`` as a CommandTarget (the `measure --target` option)."""
    match = _TARGET.match(text)
    if match is None:
        raise ConfigError(
            f"--target: cannot read {text!r}; write METRIC>=VALUE or METRIC<=VALUE, e.g. 'val_acc>=0.9'"
        )
    metric, op, raw = match.groups()
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"--target: {raw!r} is not a number (in {text!r})") from None
    target = (
        CommandTarget(metric, value, None) if op == ">=" else CommandTarget(metric, None, value)
    )
    target.validate("--target")
    return target


def placeholders(template: str) -> list[str]:
    """The ``{name}`` fields of a command template, in order; ConfigError for a malformed one."""
    names = []
    for arg in split_command(template):
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(arg) if f is not None]
        except ValueError as exc:
            raise ConfigError(
                f"task.command: {exc} in {arg!r}; write {{name}} for a value, {{{{ and }}}} for braces"
            ) from None
        for name in fields:
            check(
                name.isidentifier(),
                "task.command",
                f"{{{name}}} is not a plain name; write {{name}}, e.g. {{learning_rate}}",
            )
            names.append(name)
    return names


def split_command(template: str) -> list[str]:
    try:
        argv = shlex.split(template)
    except ValueError as exc:
        raise ConfigError(f"task.command: cannot split it into arguments: {exc}") from None
    check(
        bool(argv), "task.command", "is empty; give the command that trains, e.g. python train.py"
    )
    return argv


def fill_command(template: str, values: dict[str, Any]) -> list[str]:
    """The command's arguments with every ``{name}`` replaced by ``values[name]``."""
    return [arg.format_map(values) for arg in split_command(template)]


def check_command_fields(template: str, available: dict[str, str]) -> None:
    """Every ``{name}`` must be a value the run has: ``available`` maps names to where they come
    from (a grid key, the seed, a fixed training value)."""
    for name in placeholders(template):
        if name not in available:
            listed = ", ".join(f"{n} ({where})" for n, where in available.items())
            raise ConfigError(
                f"task.command: {{{name}}} is neither a grid key, the seed, nor a fixed value; "
                f"available: {listed}"
            )


#: Task keys that belong to the built-in loop, and their defaults (a command task must leave them).
_BUILTIN_TASK_KEYS = {
    "dataset": None,
    "model": None,
    "target_accuracy": None,
    "dataset_options": {},
    "model_options": {},
    "label": None,
    "eval_every_steps": None,
    "evals_per_epoch": 1,
    "max_epochs": 10,
}


def check_command_study(study: Any) -> None:
    """A study whose task is a command: the command and its target, no built-in task keys, no
    pretraining or extra tasks, and every ``{name}`` in the command a value the run has."""
    task = study.task
    check(
        task.command is not None,
        "task.command",
        "missing; a `target:` is for a command task, e.g. `command: python train.py --seed {seed}`",
    )
    check(
        task.target is not None,
        "task.target",
        "missing; say which reported metric ends a run, e.g. `{metric: val_acc, at_least: 0.9}`",
    )
    task.target.validate()
    for key, default in _BUILTIN_TASK_KEYS.items():
        check(
            getattr(task, key) == default,
            f"task.{key}",
            "is for the built-in loop; a command task trains in its own script",
        )
    check(task.max_time_s is None or task.max_time_s > 0, "task.max_time_s", "must be positive")
    check(
        math.isfinite(task.stop_grace_s) and task.stop_grace_s >= 0,
        "task.stop_grace_s",
        f"must be a finite number of seconds >= 0, got {task.stop_grace_s}",
    )
    check(study.pretrain is None, "pretrain", "is not available for a command task")
    check(not study.extra_tasks, "extra_tasks", "are not available for a command task")
    check(not study.save_models, "save_models", "is not available for a command task")
    available = {key: "grid" for key in study.grid}
    available["seed"] = "seed"
    for key, value in vars(study.train).items():
        available.setdefault(key, f"train: {value}")
    check_command_fields(task.command, available)
    for setup in study.setups():  # a format spec that does not fit a value: {learning_rate:d}
        try:
            fill_command(task.command, {**vars(setup.train), **setup.varied, "seed": 0})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"task.command: cannot fill in ({setup.label()}): {exc}") from None
    argv = split_command(task.command)
    check(
        "{" in argv[0] or _findable(argv[0]),
        "task.command",
        f"{argv[0]!r} is not a program on PATH nor an executable file",
    )


def _findable(program: str) -> bool:
    import os
    import shutil

    if os.sep in program:
        return os.path.isfile(program) and os.access(program, os.X_OK)
    return shutil.which(program) is not None
