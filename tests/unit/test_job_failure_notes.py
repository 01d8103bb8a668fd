"""What a rank that left on an error leaves on the job's store (``job.Job.leave``, ``abandon``) is
that run's attempt's: a later ``track()`` of the same run in the same job (a script that catches
the error and tracks the run again) does not read it as its own ranks' failure."""

from __future__ import annotations

from powertrain.tracking import job
from powertrain.tracking.combine import RankReading
from powertrain.tracking.ranks import RankInfo


class KeyValue(dict):
    """The job's key-value store, as torch's ``Store`` answers: set, check, get."""

    def set(self, key, value):
        self[key] = value.encode() if isinstance(value, str) else value

    def check(self, keys):
        return all(k in self for k in keys)

    def get(self, key):
        return self[key]


def test_a_failure_left_by_an_earlier_attempt_is_not_read_by_a_later_one(monkeypatch):
    store = KeyValue()
    monkeypatch.setattr(job, "_job_store", lambda: store)
    processes = {0: {}, 1: {}}  # each rank's process counts its own links

    def link(rank: int) -> job.Job:
        monkeypatch.setattr(job, "_LINKS", processes[rank])
        return job.Job(RankInfo(rank, 2), "run-key", {}, {}, 5.0)

    first = [link(0), link(1)]
    first[1].leave(RankReading(1, 0, "h", {}), 1, "ValueError: the first attempt's")
    first[0].abandon(1, "rank 0 failed after 1 evaluations: KeyboardInterrupt")
    said = "rank 1 failed after 1 evaluations: ValueError: the first attempt's"
    assert first[0].failures() == [said]
    assert "KeyboardInterrupt" in first[1]._leader_failed()
    again = [link(0), link(1)]  # the script tracks the run again in the same job
    assert again[0].failures() == [] and again[1]._leader_failed() is None
