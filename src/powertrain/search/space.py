"""What a search sees: the space of setups and seeds, the runs it has started (trials), and the
instruction to start or continue one (:class:`Start`). Pure data: nothing here trains or reads a store.

A strategy asks its history after every evaluation (the best run so far, the best setup's mean, a
setup's trials), and the answers change only when a run is added, ends or starts again. So
:class:`History` works them out once per change rather than once per question: every change they
depend on (a trial added to a history, a trial's setup, seed, status or energy-to-target set)
advances one revision number, and a history works out how it stands anew, by brute force, the first
time it is asked after the revision moved. A change anywhere counts for every history (a search over
cost axes shares trials between two), so an answer is worked out too often at worst, never stale."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import cached_property

from powertrain.records import EvalPoint, RunOutcome, Status, Verdict

_REVISIONS = itertools.count(1)
_revision = 0  # the revision of what histories' answers depend on (see the module's docstring)


def _changed() -> None:
    """Called after each change a history's answers depend on (after: an answer worked out once the
    revision moved sees the change)."""
    global _revision
    _revision = next(_REVISIONS)


# what a History's answers read of a trial: setting any of these is a change
INDEXED = frozenset({"setup", "seed", "status", "energy_to_target_j"})
_UNSET = object()


@dataclass(frozen=True)
class Space:
    """The setups (keys, in the order a search visits them) and each setup's seeds (in order)."""

    setups: tuple[str, ...]
    seeds: dict[str, tuple[int, ...]]
    target: float | None = None  # the target accuracy, for strategies that predict


@dataclass(frozen=True)
class Start:
    """Start the run (setup, seed), or continue it when it was paused. ``budget_j``: pause it once its
    cumulative energy reaches this (None: run to the target, the limits or the strategy's stop).
    ``window``: pause it, before its first evaluation, once it has trained this share of the steps
    to that evaluation (a cost axis's pricing window; a run that cannot pause between evaluations,
    a command's, is paused by ``budget_j`` at its first evaluation instead)."""

    setup: str
    seed: int
    budget_j: float | None = None
    window: float | None = None


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
    #: A run paused in its pricing window (``Start.window``), with no evaluation yet: the progress
    #: it priced (steps after its warm-up; epochs, in a replay of a trace that records no steps) and
    #: the energy that used (its price: ``window_energy_j / window_progress``); None otherwise.
    window_progress: float | None = None
    window_energy_j: float | None = None

    def __setattr__(self, name: str, value) -> None:
        changed = name in INDEXED and self.__dict__.get(name, _UNSET) != value
        object.__setattr__(self, name, value)
        if changed:
            _changed()

    def end(self, verdict: Verdict, reason: str | None = None) -> None:
        self.status, self.verdict, self.stop_reason = verdict.status, verdict, reason

    def ended(self, outcome: RunOutcome, points: list[EvalPoint]) -> None:
        """Its run ended with ``outcome`` and ``points`` (cumulative over its attempts)."""
        self.points, self.energy_j = list(points), outcome.total_energy_j
        self.end(outcome.verdict, outcome.stop_reason)
        self.priced(outcome)
        if outcome.status is Status.REACHED:
            self.energy_to_target_j = outcome.energy_to_target_j

    def priced(self, outcome: RunOutcome) -> None:
        """Where its run paused in its pricing window (no point yet): the span ``outcome`` priced
        (its warm-up left out), else its steps and all it spent (an outcome from before the span
        was kept)."""
        if not (self.paused and not self.points and outcome.steps > 0):
            return
        if outcome.priced_steps:
            self.window_progress = float(outcome.priced_steps)
            self.window_energy_j = outcome.priced_energy_j
        else:
            self.window_progress = float(outcome.steps)
            self.window_energy_j = outcome.total_energy_j

    def again(self) -> None:
        """Its run goes on (a paused run continued, or one started again)."""
        self.status, self.verdict, self.stop_reason = Status.RUNNING, None, None
        self.window_progress = self.window_energy_j = None

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


class Trials(MutableMapping):
    """A history's trials by (setup, seed), in the order they were added: a dict whose every change
    (added, replaced, removed) is a change to how the history stands."""

    def __init__(self, trials: Mapping[tuple[str, int], Trial] | None = None) -> None:
        self._trials: dict[tuple[str, int], Trial] = dict(trials or {})

    def __getitem__(self, key: tuple[str, int]) -> Trial:
        return self._trials[key]

    def __setitem__(self, key: tuple[str, int], trial: Trial) -> None:
        self._trials[key] = trial
        _changed()

    def __delitem__(self, key: tuple[str, int]) -> None:
        del self._trials[key]
        _changed()

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self._trials)

    def __len__(self) -> int:
        return len(self._trials)

    def __contains__(self, key) -> bool:
        return key in self._trials

    def get(self, key, default=None):
        return self._trials.get(key, default)

    def keys(self):
        return self._trials.keys()

    def values(self):
        return self._trials.values()

    def items(self):
        return self._trials.items()

    def __repr__(self) -> str:
        return f"Trials({self._trials!r})"


class Standing:
    """What a history's strategies ask after every evaluation, worked out from its trials as they
    stand (each when first asked: the same arithmetic, in the same order, as asking the trials
    each time). A history makes a new one whenever the revision moved."""

    def __init__(self, space: Space, trials: Mapping[tuple[str, int], Trial]) -> None:
        self.space, self.trials = space, trials

    @cached_property
    def by_setup(self) -> dict[str, tuple[Trial, ...]]:
        """Each setup's trials, in the order they were added."""
        out: dict[str, list[Trial]] = {}
        for t in self.trials.values():
            out.setdefault(t.setup, []).append(t)
        return {s: tuple(ts) for s, ts in out.items()}

    @cached_property
    def best_run_j(self) -> float | None:
        """The lowest energy-to-target of any single run."""
        reached = [t.energy_to_target_j for t in self.trials.values() if t.reached]
        return min(reached) if reached else None

    @cached_property
    def setup_means_j(self) -> dict[str, float]:
        """Mean energy-to-target of each setup every seed of which reached the target."""
        out, reached = {}, Counter(setup for (setup, _), t in self.trials.items() if t.reached)
        for setup in self.space.setups:
            seeds = self.space.seeds[setup]
            if reached[setup] < len(seeds):
                continue  # a seed has not reached the target (the trials' keys say it at once)
            trials = [self.trials.get((setup, s)) for s in seeds]
            if all(t is not None and t.reached for t in trials):
                out[setup] = sum(t.energy_to_target_j for t in trials) / len(trials)
        return out

    @cached_property
    def best_setup_mean_j(self) -> float | None:
        means = self.setup_means_j
        return min(means.values()) if means else None


@dataclass
class History:
    """Every trial of a search, in the order they were started."""

    space: Space
    trials: MutableMapping[tuple[str, int], Trial] = field(default_factory=Trials)
    _standing: tuple[int, Standing] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.trials, Trials):
            self.trials = Trials(self.trials)

    def standing(self) -> Standing:
        """How the search stands, as its trials are (worked out anew once the revision moved)."""
        revision = _revision  # read before computing: a change made meanwhile moves it again
        if self._standing is None or self._standing[0] != revision:
            self._standing = (revision, Standing(self.space, self.trials))
        return self._standing[1]

    def trial(self, setup: str, seed: int) -> Trial | None:
        return self.trials.get((setup, seed))

    def of_setup(self, setup: str) -> list[Trial]:
        return list(self.standing().by_setup.get(setup, ()))

    @property
    def spent_j(self) -> float:
        return sum(t.energy_j + t.earlier_j for t in self.trials.values())

    def best_run_j(self) -> float | None:
        """The lowest energy-to-target of any single run so far."""
        return self.standing().best_run_j

    def setup_mean_j(self, setup: str) -> float | None:
        """Mean energy-to-target over the setup's seeds, when every one of them has reached it."""
        return self.standing().setup_means_j.get(setup)

    def best_setup_mean_j(self) -> float | None:
        return self.standing().best_setup_mean_j

    def reached_by_setup(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for t in self.trials.values():
            if t.reached:
                out.setdefault(t.setup, []).append(t.energy_to_target_j)
        return out
