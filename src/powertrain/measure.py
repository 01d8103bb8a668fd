"""Measure any command: run it as a child process inside one monitor window."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from powertrain.errors import PowertrainError
from powertrain.marked import follow_marked, marked_environment
from powertrain.meters.base import measurement_label
from powertrain.meters.detect import Detection
from powertrain.monitor import Measurement, Monitor
from powertrain.records import Verdict


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
    metrics=None,
) -> CommandResult:
    """Run ``command`` to its end and measure it. The estimate meters count the child's CPU time,
    because they measure this process and its children. ``metrics``: a ``MetricsEndpoint`` fed
    from the monitor's samples while it runs."""
    monitor = Monitor(detection.meters, interval_s=interval_s, trace_path=trace_path, sample=True)
    try:
        with (
            monitor,
            monitor.window("command") as window,
            _watched(metrics, monitor, f"measure/{command[0]}"),
        ):
            follow_marked(monitor.meters.values())  # a daemon it starts is found by the mark
            try:
                child = subprocess.Popen(command, env=marked_environment(dict(os.environ)))
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


@dataclass(frozen=True)
class TargetResult:
    """A command run to a target: its outcome and evaluation points (as a study run records them),
    how its figures were got, and the exit code powertrain exits with."""

    outcome: object  # RunOutcome
    points: list
    provenance: dict
    exit_code: int
    estimated: bool

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {
            **asdict(self.outcome),
            "exit_code": self.exit_code,
            "estimated": self.estimated,
            "points": [p.to_dict() for p in self.points],
            "provenance": self.provenance,
        }

    def lines(self) -> list[str]:
        """What the command line prints: energy-to-target (or why there is none), and the total."""
        o = self.outcome
        how = measurement_label(self.provenance)
        said = o.verdict is not Verdict.of_status(o.status)  # more than its status says
        lines = [f"{o.status}{f' ({o.verdict.words})' if said else ''}: {o.stop_reason}"]
        if o.energy_to_target_j is not None:
            lines.append(
                f"energy to target: {o.energy_to_target_j:.2f} J [{how}] in {o.time_to_target_s:.2f} s"
                f" at step {o.steps_to_target}"
            )
        lines.append(f"total: {o.total_energy_j:.2f} J [{how}] in {o.duration_s:.2f} s")
        if o.error:
            lines.append(f"error (the end of its stderr):\n{o.error}")
        return lines


def measure_to_target(
    command: list[str],
    target,
    detection: Detection,
    *,
    let_finish: bool = False,
    interval_s: float = 0.1,
    trace_path: str | None = None,
    grace_s: float = 10.0,
    metrics=None,
) -> TargetResult:
    """Run ``command`` until its reported ``target.metric`` reaches the target (see
    powertrain.command). The exit code is the command's own; 0 when powertrain stopped it at the
    target; 127 when it is not found, 126 when it cannot be executed."""
    from powertrain.command import CommandNotFound, run_command

    monitor = Monitor(detection.meters, interval_s=interval_s, trace_path=trace_path, sample=True)
    provenance = {c: m.provenance.to_dict() for c, m in monitor.meters.items()}
    try:
        with monitor, _watched(metrics, monitor, f"measure/{command[0]}"):
            run = run_command(command, target, monitor, let_finish=let_finish, grace_s=grace_s)
    except CommandNotFound as exc:
        raise CommandNotFoundError(str(exc), 127 if "not found" in str(exc) else 126) from None
    finally:
        monitor.close()
    estimated = any(p["estimated"] for p in provenance.values())
    code = 0 if run.exit_code is None else run.exit_code
    code = code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as in a shell
    return TargetResult(run.outcome, run.points, provenance, code, estimated)


class CommandNotFoundError(PowertrainError):
    """The command could not start; ``exit_code`` is what a shell would exit with (127 or 126)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextmanager
def _watched(metrics, monitor: Monitor, run: str) -> Iterator[None]:
    """``metrics.watch(monitor, run)`` while the block runs: the caller passes its endpoint in (a
    ``powertrain.metrics.MetricsEndpoint``), so measuring never imports what serves its figures."""
    watch = None if metrics is None else metrics.watch(monitor, run)
    try:
        yield
    finally:
        if watch is not None:
            watch.stop()
