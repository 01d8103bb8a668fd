"""The one analysis of a results store: ``analyse(store) -> Analysis``, a frozen object that holds every
figure the report shows. The report renders it, ``summary.json`` is ``Analysis.to_dict()`` serialised,
and ``powertrain carbon`` calls the same carbon function."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from powertrain.analysis.context import (
    Environment,
    RunInfo,
    StudySettings,
    environments,
    run_info,
    study_settings,
)
from powertrain.analysis.footprints import CarbonSettings, CarbonSummary, footprints
from powertrain.analysis.idle import IdleBaseline, stored_idle
from powertrain.analysis.life import LifeSummary, whole_life
from powertrain.analysis.machines import MachineComparison, compare_machines
from powertrain.analysis.paradigms import MultitaskSummary, TransferSummary, multitask, transfer
from powertrain.analysis.serial import fields_of
from powertrain.analysis.stats import FEW_SEEDS, LOG_INTERVAL
from powertrain.analysis.summary import MULTITASK, GroupSummary, summarise
from powertrain.errors import PowertrainError

INTERVALS = (
    f"Energies and times carry a {LOG_INTERVAL}; differences (savings) a 95% Student's t interval. "
    f"With {FEW_SEEDS} seeds an interval is marked wide: it spans too much to tell setups apart."
)


@dataclass(frozen=True)
class Analysis:
    study: str | None  # the study analysed, or None for every study in the store
    groups: tuple[GroupSummary, ...]  # per study, task and machine
    studies: tuple[StudySettings, ...]
    environments: tuple[Environment, ...]  # each machine, its software and its meters
    runs: tuple[RunInfo, ...]  # every finished run, with why it stopped
    idle_baselines: tuple[IdleBaseline, ...]
    transfer: tuple[TransferSummary, ...]
    multitask: tuple[MultitaskSummary, ...]
    inference: tuple[LifeSummary, ...]  # training plus `queries` inference queries
    machines: tuple[MachineComparison, ...]  # a study run on several machines
    carbon: CarbonSummary | None
    queries: int
    intervals: str = INTERVALS  # which interval each figure carries
    search: tuple = ()  # search.report.SearchSection per study: live search cost, simulations
    timelines: dict[int, dict] = field(default_factory=dict, compare=False)  # drawn, not in JSON

    def to_dict(self) -> dict[str, Any]:
        names = [f for f in self.__dataclass_fields__ if f != "timelines"]
        return fields_of(self, names)

    def to_json(self) -> str:
        """``to_dict`` as strict JSON (non-finite figures are null)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def runs_of(self, group: GroupSummary) -> list[RunInfo]:
        ids = {i for s in group.setups for i in s.run_ids}
        return [r for r in self.runs if r.id in ids]


def analyse(
    store,
    study: str | None = None,
    *,
    queries: int = 1_000_000,
    carbon: CarbonSettings | None = None,
) -> Analysis:
    """Everything the report shows, from the store. ``queries``: inference queries over a model's life
    (whole-life section); ``carbon``: add carbon figures (only when the caller names an intensity)."""
    if not isinstance(queries, int) or isinstance(queries, bool) or queries < 0:
        raise PowertrainError(f"--queries must be a whole number, not negative, got {queries!r}")
    configs = {s["name"]: s["config"] for s in store.studies()}
    if study is not None and study not in configs:
        raise PowertrainError(
            f"no study named {study!r} in the store; it has {', '.join(configs) or 'none'}"
        )
    runs = store.runs(study)
    groups = summarise(runs, configs)
    if not groups:
        raise PowertrainError(
            "no finished runs to report on yet; run a study first (powertrain run STUDY.yaml)"
        )
    finished = [r for r in runs if r.outcome is not None]
    hosts = list(dict.fromkeys(r.hardware.get("host", "") for r in finished))
    idle = {h: b for h in hosts if (b := stored_idle(store, h)) is not None}
    groups = [_with_idle(g, finished, idle) for g in groups]
    transfers, multitasks, lives = _paradigms(store, groups, configs, runs, queries)
    return Analysis(
        study=study,
        groups=tuple(groups),
        studies=tuple(
            study_settings(n, c) for n, c in configs.items() if n in {g.study for g in groups}
        ),
        environments=environments(finished),
        runs=tuple(run_info(r, store.eval_points(r.id)) for r in finished),
        idle_baselines=tuple(idle.values()),
        transfer=transfers,
        multitask=multitasks,
        inference=lives,
        machines=compare_machines(groups),
        carbon=footprints(store, study, carbon) if carbon is not None else None,
        queries=queries,
        timelines=_timelines(store, groups),
        search=_search(store, groups),
    )


def _search(store, groups: list[GroupSummary]) -> tuple:
    """Each study's live search cost and its strategies simulated (``powertrain.search.report``)."""
    from powertrain.search.report import search_sections

    return search_sections(store, [g.study for g in groups])


def _with_idle(group: GroupSummary, runs, idle: dict[str, IdleBaseline]) -> GroupSummary:
    """Where the machine's idle power was measured (powertrain idle), the energy above it."""
    from powertrain.carbon.footprint import dynamic_energy_j

    ids = {i for s in group.setups for i in s.run_ids}
    members = [r for r in runs if r.id in ids]
    baseline = idle.get(members[0].hardware.get("host", "")) if members else None
    if baseline is None:
        return group
    stored = baseline.to_store()
    dynamic = sum(dynamic_energy_j(r.outcome, stored) for r in members)
    return replace(group, idle_power_w=dict(baseline.power_w), sweep_dynamic_energy_j=dynamic)


def _paradigms(store, groups, configs, runs, queries: int) -> tuple[tuple, tuple, tuple]:
    """The transfer, multitask and whole-life analyses of each group that has them."""
    transfers, multitasks, lives = [], [], []
    for g in groups:
        inference = {i: store.inference(i) for s in g.setups for i in s.run_ids}
        life = whole_life(g, inference, queries)
        if life is not None:
            lives.append(life)
        config = configs.get(g.study, {})
        pretrain_runs = [r for r in runs if r.study == g.study and r.stage == "pretrain"]
        t = transfer(g, pretrain_runs, config)
        if t is not None:
            transfers.append(t)
        if g.task_name == MULTITASK:  # once per study and machine, against all single-task runs
            tasks = [config.get("task", {}).get("dataset")]
            tasks += [e["name"] for e in config.get("extra_tasks", [])]
            m = multitask(g, [r for r in runs if r.study == g.study], [t for t in tasks if t])
            if m is not None:
                multitasks.append(m)
    return tuple(transfers), tuple(multitasks), tuple(lives)


def _timelines(store, groups: list[GroupSummary]) -> dict[int, dict]:
    """The power timeline of the run each group's figure shows (its best setup's first seed)."""
    shown = {}
    for g in groups:
        run_id = (g.best or g.setups[0]).run_ids[0]
        timeline = store.timeline(run_id)
        if timeline and len(timeline.get("t_s", [])) > 1:
            shown[run_id] = timeline
    return shown
