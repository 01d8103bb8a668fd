"""Builds a report from the results store: figures, report.html, summary.json and summary.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from powertrain.analysis.summary import GroupSummary, summarise
from powertrain.errors import PowertrainError
from powertrain.store.base import ResultStore


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    csv: Path
    figures: list[Path]
    groups: list[GroupSummary]


@dataclass(frozen=True)
class CarbonSettings:
    intensity: object  # carbon.intensity.Intensity
    pue: float
    pue_source: str
    lifetime_years: float | None = None
    hardware_share: float | None = None


def build_report(
    store: ResultStore,
    out_dir: str | Path,
    study: str | None = None,
    queries: int = 1_000_000,
    carbon: CarbonSettings | None = None,
) -> ReportFiles:
    """``queries``: how many inference queries the whole-life section counts over a model's life.
    ``carbon``: add carbon figures (only when the caller names an intensity)."""
    from powertrain.render import export, figures, html

    studies = {s["name"]: s["config"] for s in store.studies()}
    if study is not None and study not in studies:
        raise PowertrainError(
            f"no study named {study!r} in the store; it has {', '.join(studies) or 'none'}"
        )
    runs = store.runs(study)
    groups = summarise(runs, studies)
    if not groups:
        raise PowertrainError(
            "no finished runs to report on yet; run a study first (powertrain run STUDY.yaml)"
        )
    _add_idle_baselines(store, groups, runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, list[tuple[Path, str]]] = {}
    written: list[Path] = []
    for g in groups:
        base = figures.slug(g.title)
        target = g.task.get("target_accuracy")
        points = {run_id: store.eval_points(run_id) for s in g.setups for run_id in s.run_ids}
        made = [
            (
                figures.heatmap(g),
                f"{base}-heatmap",
                "Energy to target over the grid (hatched: lower bound, some seeds never reached it)",
            ),
            (
                figures.accuracy_vs_energy(g, points, target),
                f"{base}-accuracy-energy",
                "Validation accuracy against cumulative energy, every run",
            ),
            (
                figures.pareto(g),
                f"{base}-pareto",
                "Energy spent against test accuracy, with the Pareto front",
            ),
            (figures.components(g), f"{base}-components", "Energy by component, mean per run"),
        ]
        shown = g.best or g.setups[0]
        timeline = store.timeline(shown.run_ids[0])
        if timeline and len(timeline.get("t_s", [])) > 1:
            label = f"run {shown.run_ids[0]} ({shown.label})"
            made.append(
                (
                    figures.power_timeline(g, timeline, label),
                    f"{base}-power",
                    f"Power timeline of {label}",
                )
            )
        for fig, name, caption in made:
            paths = figures.save(fig, out, name)
            written += [paths["png"], paths["svg"]]
            drawn.setdefault(g.title, []).append((paths["png"], caption))

    sections, extra = _paradigm_sections(store, groups, studies, runs, out, written, queries)
    from powertrain.render.machines import carbon_section, machines

    machine_html, machine_data = machines(groups)
    sections += machine_html
    if machine_data:
        extra["machines"] = machine_data
    if carbon is not None:
        from powertrain.carbon.footprint import footprint

        finished = [r for r in runs if r.outcome is not None]
        prints = [
            footprint(
                r,
                store.timeline(r.id),
                carbon.intensity,
                carbon.pue,
                carbon.pue_source,
                carbon.lifetime_years,
                carbon.hardware_share,
                store.idle(r.hardware.get("host", "")),
            )
            for r in finished
        ]
        carbon_html, extra["carbon"] = carbon_section(
            prints, carbon.intensity.label, carbon.pue, carbon.pue_source
        )
        sections.append(carbon_html)
    title = f"powertrain report: {study}" if study else "powertrain report"
    (out / "report.html").write_text(html.render(groups, drawn, title, sections))
    export.write_json(groups, out / "summary.json", extra)
    export.write_csv(groups, out / "summary.csv")
    return ReportFiles(
        out / "report.html", out / "summary.json", out / "summary.csv", written, groups
    )


def _add_idle_baselines(store, groups: list[GroupSummary], runs) -> None:
    """Where the machine's idle power was measured (powertrain idle), the energy above it."""
    from powertrain.carbon.footprint import dynamic_energy_j

    by_id = {r.id: r for r in runs}
    for g in groups:
        members = [by_id[i] for s in g.setups for i in s.run_ids]
        idle = store.idle(members[0].hardware.get("host", "")) if members else None
        if idle is not None:
            g.idle_power_w = idle["power_w"]
            g.sweep_dynamic_energy_j = sum(dynamic_energy_j(r.outcome, idle) for r in members)


def _paradigm_sections(store, groups, studies, runs, out: Path, written: list[Path], queries: int):
    """The transfer, multitask and whole-life sections (HTML, and their summary.json entries)."""
    from powertrain.analysis.life import whole_life
    from powertrain.analysis.paradigms import multitask, transfer
    from powertrain.render import figures, sections

    html_parts: list[str] = []
    extra: dict = {"transfer": [], "multitask": [], "inference": []}
    for g in groups:
        inference = {run_id: store.inference(run_id) for s in g.setups for run_id in s.run_ids}
        life = whole_life(g, inference, queries)
        if life is not None:
            html_parts.append(sections.life_html(life))
            extra["inference"].append(sections.life_dict(life))
        config = studies.get(g.study, {})
        pretrain_runs = [r for r in runs if r.study == g.study and r.stage == "pretrain"]
        t = transfer(g, pretrain_runs, config)
        if t is not None:
            html_parts.append(sections.transfer_html(t))
            extra["transfer"].append(sections.transfer_dict(t))
            if any(r.amortised_j for r in t.results):
                paths = figures.save(
                    figures.amortisation(t),
                    out,
                    figures.slug(f"{g.title}-amortisation"),
                )
                written += [paths["png"], paths["svg"]]
                html_parts.append(
                    _figure_html(
                        paths["png"], "Energy per task as one pretraining is shared by N tasks"
                    )
                )
        tasks = [config.get("task", {}).get("dataset")] + [
            e["name"] for e in config.get("extra_tasks", [])
        ]
        # Once per study and machine: in the group of the joint runs, against all single-task runs.
        m = (
            multitask(g, [r for r in runs if r.study == g.study], [t for t in tasks if t])
            if (g.task_name == "all (multitask)")
            else None
        )
        if m is not None:
            html_parts.append(sections.multitask_html(m))
            extra["multitask"].append(sections.multitask_dict(m))
    if html_parts:
        html_parts.insert(0, "<h2>Learning paradigms across the model's life</h2>")
    return html_parts, {k: v for k, v in extra.items() if v}


def _figure_html(path: Path, caption: str) -> str:
    from powertrain.render.html import _figure

    return _figure(path, caption)
