"""Inputs to ``track()`` checked at the edge: one PowertrainError saying what is wrong and what to do."""

from __future__ import annotations

import functools
import json
import math
import operator
import os
from collections.abc import Iterable, Mapping
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.store.base import ResultStore

MAIN_TASK = "main"  # the task's name when ``target`` is one number
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # SQLite's integers


def number(value: Any, what: str) -> float:
    """``value`` as a float (numpy and 0-d tensors included), or PowertrainError."""
    if isinstance(value, (bool, str, bytes)):
        raise PowertrainError(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise PowertrainError(f"{what} must be a number, got {value!r}") from None


def wait_s(value: Any, what: str, most_s: float) -> float:
    """A wait in seconds: finite, above zero and at most ``most_s``, or PowertrainError."""
    s = number(value, what)
    if not (math.isfinite(s) and 0 < s <= most_s):
        raise PowertrainError(
            f"{what} must be a number of seconds above 0 and at most {most_s:g} (what the store "
            f"keeps a job's messages), got {value!r}"
        )
    return s


def targets(target: Any) -> dict[str, float]:
    """One target (a number) or one per task (a mapping), each a fraction in (0, 1]."""
    named = dict(target) if isinstance(target, Mapping) else {MAIN_TASK: target}
    if not named:
        raise PowertrainError("target needs at least one task, e.g. target={'a': 0.9, 'b': 0.8}")
    checked = {}
    for task, value in named.items():
        if not isinstance(task, str) or not task:
            raise PowertrainError(f"task names in target must be non-empty strings, got {task!r}")
        t = number(value, f"target {task!r}")
        if not (math.isfinite(t) and 0 < t <= 1):
            raise PowertrainError(
                f"target {task!r} must be an accuracy in (0, 1] (a fraction, not a percentage), "
                f"got {value!r}"
            )
        checked[task] = t
    return checked


def accuracies(
    value: Any, tasks: Mapping[str, float], what: str = "val_accuracy"
) -> dict[str, float]:
    """Accuracies per task (``what``: the argument's name), matching the targets' tasks, each
    finite in [0, 1]."""
    if isinstance(value, Mapping):
        given = dict(value)
        if set(given) != set(tasks):
            raise PowertrainError(
                f"{what} names tasks {sorted(given)}, but the targets name {sorted(tasks)}; "
                "pass one accuracy per task in the target"
            )
    elif len(tasks) == 1:
        given = {next(iter(tasks)): value}
    else:
        raise PowertrainError(
            f"this run has several targets ({', '.join(tasks)}): pass {what} as a mapping "
            "with one accuracy per task"
        )
    checked = {}
    for task in tasks:  # in the targets' order
        a = number(given[task], f"{what} of {task!r}")
        if not (math.isfinite(a) and 0 <= a <= 1):
            raise PowertrainError(
                f"{what} of {task!r} must be a finite fraction in [0, 1] (not a percentage), "
                f"got {given[task]!r}"
            )
        checked[task] = a
    return checked


def setup(value: Any, what: str = "setup") -> dict[str, Any]:
    """The setup (or ``train``): a mapping of non-empty names to JSON values (the hyperparameters
    you compare); numpy scalars become the Python numbers they hold."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PowertrainError(f"{what} must be a mapping of names to values, got {value!r}")
    checked = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise PowertrainError(
                f"{what} names must be non-empty strings, got {key!r}; name each value, "
                "e.g. {'lr': 0.1}"
            )
        item = _plain(item)
        try:
            json.dumps(item, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PowertrainError(
                f"{what} value {key!r} is {item!r}: values must be plain numbers (finite), "
                f"strings, booleans or lists of them ({exc})"
            ) from None
        checked[key] = item
    return checked


def _plain(item: Any) -> Any:
    """A numpy scalar (``np.float32(0.1)``, ``np.int64(3)``) as the Python number it holds, in a
    list too."""
    if type(item).__module__ == "numpy" and getattr(item, "shape", None) == ():
        return item.item()
    if isinstance(item, (list, tuple)):
        return [_plain(x) for x in item]
    return item


def integer(value: Any, what: str) -> int:
    """An integer (numpy's included), or PowertrainError."""
    if isinstance(value, bool):
        raise PowertrainError(f"{what} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise PowertrainError(f"{what} must be an integer, got {value!r}") from None
    if not INT_MIN <= n <= INT_MAX:
        raise PowertrainError(f"{what} must fit in 64 bits (the store's integers), got {n}")
    return n


def one_at_a_time(method):
    """A method that runs under its object's ``_lock``, one call at a time (``evaluate`` from several
    threads: each point gets its own index, and the store gets every point)."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


def not_backwards(value: Any, before: list, counted: bool = False) -> int:
    """The evaluation's step (``value``, else the number of evaluations), no earlier than the last
    evaluation's (``counted``: whose step was left out): a curve whose steps go back cannot be
    read."""
    step = count(value, "step", len(before) + 1)
    if before and step < before[-1].step:
        raise PowertrainError(
            f"{_this('step', value, step)} is before {_last('step', before[-1].step, counted)}; "
            "steps of one run must not go backwards (a new run needs its own seed, setup or study)"
            + _every("step", value, counted)
        )
    return step


def epoch(value: Any, before: list, counted: bool = False) -> float:
    """The evaluation's epoch (``value``, else the number of evaluations): finite, not negative and
    no earlier than the last evaluation's (``counted``: whose epoch was left out)."""
    e = float(len(before) + 1) if value is None else number(value, "epoch")
    if not (math.isfinite(e) and e >= 0):
        raise PowertrainError(f"epoch must be a finite number, 0 or more, got {value!r}")
    if before and e < before[-1].epoch:
        raise PowertrainError(
            f"{_this('epoch', value, e)} is before {_last('epoch', before[-1].epoch, counted)}; "
            "epochs of one run must not go backwards" + _every("epoch", value, counted)
        )
    return e


def _this(what: str, value: Any, used: float) -> str:
    if value is None:
        return (
            f"no {what} was given, so it defaulted to the number of evaluations ({used:g}), which"
        )
    return f"{what} {used:g}"


def _last(what: str, last: float, counted: bool) -> str:
    was = f" (the number of evaluations then: {what}= was left out)" if counted else ""
    return f"the previous evaluation's {what} {last:g}{was}"


def _every(what: str, value: Any, counted: bool) -> str:
    if value is None or counted:
        return f"; pass {what}= at every evaluation of a run, or at none"
    return ""


def count(value: Any, what: str, default: int) -> int:
    """A non-negative integer (a step, a number of samples); ``default`` when None."""
    if value is None:
        return default
    n = integer(value, what)
    if n < 0:
        raise PowertrainError(f"{what} must not be negative, got {value!r}")
    return n


def study(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PowertrainError(f"study must be a non-empty name, got {value!r}")
    return value


def handlers(value: Any) -> list:
    """The user's stopping handlers: a list of callables, each called with every evaluation."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise PowertrainError(
            f"handlers must be a list of callables (each called with every evaluation point), "
            f"got {value!r}"
        )
    given = list(value)
    for handler in given:
        if not callable(handler):
            raise PowertrainError(
                f"handlers must be callables that take an evaluation point, got {handler!r}; "
                "pass functions, e.g. handlers=[lambda point: None]"
            )
    return given


def db(value: Any) -> Any:
    """Where the run is stored: None (the default file), a path, or a results store."""
    if value is None or isinstance(value, (str, os.PathLike, ResultStore)):
        return value
    raise PowertrainError(
        f"db must be a path to a results file or a results store, got {value!r}; e.g. "
        "db='results.sqlite'"
    )
