"""What ``copy_run`` does with the attempts of the run's (study, run key) that the store holds
already (contract, 6): a merge of a store taken while a run ran, or before it was run again, then
another once it was, leaves the key as the store it came from has it.

- The same run (study, run key, start, hardware) there already: nothing is added, unless that copy
  is unfinished and no process holds it, and this one is finished, or unfinished too with more
  points (it gives way: a run killed while its store was locked left its last points in a copy
  beside it, ``store/pending.py``).
- A finished attempt replaces the earlier finished attempts that its own store replaced when it
  was begun again (a FAILED one, ``--retry-failed``; a CENSORED one a search ended, a take-on).
- Such an attempt, or an unfinished one, arriving after the later one that replaced it adds
  nothing; a FAILED one, whose
  replacement removed it when it began, not even while that one still runs (a restart counting a
  failed attempt kept beside a locked store, say: its finish would not remove the copy, and the
  key would hold both, its joules twice)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from powertrain.records import RunRecord, Status
from powertrain.store.claims import REPLACED_AT_FINISH, Owner, removed_at_begin


@dataclass(frozen=True)
class Attempt:
    """A run of the copied run's (study, run key) in the store copied to."""

    id: int
    status: str
    verdict: str | None
    held: bool  # a process claims it
    started_at: float
    hardware: str  # as the store keeps it (JSON)
    points: int = 0  # its evaluation points in the store


def attempts(rows, lease_s: float, now: float | None = None) -> list[Attempt]:
    """The attempts of rows (id, status, verdict, owner, heartbeat_at, started_at, hardware, and
    the count of its points where the store gives it): held
    where a live process claims it, this one included (a dead owner's attempt, a process killed or
    one that could not write its end, holds nothing). ``now``: the clock of the heartbeats."""
    now = time.time() if now is None else now
    return [
        Attempt(i, status, verdict, _live(owner, beat, lease_s, now), *rest)
        for i, status, verdict, owner, beat, *rest in rows
    ]


def _live(holder: str | None, heartbeat_at: float | None, lease_s: float, now: float) -> bool:
    owner = Owner.parse(holder)
    return owner is not None and owner.alive(heartbeat_at, lease_s, now)


def plan_copy(record: RunRecord, attempts: list[Attempt], points: int = 0) -> list[int] | None:
    """The ids of ``attempts`` that ``copy_run`` of ``record`` (with ``points`` evaluation points)
    removes before adding it, or None where it adds nothing (see the module's doc)."""
    finished = Status(record.status) != Status.RUNNING
    same = [a for a in attempts if _same(a, record)]
    if any(not _gives_way(a, finished, points) for a in same):
        return None
    at_begin = removed_at_begin(record.status.value)  # FAILED: a later attempt's begin removes it
    later = [
        a
        for a in attempts
        if a not in same
        and a.started_at > record.started_at
        and (a.status != Status.RUNNING.value or at_begin)
    ]
    replaceable = finished and _replaceable(record.status.value, _verdict(record))
    if (replaceable or not finished) and later:
        return None  # an attempt begun after it, and so over it, is there
    others = [a for a in attempts if a not in same and a.status != Status.RUNNING.value]
    replaced = [
        a.id
        for a in others
        if finished and a.started_at < record.started_at and _replaceable(a.status, a.verdict)
    ]
    return [a.id for a in same] + replaced


def _gives_way(a: Attempt, finished: bool, points: int) -> bool:
    """Whether the store's attempt ``a``, the copied run itself, gives way to the copy: unfinished
    and held by no process, and the copy finished or further on."""
    unheld = a.status == Status.RUNNING.value and not a.held
    return unheld and (finished or points > a.points)


def _same(a: Attempt, record: RunRecord) -> bool:
    return a.started_at == record.started_at and a.hardware == json.dumps(record.hardware)


def _replaceable(status: str, verdict: str | None) -> bool:
    """An attempt a later one of its key replaces in its store: FAILED, or CENSORED by a search."""
    return status == Status.FAILED.value or (
        status == Status.CENSORED.value and verdict in REPLACED_AT_FINISH
    )


def _verdict(record: RunRecord) -> str | None:
    return None if record.outcome is None else record.outcome.verdict.value
