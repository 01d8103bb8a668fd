"""The report as one self-contained HTML file: figures embedded as data URIs, so it opens from disk
with no network. Every string a user chose (study names, setups, hosts) is escaped."""

from __future__ import annotations

import base64
from html import escape

from powertrain import __version__
from powertrain.analysis.analyse import Analysis
from powertrain.analysis.summary import GroupSummary, SetupSummary
from powertrain.render import context, sections
from powertrain.render.machines import carbon_html, machines_html
from powertrain.render.search import search_html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; max-width: 1100px; padding: 0 0.8em;
  color: #222; overflow-wrap: break-word; }
.scroll { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.text { text-align: left; } table.pairs th { text-align: left; }
.estimate { color: #9a3412; font-weight: bold; } .note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.best { background: #fff1e6; font-weight: bold; } .censored { background: #f5f5f4; }
ul.files { columns: 2 16em; } td.wide { min-width: 16em; } .fault { color: #b45309; }
"""

# Counts the figures that loaded; a figure that fails to load is reported on the console.
CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.setAttribute('data-figures-loaded', loaded.length + '/' + images.length);
  // How far the page is wider than the window (0: nothing overflows sideways).
  var root = document.documentElement;
  document.body.setAttribute('data-overflow-px', Math.max(0, root.scrollWidth - root.clientWidth));
  document.body.setAttribute('data-viewport-px', root.clientWidth);
  images.forEach(function (img) {
    if (!(img.complete && img.naturalWidth > 0)) { console.error('figure failed to load: ' + img.alt); }
  });
});
"""


def _num(value: float | None, digits: int = 1, prefix: str = "") -> str:
    return "" if value is None else f"{prefix}{value:,.{digits}f}"


def _figure(figure) -> str:
    path, caption = figure.path, figure.caption
    data = base64.b64encode(path.read_bytes()).decode()
    also = ", ".join(
        f'<a href="{escape(p.name)}">{escape(p.name)}</a>'
        for p in (path.with_suffix(".pdf"), path.with_suffix(".svg"))
    )
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption class=note>{escape(caption)} (also {also})</figcaption></figure>"
    )


def _interval_cell(s: SetupSummary) -> str:
    if s.energy_to_target_j is not None:
        return sections.interval(s.energy_to_target_j)
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
        elif s.differs_significantly_from_best is None:
            significance = "" if s.energy_to_target_j is None else "one seed: no interval"
        else:
            significance = "yes" if s.differs_significantly_from_best else "no (intervals overlap)"
        css = "best" if s is g.best else ("censored" if s.reached < s.seeds else "")
        rows.append(
            f"<tr class={css}><td class=text>{escape(s.label)}{context.fault_mark(len(s.faults))}"
            f"{context.fault_lines(s.faults)}</td><td>{s.reached}/{s.seeds}</td>"
            f"<td>{_interval_cell(s)}</td><td>{ratio}</td><td class=text>{significance}</td>"
            f"<td>{_num(s.time_to_target_s.mean if s.time_to_target_s else None)}</td>"
            f"<td>{_num(s.test_accuracy.mean if s.test_accuracy else None, 3)}</td>"
            f"<td>{_num(s.total_energy_j.mean)}</td>"
            f"<td class=text>{escape(', '.join(f'{c} {v:,.1f}' for c, v in s.energy_by_component_j.items()))}</td>"
            f"<td>{'yes' if s.on_pareto_front else ''}</td></tr>"
        )
    return (
        "<div class=scroll><table><tr><th>setup</th><th>seeds reached</th><th>energy to target (J), mean [95% interval]</th>"
        "<th>waste ratio</th><th>differs from best?</th><th>time to target (s)</th><th>test accuracy</th>"
        "<th>energy spent per run (J)</th><th>by component (J)</th><th>Pareto</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def render(analysis: Analysis, figures: dict, title: str, files: list[str]) -> str:
    """The page: what was run and on what, then each group's answer, the paradigms, machines, carbon."""
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p class=note>powertrain {escape(__version__)}. Every energy figure states how it was obtained; "
        "estimates are marked <span class=estimate>ESTIMATE</span>. "
        f"{escape(analysis.intervals)}</p>",
        context.settings_html(analysis),
        context.environments_html(analysis),
    ]
    for k, g in enumerate(analysis.groups):
        body += _group_html(g)
        body.append(context.runs_html(analysis.runs_of(g)))
        body.append(context.nodes_html(analysis.runs_of(g)))
        body += [_figure(f) for f in figures.get(k, [])]
    body += _paradigm_html(analysis, figures)
    body += machines_html(analysis.machines)
    body += search_html(analysis, figures, _figure)
    if analysis.carbon is not None:
        body.append(carbon_html(analysis.carbon))
    body.append(context.files_html(files))
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def _paradigm_html(analysis: Analysis, figures: dict) -> list[str]:
    parts = [sections.life_html(life) for life in analysis.inference]
    for t in analysis.transfer:
        parts.append(sections.transfer_html(t))
        parts += [_figure(f) for f in figures.get(("transfer", t.study, t.hardware), [])]
    parts += [sections.multitask_html(m) for m in analysis.multitask]
    if parts:
        parts.insert(0, "<h2>Learning paradigms across the model's life</h2>")
    return parts


def _group_html(g: GroupSummary) -> list[str]:
    how = (
        f"<span class=estimate>{escape(g.energy_method)}</span>"
        if g.estimated
        else escape(g.energy_method)
    )
    task = g.task
    body = [f"<h2>{escape(g.title)}</h2>"]
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
        body.append(f"<p>{_headline(g)} {sweep}</p>")
    body.append(
        "<p class=note>Energy to target is the cumulative energy at the first evaluation that reached the "
        "target, evaluations included. A setup where some seed never reached the target gets no mean: it "
        "shows a lower bound (those seeds count with the energy they spent). Two setups whose 95% "
        "intervals overlap are not significantly different.</p>"
    )
    body.append(_setup_table(g))
    return body


def _headline(g: GroupSummary) -> str:
    best = f"<b>Best setup:</b> {escape(g.best.label)}, {sections.interval(g.best.energy_to_target_j)} J to the target."
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
    return best
