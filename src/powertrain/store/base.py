"""The results store's contract. Every backend passes ``powertrain.testing.store_contract`` (run over the
built-in stores by ``tests/unit/test_store_contract.py``; a third-party store runs it the same way).

1. ``save_study`` records a study's name and latest configuration; saving again replaces the config.
2. ``begin_run(spec, hardware, provenance)`` claims the run ``spec`` (a ``RunRequest``: study, run
   key, setup, train, seed, stage, replace_failed) describes and returns its id. Any
   earlier *unfinished* attempt at that (study, run key) (a run that was killed) is removed with its
   evaluation points, timeline and inference results, in the same transaction, so a resumed study never
   holds duplicates. Beginning a key that already finished raises ValueError, except a FAILED one when
   ``spec.replace_failed`` is true, or a CENSORED one a search ended (its verdict ``by_search``) when
   ``spec.replace_censored`` is (a search taking on a run an earlier search paused or stopped; a
   request without the field never does; a run that ran to its own limit is never replaced). A FAILED
   one is then removed like an unfinished one; a CENSORED one stays, with its points and energy,
   until the new attempt's ``finish_run`` removes it in its own transaction, so a take-on killed
   before it finishes loses nothing recorded (the next ``begin_run`` removes the killed attempt and
   keeps it again; till then ``runs`` lists both). An unfinished attempt
   that another live process holds is refused with ``RunClaimed`` (see ``store/claims.py``): a dead
   holder's run is taken over (at once on the same host, after the lease elsewhere), the store's own
   are begun afresh. The store beats the heartbeat of the runs it holds until they finish.
3. ``add_eval_point`` and ``finish_run`` are durable when they return: a process killed after them
   loses nothing they wrote, and a process killed during them leaves the store as it was before.
4. ``runs`` lists runs in the order they began; ``eval_points`` in index order.
5. A finished run is never changed by later calls.
6. ``copy_run`` adds a run from another store as it is (status, outcome, times, stage, its points,
   timeline and inference results), in one transaction, unless the same run (study, run key, start
   time, hardware) is already there; it returns the new id, or None. Copying twice adds nothing.
   An unfinished copy there that no process holds (a merge taken while the run ran) gives way, in
   that transaction, to a finished copy of the run: a later merge brings its end; a finished
   attempt replaces the copies of the FAILED or search-ended attempts of its key begun before it,
   as its own store did (``store/copies.py``).
7. ``with store.atomic():`` makes every write in the block one transaction: if the block raises,
   none of them is kept (an import of many runs lands whole or not at all).
8. The store is the GPU power limit journal (``power_limit.PowerLimitJournal``):
   ``note_power_limit(uuid, previous_w)`` notes the limit to put back before a run changes it (a
   second note for the same GPU keeps the first: that is the limit from before any run), ``None``
   clears it once put back; ``pending_power_limits()`` is every note not yet cleared, durable across
   a killed process.
9. Why a run ended is typed: ``finish_run`` keeps ``outcome.verdict`` (a ``records.Verdict``) in a
   field of its own (SQLite: the ``verdict`` column of ``runs``, schema 5), and ``runs`` gives it back
   as ``run.outcome.verdict``, the member itself. ``copy_run`` keeps it. Code decides from it (did a
   search stop the run? ``verdict.by_search``), never from the ``stop_reason`` prose.
10. A live search's own cost is kept per study: ``save_search_cost(study, cost)`` (a JSON-able dict,
    replacing the study's earlier one), ``search_costs()`` every study's, {study: cost}; a merge
    copies those the output lacks.
11. The ranks of a distributed job that share no process group (SLURM tasks, a parent and the ranks
    it spawned) pass small messages through the store: ``post_rank_message(channel, seq, sender,
    body)`` keeps ``body`` (a JSON-able dict; posting the same (channel, seq, sender) again replaces
    it) durably when it returns, visible to every process that opens the store;
    ``rank_messages(channel, seq)`` is {sender: body} of what is posted there now;
    ``drop_rank_messages(channel, before_seq=None)`` removes a channel's messages (those of a
    ``seq`` below ``before_seq`` where given); ``expire_rank_messages(older_than_s)`` removes
    every channel's messages posted more than that many seconds ago, by the store's clock
    (PostgreSQL: the server's, which stamps them, so hosts whose clocks disagree agree on a
    message's age; SQLite: the machine's, the one clock of the processes that may share the file,
    ``shared_by_hosts``). A body that is not a JSON-able dict with text keys, or over
    ``rows.MAX_MESSAGE_BYTES``, or a ``seq``/``sender`` beyond 32 bits, is a PowertrainError on
    every backend, as is reading back a body that is not a JSON object. They are
    transient: no run holds them, a merge or ``copy_run`` leaves them. A store that cannot carry them (the default here)
    raises PowertrainError saying so.
12. A study name or run key holding a NUL character (which PostgreSQL's text cannot hold) is a
    PowertrainError on every backend, from ``save_study``, ``begin_run`` and ``copy_run`` alike,
    before anything is written (``check_names``).
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol

from powertrain.errors import PowertrainError
from powertrain.records import EvalPoint, RunOutcome, RunRecord, Stage, Status
from powertrain.store.claims import LEASE_S, Owner

#: Where model files go for a store that keeps none of its own (``runs/artifacts``, beside the default
#: store ``runs/powertrain.db``).
DEFAULT_ARTIFACTS = Path("runs") / "artifacts"


class RunRequest(Protocol):
    """The run ``begin_run`` is asked to claim: what identifies it and what it trains with (the
    study's ``RunSpec`` is one)."""

    study: str
    run_key: str
    setup: dict[str, Any]  # the grid's values
    train: dict[str, Any]  # every hyperparameter
    seed: int
    stage: Stage
    replace_failed: bool  # begin again over a FAILED attempt at this key
    # optional: ``replace_censored`` (begin again over a CENSORED attempt a search ended; False when
    # absent)


class ResultStore(ABC):
    #: how long another host's claim holds without a heartbeat (same-host claims end with their process)
    lease_s: float = LEASE_S
    #: whether processes on several machines may share the store: a server's (PostgreSQL), not a
    #: file's (SQLite's locks and WAL journal hold between the processes of one machine only)
    shared_by_hosts: bool = False
    _owner: Owner | None = None

    @property
    def owner(self) -> Owner:
        """Who this store's claims are held by: this process, unless set (tests, a coordinator)."""
        if self._owner is None:
            self._owner = Owner.this_process()
        return self._owner

    @owner.setter
    def owner(self, owner: Owner) -> None:
        self._owner = owner

    @abstractmethod
    def save_study(self, name: str, config: dict[str, Any]) -> None: ...

    @abstractmethod
    def studies(self) -> list[dict[str, Any]]:
        """Each study as {"name", "config", "created_at"}."""

    @abstractmethod
    def begin_run(
        self, spec: RunRequest, hardware: dict[str, Any], provenance: dict[str, dict[str, Any]]
    ) -> int:
        """Claim the run ``spec`` describes (see the contract, 2); returns its run id."""

    @abstractmethod
    def add_eval_point(self, run_id: int, point: EvalPoint) -> None: ...

    @abstractmethod
    def finish_run(self, run_id: int, outcome: RunOutcome) -> None: ...

    @abstractmethod
    def save_timeline(self, run_id: int, timeline: dict[str, Any]) -> None:
        """The run's power timeline (a trace: header, t_s, energy_j per component)."""

    @abstractmethod
    def runs(self, study: str | None = None) -> list[RunRecord]: ...

    def run(self, run_id: int) -> RunRecord | None:
        """The record of run ``run_id`` as ``runs`` lists it (None where there is none): a backend
        reads the one row."""
        return next((r for r in self.runs() if r.id == run_id), None)

    @abstractmethod
    def eval_points(self, run_id: int) -> list[EvalPoint]: ...

    @abstractmethod
    def timeline(self, run_id: int) -> dict[str, Any] | None: ...

    @abstractmethod
    def save_idle(self, host: str, measurement: dict[str, Any]) -> None:
        """A machine's idle power ({"measured_at", "seconds", "power_w": per component, "provenance"})."""

    @abstractmethod
    def idle(self, host: str) -> dict[str, Any] | None:
        """The latest idle measurement of a machine, or None."""

    @abstractmethod
    def idles(self) -> list[dict[str, Any]]:
        """Every idle measurement, each as {"host", **measurement} (what a merge copies)."""

    @abstractmethod
    def save_inference(self, run_id: int, results: list[dict[str, Any]]) -> None:
        """A run's inference measurements (one dict per batch size), replacing earlier ones."""

    @abstractmethod
    def inference(self, run_id: int) -> list[dict[str, Any]]:
        """The run's inference measurements, by batch size; empty when none were made."""

    @abstractmethod
    def copy_run(
        self,
        record: RunRecord,
        points: list[EvalPoint],
        timeline: dict[str, Any] | None = None,
        inference: list[dict[str, Any]] = (),
    ) -> int | None:
        """Add a run from another store as it is (see the contract, 6); its id, or None if present."""

    @abstractmethod
    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """Every write in the block lands, or none (see the contract, 7)."""

    @abstractmethod
    def pending_power_limits(self) -> dict[str, float]:
        """GPU UUID -> the power limit in watts to put back (see the contract, 8)."""

    @abstractmethod
    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        """Note a GPU's limit to put back; None clears the note (see the contract, 8)."""

    @abstractmethod
    def save_search_cost(self, study: str, cost: dict[str, Any]) -> None:
        """Keep the last live search's cost of ``study``, replacing an earlier one (contract, 10)."""

    @abstractmethod
    def search_costs(self) -> dict[str, dict[str, Any]]:
        """Every study's last live search cost, by study name (see the contract, 10)."""

    # -- a distributed job's messages (contract, 11): optional, so a third-party store keeps working --
    def post_rank_message(self, channel: str, seq: int, sender: int, body: dict[str, Any]) -> None:
        raise self._no_messages()

    def rank_messages(self, channel: str, seq: int) -> dict[int, dict[str, Any]]:
        raise self._no_messages()

    def drop_rank_messages(self, channel: str, before_seq: int | None = None) -> None:
        raise self._no_messages()

    def expire_rank_messages(self, older_than_s: float) -> None:
        raise self._no_messages()

    def _no_messages(self) -> PowertrainError:
        return PowertrainError(
            f"the {type(self).__name__} store cannot pass a distributed job's messages between "
            "its ranks: use a SQLite file or a PostgreSQL URL as the store"
        )

    @property
    def artifacts_dir(self) -> Path:
        """Where the model files of this store's runs go (``runs/artifacts`` unless the backend keeps
        them beside its own file)."""
        return DEFAULT_ARTIFACTS

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the store. Idempotent."""

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_names(*names: str) -> None:
    """PowertrainError for a study name or run key holding a NUL character (contract, 12)."""
    for name in names:
        if "\x00" in name:
            raise PowertrainError(
                f"{name!r} holds a NUL character, which no results store keeps (PostgreSQL's "
                "text cannot hold one); name the study and its setups without it"
            )


def begun_record(
    spec: RunRequest, hardware: dict[str, Any], provenance: dict[str, Any]
) -> RunRecord:
    """The record ``begin_run`` stores for ``spec``: RUNNING, begun now (its id is the backend's)."""
    return RunRecord(
        0,
        spec.study,
        spec.run_key,
        spec.setup,
        spec.train,
        spec.seed,
        Status.RUNNING,
        hardware,
        provenance,
        time.time(),
        stage=spec.stage,
    )
