"""The report as one self-contained HTML file: figures embedded as data URIs, so it opens from disk
with no network. Every string a user chose (study names, setups, hosts) is escaped."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from powertrain import __version__
from powertrain.analysis.summary import GroupSummary, SetupSummary

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
.estimate { color: #9a3412; font-weight: bold; } .note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.best { background: #ecfdf5; } .censored { background: #fff7ed; }
"""

# Counts the figures that loaded; a figure that fails to load is reported on the console.
CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.setAttribute('data-figures-loaded', loaded.length + '/' + images.length);
  images.forEach(function (img) {
    if (!(img.complete && img.naturalWidth > 0)) { console.error('figure failed to load: ' + img.alt); }
  });
});
"""


def _num(value: float | None, digits: int = 1, prefix: str = "") -> str:
    return "" if value is None else f"{prefix}{value:,.{digits}f}"


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption class=note>{escape(caption)} (also {escape(path.with_suffix('.svg').name)})</figcaption></figure>"
    )


def _interval_cell(s: SetupSummary) -> str:
    if s.energy_to_target_j is not None:
        e = s.energy_to_target_j
        return f"{e.mean:,.1f} <span class=note>[{max(0.0, e.low):,.1f}, {e.high:,.1f}]</span>"
    if s.energy_to_target_at_least_j is not None:
        return f"&ge; {s.energy_to_target_at_least_j:,.1f} <span class=note>(censored seeds)</span>"
    return "never reached"


def _setup_table(g: GroupSummary) -> str:
    rows = []
    for s in sorted(
        g.setups, key=lambda s: s.waste_ratio or s.waste_ratio_at_least or float("inf")
    ):
        ratio = _num(s.waste_ratio, 2, "") or _num(s.waste_ratio_at_least, 2, "&ge; ")
        if s is g.best:
            significance = "best"
        elif s.differs_from_best is None:
            significance = "" if s.energy_to_target_j is None else "one seed: no interval"
        else:
            significance = "yes" if s.differs_from_best else "no (intervals overlap)"
        css = "best" if s is g.best else ("censored" if s.reached < s.seeds else "")
        rows.append(
            f"<tr class={css}><td class=text>{escape(s.label)}</td><td>{s.reached}/{s.seeds}</td>"
            f"<td>{_interval_cell(s)}</td><td>{ratio}</td><td class=text>{significance}</td>"
            f"<td>{_num(s.time_to_target_s.mean if s.time_to_target_s else None)}</td>"
            f"<td>{_num(s.test_accuracy.mean if s.test_accuracy else None, 3)}</td>"
            f"<td>{_num(s.total_energy_j.mean)}</td>"
            f"<td class=text>{escape(', '.join(f'{c} {v:,.1f}' for c, v in s.energy_by_component_j.items()))}</td>"
            f"<td>{'yes' if s.on_pareto_front else ''}</td></tr>"
        )
    return (
        "<table><tr><th>setup</th><th>seeds reached</th><th>energy to target (J), mean [95% interval]</th>"
        "<th>waste ratio</th><th>differs from best?</th><th>time to target (s)</th><th>test accuracy</th>"
        "<th>energy spent per run (J)</th><th>by component (J)</th><th>Pareto</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render(
    groups: list[GroupSummary],
    figures: dict[str, list[tuple[Path, str]]],
    title: str,
    sections: list[str] | None = None,
) -> str:
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p class=note>powertrain {escape(__version__)}. Every energy figure states how it was obtained; "
        "estimates are marked <span class=estimate>ESTIMATE</span>.</p>",
    ]
    for g in groups:
        how = f"<span class=estimate>{escape(g.method)}</span>" if g.estimated else escape(g.method)
        task = g.task
        body.append(f"<h2>{escape(g.title)}</h2>")
        body.append(
            f"<p>Task: {escape(str(task.get('dataset', '?')))} with {escape(str(task.get('model', '?')))}, "
            f"target validation accuracy {escape(str(task.get('target_accuracy', '?')))}. "
            f"{g.runs} runs ({escape(', '.join(f'{k} {v}' for k, v in g.statuses.items()))}). Energy: {how}.</p>"
        )
        sweep = f"The whole sweep spent {g.sweep_energy_j:,.0f} J"
        if g.sweep_dynamic_energy_j is not None:
            idle = ", ".join(f"{c} {w:.1f} W" for c, w in g.idle_power_w.items())
            sweep += f", {g.sweep_dynamic_energy_j:,.0f} J of it above the machine's idle power ({escape(idle)})"
        sweep += "."
        if g.best is None:
            body.append(
                "<p>No setup reached the target with every seed, so there is no best setup to compare "
                f"against. {sweep}</p>"
            )
        else:
            best = f"<b>Best setup:</b> {escape(g.best.label)}, {g.best.energy_to_target_j.mean:,.1f} J to the target."
            if g.worst is not g.best:
                best += (
                    f" <b>Worst setup that always reached it:</b> {escape(g.worst.label)}, "
                    f"<b>{g.waste_ratio_max:.2f}x</b> the best's energy."
                )
            else:
                best += " It is the only setup that reached the target with every seed."
            if g.waste_ratio_max_at_least and g.waste_ratio_max_at_least > (g.waste_ratio_max or 0):
                best += (
                    f" Counting the lower bounds of setups with censored seeds, the worst needed at least "
                    f"<b>{g.waste_ratio_max_at_least:.2f}x</b> the best's energy."
                )
            body.append(f"<p>{best} {sweep}</p>")
        body.append(
            "<p class=note>Energy to target is the cumulative energy at the first evaluation that reached the "
            "target, evaluations included. A setup where some seed never reached the target gets no mean: it "
            "shows a lower bound (those seeds count with the energy they spent). Two setups whose 95% "
            "intervals overlap are not significantly different.</p>"
        )
        body.append(_setup_table(g))
        for path, caption in figures.get(_key(g), []):
            body.append(_figure(path, caption))
    body.extend(sections or [])
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head><body>{''.join(body)}</body></html>"
    )


def _key(g: GroupSummary) -> str:
    return g.title
