"""The command line: parses, calls the library, prints. Heavy modules are imported inside commands so
that ``powertrain --help`` answers at once.

One module per group of commands: ``measure`` (meters, measure, idle), ``study`` (init, run, ls,
headline), ``report`` (report, compare, carbon), ``infer``, ``store`` (merge), ``demo``; the search commands
(simulate, predict, import) are in ``powertrain.cli_search``, the checked option types in
``powertrain.cli_params``, the options several commands share in ``options``.
"""

from __future__ import annotations

import sqlite3
import sys

import click

from powertrain import __version__
from powertrain.cli import demo, infer, measure, report, store, study, trackers
from powertrain.cli_params import OptionError
from powertrain.cli_search import register_search_commands
from powertrain.errors import PowertrainError


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


for _module in (measure, study, report, infer, store, demo, trackers):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
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
