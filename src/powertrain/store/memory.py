"""An in-memory store: the contract's reference implementation, for tests and throw-away studies."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
from typing import Any

from powertrain.records import CENSORED, RUNNING, EvalPoint, RunOutcome, RunRecord
from powertrain.store.base import (
    ResultStore,
    begun_record,
    check_names,
)
from powertrain.store.claims import REPLACED_AT_FINISH, check_claimable, removed_at_begin
from powertrain.store.copies import attempts, plan_copy
from powertrain.store.rows import message_text


class MemoryStore(ResultStore):
    def __init__(self) -> None:
        self._studies: dict[str, dict[str, Any]] = {}
        self._runs: dict[int, RunRecord] = {}
        self._points: dict[int, list[EvalPoint]] = {}
        self._timelines: dict[int, dict[str, Any]] = {}
        self._inference: dict[int, list[dict[str, Any]]] = {}
        self._idle: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 1
        self._claims: dict[int, tuple[str, float]] = {}  # run id -> (owner, heartbeat_at)
        self._power_limits: dict[str, float] = {}  # GPU UUID -> the limit to put back
        self._search_costs: dict[str, dict[str, Any]] = {}  # study -> its last search's cost
        self._messages: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}  # contract, 11
        self._posted_at: dict[
            tuple[str, int, int], float
        ] = {}  # each (channel, seq, sender)'s post

    @contextlib.contextmanager
    def atomic(self):
        state = copy.deepcopy(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)  # as it was before the block
            raise

    def save_study(self, name: str, config: dict[str, Any]) -> None:
        check_names(name)
        created = self._studies.get(name, {}).get("created_at", time.time())
        self._studies[name] = {"name": name, "config": copy.deepcopy(config), "created_at": created}

    def studies(self) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(s) for s in sorted(self._studies.values(), key=lambda s: s["created_at"])
        ]

    def begin_run(self, spec, hardware, provenance) -> int:
        check_names(spec.study, spec.run_key)
        same = [
            r for r in self._runs.values() if r.study == spec.study and r.run_key == spec.run_key
        ]
        attempts = [
            (r.status.value, *self._claims.get(r.id, (None, None)), r.outcome and r.outcome.verdict)
            for r in same
        ]
        check_claimable(spec, attempts, self.owner, self.lease_s)
        self._remove([r.id for r in same if removed_at_begin(r.status)])
        run_id = self._add(begun_record(spec, hardware, provenance), [])
        self._claims[run_id] = (str(self.owner), time.time())
        return run_id

    def _add(self, record: RunRecord, points: list[EvalPoint]) -> int:
        run_id, self._next_id = self._next_id, self._next_id + 1
        self._runs[run_id] = dataclasses.replace(copy.deepcopy(record), id=run_id)
        self._points[run_id] = list(points)
        return run_id

    def copy_run(self, record, points, timeline=None, inference=()) -> int | None:
        check_names(record.study, record.run_key)
        rows = [
            (
                r.id,
                r.status.value,
                r.outcome and r.outcome.verdict.value,
                *self._claims.get(r.id, (None, None)),
                r.started_at,
                json.dumps(r.hardware),
                len(self._points.get(r.id, [])),
            )
            for r in self._runs.values()
            if (r.study, r.run_key) == (record.study, record.run_key)
        ]
        found = attempts(rows, self.lease_s)
        replaced = plan_copy(record, found, len(points))
        if replaced is None:
            return None
        self._remove(replaced)
        run_id = self._add(record, points)
        if timeline is not None:
            self.save_timeline(run_id, timeline)
        if inference:
            self.save_inference(run_id, list(inference))
        return run_id

    def add_eval_point(self, run_id: int, point: EvalPoint) -> None:
        self._points[run_id].append(point)

    def _remove(self, run_ids) -> None:
        for run_id in run_ids:
            del self._runs[run_id]
            self._points.pop(run_id, None)
            self._timelines.pop(run_id, None)
            self._inference.pop(run_id, None)

    def finish_run(self, run_id: int, outcome: RunOutcome) -> None:
        run = self._runs[run_id]
        if run.status == RUNNING:
            self._remove(  # the attempts its begin kept, that it replaces (contract, 2)
                [
                    r.id
                    for r in self._runs.values()
                    if (r.study, r.run_key) == (run.study, run.run_key)
                    and r.id < run_id
                    and r.status == CENSORED
                    and r.outcome.verdict.value in REPLACED_AT_FINISH
                ]
            )
            self._runs[run_id] = RunRecord(
                **{
                    **run.__dict__,
                    "status": outcome.status,
                    "outcome": outcome,
                    "finished_at": time.time(),
                }
            )

    def save_timeline(self, run_id: int, timeline: dict[str, Any]) -> None:
        self._timelines[run_id] = copy.deepcopy(timeline)

    def save_idle(self, host: str, measurement: dict[str, Any]) -> None:
        self._idle.setdefault(host, []).append(copy.deepcopy(measurement))

    def idle(self, host: str) -> dict[str, Any] | None:
        saved = self._idle.get(host)
        return copy.deepcopy(max(saved, key=lambda m: m["measured_at"])) if saved else None

    def idles(self) -> list[dict[str, Any]]:
        return [
            {"host": host, **copy.deepcopy(m)}
            for host in sorted(self._idle)
            for m in sorted(self._idle[host], key=lambda m: m["measured_at"])
        ]

    def save_inference(self, run_id: int, results: list[dict[str, Any]]) -> None:
        self._inference[run_id] = sorted(copy.deepcopy(results), key=lambda r: r["batch_size"])

    def inference(self, run_id: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self._inference.get(run_id, []))

    def runs(self, study: str | None = None) -> list[RunRecord]:
        return [r for _, r in sorted(self._runs.items()) if study is None or r.study == study]

    def run(self, run_id: int) -> RunRecord | None:
        return self._runs.get(run_id)

    def eval_points(self, run_id: int) -> list[EvalPoint]:
        return sorted(self._points.get(run_id, []), key=lambda p: p.index)

    def timeline(self, run_id: int) -> dict[str, Any] | None:
        return copy.deepcopy(self._timelines.get(run_id))

    def pending_power_limits(self) -> dict[str, float]:
        return dict(sorted(self._power_limits.items()))

    def save_search_cost(self, study: str, cost: dict[str, Any]) -> None:
        self._search_costs[study] = copy.deepcopy(cost)

    def search_costs(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(dict(sorted(self._search_costs.items())))

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        if previous_w is None:
            self._power_limits.pop(gpu_uuid, None)
        else:  # the first note holds: it is the limit from before any run changed it
            self._power_limits.setdefault(gpu_uuid, float(previous_w))

    def post_rank_message(self, channel: str, seq: int, sender: int, body: dict[str, Any]) -> None:
        text = message_text(channel, seq, sender, body)  # kept as the other stores keep it
        self._messages.setdefault((channel, seq), {})[sender] = json.loads(text)
        self._posted_at[(channel, seq, sender)] = time.time()

    def rank_messages(self, channel: str, seq: int) -> dict[int, dict[str, Any]]:
        return copy.deepcopy(self._messages.get((channel, seq), {}))

    def drop_rank_messages(self, channel: str, before_seq: int | None = None) -> None:
        below = float("inf") if before_seq is None else before_seq
        for key in [k for k in self._messages if k[0] == channel and k[1] < below]:
            for sender in self._messages.pop(key):
                self._posted_at.pop((*key, sender), None)

    def expire_rank_messages(self, older_than_s: float) -> None:
        posted_before = time.time() - older_than_s
        for channel, seq, sender in [k for k, t in self._posted_at.items() if t < posted_before]:
            del self._posted_at[(channel, seq, sender)]
            senders = self._messages.get((channel, seq), {})
            senders.pop(sender, None)
            if not senders:
                self._messages.pop((channel, seq), None)
