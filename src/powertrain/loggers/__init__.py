"""Copies of the runs where users already look: MLflow, TensorBoard, Weights & Biases (one module per
tool behind ``base.Destination``), fed as the store records each run (``observe``) on their own
thread (``fanout``), or from a store afterwards (``export``). The store stays the record."""

from __future__ import annotations

from collections.abc import Iterable

from powertrain.loggers.fanout import Fanout
from powertrain.loggers.spec import LogTo, destination, parse_log_to

__all__ = ["Fanout", "LogTo", "loggers", "parse_log_to"]


def loggers(log_to: str | Iterable[str] | None, where: str = "log_to") -> Fanout:
    """The tools named (checked now; each imported when it first logs) as one observer."""
    return Fanout(destination(spec) for spec in parse_log_to(log_to, where))
