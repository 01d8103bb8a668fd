"""``powertrain export mlflow|tensorboard|wandb``: the finished runs of a stored study, each as one run in
the tool, with every evaluation point and its outcome, as they would have been logged live."""

from __future__ import annotations

from powertrain.errors import PowertrainError
from powertrain.loggers.base import Destination, RunInfo
from powertrain.loggers.spec import destination, parse_log_to
from powertrain.store.location import mask_urls


def export_study(store, study: str, tool: str) -> int:
    """Log every finished run of ``study`` to ``tool``; how many. A PowertrainError when the study has
    no finished run or the tool refuses (its message given)."""
    runs = [r for r in store.runs(study) if r.outcome is not None]
    if not runs:
        known = {s["name"] for s in store.studies()}
        why = "has no finished run" if study in known else "is not in the store"
        raise PowertrainError(f"study {study!r} {why}; nothing to export")
    (spec,) = parse_log_to([tool], "export")
    target = destination(spec)
    try:
        for run in runs:
            _export_run(target, store, run)
    except PowertrainError:
        raise
    except Exception as exc:  # noqa: BLE001 - the tool's own error, said in one line
        raise PowertrainError(
            f"{target.name} refused the export: {mask_urls(f'{type(exc).__name__}: {exc}')}"
        ) from None
    finally:
        target.close()
    return len(runs)


def _export_run(target: Destination, store, run) -> None:
    logged = target.open(RunInfo.of_record(run))
    for point in store.eval_points(run.id):
        logged.point(point)
    logged.finish(run.outcome)
