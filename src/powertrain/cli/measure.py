"""Commands that measure this machine: meters, measure (a command, to its end or to a target), idle."""

from __future__ import annotations

import json
import sys

import click

from powertrain.cli.options import db_option, detect, echo_json, json_option, meter_options
from powertrain.cli.trackers import metrics_address, metrics_endpoint, metrics_options
from powertrain.cli_params import SECONDS, OutputFile
from powertrain.errors import PowertrainError


@click.command()
@json_option("the meters, their methods and why others are unavailable")
@meter_options
def meters(as_json: bool, meters, replay_trace, cpu_tdp_w) -> None:
    """Show which meter measures each component, how, and why the others are unavailable."""
    detection = detect(meters, replay_trace, cpu_tdp_w)
    try:
        if as_json:
            echo_json(detection)
            return
        from powertrain.console import print_detection

        print_detection(detection)
    finally:
        detection.close()


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
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
@meter_options
@metrics_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def measure(
    as_json,
    interval_s,
    trace_path,
    target,
    let_finish,
    meters,
    replay_trace,
    cpu_tdp_w,
    metrics_port,
    metrics_addr,
    command,
) -> None:
    """Run COMMAND and report its energy per component. Exits with COMMAND's own code.

    Example: powertrain measure -- python train.py --epochs 3
    """
    from powertrain.measure import measure_command

    metrics_addr = metrics_address(metrics_port, metrics_addr)
    if not command:
        raise PowertrainError(
            "no command to measure; usage: powertrain measure [OPTIONS] -- CMD [ARGS...]"
        )
    _exit_if_not_runnable(command[0])
    detection = detect(meters, replay_trace, cpu_tdp_w).require()
    with metrics_endpoint(metrics_port, metrics_addr) as endpoint:
        options = {"interval_s": interval_s, "trace_path": trace_path, "metrics": endpoint}
        if target is not None or let_finish:
            _measure_to_target(as_json, target, let_finish, detection, command, options)
        result = measure_command(list(command), detection, **options)
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


def _measure_to_target(as_json, target, let_finish, detection, command, options):
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
            **options,
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
        click.echo(f"powertrain: error: {program}: not an executable file", err=True)
        sys.exit(126)
    click.echo(f"powertrain: error: command not found: {program}", err=True)
    sys.exit(127)


@click.command()
@click.option(
    "--seconds", type=SECONDS, default=10.0, show_default=True, help="How long to measure."
)
@db_option
@meter_options
def idle(seconds, db_path, meters, replay_trace, cpu_tdp_w) -> None:
    """Measure this machine's idle power and keep it, so reports can show dynamic (above idle) energy."""
    from powertrain.analysis.idle import measure_idle, save_idle
    from powertrain.store import open_store

    detection = detect(meters, replay_trace, cpu_tdp_w).require()
    baseline = measure_idle(detection.meters, seconds)
    with open_store(db_path) as store:
        save_idle(store, baseline)
    for c, w in baseline.power_w.items():
        click.echo(f"{c}: {w:.2f} W idle [{baseline.labels[c]}]")
    for fault in baseline.faults:
        click.echo(f"note: {fault}", err=True)
    click.echo(f"saved as the idle baseline of {baseline.host}")


COMMANDS = (meters, measure, idle)
