"""The report's context: each study's settings, each machine with its software and how each meter got
its figures, every run and why it stopped, and the files written beside the report."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from powertrain.analysis.analyse import Analysis
from powertrain.analysis.context import RunInfo


def _value(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def _pairs(items: dict[str, Any]) -> str:
    return "".join(
        f"<tr><th>{escape(str(k))}</th><td class=text>{_value(v)}</td></tr>"
        for k, v in items.items()
        if v not in (None, {}, [])  # a setting left at its default says nothing
    )


def settings_html(analysis: Analysis) -> str:
    parts = ["<h2>What was run</h2>"]
    for s in analysis.studies:
        rows = {
            "grid": s.grid,
            "seeds": list(s.seeds),
            "target validation accuracy": s.target_accuracy,
            "limits (a run stops at the first)": s.limits,
            "data and model": s.data,
            "hyperparameters the grid keeps fixed": s.fixed_hyperparameters,
            "device": s.device,
            "threads": s.threads,
        }
        description = f"<p>{escape(s.description)}</p>" if s.description else ""
        parts.append(
            f"<h3>Study {escape(s.name)}</h3>{description}"
            f"<div class=scroll><table class=pairs>{_pairs(rows)}</table></div>"
        )
    return "".join(parts)


def environments_html(analysis: Analysis) -> str:
    parts = ["<h2>Machines, software and meters</h2>"]
    for env in analysis.environments:
        meters = "".join(
            f"<tr><td class=text>{escape(m.component)}</td><td class=text>{escape(m.meter)}/"
            f"{escape(m.method)}</td><td class=text>"
            f"{'<span class=estimate>estimated</span>' if m.estimated else 'measured'}</td>"
            f'<td class="text wide">{_details(m.details)}</td></tr>'
            for m in env.meters
        )
        parts.append(
            f"<h3>{escape(env.hardware)}</h3>"
            f"<div class=scroll><table class=pairs>{_pairs({**env.machine, **env.software})}</table></div>"
            "<div class=scroll><table><tr><th>component</th><th>meter/method</th><th>figure</th>"
            f"<th>how the meter got its figures</th></tr>{meters}</table></div>"
        )
    return "".join(parts)


def _details(details: dict[str, Any]) -> str:
    shown = {k: v for k, v in details.items() if k != "pid"}
    return "<br>".join(f"{escape(str(k))}: {_value(v)}" for k, v in shown.items())


FAULT_MARK = "&#9888;"  # the warning sign beside a figure that a fault touched


def fault_mark(count: int) -> str:
    """The marker beside a run or setup whose figures a fault touched (empty when none did)."""
    if not count:
        return ""
    return f" <span class=fault title='{count} faults in its figures'>{FAULT_MARK} {count}</span>"


def fault_lines(faults: tuple[str, ...] | list[str]) -> str:
    return "".join(f"<br><span class=fault>{FAULT_MARK} {escape(f)}</span>" for f in faults)


def runs_html(runs: list[RunInfo]) -> str:
    rows = "".join(
        f"<tr><td>{r.id}</td><td class=text>{escape(' '.join(f'{k}={v}' for k, v in r.setup.items()))}</td>"
        f"<td>{r.seed}</td><td class=text>{escape(r.status)}{fault_mark(len(r.faults))}</td>"
        f"<td class=text>{escape(': '.join(filter(None, (r.why, r.stop_reason))))}"
        f"{(' (' + escape(r.error) + ')') if r.error else ''}{fault_lines(r.faults)}</td>"
        f"<td>{'' if r.total_energy_j is None else f'{r.total_energy_j:,.1f}'}</td>"
        f"<td>{'' if r.energy_to_target_j is None else f'{r.energy_to_target_j:,.1f}'}</td>"
        f"<td>{'' if r.duration_s is None else f'{r.duration_s:,.1f}'}</td></tr>"
        for r in runs
    )
    faulty = sum(1 for r in runs if r.faults)
    noted = f"; {faulty} with faults in their figures ({FAULT_MARK})" if faulty else ""
    return (
        f"<details{' open' if faulty else ''}><summary>Every run ({len(runs)}) and why it stopped"
        f"{noted}</summary>"
        "<div class=scroll><table><tr><th>run</th><th>setup</th><th>seed</th><th>status</th>"
        "<th>why it stopped</th><th>energy spent (J)</th><th>energy to target (J)</th>"
        f"<th>duration (s)</th></tr>{rows}</table></div></details>"
    )


def _node_method(node: dict, component: str) -> str:
    """A node's method for ``component``, marked ESTIMATE where the node's figure was one."""
    method = node["method"].get(component, "?")
    return f"ESTIMATE: {method}" if (node.get("estimated") or {}).get(component) else method


def nodes_html(runs: list[RunInfo]) -> str:
    """The distributed runs' figures per node: who read each component, and how they add up."""
    rows = "".join(
        f"<tr><td>{r.id}</td><td>{n['node']}</td><td class=text>{escape(str(n['host']))}</td>"
        f"<td class=text>{escape(', '.join(map(str, n['ranks'])))}</td>"
        f"<td class=text>{escape(', '.join(n['gpus'])) or '-'}</td><td class=text>"
        + "<br>".join(
            escape(f"{c} {j:,.1f} J ({_node_method(n, c)}; {n['read_by'].get(c, '')})")
            for c, j in n["energy_j"].items()
        )
        + "</td></tr>"
        for r in runs
        for n in r.nodes
    )
    if not rows:
        return ""
    return (
        "<details><summary>Distributed runs, per node</summary><p class=note>A run of several "
        "processes is one run: per node, device-wide counters (GPUs by UUID, RAPL) are taken from one "
        "process, process estimates are summed over its ranks, and the run's figure is the sum over "
        "nodes.</p><div class=scroll><table><tr><th>run</th><th>node</th><th>host</th><th>ranks</th>"
        f"<th>GPUs</th><th>energy per component</th></tr>{rows}</table></div></details>"
    )


def files_html(files: list[str]) -> str:
    links = "".join(f'<li><a href="{escape(f)}">{escape(f)}</a></li>' for f in files)
    return (
        "<h2>Files beside this report</h2><p class=note>summary.json is the whole analysis; runs.csv has "
        "one row per run and points.csv one per evaluation, one column per hyperparameter. Each figure "
        f"is there as PNG (300 dpi), PDF and SVG with editable text.</p><ul class=files>{links}</ul>"
    )
