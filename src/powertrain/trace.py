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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from powertrain.errors import PowertrainError

FORMAT = "powertrain-trace"
VERSION = 1


@dataclass
class Trace:
    header: dict[str, Any]
    t_s: list[float] = field(default_factory=list)
    energy_j: dict[str, list[float]] = field(default_factory=dict)

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a" if append else "w")
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


def read_trace(path: str | os.PathLike) -> Trace:
    """Load a trace, or raise PowertrainError saying what is wrong with the file."""
    path = Path(path)
    hint = "traces are written by `powertrain measure --trace FILE` or Monitor(trace_path=...)"
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise PowertrainError(f"cannot read trace {path}: {exc.strerror or exc}; {hint}") from None
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise PowertrainError(f"{path} is not a powertrain trace; {hint}")
    if header.get("version") != VERSION:
        raise PowertrainError(
            f"{path} is a trace of version {header.get('version')}; this powertrain reads version {VERSION}"
        )
    trace = Trace(header, energy_j={name: [] for name in header.get("components", {})})
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
            t_s = float(sample["t_s"])
            values = {name: float(sample["energy_j"][name]) for name in trace.energy_j}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):  # a last line cut short by a killed process: keep the rest
                break
            raise PowertrainError(f"{path}, line {number}: not a valid trace sample") from None
        trace.t_s.append(t_s)
        for name, value in values.items():
            trace.energy_j[name].append(value)
    return trace
