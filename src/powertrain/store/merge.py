"""Combine results stores from several machines into one, through the store contract (as Optuna copies
a frozen trial), between any two backends: each run is copied with ``copy_run``, which adds nothing when the same run (study, run
key, host and start time) is there already, so merging the same store twice adds nothing."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.store.base import ResultStore

#: What changed between two definitions of a study (stored configs) that changes what its runs
#: mean, one line each (``study.versions.definitions_differ``); the store knows no study's types.
Differs = Callable[[dict[str, Any], dict[str, Any]], list[str]]


@dataclass
class MergeResult:
    studies: int = 0
    runs: int = 0
    skipped: int = 0  # there already
    held: int = 0  # finished in the input, still running there in a live process: not replaced
    replaced: int = 0  # earlier attempts of the added runs' keys that their copies replaced
    completed: int = 0  # added runs that ended their own attempt the output held unfinished
    apart: list[str] = field(default_factory=list)  # studies defined otherwise, kept as versions

    def says(self) -> str:
        """One line for the command."""
        line = (
            f"{self.runs} runs and {self.studies} studies added, {self.skipped} runs already there"
        )
        if self.completed:
            line += (
                f", {self.completed} of them the end of an attempt the output held unfinished "
                "(a run kept beside a locked store, now whole)"
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
        return "; ".join([line, *self.apart])


def merge_stores(
    sources: list[str | Path], target: str | Path, differs: Differs | None = None
) -> MergeResult:
    """Copy every source store into ``target``: each a file (SQLite) or a postgresql:// URL, in any
    mix (a SLURM array's shards into one database, a database back into a file to take home). Every
    input is opened (and so checked to be a store) before the output is; the copy is one transaction,
    so an input that fails half-way leaves the output as it was. ``differs``: a study the output
    holds defined otherwise (see ``Differs``) is kept apart as ``NAME@N`` (``copy_store``)."""
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
                copy_store(src, out, result, differs)
    finally:
        for src in inputs:
            src.close()
    return result


def copy_store(
    src: ResultStore,
    out: ResultStore,
    result: MergeResult | None = None,
    differs: Differs | None = None,
) -> MergeResult:
    """Copy every study and search cost (kept as they are where the output has them already), idle
    measurement and run of ``src`` into ``out``; with ``differs``, a study ``out`` holds defined
    otherwise goes, with its runs and search cost, to the first ``NAME@N`` free or defined alike
    (its runs pooled with the output's, their figures would mean neither definition)."""
    result = result or MergeResult()
    homes = _homes(src, out, result, differs)
    kept = out.search_costs()
    for study, cost in src.search_costs().items():
        home = homes.get(study, study)
        if home not in kept:
            out.save_search_cost(home, {**cost, "study": home} if "study" in cost else cost)
    for idle in src.idles():
        host = idle.pop("host")
        out.save_idle(host, idle)
    running: dict[str, set] = {}
    before = len(out.runs())
    added, completed = result.runs, result.completed
    for run in src.runs():
        if homes.get(run.study, run.study) != run.study:
            run = dataclasses.replace(run, study=homes[run.study])
        unfinished_there = _unfinished_there(out, run, running)  # read before its study's copies
        copied = out.copy_run(
            run, src.eval_points(run.id), src.timeline(run.id), src.inference(run.id)
        )
        if copied is not None:
            result.runs += 1
            result.completed += unfinished_there  # its own attempt's record, not an earlier one
        elif unfinished_there:
            result.held += 1
        else:
            result.skipped += 1
    grown = len(out.runs()) - before
    result.replaced += (result.runs - added) - (result.completed - completed) - grown
    return result


def _homes(
    src: ResultStore, out: ResultStore, result: MergeResult, differs: Differs | None
) -> dict[str, str]:
    """Each of ``src``'s studies by the name it takes in ``out`` (saved there when new)."""
    held = {s["name"]: s["config"] for s in out.studies()}
    homes: dict[str, str] = {}
    for study in src.studies():
        name, config = study["name"], study["config"]
        changes = differs(held[name], config) if differs and name in held else []
        if changes:
            base, n = re.sub(r"@\d+$", "", name), 2
            while (home := f"{base}@{n}") in held and differs(held[home], config):
                n += 1
            config = {**config, "name": home} if "name" in config else config
            result.apart.append(
                f"study {name!r} of {_where(src)} was defined otherwise ({'; '.join(changes[:4])}"
                f"{'; ...' if len(changes) > 4 else ''}): its runs kept apart as {home!r}"
            )
            name = home
        if name not in held:
            out.save_study(name, config)
            held[name] = config
            result.studies += 1
        homes[study["name"]] = name
    return homes


def _where(store: ResultStore) -> str:
    """A store as the line names it: its file, or its URL with the password masked."""
    where = getattr(store, "path", None) or getattr(store, "url", None)
    return str(where) if where is not None else "an input"


def _unfinished_there(out: ResultStore, run, running: dict[str, set]) -> bool:
    """Whether ``out`` holds the attempt of a finished ``run`` unfinished (a run kept beside a locked
    store: its copy, merged, ends that attempt, or is not added while a live process holds it).
    ``running``: the unfinished attempts of ``out`` by study, read once per study, before any run
    of it is copied."""
    if run.outcome is None:
        return False
    if run.study not in running:
        unfinished = (r for r in out.runs(run.study) if r.outcome is None)
        running[run.study] = {_attempt(r) for r in unfinished}
    return _attempt(run) in running[run.study]


def _attempt(run) -> tuple:
    """A run's attempt as ``copy_run`` tells it from others: key, start and machine."""
    return run.run_key, run.started_at, json.dumps(run.hardware, sort_keys=True)
