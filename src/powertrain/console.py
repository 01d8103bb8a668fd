"""Rich tables for the terminal. Every energy figure is printed beside how it was obtained."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.table import Table

from powertrain.meters.detect import Detection
from powertrain.monitor import Measurement


def print_detection(detection: Detection, file: IO[str] | None = None) -> None:
    console = Console(file=file or sys.stdout)
    table = Table(title="Meters", title_justify="left")
    for column in ("component", "meter", "method", "estimated", "details"):
        table.add_column(column)
    for component, meter in detection.meters.items():
        p = meter.provenance
        details = "; ".join(f"{k}={v}" for k, v in p.details.items())
        table.add_row(
            component.value, p.meter, p.method.value, "yes" if p.estimated else "no", details
        )
    console.print(table)
    if detection.unavailable:
        skipped = Table(title="Not used", title_justify="left")
        for column in ("component", "backend", "why"):
            skipped.add_column(column)
        for u in detection.unavailable:
            skipped.add_row(u.component.value, u.backend, u.reason)
        console.print(skipped)


def print_measurement(m: Measurement, file: IO[str] | None = None) -> None:
    console = Console(file=file or sys.stdout)
    table = Table(title=f"{m.name}: {m.duration_s:.2f} s", title_justify="left")
    for column in ("component", "energy_j", "mean_power_w", "how"):
        table.add_column(column, justify="right" if column.endswith(("_j", "_w")) else "left")
    for component, energy_j in m.energy_j.items():
        power_w = energy_j / m.duration_s if m.duration_s > 0 else 0.0
        table.add_row(
            component, f"{energy_j:.2f}", f"{power_w:.2f}", m.provenance[component].label()
        )
    table.add_row("total", f"{m.total_energy_j:.2f}", "", "ESTIMATE" if m.estimated else "measured")
    console.print(table)
