"""powertrain: how the way a neural network is trained changes the energy it needs.

The public surface is small and imported lazily, so that ``powertrain --help`` never loads torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Component": "powertrain.meters.base",
    "Method": "powertrain.meters.base",
    "Meter": "powertrain.meters.base",
    "MeterError": "powertrain.meters.base",
    "detect_meters": "powertrain.meters.detect",
    "Monitor": "powertrain.monitor",
    "Measurement": "powertrain.monitor",
    "PowertrainError": "powertrain.errors",
    "load_study": "powertrain.study.config",
    "parse_study": "powertrain.study.config",
    "run_study": "powertrain.study.runner",
    "RunSpec": "powertrain.study.plan",
    "plan": "powertrain.study.plan",
    "execute_run": "powertrain.study.execute",
    "open_store": "powertrain.store",
    "build_report": "powertrain.render.build",
    "analyse": "powertrain.analysis.analyse",
    "tell": "powertrain.command",  # a command's script tells powertrain an evaluation
    "run_command_to_target": "powertrain.command",
    "track": "powertrain.tracking",
    "Tracker": "powertrain.tracking",
    "TrackedRun": "powertrain.tracking",
}

__all__ = [
    "Component",
    "Measurement",
    "Meter",
    "MeterError",
    "Method",
    "Monitor",
    "PowertrainError",
    "RunSpec",
    "TrackedRun",
    "Tracker",
    "__version__",
    "analyse",
    "build_report",
    "detect_meters",
    "execute_run",
    "load_study",
    "open_store",
    "parse_study",
    "plan",
    "run_command_to_target",
    "run_study",
    "tell",
    "track",
]

if TYPE_CHECKING:  # pragma: no cover
    from powertrain.analysis.analyse import analyse
    from powertrain.command import run_command_to_target, tell
    from powertrain.errors import PowertrainError
    from powertrain.meters.base import Component, Meter, MeterError, Method
    from powertrain.meters.detect import detect_meters
    from powertrain.monitor import Measurement, Monitor
    from powertrain.render.build import build_report
    from powertrain.store import open_store
    from powertrain.study.config import load_study, parse_study
    from powertrain.study.execute import execute_run
    from powertrain.study.plan import RunSpec, plan
    from powertrain.study.runner import run_study
    from powertrain.tracking import TrackedRun, Tracker, track


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'powertrain' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
