"""What the store contract's tests build their runs from (``store_contract``, ``store_contract_copies``):
a provenance, evaluation points, a run request, an outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from powertrain.records import REACHED, EvalPoint, RunOutcome, Stage, Verdict

PROVENANCE = {"cpu": {"meter": "estimate", "method": "estimate", "estimated": True, "details": {}}}


def point(i: int, acc: float = 0.5) -> EvalPoint:
    return EvalPoint(
        i,
        10 * (i + 1),
        0.5 * (i + 1),
        320 * (i + 1),
        1.0 / (i + 1),
        acc,
        2.0 * (i + 1),
        {"cpu": 5.0 * (i + 1), "ram": 0.5 * (i + 1)},
    )


@dataclass(frozen=True)
class Request:
    """A run to begin (``store.base.RunRequest``; the study's ``RunSpec`` is one)."""

    study: str
    run_key: str
    setup: dict[str, Any]
    train: dict[str, Any]
    seed: int
    stage: Stage = Stage.TRAIN
    replace_failed: bool = False
    replace_censored: bool = False


def outcome(status: str = REACHED, verdict: Verdict | None = None) -> RunOutcome:
    return RunOutcome(
        status,
        "why",
        11.0,
        {"cpu": 10.0, "ram": 1.0},
        4.0,
        20,
        0.9,
        0.88,
        11.0 if status == REACHED else None,
        4.0 if status == REACHED else None,
        20 if status == REACHED else None,
        verdict=verdict,
    )


def spec(key="k1", seed=0, study="st", **kw) -> Request:
    return Request(
        study, key, {"learning_rate": 0.1}, {"learning_rate": 0.1, "batch_size": 8}, seed, **kw
    )


def begin(store, key="k1", seed=0, **kw) -> int:
    return store.begin_run(spec(key, seed, **kw), {"host": "h"}, PROVENANCE)
