"""The results store's contract. Every backend passes ``tests/unit/test_store_contract.py``.

1. ``save_study`` records a study's name and latest configuration; saving again replaces the config.
2. ``begin_run`` starts an attempt at a run key. Any earlier *unfinished* attempt at that key (a run that
   was killed) is removed with its evaluation points and timeline, in the same transaction, so a
   resumed study never holds duplicates. Beginning a key that already finished raises ValueError,
   except a FAILED one when ``replace_failed`` is true (it is then removed like an unfinished one).
3. ``add_eval_point`` and ``finish_run`` are durable when they return: a process killed after them
   loses nothing they wrote, and a process killed during them leaves the store as it was before.
4. ``runs`` lists runs in the order they began; ``eval_points`` in index order.
5. A finished run is never changed by later calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from powertrain.records import EvalPoint, RunOutcome, RunRecord


class ResultStore(ABC):
    @abstractmethod
    def save_study(self, name: str, config: dict[str, Any]) -> None: ...

    @abstractmethod
    def studies(self) -> list[dict[str, Any]]:
        """Each study as {"name", "config", "created_at"}."""

    @abstractmethod
    def begin_run(
        self,
        study: str,
        run_key: str,
        setup: dict[str, Any],
        train: dict[str, Any],
        seed: int,
        hardware: dict[str, Any],
        provenance: dict[str, dict[str, Any]],
        replace_failed: bool = False,
        stage: str = "train",
    ) -> int:
        """Start an attempt; returns its run id. ``stage``: "train" for the grid's runs, "pretrain"
        for a pretraining stage."""

    @abstractmethod
    def add_eval_point(self, run_id: int, point: EvalPoint) -> None: ...

    @abstractmethod
    def finish_run(self, run_id: int, outcome: RunOutcome) -> None: ...

    @abstractmethod
    def save_timeline(self, run_id: int, timeline: dict[str, Any]) -> None:
        """The run's power timeline (a trace: header, t_s, energy_j per component)."""

    @abstractmethod
    def runs(self, study: str | None = None) -> list[RunRecord]: ...

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
    def save_inference(self, run_id: int, results: list[dict[str, Any]]) -> None:
        """A run's inference measurements (one dict per batch size), replacing earlier ones."""

    @abstractmethod
    def inference(self, run_id: int) -> list[dict[str, Any]]:
        """The run's inference measurements, by batch size; empty when none were made."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the store. Idempotent."""

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
