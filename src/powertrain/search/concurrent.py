"""The search loop with several runs at once (``driver.run_search`` is the one-after-another loop that
simulation uses, and live search with one worker).

The strategy is asked with the runs under way in its history (status ``running``, their points and
energy as they stand): each start it gives that is not under way is handed to the pool while the pool
has room; when it has nothing new but runs are under way, the loop waits for one to end and asks again;
the search ends when it has nothing and nothing is under way. Each run's stop is the strategy's handler
for that trial, called where the history is (the coordinator), so a run stops on the best set by a run
that ended a moment ago. Then the pick is confirmed as ``driver.pick_confirmed`` does, each
finalist's seeds at once, the bound on their summed energy applied with what is known of each.
"""

from __future__ import annotations

from typing import Protocol

from powertrain.records import RUNNING, EvalPoint, Verdict
from powertrain.search.driver import MAX_STEPS, SearchOutcome, past_leader, settle
from powertrain.search.space import History, Space, Start, Trial
from powertrain.search.strategy import Strategy
from powertrain.train.stopping import Handler, Stop


class Pool(Protocol):
    """Where a concurrent search's runs execute (live: ``search.pool.SessionPool``)."""

    def capacity(self) -> int:
        """How many more runs could be under way now."""
        ...

    def in_flight(self) -> int:
        """Runs handed out that have not ended."""
        ...

    def start(self, start: Start, trial: Trial, stop: Handler) -> None:
        """Hand out ``start`` (its trial set running, its points and energy kept up to date as they
        come); ``stop(point)`` may end it. A run known already may be settled at once."""
        ...

    def wait(self) -> None:
        """Until at least one run under way has ended and its trial is settled (as the one-after-
        another executor leaves it: reached, paused, stopped or limit)."""
        ...


def run_search_at_once(
    strategy: Strategy, space: Space, pool: Pool, confirm_seeds: int = 3
) -> SearchOutcome:
    """``driver.run_search`` with up to ``pool.capacity()`` runs under way at once."""
    history = History(space)
    _search(strategy, history, pool)
    return settle(
        strategy,
        history,
        lambda setup, bound_j: confirm_at_once(
            history, setup, pool, confirm_seeds, bound_j=bound_j
        ),
    )


def _search(strategy: Strategy, history: History, pool: Pool) -> None:
    for _ in range(MAX_STEPS):
        starts = _new_starts(strategy, history) if pool.capacity() > 0 else []
        if starts:
            for start in starts:
                if pool.capacity() <= 0:
                    break
                _start(strategy, history, pool, start)
            continue  # ask again: what was just started is in the history now
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


def confirm_at_once(
    history: History, setup: str, pool: Pool, seeds: int, bound_j: float | None = None
) -> float | None:
    """``driver.confirm`` with the setup's seeds under way at once: the summed energy-to-target of its
    first ``seeds`` seeds, or None when one misses the target (the others are then stopped) or the sum
    passes ``bound_j``. Each seed stops once what is known of the sum (the seeds that reached the
    target, what the others under way have spent so far, its own energy) passes ``bound_j``."""
    wanted = history.space.seeds[setup][:seeds]
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
    afresh (what it spent still counted, as ``driver.confirm`` does)."""
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
