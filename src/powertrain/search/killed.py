"""A pause whose search was stopped (killed, or interrupted) in the instant between saving the run's
checkpoint and storing its pause: the store holds the attempt unfinished, its checkpoint is whole.
Stored from the checkpoint (``store_killed_pause``) by the next search (``live.LivePool``), or by the
interrupted search's cleanup (``sink.DeferringSink.flush``), it goes on as any stored pause; else the
run would be trained again from scratch, and the paused attempt's joules be in no record."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import CENSORED, Verdict, outcome_of
from powertrain.study.artifacts import checkpoint_path
from powertrain.study.resume import RunPlace, paused_spent, run_checkpoint
from powertrain.train.stopping import PAUSED_NOTE

if TYPE_CHECKING:
    from powertrain.records import RunOutcome, RunRecord
    from powertrain.study.plan import RunSpec

log = logging.getLogger(__name__)

TO_ITSELF = "a live search needs its study to itself: wait for it or stop it"


class _NotItsPause(Exception):
    """The checkpoint a killed attempt left is not that attempt's pause (rolls the claim back)."""


def store_killed_pause(
    store, spec: RunSpec, place: RunPlace, killed: RunRecord, finished: RunRecord | None
) -> RunRecord | None:
    """The pause of a run a search was killed in the instant between saving its checkpoint and
    storing its pause, stored now from that checkpoint (its points, joules, seconds and priced
    span): ``killed`` is its unfinished record, ``finished`` the key's finished one (a stored pause
    it went on from, replaced now as its finish would have). Its new record, or None where the
    checkpoint is not that attempt's pause (none; its stored pause's; killed as it trained).
    Another live process holding the run (a search or grid under way) refuses the search before
    it trains anything, its checkpoint left alone."""
    path = checkpoint_path(place.artifacts_dir, spec.study, spec.run_key)
    files = [
        p for p in (path, path.with_suffix(".json"), path.with_suffix(".next.pt")) if p.exists()
    ]  # (a save under way in another process leaves only the last: claimed first)
    points = store.eval_points(killed.id)
    if paused(finished) and store.eval_points(finished.id) == points:
        files = []  # the checkpoint of its stored pause, which it was killed going on from
    claim = dataclasses.replace(spec, replace_censored=finished is not None)
    try:
        with store.atomic():  # the claim first, and always: is it held? (rolled back but here)
            run_id = store.begin_run(claim, killed.hardware, killed.provenance)
            if not files or max(map(_mtime, files)) < killed.started_at:  # none, or saved before
                raise _NotItsPause  # it began: not its own (another store's, beside this one)
            spent = paused_spent(spec, place)
            if spent is None or spent.points != points:
                raise _NotItsPause
            for point in points:
                store.add_eval_point(run_id, point)
            store.finish_run(run_id, _pause_from(spent, run_checkpoint(spec, place)))
    except RunClaimed as exc:
        raise PowertrainError(f"{exc}; {TO_ITSELF}") from None
    except (_NotItsPause, ValueError):  # ValueError: ended on its own meanwhile
        return None
    log.warning(
        "run %s: the search was stopped (killed or interrupted) as it paused, after its checkpoint "
        "was saved and before its pause was stored; stored now from the checkpoint (%.3g J, %d "
        "evaluations), to go on from there",
        spec.run_key,
        spent.total_energy_j,
        len(points),
    )
    return store.run(run_id)


def _mtime(path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # gone meanwhile
        return float("-inf")


def _pause_from(spent, checkpoint) -> RunOutcome:
    """The outcome of a pause as its checkpoint's summary (``spent``) and state tell it."""
    try:
        steps = int(checkpoint.load_state()["progress"]["step"])
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise _NotItsPause from exc
    priced_steps, priced_energy_j = spent.priced or (None, None)
    reason = (
        f"paused by the search, its pause stored from its checkpoint (the search was stopped "
        f"before storing it) {PAUSED_NOTE}"
    )
    return not_promoted(
        outcome_of(
            CENSORED,
            reason,
            spent.energy_j,
            spent.duration_s,
            spent.points,
            steps=steps,
            faults=spent.faults,
            verdict=Verdict.RUNG_PAUSE,
            priced_steps=priced_steps,
            priced_energy_j=priced_energy_j,
        )
    )


def not_promoted(outcome: RunOutcome) -> RunOutcome:
    """A paused run's outcome as stored once the search no longer continues it."""
    reason = outcome.stop_reason.replace(PAUSED_NOTE, "(not promoted)")
    return dataclasses.replace(outcome, stop_reason=reason)


def paused(record: RunRecord | None) -> bool:
    """Whether ``record`` is a pause a search stored (its checkpoint kept for a later one)."""
    return (
        record is not None
        and record.outcome is not None
        and record.outcome.verdict is Verdict.RUNG_PAUSE
    )
