"""Writes a report from an analysis: figures, report.html, summary.json (the analysis serialised),
summary.csv, runs.csv and points.csv. ``build_report`` analyses a store and renders the result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from powertrain.analysis.analyse import Analysis, analyse
from powertrain.analysis.footprints import CarbonSettings
from powertrain.analysis.summary import GroupSummary

__all__ = ["CarbonSettings", "ReportFiles", "build_report", "render_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    csv: Path
    figures: list[Path]
    groups: list[GroupSummary]
    runs_csv: Path | None = None
    points_csv: Path | None = None
    analysis: Analysis | None = None


def build_report(
    store,
    out_dir: str | Path,
    study: str | None = None,
    queries: int = 1_000_000,
    carbon: CarbonSettings | None = None,
    *,
    titles: bool = True,
) -> ReportFiles:
    """``queries``: how many inference queries the whole-life section counts over a model's life.
    ``carbon``: add carbon figures (only when the caller names an intensity). ``titles``: draw titles
    on the figures (leave them out for a paper, whose captions say it)."""
    _out_dir(out_dir)  # before the analysis: a folder that cannot be written fails at once
    analysis = analyse(store, study, queries=queries, carbon=carbon)
    return render_report(analysis, out_dir, titles=titles)


def render_report(analysis: Analysis, out_dir: str | Path, *, titles: bool = True) -> ReportFiles:
    from powertrain.render import export, html

    out = _out_dir(out_dir)
    drawn, written = _group_figures(analysis, out, titles)
    written += _amortisation_figures(analysis, out, titles, drawn)
    from powertrain.render.search import search_figures

    written += search_figures(analysis, out, titles, drawn)
    title = f"powertrain report: {analysis.study}" if analysis.study else "powertrain report"
    files = {
        "summary.json": out / "summary.json",
        "summary.csv": out / "summary.csv",
        "runs.csv": out / "runs.csv",
        "points.csv": out / "points.csv",
    }
    export.write_json(analysis, files["summary.json"])
    export.write_summary_csv(analysis, files["summary.csv"])
    export.write_runs_csv(analysis, files["runs.csv"])
    export.write_points_csv(analysis, files["points.csv"])
    page = html.render(analysis, drawn, title, list(files) + [p.name for p in written])
    (out / "report.html").write_text(page, encoding="utf-8")
    return ReportFiles(
        out / "report.html",
        files["summary.json"],
        files["summary.csv"],
        written,
        list(analysis.groups),
        files["runs.csv"],
        files["points.csv"],
        analysis,
    )


def _out_dir(out_dir: str | Path) -> Path:
    """The report's folder, made when missing; one PowertrainError when it is a file or unwritable."""
    from powertrain.inputs import check_writable_dir

    return check_writable_dir(out_dir, "report folder (--out)")


def _group_figures(analysis: Analysis, out: Path, titles: bool):
    from powertrain.render import figures

    drawn: dict[int, list[figures.Figure]] = {}
    written: list[Path] = []
    stems = figures.unique_stems([g.title for g in analysis.groups])
    for k, (g, base) in enumerate(zip(analysis.groups, stems, strict=True)):
        target = g.task.get("target_accuracy")
        made = [
            (figures.heatmap(g, titles), f"{base}-heatmap",
             "Energy to target over the grid (hatched: a lower bound, some seeds never reached it; "
             "framed: the best setup)"),
            (figures.accuracy_vs_energy(g, analysis.runs_of(g), target, titles),
             f"{base}-accuracy-energy",
             "Validation accuracy against cumulative energy, every run; a dot where it reached the target"),
            (figures.pareto(g, titles), f"{base}-pareto",
             "Energy spent against test accuracy, with the Pareto front"),
            (figures.components(g, titles), f"{base}-components",
             "Energy by component, mean per run, cheapest setup first"),
        ]  # fmt: skip
        shown = (g.best or g.setups[0]).run_ids[0]
        if shown in analysis.timelines:
            s = g.best or g.setups[0]
            label = f"run {shown} ({figures.setup_words(s.setup)})"
            fig = figures.power_timeline(g, analysis.timelines[shown], label, g.estimated, titles)
            how = "estimated, not measured" if g.estimated else "measured"
            made.append((fig, f"{base}-power", f"Power timeline of {label} ({how})"))
        for fig, name, caption in made:
            paths = figures.save(fig, out, name)
            written += list(paths.values())
            drawn.setdefault(k, []).append(figures.Figure(paths["png"], caption))
    return drawn, written


def _amortisation_figures(analysis: Analysis, out: Path, titles: bool, drawn) -> list[Path]:
    from powertrain.render import figures

    written: list[Path] = []
    stems = figures.unique_stems([f"{t.study} on {t.hardware}" for t in analysis.transfer])
    for t, stem in zip(analysis.transfer, stems, strict=True):
        if any(r.amortised_energy_per_task_j for r in t.paradigms):
            paths = figures.save(figures.amortisation(t, titles), out, f"{stem}-amortisation")
            written += list(paths.values())
            caption = "Energy per task as one pretraining is shared by N tasks"
            drawn.setdefault(("transfer", t.study, t.hardware), []).append(
                figures.Figure(paths["png"], caption)
            )
    return written
