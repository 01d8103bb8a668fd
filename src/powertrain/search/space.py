"""What a search sees: the space of setups and seeds, the runs it has started (trials), and the
instruction to start or continue one (:class:`Start`). Pure data: nothing here trains or reads a store."""

from __future__ import annotations

from dataclasses import dataclass, field

from powertrain.records import EvalPoint, RunOutcome, Status, Verdict


@dataclass(frozen=True)
class Space:
    """The setups (keys, in the order a search visits them) and each setup's seeds (in order)."""

    setups: tuple[str, ...]
    seeds: dict[str, tuple[int, ...]]
    target: float | None = None  # the target accuracy, for strategies that predict


@dataclass(frozen=True)
class Start:
    """Start the run (setup, seed), or continue it when it was paused. ``budget_j``: pause it once its
    cumulative energy reaches this (None: run to the target, the limits or the strategy's stop)."""

    setup: str
    seed: int
    budget_j: float | None = None


@dataclass
class Trial:
    """One (setup, seed) as the search has seen it so far: its run's status and verdict (the store's
    vocabulary). It is ``paused`` at its rung's energy budget or a bound that may lift (it may be
    continued: halving, auto),
    ``stopped`` by the search (kept as a censored lower bound), ``missed`` the target on its own (its
    limits, divergence, a failure), or REACHED it."""

    setup: str
    seed: int
    points: list[EvalPoint] = field(default_factory=list)
    status: Status = Status.RUNNING
    energy_j: float = 0.0  # everything it has spent so far (this attempt)
    earlier_j: float = 0.0  # attempts before this one (a stopped run started afresh)
    energy_to_target_j: float | None = None
    verdict: Verdict | None = None  # why its run ended (None while it runs)
    stop_reason: str | None = None  # the details, in words

    def end(self, verdict: Verdict, reason: str | None = None) -> None:
        self.status, self.verdict, self.stop_reason = verdict.status, verdict, reason

    def ended(self, outcome: RunOutcome, points: list[EvalPoint]) -> None:
        """Its run ended with ``outcome`` and ``points`` (cumulative over its attempts)."""
        self.points, self.energy_j = list(points), outcome.total_energy_j
        self.end(outcome.verdict, outcome.stop_reason)
        if outcome.status is Status.REACHED:
            self.energy_to_target_j = outcome.energy_to_target_j

    def again(self) -> None:
        """Its run goes on (a paused run continued, or one started again)."""
        self.status, self.verdict, self.stop_reason = Status.RUNNING, None, None

    def afresh(self) -> None:
        """Its run starts again from scratch: what the attempt before spent is counted apart."""
        self.earlier_j += self.energy_j
        self.points, self.energy_j = [], 0.0
        self.again()

    @property
    def reached(self) -> bool:
        return self.status is Status.REACHED

    @property
    def paused(self) -> bool:
        return self.verdict is Verdict.RUNG_PAUSE

    @property
    def stopped(self) -> bool:
        """Ended by the search (not paused): what it spent is a lower bound."""
        return self.verdict is not None and self.verdict.by_search and not self.paused

    @property
    def missed(self) -> bool:
        """Ran to its end on its own (limits, divergence, failure) without reaching the target."""
        return self.finished and not self.reached and not self.stopped

    @property
    def finished(self) -> bool:
        return self.status.final and not self.paused

    @property
    def lower_bound_j(self) -> float:
        """Its energy-to-target, or what it spent: the target needs at least that."""
        return self.energy_to_target_j if self.energy_to_target_j is not None else self.energy_j


@dataclass
class History:
    """Every trial of a search, in the order they were started."""

    space: Space
    trials: dict[tuple[str, int], Trial] = field(default_factory=dict)

    def trial(self, setup: str, seed: int) -> Trial | None:
        return self.trials.get((setup, seed))

    def of_setup(self, setup: str) -> list[Trial]:
        return [t for t in self.trials.values() if t.setup == setup]

    @property
    def spent_j(self) -> float:
        return sum(t.energy_j + t.earlier_j for t in self.trials.values())

    def best_run_j(self) -> float | None:
        """The lowest energy-to-target of any single run so far."""
        reached = [t.energy_to_target_j for t in self.trials.values() if t.reached]
        return min(reached) if reached else None

    def setup_mean_j(self, setup: str) -> float | None:
        """Mean energy-to-target over the setup's seeds, when every one of them has reached it."""
        seeds = self.space.seeds[setup]
        trials = [self.trial(setup, s) for s in seeds]
        if any(t is None or not t.reached for t in trials):
            return None
        return sum(t.energy_to_target_j for t in trials) / len(trials)

    def best_setup_mean_j(self) -> float | None:
        means = [m for s in self.space.setups if (m := self.setup_mean_j(s)) is not None]
        return min(means) if means else None

    def reached_by_setup(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for t in self.trials.values():
            if t.reached:
                out.setdefault(t.setup, []).append(t.energy_to_target_j)
        return out
