"""The search loop, shared by replay and live search: ask the strategy what to start, hand each start
to an executor (stored curves in replay, real training live), then confirm the pick on its seeds.

An executor is ``execute(start, trial, stop)``: run or continue ``trial`` (appending its evaluation
points, updating its energy and status) until it reaches the target, ends at its limits, ``stop(point)``
returns a reason, or its cumulative energy reaches ``start.budget_j`` (then it is paused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from powertrain.records import EvalPoint
from powertrain.search.space import PAUSED, REACHED, RUNNING, STOPPED, History, Space, Start, Trial
from powertrain.search.strategies import Strategy

Executor = Callable[[Start, Trial, Callable[[EvalPoint], "str | None"]], None]
MAX_STEPS = 100_000


@dataclass(frozen=True)
class SearchOutcome:
    pick: str | None  # the setup the search settles on
    confirmed: bool  # every confirmation seed reached the target (True without confirmation)
    search_j: float  # energy of every run the search started, stopped ones included
    total_j: float  # search plus confirmation
    runs: int  # (setup, seed) runs started
    history: History


def run_search(
    strategy: Strategy,
    space: Space,
    execute: Executor,
    confirm_seeds: int = 3,
    max_candidates: int = 3,
) -> SearchOutcome:
    history = History(space)
    for _ in range(MAX_STEPS):
        starts = strategy.next_runs(history)
        if not starts:
            break
        for start in starts:
            trial = history.trial(start.setup, start.seed)
            if trial is None:
                trial = history.trials.setdefault(
                    (start.setup, start.seed), Trial(start.setup, start.seed)
                )
            elif trial.status != PAUSED:
                raise RuntimeError(f"{strategy.name} restarted a finished run {start}")
            execute(start, trial, strategy.handler(history, trial))
    else:
        raise RuntimeError(f"{strategy.name} did not finish within {MAX_STEPS} steps")
    search_j = history.spent_j
    candidates = strategy.candidates(history)
    if not strategy.confirm:
        pick = candidates[0] if candidates else None
        return SearchOutcome(
            pick, pick is not None, search_j, search_j, len(history.trials), history
        )
    for pick in candidates[:max_candidates]:
        if confirm(history, pick, execute, confirm_seeds):
            return SearchOutcome(
                pick, True, search_j, history.spent_j, len(history.trials), history
            )
    pick = candidates[0] if candidates else None
    return SearchOutcome(pick, False, search_j, history.spent_j, len(history.trials), history)


def confirm(history: History, setup: str, execute: Executor, seeds: int) -> bool:
    """Run the setup's first ``seeds`` seeds to the target: a paused run is continued, a stopped one is
    started afresh (what it spent stays counted), one already finished is reused."""
    ok = True
    for seed in history.space.seeds[setup][:seeds]:
        trial = history.trial(setup, seed)
        if trial is None:
            trial = history.trials.setdefault((setup, seed), Trial(setup, seed))
        elif trial.status == STOPPED:
            trial.earlier_j += trial.energy_j
            trial.points, trial.energy_j, trial.stop_reason = [], 0.0, None
        if trial.status in (RUNNING, PAUSED, STOPPED):
            execute(Start(setup, seed), trial, lambda point: None)
        ok = ok and trial.status == REACHED
    return ok
