"""The training loop's own configuration: the hyperparameters of one run and how the model starts
(the paradigm). The study file builds these; the loop needs nothing from the study package."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from powertrain.errors import ConfigError


class Paradigm(StrEnum):
    """How a model starts and what it learns with."""

    SCRATCH = "scratch"  # a fresh model learns one task
    FINETUNE = "finetune"  # from the pretraining stage's weights, all of them trained
    HEAD_ONLY = "head-only"  # the same start, the backbone frozen, the classifier alone learns
    MULTITASK = "multitask"  # one shared backbone, a head per task, every task at once

    @property
    def needs_pretraining(self) -> bool:
        return self in (Paradigm.FINETUNE, Paradigm.HEAD_ONLY)


def _check(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{path}: {message}")


@dataclass(frozen=True)
class TrainConfig:
    """The hyperparameters of one setup; any of them can be swept in ``grid``."""

    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    learning_rate: float = 0.01
    batch_size: int = 64
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    scheduler: Literal["none", "cosine", "step"] = "none"
    step_epochs: int = 1  # with scheduler "step": decay every so many epochs
    gamma: float = 0.1  # with scheduler "step": the decay factor
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # How the model starts and what it learns with (see Paradigm); a plain string in the study file,
    # a Paradigm once built.
    paradigm: Literal["scratch", "finetune", "head-only", "multitask"] = "scratch"
    # The GPU power limit the run's GPUs are set to while it trains (watts; None: left as it is).
    # Set before the run and restored after it by the executor (see powertrain/power_limit.py).
    gpu_power_limit_w: float | None = None

    def __post_init__(self) -> None:
        if self.paradigm in Paradigm._value2member_map_:
            object.__setattr__(self, "paradigm", Paradigm(self.paradigm))

    def validate(self, where: str = "train", key_path=None) -> None:
        """ConfigError for an out-of-range value; ``key_path(name)`` names the offending key."""
        at = key_path or (lambda name: f"{where}.{name}")
        _check(
            self.learning_rate > 0,
            at("learning_rate"),
            f"must be positive, got {self.learning_rate}",
        )
        _check(self.batch_size > 0, at("batch_size"), f"must be positive, got {self.batch_size}")
        _check(0 <= self.momentum < 1, at("momentum"), f"must be in [0, 1), got {self.momentum}")
        _check(
            self.weight_decay >= 0,
            at("weight_decay"),
            f"must not be negative, got {self.weight_decay}",
        )
        _check(self.step_epochs > 0, at("step_epochs"), "must be positive")
        _check(0 < self.gamma <= 1, at("gamma"), f"must be in (0, 1], got {self.gamma}")
        _check(not self.nesterov or self.momentum > 0, at("nesterov"), "needs momentum > 0")
        limit_w = self.gpu_power_limit_w
        _check(
            limit_w is None or (math.isfinite(limit_w) and 0 < limit_w <= 10_000),
            at("gpu_power_limit_w"),
            f"must be a power limit in watts in (0, 10000], got {limit_w}",
        )

    def to_dict(self) -> dict:
        """Every hyperparameter as plain data (strings, numbers, booleans)."""
        from dataclasses import asdict

        return {k: getattr(v, "value", v) for k, v in asdict(self).items()}

    def identity(self) -> dict:
        """What identifies a run's training (run keys hash it): every hyperparameter, without a power
        limit left unset, so that studies made before the axis existed keep their run keys."""
        values = self.to_dict()
        if values["gpu_power_limit_w"] is None:
            del values["gpu_power_limit_w"]
        return values
