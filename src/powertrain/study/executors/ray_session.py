"""The Ray executor's session (``base.Session``: ``submit``, ``capacity``, ``in_flight``, ``wait``):
each run claimed here, then a Ray task; its records written here when it ends.

A run given a stop asks after each evaluation point through a small actor (``_StopDesk``) that this
process polls: the task puts its question there and waits; the coordinator takes the questions,
answers each with ``stop(point)`` (the history as it is now) and goes on. The run's records still come
back when it ends (``RaySession._write``), so while it trains the coordinator knows it only through its
questions. Ray is imported only where it runs (``ray.py`` connects).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from powertrain.errors import RunClaimed
from powertrain.records import FAILED, RunOutcome
from powertrain.study.executors.base import Ended, Job
from powertrain.study.executors.messages import Failed, Finished

if TYPE_CHECKING:
    from powertrain.records import EvalPoint
    from powertrain.study.execute import RunSink
    from powertrain.study.plan import RunSpec

POLL_S = 0.2  # the longest the coordinator waits for a question before it looks at the tasks


class _StopDesk:
    """A threaded actor: tasks ``ask`` (and wait), the coordinator takes ``questions`` and
    ``answer``s them."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.asked: dict[str, EvalPoint] = {}
        self.answers: dict[str, str | None] = {}

    def ask(self, run_key: str, point) -> str | None:
        with self.cond:
            self.asked[run_key] = point
            self.cond.notify_all()
            while run_key not in self.answers:
                self.cond.wait()
            return self.answers.pop(run_key)

    def questions(self, timeout_s: float) -> dict[str, Any]:
        with self.cond:
            if not self.asked:
                self.cond.wait(timeout_s)
            asked, self.asked = self.asked, {}
            return asked

    def answer(self, answers: dict[str, str | None]) -> None:
        with self.cond:
            self.answers.update(answers)
            self.cond.notify_all()


def on_this_machine_only(ray) -> bool:
    """Whether every node of the cluster is the node of this process (a local Ray)."""
    try:
        here = ray.get_runtime_context().get_node_id()
        return all(n["NodeID"] == here for n in ray.nodes() if n.get("Alive"))
    except Exception:  # noqa: BLE001 - a client connection, say: take it as several machines
        return False


def remote_stop(desk, run_key: str):
    """The task's stopping handler: the coordinator's answer for this point."""
    import ray

    return lambda point: ray.get(desk.ask.remote(run_key, point))


class RaySession:
    """Runs of ``study`` as Ray tasks, at most ``most`` at once, written through ``sink``."""

    def __init__(self, executor, ray, study, sink: RunSink, most: int) -> None:
        self.executor, self.ray, self.study, self.sink = executor, ray, study, sink
        self.most = most
        self.pending: dict[Any, Job] = {}  # task ref -> its job
        self.refused: list[Ended] = []  # claimed elsewhere: ended without a task
        self.desk = None
        # A paused run's checkpoint is on the disk of the node it ran on: it is continued only
        # when every node is this machine; otherwise a task leaves none behind (re-run instead).
        self.resumes = on_this_machine_only(ray)

    def in_flight(self) -> int:
        return len(self.pending) + len(self.refused)

    def capacity(self) -> int:
        return self.most - self.in_flight()

    def submit(self, job: Job) -> None:
        """Claim the run here (unless ``job.resume_id``: claimed already, only where ``resumes``)
        and submit its task; a run another process holds ends at the next ``wait``."""
        if job.resume_id is None and _claim(job.spec, self.sink) is None:
            self.refused.append(Ended(job.spec, None))
            return
        if job.stop is not None and self.desk is None:  # no CPU of its own: placed at once
            self.desk = self.ray.remote(num_cpus=0, max_concurrency=1000)(_StopDesk).remote()
            self.ray.get(self.desk.answer.remote({}))  # started before any run's clock is
        ref = self.executor.task().remote(
            self.study,
            job.spec,
            self.executor.artifacts_dir,
            max(1, int(self.executor.cpus_per_run)),
            self.desk if job.stop is not None else None,
            job.resume_id is not None,
            self.resumes,
        )
        self.pending[ref] = job

    def wait(self) -> list[Ended]:
        """Until some run ends: the ``Ended`` of each that did."""
        if self.refused:
            ended, self.refused = self.refused, []
            return ended
        while self.pending:
            self._answer()
            done, _ = self.ray.wait(
                list(self.pending), num_returns=1, timeout=0 if self.desk else POLL_S
            )
            if done:
                job = self.pending.pop(done[0])
                return [Ended(job.spec, self._write(done[0], job))]
        return []

    def _answer(self) -> None:
        if self.desk is None:
            return
        asked = self.ray.get(self.desk.questions.remote(POLL_S))
        stops = {job.spec.run_key: job.stop for job in self.pending.values()}
        answers = {}
        for key, point in asked.items():
            stop = stops.get(key)
            answers[key] = stop(point) if stop is not None else None
        if answers:
            self.desk.answer.remote(answers)

    def _write(self, ref, job: Job) -> RunOutcome | None:
        """Write one finished task's records through the sink, in the order they happened; a task
        that continued ``job.resume_id`` sends its records without a begin."""
        spec, sink, run_id = job.spec, self.sink, job.resume_id
        try:
            records = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the task or its node died
            reason = f"the Ray task ended without a result: {type(exc).__name__}"
            outcome = RunOutcome(FAILED, reason, 0.0, {}, 0.0, 0, error=str(exc)[:2000])
            sink.finish(
                run_id if run_id is not None else sink.begin(spec, {"ray": "lost"}, {}), outcome
            )
            return outcome
        outcome = None
        for record in records:
            if isinstance(record, Failed):
                if record.error.pretraining_failed:  # ends the study, as it does locally
                    record.error.raise_here("the pretraining stage")
                reason = f"the run failed on its Ray node: {record.error.describe()}"
                outcome = RunOutcome(FAILED, reason, 0.0, {}, 0.0, 0, error=reason[:2000])
                if run_id is None:
                    run_id = sink.begin(spec, {"ray": "the node could not open the run"}, {})
                sink.finish(run_id, outcome)
                continue
            run_id = record.write(sink, run_id)  # a begin: our own claim again, the node's hardware
            if isinstance(record, Finished):
                outcome = record.outcome
        return outcome


def _claim(spec: RunSpec, sink: RunSink) -> int | None:
    """The coordinator's claim before the task is submitted (placeholder hardware until the node's
    comes back); None when another process holds the run or has finished it."""
    try:
        return sink.begin(
            spec, {"ray": "submitted; the node's hardware is recorded at the end"}, {}
        )
    except (RunClaimed, ValueError):
        return None
