"""What may happen to a SQLite store's file while it is used (``store/sqlite_guard.py``).

Removed (or replaced) under a process that is writing it: the first write after is kept, with
everything the file held, in a copy beside the path, and the process is told where (one
``StoreRemoved``, a PowertrainError); every later write is refused the same way. Nothing is ever
written over what now has the path's name.

Shared by machines: a claim that meets another machine's live claim says, once, that SQLite is one
machine's store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import RUNNING
from powertrain.store import existing_store
from powertrain.store.claims import Owner
from powertrain.store.merge import merge_stores
from powertrain.store.sqlite import SqliteStore
from powertrain.store.sqlite_guard import StoreRemoved
from powertrain.testing.store_contract import PROVENANCE, Request, outcome, point


def request(key: str) -> Request:
    return Request("s", key, {"batch_size": 8}, {"lr": 0.1}, 0)


def remove(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")


def rescued(folder) -> list:
    return sorted(folder.glob("*.rescued-*"))


def test_a_removed_store_is_copied_beside_it_with_the_write_that_found_it(tmp_path):
    path = tmp_path / "runs" / "powertrain.db"
    with SqliteStore(path) as store:
        store.save_study("s", {"name": "s"})
        done = store.begin_run(request("a"), {"host": "h"}, PROVENANCE)
        store.finish_run(done, outcome())
        running = store.begin_run(request("b"), {"host": "h"}, PROVENANCE)
        store.add_eval_point(running, point(0))
        remove(path)
        with pytest.raises(StoreRemoved, match="was removed while this process wrote it") as told:
            store.add_eval_point(running, point(1))
        assert isinstance(told.value, PowertrainError)
        [copy] = rescued(path.parent)
        assert str(copy) in str(told.value) and "powertrain merge" in str(told.value)
        with pytest.raises(StoreRemoved):  # refused before it is written: the run stays unfinished
            store.finish_run(running, outcome())
        assert not path.exists()  # nothing written where the store was
    with existing_store(copy) as kept:
        runs = {r.run_key: r for r in kept.runs("s")}
        assert runs["a"].status.value == "reached" and runs["b"].status == RUNNING
        assert [p.index for p in kept.eval_points(runs["b"].id)] == [0, 1]


def test_a_removed_folder_is_made_again_for_the_copy(tmp_path):
    path = tmp_path / "runs" / "powertrain.db"
    with SqliteStore(path) as store:
        store.save_study("s", {"name": "s"})
        run_id = store.begin_run(request("a"), {"host": "h"}, PROVENANCE)
        shutil.rmtree(path.parent)
        with pytest.raises(StoreRemoved):
            store.finish_run(run_id, outcome())
    [copy] = rescued(path.parent)
    out = tmp_path / "merged.db"
    merge_stores([copy], out)  # the copy is a store: the outcome goes back with a merge
    with existing_store(out) as merged:
        [run] = merged.runs("s")
        assert run.status.value == "reached" and run.outcome.energy_j == outcome().energy_j


def test_a_file_put_in_its_place_is_never_written(tmp_path):
    path = tmp_path / "powertrain.db"
    with SqliteStore(path) as store:
        store.save_study("old", {"name": "old"})
        remove(path)
        with SqliteStore(path) as newer:  # another process starts a new store at the path
            newer.save_study("new", {"name": "new"})
        with pytest.raises(StoreRemoved, match="replaced by another file"):
            store.save_study("late", {"name": "late"})
    with existing_store(path) as newer:
        assert [s["name"] for s in newer.studies()] == ["new"]
    [copy] = rescued(tmp_path)
    with existing_store(copy) as kept:
        assert {s["name"] for s in kept.studies()} == {"old", "late"}


def test_the_heartbeat_alone_does_not_take_the_copy(tmp_path):
    """The claims' heartbeat writes from its own thread: it never decides; the run's next write
    does, so that write is in the copy."""
    path = tmp_path / "powertrain.db"
    with SqliteStore(path) as store:
        store.save_study("s", {"name": "s"})
        run_id = store.begin_run(request("a"), {"host": "h"}, PROVENANCE)
        remove(path)
        store.heartbeat([run_id])
        assert rescued(tmp_path) == []
        with pytest.raises(StoreRemoved):
            store.finish_run(run_id, outcome())
    [copy] = rescued(tmp_path)
    with existing_store(copy) as kept:
        assert kept.runs("s")[0].status.value == "reached"


def test_a_study_whose_store_is_removed_ends_with_one_line(tmp_path):
    """`powertrain run` of a command whose script removes the store before its first evaluation:
    the message alone (no traceback), the run's record in the copy, unfinished, to run again."""
    db = tmp_path / "runs" / "powertrain.db"
    (tmp_path / "train.py").write_text(
        "import os, sys\n"
        "import powertrain\n"
        "for suffix in ('', '-wal', '-shm'):\n"
        "    if os.path.exists(sys.argv[1] + suffix):\n"
        "        os.remove(sys.argv[1] + suffix)\n"
        "powertrain.tell(step=1, val_acc=0.95)\n"
    )
    (tmp_path / "study.yaml").write_text(
        "name: gone\n"
        f"task:\n  command: {sys.executable} train.py {db} --lr {{learning_rate}}\n"
        "  target: {metric: val_acc, at_least: 0.9}\n"
        "grid: {learning_rate: [0.1]}\nseeds: [0]\n"
    )
    ran = subprocess.run(
        [sys.executable, "-m", "powertrain", "run", "study.yaml", "--db", str(db)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode != 0
    assert "Traceback" not in ran.stderr, ran.stderr[-3000:]
    assert "was removed while this process wrote it" in ran.stderr.strip().splitlines()[-1]
    [copy] = rescued(db.parent)
    with existing_store(copy) as kept:
        [run] = kept.runs("gone")
        assert run.status == RUNNING and [p.index for p in kept.eval_points(run.id)] == [0]
    assert not list(db.parent.glob("*.unrecorded-*"))  # no FAILED end of a run cut short by it


def test_another_machines_live_claim_says_once_that_sqlite_is_one_machines(tmp_path, caplog):
    path = tmp_path / "shared.db"
    with SqliteStore(path) as elsewhere:  # a process on node7, through a network file system
        elsewhere.save_study("s", {"name": "s"})
        elsewhere.owner = Owner("node7", 4242, 1.0)
        elsewhere.begin_run(request("a"), {"host": "node7"}, PROVENANCE)
        elsewhere.begin_run(request("b"), {"host": "node7"}, PROVENANCE)
    with SqliteStore(path) as here, caplog.at_level("WARNING", "powertrain.store.sqlite"):
        for key in ("a", "b"):
            with pytest.raises(RunClaimed, match="on node7"):
                here.begin_run(request(key), {"host": "here"}, PROVENANCE)
    said = [r.getMessage() for r in caplog.records if "one machine's store" in r.getMessage()]
    assert len(said) == 1 and "on node7 too" in said[0] and "postgresql://" in said[0]


def test_a_copied_stores_stale_claims_from_another_machine_say_nothing(tmp_path, caplog):
    """A store brought from another machine holds its unfinished runs, their heartbeats old: taken
    over, without the warning."""
    path = tmp_path / "copied.db"
    with SqliteStore(path) as there:
        there.save_study("s", {"name": "s"})
        there.owner = Owner("node7", 4242, 1.0)
        there.lease_s = 0.05
        there.begin_run(request("a"), {"host": "node7"}, PROVENANCE)
    time.sleep(0.1)  # older than the lease
    with SqliteStore(path) as here, caplog.at_level("WARNING", "powertrain.store.sqlite"):
        here.lease_s = 0.05
        here.begin_run(request("a"), {"host": "here"}, PROVENANCE)
    assert not [r for r in caplog.records if "one machine's store" in r.getMessage()]


def test_a_store_opened_by_a_relative_path_survives_a_change_of_working_folder(
    tmp_path, monkeypatch
):
    """SQLite keeps the full name of the file it opened: a process that changes folder afterwards
    (a training script, Hydra's run folder) still writes that file, so it has not been removed; the
    guard watched the relative name, found nothing under the new folder, refused every write and
    left a 'rescued' copy in the wrong place."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    with SqliteStore("runs/powertrain.db") as store:
        store.save_study("s", {"name": "s"})
        run_id = store.begin_run(request("a"), {"host": "h"}, PROVENANCE)
        os.chdir(tmp_path / "b")
        store.finish_run(run_id, outcome())
    assert rescued(tmp_path / "a" / "runs") == rescued(tmp_path / "b" / "runs") == []
    with existing_store(tmp_path / "a" / "runs" / "powertrain.db") as kept:
        assert kept.runs("s")[0].status.value == "reached"


def test_a_store_reached_through_a_symlink_is_watched_where_it_is(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with SqliteStore(tmp_path / "link" / "powertrain.db") as store:
        store.save_study("s", {"name": "s"})
        run_id = store.begin_run(request("a"), {"host": "h"}, PROVENANCE)
        store.finish_run(run_id, outcome())
        remove(tmp_path / "real" / "powertrain.db")
        with pytest.raises(StoreRemoved):
            store.save_study("late", {"name": "late"})


def test_an_earlier_rescued_copy_is_never_written_over(tmp_path):
    """The copy is named by host and process number: a second removal in the same process (a
    notebook running study after study), or in a later process given the same number (a container
    restarted with the same host name and PID), made the same name and its backup overwrote the
    first copy, not merged yet: everything it held was lost."""
    path = tmp_path / "powertrain.db"
    for name in ("first", "second"):
        with SqliteStore(path) as store:
            store.save_study(name, {"name": name})
            remove(path)
            with pytest.raises(StoreRemoved) as told:
                store.save_study(f"{name}-late", {"name": name})
        assert any(str(copy) in str(told.value) for copy in rescued(tmp_path))
    kept = []
    for copy in rescued(tmp_path):
        with existing_store(copy) as store:
            kept.append(sorted(s["name"] for s in store.studies()))
    assert sorted(kept) == [["first", "first-late"], ["second", "second-late"]]
