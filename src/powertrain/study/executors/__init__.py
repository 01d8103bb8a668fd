"""Executors: how a plan's run specs get executed (one after another here; workers per GPU and Ray next)."""

from powertrain.study.executors.base import Executor
from powertrain.study.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
