"""Rich tables for the terminal. Every energy figure is printed beside how it was obtained."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.table import Table

from powertrain.meters.base import measurement_label
from powertrain.meters.detect import Detection
from powertrain.monitor import Measurement

FAULT_MARK = "\u26a0"  # beside a run whose figures a fault touched (a counter reset, a bad reading)


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
    table.add_row("total", f"{m.total_energy_j:.2f}", "", measurement_label(estimated=m.estimated))
    console.print(table)


def _console(file: IO[str]) -> Console:
    """A console as wide as the terminal, or 160 columns when writing to a pipe or a file."""
    return Console(file=file, width=None if file.isatty() else 160)


def print_runs(runs, file: IO[str] | None = None) -> None:
    console = _console(file or sys.stdout)
    by_study: dict[str, list] = {}
    for run in runs:
        by_study.setdefault(run.study, []).append(run)
    for study, study_runs in by_study.items():
        labels = {r.method_label for r in study_runs}
        shared = labels.pop() if len(labels) == 1 else None
        notes = [f"energy: {shared}"] if shared else []
        if any(r.outcome and r.outcome.faults for r in study_runs):
            notes.append(
                f"{FAULT_MARK}N: N faults in the run's figures (ls --json, report list them)"
            )
        table = Table(
            title=f"study {study}",
            title_justify="left",
            caption="; ".join(notes) or None,
            caption_justify="left",
        )
        varied = list(dict.fromkeys(k for r in study_runs for k in r.setup))
        columns = ["id", "status", "why", *varied, "seed", "to_target_j", "total_j", "val_acc"]
        columns.append("test_acc")
        for column in columns + ([] if shared else ["how"]):
            numeric = column.endswith(("_j", "acc")) or column in ("id", "seed")
            table.add_column(
                column, justify="right" if numeric else "left", no_wrap=column == "status"
            )
        for r in study_runs:
            o = r.outcome
            row = [
                str(r.id),
                f"{r.status} {FAULT_MARK}{len(o.faults)}" if o and o.faults else r.status,
                o.verdict.value if o else "",
                *(str(r.setup.get(k, "")) for k in varied),
                str(r.seed),
                _num(o.energy_to_target_j if o else None, "not reached" if o else ""),
                _num(o.total_energy_j if o else None),
                _num(o.final_val_accuracy if o else None, digits=3),
                _num(o.test_accuracy if o else None, digits=3),
            ]
            table.add_row(*row, *([] if shared else [r.method_label]))
        console.print(table)


def _num(value, missing: str = "", digits: int = 1) -> str:
    return missing if value is None else f"{value:.{digits}f}"


def print_comparison(comparison, file: IO[str] | None = None) -> None:
    console = _console(file or sys.stdout)
    table = Table(title="energy to target (J), mean over seeds", title_justify="left")
    table.add_column("setup")
    for g in comparison.columns:
        table.add_column(f"{g.study}\n{g.hardware}\n{g.energy_method}", justify="right")
    if len(comparison.columns) == 2:
        table.add_column("second / first", justify="right")
    for label, cells in comparison.rows:
        values = [_energy_cell(s) for s in cells]
        row = [label, *values]
        if len(cells) == 2:
            a, b = (
                s.energy_to_target_j.mean if s and s.energy_to_target_j else None for s in cells
            )
            row.append(f"{b / a:.2f}" if a and b else "")
        table.add_row(*row)
    console.print(table)


def _energy_cell(s) -> str:
    if s is None:
        return "not run"
    if s.energy_to_target_j is not None:
        return f"{s.energy_to_target_j.mean:.1f}"
    if s.energy_to_target_at_least_j is not None:
        return f">= {s.energy_to_target_at_least_j:.1f} ({s.reached}/{s.seeds} reached)"
    return "never reached"


def print_inference(done, file: IO[str] | None = None) -> None:
    console = _console(file or sys.stdout)
    table = Table(title="inference energy", title_justify="left")
    for column in ("run", "setup", "batch_size", "j_per_1000_inputs", "inputs_per_s", "how"):
        table.add_column(column, justify="left" if column in ("setup", "how") else "right")
    for item in done:
        for r in item.results:
            estimated = any(p["estimated"] for p in r.provenance.values())
            how = (
                ("ESTIMATE" if estimated else "measured")
                + " ("
                + ", ".join(f"{c} {p['method']}" for c, p in r.provenance.items())
                + ")"
            )
            table.add_row(
                str(item.run.id),
                " ".join(f"{k}={v}" for k, v in item.run.setup.items()),
                str(r.batch_size),
                f"{r.energy_per_1000_j:.3f}",
                f"{r.inputs / r.duration_s:,.0f}" if r.duration_s > 0 else "",
                how + (f" {FAULT_MARK}{len(r.faults)}" if r.faults else ""),
            )
    console.print(table)
    for item in done:  # what went wrong with a figure, beside it
        for r in item.results:
            for fault in r.faults:
                console.print(
                    f"{FAULT_MARK} run {item.run.id} batch size {r.batch_size}: {fault}",
                    markup=False,
                    highlight=False,
                )


def print_carbon(
    prints, intensity: str, pue: float, pue_source: str, file: IO[str] | None = None
) -> None:
    console = _console(file or sys.stdout)
    console.print(
        f"intensity: {intensity}\nPUE: {pue:g} ({pue_source})", markup=False, highlight=False
    )
    table = Table(title="carbon per run (g CO2e)", title_justify="left")
    for column in (
        "run",
        "study",
        "setup",
        "seed",
        "energy_j",
        "dynamic_j",
        "operational_g",
        "embodied_g",
        "total_g",
        "energy",
    ):
        table.add_column(
            column, justify="left" if column in ("study", "setup", "energy") else "right"
        )
    for p in prints:
        table.add_row(
            str(p.run_id),
            p.study,
            " ".join(f"{k}={v}" for k, v in p.setup.items()),
            str(p.seed),
            f"{p.energy_j:.1f}",
            "" if p.dynamic_energy_j is None else f"{p.dynamic_energy_j:.1f}",
            f"{p.operational_g:.4f}",
            f"{p.embodied.grams:.4f}",
            f"{p.total_g:.4f}",
            p.energy_method,
        )
    console.print(table)
    if prints:
        console.print(f"embodied: {prints[0].embodied.describe()}", markup=False, highlight=False)
        total = sum(p.total_g for p in prints)
        console.print(
            f"all {len(prints)} runs: {total:.3f} g CO2e "
            f"({sum(p.operational_g for p in prints):.3f} operational, "
            f"{sum(p.embodied.grams for p in prints):.3f} embodied)"
        )
