"""The command line: parses, calls the library, prints. Heavy modules are imported inside commands so
that ``powertrain --help`` answers at once."""

from __future__ import annotations

import json
import sys

import click

from powertrain import __version__
from powertrain.errors import PowertrainError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powertrain")
def cli() -> None:
    """Measure how the way a neural network is trained changes the energy it needs."""


def _meter_options(fn):
    fn = click.option(
        "--meter",
        "meters",
        multiple=True,
        metavar="NAME",
        help="Use only this backend: nvml, rapl, estimate, replay (repeatable).",
    )(fn)
    fn = click.option(
        "--replay",
        "replay_trace",
        type=click.Path(),
        default=None,
        help="Replay a recorded trace as the meter.",
    )(fn)
    fn = click.option(
        "--cpu-tdp-w",
        type=float,
        default=None,
        help="The CPU's TDP in watts, for the estimate (instead of the table).",
    )(fn)
    return fn


def _detect(meters, replay_trace, cpu_tdp_w):
    from powertrain.meters.detect import detect_meters

    backends = list(meters) or None
    if replay_trace and backends is None:
        backends = ["replay"]
    return detect_meters(backends, trace=replay_trace, cpu_tdp_w=cpu_tdp_w)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_meter_options
def meters(as_json: bool, meters, replay_trace, cpu_tdp_w) -> None:
    """Show which meter measures each component, how, and why the others are unavailable."""
    detection = _detect(meters, replay_trace, cpu_tdp_w)
    try:
        if as_json:
            click.echo(json.dumps(detection.to_dict(), indent=2, default=str))
            return
        from powertrain.console import print_detection

        print_detection(detection)
    finally:
        detection.close()


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object (last line)."
)
@click.option(
    "--interval",
    "interval_s",
    type=float,
    default=0.1,
    show_default=True,
    help="Sampling interval in seconds.",
)
@click.option(
    "--trace",
    "trace_path",
    type=click.Path(),
    default=None,
    help="Write the power timeline to this trace file.",
)
@_meter_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def measure(as_json, interval_s, trace_path, meters, replay_trace, cpu_tdp_w, command) -> None:
    """Run COMMAND and report its energy per component. Exits with COMMAND's own code.

    Example: powertrain measure -- python train.py --epochs 3
    """
    from powertrain.measure import measure_command

    if not command:
        raise PowertrainError(
            "no command to measure; usage: powertrain measure [OPTIONS] -- CMD [ARGS...]"
        )
    if interval_s <= 0:
        raise PowertrainError(f"--interval must be positive, got {interval_s}")
    detection = _detect(meters, replay_trace, cpu_tdp_w).require()
    result = measure_command(list(command), detection, interval_s=interval_s, trace_path=trace_path)
    if as_json:
        click.echo(
            json.dumps({**result.measurement.to_dict(), "exit_code": result.exit_code}, default=str)
        )
    else:
        from powertrain.console import print_measurement

        print_measurement(result.measurement, file=sys.stderr)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("study_file", type=click.Path())
@click.option(
    "--db",
    "db_path",
    type=click.Path(),
    default=None,
    help="Results store (default runs/powertrain.db).",
)
@click.option("--retry-failed", is_flag=True, help="Run again the runs that failed.")
def run(study_file: str, db_path: str | None, retry_failed: bool) -> None:
    """Run every (setup, seed) of STUDY_FILE to its target, into the results store.

    Running it again resumes: finished runs are skipped, an interrupted one is run afresh."""
    from powertrain.console import ProgressReporter
    from powertrain.store import DEFAULT_DB, open_store
    from powertrain.study.config import load_study
    from powertrain.study.runner import run_study

    study = load_study(study_file)
    reporter = ProgressReporter()
    with open_store(db_path) as store:
        try:
            result = run_study(
                study,
                store,
                reporter=reporter,
                retry_failed=retry_failed,
                artifacts_dir=artifacts_dir(db_path),
            )
        finally:
            reporter.close()
    click.echo(
        f"{result.ran} runs done, {result.skipped} already finished; results in {db_path or DEFAULT_DB}",
        err=True,
    )


@cli.command(name="ls")
@click.option(
    "--db",
    "db_path",
    type=click.Path(),
    default=None,
    help="Results store (default runs/powertrain.db).",
)
@click.option("--study", "study_name", default=None, help="Only this study.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
        click.echo(
            json.dumps(
                [{**asdict(r), "estimated": r.estimated, "method": r.method_label} for r in runs],
                indent=2,
                default=str,
            )
        )
        return
    from powertrain.console import print_runs

    print_runs(runs)


@cli.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(),
    default=None,
    help="Results store (default runs/powertrain.db).",
)
@click.option("--study", "study_name", default=None, help="Only this study (default: all).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),
    default="runs/report",
    show_default=True,
    help="Folder for report.html, the figures, summary.json and summary.csv.",
)
@click.option(
    "--queries",
    type=int,
    default=1_000_000,
    show_default=True,
    help="Inference queries over a model's life, for the whole-life section.",
)
def report(db_path: str | None, study_name: str | None, out_dir: str, queries: int) -> None:
    """Write the report: energy-to-target per setup, waste against the best, figures, JSON and CSV."""
    from powertrain.report.build import build_report
    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        if queries < 0:
            raise PowertrainError(f"--queries must not be negative, got {queries}")
        files = build_report(store, out_dir, study_name, queries=queries)
    for g in files.groups:
        if g.best is None:
            headline = "no setup reached the target with every seed"
        else:
            headline = f"best {g.best.label}: {g.best.energy_to_target_j.mean:.1f} J to target"
            if g.worst is not g.best:
                headline += f"; worst/best {g.waste_ratio_max:.2f}x"
            if g.waste_ratio_max_at_least and g.waste_ratio_max_at_least > (g.waste_ratio_max or 0):
                headline += f"; with censored setups >= {g.waste_ratio_max_at_least:.2f}x"
        click.echo(f"{g.study} on {g.hardware}: {headline} [{g.method}]")
    click.echo(f"report: {files.html}")


@cli.command(name="compare")
@click.argument("first")
@click.argument("second", required=False)
@click.option(
    "--db",
    "db_path",
    type=click.Path(),
    default=None,
    help="Results store (default runs/powertrain.db).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare_cmd(first: str, second: str | None, db_path: str | None, as_json: bool) -> None:
    """Set two studies, or one study on two machines, side by side."""
    from powertrain.analysis.compare import compare
    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        result = compare(store, first, second)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    from powertrain.console import print_comparison

    print_comparison(result)


def artifacts_dir(db_path: str | None):
    """Model files live beside the results store they belong to."""
    from pathlib import Path

    from powertrain.store import DEFAULT_DB

    return Path(db_path or DEFAULT_DB).parent / "artifacts"


@cli.command()
@click.option(
    "--study", "study_name", required=True, help="The study whose trained models to measure."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(),
    default=None,
    help="Results store (default runs/powertrain.db).",
)
@click.option(
    "--run",
    "run_ids",
    type=int,
    multiple=True,
    help="Only this run (repeatable); default one per setup.",
)
@click.option(
    "--batch-sizes", default="1,16,256", show_default=True, help="Comma-separated batch sizes."
)
@click.option(
    "--inputs", type=int, default=1000, show_default=True, help="Inputs answered per batch size."
)
@_meter_options
def infer(
    study_name, db_path, run_ids, batch_sizes, inputs, meters, replay_trace, cpu_tdp_w
) -> None:
    """Measure trained models' inference energy per 1,000 inputs over a grid of batch sizes.

    Needs the study to have kept its models (save_models: true)."""
    from powertrain.console import print_inference
    from powertrain.store import existing_store
    from powertrain.study.infer import infer_study

    try:
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
    except ValueError:
        raise PowertrainError(
            f"--batch-sizes takes whole numbers separated by commas, not {batch_sizes!r}"
        ) from None
    detection = _detect(meters, replay_trace, cpu_tdp_w).require()
    with existing_store(db_path) as store:
        done = infer_study(
            store,
            study_name,
            detection,
            artifacts_dir=artifacts_dir(db_path),
            run_ids=list(run_ids) or None,
            batch_sizes=sizes,
            inputs=inputs,
        )
    print_inference(done)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="powertrain", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("powertrain: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PowertrainError as exc:
        click.echo(f"powertrain: error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise


if __name__ == "__main__":
    main()
