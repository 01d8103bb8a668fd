"""The search loop, one for simulation and live search, for one run at a time and several at once: ask
the strategy what to start, hand each start to a pool while it has room, wait for one to end when it
has none (or the strategy has nothing new while runs are under way), then confirm the pick on its
seeds. One run at a time is this loop on a pool of capacity 1 (Optuna's ``n_jobs`` is the model:
parallel is N copies of the sequential path, not a second loop).

A pool runs or continues a trial (appending its evaluation points, updating its energy, status and
verdict) until it reaches the target, ends at its limits, ``stop(point)`` returns a ``Stop``, or its
cumulative energy reaches ``start.budget_j`` (then it is paused: ``Verdict.RUNG_PAUSE``). The strategy
is asked with the runs under way in its history (status ``running``, their points and energy as they
stand). Each run's stop is the strategy's handler for that trial, called where the
history is (the coordinator), so a run stops on the best set by a run that ended a moment ago.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from powertrain.records import RUNNING, EvalPoint, Verdict
from powertrain.search.space import History, Space, Start, Trial
from powertrain.search.strategy import Strategy, joules
from powertrain.train.stopping import Handler, Stop

MAX_STEPS = 100_000


class Pool(Protocol):
    """Where a search's runs go: stored curves in simulation (``simulate.CurvePool``), real training live
    (``live.LivePool``, on an executor's session)."""

    def capacity(self) -> int:
        """How many more runs could be under way now."""
        ...

    def in_flight(self) -> int:
        """Runs handed out that have not ended."""
        ...

    def start(self, start: Start, trial: Trial, stop: Handler) -> None:
        """Run or continue ``trial`` (set running, its points and energy kept up to date as they
        come) until it reaches the target, ends at its limits, ``stop(point)`` returns a ``Stop``, or
        its cumulative energy reaches ``start.budget_j`` (then it is paused). A run known already
        may be settled at once."""
        ...

    def wait(self) -> None:
        """Until at least one run under way has ended and its trial is settled: reached, paused,
        stopped or limit."""
        ...


@dataclass(frozen=True)
class SearchOutcome:
    pick: str | None  # the setup the search settles on
    confirmed: bool  # every confirmation seed reached the target (True without confirmation)
    search_j: float  # energy of every run the search started, stopped ones included
    total_j: float  # search plus confirmation
    runs: int  # (setup, seed) runs started
    history: History


def run_search(
    strategy: Strategy, space: Space, pool: Pool, confirm_seeds: int = 3
) -> SearchOutcome:
    """The search, up to ``pool.capacity()`` runs under way at once, then its pick confirmed."""
    history = History(space)
    _search(strategy, history, pool)
    return settle(
        strategy,
        history,
        lambda setup, bound_j: confirm(
            history, setup, pool, confirm_seeds, bound_j, strategy.seed_order(history, setup)
        ),
    )


def _search(strategy: Strategy, history: History, pool: Pool) -> None:
    """Each start the strategy gives is handed out in its order, as the pool has room; then the
    strategy is asked again (what was started is in the history now)."""
    for _ in range(MAX_STEPS):
        starts = _new_starts(strategy, history) if pool.capacity() > 0 else []
        if starts:
            for start in starts:
                while pool.capacity() <= 0:
                    pool.wait()
                _start(strategy, history, pool, start)
            continue
        if not pool.in_flight():
            return
        pool.wait()
    raise RuntimeError(f"{strategy.name} did not finish within {MAX_STEPS} steps")


def _new_starts(strategy: Strategy, history: History) -> list[Start]:
    """The strategy's starts, less those under way (halving asks again for a run it gave before)."""
    starts = strategy.next_runs(history)
    under_way = {k for k, t in history.trials.items() if t.status is RUNNING}
    return [s for s in starts if (s.setup, s.seed) not in under_way]


def _start(strategy: Strategy, history: History, pool: Pool, start: Start) -> None:
    trial = history.trial(start.setup, start.seed)
    if trial is None:
        trial = history.trials.setdefault((start.setup, start.seed), Trial(start.setup, start.seed))
    elif not trial.paused:
        raise RuntimeError(f"{strategy.name} restarted a finished run {start}")
    pool.start(start, trial, strategy.handler(history, trial))


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
    history: History,
    setup: str,
    pool: Pool,
    seeds: int,
    bound_j: float | None = None,
    order: tuple[int, ...] | None = None,
) -> float | None:
    """Run the setup's first ``seeds`` seeds (of ``order``, the search's: by default the space's)
    to the target, as many at once as the pool has room for
    (a paused run is continued, a stopped one started afresh with what it spent still counted, a
    finished one reused), and return their summed energy-to-target; None when one misses the target
    (the others are then stopped) or the sum passes ``bound_j``. Each seed stops once what is known
    of the sum (the seeds that reached the target, what the others under way have spent so far, its
    own energy) passes ``bound_j``."""
    wanted = (history.space.seeds[setup] if order is None else order)[:seeds]
    known = [t for s in wanted if (t := history.trial(setup, s)) is not None]
    if any(t.missed for t in known):  # it ran to its limits short of the target
        return None
    ran = [t for t in known if t.reached]
    waiting = [s for s in wanted if s not in {t.seed for t in ran}]
    while (waiting and not _missed(ran)) or pool.in_flight():
        while waiting and pool.capacity() > 0 and not _missed(ran):
            trial = _afresh(history, setup, waiting.pop(0))
            ran.append(trial)
            pool.start(Start(setup, trial.seed), trial, _bound(bound_j, ran, trial))
        if pool.in_flight():
            pool.wait()
    if waiting or _missed(ran):
        return None
    total_j = sum(t.energy_to_target_j for t in ran)
    return None if bound_j is not None and total_j > bound_j else total_j


def _missed(trials: list[Trial]) -> bool:
    return any(not t.reached and t.status is not RUNNING for t in trials)


def _afresh(history: History, setup: str, seed: int) -> Trial:
    """The trial of (setup, seed) to run now: a new one, a paused one, or a stopped one started
    afresh (what it spent still counted)."""
    trial = history.trial(setup, seed)
    if trial is None:
        return history.trials.setdefault((setup, seed), Trial(setup, seed))
    if trial.stopped:
        trial.afresh()
    return trial


def _bound(bound_j: float | None, ran: list[Trial], me: Trial) -> Handler:
    def stop(point: EvalPoint) -> Stop | None:
        if _missed([t for t in ran if t is not me]):
            return Stop(
                Verdict.CONFIRMATION,
                "confirmation: another seed of this setup ended short of the target",
            )
        if bound_j is None:
            return None
        known_j = sum(t.lower_bound_j for t in ran if t is not me) + point.total_energy_j
        if known_j > bound_j:
            return Stop(Verdict.CONFIRMATION, past_leader(bound_j))
        return None

    return stop


def past_leader(bound_j: float) -> str:
    """Why the confirmation stops a seed: the setup's seeds together passed the leader's sum."""
    return f"confirmation: passed the confirmed leader's {joules(bound_j)} over its seeds"
