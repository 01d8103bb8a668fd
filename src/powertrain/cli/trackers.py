"""Where users already look: ``--log-to`` and ``--metrics-port`` for the commands that measure, and
``powertrain export mlflow|tensorboard|wandb`` for studies already in a store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from powertrain.cli.options import db_option
from powertrain.cli_params import Number

PORT = Number("", minimum=0, maximum=65535, integer=True)
METRICS_ADDR = "127.0.0.1"


def metrics_options(fn):
    """``--metrics-port`` and ``--metrics-addr``: a Prometheus endpoint, never on by default."""
    fn = click.option(
        "--metrics-addr",
        default=None,
        metavar="ADDR",
        help=f"With --metrics-port: the address to listen on (default {METRICS_ADDR}; 0.0.0.0: "
        "every interface).",
    )(fn)
    return click.option(
        "--metrics-port",
        type=PORT,
        default=None,
        metavar="PORT",
        help="Serve Prometheus metrics (energy per component, power, progress) on this port "
        "while it runs, at http://ADDR:PORT/metrics.",
    )(fn)


def log_to_option(fn):
    return click.option(
        "--log-to",
        "log_to",
        multiple=True,
        metavar="TOOL",
        help="Also log each run to mlflow (MLFLOW_TRACKING_URI), tensorboard[:DIR] (default runs) "
        "or wandb (WANDB_PROJECT, WANDB_MODE); repeatable. The store stays the record.",
    )(fn)


def metrics_address(port: int | None, addr: str | None) -> str:
    """The address the endpoint listens on; an address without a port is refused (it ran the whole
    command with no endpoint, and said nothing)."""
    from powertrain.errors import PowertrainError

    if port is None and addr is not None:
        raise PowertrainError(
            f"--metrics-addr {addr}: the address of the metrics endpoint, which only "
            "--metrics-port starts; give --metrics-port PORT too, or leave it out"
        )
    return addr or METRICS_ADDR


@contextmanager
def metrics_endpoint(port: int | None, addr: str) -> Iterator[object | None]:
    """The endpoint while the block runs (None without a port, or with a port another program holds:
    one line says so); the port is freed after."""
    if port is None:
        yield None
        return
    from powertrain.metrics import MetricsEndpoint, PortInUse

    try:
        endpoint = MetricsEndpoint(int(port), addr)
    except PortInUse as exc:  # the endpoint is a copy: never worth the training
        click.echo(f"metrics: {exc}", err=True)
        yield None
        return
    click.echo(f"metrics: {endpoint.url}", err=True)
    try:
        yield endpoint
    finally:
        endpoint.close()


@contextmanager
def observing(study_log_to, log_to, port: int | None, addr: str) -> Iterator[object]:
    """What ``powertrain run`` hands the store through: the study's ``log_to:`` and the command's
    ``--log-to`` (checked now), and the metrics endpoint. Loggers are flushed at the end."""
    from powertrain.loggers import loggers, parse_log_to
    from powertrain.loggers.observe import Observers, observed

    named = parse_log_to(study_log_to, "log_to")
    tools = {n.tool for n in named}  # the command line adds tools, the study's settings stand
    fanout = loggers(
        [*named, *(t for t in parse_log_to(log_to, "--log-to") if t.tool not in tools)]
    )
    with metrics_endpoint(port, addr) as endpoint:
        observers = Observers([o for o in (fanout, endpoint) if o])
        try:
            yield lambda store: observed(store, observers)
        finally:
            fanout.close()


@click.command(name="export")
@click.argument("tool", type=click.Choice(["mlflow", "tensorboard", "wandb"]))
@db_option
@click.option("--study", "study_name", required=True, help="The study whose runs to export.")
@click.option(
    "--dir", "folder", default=None, help="With tensorboard: the log folder (default runs)."
)
def export(tool: str, db_path: str | None, study_name: str, folder: str | None) -> None:
    """Log the finished runs of a stored study to TOOL, each as one run with every evaluation point
    and its outcome; where they go is the tool's own setting (MLFLOW_TRACKING_URI, WANDB_PROJECT,
    WANDB_MODE; a TensorBoard log folder). Runs the tool holds already are left as they are."""
    from powertrain.loggers.export import export_study
    from powertrain.store import existing_store

    target = f"{tool}:{folder}" if folder else tool  # a folder is for tensorboard only
    with existing_store(db_path) as store:
        exported = export_study(store, study_name, target)
    click.echo(exported.says(study_name, target))


COMMANDS = (export,)
