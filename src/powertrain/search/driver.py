"""The search loop, shared by simulation and live search: ask the strategy what to start, hand each start
to an executor (stored curves in simulation, real training live), then confirm the pick on its seeds.

An executor is ``execute(start, trial, stop)``: run or continue ``trial`` (appending its evaluation
points, updating its energy, status and verdict) until it reaches the target, ends at its limits,
``stop(point)`` returns a ``Stop``, or its cumulative energy reaches ``start.budget_j`` (then it is
paused: ``Verdict.RUNG_PAUSE``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from powertrain.records import RUNNING, EvalPoint, Verdict
from powertrain.search.space import History, Space, Start, Trial
from powertrain.search.strategy import Strategy, joules
from powertrain.train.stopping import Handler, Stop

Executor = Callable[[Start, Trial, Handler], None]
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
            elif not trial.paused:
                raise RuntimeError(f"{strategy.name} restarted a finished run {start}")
            execute(start, trial, strategy.handler(history, trial))
    else:
        raise RuntimeError(f"{strategy.name} did not finish within {MAX_STEPS} steps")
    return settle(
        strategy,
        history,
        lambda setup, bound_j: confirm(history, setup, execute, confirm_seeds, bound_j=bound_j),
    )


def settle(
    strategy: Strategy,
    history: History,
    confirm_one: Callable[[str, float | None], float | None],
) -> SearchOutcome:
    """After the search: its pick, confirmed (``pick_confirmed`` with ``confirm_one``) unless the
    strategy does not confirm; without a confirmed setup its best candidate, unconfirmed."""
    search_j = history.spent_j
    candidates = strategy.candidates(history)
    if not strategy.confirm:
        pick = candidates[0] if candidates else None
        return SearchOutcome(
            pick, pick is not None, search_j, search_j, len(history.trials), history
        )
    pick = pick_confirmed(candidates, strategy.finalists, confirm_one)
    confirmed = pick is not None
    if pick is None:
        pick = candidates[0] if candidates else None
    return SearchOutcome(pick, confirmed, search_j, history.spent_j, len(history.trials), history)


def pick_confirmed(
    candidates: list[str],
    finalists: int,
    confirm_one: Callable[[str, float | None], float | None],
) -> str | None:
    """The order of confirmation, for any way of confirming one setup (``confirm_one(setup,
    bound_j)``: its seeds' summed energy-to-target, or None): the best ``finalists`` candidates, further
    ones only while none is confirmed (at most 3 in all), each bounded by the leader's sum."""
    best_j, pick = None, None
    for tried, setup in enumerate(candidates):
        if tried >= max(finalists, 3) or (pick is not None and tried >= finalists):
            break
        total = confirm_one(setup, best_j)
        if total is not None and (best_j is None or total < best_j):
            best_j, pick = total, setup
    return pick


def confirm(
    history: History, setup: str, execute: Executor, seeds: int, bound_j: float | None = None
) -> float | None:
    """Run the setup's first ``seeds`` seeds to the target (a paused run is continued, a stopped one
    started afresh with what it spent still counted, a finished one reused) and return their summed
    energy-to-target; None when a seed misses the target or the sum passes ``bound_j``."""
    trials = []
    for seed in history.space.seeds[setup][:seeds]:
        trial = history.trial(setup, seed)
        if trial is None:
            trial = history.trials.setdefault((setup, seed), Trial(setup, seed))
        trials.append(trial)
    done_j = 0.0
    for trial in sorted(trials, key=lambda t: not t.reached):
        if trial.stopped:
            trial.afresh()
        if trial.status is RUNNING or trial.paused:
            execute(Start(setup, trial.seed), trial, _bound(bound_j, done_j))
        if not trial.reached:
            return None
        done_j += trial.energy_to_target_j
        if bound_j is not None and done_j > bound_j:
            return None
    return done_j


def _bound(bound_j: float | None, done_j: float):
    def stop(point: EvalPoint) -> Stop | None:
        if bound_j is not None and done_j + point.total_energy_j > bound_j:
            return Stop(Verdict.CONFIRMATION, past_leader(bound_j))
        return None

    return stop


def past_leader(bound_j: float) -> str:
    """Why the confirmation stops a seed: the setup's seeds together passed the leader's sum."""
    return f"confirmation: passed the confirmed leader's {joules(bound_j)} over its seeds"
