"""Recorded power traces: what the monitor's sampler writes and the replay meter reads back.

Format ``powertrain-trace`` version 1, JSON lines. The first line is a header::

    {"format": "powertrain-trace", "version": 1, "interval_s": 0.1,
     "components": {"cpu": {"meter": "rapl", "method": "counter", "estimated": false, ...}}}

then one line per sample, with seconds since the monitor started and the cumulative joules per
component since then::

    {"t_s": 0.1, "energy_j": {"cpu": 1.52, "ram": 0.03}}
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from powertrain.errors import PowertrainError
from powertrain.inputs import load_json_line, read_text

FORMAT = "powertrain-trace"
VERSION = 1


@dataclass
class Trace:
    header: dict[str, Any]
    t_s: list[float] = field(default_factory=list)
    energy_j: dict[str, list[float]] = field(default_factory=dict)

    def timeline(self) -> dict[str, Any]:
        """The trace as a run's power timeline in the store (``ResultStore.save_timeline``)."""
        return {"header": self.header, "t_s": self.t_s, "energy_j": self.energy_j}

    @property
    def components(self) -> dict[str, dict[str, Any]]:
        return self.header.get("components", {})

    def power_w(self, component: str) -> list[tuple[float, float]]:
        """The power timeline of one component: (midpoint time, mean power) between samples."""
        t, e = self.t_s, self.energy_j[component]
        return [
            ((t[i] + t[i - 1]) / 2, (e[i] - e[i - 1]) / (t[i] - t[i - 1]))
            for i in range(1, len(t))
            if t[i] > t[i - 1]
        ]


class TraceWriter:
    """Appends samples to a trace file as they come; nothing is held back but the OS buffer."""

    def __init__(
        self,
        path: str | os.PathLike,
        components: dict[str, dict[str, Any]],
        interval_s: float,
        append: bool = False,
        started_at_unix: float | None = None,
    ) -> None:
        """``append``: go on with a trace this writer's monitor began (after a stop and a start)."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = self.path.open("a" if append else "w")
        except OSError as exc:
            raise PowertrainError(
                f"cannot write the trace {self.path}: {exc.strerror or exc}"
                + (" (it is a folder)" if self.path.is_dir() else "")
            ) from None
        if append:
            return
        header = {
            "format": FORMAT,
            "version": VERSION,
            "interval_s": interval_s,
            "components": components,
            "started_at_unix": started_at_unix,
        }
        self._file.write(json.dumps(header) + "\n")

    def write(self, t_s: float, energy_j: dict[str, float]) -> None:
        if self._file is not None:
            self._file.write(json.dumps({"t_s": round(t_s, 6), "energy_j": energy_j}) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


#: A trace of a week at 10 Hz is about 500 MB; anything larger is not a trace.
MAX_TRACE_BYTES = 2 << 30


def read_trace(path: str | os.PathLike) -> Trace:
    """Load a trace, or raise PowertrainError saying what is wrong with the file: not a trace, not
    UTF-8, too large, a sample that is not finite, time going back or energy going down."""
    path = Path(path)
    hint = "traces are written by `powertrain measure --trace FILE` or Monitor(trace_path=...)"
    lines = _trace_lines(path, hint)
    try:
        header = load_json_line(lines[0], "header") if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise PowertrainError(f"{path} is not a powertrain trace; {hint}")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise PowertrainError(
            f"{path} has a trace version of {version!r} ({type(version).__name__}); a version is a "
            f"whole number, and this powertrain reads version {VERSION}"
        )
    if version != VERSION:
        raise PowertrainError(
            f"{path} is a trace of version {version}; this powertrain reads version {VERSION}"
        )
    components = header.get("components")
    if not isinstance(components, dict):
        raise PowertrainError(f"{path}: the trace header has no components; {hint}")
    trace = Trace(header, energy_j={name: [] for name in components})
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            t_s, values = _sample(line, trace.energy_j)
        except (KeyError, TypeError, ValueError) as exc:
            if number == len(lines):  # a last line cut short by a killed process: keep the rest
                break
            raise PowertrainError(
                f"{path}, line {number}: not a valid trace sample ({exc})"
            ) from None
        _check_order(trace, t_s, values, f"{path}, line {number}")
        trace.t_s.append(t_s)
        for name, value in values.items():
            trace.energy_j[name].append(value)
    return trace


def _trace_lines(path: Path, hint: str) -> list[str]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PowertrainError(f"cannot read trace {path}: {exc.strerror or exc}; {hint}") from None
    if path.is_dir():
        raise PowertrainError(f"trace {path} is a folder, not a file; {hint}")
    if size > MAX_TRACE_BYTES:
        raise PowertrainError(f"trace {path} is larger than {MAX_TRACE_BYTES:,} bytes")
    return read_text(path, "trace", MAX_TRACE_BYTES).splitlines()


def _sample(line: str, components: dict[str, list[float]]) -> tuple[float, dict[str, float]]:
    sample = load_json_line(line, "sample")
    t_s = _finite(sample["t_s"], "t_s")
    return t_s, {name: _finite(sample["energy_j"][name], name) for name in components}


def _finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} is {value!r}, not a finite number")
    return float(value)


def _check_order(trace: Trace, t_s: float, values: dict[str, float], where: str) -> None:
    """Times never go back; cumulative energies never go down."""
    if not trace.t_s:
        return
    if t_s < trace.t_s[-1]:
        raise PowertrainError(f"{where}: time goes back ({trace.t_s[-1]} s, then {t_s} s)")
    for name, value in values.items():
        if value < trace.energy_j[name][-1]:
            raise PowertrainError(
                f"{where}: {name} energy goes down ({trace.energy_j[name][-1]} J, then {value} J); "
                "a trace holds cumulative joules"
            )
