"""Report sections for the same study on several machines, and for carbon (when the user names an
intensity: the report never assumes one). The figures come worked out in the analysis."""

from __future__ import annotations

from html import escape

from powertrain.analysis.footprints import CarbonSummary
from powertrain.analysis.machines import MachineComparison


def machines_html(comparisons: tuple[MachineComparison, ...]) -> list[str]:
    parts = []
    for c in comparisons:
        head = "".join(
            f"<th>{escape(m)}<br><span class=note>{escape(how)}</span></th>"
            for m, how in zip(c.machines, c.energy_methods, strict=True)
        )
        rows = "".join(
            f"<tr><td class=text>{escape(row.setup)}</td>"
            + "".join(
                f"<td>{row.energy_to_target_j[m]:,.1f}</td>"
                if m in row.energy_to_target_j
                else "<td>not reached</td>"
                for m in c.machines
            )
            + f"<td class=text>{escape(row.cheapest_machine or '')}</td></tr>"
            for row in c.setups
        )
        parts.append(
            f"<h3>{escape(c.study)} across machines: energy to target (J)</h3>"
            f"<div class=scroll><table><tr><th>setup</th>{head}<th>cheapest machine</th></tr>"
            f"{rows}</table></div>"
        )
    return parts


def carbon_html(carbon: CarbonSummary) -> str:
    rows = "".join(
        f"<tr><td class=text>{escape(t.study)}</td><td class=text>{escape(t.host)}</td><td>{t.runs}</td>"
        f"<td>{t.operational_g_co2e:,.3f}</td><td>{t.embodied_g_co2e:,.3f}</td>"
        f"<td>{t.total_g_co2e:,.3f}</td></tr>"
        for t in carbon.by_study_and_machine
    )
    return (
        f"<h2>Carbon</h2><p>Intensity: {escape(carbon.intensity)}. PUE {carbon.pue:g} "
        f"({escape(carbon.pue_source)}). Embodied: {escape(carbon.embodied)}.</p>"
        "<div class=scroll><table><tr><th>study</th><th>machine</th><th>runs</th>"
        "<th>operational (g CO2e)</th><th>embodied (g CO2e)</th><th>total (g CO2e)</th></tr>"
        f"{rows}</table></div>"
    )
