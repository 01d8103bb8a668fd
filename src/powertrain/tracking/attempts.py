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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from datetime import timedelta

from powertrain.records import FAILED
from powertrain.tracking import board as board_

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


def failed_earlier(store, study: str, run_key: str, env=None) -> bool:
    """Whether the run at this key failed in an earlier attempt of this torchrun launch, or of
    this SLURM job (this one is a restart, or a requeue)."""
    env = os.environ if env is None else env
    return _failed_in_launch(store, study, run_key, env) or _failed_in_job(
        store, study, run_key, env
    )


def _failed_in_job(store, study: str, run_key: str, env: Mapping[str, str]) -> bool:
    """A SLURM job requeued (``scontrol requeue``, ``--requeue`` after a node failed) runs again
    under its own id, ``SLURM_RESTART_COUNT`` counting up: the run it failed names that job (and its
    cluster) in its hardware record."""
    job = env.get("SLURM_JOB_ID", "").strip()
    if _count(env, "SLURM_RESTART_COUNT") == 0 or not job:
        return False
    this = (job, env.get("SLURM_CLUSTER_NAME"))
    named = [(r, r.hardware.get("slurm") or {}) for r in store.runs(study)]
    return any(
        r.run_key == run_key and r.status == FAILED and (s.get("job_id"), s.get("cluster")) == this
        for r, s in named
    )


def _failed_in_launch(store, study: str, run_key: str, env: Mapping[str, str]) -> bool:
    if _count(env, "TORCHELASTIC_RESTART_COUNT") == 0:
        return False
    agent = _agent_store(env)
    try:
        if agent is None or not agent.check([_key(study, run_key)]):
            return False
        begun = int(agent.get(_key(study, run_key)))
    except Exception:
        return False
    runs = store.runs(study)
    return any(r.id == begun and r.run_key == run_key and r.status == FAILED for r in runs)
