"""summary.json and summary.csv: every figure the report shows, for other tools."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from powertrain.analysis.stats import Interval
from powertrain.analysis.summary import GroupSummary, SetupSummary


def _interval(value: Interval | None) -> dict | None:
    return value.to_dict() if value is not None else None


def setup_dict(s: SetupSummary) -> dict[str, Any]:
    return {
        "setup": s.setup,
        "label": s.label,
        "seeds": s.seeds,
        "reached": s.reached,
        "reached_share": s.reached_share,
        "verdict": s.verdict,
        "statuses": s.statuses,
        "energy_to_target_j": _interval(s.energy_to_target_j),
        "energy_to_target_reached_seeds_j": _interval(s.energy_to_target_reached_j),
        "energy_to_target_at_least_j": s.energy_to_target_at_least_j,
        "time_to_target_s": _interval(s.time_to_target_s),
        "test_accuracy": _interval(s.test_accuracy),
        "final_val_accuracy": _interval(s.final_val_accuracy),
        "total_energy_j": _interval(s.total_energy_j),
        "energy_by_component_j": s.energy_by_component_j,
        "waste_ratio": s.waste_ratio,
        "waste_ratio_at_least": s.waste_ratio_at_least,
        "differs_significantly_from_best": s.differs_from_best,
        "on_pareto_front": s.on_pareto_front,
        "run_ids": s.run_ids,
    }


def group_dict(g: GroupSummary) -> dict[str, Any]:
    return {
        "study": g.study,
        "hardware": g.hardware,
        "task_name": g.task_name,
        "task": g.task,
        "energy_method": g.method,
        "estimated": g.estimated,
        "runs": g.runs,
        "statuses": g.statuses,
        "best_setup": g.best.label if g.best else None,
        "worst_setup": g.worst.label if g.worst else None,
        "waste_ratio_max": g.waste_ratio_max,
        "waste_ratio_max_at_least": g.waste_ratio_max_at_least,
        "sweep_energy_j": g.sweep_energy_j,
        "idle_power_w": g.idle_power_w,
        "sweep_dynamic_energy_j": g.sweep_dynamic_energy_j,
        "setups": [setup_dict(s) for s in g.setups],
    }


def write_json(groups: list[GroupSummary], path: Path, extra: dict | None = None) -> None:
    path.write_text(
        json.dumps(
            {"groups": [group_dict(g) for g in groups], **(extra or {})}, indent=2, default=str
        )
    )


CSV_COLUMNS = [
    "study",
    "hardware",
    "energy_method",
    "estimated",
    "setup",
    "seeds",
    "reached",
    "verdict",
    "energy_to_target_j_mean",
    "energy_to_target_j_low",
    "energy_to_target_j_high",
    "energy_to_target_at_least_j",
    "waste_ratio",
    "waste_ratio_at_least",
    "differs_significantly_from_best",
    "time_to_target_s_mean",
    "test_accuracy_mean",
    "total_energy_j_mean",
    "on_pareto_front",
]


def write_csv(groups: list[GroupSummary], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for g in groups:
            for s in g.setups:
                e = s.energy_to_target_j
                writer.writerow(
                    {
                        "study": g.study,
                        "hardware": g.hardware,
                        "energy_method": g.method,
                        "estimated": g.estimated,
                        "setup": s.label,
                        "seeds": s.seeds,
                        "reached": s.reached,
                        "verdict": s.verdict,
                        "energy_to_target_j_mean": e.mean if e else "",
                        "energy_to_target_j_low": e.low if e else "",
                        "energy_to_target_j_high": e.high if e else "",
                        "energy_to_target_at_least_j": s.energy_to_target_at_least_j or "",
                        "waste_ratio": s.waste_ratio or "",
                        "waste_ratio_at_least": s.waste_ratio_at_least or "",
                        "differs_significantly_from_best": ""
                        if s.differs_from_best is None
                        else s.differs_from_best,
                        "time_to_target_s_mean": s.time_to_target_s.mean
                        if s.time_to_target_s
                        else "",
                        "test_accuracy_mean": s.test_accuracy.mean if s.test_accuracy else "",
                        "total_energy_j_mean": s.total_energy_j.mean,
                        "on_pareto_front": s.on_pareto_front,
                    }
                )
