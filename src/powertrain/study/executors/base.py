"""The executor contract. An executor takes a plan's run specs (in order: a pretraining stage first),
claims each in the sink (``sink.begin``, which for a store is ``begin_run``) and runs it with
``execute.execute_run`` where it executes, in a ``RunEnv`` opened there. It returns the outcome of each
run it trained, by run key; a run that another process holds (``RunClaimed`` at the claim) is left to
it and absent.

The executors (``local``: here, in turn; ``workers``: N processes on this machine; ``ray``: a Ray
cluster) share this signature; what they need besides (the number of workers, a Ray address) goes to
their constructor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from powertrain.records import RunOutcome
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink
    from powertrain.study.plan import RunSpec
    from powertrain.study.result import Reporter


class Executor(Protocol):
    def run(
        self,
        study: StudyConfig,
        specs: list[RunSpec],
        sink: RunSink,
        reporter: Reporter | None = None,
    ) -> dict[str, RunOutcome]:
        """Execute every spec; a ``PretrainingFailed`` from the stage ends the study."""
        ...
