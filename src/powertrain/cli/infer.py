"""``powertrain infer``: the inference energy of a study's trained models over batch sizes."""

from __future__ import annotations

import click

from powertrain.cli.options import db_option, detect, meter_options
from powertrain.cli_params import POSITIVE_COUNT
from powertrain.errors import PowertrainError


@click.command()
@click.option(
    "--study", "study_name", required=True, help="The study whose trained models to measure."
)
@db_option
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
@meter_options
def infer(
    study_name, db_path, run_ids, batch_sizes, inputs, repeats, meters, replay_trace, cpu_tdp_w
) -> None:
    """Measure trained models' inference energy per 1,000 inputs over a grid of batch sizes.

    Needs the study to have kept its models (save_models: true)."""
    from powertrain.console import print_inference
    from powertrain.inference.study import infer_study
    from powertrain.store import existing_store

    sizes = _batch_sizes(batch_sizes)
    detection = detect(meters, replay_trace, cpu_tdp_w).require()
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


def _batch_sizes(text: str) -> list[int]:
    try:
        return [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise PowertrainError(
            f"--batch-sizes takes whole numbers separated by commas, not {text!r}"
        ) from None


COMMANDS = (infer,)
