"""Options and helpers shared by several commands: the store, the meters, JSON output, verbosity."""

from __future__ import annotations

import json

import click

from powertrain.cli_params import WATTS, StorePath

db_option = click.option(
    "--db",
    "db_path",
    type=StorePath(),
    default=None,
    help="Results store: a file (SQLite) or postgresql://user@host:port/dbname "
    "(default: $POWERTRAIN_DB, else runs/powertrain.db).",
)


def json_option(what: str):
    """``--json``, the same on every command: ``what`` as one strict JSON document on stdout."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help=f"Print {what} as one JSON document on stdout (NaN as null; other words on stderr).",
    )


def meter_options(fn):
    """--meter, --replay and --cpu-tdp-w: which meters measure, for the commands that measure."""
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


def detect(meters, replay_trace, cpu_tdp_w):
    """The meters that ``meter_options`` asked for."""
    from powertrain.meters.detect import detect_meters

    backends = list(meters) or None
    if replay_trace and backends is None:
        backends = ["replay"]
    return detect_meters(backends, trace=replay_trace, cpu_tdp_w=cpu_tdp_w)


def verbosity() -> int:
    """-v minus -q, as the group was given them (0 when called outside a command)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return (obj or {}).get("verbosity", 0)


def echo_json(value) -> None:
    """What ``--json`` prints, the same way on every command: one strict JSON document on stdout
    (indented; other words go to stderr), built as summary.json is (``analysis.serial.jsonable``:
    objects through their ``to_dict``, a NaN or infinity as null, never as the non-JSON ``NaN``)."""
    from powertrain.analysis.serial import jsonable

    click.echo(json.dumps(jsonable(value), indent=2, allow_nan=False))
