"""An observed store is the store: it passes the store contract, and its observers hear each run once,
after the store has it, in order; an observer that raises is warned about once and dropped."""

from __future__ import annotations

import contextlib
import logging

import pytest

from powertrain.loggers.observe import ObservedStore, Observers, RunObserver
from powertrain.store.memory import MemoryStore
from powertrain.store.sqlite import SqliteStore
from powertrain.testing.store_contract import StoreContract, begin, outcome, point


class Recorder(RunObserver):
    def __init__(self, store=None) -> None:
        self.events, self.store = [], store

    def run_begun(self, info) -> None:
        self.events.append(("begun", info.run_id, info.run_key))

    def eval_point(self, run_id, point) -> None:
        if self.store is not None:  # the store has the point before anyone hears of it
            assert point in self.store.eval_points(run_id)
        self.events.append(("point", run_id, point.index))

    def run_finished(self, run_id, outcome) -> None:
        self.events.append(("finished", run_id, outcome.status.value))


class TestObservedSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        with SqliteStore(tmp_path / "r.db") as s:
            yield ObservedStore(s, Observers([Recorder()]))


def test_observers_hear_each_run_once_after_the_store(tmp_path):
    with MemoryStore() as inner:
        recorder = Recorder(inner)
        store = ObservedStore(inner, Observers([recorder]))
        store.save_study("st", {})
        run_id = begin(store, "a")
        store.add_eval_point(run_id, point(0))
        store.add_eval_point(run_id, point(1, 0.95))
        store.finish_run(run_id, outcome())
        store.finish_run(run_id, outcome())  # a finished run never changes: not news
        key = inner.runs("st")[0].run_key
    assert recorder.events == [
        ("begun", run_id, key),
        ("point", run_id, 0),
        ("point", run_id, 1),
        ("finished", run_id, "reached"),
    ]


def test_an_observer_that_raises_is_warned_about_once_and_dropped(caplog):
    class Broken(RunObserver):
        def eval_point(self, run_id, point) -> None:
            raise RuntimeError("the tool is down")

    recorder = Recorder()
    with MemoryStore() as inner, caplog.at_level(logging.WARNING):
        store = ObservedStore(inner, Observers([Broken(), recorder]))
        store.save_study("st", {})
        run_id = begin(store, "a")
        for i in range(3):
            store.add_eval_point(run_id, point(i))
        assert len(inner.eval_points(run_id)) == 3  # the store has everything
    warned = [r for r in caplog.records if "Broken failed" in r.getMessage()]
    assert len(warned) == 1 and "the tool is down" in warned[0].getMessage()
    assert [e[0] for e in recorder.events] == ["begun", "point", "point", "point"]


def test_a_run_begun_afresh_while_open_here_ends_its_earlier_attempt_for_the_observers():
    # a live search starts a run it stopped afresh (begin_run replaces the record, unfinished):
    # the observers close the earlier attempt (an MLflow run not left RUNNING, a TensorBoard
    # writer closed, the endpoint's runs_running back down) before they hear of the new one
    with MemoryStore() as inner:
        recorder = Recorder()
        store = ObservedStore(inner, Observers([recorder]))
        store.save_study("st", {})
        first = begin(store, "a")
        store.add_eval_point(first, point(0))
        second = begin(store, "a")
        store.add_eval_point(second, point(0))
        store.finish_run(second, outcome())
    assert [e[0] for e in recorder.events] == [
        "begun",
        "point",
        "finished",
        "begun",
        "point",
        "finished",
    ]
    assert recorder.events[2] == ("finished", first, "censored")
    assert recorder.events[3][1] == second and recorder.events[5] == ("finished", second, "reached")


MIXED = [
    {"node": 0, "host": "a", "estimated": {"cpu": False}},
    {"node": 1, "host": "b", "estimated": {"cpu": True}},
]


class NodesRecorder(Recorder):
    def run_nodes(self, run_id, nodes) -> None:
        self.events.append(("nodes", run_id, len(nodes)))


def test_observers_hear_once_that_a_node_estimated_before_the_point_and_through_a_resume():
    with MemoryStore() as inner:
        inner.save_study("st", {})
        recorder = NodesRecorder()
        store = ObservedStore(inner, Observers([recorder]))
        run_id = begin(store, "a")
        measured = [{**MIXED[1], "estimated": {"cpu": False}}]
        store.note_nodes(run_id, measured)  # every node measured: nothing to say
        for i in range(2):
            store.note_nodes(run_id, MIXED)  # told once: nothing new the second time
            store.add_eval_point(run_id, point(i))
        # a paused run continued by another process: begun for its observers at its next point
        later = NodesRecorder()
        again = ObservedStore(inner, Observers([later]))
        again.note_nodes(run_id, MIXED)
        again.add_eval_point(run_id, point(2))
    assert recorder.events == [
        ("begun", run_id, inner.runs("st")[0].run_key),
        ("nodes", run_id, 2),
        ("point", run_id, 0),
        ("point", run_id, 1),
    ]
    assert [e[0] for e in later.events] == ["begun", "nodes", "point"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_run_begun_here_is_told_with_its_records_start(tmp_path, backend):
    # a tool's live copy is then the one its export finds (W&B: the same run id, hashed from the
    # start; MLflow: the same start time), however late the loggers' thread opens it
    heard = []

    class Starts(RunObserver):
        def run_begun(self, info) -> None:
            heard.append((info.run_id, info.started_at, info.finished_at))

    inner = MemoryStore() if backend == "memory" else SqliteStore(tmp_path / "r.db")
    with inner:
        store = ObservedStore(inner, Observers([Starts()]))
        store.save_study("st", {})
        run_id = begin(store, "a")
        [record] = inner.runs("st")
    assert heard == [(run_id, record.started_at, None)]


class Starts(RunObserver):
    def __init__(self) -> None:
        self.events = []

    def run_begun(self, info) -> None:
        self.events.append(("begun", info.run_id, info.started_at))

    def eval_point(self, run_id, point) -> None:
        self.events.append(("point", run_id, point.index))

    def run_finished(self, run_id, outcome) -> None:
        self.events.append(("finished", run_id, outcome.status.value))


def test_a_run_whose_record_cannot_be_read_back_at_its_begin_still_begins(caplog):
    # the claim is written, then the store is lost before the record is read back (a PostgreSQL
    # server that goes away: StoreUnreachable once its retries are spent). The run was recorded and
    # trains (its points kept till the server is back): observing it never fails it, its loggers
    # hear it without its start
    from powertrain.store.pg_session import StoreUnreachable

    class LostAfterClaim(MemoryStore):
        def run(self, run_id):
            raise StoreUnreachable(
                "postgresql://me:s3cret@db:5432/runs is unreachable: connection refused"
            )

    heard = Starts()
    with LostAfterClaim() as inner, caplog.at_level(logging.WARNING):
        store = ObservedStore(inner, Observers([heard]))
        store.save_study("st", {})
        run_id = begin(store, "a")
        store.add_eval_point(run_id, point(0))
        store.finish_run(run_id, outcome())
        assert inner.runs("st")[0].status.value == "reached"
    assert heard.events == [
        ("begun", run_id, None),
        ("point", run_id, 0),
        ("finished", run_id, "reached"),
    ]
    assert "unreachable" in caplog.text and "s3cret" not in caplog.text  # the password masked


def test_a_store_of_an_older_shape_without_run_is_observed_as_before():
    # a store registered as a ResultStore (as ObservedStore itself is) that predates ``run``:
    # track(db=...) takes it; the observed store reads its record from ``runs`` as it used to
    from powertrain.store.base import ResultStore

    class Older:
        def __init__(self) -> None:
            self._inner = MemoryStore()

        def __getattr__(self, name):
            if name == "run":
                raise AttributeError(name)
            return getattr(self._inner, name)

    ResultStore.register(Older)
    older = Older()
    heard = Starts()
    store = ObservedStore(older, Observers([heard]))
    store.save_study("st", {})
    run_id = begin(store, "a")
    store.add_eval_point(run_id, point(0))
    [record] = older.runs("st")
    assert heard.events == [("begun", run_id, record.started_at), ("point", run_id, 0)]


def test_a_point_the_store_refuses_is_heard_once_in_order_when_measured(tmp_path):
    """The loggers' copies had holes: a point refused (a locked store, a full disk) was heard only
    if it was written again later (after the points measured since), or never."""
    import sqlite3

    class Refusing(MemoryStore):
        refuse: set[int] = set()

        def add_eval_point(self, run_id, p) -> None:
            if p.index in self.refuse:
                raise sqlite3.OperationalError("database or disk is full")
            super().add_eval_point(run_id, p)

    with Refusing() as inner:
        recorder = Recorder()
        store = ObservedStore(inner, Observers([recorder]))
        store.save_study("st", {})
        run_id = begin(store, "a")
        inner.refuse = {1, 2}
        for index in range(4):
            with contextlib.suppress(sqlite3.OperationalError):
                store.add_eval_point(run_id, point(index))
        inner.refuse = set()
        store.add_eval_point(run_id, point(1))  # written again once the store takes it
        store.finish_run(run_id, outcome())
        assert sorted(p.index for p in inner.eval_points(run_id)) == [0, 1, 3]
    told = [e[2] for e in recorder.events if e[0] == "point"]
    assert told == [0, 1, 2, 3]
    assert recorder.events[-1] == ("finished", run_id, "reached")


def test_a_point_refused_behind_one_that_waits_is_heard_in_its_turn(tmp_path):
    """A point that waited for a lock, then met a full disk when the next one tried to write it
    first: that next point was never offered to the store, so the loggers never heard of it."""
    import sqlite3

    from powertrain.store.pending import Pending
    from powertrain.store.sqlite_guard import StoreLocked

    class LockedThenFull(MemoryStore):
        refusals = [StoreLocked("locked"), sqlite3.OperationalError("database or disk is full")]

        def add_eval_point(self, run_id, p) -> None:
            if p.index == 1 and self.refusals:
                raise self.refusals.pop(0)
            super().add_eval_point(run_id, p)

    with LockedThenFull() as inner:
        inner.path = tmp_path / "runs.db"  # where a copy of waiting points goes
        recorder = Recorder()
        store = ObservedStore(inner, Observers([recorder]))
        store.save_study("st", {})
        run_id = begin(store, "a")
        waiting = Pending()
        for index in range(3):
            with contextlib.suppress(sqlite3.OperationalError):
                waiting.add(store, run_id, point(index))
    assert [e[2] for e in recorder.events if e[0] == "point"] == [0, 1, 2]
