"""Commands on results stores themselves: merge (several machines' stores into one)."""

from __future__ import annotations

import click

from powertrain.cli_params import StorePath
from powertrain.errors import PowertrainError


@click.command()
@click.argument("sources", nargs=-1, required=True, type=StorePath())
@click.option(
    "-o",
    "--output",
    required=True,
    type=StorePath(),
    help="The combined store (created if missing).",
)
def merge(sources, output) -> None:
    """Combine results stores from several machines (files, or postgresql:// URLs, in any mix).
    Merging the same store twice adds nothing; a study defined otherwise than the output's study of
    its name is kept apart as NAME@2 (as run --allow-changed keeps an edited study)."""
    from powertrain.store import locate
    from powertrain.store.location import same_store
    from powertrain.store.merge import merge_stores
    from powertrain.study.versions import definitions_differ

    for source in sources:
        if same_store(source, output):
            raise PowertrainError(
                f"{locate(source)} is the output store itself (the same file, or a link to it); "
                "name another output (-o)"
            )
    result = merge_stores(list(sources), output, definitions_differ)
    click.echo(f"{result.says()}; {locate(output)}")


COMMANDS = (merge,)
