"""The exchange of ``tracking/job.py`` for ranks that share no torch.distributed process group: each
rank posts its message on a board, rank 0 waits for all of them (with a deadline), posts its decision,
and the others wait for it (with the same deadline). Two boards:

- ``StoreBoard``: the results store's messages (contract, 11: SQLite or PostgreSQL), for SLURM tasks
  (``srun -n 8 python train.py``) that never start torch.distributed: nothing but the store is shared.
  The channel names the job by ``SLURM_CLUSTER_NAME``, ``SLURM_JOB_ID``, ``SLURM_STEP_ID``,
  ``SLURM_RESTART_COUNT`` and its nodes (``SLURM_JOB_NODELIST``), so no two jobs' messages meet (two
  clusters may share a store, a name and job ids).
- ``TcpBoard``: torchrun's own key-value store (the agent's ``TCPStore`` at ``MASTER_ADDR``:
  ``MASTER_PORT``), for torchrun ranks of a script that does not call ``init_process_group``. It
  lives as long as the launch, so its keys are always this launch's.

Messages are JSON (a shared database is no place for pickles); a missing rank ends the wait with
``RanksLost`` naming it, so no rank waits forever.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from powertrain.errors import PowertrainError
from powertrain.records import EvalPoint, RunOutcome, Status
from powertrain.slurm import in_step
from powertrain.tracking import job as job_
from powertrain.tracking.combine import RankReading

DECISION = -1  # the sender of rank 0's decision on a board
#: How long the store keeps a board's messages: a run's last exchange stays behind (no rank can tell
#: when every other one has read it), so rank 0 of a new job removes what is older than this.
MESSAGES_KEPT_S = job_.MOST_TIMEOUT_S  # no wait outlives its messages
_POLL_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)  # waits between looks, then the last, repeated
_TRACKED: dict[tuple[str, str], int] = {}  # (job, run key) -> how often this process tracked it


class Board(Protocol):
    def post(self, seq: int, sender: int, body: dict[str, Any]) -> None: ...

    def read(self, seq: int, senders: list[int]) -> dict[int, dict[str, Any]]: ...

    def drop(self, before_seq: int) -> None: ...


class StoreBoard:
    """A channel of the results store's messages."""

    def __init__(self, store, channel: str) -> None:
        self.store, self.channel = store, channel

    def post(self, seq: int, sender: int, body: dict[str, Any]) -> None:
        self.store.post_rank_message(self.channel, seq, sender, body)

    def read(self, seq: int, senders: list[int]) -> dict[int, dict[str, Any]]:
        found = self.store.rank_messages(self.channel, seq)
        return {s: found[s] for s in senders if s in found}

    def drop(self, before_seq: int) -> None:
        self.store.drop_rank_messages(self.channel, before_seq)


class TcpBoard:
    """Keys under a prefix of torchrun's TCPStore."""

    def __init__(self, store, prefix: str, world_size: int) -> None:
        self.store, self.prefix, self.world_size = store, prefix, world_size
        self._dropped = 0

    def _key(self, seq: int, sender: int) -> str:
        return f"{self.prefix}/{seq}/{sender}"

    def post(self, seq: int, sender: int, body: dict[str, Any]) -> None:
        text = json.dumps(body, allow_nan=False)
        _reached(lambda: self.store.set(self._key(seq, sender), text))

    def read(self, seq: int, senders: list[int]) -> dict[int, dict[str, Any]]:
        keys = {s: self._key(seq, s) for s in senders}
        found = _reached(
            lambda: {s: self.store.get(k) for s, k in keys.items() if self.store.check([k])}
        )
        return {s: _parsed(raw, keys[s]) for s, raw in found.items()}

    def drop(self, before_seq: int) -> None:
        for seq in range(self._dropped, before_seq):
            for sender in range(DECISION, self.world_size):
                _reached(lambda: self.store.delete_key(self._key(seq, sender)))  # noqa: B023
        self._dropped = max(self._dropped, before_seq)


def _reached(call):
    """``call()`` on torchrun's store; RanksLost when the store is gone (the launcher's agent ended,
    or never listened where MASTER_ADDR:MASTER_PORT say)."""
    try:
        return call()
    except RuntimeError as exc:  # torch's DistStoreError, DistNetworkError
        raise job_.RanksLost(
            f"torchrun's store did not answer ({str(exc).splitlines()[0][:200]}): the launcher "
            "ended, or MASTER_ADDR:MASTER_PORT are not where it listens"
        ) from None


def _parsed(raw: bytes, where: str) -> dict[str, Any]:
    """A message body read back: a JSON object, or one error naming where it was found."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise job_.RanksLost(
            f"the message at {where!r} is not one powertrain posted (not a JSON object): another "
            "program writes under powertrain's keys in torchrun's store"
        )
    return body


class BoardJob(job_.Job):
    """A ``Job`` whose two collectives go through a board: rank 0 reads every rank's message, the
    others read rank 0's decision; each wait ends at ``timeout_s``."""

    def __init__(self, info, run_key, meters, gpu_start_j, timeout_s, board: Board) -> None:
        super().__init__(info, run_key, meters, gpu_start_j, timeout_s)
        self.board = board
        self.seq = 0  # the exchange

    def gather(self, kind: str, reading: RankReading, evaluations: int) -> list[job_.Message]:
        mine = self.message(kind, reading, evaluations)
        self._post(self.seq, self.info.rank, _json_safe(_message_body(mine)))
        if kind == job_.CLOSE:
            self.open = False
        if not self.info.leader:
            return [mine]
        bodies = self._wait(list(range(self.info.world_size)), "its figures")
        messages = [_message(bodies[r], r) for r in range(self.info.world_size)]
        if any(m.kind in (job_.CLOSE, job_.FAILED) for m in messages):
            self.open = False
        return messages

    def still_up(self) -> bool:
        return True  # a board outlives torch.distributed

    def failures(self) -> list[str]:
        return []  # a rank that leaves on an error posts it, read at rank 0's next exchange

    def leave(self, reading: RankReading, evaluations: int, error: str) -> None:
        """No rank's exit reaches rank 0 here: it is told, so that it need not wait out the timeout."""
        failed = self.message(job_.FAILED, reading, evaluations, error)
        self._post(self.seq, self.info.rank, _json_safe(_message_body(failed)))
        self.open = False

    def abandon(self, evaluations: int, error: str) -> None:
        """Rank 0 leaving on an error: its decision of the exchange the others wait at says so
        (the earlier decisions are kept: a rank may not have read the last one yet)."""
        decision = _json_safe(_decision_body(job_.Decision(error=error)))
        self._post(self.seq, DECISION, decision)
        self.open = False

    def decide(self, decision: job_.Decision | None = None) -> job_.Decision:
        seq, self.seq = self.seq, self.seq + 1
        if self.info.leader:
            self._post(seq, DECISION, _json_safe(_decision_body(decision)))
            if seq > 0:
                with contextlib.suppress(Exception):  # tidying: the next drop takes them
                    self.board.drop(seq)  # every rank read the decisions before this one
            return decision
        body = self._wait([DECISION], "rank 0's decision", seq)[DECISION]
        return _decision(body)

    def _post(self, seq: int, sender: int, body: dict) -> None:
        """``board.post``, tried again while the board refuses it (a locked or restarting
        store), up to the rank timeout; then RanksLost naming the board's error."""
        deadline = time.monotonic() + self.timeout_s
        for n in itertools.count():
            try:
                return self.board.post(seq, sender, body)
            except PowertrainError:  # a refusal of powertrain's own (a store removed): for good
                self.open = False
                raise
            except Exception as error:  # the store's: locked, away
                if time.monotonic() > deadline:
                    self.open = False
                    raise job_.RanksLost(
                        f"{self.info.describe()}: the exchange's store refused this rank's "
                        f"message for {self.timeout_s:g} s ({type(error).__name__}: {error})"
                    ) from None
            time.sleep(_POLL_S[min(n, len(_POLL_S) - 1)])

    def _wait(self, senders: list[int], what: str, seq: int | None = None) -> dict[int, dict]:
        seq = self.seq if seq is None else seq
        deadline = time.monotonic() + self.timeout_s
        found, refused = {}, None
        for n in itertools.count():
            try:
                found, refused = self.board.read(seq, senders), None
            except PowertrainError:  # a refusal of powertrain's own (a store removed): for good
                self.open = False
                raise
            except Exception as error:  # the store's, for a moment (locked): looked at again
                refused = f"{type(error).__name__}: {error}"
            if len(found) == len(senders):
                return {sender: _from_json_safe(body) for sender, body in found.items()}
            if time.monotonic() > deadline:
                break
            time.sleep(_POLL_S[min(n, len(_POLL_S) - 1)])
        self.open = False
        if refused is not None:
            raise job_.RanksLost(
                f"{self.info.describe()}: the exchange's store refused to be read for "
                f"{self.timeout_s:g} s ({refused})"
            )
        missing = [("rank 0" if s == DECISION else f"rank {s}") for s in senders if s not in found]
        named = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        raise job_.RanksLost(
            f"{self.info.describe()}: {named} did not post {what} for exchange "
            f"{seq + 1} within {self.timeout_s:g} s (it died, hangs, or never entered the tracked "
            "block). Every rank must enter the tracked block and call run.evaluate at the same points"
        )


# -- JSON in and out ------------------------------------------------------------------------------
_NON_FINITE = "__non_finite__"  # JSON has no NaN or inf; a diverged run's loss is one


def _json_safe(value):
    """``value`` with every NaN and infinity written as ``{_NON_FINITE: "nan" | "inf" | "-inf"}``."""
    if isinstance(value, float) and not math.isfinite(value):
        return {_NON_FINITE: repr(value)}
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _from_json_safe(value):
    if isinstance(value, dict):
        if set(value) == {_NON_FINITE}:
            return float(value[_NON_FINITE])
        return {k: _from_json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json_safe(v) for v in value]
    return value


def _message_body(m: job_.Message) -> dict[str, Any]:
    return dataclasses.asdict(m)  # the reading with it


def _message(body: Mapping[str, Any], sender: int) -> job_.Message:
    """Rank ``sender``'s message; one that is not (another program's, another version's, another
    rank's) is read as that rank failing, so rank 0 ends the run on every rank with the reason."""
    try:
        message = job_.Message(**{**body, "reading": RankReading(**body["reading"])})
        if message.rank == sender and message.kind in (
            job_.POINT,
            job_.CLOSE,
            job_.FAILED,
            job_.START,
        ):
            return message
    except (TypeError, KeyError):
        pass
    error = (
        f"its message on the board is not what this powertrain posts as rank {sender} (another "
        "program or version writes on this job's channel, or two jobs share the channel's name)"
    )
    return job_.Message(sender, job_.FAILED, "", RankReading(sender, 0, "", {}), 0, error)


def _decision_body(d: job_.Decision) -> dict[str, Any]:
    return {
        "point": None if d.point is None else dataclasses.asdict(d.point),
        "status": None if d.status is None else str(d.status),
        "stop_reason": d.stop_reason,
        "outcome": None if d.outcome is None else d.outcome.to_dict(),
        "error": d.error,
        "final": d.final,
    }


def _decision(body: Mapping[str, Any]) -> job_.Decision:
    try:
        point, status, outcome = body["point"], body["status"], body["outcome"]
        return job_.Decision(
            point=None if point is None else EvalPoint(**point),
            status=None if status is None else Status(status),
            stop_reason=body["stop_reason"],
            outcome=None if outcome is None else RunOutcome(**outcome),
            error=body["error"],
            final=body["final"],
        )
    except (TypeError, KeyError, ValueError):
        raise job_.RanksLost(
            "rank 0's decision on the board is not what this powertrain posts (another program "
            "or version writes on this job's channel, or two jobs share the channel's name)"
        ) from None


# -- which board, for which job ---------------------------------------------------------------------
def slurm_step(env: Mapping[str, str]) -> str | None:
    """The SLURM job step this process is a task of (``srun``), or None (a batch script's own
    process, or no SLURM)."""
    step = env.get("SLURM_STEP_ID", env.get("SLURM_STEPID"))
    job = env.get("SLURM_JOB_ID", env.get("SLURM_JOBID"))
    if not in_step(env) or not job:
        return None
    cluster = env.get("SLURM_CLUSTER_NAME", "")  # two clusters may share one PostgreSQL store
    # ... and a name (the default "cluster" of slurm.conf), so the job's nodes tell them apart too
    nodes = env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST", ""))
    where = hashlib.sha256(nodes.encode()).hexdigest()[:8] if nodes else ""
    return f"slurm-{cluster}-{job}.{step}.{env.get('SLURM_RESTART_COUNT', '0')}-{where}"


def torchrun_store(env: Mapping[str, str]) -> tuple[str, int] | None:
    """(host, port) of torchrun's agent store where the launcher offers it to its ranks."""
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    if not env.get("MASTER_ADDR") or not env.get("MASTER_PORT"):
        return None
    port = env["MASTER_PORT"].strip()
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise PowertrainError(
            f"MASTER_PORT={env['MASTER_PORT']!r} in the environment is not a TCP port (1 to "
            "65535): the ranks cannot reach torchrun's store; check what launched them"
        )
    return env["MASTER_ADDR"], int(port)


def channel(job: str, run_key: str) -> str:
    """This job's channel for this run: the n-th ``track()`` of the run key in this process (every
    rank tracks the same runs in the same order, so all agree on n)."""
    n = _TRACKED.get((job, run_key), 0)
    _TRACKED[(job, run_key)] = n + 1
    return f"{job}/{run_key}/{n}"


def tcp_board(address: tuple[str, int], run_key: str, info, timeout_s: float) -> TcpBoard:
    import torch.distributed as dist

    host, port = address
    timeout = timedelta(seconds=timeout_s)
    store = _reached(lambda: dist.TCPStore(host, port, info.world_size, False, timeout=timeout))
    job = f"torchrun-{os.environ.get('TORCHELASTIC_RUN_ID', '')}"
    job += f".{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    return TcpBoard(store, "powertrain/" + channel(job, run_key), info.world_size)
