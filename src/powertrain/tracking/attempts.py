"""A torchrun launch that starts its ranks again (``--max-restarts``) after one failed: the launcher
stopped every rank, rank 0 recorded the run as failed, and the restarted rank 0 tracks the same run
(so does a requeued SLURM job: ``_failed_in_job``).
That failure is the launch's own, which the restart is there to get past: the failed attempt is
replaced, as ``retry_failed=True`` replaces one, not refused (which would end the restarted job too,
and every restart after it).

Only an attempt of this launch is replaced: rank 0 notes the run it began in torchrun's own key-value
store (the agent's ``TCPStore``, which lives as long as the launch, restarts included), and a
restarted rank 0 replaces a failed run only when it is the one noted there; a failed run of an
earlier launch is refused as ever. Best effort: a store that does not answer replaces nothing.

The failed attempt's record is replaced, but the joules it spent were spent on this run: the new
attempt's outcome adds them to its energy (total and per component: what the run spent, restarts
included), while its evaluation points and energy to target are the new attempt's own (it may have
begun again from a checkpoint or from scratch: which, powertrain cannot tell); a fault note says how
much came from which attempt (``with_earlier``). An attempt whose rank 0 was killed outright left
its run unfinished: its joules are those of its last evaluation point, said as "at least"
(or, where its end met a locked store and was kept beside it, ``kept_.kept_copy``, the kept
outcome's: merging that copy back afterwards adds nothing, the restart having replaced it). An estimate among the earlier attempt's figures
makes the run's sum of that component an estimate (``earlier_provenance``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from powertrain.records import FAILED, RUNNING
from powertrain.store import kept as kept_
from powertrain.tracking import board as board_

#: In a component's provenance details: the joules an earlier attempt spent, which this one adds.
CARRIED = "earlier_attempts_j"

#: How long rank 0 waits for torchrun's store here: it answers at once where it is up at all.
STORE_TIMEOUT_S = 10.0


def _count(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "").strip()
    return int(value) if value.isdigit() else 0


def _agent_store(env: Mapping[str, str]):
    """torchrun's store where the launcher offers it, else None (not torchrun, or it does not
    answer)."""
    import torch.distributed as dist

    try:
        address = board_.torchrun_store(env)
        if address is None:
            return None
        timeout = timedelta(seconds=STORE_TIMEOUT_S)
        return dist.TCPStore(address[0], address[1], None, False, timeout=timeout)
    except Exception:  # a launcher's odd environment is the exchange's to report, not this note's
        return None


def _key(study: str, run_key: str) -> str:
    return f"powertrain/begun/{hashlib.sha256(study.encode()).hexdigest()[:16]}/{run_key}"


def note_begun(study: str, run_key: str, run_id: int, env: Mapping[str, str] | None = None) -> None:
    """Rank 0 began run ``run_id``: noted for a restart of this launch, where it may restart."""
    env = os.environ if env is None else env
    if _count(env, "TORCHELASTIC_MAX_RESTARTS") <= _count(env, "TORCHELASTIC_RESTART_COUNT"):
        return  # no restart is left to this launch
    store = _agent_store(env)
    if store is not None:
        with contextlib.suppress(Exception):  # the note only spares a restart a refusal
            store.set(_key(study, run_key), str(run_id))


@dataclass(frozen=True)
class Earlier:
    """An earlier attempt of this run, which this one replaces: what it spent, and why it ended."""

    run_id: int
    energy_j: dict[str, float]
    why: str
    provenance: dict = field(default_factory=dict)
    #: It never finished (its rank 0 was killed): its joules are those of its last evaluation.
    unfinished: bool = False
    #: What began the run again, as the note says it.
    by: str = "a restart of its launch or a requeue of its job"


def failed_earlier(store, study: str, run_key: str, env=None) -> bool:
    """Whether the run at this key failed in an earlier attempt of this torchrun launch, or of
    this SLURM job (this one is a restart, or a requeue)."""
    return earlier_attempt(store, study, run_key, env) is not None


def earlier_attempt(store, study: str, run_key: str, env=None) -> Earlier | None:
    """The attempt of this run that an earlier attempt of this torchrun launch, or of this SLURM
    job, left failed or unfinished (this one is a restart, or a requeue), or None."""
    env = os.environ if env is None else env
    launch = _in_launch(store, study, run_key, env)
    if launch is not None:
        return earlier_of(store, launch, "a restart of its torchrun launch")
    return earlier_of(store, _in_job(store, study, run_key, env), "a requeue of its SLURM job")


def retried_by_tool(store, study: str, run_key: str) -> Earlier | None:
    """The failed attempt a retry replaces: a sweep tool's (Ray Tune's ``max_failures``: its trial
    hook says the run is its retry), or a later launch's ``track(..., retry_failed=True)``: its
    joules were spent on this run, and count in it as a restart's do."""
    runs = [r for r in store.runs(study) if r.run_key == run_key]
    failed = [r for r in runs if failed_record(store, r) is not None]
    by = "its sweep tool's retry or a later track() with retry_failed=True"
    return earlier_of(store, failed[-1] if failed else None, by)


def failed_record(store, record):
    """``record`` where it failed; the copy kept beside a locked store where that one failed (the
    attempt left unfinished in the store: ``kept.py``); else None."""
    if record.status == FAILED:
        return record
    kept = kept_.kept_copy(store, record) if record.status == RUNNING else None
    return kept if kept is not None and kept.status == FAILED else None


def earlier_of(store, record, by: str = Earlier.by) -> Earlier | None:
    """The earlier attempt ``record`` (failed, or left unfinished) as the new one counts it."""
    if record is None:
        return None
    kept = kept_.kept_copy(store, record) if record.status == RUNNING else None
    if kept is not None:  # its end was kept beside a locked store, not merged back yet
        o = kept.outcome
        why = f"{o.error or o.stop_reason}; its end was kept beside the store"
        return Earlier(record.id, dict(o.energy_j), why, kept.provenance or {}, by=by)
    if record.status == FAILED:
        o = getattr(record, "outcome", None)
        why = (o.error or o.stop_reason) if o is not None else "failed"
        energy_j = dict(o.energy_j) if o is not None else {}
        return Earlier(record.id, energy_j, why, getattr(record, "provenance", {}) or {}, by=by)
    points = store.eval_points(record.id)
    energy_j = dict(points[-1].energy_j) if points else {}
    for component, label in (record.provenance or {}).items():  # what it carried from before it
        carried = ((label or {}).get("details") or {}).get(CARRIED)
        if isinstance(carried, (int, float)):
            energy_j[component] = energy_j.get(component, 0.0) + carried
    why = f"never finished: its rank 0 ended after {len(points)} evaluations"
    return Earlier(record.id, energy_j, why, record.provenance or {}, unfinished=True, by=by)


def _in_job(store, study: str, run_key: str, env: Mapping[str, str]):
    """A SLURM job requeued (``scontrol requeue``, ``--requeue`` after a node failed) runs again
    under its own id, ``SLURM_RESTART_COUNT`` counting up: the run it failed (or left unfinished)
    names that job (and its cluster) in its hardware record."""
    job = env.get("SLURM_JOB_ID", "").strip()
    if _count(env, "SLURM_RESTART_COUNT") == 0 or not job:
        return None
    this = (job, env.get("SLURM_CLUSTER_NAME"))
    named = [(r, r.hardware.get("slurm") or {}) for r in store.runs(study)]
    return next(
        (
            r
            for r, s in named
            if r.run_key == run_key
            and r.status in (FAILED, RUNNING)
            and (s.get("job_id"), s.get("cluster")) == this
        ),
        None,
    )


def _in_launch(store, study: str, run_key: str, env: Mapping[str, str]):
    """The run an earlier attempt of this torchrun launch began (noted in its store), failed or
    left unfinished."""
    if _count(env, "TORCHELASTIC_RESTART_COUNT") == 0:
        return None
    agent = _agent_store(env)
    try:
        if agent is None or not agent.check([_key(study, run_key)]):
            return None
        begun = int(agent.get(_key(study, run_key)))
    except Exception:
        return None
    runs = store.runs(study)
    return next(
        (
            r
            for r in runs
            if r.id == begun and r.run_key == run_key and r.status in (FAILED, RUNNING)
        ),
        None,
    )


def earlier_provenance(provenance: dict, earlier: Earlier | None) -> dict:
    """This attempt's provenance (its meters'), with each component the earlier attempt estimated
    (or only it measured) labelled so: the run's energy adds the earlier attempt's joules."""
    if earlier is None:
        return provenance
    out = {c: dict(p) for c, p in provenance.items()}
    for component, joules in earlier.energy_j.items():
        before = earlier.provenance.get(component) or {}
        now = out.get(component)
        if now is not None:  # carried: should this attempt end unfinished, its points lack them
            now = out[component] = {**now, "details": {**(now.get("details") or {})}}
            now["details"][CARRIED] = joules
        if now is not None and not before.get("estimated", True):
            continue  # measured then, as now (or estimated now: labelled so already)
        now = now or {**before, "details": {CARRIED: joules}}
        words = (
            f"the run's figure adds run {earlier.run_id}'s, an earlier attempt's, which was "
            + ("an estimate" if before.get("estimated", True) else "measured")
        )
        details = {**(now.get("details") or {}), "attempts": words}
        out[component] = {
            **now,
            "estimated": now.get("estimated") or before.get("estimated", True),
            "details": details,
        }
    return out


def with_earlier(
    earlier: Earlier | None, energy_j: dict, notes: list[str]
) -> tuple[dict, list[str]]:
    """The run's energy per component with the earlier attempt's joules added, and a note saying
    so; unchanged where no earlier attempt was replaced."""
    if earlier is None:
        return energy_j, notes
    if not earlier.energy_j:  # killed before any point of it reached the store
        return energy_j, [*notes, _unknown(earlier)] if earlier.unfinished else notes
    total = dict(energy_j)
    for component, joules in earlier.energy_j.items():
        total[component] = total.get(component, 0.0) + joules
    spent = f"{sum(earlier.energy_j.values()):.1f} J"
    if earlier.unfinished:  # what it spent after its last evaluation is not known
        spent = f"at least {spent} (as of its last evaluation)"
    note = (
        f"includes {spent} spent by an earlier attempt of this run (run {earlier.run_id}: "
        f"{earlier.why}) before {earlier.by} began it again: "
        "the energy (total and per component) is what the run spent, restarts included; its "
        "evaluation points and energy to target are this attempt's own"
    )
    return total, [*notes, note]


def _unknown(earlier: Earlier) -> str:
    """The note for an earlier attempt that left no figure: what it spent is not counted."""
    return (
        f"an earlier attempt of this run (run {earlier.run_id}: {earlier.why}) was replaced when "
        f"{earlier.by} began it again; what it spent is not known (none of its "
        "evaluation points reached the store) and is not counted: the run's energy is this "
        "attempt's alone"
    )
