"""Commands for energy-aware search: simulate (simulation a strategy), predict (backtest the prediction),
import (a CSV of evaluation points). Registered on the main group by ``register_search_commands``."""

from __future__ import annotations

import json

import click

from powertrain.cli.options import db_option as _db
from powertrain.cli_params import ACCURACY
from powertrain.errors import PowertrainError


def _settings(pairs: tuple[str, ...]) -> dict[str, float | str | None]:
    """``--set`` pairs: a number where the value reads as one, None for ``none`` (or ``null``, as a
    study file writes it: a setting that may be unset, such as auto's ``hedge``), else the text."""
    out: dict[str, float | str | None] = {}
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise PowertrainError(f"--set takes NAME=VALUE (e.g. beta=1.5), not {pair!r}")
        if name.strip() in given:  # the last one silently won
            raise PowertrainError(
                f"--set {name.strip()} given twice ({given[name.strip()]!r} and {value!r}); "
                "give it once"
            )
        given[name.strip()] = value
        try:
            out[name.strip()] = float(value)
        except ValueError:
            text = value.strip()
            out[name.strip()] = None if text.lower() in ("none", "null") else text
    return out


@click.command()
@click.option("--study", "study_name", required=True, help="A finished study in the store.")
@click.option(
    "--strategy",
    required=True,
    help="auto (recommended), grid, zeus, bound, halving, thompson or optuna.",
)
@click.option(
    "--repeats", type=int, default=200, show_default=True, help="Random orders simulated."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the orders.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="e.g. beta=1.5, eta=4, trials=30.",
)
@click.option(
    "--machine", default=None, help="Which machine's runs, when the study ran on several."
)
@_db
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def simulate(study_name, strategy, repeats, seed, settings, machine, db_path, as_json) -> None:
    """Simulate a search strategy on a finished study's stored curves, in many random orders: the
    energy it would have spent (with the 3-seed confirmation), and how good its pick is."""
    from powertrain.search.simulate import simulate as run_simulation
    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        sim = run_simulation(
            store,
            study_name,
            strategy,
            repeats=repeats,
            seed=seed,
            machine=machine,
            **_settings(settings),
        )
    if as_json:
        click.echo(json.dumps(sim.to_dict(), default=str))
        return
    click.echo(
        f"{sim.study} on {sim.machine} [{sim.method}], {sim.repeats} orders, seed {sim.seed}"
    )
    for line in _simulation_lines(sim):
        click.echo(line)
    click.echo(sim.sample_note())
    if sim.cost_axes:
        click.echo(sim.priced_note())
    for line in sim.warnings:
        click.echo(f"warning: {line}", err=True)


def _simulation_lines(sim) -> list[str]:
    """The grid, its best setup, and what the strategy spent and picked; with no best (no setup
    reached the target on every seed), no pick is rated against one."""
    s = sim.summary()
    spent = (
        f"{sim.strategy}: median {s['share_median']:.1%} of the grid's energy (90th percentile "
        f"{s['share_p90']:.1%})"
    )
    if sim.best is None:
        return [
            f"full grid: {sim.grid_energy_j:,.1f} J; {s['no_best']}",
            spent,
        ]
    return [
        f"full grid: {sim.grid_energy_j:,.1f} J; best: {sim.best} "
        f"({sim.best_energy_to_target_j:.1f} J to target)",
        f"{spent}; pick within 10 % of the best in {s['within_10pct']:.0%} of orders; "
        f"within 10 % for at most a tenth of the grid in {s['within_10pct_at_most_tenth']:.0%}",
        f"named a setup more than 10 % above the best as its pick, without saying it was within "
        f"noise of others, in {s['named_worse']:.0%} of orders",
    ]


@click.command()
@click.option("--study", "study_name", required=True, help="A finished study in the store.")
@click.option("--after-evals", "after_evals", multiple=True, help="K (repeatable), or 'quarter'.")
@click.option(
    "--target", type=ACCURACY, default=None, help="Target accuracy (default: the study's)."
)
@click.option(
    "--machine", default=None, help="Which machine's runs, when the study ran on several."
)
@_db
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def predict(study_name, after_evals, target, machine, db_path, as_json) -> None:
    """Backtest the energy-to-target prediction on a finished study: median absolute percentage error
    after K evaluations, for the fitted curves and for the linear rules, and censored runs flagged."""
    from powertrain.search.backtest import QUARTER, backtest
    from powertrain.store import existing_store

    ks = []
    for k in after_evals:
        if k == QUARTER:
            ks.append(k)
            continue
        try:
            ks.append(int(k))
        except ValueError:
            raise PowertrainError(
                f"--after-evals takes a whole number or 'quarter', not {k!r}"
            ) from None
    with existing_store(db_path) as store:
        result = backtest(store, study_name, ks or None, machine, target)
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
        return
    click.echo(f"{result.study} on {result.machine} [{result.method}], target {result.target:g}")
    for line in result.warnings:
        click.echo(f"warning: {line} (until then its twins calibrate each other)", err=True)
    for r in result.rows:
        click.echo(
            f"after {r['after_evals']} evals ({r['runs_predicted']} runs): MdAPE fit {_pct(r['mdape_fit'])}, "
            f"linear rule {_pct(r['mdape_linear_rule'])}, linear accuracy {_pct(r['mdape_linear_accuracy'])}; "
            f"censored runs flagged {_pct(r['censored_flagged'])} of {r['censored_runs']}, "
            f"reached runs flagged {_pct(r['reached_flagged'])}"
        )
        click.echo(
            f"  calibrated on the study's other runs alike ({r['curves_predicted']} distinct curves "
            f"predicted): MdAPE {_pct(r['mdape'])}, an 80 % interval "
            f"for {_pct(r['interval_stated'])} of runs (else: does not know), held "
            f"{_pct(r['interval_coverage'])}; predict_stop would stop {_pct(r['reached_stopped'])}"
            f" of the runs that reached the target and {_pct(r['censored_stopped'])} of those that"
            f" missed (fitted alone: {_pct(r['reached_stopped_fit'])} of those that reached)"
        )


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.0%}"


@click.command(name="import")
@click.argument("csv_file", type=click.Path())
@click.option("--study", "study_name", required=True, help="Name of the new study.")
@click.option("--target", type=float, required=True, help="Target validation accuracy (0-1].")
@click.option(
    "--cost-axis",
    "cost_axes",
    multiple=True,
    help="A setup column that changes the cost of a step, not what it learns (repeatable); "
    "searches price it instead of searching it.",
)
@_db
def import_cmd(csv_file, study_name, target, db_path, cost_axes) -> None:
    """Import evaluation points recorded elsewhere (CSV: seed, epoch or step, energy_j, val_accuracy;
    optional elapsed_s, machine, method; other columns are setup axes). All of it, or nothing."""
    from powertrain.search.importer import import_csv
    from powertrain.store import locate

    warn = lambda line: click.echo(f"warning: {line}", err=True)  # noqa: E731
    n = import_csv(csv_file, study_name, target, db_path, cost_axes, warn)
    click.echo(f"{n} runs imported as study {study_name!r} into {locate(db_path)}")


def register_search_commands(group: click.Group) -> None:
    for command in (simulate, predict, import_cmd):
        group.add_command(command)
