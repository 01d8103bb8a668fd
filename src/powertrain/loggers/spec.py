"""``--log-to``, ``log_to:`` and ``track(log_to=...)``: which tools get a copy of the runs, checked
before anything trains, and the destinations they stand for (each tool imported only then).

``mlflow``: ``MLFLOW_TRACKING_URI`` (MLflow's own default without it), experiment = study name
(its first 500 characters, MLflow's limit).
``tensorboard`` or ``tensorboard:DIR``: event files under DIR (default ``runs``, as torch's
SummaryWriter), one folder per run: ``DIR/<study>/<run id>-<setup> seed=<seed>``.
``wandb``: ``WANDB_PROJECT`` (default: the study name, its first 128 characters), ``WANDB_MODE=offline``
writes ``./wandb``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from powertrain.errors import ConfigError
from powertrain.loggers.base import Destination

TOOLS = ("mlflow", "tensorboard", "wandb")


@dataclass(frozen=True)
class LogTo:
    """One tool and, for TensorBoard, its log folder (None: the tool's default)."""

    tool: str
    folder: str | None = None

    def __str__(self) -> str:
        return self.tool if self.folder is None else f"{self.tool}:{self.folder}"


def parse_log_to(values: str | Iterable[str] | None, where: str = "log_to") -> list[LogTo]:
    """The tools named, each once, in order; ConfigError naming ``where[i]`` for a bad one."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    elif not isinstance(values, Iterable):
        raise ConfigError(f"{where}: expected a list of tools ({', '.join(TOOLS)})")
    parsed: list[LogTo] = []
    for i, value in enumerate(values):
        spec = _one(value, f"{where}[{i}]")
        if spec.tool in {p.tool for p in parsed}:
            raise ConfigError(f"{where}[{i}]: {spec.tool} is named twice")
        parsed.append(spec)
    return parsed


def _one(value: object, at: str) -> LogTo:
    if isinstance(value, LogTo):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{at}: expected a tool name ({', '.join(TOOLS)}), got {value!r}")
    tool, sep, folder = value.strip().partition(":")
    if tool not in TOOLS:
        raise ConfigError(f"{at}: no logger named {tool!r}; choose from {', '.join(TOOLS)}")
    if sep and tool != "tensorboard":
        raise ConfigError(
            f"{at}: {tool} takes no folder ({tool}'s own settings decide where: "
            + ("MLFLOW_TRACKING_URI)" if tool == "mlflow" else "WANDB_DIR, WANDB_MODE)")
        )
    if sep and not folder:
        raise ConfigError(f"{at}: tensorboard:DIR needs a folder after the colon")
    return LogTo(tool, folder or None)


def destination(spec: LogTo) -> Destination:
    """The destination a spec stands for; its tool is imported when it first logs."""
    if spec.tool == "mlflow":
        from powertrain.loggers.mlflow import MlflowDestination

        return MlflowDestination()
    if spec.tool == "tensorboard":
        from powertrain.loggers.tensorboard import TensorBoardDestination

        return TensorBoardDestination(spec.folder)
    from powertrain.loggers.wandb import WandbDestination

    return WandbDestination()
