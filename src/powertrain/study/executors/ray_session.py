"""Runs handed to Ray one at a time (a live search), with stops decided in the coordinator: the Ray
side of ``WorkerSession``'s contract (``submit``, ``capacity``, ``in_flight``, ``wait``).

A run given a stop asks after each evaluation point through a small actor (``_StopDesk``) that this
process polls: the task puts its question there and waits; the coordinator takes the questions,
answers each with ``stop(point)`` (the history as it is now) and goes on. The run's records still come
back when it ends (``RayExecutor._write``), so while it trains the coordinator knows it only through its
questions. Ray is imported only where it runs (``ray.py`` connects).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from powertrain.records import EvalPoint, RunOutcome
    from powertrain.study.plan import RunSpec
    from powertrain.train.stopping import Handler

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

    def __init__(self, executor, ray, study, sink, most: int) -> None:
        self.executor, self.ray, self.study, self.sink = executor, ray, study, sink
        self.most = most
        # task ref -> its run, its stop, the record it continues (None: its own claim)
        self.pending: dict[Any, tuple[RunSpec, Handler | None, int | None]] = {}
        self.refused: list[tuple[RunSpec, RunOutcome | None]] = []  # claimed elsewhere
        self.desk = None
        # A paused run's checkpoint is on the disk of the node it ran on: it is continued only
        # when every node is this machine; otherwise a task leaves none behind (re-run instead).
        self.resumes = on_this_machine_only(ray)

    def in_flight(self) -> int:
        return len(self.pending) + len(self.refused)

    def capacity(self) -> int:
        return self.most - self.in_flight()

    def submit(
        self, spec: RunSpec, stop: Handler | None = None, resume_id: int | None = None
    ) -> None:
        """``WorkerSession.submit``: ``resume_id`` (only where ``resumes``), the record this
        process claimed for the run's paused attempt, which its task continues."""
        if stop is not None and self.desk is None:  # no CPU of its own: placed at once, always
            self.desk = self.ray.remote(num_cpus=0, max_concurrency=1000)(_StopDesk).remote()
            self.ray.get(self.desk.answer.remote({}))  # started before any run's clock is

        desk = self.desk if stop else None
        ref = self.executor._submit(
            self.study, spec, self.sink, desk, resume_id=resume_id, keep=self.resumes
        )
        if ref is None:  # another process holds the run
            self.refused.append((spec, None))
        else:
            self.pending[ref] = (spec, stop, resume_id)

    def wait(self) -> list[tuple[RunSpec, RunOutcome | None]]:
        """Until some run ends: ``(spec, outcome)`` of each that did (None: held elsewhere)."""
        if self.refused:
            ended, self.refused = self.refused, []
            return ended
        while self.pending:
            self._answer()
            done, _ = self.ray.wait(
                list(self.pending), num_returns=1, timeout=0 if self.desk else POLL_S
            )
            if done:
                spec, _stop, run_id = self.pending.pop(done[0])
                outcome = self.executor._write(self.ray, done[0], spec, self.sink, run_id)
                return [(spec, outcome)]
        return []

    def _answer(self) -> None:
        if self.desk is None:
            return
        asked = self.ray.get(self.desk.questions.remote(POLL_S))
        stops = {spec.run_key: stop for spec, stop, _ in self.pending.values()}
        answers = {}
        for key, point in asked.items():
            stop = stops.get(key)
            answers[key] = stop(point) if stop is not None else None
        if answers:
            self.desk.answer.remote(answers)
