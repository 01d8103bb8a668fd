"""``powertrain demo``: the demo study, which ships inside the package, for anyone who installed it.

It is ``make demo`` without the clone: the meters, the study (resumable), the report, then the load
beside the headline, since an estimate counts CPU time and other work on the machine inflates it.
"""

from __future__ import annotations

import contextlib
import io
import os
from importlib import resources
from pathlib import Path

import click

from powertrain.cli_params import StorePath
from powertrain.errors import PowertrainError

DEMO_STUDY = "studies/demo.yaml"


def demo_study_path() -> Path:
    """The demo's study file, as installed with the package."""
    return Path(str(resources.files("powertrain").joinpath(DEMO_STUDY)))


def load_line() -> str:
    """The machine's load average beside its core count: what an estimate's figure depends on."""
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    return f"load average (1, 5, 15 min): {load} on {os.cpu_count() or '?'} cores"


def _need_data(fetch: bool) -> None:
    from powertrain.data.fashion_mnist import find_fashion_mnist

    if find_fashion_mnist() is not None:
        return
    if not fetch:
        from powertrain.data.fetch import MANUAL

        raise PowertrainError(
            "the demo trains on Fashion-MNIST, which is not on this machine: `powertrain demo "
            "--fetch` gets it (Debian's dataset-fashion-mnist where apt-get is there, else a 30 MB "
            f"download from Zalando's repository, checked against the published MD5s), {MANUAL}"
        )
    from powertrain.data.fetch import fetch_fashion_mnist

    click.echo(f"Fashion-MNIST: {fetch_fashion_mnist()}", err=True)


@click.command()
@click.option(
    "--db",
    "db_path",
    type=StorePath(),
    default="runs/demo.db",
    show_default=True,
    help="Results store of the demo.",
)
@click.option(
    "--out", default="runs/demo-report", show_default=True, help="Folder for the demo's report."
)
@click.option("--fetch", is_flag=True, help="Get Fashion-MNIST first when it is missing.")
@click.pass_context
def demo(ctx: click.Context, db_path: str, out: str, fetch: bool) -> None:
    """Run the demo study: a small MLP on 20,000 Fashion-MNIST images to 85 % validation accuracy,
    3 learning rates x 2 batch sizes, 3 seeds (minutes on two cores); then its report and headline.

    Running it again resumes. `make demo` in a clone runs the same."""
    _need_data(fetch)
    study = demo_study_path()
    root = ctx.find_root().command
    flags = ["-v"] * max(ctx.obj["verbosity"], 0) + ["-q"] * max(-ctx.obj["verbosity"], 0)

    def powertrain(*args: str) -> None:
        root.main(args=[*flags, *args], prog_name="powertrain", standalone_mode=False)

    click.echo(f"the demo study: {study}", err=True)
    powertrain("meters")
    powertrain("run", str(study), "--db", db_path)
    with contextlib.redirect_stdout(io.StringIO()):
        powertrain("report", "--db", db_path, "--study", "demo", "--out", out)
    click.echo()
    click.echo(f"report: {Path(out) / 'report.html'}")
    click.echo(load_line())
    powertrain("headline", "--db", db_path, "--study", "demo")


COMMANDS = (demo,)
