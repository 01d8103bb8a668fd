"""The one session contract (``study/executors/base.py``): the grid's driver over any session, and the
typed records coordinator and workers (or Ray tasks) send each other."""

from __future__ import annotations

import contextlib
import pickle

import pytest

from powertrain.errors import PowertrainError
from powertrain.records import FAILED, EvalPoint, RunOutcome, Stage
from powertrain.study.execute import PretrainingFailed
from powertrain.study.executors.base import Ended, Job, drive, job_for, run_all
from powertrain.study.executors.messages import (
    Answer,
    AskStop,
    Begun,
    ErrorRecord,
    Failed,
    Finished,
    Point,
    Task,
    Timeline,
)
from powertrain.study.plan import RunSpec

POINT = EvalPoint(0, 10, 0.1, 160, 1.0, 0.5, 0.2, {"cpu": 3.0})


def spec(i: int, stage: Stage = Stage.TRAIN) -> RunSpec:
    return RunSpec("s", f"key-{i}", {"i": i}, {}, 0, stage=stage)


def outcome() -> RunOutcome:
    return RunOutcome(FAILED, "made up", 1.0, {"cpu": 1.0}, 0.1, 1)


class FakeSession:
    """Room for ``slots`` runs; ``wait`` ends the oldest run under way (None: ``held`` ones)."""

    resumes = True

    def __init__(self, slots: int, held: frozenset = frozenset()) -> None:
        self.slots, self.held = slots, held
        self.under_way: list[Job] = []
        self.order: list[str] = []
        self.beside: dict[str, list[str]] = {}  # what was under way when each run was handed out
        self.most = 0

    def capacity(self) -> int:
        return self.slots - len(self.under_way)

    def in_flight(self) -> int:
        return len(self.under_way)

    def submit(self, job: Job) -> None:
        assert self.capacity() > 0, "handed a run with no room for it"
        self.beside[job.spec.run_key] = [j.spec.run_key for j in self.under_way]
        self.under_way.append(job)
        self.order.append(job.spec.run_key)
        self.most = max(self.most, len(self.under_way))

    def wait(self) -> list[Ended]:
        job = self.under_way.pop(0)
        return [Ended(job.spec, None if job.spec.run_key in self.held else outcome())]


class FakeExecutor:
    machine_total = None

    def __init__(self, session: FakeSession) -> None:
        self.fake = session

    def prepare(self, study, artifacts_dir) -> None: ...

    @contextlib.contextmanager
    def session(self, study, sink, runs=None):
        yield self.fake


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_the_driver_hands_runs_out_in_order_never_past_the_sessions_room(slots):
    session = FakeSession(slots)
    ended = drive(session, [Job(spec(i)) for i in range(7)])
    assert session.order == [f"key-{i}" for i in range(7)]
    assert session.most == slots and not session.under_way
    assert sorted(e.spec.run_key for e in ended) == sorted(session.order)


def test_the_grid_runs_its_pretraining_stage_alone_first_and_leaves_held_runs_out():
    session = FakeSession(3, held=frozenset({"key-2"}))
    specs = [spec(1), spec(2), spec(0, Stage.PRETRAIN), spec(3)]
    outcomes = run_all(FakeExecutor(session), None, specs, sink=None)
    assert session.order == ["key-0", "key-1", "key-2", "key-3"]  # the stage first
    assert session.beside["key-0"] == session.beside["key-1"] == []  # alone
    assert session.beside["key-3"] == ["key-1", "key-2"]  # the grid's runs at once
    assert set(outcomes) == {"key-0", "key-1", "key-3"}  # another process holds key-2
    assert run_all(FakeExecutor(FakeSession(1)), None, [], sink=None) == {}


def test_a_grid_job_asks_only_when_a_handler_is_given():
    assert job_for(spec(0)).stop is None  # no round trip for the grid
    job = job_for(spec(0), lambda s: [lambda p: None, lambda p: "predicted to miss"])
    assert job.stop(POINT).reason == "predicted to miss"


def test_an_exception_crosses_as_a_typed_record():
    stage = pickle.loads(pickle.dumps(ErrorRecord.of(PretrainingFailed("diverged"))))
    assert stage.pretraining_failed
    with pytest.raises(PretrainingFailed, match="diverged"):
        stage.raise_here("a worker failed outside a run")
    other = pickle.loads(pickle.dumps(ErrorRecord.of(KeyError("cuda"))))
    assert not other.pretraining_failed and other.type_name == "KeyError"
    with pytest.raises(PowertrainError, match=r"a worker failed outside a run: KeyError: 'cuda'"):
        other.raise_here("a worker failed outside a run")


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def begin(self, spec, hardware, provenance) -> int:
        self.calls.append(("begin", spec.run_key, hardware))
        return 7

    def eval_point(self, run_id, point) -> None:
        self.calls.append(("point", run_id, point.index))

    def timeline(self, run_id, timeline) -> None:
        self.calls.append(("timeline", run_id, sorted(timeline)))

    def finish(self, run_id, outcome) -> None:
        self.calls.append(("finish", run_id, outcome.status))


def test_a_runs_records_replay_on_the_coordinators_sink_in_order_after_pickling():
    records = [Begun(spec(0), {"node": "b"}, {}), Point(POINT), Timeline({"t_s": []})]
    records.append(Finished(outcome()))
    sink, run_id = RecordingSink(), None
    for record in pickle.loads(pickle.dumps(records)):  # as a Ray task's come back
        run_id = record.write(sink, run_id)
    assert sink.calls == [
        ("begin", "key-0", {"node": "b"}),
        ("point", 7, 0),
        ("timeline", 7, ["t_s"]),
        ("finish", 7, FAILED),
    ]
    for message in (
        Task(spec(0), True, None),
        AskStop(POINT),
        Answer(None),
        Failed(ErrorRecord("E", "m")),
    ):
        assert pickle.loads(pickle.dumps(message)) == message  # frozen records, compared by value


def test_the_local_session_has_room_for_one_run_and_runs_it_when_waited_for():
    from powertrain.study.executors.local import LocalSession

    session = LocalSession(env=None, sink=None)
    assert (session.capacity(), session.in_flight(), session.wait()) == (1, 0, [])
    session.submit(Job(spec(0)))
    assert (session.capacity(), session.in_flight()) == (0, 1)
    with pytest.raises(RuntimeError, match="one run at a time"):
        session.submit(Job(spec(1)))
