"""The report's search section: the last live search's own cost beside the full grid's, and the
strategies simulated on the study's stored curves (figure: ``search.figure.search_figure``). The
simulations come worked out in the analysis (``Analysis.search``); this only draws and writes."""

from __future__ import annotations

from html import escape
from pathlib import Path

from powertrain.search.cost import grid_figure, picked_words, stopped_words


def search_figures(analysis, out: Path, titles: bool, drawn: dict) -> list[Path]:
    """The simulation figure of every study that has one, into ``drawn[("search", study)]``."""
    from powertrain.render import figures
    from powertrain.search.figure import search_figure

    written: list[Path] = []
    sections = [s for s in analysis.search if s.simulations]
    stems = figures.unique_stems([s.study for s in sections])
    for section, stem in zip(sections, stems, strict=True):
        fig = search_figure(list(section.simulations))
        if not titles:
            fig.axes[0].set_title("")
        paths = figures.save(fig, out, f"{stem}-search")
        written += list(paths.values())
        caption = (
            "Search simulated on the stored curves: energy spent (share of the full grid, "
            "confirmation included) against the pick's energy-to-target over the best's; a dot per "
            f"order ({section.simulations[0].repeats} orders), the median with its 10-90 % band"
        )
        drawn.setdefault(("search", section.study), []).append(
            figures.Figure(paths["png"], caption)
        )
    return written


def search_html(analysis, figures: dict, figure_html) -> list[str]:
    parts = []
    for section in analysis.search:
        parts.append(f"<h3>{escape(section.study)}</h3>")
        if section.live is not None:
            parts.append(_live_html(section.live))
        if section.simulations:
            parts.append(_simulation_table(section.simulations))
            parts += [figure_html(f) for f in figures.get(("search", section.study), [])]
        elif section.why_no_simulation:
            parts.append(f"<p class=note>No simulation: {escape(section.why_no_simulation)}.</p>")
    if parts:
        parts.insert(0, "<h2>Energy-aware search</h2>")
    return parts


def _live_html(live: dict) -> str:
    share = live.get("share")
    grid = (
        f"the full grid {escape(grid_figure(live['grid_basis'], live['grid_j']))}, so the search spent "
        f"{'at most ' if live['grid_basis'] == 'at least' else ''}{share:.0%} of it"
        if live.get("grid_j")
        else "the full grid's energy unknown"
    )
    pick = picked_words(
        live.get("pick"),
        live.get("confirmed"),
        tuple(live.get("tied") or ()),
        live.get("confirmed_seeds"),
    )
    return (
        f"<p><b>Live search ({escape(live['strategy'])})</b> "
        f"[{escape(live['method'])}]: picked {escape(pick)}. "
        f"It started {live['runs_started']} runs "
        f"({escape(stopped_words(live['runs_stopped'], live.get('runs_paused') or 0))}) and spent {live['spent_j']:,.3g} J, attempts re-run from "
        f"scratch included ({live['superseded_j']:,.3g} J); {grid} "
        f"({escape(live['grid_note'])}).{_carried(live)}</p>"
        + "".join(f"<p class=note>{escape(note)}</p>" for note in live.get("notes") or ())
    )


def _carried(live: dict) -> str:
    """What runs the search took on from an earlier search's pauses had spent then (not counted)."""
    carried_j = live.get("carried_j") or 0.0  # a ledger from before it was kept has none
    if not carried_j:
        return ""
    return (
        f" It took on runs an earlier search had paused ({carried_j:,.3g} J spent then,"
        " not counted)."
    )


def _rate(share: float | None) -> str:
    """A share of orders; "n/a" where there is no best to rate a pick against."""
    return "n/a" if share is None else f"{share:.0%}"


def _simulation_table(simulations) -> str:
    first = simulations[0]
    rows = "".join(
        f"<tr><td class=text>{escape(s.strategy)}</td><td>{m['share_median']:.1%}</td>"
        f"<td>{m['share_p90']:.1%}</td><td>{_rate(m['within_10pct'])}</td>"
        f"<td>{_rate(m['within_10pct_at_most_tenth'])}</td><td>{_rate(m['named_worse'])}</td>"
        f"<td class=text>{'in-sample' if s.in_sample else 'out-of-sample'}</td></tr>"
        for s in simulations
        for m in [s.summary()]
    )
    notes = dict.fromkeys(n for s in simulations if (n := s.priced_note()))
    priced_note = "".join(f" {escape(n[0].upper() + n[1:])}." for n in notes)
    return (
        f"<p>Strategies simulated on the stored curves of {escape(first.machine)} "
        f"[{escape(first.method)}], {first.repeats} random orders each, nothing trained: full grid "
        f"{first.grid_energy_j:,.1f} J, best {escape(first.best or 'none')}.{priced_note} "
        "A row marked in-sample: the strategy's settings were chosen on this study, so its figures "
        "flatter it."
        "</p><div class=scroll><table><tr><th>strategy</th>"
        "<th>share of the grid's energy, median</th><th>90th percentile</th>"
        "<th>pick within 10 % of the best</th><th>within 10 % and at most 10 % of the grid</th>"
        "<th>pick over 10 % worse, not said within noise</th>"
        "<th>sample</th></tr>"
        + rows
        + "</table></div>"
        + "".join(f"<p class=note>{escape(line)}</p>" for line in first.warnings)
    )
