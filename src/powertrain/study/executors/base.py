"""What runs a run: an ``Executor`` opens a ``Session`` for a study, and one driver hands the session
its runs. The session is the one contract between "what to run" and "where it runs" (Optuna's
``n_jobs`` is the model: parallel is N copies of the sequential path, not another loop):

- ``submit(job)``: hand out a run (its spec, the coordinator's stop for it, the record it continues);
- ``capacity()``: how many more runs would be under way at once now;
- ``in_flight()``: runs handed out that have not ended;
- ``wait()``: until some run ends, the ``Ended`` of each that did.

``local`` (this process: capacity 1, each run executed inline by ``wait``), ``workers`` (N processes
on this machine) and ``ray`` (a Ray cluster) implement it. Wherever a run executes it is claimed in the
sink first (``sink.begin``, which for a store is ``begin_run``) and run with ``execute.execute_run`` in
a ``RunEnv`` opened there; a run that another process holds ends with no outcome and is left to it.

``run_all`` is the grid's driver over a session (the pretraining stage first, alone); a search drives
the same sessions (``search/live.py``) with its own order and stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from powertrain.records import Stage
from powertrain.train.stopping import Handler, first_stop

if TYPE_CHECKING:
    from powertrain.records import RunOutcome
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink
    from powertrain.study.executors.machine import MachineTotal
    from powertrain.study.plan import RunSpec

Stops = Callable[["RunSpec"], Sequence[Handler]]


@dataclass(frozen=True)
class Job:
    """A run handed to a session. ``stop(point)``, called in the coordinator after each of the
    run's evaluation points, may end it (None: the run never asks, and pays no round trip).
    ``resume_id``: the record of the run's paused attempt, claimed by the coordinator already; the
    run goes on from its checkpoint without a claim of its own (a new record only if it has gone)."""

    spec: RunSpec
    stop: Handler | None = None
    resume_id: int | None = None


@dataclass(frozen=True)
class Ended:
    """A run that ended; ``outcome`` None when another process held the run (nothing trained)."""

    spec: RunSpec
    outcome: RunOutcome | None


class Session(Protocol):
    """The runs of one study under way on an executor (see the module's docstring)."""

    resumes: bool  # whether its runs see this machine's disk: a paused run's checkpoint

    def submit(self, job: Job) -> None: ...
    def capacity(self) -> int: ...
    def in_flight(self) -> int: ...
    def wait(self) -> list[Ended]: ...


class Executor(Protocol):
    """Where a study's runs execute: here (``LocalExecutor``), on this machine's workers
    (``WorkersExecutor``) or on a Ray cluster (``RayExecutor``)."""

    # The machine's own total over the last session, of the devices parallel runs shared.
    machine_total: MachineTotal | None

    def prepare(self, study: StudyConfig, artifacts_dir: Path) -> None:
        """Before anything is recorded: open or check what can be here (a bad device fails now);
        ``artifacts_dir``: where model files and checkpoints go unless the executor has its own."""
        ...

    def session(
        self, study: StudyConfig, sink: RunSink, runs: int | None = None
    ) -> AbstractContextManager[Session]:
        """The executor started for ``study``, writing every run through ``sink``; ``runs``: how
        many it will be given (None: a search decides as it goes), so no more is started."""
        ...


def no_stops(spec: RunSpec) -> Sequence[Handler]:
    return ()


def job_for(spec: RunSpec, stops: Stops = no_stops, resume_id: int | None = None) -> Job:
    """The grid's job for ``spec``: its stop is the first of ``stops(spec)`` to give a reason
    (none: the run never asks); ``resume_id``: the record of its paused attempt, claimed already."""
    handlers = list(stops(spec))
    stop = (lambda point: first_stop(handlers, point)) if handlers else None
    return Job(spec, stop, resume_id)


def run_all(
    executor: Executor,
    study: StudyConfig,
    specs: list[RunSpec],
    sink: RunSink,
    stops: Stops = no_stops,
    resume: Callable[[RunSpec], int | None] | None = None,
) -> dict[str, RunOutcome]:
    """The grid's driver: every spec through one session of ``executor``, the pretraining stage first
    and alone (a ``PretrainingFailed`` from it ends the study), each run's stop made by ``stops``.
    ``resume(spec)``: the record a paused run goes on in from its checkpoint, claimed (asked only
    where the session's runs see this machine's disk), or None. The outcome of each run trained,
    by run key; a run another process holds is absent."""
    if not specs:
        return {}
    outcomes: dict[str, RunOutcome] = {}
    with executor.session(study, sink, len(specs)) as session:
        for stage in (
            [s for s in specs if s.stage is Stage.PRETRAIN],
            [s for s in specs if s.stage is not Stage.PRETRAIN],
        ):
            resumed = resume if resume is not None and session.resumes else lambda spec: None
            # made as they are handed out: a continued pause is claimed when it starts
            jobs = (job_for(spec, stops, resumed(spec)) for spec in stage)
            for ended in drive(session, jobs):
                if ended.outcome is not None:
                    outcomes[ended.spec.run_key] = ended.outcome
    return outcomes


def drive(session: Session, jobs: Iterable[Job]) -> list[Ended]:
    """Hand ``jobs`` out in order as the session has room, until every one has ended; each job is
    taken from ``jobs`` only when it is handed out (a generator's claim is made then)."""
    todo, ended, more = iter(jobs), [], True
    while more or session.in_flight():
        while more and session.capacity() > 0:  # the next job made only once there is room
            job = next(todo, None)
            if job is None:
                more = False
            else:
                session.submit(job)
        if session.in_flight():
            ended += session.wait()
    return ended
