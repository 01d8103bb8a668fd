"""The command line: parses, calls the library, prints. Heavy modules are imported inside commands so
that ``powertrain --help`` answers at once."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys

import click

from powertrain import __version__
from powertrain.cli_params import (
    COUNT,
    FRACTION,
    G_PER_KWH,
    POSITIVE_COUNT,
    SECONDS,
    WATTS,
    YEARS,
    Number,
    OptionError,
    OutputFile,
    Pue,
    StorePath,
)
from powertrain.errors import PowertrainError

COUNT_OR_FRACTION = Number("", minimum=0, maximum=1e6)  # Ray's resources: 0.5 GPU is a share


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powertrain")
@click.option("-q", "--quiet", count=True, help="Less output: warnings, errors and results only.")
@click.option("-v", "--verbose", count=True, help="More output: debug log messages (-vv: more).")
@click.pass_context
def cli(ctx: click.Context, quiet: int, verbose: int) -> None:
    """Measure how the way a neural network is trained changes the energy it needs."""
    from powertrain.logs import configure_logging

    ctx.obj = {"verbosity": verbose - quiet}
    configure_logging(verbose - quiet)


def _verbosity() -> int:
    obj = click.get_current_context().find_root().obj
    return (obj or {}).get("verbosity", 0)


class _RunCommand(click.Command):
    """``run --help`` ends with the data sets, models and grid keys there are, looked up only then."""

    def format_epilog(self, ctx, formatter) -> None:
        from powertrain.starter import catalogue

        with formatter.section("What a study file can use"):
            for paragraph in catalogue().split("\n\n"):
                formatter.write_paragraph()
                formatter.write_text(paragraph)


_db_option = click.option(
    "--db",
    "db_path",
    type=StorePath(),
    default=None,
    help="Results store (default runs/powertrain.db).",
)


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
        type=WATTS,
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
    type=SECONDS,
    default=0.1,
    show_default=True,
    help="Sampling interval in seconds.",
)
@click.option(
    "--trace",
    "trace_path",
    type=OutputFile(),
    default=None,
    help="Write the power timeline to this trace file.",
)
@click.option(
    "--target",
    default=None,
    metavar="METRIC>=X",
    help="Stop at this reported value (val_acc>=0.9, val_loss<=0.3) and print the energy to it; "
    'the command reports with lines POWERTRAIN {"step": N, "val_acc": X}.',
)
@click.option("--let-finish", is_flag=True, help="With --target: let the command run to its end.")
@_meter_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def measure(
    as_json, interval_s, trace_path, target, let_finish, meters, replay_trace, cpu_tdp_w, command
) -> None:
    """Run COMMAND and report its energy per component. Exits with COMMAND's own code.

    Example: powertrain measure -- python train.py --epochs 3
    """
    from powertrain.measure import measure_command

    if not command:
        raise PowertrainError(
            "no command to measure; usage: powertrain measure [OPTIONS] -- CMD [ARGS...]"
        )
    _exit_if_not_runnable(command[0])
    detection = _detect(meters, replay_trace, cpu_tdp_w).require()
    if target is not None or let_finish:
        _measure_to_target(as_json, interval_s, trace_path, target, let_finish, detection, command)
    result = measure_command(list(command), detection, interval_s=interval_s, trace_path=trace_path)
    if as_json:
        click.echo(
            json.dumps({**result.measurement.to_dict(), "exit_code": result.exit_code}, default=str)
        )
    else:
        from powertrain.console import print_measurement

        print_measurement(result.measurement, file=sys.stderr)
        for fault in result.measurement.faults:  # what went wrong with these figures
            click.echo(f"note: {fault}", err=True)
    sys.exit(result.exit_code)


def _measure_to_target(as_json, interval_s, trace_path, target, let_finish, detection, command):
    from powertrain.measure import CommandNotFoundError, measure_to_target
    from powertrain.study.command_task import parse_target

    if target is None:
        raise PowertrainError("--let-finish needs --target METRIC>=X")
    try:
        result = measure_to_target(
            list(command),
            parse_target(target),
            detection,
            let_finish=let_finish,
            interval_s=interval_s,
            trace_path=trace_path,
        )
    except CommandNotFoundError as exc:
        click.echo(f"powertrain: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
    else:
        click.echo("\n".join(result.lines()), err=True)
    sys.exit(result.exit_code)


def _exit_if_not_runnable(program: str) -> None:
    """As a shell does: 127 when the command is not found, 126 when it is there but cannot run."""
    import shutil
    from pathlib import Path

    if shutil.which(program) is not None:
        return
    if "/" in program and Path(program).exists():
        click.echo(f"powertrain: {program}: not an executable file", err=True)
        sys.exit(126)
    click.echo(f"powertrain: command not found: {program}", err=True)
    sys.exit(127)


@cli.command(cls=_RunCommand)
@click.argument("study_file", type=click.Path())
@_db_option
@click.option("--retry-failed", is_flag=True, help="Run again the runs that failed.")
@click.option("--json", "as_json", is_flag=True, help="At the end, print one JSON object.")
@click.option("--workers", type=POSITIVE_COUNT, help="Runs at once here (default: the study's).")
@click.option("--shard", help="i/N: run only the i-th of N shares of the study (0-based).")
@click.option("--executor", default="local", help="local (default) or ray.")
@click.option("--address", help="With --executor ray: the cluster (auto: the one running here).")
@click.option("--gpus-per-run", type=COUNT_OR_FRACTION, help="With --executor ray: GPUs per run.")
@click.option("--cpus-per-run", type=COUNT_OR_FRACTION, help="With --executor ray: CPUs per run.")
def run(study_file, db_path, retry_failed, as_json, shard, **parallel) -> None:
    """Run every (setup, seed) of STUDY_FILE to its target, into the results store.

    Running it again resumes: finished runs are skipped, an interrupted one is run afresh."""
    from powertrain.analysis.headline import study_headlines
    from powertrain.console import ProgressReporter, print_run_summary
    from powertrain.meters.detect import detect_meters
    from powertrain.records import method_label
    from powertrain.store import DEFAULT_DB, open_store
    from powertrain.study.config import load_study
    from powertrain.study.runner import run_study

    study = load_study(study_file)
    detection = detect_meters(study.meters.backends, cpu_tdp_w=study.meters.cpu_tdp_w).require()
    method = method_label({c.value: m.provenance.to_dict() for c, m in detection.meters.items()})
    log = logging.getLogger("powertrain.cli")
    log.debug("meters: %s; store: %s", method, db_path or DEFAULT_DB)
    reporter = ProgressReporter(method=method) if _verbosity() >= 0 else None
    db = str(db_path or DEFAULT_DB)
    from powertrain.study.executors import make_executor
    from powertrain.study.plan import parse_shard

    executor = make_executor(study, detection=detection, **parallel)
    with open_store(db_path) as store:
        try:
            result = run_study(
                study,
                store,
                reporter=reporter,
                retry_failed=retry_failed,
                detection=detection,
                executor=executor,
                shard=parse_shard(shard) if shard else None,
            )
        finally:
            if reporter is not None:
                reporter.close()
            detection.close()
        headlines = study_headlines(store, study.name)
    print_run_summary(headlines, result.ran, result.skipped, db, study.name)
    if result.machine_total is not None:
        from powertrain.study.executors.machine import describe_sweep

        click.echo(describe_sweep(result))
    if as_json:
        summary = {"study": study.name, "db": db, "ran": result.ran, "skipped": result.skipped}
        summary["headlines"] = [h.to_dict() for h in headlines]
        if result.machine_total is not None:
            summary["machine_total"] = result.machine_total.to_dict()
        click.echo(json.dumps(summary, default=str))


@cli.command()
@click.argument("path", type=click.Path(), default="study.yaml")
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented study file to start from (default study.yaml); it runs as it is."""
    from powertrain.starter import write_study_template

    written = write_study_template(path, force=force)
    click.echo(f"wrote {written}; run it with: powertrain run {written}")


@cli.command()
@_db_option
@click.option("--study", "study_name", default=None, help="Only this study (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
        click.echo(json.dumps([h.to_dict() for h in lines], default=str))
        return
    for h in lines:
        click.echo(f"{h.title}: {h.text}")


@cli.command(name="ls")
@_db_option
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


def _intensity(region: str | None, intensity: float | None, intensity_csv: str | None):
    from powertrain.carbon.intensity import csv_intensity, region_intensity, user_intensity

    given = [x for x in (region, intensity, intensity_csv) if x is not None]
    if len(given) != 1:
        raise PowertrainError(
            "say where the electricity comes from, once: --region CODE (e.g. DE, aws:us-east-1), "
            "--intensity G_PER_KWH, or --intensity-csv FILE (there is no silent default)"
        )
    if region is not None:
        return region_intensity(region)
    if intensity is not None:
        return user_intensity(intensity)
    return csv_intensity(intensity_csv)


def _carbon_options(fn):
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


@cli.command()
@_db_option
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
@click.option("--json", "as_json", is_flag=True, help="Print the analysis (summary.json) as JSON.")
@_carbon_options
def report(
    db_path,
    study_name,
    out_dir,
    queries,
    no_titles,
    as_json,
    region,
    intensity,
    intensity_csv,
    pue,
    lifetime_years,
    hardware_share,
) -> None:
    """Write the report: energy-to-target per setup, waste against the best, figures, JSON and CSV."""
    from powertrain.render.build import build_report
    from powertrain.store import existing_store

    carbon = None
    if region is not None or intensity is not None or intensity_csv is not None:
        carbon = _carbon_settings(
            region, intensity, intensity_csv, pue, lifetime_years, hardware_share
        )
    with existing_store(db_path) as store:
        files = build_report(
            store, out_dir, study_name, queries=queries, carbon=carbon, titles=not no_titles
        )
    if as_json:
        click.echo(files.json.read_text(encoding="utf-8"))
        return
    for g in files.groups:
        click.echo(f"{g.title}: {_headline(g)} [{g.energy_method}]")
    click.echo(f"report: {files.html}")


def _headline(g) -> str:
    if g.best is None:
        return "no setup reached the target with every seed"
    e = g.best.energy_to_target_j
    spread = (
        "two seeds: interval wide"
        if e.wide
        else (f"95% {e.low:.1f}-{e.high:.1f}" if e.n > 1 else "one seed")
    )
    headline = f"best {g.best.label}: {e.mean:.1f} J to target ({spread})"
    if g.worst is not g.best:
        headline += f"; worst/best {g.waste_ratio_max:.2f}x"
    if g.waste_ratio_max_at_least and g.waste_ratio_max_at_least > (g.waste_ratio_max or 0):
        headline += f"; with censored setups >= {g.waste_ratio_max_at_least:.2f}x"
    return headline


def _carbon_settings(region, intensity, intensity_csv, pue, lifetime_years, hardware_share):
    from powertrain.analysis.footprints import CarbonSettings
    from powertrain.carbon.pue import resolve_pue

    return CarbonSettings(
        _intensity(region, intensity, intensity_csv),
        *resolve_pue(pue),
        lifetime_years,
        hardware_share,
    )


@cli.command(name="compare")
@click.argument("first")
@click.argument("second", required=False)
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare_cmd(first: str, second: str | None, db_path: str | None, as_json: bool) -> None:
    """Set two studies, or one study on two machines, side by side."""
    from powertrain.analysis.compare import compare
    from powertrain.store import existing_store

    with existing_store(db_path) as store:
        result = compare(store, first, second)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return
    from powertrain.console import print_comparison

    print_comparison(result)


@cli.command()
@click.option(
    "--study", "study_name", required=True, help="The study whose trained models to measure."
)
@_db_option
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
    "--inputs",
    type=POSITIVE_COUNT,
    default=1000,
    show_default=True,
    help="Inputs answered per batch size.",
)
@click.option(
    "--repeats",
    type=POSITIVE_COUNT,
    default=3,
    show_default=True,
    help="Measurements per batch size, for an interval.",
)
@_meter_options
def infer(
    study_name, db_path, run_ids, batch_sizes, inputs, repeats, meters, replay_trace, cpu_tdp_w
) -> None:
    """Measure trained models' inference energy per 1,000 inputs over a grid of batch sizes.

    Needs the study to have kept its models (save_models: true)."""
    from powertrain.console import print_inference
    from powertrain.inference.study import infer_study
    from powertrain.store import existing_store

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
            run_ids=list(run_ids) or None,
            batch_sizes=sizes,
            inputs=inputs,
            repeats=repeats,
        )
    print_inference(done)


@cli.command()
@_db_option
@click.option("--study", "study_name", default=None, help="Only this study.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--list-regions", is_flag=True, help="List the bundled regions with their year and source."
)
@_carbon_options
def carbon(
    db_path,
    study_name,
    as_json,
    list_regions,
    region,
    intensity,
    intensity_csv,
    pue,
    lifetime_years,
    hardware_share,
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

    settings = _carbon_settings(
        region, intensity, intensity_csv, pue, lifetime_years, hardware_share
    )
    with existing_store(db_path) as store:
        summary = footprints(store, study_name, settings)
    if as_json:
        _echo_json(summary.to_dict())
        return
    from powertrain.console import print_carbon

    print_carbon(list(summary.runs), summary.intensity, summary.pue, summary.pue_source)


def _echo_json(value) -> None:
    """Print JSON that is JSON: a NaN or infinity that got past the checks is an error, not output."""
    click.echo(json.dumps(value, indent=2, default=str, allow_nan=False))


@cli.command()
@click.option(
    "--seconds", type=SECONDS, default=10.0, show_default=True, help="How long to measure."
)
@_db_option
@_meter_options
def idle(seconds, db_path, meters, replay_trace, cpu_tdp_w) -> None:
    """Measure this machine's idle power and keep it, so reports can show dynamic (above idle) energy."""
    from powertrain.analysis.idle import measure_idle, save_idle
    from powertrain.store import open_store

    detection = _detect(meters, replay_trace, cpu_tdp_w).require()
    baseline = measure_idle(detection.meters, seconds)
    with open_store(db_path) as store:
        save_idle(store, baseline)
    for c, w in baseline.power_w.items():
        click.echo(f"{c}: {w:.2f} W idle [{baseline.labels[c]}]")
    for fault in baseline.faults:
        click.echo(f"note: {fault}", err=True)
    click.echo(f"saved as the idle baseline of {baseline.host}")


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=StorePath(),
    help="The combined store (created if missing).",
)
def merge(sources, output) -> None:
    """Combine results stores from several machines. Merging the same store twice adds nothing."""
    from powertrain.inputs import same_file
    from powertrain.store.merge import merge_stores

    for source in sources:
        if same_file(source, output):
            raise PowertrainError(
                f"{source} is the output store itself (the same file, or a link to it); "
                "name another output (-o)"
            )
    result = merge_stores(list(sources), output)
    click.echo(
        f"{result.runs} runs and {result.studies} studies added, {result.skipped} runs already there; "
        f"{output}"
    )


from powertrain.cli_search import register_search_commands  # noqa: E402

register_search_commands(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="powertrain", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("powertrain: interrupted", err=True)
        sys.exit(130)
    except OptionError as exc:  # a bad number or path: one line that names the option
        click.echo(f"powertrain: error: {exc.message}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PowertrainError as exc:
        click.echo(f"powertrain: error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    except (OSError, sqlite3.Error) as exc:  # a full or read-only disk, a forbidden folder
        from powertrain.inputs import file_system_error

        clear = file_system_error(exc)
        if clear is None:
            raise
        click.echo(f"powertrain: error: {clear}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
