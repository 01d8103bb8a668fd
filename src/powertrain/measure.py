"""Measure any command: run it as a child process inside one monitor window."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass

from powertrain.errors import PowertrainError
from powertrain.meters.detect import Detection
from powertrain.monitor import Measurement, Monitor


@dataclass(frozen=True)
class CommandResult:
    measurement: Measurement
    exit_code: int


def measure_command(
    command: list[str],
    detection: Detection,
    *,
    interval_s: float = 0.1,
    trace_path: str | None = None,
) -> CommandResult:
    """Run ``command`` to its end and measure it. The estimate meters count the child's CPU time,
    because they measure this process and its children."""
    monitor = Monitor(detection.meters, interval_s=interval_s, trace_path=trace_path, sample=True)
    try:
        with monitor, monitor.window("command") as window:
            try:
                child = subprocess.Popen(command)
            except FileNotFoundError:
                raise PowertrainError(f"command not found: {command[0]}") from None
            except PermissionError:
                raise PowertrainError(f"command is not executable: {command[0]}") from None
            try:
                code = child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)
                code = child.wait()
    finally:
        monitor.close()
    assert window.result is not None
    # A child killed by signal N exits, as in a shell, with 128 + N.
    return CommandResult(window.result, code if code >= 0 else 128 - code)
