"""The report's figures. Each function draws one figure for one study on one machine and returns it;
``save`` writes it as PNG and SVG. Every figure's title says how its energy was obtained."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from powertrain.analysis.summary import GroupSummary, SetupSummary  # noqa: E402
from powertrain.records import EvalPoint  # noqa: E402


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "x"


def save(fig, out_dir: Path, name: str) -> dict[str, Path]:
    paths = {}
    for ext in ("png", "svg"):
        paths[ext] = out_dir / f"{name}.{ext}"
        fig.savefig(paths[ext], dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def _how(group: GroupSummary) -> str:
    return f"energy: {group.method}"


def _value(s: SetupSummary) -> tuple[float | None, bool]:
    """The energy to show for a setup, and whether it is only a lower bound (censored seeds)."""
    if s.energy_to_target_j is not None:
        return s.energy_to_target_j.mean, False
    return s.energy_to_target_at_least_j, True


def heatmap(group: GroupSummary):
    """Energy-to-target over the grid's first two hyperparameters (batch size x learning rate when both
    are swept). A cell where some seed never reached the target shows a lower bound, hatched."""
    keys = list(dict.fromkeys(k for s in group.setups for k in s.setup))  # setups may differ (task)
    x_key, y_key = (
        ("learning_rate", "batch_size")
        if {"learning_rate", "batch_size"} <= set(keys)
        else (keys[0], keys[1] if len(keys) > 1 else None)
    )
    xs = sorted({s.setup.get(x_key) for s in group.setups}, key=_order)
    ys = sorted({s.setup.get(y_key) for s in group.setups}, key=_order) if y_key else [None]
    cells: dict[tuple, list[SetupSummary]] = {}
    for s in group.setups:
        cells.setdefault((s.setup.get(x_key), s.setup.get(y_key) if y_key else None), []).append(s)
    grid = np.full((len(ys), len(xs)), np.nan)
    labels = []
    for (x, y), members in cells.items():
        s = min(members, key=lambda m: _value(m)[0] if _value(m)[0] is not None else np.inf)
        value, lower_bound = _value(s)
        i, j = ys.index(y), xs.index(x)
        if value is not None:
            grid[i, j] = value
        text = (
            "no data"
            if value is None
            else (f">={value:.0f} J" if lower_bound else f"{value:.0f} J")
        )
        ratio = s.waste_ratio or s.waste_ratio_at_least
        if ratio is not None:
            text += f"\n{'>=' if lower_bound else ''}{ratio:.1f}x"
        text += f"\n{s.reached}/{s.seeds} reached"
        labels.append((i, j, text, lower_bound))
    fig, ax = plt.subplots(figsize=(1.6 * len(xs) + 2.5, 1.0 * len(ys) + 2))
    image = ax.imshow(grid, cmap="YlOrRd", aspect="auto")
    for i, j, text, lower_bound in labels:
        dark = not np.isnan(grid[i, j]) and image.norm(grid[i, j]) > 0.6
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
        )
        if lower_bound:
            ax.add_patch(
                plt.Rectangle(
                    (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="#ffffff80", lw=0
                )
            )
    fig.colorbar(image, ax=ax, label="energy to target (J)")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key or "")
    ax.set_title(f"{group.study}: energy to reach the target\n{_how(group)}", fontsize=9)
    return fig


def _order(value):
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def accuracy_vs_energy(
    group: GroupSummary, points: dict[int, list[EvalPoint]], target: float | None
):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = [plt.cm.tab20(i % 20) for i in range(len(group.setups))]
    for colour, s in zip(colours, group.setups, strict=False):
        for k, run_id in enumerate(s.run_ids):
            run_points = points.get(run_id, [])
            if run_points:
                ax.plot(
                    [p.total_energy_j for p in run_points],
                    [p.val_accuracy for p in run_points],
                    color=colour,
                    lw=1,
                    alpha=0.8,
                    label=s.label if k == 0 else None,
                )
    if target is not None:
        ax.axhline(target, color="black", ls="--", lw=1, label=f"target {target}")
    ax.set_xlabel("cumulative energy (J)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{group.study}: accuracy against energy, every run\n{_how(group)}", fontsize=9)
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    return fig


def pareto(group: GroupSummary):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = [
        (s.total_energy_j.mean, s.test_accuracy.mean, s) for s in group.setups if s.test_accuracy
    ]
    ax.scatter(
        [p[0] for p in pts],
        [p[1] for p in pts],
        c=["tab:red" if p[2].on_pareto_front else "tab:grey" for p in pts],
    )
    front = sorted((p for p in pts if p[2].on_pareto_front), key=lambda p: p[0])
    ax.plot(
        [p[0] for p in front], [p[1] for p in front], color="tab:red", lw=1, label="Pareto front"
    )
    for energy, acc, s in pts:
        ax.annotate(s.label, (energy, acc), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("mean energy spent per run (J)")
    ax.set_ylabel("mean test accuracy at the stopping point")
    ax.set_title(f"{group.study}: energy against accuracy\n{_how(group)}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def power_timeline(group: GroupSummary, timeline: dict, run_label: str):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    t = np.asarray(timeline["t_s"], dtype=float)
    for component, energy in timeline["energy_j"].items():
        e = np.asarray(energy, dtype=float)
        if len(t) > 1:
            dt = np.diff(t)
            ok = dt > 0
            ax.plot(((t[1:] + t[:-1]) / 2)[ok], (np.diff(e)[ok] / dt[ok]), lw=1, label=component)
    ax.set_xlabel("time since the run began (s)")
    ax.set_ylabel("power (W)")
    ax.set_title(f"{group.study}: power during {run_label}\n{_how(group)}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def components(group: GroupSummary):
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(group.setups) + 2), 4))
    names = sorted({c for s in group.setups for c in s.energy_by_component_j})
    bottom = np.zeros(len(group.setups))
    for name in names:
        values = np.array([s.energy_by_component_j.get(name, 0.0) for s in group.setups])
        ax.bar(range(len(group.setups)), values, bottom=bottom, label=name)
        bottom += values
    ax.set_xticks(
        range(len(group.setups)),
        [s.label for s in group.setups],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax.set_ylabel("mean energy spent per run (J)")
    ax.set_title(f"{group.study}: energy by component\n{_how(group)}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def amortisation(summary):
    """Energy per downstream task against the number of uses of one pretraining."""
    fig, ax = plt.subplots(figsize=(7, 4))
    scratch = next((r for r in summary.results if r.paradigm == "scratch"), None)
    for r in summary.results:
        if r.amortised_j:
            uses = sorted(r.amortised_j)
            ax.plot(
                uses,
                [r.amortised_j[n] for n in uses],
                marker="o",
                label=f"{r.paradigm} + pretraining / N",
            )
    if scratch is not None:
        ax.axhline(
            scratch.best.energy_to_target_j.mean, color="black", ls="--", label="from scratch"
        )
    ax.set_xlabel("downstream tasks sharing one pretraining (N)")
    ax.set_ylabel("energy per task to reach the target (J)")
    ax.set_title(
        f"{summary.study}: pretraining amortised over its uses\nenergy: {summary.method}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    return fig
