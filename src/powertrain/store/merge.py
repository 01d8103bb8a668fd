"""Combine results stores from several machines into one, through the store contract (as Optuna copies
a frozen trial), between any two backends: each run is copied with ``copy_run``, which adds nothing when the same run (study, run
key, host and start time) is there already, so merging the same store twice adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.store.base import ResultStore


@dataclass
class MergeResult:
    studies: int = 0
    runs: int = 0
    skipped: int = 0  # there already
    held: int = 0  # finished in the input, still running there in a live process: not replaced
    replaced: int = 0  # earlier attempts of the added runs' keys that their copies replaced

    def says(self) -> str:
        """One line for the command."""
        line = (
            f"{self.runs} runs and {self.studies} studies added, {self.skipped} runs already there"
        )
        if self.replaced:
            line += (
                f", {self.replaced} earlier attempts of their runs replaced (a failed one, or one a "
                "search stopped or paused, gives way to a later attempt of its run, as in the store "
                "it came from; where two stores ran the same run apart, the earlier's joules go)"
            )
        if self.held:
            line += (
                f", {self.held} finished runs not added: the output's attempt of each is held by a "
                "process still running (merge again once it has ended)"
            )
        return line


def merge_stores(sources: list[str | Path], target: str | Path) -> MergeResult:
    """Copy every source store into ``target``: each a file (SQLite) or a postgresql:// URL, in any
    mix (a SLURM array's shards into one database, a database back into a file to take home). Every
    input is opened (and so checked to be a store) before the output is; the copy is one transaction,
    so an input that fails half-way leaves the output as it was."""
    from powertrain.store import existing_store, locate, open_store
    from powertrain.store.location import same_store

    for source in sources:
        if same_store(source, target):
            raise PowertrainError(
                f"{locate(source)} is the output store itself; name another output (-o)"
            )
    result = MergeResult()
    inputs: list[ResultStore] = []
    try:
        for source in sources:  # checks each is a store, migrating an older one
            inputs.append(existing_store(source))
        with open_store(target) as out, out.atomic():
            for src in inputs:
                copy_store(src, out, result)
    finally:
        for src in inputs:
            src.close()
    return result


def copy_store(
    src: ResultStore, out: ResultStore, result: MergeResult | None = None
) -> MergeResult:
    """Copy every study and search cost (kept as they are where the output has them already), idle
    measurement and run of ``src`` into ``out``."""
    result = result or MergeResult()
    known = {s["name"] for s in out.studies()}
    for study in src.studies():
        if study["name"] not in known:
            out.save_study(study["name"], study["config"])
            result.studies += 1
    kept = out.search_costs()
    for study, cost in src.search_costs().items():
        if study not in kept:
            out.save_search_cost(study, cost)
    for idle in src.idles():
        host = idle.pop("host")
        out.save_idle(host, idle)
    running: dict[str, set] = {}
    before = len(out.runs())
    added = result.runs
    for run in src.runs():
        copied = out.copy_run(
            run, src.eval_points(run.id), src.timeline(run.id), src.inference(run.id)
        )
        if copied is not None:
            result.runs += 1
        elif _held_there(out, run, running):
            result.held += 1
        else:
            result.skipped += 1
    result.replaced += (result.runs - added) - (len(out.runs()) - before)
    return result


def _held_there(out: ResultStore, run, running: dict[str, set]) -> bool:
    """Whether a finished ``run`` was not copied because ``out`` has its attempt still running (a
    live process holds it: a run kept beside a locked store, merged before its process ended).
    ``running``: the unfinished attempts of ``out`` by study, read once per study."""
    if run.outcome is None:
        return False
    if run.study not in running:
        unfinished = (r for r in out.runs(run.study) if r.outcome is None)
        running[run.study] = {(r.run_key, r.started_at) for r in unfinished}
    return (run.run_key, run.started_at) in running[run.study]
