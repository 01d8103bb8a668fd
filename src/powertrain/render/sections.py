"""HTML for the report's paradigm sections: transfer (pretraining amortised), multitask, whole life."""

from __future__ import annotations

from html import escape

from powertrain.analysis.paradigms import MultitaskSummary, TransferSummary
from powertrain.analysis.stats import Interval


def interval(e: Interval, allow_negative: bool = False) -> str:
    """A mean and its 95% interval; with two seeds, a word that it is wide instead of the numbers."""
    if e.n == 1:
        return f"{e.mean:,.1f} <span class=note>(one seed: no interval)</span>"
    if e.wide:
        return f"{e.mean:,.1f} <span class=note>(two seeds: the 95% interval is too wide to use)</span>"
    low = e.low if allow_negative else max(0.0, e.low)
    return f"{e.mean:,.1f} <span class=note>[{low:,.1f}, {e.high:,.1f}]</span>"


def _j(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def transfer_html(t: TransferSummary) -> str:
    rows = []
    for r in t.paradigms:
        e = r.energy_to_target_j
        significance = (
            ""
            if r.saving_significant is None
            else ("yes" if r.saving_significant else "no (intervals overlap)")
        )
        break_even = (
            ""
            if r.paradigm == "scratch"
            else f"from N = {r.break_even_uses}"
            if r.break_even_uses
            else "never"
            if r.saving_vs_scratch_j is not None and t.pretrain_energy_j is not None
            else "n/a"
        )
        amortised = r.amortised_energy_per_task_j or {}
        rows.append(
            f"<tr><td class=text>{escape(r.paradigm)}</td><td class=text>{escape(r.best.label)}</td>"
            f"<td>{interval(e)}</td>"
            f"<td>{_j(r.saving_vs_scratch_j)}</td><td class=text>{significance}</td>"
            f"<td>{_j(amortised.get(1))}</td><td>{_j(amortised.get(10))}</td>"
            f"<td class=text>{break_even}</td></tr>"
        )
    pretrain = (
        f"{t.pretrain_energy_j:,.1f} J ({escape(t.pretrain_energy_source)})"
        if t.pretrain_energy_j is not None
        else "unknown (an external checkpoint; give pretrain.energy_j to amortise it)"
    )
    return (
        f"<h3>Transfer: {escape(t.study)} on {escape(t.hardware)}</h3>"
        f"<p>Pretraining energy: {pretrain}. Energy: {escape(t.energy_method)}. {escape(t.note)}</p>"
        "<div class=scroll><table><tr><th>paradigm</th><th>best setup</th><th>energy to target (J) [95%]</th>"
        "<th>saving vs scratch (J)</th><th>significant?</th><th>with all pretraining (N = 1)</th>"
        "<th>pretraining shared by 10 (N = 10)</th><th>pays off</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def multitask_html(m: MultitaskSummary) -> str:
    rows = []
    for c in m.comparisons:
        acc = "; ".join(
            f"{escape(task)}: {_acc(v['multitask'])} vs {_acc(v['separate'])}"
            for task, v in c.task_test_accuracy.items()
        )
        saving = (
            interval(c.saving_j, allow_negative=True)
            if c.saving_j
            else "no seed where every run reached its target"
        )
        rows.append(
            f"<tr><td class=text>{escape(' '.join(f'{k}={v}' for k, v in c.hyperparameters.items()))}</td>"
            f"<td>{_j(c.multitask_energy_to_targets_j.mean if c.multitask_energy_to_targets_j else None)}</td>"
            f"<td>{_j(c.separate_energy_to_targets_j.mean if c.separate_energy_to_targets_j else None)}</td><td>{saving}</td>"
            f"<td>{c.seeds_compared}</td><td class=text>{acc}</td></tr>"
        )
    return (
        f"<h3>Multitask: {escape(m.study)} on {escape(m.hardware)}</h3>"
        f"<p>Tasks: {escape(', '.join(m.tasks))}. Energy: {escape(m.energy_method)}. One shared backbone trained until every "
        "task reaches its target, against separate single-task models with the same hyperparameters and seed.</p>"
        "<div class=scroll><table><tr><th>hyperparameters</th><th>multitask (J)</th><th>separate models (J)</th>"
        "<th>saving (J) [95%]</th><th>seeds</th><th>test accuracy: multitask vs separate</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _acc(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def life_html(life) -> str:
    rows = "".join(
        f"<tr><td class=text>{escape(r.setup.label)}</td><td>{'&ge; ' if r.training_is_lower_bound else ''}"
        f"{r.training_j:,.1f}</td><td>{r.per_query_j * 1000:,.3f}</td><td>{r.batch_size}</td>"
        f"<td>{r.queries_j:,.1f}</td><td>{r.whole_life_j:,.1f}</td></tr>"
        for r in life.setups
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
        f"measured. Energy: {escape(life.energy_method)}.</p>"
        "<div class=scroll><table><tr><th>setup</th><th>training (J)</th><th>J per 1,000 inputs</th><th>batch size</th>"
        f"<th>{life.queries:,} queries (J)</th><th>whole life (J)</th></tr>{rows}</table></div><ul>{crossings}</ul>"
    )
