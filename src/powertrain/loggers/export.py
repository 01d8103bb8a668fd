"""``powertrain export mlflow|tensorboard|wandb``: the finished runs of a stored study, each as one run in
the tool, with every evaluation point and its outcome, as they would have been logged live.

Exporting again is safe: a run the tool holds already (logged live, or by an earlier export; found by
its run key, store id and start time: ``Destination.logged``) is left as it is when finished there,
and completed (the points it lacks, then the outcome) when its live logging stopped half-way."""

from __future__ import annotations

from dataclasses import dataclass

from powertrain.errors import PowertrainError
from powertrain.loggers.base import Destination, RunInfo, tool_error
from powertrain.loggers.spec import destination, parse_log_to


@dataclass(frozen=True)
class Exported:
    """How many runs an export wrote afresh, completed, and found in the tool already."""

    written: int = 0
    completed: int = 0
    present: int = 0

    def says(self, study: str, tool: str) -> str:
        """One line for the command: ``exported 2 runs of 'mine' to mlflow (1 already there, ...)``."""
        notes = [f"{self.completed} completing a copy logged half-way"] if self.completed else []
        notes += [f"{self.present} already there, left as they were"] if self.present else []
        line = f"exported {self.written + self.completed} runs of {study!r} to {tool}"
        return line + (f" ({'; '.join(notes)})" if notes else "")


def export_study(store, study: str, tool: str) -> Exported:
    """Log every finished run of ``study`` to ``tool`` that it does not hold yet (see the module's
    doc). A PowertrainError when the study has no finished run or the tool refuses (its message)."""
    runs = [r for r in store.runs(study) if r.outcome is not None]
    if not runs:
        known = {s["name"] for s in store.studies()}
        why = "has no finished run" if study in known else "is not in the store"
        raise PowertrainError(f"study {study!r} {why}; nothing to export")
    (spec,) = parse_log_to([tool], "export")
    target = destination(spec)
    counts = {"written": 0, "completed": 0, "present": 0}
    try:
        for run in runs:
            counts[_export_run(target, store, run)] += 1
    except PowertrainError:
        raise
    except Exception as exc:  # noqa: BLE001 - the tool's own error, said in one line
        raise PowertrainError(f"{target.name} refused the export: {tool_error(exc)}") from None
    finally:
        target.close()
    return Exported(**counts)


def _export_run(target: Destination, store, run) -> str:
    info = RunInfo.of_record(run)
    found = target.logged(info)
    if found is not None and found.finished:
        return "present"
    logged = target.open(info) if found is None or found.log is None else found.log
    steps = frozenset() if found is None else found.steps
    logged.points([p for p in store.eval_points(run.id) if p.step not in steps])
    logged.finish(run.outcome)
    return "written" if found is None else "completed"
