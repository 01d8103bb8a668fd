"""What each rank of a job gives track() beside its run key (``tracking/given.py``), as rank 0
compares it: the same store named two ways is one store, and no password reaches the error that
names a rank's store (it is recorded in the run's outcome)."""

from __future__ import annotations

from types import SimpleNamespace

from powertrain.store.memory import MemoryStore
from powertrain.tracking import job as job_
from powertrain.tracking.combine import RankReading
from powertrain.tracking.given import given, store_name
from powertrain.tracking.ranks import RankInfo


def test_one_file_named_relative_or_absolute_is_one_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store_name("runs.db") == store_name(tmp_path / "runs.db") == str(tmp_path / "runs.db")
    assert store_name("runs.db") != store_name("other.db")
    monkeypatch.setenv("POWERTRAIN_DB", str(tmp_path / "runs.db"))
    assert store_name(None) == store_name("runs.db")  # the default, where it points


def test_a_urls_password_never_reaches_the_name():
    name = store_name("postgresql://me:s3cret@db.example:5432/runs")
    assert "s3cret" not in name and "db.example" in name
    assert store_name(MemoryStore()) == "MemoryStore"


def message(rank: int, machine: str = "boot-a", **given_):
    tracker = SimpleNamespace(study="mine", db=None, if_finished="refuse")
    for name, value in given_.items():
        setattr(tracker, name, value)
    reading = RankReading(rank, 0, "", {}, machine=machine)
    return job_.Message(rank, job_.START, "key", reading, 0, given=given(tracker))


def test_rank_0_names_both_values_of_what_differs_and_nothing_where_all_agree():
    job = job_.Job(RankInfo(0, 2), "key", {}, {}, 10)
    assert job.problem([message(0), message(1)]) is None
    said = job.problem([message(0), message(1, study="mine-1")])
    assert "rank 1 was given study='mine-1', rank 0 study='mine'" in said
    said = job.problem([message(0), message(1, db="postgresql://me:s3cret@h/runs")])
    assert "rank 1 was given db=" in said and "s3cret" not in said
    elsewhere = message(1, machine="boot-b", db="/mnt/home/me/runs.db")  # mounted elsewhere
    assert job.problem([message(0, db="/home/me/runs.db"), elsewhere]) is None
    said = job.problem([message(0), message(1, machine="boot-b", study="mine-1")])
    assert "rank 1 was given study='mine-1'" in said  # a study is a study on any machine
    older = job_.Message(1, job_.START, "key", RankReading(1, 0, "", {}), 0)  # says nothing
    assert job.problem([message(0), older]) is None
