"""What the coordinator and the places its runs execute (a worker process, a Ray task) send each
other: small frozen records, matched by type, never tuples tagged with strings.

- A run's records (``Begun``, ``Point``, ``Timeline``, ``Finished``): the calls of the run body on its
  sink, replayed on the coordinator's with ``write``. A worker sends them as they happen; a Ray task
  keeps them and sends them back together when it ends.
- A worker's questions and news (``AskStop``, ``PendingLimits``, ``NoteLimit``, ``Ready``, ``Idle``)
  and the coordinator's answers (``Answer``, ``Refused``) and orders (``Task``, ``Quit``).
- An exception raised where a run executes crosses as an ``ErrorRecord``, which says whether it was a
  failed pretraining stage (that ends the study here too); ``Failed`` carries one about a run,
  ``Fatal`` one that kept a worker from starting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from powertrain.errors import PowertrainError

if TYPE_CHECKING:
    from powertrain.records import EvalPoint, RunOutcome
    from powertrain.study.execute import RunSink
    from powertrain.study.plan import RunSpec


@dataclass(frozen=True)
class ErrorRecord:
    """An exception raised where a run executes, as it crosses to the coordinator."""

    type_name: str
    message: str
    pretraining_failed: bool = False

    @classmethod
    def of(cls, exc: BaseException) -> ErrorRecord:
        from powertrain.study.execute import PretrainingFailed

        return cls(type(exc).__name__, str(exc), isinstance(exc, PretrainingFailed))

    def describe(self) -> str:
        return f"{self.type_name}: {self.message}"

    def raise_here(self, where: str) -> NoReturn:
        """Raise it in the coordinator: ``PretrainingFailed`` as itself, else a ``PowertrainError``
        saying ``where`` it happened."""
        from powertrain.study.execute import PretrainingFailed

        if self.pretraining_failed:
            raise PretrainingFailed(self.message)
        raise PowertrainError(f"{where}: {self.describe()}")


# A run's records: ``write(sink, run_id)`` makes the same call on the coordinator's sink and
# returns the run's id there (``Begun``: the claim's).


@dataclass(frozen=True)
class Begun:
    spec: RunSpec
    hardware: dict[str, Any]
    provenance: dict[str, Any]

    def write(self, sink: RunSink, run_id: int | None) -> int:
        return sink.begin(self.spec, self.hardware, self.provenance)


@dataclass(frozen=True)
class Point:
    point: EvalPoint

    def write(self, sink: RunSink, run_id: int | None) -> int | None:
        sink.eval_point(run_id, self.point)
        return run_id


@dataclass(frozen=True)
class Timeline:
    timeline: dict[str, Any]

    def write(self, sink: RunSink, run_id: int | None) -> int | None:
        sink.timeline(run_id, self.timeline)
        return run_id


@dataclass(frozen=True)
class Finished:
    outcome: RunOutcome

    def write(self, sink: RunSink, run_id: int | None) -> int | None:
        sink.finish(run_id, self.outcome)
        return run_id


SinkRecord = Begun | Point | Timeline | Finished  # what a run body writes to its sink


@dataclass(frozen=True)
class Failed:
    """The run body raised (a failed pretraining stage; a node that could not open the run)."""

    error: ErrorRecord


# A worker's questions (each waits for an ``Answer``, or ``Refused`` for a claim) and news.


@dataclass(frozen=True)
class AskStop:
    """Whether to stop at ``point`` (sent just before it)."""

    point: EvalPoint


@dataclass(frozen=True)
class PendingLimits:
    """The power limit journal's pending entries (the journal is the coordinator's store)."""


@dataclass(frozen=True)
class NoteLimit:
    gpu_uuid: str
    previous_w: float | None


@dataclass(frozen=True)
class Ready:
    """The worker opened its environment and waits for a task."""


@dataclass(frozen=True)
class Idle:
    """The worker is done with its task (the run's records came before)."""


@dataclass(frozen=True)
class Fatal:
    """The worker could not open its environment."""

    error: ErrorRecord


# The coordinator's side.


@dataclass(frozen=True)
class Answer:
    value: Any = None


@dataclass(frozen=True)
class Refused:
    """The claim was refused: another process holds the run, or finished it meanwhile."""

    reason: str


@dataclass(frozen=True)
class Task:
    """A run for a worker; ``ask``: whether the coordinator decides stops for it."""

    spec: RunSpec
    ask: bool
    resume_id: int | None


@dataclass(frozen=True)
class Quit:
    """No more runs: the worker exits."""
