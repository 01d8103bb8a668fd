"""A run handed to processes its own process starts (Lightning's ``strategy="ddp_spawn"``,
``torch.multiprocessing.spawn``): the spawned processes are the job's ranks, the process that called
``fit`` is not one.

The parent owns the run from start to end: it claimed the run, its monitor runs through the whole
block, and it writes the outcome. Pickling the run (the spawner pickles the callbacks) hands each
spawned process a ``SpawnTicket``: enough to rebuild the tracker there, the run's id, and the parent's
figures at that moment. The spawned ranks exchange as any job's ranks do; spawned rank 0 records
each evaluation point into the parent's run, its energy being the parent's figures at the hand-over
plus the ranks' own since they started, and at the end posts the ranks' verdict on the store's
messages (contract, 11) for the parent, which reads it back once ``fit`` returns (where another
process holds the store locked through that end: in a file beside the store, ``hand_back``).

The outcome's energy is the parent's own reading of the whole block: its CPU-time estimate counts
its process and its children (the spawned ranks while they live, and their CPU time once they have
ended and been waited for), and a device-wide counter (NVML, RAPL) is read once, by the parent. The
spawned ranks' own figures make the points only, so nothing is counted twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
from dataclasses import asdict, dataclass
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import RUNNING, EvalPoint, Status, Verdict
from powertrain.store import kept as kept_
from powertrain.store.pending import END_TRIES
from powertrain.store.sqlite_guard import StoreLocked

log = logging.getLogger(__name__)

CHANNEL = "spawned/{run_id}"  # where spawned rank 0 leaves the verdict for the parent


@dataclass(frozen=True)
class SpawnTicket:
    options: dict[str, Any]  # Tracker(**options) in the spawned process
    run_id: int | None
    base_energy_j: dict[str, float]  # the parent's figures when it handed the run over
    base_s: float
    skipped: bool = False
    points: tuple[EvalPoint, ...] = ()  # recorded before (an earlier fit of the same block)


def ticket(run) -> SpawnTicket:
    """What a spawned process gets for ``run`` (the parent's), or one clear error."""
    tracker = run.tracker
    if run.ranks.distributed:
        raise PowertrainError(
            f"this process is {run.ranks.describe()} and hands its tracked run to processes it "
            "spawns: enter the `with powertrain.track(...)` block in every rank's own process"
        )
    db = tracker.db
    if db is not None and not isinstance(db, (str, bytes)) and not hasattr(db, "__fspath__"):
        db = getattr(db, "path", None)
        if db is None or str(db) == ":memory:":
            raise PowertrainError(
                "the tracked run goes to spawned processes (Lightning's strategy='ddp_spawn'), "
                "which open the store themselves: pass db as a path or a URL, not a store object"
            )
    if tracker.hooks.trial is not None:
        raise PowertrainError(
            "a sweep's trial cannot follow a run into spawned processes: use strategy='ddp'"
        )
    if tracker.detection is not None:  # the spawned ranks would measure with meters of their own
        raise PowertrainError(
            "the tracked run goes to spawned processes (Lightning's strategy='ddp_spawn'), which "
            "detect their meters themselves: leave out detection=, or use strategy='ddp'"
        )
    options = {
        "study": tracker.study,
        "setup": tracker.setup,
        "seed": tracker.seed,
        "target": tracker.targets,
        "db": db,
        "train": tracker.train,
        "model": tracker.model,
        "data": tracker.data,
        "device": str(run.device) if not run.skipped else tracker.device,
        "handlers": tracker.user_handlers,
        "rank_timeout_s": tracker.rank_timeout_s,
        "if_finished": "skip",
    }
    _check_picklable(tracker.user_handlers)
    if run.skipped:
        return SpawnTicket(options, run.run_id, {}, 0.0, skipped=True)
    if not run.handed_over:  # a result a killed earlier attempt left is not this one's
        run.store.drop_rank_messages(CHANNEL.format(run_id=run.run_id))
        with contextlib.suppress(OSError):
            _handback_path(run).unlink(missing_ok=True)
    so_far = run.monitor.read("run")
    run.handed_over = True
    points = tuple(run.store.eval_points(run.run_id))  # a second fit numbers on from the first's
    return SpawnTicket(options, run.run_id, dict(so_far.energy_j), so_far.duration_s, False, points)


def _check_picklable(handlers) -> None:
    for handler in handlers:
        try:
            pickle.dumps(handler)
        except Exception as error:
            raise PowertrainError(
                f"the stop handler {handler!r} cannot go to spawned processes (Lightning's "
                f"strategy='ddp_spawn' pickles it: {error}): define it at module level, or use "
                "strategy='ddp'"
            ) from None


def revive(run_cls, tracker_cls, ticket: SpawnTicket):
    """In a spawned process: the run its parent handed over (unpickling calls this)."""
    try:
        tracker = tracker_cls(**ticket.options)
    except TypeError as error:  # options this version's track() does not take
        raise PowertrainError(
            f"this tracked run was pickled by another powertrain version ({error}): spawned "
            "processes must run the parent's version; a pickled run is no way to store one"
        ) from None
    if ticket.skipped:
        run = run_cls.__new__(run_cls)
        run.tracker, run.points, run.skipped, run._told = tracker, [], True, True
        run.outcome, run.run_id, run.status, run.stop_reason = None, ticket.run_id, None, None
        run.spawned = True
        return run
    return run_cls(tracker, None, False, ticket)


def check_in_progress(store, run) -> None:
    """Spawned rank 0, before it writes into the parent's run: the run is still the parent's attempt
    in progress, not one that finished, was begun afresh since (its parent was stopped and the
    script run again) or is not in this store at all (the ticket is older than the store)."""
    record = next((r for r in store.runs(run.tracker.study) if r.id == run.run_id), None)
    if record is not None and record.status == RUNNING and record.run_key == run.tracker.run_key:
        return
    state = "is not in the store" if record is None else f"is {record.status}, not running"
    raise PowertrainError(
        f"run {run.run_id} of study {run.tracker.study!r} {state}: this spawned process holds the "
        "hand-over of an attempt that has ended (its parent was stopped, or the pickled run is "
        "older than the store's contents), so it records nothing; track the run afresh"
    )


def verdict(run, combined, exc: BaseException | None) -> dict[str, Any]:
    """What spawned rank 0 leaves for the parent: the ranks' decision, their breakdown, an error."""
    reached = run._reached.index if run._reached is not None else None
    return {
        "status": None if run.status is None else str(run.status),
        "stop_reason": run.stop_reason,
        "verdict": None if run._verdict is None else str(run._verdict),
        "reached": reached,
        "end_reason": run._end_reason,
        "test": run._test_tasks or None,
        "error": None if exc is None else f"{type(exc).__name__}: {exc}",
        "ranks": [] if combined is None else [r for n in combined.nodes for r in n["ranks"]],
    }


def take_back(run) -> tuple[str | None, list[int]]:
    """In the parent once the spawned ranks are done: their points and verdict (the points also go to
    the run's loggers, which the spawned processes could not take along). Returns (the error a
    spawned rank ended with, or None; the ranks that answered)."""
    before = {p.index for p in run.points}
    run.points = run.store.eval_points(run.run_id)
    for point in run.points:
        if point.index not in before:
            run.tracker.hooks.observers.eval_point(run.run_id, point)
    channel = CHANNEL.format(run_id=run.run_id)
    try:
        left = run.store.rank_messages(channel, 0).get(0)
    except PowertrainError as error:  # a body that is no JSON object: the run fails, saying so
        left = {"unreadable": str(error)}
    left = _taken_from_file(run) if left is None else left
    with contextlib.suppress(StoreLocked):  # the next hand-over drops what is left here
        run.store.drop_rank_messages(channel)
    if left is None:
        return "the spawned ranks ended without handing the run back", []
    try:
        return _apply_verdict(run, left)
    except (KeyError, TypeError, ValueError):
        run.status, run.stop_reason, run._verdict, run._reached = None, None, None, None
        return (
            "the spawned ranks' verdict is not what this powertrain leaves (another version's, or "
            f"another program's): {str(left)[:200]}",
            [],
        )


def _apply_verdict(run, left: dict[str, Any]) -> tuple[str | None, list[int]]:
    """The verdict onto the parent's run; KeyError, TypeError or ValueError when it is not one."""
    status = None if left["status"] is None else Status(left["status"])
    verdict = None if left["verdict"] is None else Verdict(left["verdict"])
    if verdict is not None and verdict.status is not status:
        raise ValueError(f"a run that {verdict.words} ends {verdict.status}, not {status}")
    run.status, run.stop_reason = status, left["stop_reason"]
    run._verdict, run._end_reason = verdict, left["end_reason"] or run._end_reason
    run._handed_faults = [str(f) for f in left.get("faults") or []]  # points it could not record
    if left["reached"] is not None:
        run._reached = next((p for p in run.points if p.index == left["reached"]), None)
        if run._reached is None:
            return f"the spawned ranks' point {left['reached']} is not in the store", left["ranks"]
    if left["test"]:
        run._test_tasks = left["test"]
        run._test = sum(left["test"].values()) / len(left["test"])
    return left["error"], left["ranks"]


def point_energy(ticket: SpawnTicket | None, energy_j: dict[str, float]) -> dict[str, float]:
    """A spawned job's point: the parent's figures at the hand-over plus the ranks' since."""
    if ticket is None:
        return dict(energy_j)
    keys = list(dict.fromkeys([*ticket.base_energy_j, *energy_j]))
    return {k: ticket.base_energy_j.get(k, 0.0) + energy_j.get(k, 0.0) for k in keys}


def parent_node(run, total, ranks: list[int]) -> list[dict[str, Any]]:
    """The outcome's breakdown: one node, read by the parent, its spawned ranks included."""
    meters = run.detection.meters
    how = "the process that spawned the ranks: its own and its spawned ranks' processes"
    return [
        {
            "node": run.ranks.node_rank,
            "host": run.ranks.host,
            "ranks": ranks,
            "gpus": sorted(run._gpu_start_j),
            "duration_s": total.duration_s,
            "energy_j": dict(total.energy_j),
            "method": {c.value: m.provenance.method.value for c, m in meters.items()},
            "read_by": {
                c.value: how if m.scope == "process" else "the spawning process (device-wide, once)"
                for c, m in meters.items()
            },
        }
    ]


def _handback_path(run):
    where = kept_.beside(run.store)
    return where.with_name(f"{where.stem}.handback-{run.run_id}.json")


def hand_back(run, channel: str, left: dict[str, Any]) -> None:
    """Spawned rank 0's end: its refused and waiting points, then its verdict, into the store;
    where another process holds the store locked through ``END_TRIES`` tries, or it refuses them
    otherwise (a full disk), into a file beside it that the parent takes back (``take_back``): the user's fit is not ended for it, and the
    parent writes the run (or keeps it beside the store) with every point."""
    notes = run._unrecorded.write_again(run, len(run.points), run._waiting)
    if run._unrecorded.points:
        log.warning("run %s: %s", run.run_id, "; ".join(notes))
    left = {**left, "faults": notes}  # the parent's outcome names them
    refused: Exception | None = None
    for _ in range(END_TRIES):  # a lock: tried again; another refusal (a full disk): not
        try:
            run._waiting.flush(run.store, run.run_id)
            run.store.post_rank_message(channel, 0, 0, left)
            return
        except StoreLocked as exc:
            refused = exc
        except Exception as exc:
            refused = exc
            break
    path = _handback_path(run)
    try:
        points = [asdict(p) for p in run._waiting.points]
        path.write_text(json.dumps({"verdict": left, "points": points}))
    except (OSError, TypeError, ValueError) as error:  # said; the user's fit goes on
        log.error(
            "%s; run %s could not be handed back to its parent process either (%s): the parent "
            "records it failed, without its points since the store refused them",
            refused,
            run.run_id,
            error,
        )
        return
    log.warning("%s; run %s is handed back to its parent process in %s", refused, run.run_id, path)


def _taken_from_file(run) -> dict[str, Any] | None:
    """The verdict a spawned rank 0 left in a file beside a locked store, its points added to the
    run's (they wait to go in with its end), the file removed; None where it left none."""
    path = _handback_path(run)
    try:
        handed = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return {"unreadable": f"{path}: {error}"}
    points = [EvalPoint(**p) for p in handed["points"]]
    for point in points:
        run.tracker.hooks.observers.eval_point(run.run_id, point)
    run.points = sorted([*run.points, *points], key=lambda p: p.index)
    run._waiting.points.extend(points)
    path.unlink()
    return handed["verdict"]
