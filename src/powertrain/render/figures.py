"""The report's figures, drawn to be pasted into a paper: axis labels in words with units, numbers at
the table's precision, the best setup prominent, estimates drawn so nobody takes them for measurements.
Each function draws one figure for one group and returns it; ``save`` writes PNG (300 dpi), PDF and SVG
with editable text. User strings are shown literally (no ``$...$`` math)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from powertrain.analysis.context import RunInfo  # noqa: E402
from powertrain.analysis.summary import GroupSummary, SetupSummary  # noqa: E402

STYLE = {
    "svg.fonttype": "none",  # text stays text in SVG
    "pdf.fonttype": 42,  # TrueType in PDF: editable
    "ps.fonttype": 42,
    "text.parse_math": False,  # a study named $x^2$ is shown as typed
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 300
FORMATS = ("png", "pdf", "svg")
BEST_COLOUR = "#c2410c"  # the best setup, everywhere
OTHER_COLOURS = [
    plt.cm.tab10(i) for i in (0, 2, 4, 6, 8, 9, 1, 5, 7)
]  # no orange/red: kept for best
#: Axis names in words, with units, for the grid keys a study varies.
AXIS_WORDS = {
    "learning_rate": "learning rate",
    "batch_size": "batch size (samples)",
    "momentum": "momentum",
    "weight_decay": "weight decay",
    "optimizer": "optimiser",
    "scheduler": "learning-rate schedule",
    "precision": "numeric precision",
    "paradigm": "training paradigm",
    "task": "task",
    "gamma": "decay factor",
    "step_epochs": "decay every (epochs)",
}


@dataclass(frozen=True)
class Figure:
    """A figure the report shows: its PNG (the PDF and SVG lie beside it) and its caption."""

    path: Path
    caption: str


#: A setup's values in a legend or tick label, in words: "batch 32, lr 0.03" (no raw keys).
SETUP_WORDS = {
    "batch_size": "batch",
    "learning_rate": "lr",
    "momentum": "momentum",
    "weight_decay": "weight decay",
    "optimizer": "",  # "adam" says it alone
    "scheduler": "schedule",
    "precision": "",
    "paradigm": "",
    "task": "task",
    "gamma": "decay",
    "step_epochs": "decay every",
}
SETUP_ORDER = ("paradigm", "optimizer", "batch_size", "learning_rate")  # then the others as given


def words(key: str | None) -> str:
    return "" if key is None else AXIS_WORDS.get(key, key.replace("_", " "))


def setup_words(setup: dict) -> str:
    """A setup as a reader says it: {"learning_rate": 0.03, "batch_size": 32} -> "batch 32, lr 0.03"."""
    keys = [k for k in SETUP_ORDER if k in setup] + [k for k in setup if k not in SETUP_ORDER]
    parts = []
    for key in keys:
        value = setup[key]
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        name = SETUP_WORDS.get(key, key.replace("_", " "))
        if key == "step_epochs":
            shown += " epochs"
        parts.append(f"{name} {shown}" if name else shown)
    return ", ".join(parts) or "default setup"


MAX_STEM_BYTES = 80  # a figure's file name, its kind and format added, stays far below 255 bytes


def slug(text: str) -> str:
    """``text`` as a file-name stem: its letters and digits, in any script ("实验一", "énergie"),
    the rest one ``-``; at most ``MAX_STEM_BYTES`` of UTF-8."""
    stem = re.sub(r"[\W_]+", "-", text.lower()).strip("-")
    return stem.encode()[:MAX_STEM_BYTES].decode(errors="ignore").rstrip("-") or "x"


def unique_stems(titles: list[str]) -> list[str]:
    """A file-name stem per title, unique even where two titles slug alike ("grid A", "grid-a")."""
    stems, seen = [], set()
    for title in titles:
        stem, n = slug(title), 2
        while stem in seen:
            stem, n = f"{slug(title)}-{n}", n + 1
        seen.add(stem)
        stems.append(stem)
    return stems


def new_figure(size: tuple[float, float]):
    with plt.rc_context(STYLE):
        return plt.subplots(figsize=size, layout="constrained")


def save(fig, out_dir: Path, name: str) -> dict[str, Path]:
    paths = {}
    with plt.rc_context(STYLE):
        for ext in FORMATS:
            paths[ext] = out_dir / f"{name}.{ext}"
            fig.savefig(paths[ext], dpi=DPI, metadata=_metadata(ext))
    plt.close(fig)
    return paths


def _metadata(ext: str) -> dict | None:
    return {"Date": None} if ext == "svg" else None  # reproducible files


def title(ax, titles: bool, text: str, group: GroupSummary | None = None) -> None:
    if titles:
        how = f"\nenergy: {group.energy_method}" if group is not None else ""
        ax.set_title(text + how, fontsize=8, loc="left")


def setup_colours(group: GroupSummary) -> dict[str, tuple]:
    """The best setup in one strong colour; the others from a palette that tells them apart."""
    colours, k = {}, 0
    for s in group.setups:
        if s is group.best:
            colours[s.label] = BEST_COLOUR
        else:
            palette = OTHER_COLOURS if len(group.setups) <= 10 else plt.cm.tab20.colors
            colours[s.label] = palette[k % len(palette)]
            k += 1
    return colours


def _order(value):
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _axes_keys(group: GroupSummary) -> tuple[str | None, str | None]:
    """The heatmap's two axes; None for each the setups lack (runs tracked or imported with no
    setup: one cell)."""
    keys = list(dict.fromkeys(k for s in group.setups for k in s.setup))
    if {"learning_rate", "batch_size"} <= set(keys):
        return "learning_rate", "batch_size"
    return (keys[0] if keys else None), (keys[1] if len(keys) > 1 else None)


def heatmap(group: GroupSummary, titles: bool = True):
    """Energy to target over the grid's first two hyperparameters, at the table's precision (0.1 J).
    A cell where some seed never reached the target shows a lower bound, hatched; the best is framed."""
    x_key, y_key = _axes_keys(group)
    xs = sorted({s.setup.get(x_key) for s in group.setups}, key=_order)
    ys = sorted({s.setup.get(y_key) for s in group.setups}, key=_order) if y_key else [None]
    cells: dict[tuple, SetupSummary] = {}
    for s in group.setups:
        key = (s.setup.get(x_key), s.setup.get(y_key) if y_key else None)
        held = cells.get(key)
        if held is None or (s.shown_energy_j or np.inf) < (held.shown_energy_j or np.inf):
            cells[key] = s
    grid = np.full((len(ys), len(xs)), np.nan)
    for (x, y), s in cells.items():
        if s.shown_energy_j is not None:
            grid[ys.index(y), xs.index(x)] = s.shown_energy_j
    fig, ax = new_figure((1.7 * len(xs) + 2.6, 0.9 * len(ys) + 1.9))
    image = ax.imshow(grid, cmap="YlGnBu", aspect="auto")
    for (x, y), s in cells.items():
        _heat_cell(ax, image, grid, ys.index(y), xs.index(x), s, s is group.best)
    fig.colorbar(image, ax=ax, label="energy to target (J)")
    ax.set_xticks(range(len(xs)), [str(x) if x_key else "the one setup" for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) if y_key else "" for y in ys])
    ax.set_xlabel(words(x_key))
    ax.set_ylabel(words(y_key))
    ax.spines[:].set_visible(False)
    title(ax, titles, f"{group.study}: energy to reach the target", group)
    return fig


def _heat_cell(ax, image, grid, i: int, j: int, s: SetupSummary, best: bool) -> None:
    value, bound = s.shown_energy_j, s.energy_to_target_j is None
    text = "no data" if value is None else f"{'≥ ' if bound else ''}{value:,.1f} J"
    ratio = s.waste_ratio or s.waste_ratio_at_least
    if ratio is not None:
        text += f"\n{'≥ ' if bound else ''}{ratio:.2f}x" + (" (best)" if best else "")
    text += f"\n{s.reached}/{s.seeds} reached"
    dark = not np.isnan(grid[i, j]) and image.norm(grid[i, j]) > 0.55
    weight = "bold" if best else "normal"
    ax.text(j, i, text, ha="center", va="center", fontsize=7, weight=weight,
            color="white" if dark else "black")  # fmt: skip
    if bound:
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                   edgecolor="#88888899", lw=0))  # fmt: skip
    if best:
        ax.add_patch(plt.Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False,
                                   edgecolor=BEST_COLOUR, lw=2.5))  # fmt: skip


def accuracy_vs_energy(group: GroupSummary, runs: list[RunInfo], target: float | None,
                       titles: bool = True):  # fmt: skip
    """Every run's learning curve against cumulative energy; a dot where each run reached the target."""
    fig, ax = new_figure((7, 4.5))
    colours = setup_colours(group)
    by_id = {r.id: r for r in runs}
    for s in sorted(group.setups, key=lambda s: s is group.best):  # the best drawn last, on top
        best = s is group.best
        for k, run_id in enumerate(s.run_ids):
            run = by_id.get(run_id)
            if run is None or not run.points:
                continue
            energy = [p.total_energy_j for p in run.points]
            accuracy = [p.val_accuracy for p in run.points]
            name = setup_words(s.setup)
            label = (f"{name} (best)" if best else name) if k == 0 else None
            ax.plot(energy, accuracy, color=colours[s.label], lw=2.2 if best else 1,
                    alpha=1 if best else 0.75, label=label, zorder=3 if best else 2)  # fmt: skip
            hit = next((i for i, a in enumerate(accuracy) if target and a >= target), None)
            if hit is not None:
                ax.plot(energy[hit], accuracy[hit], "o", color=colours[s.label], ms=4, zorder=4)
    if target is not None:
        ax.axhline(target, color="black", ls="--", lw=1, label=f"target accuracy {target:g}")
    ax.plot([], [], "o", color="grey", ms=4, label="where the run reached the target")
    ax.set_xlabel("cumulative energy (J)")
    ax.set_ylabel("validation accuracy (fraction correct)")
    title(ax, titles, f"{group.study}: validation accuracy against energy, every run", group)
    fig.legend(fontsize=6, ncol=2, loc="outside lower center", frameon=False)
    return fig


def pareto(group: GroupSummary, titles: bool = True):
    """Mean energy spent against mean test accuracy; the Pareto front joined. Labels stay inside."""
    fig, ax = new_figure((7, 4.5))
    pts = [
        (s.total_energy_j.mean, s.test_accuracy.mean, s) for s in group.setups if s.test_accuracy
    ]
    front = sorted((p for p in pts if p[2].on_pareto_front), key=lambda p: p[0])
    rest = [p for p in pts if not p[2].on_pareto_front]
    ax.scatter([p[0] for p in rest], [p[1] for p in rest], color="#9ca3af", s=28, zorder=2,
               label="setup not on the front")  # fmt: skip
    ax.plot([p[0] for p in front], [p[1] for p in front], "-o", color="#1d4ed8", lw=1.2, ms=6,
            zorder=3, label="Pareto front (nothing cheaper and more accurate)")  # fmt: skip
    if group.best is not None and group.best.test_accuracy is not None:
        ax.scatter([group.best.total_energy_j.mean], [group.best.test_accuracy.mean], s=130,
                   facecolors="none", edgecolors=BEST_COLOUR, lw=2, zorder=4,
                   label="least energy to the target")  # fmt: skip
    if pts:
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        mid_x = (min(xs) + max(xs)) / 2
        for energy, acc, s in pts:
            right = energy > mid_x  # label on the side facing the middle, so it stays inside
            ax.annotate(setup_words(s.setup), (energy, acc), fontsize=6, xytext=(-8 if right else 8, 5),
                        textcoords="offset points", ha="right" if right else "left",
                        annotation_clip=True)  # fmt: skip
        pad_y = (max(ys) - min(ys)) * 0.12 or 0.01
        ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y)
        ax.margins(x=0.08)
    ax.set_xlabel("mean energy spent per run (J)")
    ax.set_ylabel("mean test accuracy at the stopping point (fraction)")
    title(ax, titles, f"{group.study}: energy against accuracy", group)
    fig.legend(fontsize=7, ncol=3, loc="outside lower center", frameon=False)
    return fig


def power_timeline(group: GroupSummary, timeline: dict, run_label: str, estimated: bool,
                   titles: bool = True):  # fmt: skip
    """Power over one run. An estimate is drawn dashed over a hatched band and labelled as such."""
    fig, ax = new_figure((7, 3.5))
    t = np.asarray(timeline["t_s"], dtype=float)
    for k, (component, energy) in enumerate(timeline["energy_j"].items()):
        e = np.asarray(energy, dtype=float)
        dt = np.diff(t)
        ok = dt > 0
        mid, power = ((t[1:] + t[:-1]) / 2)[ok], (np.diff(e)[ok] / dt[ok])
        colour = OTHER_COLOURS[k % len(OTHER_COLOURS)]
        label = f"{component} ({'estimated' if estimated else 'measured'})"
        ax.plot(mid, power, lw=1.2, color=colour, ls="--" if estimated else "-", label=label)
        if estimated:
            ax.fill_between(mid, 0, power, facecolor="none", edgecolor=colour, hatch="////",
                            lw=0, alpha=0.35)  # fmt: skip
    ax.set_xlabel("time since the run began (s)")
    ax.set_ylabel("estimated power (W)" if estimated else "measured power (W)")
    if estimated:
        ax.text(0.01, 0.98, "ESTIMATE: CPU time x watts per busy thread, not a power reading",
                transform=ax.transAxes, va="top", fontsize=7, color="#9a3412")  # fmt: skip
    title(ax, titles, f"{group.study}: power during {run_label}", group)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # room for the ESTIMATE note above the line
    fig.legend(fontsize=7, ncol=4, loc="outside lower center", frameon=False)
    return fig


def components(group: GroupSummary, titles: bool = True):
    """Mean energy per run by component, setups sorted by their total (the cheapest first)."""
    setups = sorted(group.setups, key=lambda s: s.total_energy_j.mean)
    fig, ax = new_figure((max(6, 0.6 * len(setups) + 2.5), 4.2))
    names = sorted({c for s in setups for c in s.energy_by_component_j})
    bottom = np.zeros(len(setups))
    for k, name in enumerate(names):
        values = np.array([s.energy_by_component_j.get(name, 0.0) for s in setups])
        ax.bar(range(len(setups)), values, bottom=bottom, label=name,
               color=OTHER_COLOURS[k % len(OTHER_COLOURS)])  # fmt: skip
        bottom += values
    ax.set_xticks(range(len(setups)), [setup_words(s.setup) for s in setups], rotation=50, ha="right",
                  fontsize=7)  # fmt: skip
    for tick, s in zip(ax.get_xticklabels(), setups, strict=True):
        if s is group.best:
            tick.set_color(BEST_COLOUR)
            tick.set_fontweight("bold")
    ax.set_ylabel("mean energy spent per run (J)")
    title(ax, titles, f"{group.study}: energy by component, cheapest first", group)
    ax.legend(fontsize=7, title="component", title_fontsize=7)
    return fig


def amortisation(summary, titles: bool = True):
    """Energy per downstream task against the number of uses of one pretraining."""
    fig, ax = new_figure((7, 4))
    scratch = next((r for r in summary.paradigms if r.paradigm == "scratch"), None)
    for k, r in enumerate(summary.paradigms):
        if r.amortised_energy_per_task_j:
            uses = sorted(r.amortised_energy_per_task_j)
            ax.plot(uses, [r.amortised_energy_per_task_j[n] for n in uses], marker="o", ms=3,
                    color=OTHER_COLOURS[k % len(OTHER_COLOURS)],
                    label=f"{r.paradigm} + pretraining / N")  # fmt: skip
    if scratch is not None:
        ax.axhline(scratch.energy_to_target_j.mean, color="black", ls="--", label="from scratch")
    ax.set_xlabel("downstream tasks sharing one pretraining (N)")
    ax.set_ylabel("energy per task to reach the target (J)")
    if titles:
        ax.set_title(f"{summary.study}: pretraining amortised over its uses\nenergy: "
                     f"{summary.energy_method}", fontsize=8, loc="left")  # fmt: skip
    ax.legend(fontsize=7)
    return fig
