"""What a reader needs to trust the numbers: each study's settings, each machine and its software, how
each meter got its figures, and every run with why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.analysis.summary import hardware_label
from powertrain.meters.base import method_label
from powertrain.records import EvalPoint, RunRecord

#: Hardware keys shown as the machine and its software (the meters are listed apart).
MACHINE_KEYS = ("host", "os", "cpu_model", "cpu_logical_cores", "cpu_physical_cores", "memory_gb")
MACHINE_KEYS += ("gpu_model", "gpu_count", "gpu_memory_gb", "gpu_power_limit_w", "device")
SOFTWARE_KEYS = ("python", "torch", "powertrain", "torch_threads")
LIMIT_KEYS = ("max_epochs", "max_time_s", "max_steps", "max_energy_j", "patience")


@dataclass(frozen=True)
class StudySettings:
    name: str
    description: str
    grid: dict[str, list[Any]]
    seeds: tuple[int, ...]
    target_accuracy: float | None
    limits: dict[str, Any]  # when a run stops without reaching the target
    data: dict[str, Any]  # data set, its options (sizes), model, evaluation schedule
    fixed_hyperparameters: dict[str, Any]  # what the grid does not vary
    device: str | None
    threads: int | None

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, tuple(self.__dataclass_fields__))


def study_settings(name: str, config: dict[str, Any]) -> StudySettings:
    task = config.get("task") or {}
    grid = config.get("grid") or {}
    data_keys = ("dataset", "dataset_options", "model", "model_options", "label")
    data_keys += ("eval_every_steps", "evals_per_epoch")
    data = {k: task[k] for k in data_keys if task.get(k) not in (None, {}, "")}
    if config.get("extra_tasks"):
        data["extra_tasks"] = config["extra_tasks"]
    return StudySettings(
        name=name,
        description=config.get("description") or "",
        grid=dict(grid),
        seeds=tuple(config.get("seeds") or ()),
        target_accuracy=task.get("target_accuracy"),
        limits={k: task[k] for k in LIMIT_KEYS if task.get(k) is not None},
        data=data,
        fixed_hyperparameters={
            k: v for k, v in (config.get("train") or {}).items() if k not in grid
        },
        device=config.get("device"),
        threads=config.get("threads"),
    )


@dataclass(frozen=True)
class MeterInfo:
    component: str
    meter: str
    method: str
    estimated: bool
    details: dict[
        str, Any
    ]  # estimate: CPU model matched, TDP, watts per thread, source; counters: zones

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, ("component", "meter", "method", "estimated", "details"))


@dataclass(frozen=True)
class Environment:
    """One machine as its runs recorded it: hardware, software and meters."""

    hardware: str  # the label groups use
    machine: dict[str, Any]
    software: dict[str, Any]
    meters: tuple[MeterInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, ("hardware", "machine", "software", "meters"))


def _plain(provenance: Any) -> dict[str, Any]:
    return provenance.to_dict() if hasattr(provenance, "to_dict") else dict(provenance)


def environments(runs: list[RunRecord]) -> tuple[Environment, ...]:
    first: dict[str, RunRecord] = {}
    for run in runs:
        first.setdefault(hardware_label(run.hardware), run)
    return tuple(
        Environment(
            label,
            {k: run.hardware[k] for k in MACHINE_KEYS if run.hardware.get(k) is not None},
            {k: run.hardware[k] for k in SOFTWARE_KEYS if run.hardware.get(k) is not None},
            tuple(
                MeterInfo(
                    getattr(component, "value", str(component)),
                    str(p.get("meter", "?")),
                    method_label(p) if p.get("method") is not None else "?",
                    bool(p.get("estimated", True)),
                    dict(p.get("details") or {}),
                )
                for component, p in ((c, _plain(v)) for c, v in run.provenance.items())
            ),
        )
        for label, run in first.items()
    )


@dataclass(frozen=True)
class RunInfo:
    """One run: what it trained, how it ended and why. ``points`` (its learning curve) is exported to
    points.csv and drawn, and left out of ``to_dict``."""

    id: int
    study: str
    hardware: str
    stage: str
    setup: dict[str, Any]
    hyperparameters: dict[str, Any]
    seed: int
    status: str
    verdict: str  # why it ended (a ``records.Verdict``'s value; "" while it runs)
    why: str  # the verdict in words
    stop_reason: str  # the details, in words
    estimated: bool
    energy_method: str
    total_energy_j: float | None
    energy_j: dict[str, float]
    energy_to_target_j: float | None
    time_to_target_s: float | None
    duration_s: float | None
    steps: int | None
    final_val_accuracy: float | None
    test_accuracy: float | None
    error: str | None
    faults: tuple[
        str, ...
    ] = ()  # what went wrong with its figures (a counter reset, a bad reading)
    nodes: tuple[
        dict[str, Any], ...
    ] = ()  # a distributed run's figures per node (RunOutcome.nodes)
    points: tuple[EvalPoint, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, tuple(k for k in self.__dataclass_fields__ if k != "points"))


def run_info(run: RunRecord, points: list[EvalPoint]) -> RunInfo:
    o = run.outcome
    return RunInfo(
        id=run.id,
        study=run.study,
        hardware=hardware_label(run.hardware),
        stage=str(getattr(run.stage, "value", run.stage)),
        setup=dict(run.setup),
        hyperparameters=dict(run.train),
        seed=run.seed,
        status=str(getattr(run.status, "value", run.status)),
        verdict=o.verdict.value if o else "",
        why=o.verdict.words if o else "",
        stop_reason=(o.stop_reason if o else "") or "",
        estimated=run.estimated,
        energy_method=run.method_label,
        total_energy_j=o.total_energy_j if o else None,
        energy_j=dict(o.energy_j) if o else {},
        energy_to_target_j=o.energy_to_target_j if o else None,
        time_to_target_s=o.time_to_target_s if o else None,
        duration_s=o.duration_s if o else None,
        steps=o.steps if o else None,
        final_val_accuracy=o.final_val_accuracy if o else None,
        test_accuracy=o.test_accuracy if o else None,
        error=o.error if o else None,
        faults=tuple(o.faults) if o else (),
        nodes=tuple(o.nodes) if o else (),
        points=tuple(points),
    )
