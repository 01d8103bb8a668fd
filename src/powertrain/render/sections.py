"""HTML and JSON for the report's paradigm section: transfer (pretraining amortised) and multitask."""

from __future__ import annotations

from html import escape
from typing import Any

from powertrain.analysis.paradigms import MultitaskSummary, TransferSummary


def _j(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def transfer_html(t: TransferSummary) -> str:
    rows = []
    for r in t.results:
        e = r.best.energy_to_target_j
        significance = (
            "" if r.significant is None else ("yes" if r.significant else "no (intervals overlap)")
        )
        break_even = (
            ""
            if r.paradigm == "scratch"
            else f"from N = {r.break_even_uses}"
            if r.break_even_uses
            else "never"
            if r.saving_j is not None and t.pretrain_energy_j is not None
            else "n/a"
        )
        rows.append(
            f"<tr><td class=text>{escape(r.paradigm)}</td><td class=text>{escape(r.best.label)}</td>"
            f"<td>{e.mean:,.1f} <span class=note>[{max(0.0, e.low):,.1f}, {e.high:,.1f}]</span></td>"
            f"<td>{_j(r.saving_j)}</td><td class=text>{significance}</td>"
            f"<td>{_j(r.amortised_j.get(1))}</td><td>{_j(r.amortised_j.get(10))}</td><td class=text>{break_even}</td></tr>"
        )
    pretrain = (
        f"{t.pretrain_energy_j:,.1f} J ({escape(t.pretrain_source)})"
        if t.pretrain_energy_j is not None
        else "unknown (an external checkpoint; give pretrain.energy_j to amortise it)"
    )
    return (
        f"<h3>Transfer: {escape(t.study)} on {escape(t.hardware)}</h3>"
        f"<p>Pretraining energy: {pretrain}. Energy: {escape(t.method)}. {escape(t.note)}</p>"
        "<table><tr><th>paradigm</th><th>best setup</th><th>energy to target (J) [95%]</th>"
        "<th>saving vs scratch (J)</th><th>significant?</th><th>with all pretraining (N = 1)</th>"
        "<th>pretraining shared by 10 (N = 10)</th><th>pays off</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def transfer_dict(t: TransferSummary) -> dict[str, Any]:
    return {
        "study": t.study,
        "hardware": t.hardware,
        "energy_method": t.method,
        "pretrain_energy_j": t.pretrain_energy_j,
        "pretrain_energy_source": t.pretrain_source,
        "note": t.note,
        "paradigms": [
            {
                "paradigm": r.paradigm,
                "best_setup": r.best.label,
                "energy_to_target_j": r.best.energy_to_target_j.to_dict(),
                "saving_vs_scratch_j": r.saving_j,
                "saving_significant": r.significant,
                "amortised_energy_per_task_j": {str(n): v for n, v in r.amortised_j.items()},
                "break_even_uses": r.break_even_uses,
            }
            for r in t.results
        ],
    }


def multitask_html(m: MultitaskSummary) -> str:
    rows = []
    for c in m.comparisons:
        acc = "; ".join(
            f"{escape(task)}: {_acc(v['multitask'])} vs {_acc(v['separate'])}"
            for task, v in c.task_test_accuracy.items()
        )
        saving = (
            f"{c.saving_j.mean:,.1f} <span class=note>[{c.saving_j.low:,.1f}, {c.saving_j.high:,.1f}]</span>"
            if c.saving_j
            else "no seed where every run reached its target"
        )
        rows.append(
            f"<tr><td class=text>{escape(' '.join(f'{k}={v}' for k, v in c.hyperparameters.items()))}</td>"
            f"<td>{_j(c.multitask_j.mean if c.multitask_j else None)}</td>"
            f"<td>{_j(c.separate_j.mean if c.separate_j else None)}</td><td>{saving}</td>"
            f"<td>{c.seeds_compared}</td><td class=text>{acc}</td></tr>"
        )
    return (
        f"<h3>Multitask: {escape(m.study)} on {escape(m.hardware)}</h3>"
        f"<p>Tasks: {escape(', '.join(m.tasks))}. Energy: {escape(m.method)}. One shared backbone trained until every "
        "task reaches its target, against separate single-task models with the same hyperparameters and seed.</p>"
        "<table><tr><th>hyperparameters</th><th>multitask (J)</th><th>separate models (J)</th>"
        "<th>saving (J) [95%]</th><th>seeds</th><th>test accuracy: multitask vs separate</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def multitask_dict(m: MultitaskSummary) -> dict[str, Any]:
    return {
        "study": m.study,
        "hardware": m.hardware,
        "energy_method": m.method,
        "tasks": m.tasks,
        "comparisons": [
            {
                "hyperparameters": c.hyperparameters,
                "multitask_energy_to_targets_j": c.multitask_j.to_dict() if c.multitask_j else None,
                "separate_energy_to_targets_j": c.separate_j.to_dict() if c.separate_j else None,
                "saving_j": c.saving_j.to_dict() if c.saving_j else None,
                "seeds_compared": c.seeds_compared,
                "task_test_accuracy": c.task_test_accuracy,
            }
            for c in m.comparisons
        ],
    }


def _acc(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def life_html(life) -> str:
    rows = "".join(
        f"<tr><td class=text>{escape(r.setup.label)}</td><td>{'&ge; ' if r.training_is_lower_bound else ''}"
        f"{r.training_j:,.1f}</td><td>{r.per_query_j * 1000:,.3f}</td><td>{r.batch_size}</td>"
        f"<td>{r.per_query_j * r.queries:,.1f}</td><td>{r.total_j:,.1f}</td></tr>"
        for r in life.rows
    )
    crossings = (
        "".join(
            f"<li>{escape(c.cheaper_to_train)} is cheaper to train than {escape(c.cheaper_to_run)} but dearer to run: "
            f"it stops paying after {c.queries:,.0f} queries.</li>"
            for c in life.crossovers
        )
        or "<li>No setup is both cheaper to train and measurably dearer to run than another (inference "
        "figures whose 95% intervals over repeated measurements overlap count as equal).</li>"
    )
    return (
        f"<h3>Inference and the whole life: {escape(life.study)} on {escape(life.hardware)}</h3>"
        f"<p>Training to the target plus {life.queries:,} queries, each answered at the most efficient batch size "
        f"measured. Energy: {escape(life.method)}.</p>"
        "<table><tr><th>setup</th><th>training (J)</th><th>J per 1,000 inputs</th><th>batch size</th>"
        f"<th>{life.queries:,} queries (J)</th><th>whole life (J)</th></tr>{rows}</table><ul>{crossings}</ul>"
    )


def life_dict(life) -> dict[str, Any]:
    return {
        "study": life.study,
        "hardware": life.hardware,
        "energy_method": life.method,
        "queries": life.queries,
        "setups": [
            {
                "setup": r.setup.label,
                "training_j": r.training_j,
                "training_is_lower_bound": r.training_is_lower_bound,
                "inference_per_1000_j": r.per_query_j * 1000,
                "batch_size": r.batch_size,
                "whole_life_j": r.total_j,
            }
            for r in life.rows
        ],
        "crossovers": [
            {
                "cheaper_to_train": c.cheaper_to_train,
                "cheaper_to_run": c.cheaper_to_run,
                "queries": c.queries,
            }
            for c in life.crossovers
        ],
    }
