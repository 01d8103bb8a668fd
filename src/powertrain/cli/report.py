"""Commands that read the store: report, compare, carbon."""

from __future__ import annotations

import click

from powertrain.cli.options import db_option, echo_json, json_option
from powertrain.cli_params import COUNT, FRACTION, G_PER_KWH, YEARS, Pue
from powertrain.errors import PowertrainError


def _carbon_options(fn):
    fn = click.option(
        "--source",
        default=None,
        metavar="NAME:ARGUMENT",
        help="A carbon source by name (region:DE, constant:250, csv:FILE, or one a package adds).",
    )(fn)
    fn = click.option(
        "--region", default=None, help="Grid carbon intensity of a country or cloud region."
    )(fn)
    fn = click.option(
        "--intensity", type=G_PER_KWH, default=None, help="Your own figure, g CO2e per kWh."
    )(fn)
    fn = click.option(
        "--intensity-csv",
        type=click.Path(),
        default=None,
        help="A time series: CSV with columns timestamp,g_per_kwh.",
    )(fn)
    fn = click.option(
        "--pue",
        type=Pue(),
        default=None,
        help="A number >= 1, or devices (default, 1.0), hyperscale, average.",
    )(fn)
    fn = click.option(
        "--lifetime-years",
        type=YEARS,
        default=None,
        help="Service life over which manufacturing emissions are spread (default 4).",
    )(fn)
    fn = click.option(
        "--hardware-share",
        type=FRACTION,
        default=None,
        help="Part of the machine charged with its manufacturing (a VM: its vCPUs / the host's threads).",
    )(fn)
    return fn


def _intensity(
    region: str | None, intensity: float | None, intensity_csv: str | None, source: str | None
):
    """The one carbon source the options name, through the registry of sources."""
    from powertrain.carbon.sources import intensity_from, parse_source

    given = [
        (name, value)
        for name, value in (("region", region), ("constant", intensity), ("csv", intensity_csv))
        if value is not None
    ] + ([parse_source(source)] if source is not None else [])
    if len(given) != 1:
        raise PowertrainError(
            "say where the electricity comes from, once: --region CODE (e.g. DE, aws:us-east-1), "
            "--intensity G_PER_KWH, --intensity-csv FILE or --source NAME:ARGUMENT (there is no "
            "silent default)"
        )
    ((name, value),) = given
    return intensity_from(name, str(value) if name == "constant" else value)


_SOURCE_OPTIONS = ("region", "intensity", "intensity_csv", "source")


def _carbon_settings(where: dict):
    """The carbon settings ``_carbon_options`` parsed: an intensity source, PUE, life, share."""
    from powertrain.analysis.footprints import CarbonSettings
    from powertrain.carbon.pue import resolve_pue

    return CarbonSettings(
        _intensity(*(where[k] for k in _SOURCE_OPTIONS)),
        *resolve_pue(where["pue"]),
        where["lifetime_years"],
        where["hardware_share"],
    )


@click.command()
@db_option
@click.option("--study", "study_name", default=None, help="Only this study (default: all).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),
    default="runs/report",
    show_default=True,
    help="Folder for report.html, the figures, summary.json, summary.csv, runs.csv and points.csv.",
)
@click.option(
    "--queries",
    type=COUNT,
    default=1_000_000,
    show_default=True,
    help="Inference queries over a model's life, for the whole-life section.",
)
@click.option("--no-titles", is_flag=True, help="Draw the figures without titles (for a paper).")
@json_option("the analysis (summary.json)")
@_carbon_options
def report(
    db_path,
    study_name,
    out_dir,
    queries,
    no_titles,
    as_json,
    **where,
) -> None:
    """Write the report: energy-to-target per setup, waste against the best, figures, JSON and CSV."""
    from powertrain.render.build import build_report
    from powertrain.store import existing_store

    named = any(where[k] is not None for k in _SOURCE_OPTIONS)
    carbon = _carbon_settings(where) if named else None
    with existing_store(db_path) as store:
        files = build_report(
            store, out_dir, study_name, queries=queries, carbon=carbon, titles=not no_titles
        )
    if as_json:
        click.echo(files.json.read_text(encoding="utf-8"))
        return
    from powertrain.analysis.headline import headline

    for g in files.groups:
        h = headline(g)
        click.echo(f"{h.title}: {h.text}")
    click.echo(f"report: {files.html}")


@click.command(name="compare")
@click.argument("first")
@click.argument("second", required=False)
@db_option
@json_option("the comparison")
def compare_cmd(first: str, second: str | None, db_path: str | None, as_json: bool) -> None:
    """Set two studies, or one study on two machines, side by side."""
    from powertrain.analysis.compare import compare
    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        result = compare(store, first, second)
    if as_json:
        echo_json(result)
        return
    from powertrain.console import print_comparison

    print_comparison(result)


@click.command()
@db_option
@click.option("--study", "study_name", default=None, help="Only this study.")
@json_option("each run's carbon and the settings used")
@click.option(
    "--list-regions", is_flag=True, help="List the bundled regions with their year and source."
)
@_carbon_options
def carbon(
    db_path,
    study_name,
    as_json,
    list_regions,
    **where,
):
    """Carbon of every stored run, recomputed from stored energy and timelines (nothing is rerun):
    operational (energy x PUE x grid intensity) plus embodied (manufacturing, amortised)."""
    if list_regions:
        from powertrain.carbon.intensity import regions

        for r in regions().values():
            click.echo(f"{r.code:<28} {r.g_per_kwh:>8.1f} g/kWh  {r.year}  {r.name}; {r.source}")
        return
    from powertrain.analysis.footprints import footprints
    from powertrain.store import existing_store

    settings = _carbon_settings(where)
    with existing_store(db_path) as store:
        summary = footprints(store, study_name, settings)
    if as_json:
        echo_json(summary.to_dict())
        return
    from powertrain.console import print_carbon

    print_carbon(list(summary.runs), summary.intensity, summary.pue, summary.pue_source)


COMMANDS = (report, compare_cmd, carbon)
