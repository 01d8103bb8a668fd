"""Report sections for the same study on several machines, and for carbon (when the user names an
intensity: the report never assumes one)."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from powertrain.analysis.summary import GroupSummary


def machines(groups: list[GroupSummary]) -> tuple[list[str], list[dict[str, Any]]]:
    """For each study run on two or more machines: energy-to-target per setup and machine, and the
    cheapest machine per setup."""
    by_study: dict[str, list[GroupSummary]] = defaultdict(list)
    for g in groups:  # the same study and task, on each machine
        by_study[g.study + (f" [{g.task_name}]" if g.task_name else "")].append(g)
    html, data = [], []
    for study, gs in by_study.items():
        if len(gs) < 2:
            continue
        labels = list(dict.fromkeys(s.label for g in gs for s in g.setups))
        rows, entries = [], []
        for label in labels:
            cells = {g.hardware: next((s for s in g.setups if s.label == label), None) for g in gs}
            values = {
                hw: s.energy_to_target_j.mean
                for hw, s in cells.items()
                if s and s.energy_to_target_j
            }
            cheapest = min(values, key=values.get) if values else None
            entries.append(
                {"setup": label, "energy_to_target_j": values, "cheapest_machine": cheapest}
            )
            tds = "".join(
                f"<td>{values[g.hardware]:,.1f}</td>"
                if g.hardware in values
                else "<td>not reached</td>"
                for g in gs
            )
            rows.append(
                f"<tr><td class=text>{escape(label)}</td>{tds}<td class=text>{escape(cheapest or '')}</td></tr>"
            )
        head = "".join(
            f"<th>{escape(g.hardware)}<br><span class=note>{escape(g.method)}</span></th>"
            for g in gs
        )
        html.append(
            f"<h3>{escape(study)} across machines: energy to target (J)</h3>"
            f"<table><tr><th>setup</th>{head}<th>cheapest machine</th></tr>{''.join(rows)}</table>"
        )
        data.append({"study": study, "machines": [g.hardware for g in gs], "setups": entries})
    return html, data


def carbon_section(
    footprints, intensity_label: str, pue: float, pue_source: str
) -> tuple[str, dict[str, Any]]:
    by_group: dict[tuple[str, str], list] = defaultdict(list)
    for f in footprints:
        by_group[(f.study, f.host)].append(f)
    rows = []
    data = []
    for (study, host), fs in by_group.items():
        operational = sum(f.operational_g for f in fs)
        embodied = sum(f.embodied.grams for f in fs)
        rows.append(
            f"<tr><td class=text>{escape(study)}</td><td class=text>{escape(host)}</td><td>{len(fs)}</td>"
            f"<td>{operational:,.3f}</td><td>{embodied:,.3f}</td><td>{operational + embodied:,.3f}</td></tr>"
        )
        data.append(
            {
                "study": study,
                "host": host,
                "runs": len(fs),
                "operational_g_co2e": operational,
                "embodied_g_co2e": embodied,
                "total_g_co2e": operational + embodied,
            }
        )
    embodied_note = escape(footprints[0].embodied.describe()) if footprints else ""
    html = (
        f"<h2>Carbon</h2><p>Intensity: {escape(intensity_label)}. PUE {pue:g} ({escape(pue_source)}). "
        f"Embodied: {embodied_note}.</p>"
        "<table><tr><th>study</th><th>machine</th><th>runs</th><th>operational (g CO2e)</th>"
        f"<th>embodied (g CO2e)</th><th>total (g CO2e)</th></tr>{''.join(rows)}</table>"
    )
    return html, {
        "intensity": intensity_label,
        "pue": pue,
        "pue_source": pue_source,
        "by_study_and_machine": data,
    }
