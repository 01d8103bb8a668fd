"""Commands about studies: init (a study file to start from), run, ls, headline."""

from __future__ import annotations

import logging

import click

from powertrain.cli.options import db_option, echo_json, json_option, verbosity
from powertrain.cli.trackers import log_to_option, metrics_address, metrics_options, observing
from powertrain.cli_params import POSITIVE_COUNT, Number
from powertrain.errors import PowertrainError

COUNT_OR_FRACTION = Number("", minimum=0, maximum=1e6)  # Ray's resources: 0.5 GPU is a share
log = logging.getLogger(__name__)


class _RunCommand(click.Command):
    """``run --help`` ends with the data sets, models and grid keys there are, looked up only then."""

    def format_epilog(self, ctx, formatter) -> None:
        from powertrain.starter import catalogue

        with formatter.section("What a study file can use"):
            for paragraph in catalogue().split("\n\n"):
                formatter.write_paragraph()
                formatter.write_text(paragraph)


@click.command(cls=_RunCommand)
@click.argument("study_file", type=click.Path())
@db_option
@click.option("--retry-failed", is_flag=True, help="Run again the runs that failed.")
@click.option(
    "--allow-changed",
    is_flag=True,
    help="The study file was edited since its runs were stored: run it as a new version, NAME@2, "
    "kept apart from the old runs (without it, a changed study is refused).",
)
@click.option(
    "--strategy",
    default=None,
    metavar="NAME",
    help="What decides the runs: grid (every run), auto (recommended for a search), zeus, bound, "
    "halving, thompson or optuna "
    "(default: the study's search:, else grid). The search's cost is printed at the end.",
)
@click.option("--workers", type=POSITIVE_COUNT, help="Runs at once here (default: the study's).")
@click.option(
    "--shard",
    help="i/N: run only the i-th of N shares of the study (0-based); auto: this SLURM array task's "
    "share (no shard is needed with a shared postgresql:// store).",
)
@click.option("--executor", default="local", help="local (default) or ray.")
@click.option("--address", help="With --executor ray: the cluster (auto: the one running here).")
@click.option(
    "--gpus-per-run",
    type=COUNT_OR_FRACTION,
    help="GPUs per run (Ray; or each worker's own, with --workers).",
)
@click.option(
    "--cpus-per-run",
    type=COUNT_OR_FRACTION,
    help="CPUs per run (Ray; or each worker's threads, with --workers).",
)
@log_to_option
@metrics_options
@json_option("at the end, what ran and the headlines")
def run(
    study_file: str,
    db_path: str | None,
    retry_failed: bool,
    allow_changed: bool,
    strategy: str | None,
    shard: str | None,
    as_json: bool,
    log_to: tuple[str, ...],
    metrics_port: int | None,
    metrics_addr: str | None,
    **parallel,
) -> None:
    """Run every (setup, seed) of STUDY_FILE to its target, into the results store.

    Running it again resumes: finished runs are skipped, an interrupted one is run afresh."""
    metrics_addr = metrics_address(metrics_port, metrics_addr)
    from powertrain.analysis.headline import study_headlines
    from powertrain.meters.base import measurement_label
    from powertrain.meters.detect import detect_meters
    from powertrain.progress import ProgressReporter
    from powertrain.search.run import run_with_search
    from powertrain.store import locate, open_store
    from powertrain.study.config import load_study
    from powertrain.study.executors import make_executor
    from powertrain.study.plan import parse_shard

    study = load_study(study_file)
    detection = detect_meters(study.meters.backends, cpu_tdp_w=study.meters.cpu_tdp_w).require()
    method = measurement_label(
        {c.value: m.provenance.to_dict() for c, m in detection.meters.items()}
    )
    db = str(locate(db_path))  # a URL's password masked: what may be printed
    log.debug("meters: %s; store: %s", method, db)
    reporter = ProgressReporter(method=method) if verbosity() >= 0 else None
    executor = make_executor(study, detection=detection, **parallel)
    with (
        open_store(db_path) as store,
        observing(study.log_to, log_to, metrics_port, metrics_addr) as observe,
    ):
        try:
            result, cost = run_with_search(
                study,
                observe(store),
                strategy=strategy,
                reporter=reporter,
                retry_failed=retry_failed,
                detection=detection,
                allow_changed=allow_changed,
                executor=executor,
                shard=parse_shard(shard) if shard else None,
            )
        finally:
            if reporter is not None:
                reporter.close()
            detection.close()
        headlines = study_headlines(store, result.study)
    _print_result(result, cost, headlines, db, as_json)


def _print_result(result, cost, headlines, db: str, as_json: bool) -> None:
    """What ``run`` says at the end: the summary and headline, a search's own cost, the machine's
    total beside the runs' apportioned parts; with --json, all of it as one document."""
    from powertrain.progress import print_run_summary

    print_run_summary(headlines, result.ran, result.skipped, db, result.study)
    if cost is not None:
        click.echo("\n".join(cost.lines()), err=True)
    machine = getattr(result, "machine_total", None)
    if machine is not None:
        from powertrain.study.executors.machine import describe_sweep

        click.echo(describe_sweep(result), err=True)
    if as_json:
        summary = {"study": result.study, "db": db, "ran": result.ran, "skipped": result.skipped}
        summary["machine_total"] = machine.to_dict() if machine is not None else None
        search = cost.to_dict() if cost is not None else None
        echo_json({**summary, "changes": result.changes, "search": search, "headlines": headlines})


@click.command()
@click.argument("path", type=click.Path(), default="study.yaml")
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented study file to start from (default study.yaml); it runs as it is."""
    from powertrain.starter import write_study_template

    written = write_study_template(path, force=force)
    click.echo(f"wrote {written}; run it with: powertrain run {written}")


@click.command()
@db_option
@click.option("--study", "study_name", default=None, help="Only this study (default: all).")
@json_option("the headlines")
def headline(db_path: str | None, study_name: str | None, as_json: bool) -> None:
    """The line a study comes down to: best setup, its energy to target, the worst, the ratio."""
    from powertrain.analysis.headline import study_headlines
    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        lines = study_headlines(store, study_name)
    if not lines:
        raise PowertrainError(
            "no finished runs" + (f" of study {study_name!r}" if study_name else "")
        )
    if as_json:
        echo_json(lines)
        return
    for h in lines:
        click.echo(f"{h.title}: {h.text}")


@click.command(name="ls")
@db_option
@click.option("--study", "study_name", default=None, help="Only this study.")
@json_option("the runs")
def list_runs(db_path: str | None, study_name: str | None, as_json: bool) -> None:
    """List studies and their runs: status, setup, energy-to-target and how it was measured, accuracy."""
    from dataclasses import asdict

    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        runs = store.runs(study_name)
        if (
            study_name is not None
            and not runs
            and study_name not in {s["name"] for s in store.studies()}
        ):
            raise PowertrainError(f"no study named {study_name!r} in the store")
    if as_json:
        echo_json([{**asdict(r), "estimated": r.estimated, "method": r.method_label} for r in runs])
        return
    from powertrain.console import print_runs

    print_runs(runs)


COMMANDS = (run, init, headline, list_runs)
