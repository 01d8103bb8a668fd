"""What a live search cost: the energy of every run it started (stopped ones included, and attempts it
re-ran from scratch), beside what the full grid would have cost where that is known, or an estimate from
the runs it has, or "unknown". Kept in the store (``ResultStore.save_search_cost``: ``merge`` copies
it with the runs) so that the report shows it. A run the search ended is one whose verdict says so
(``Verdict.by_search``): a lower bound, not how far the setup goes alone."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from powertrain.meters.base import runs_label
from powertrain.records import Stage, Verdict
from powertrain.store.base import ResultStore

if TYPE_CHECKING:
    from powertrain.records import RunRecord
    from powertrain.study.config import StudyConfig

#: How the grid's energy is known: every run of it ran on its own (its figure their sum, measured or
#: estimated as ``method`` says), extrapolated from some, a lower bound, or not at all.
BASES = ("in full", "estimated", "at least", "unknown")


def _j(energy_j: float) -> str:
    return f"{energy_j:,.1f} J" if abs(energy_j) >= 100 else f"{energy_j:.3g} J"


@dataclass(frozen=True)
class SearchCost:
    study: str
    strategy: str
    method: str  # "measured" or the estimate's label, as every figure says
    pick: str | None
    confirmed: bool
    runs_started: int
    runs_stopped: int  # ended by the search (kept as censored lower bounds), not those paused
    spent_j: float  # everything it started: the runs in the store plus superseded attempts, less
    # what of them runs it took on had spent in an earlier search (``carried_j``, or the share of
    # it fed to this search before it began such a run again)
    stored_j: float  # the runs it started, as the store holds them
    superseded_j: float  # attempts re-run from scratch (stopped runs a confirmation restarts; a
    # paused run without a usable checkpoint); a paused run that is continued counts once
    reused_runs: int  # finished before the search began, fed from the store
    reused_j: float  # their energy, spent earlier
    grid_j: float | None
    grid_basis: str  # one of BASES ("measured" in a cost kept before "in full")
    grid_note: str
    notes: tuple[str, ...] = ()  # what the strategy says: the cost axes it priced, a race in noise
    #: What the runs an earlier search had paused or stopped and stored, which this one took on
    #: (continued, or re-ran from scratch), had spent in that search: in their records, not in
    #: ``spent_j``.
    carried_j: float = 0.0
    #: The setups the strategy could not tell apart (auto's "within noise"), the lowest mean first:
    #: then no one of them is named the best, ``pick`` (the first) included.
    tied: tuple[str, ...] = ()
    #: How many seeds the pick was confirmed on (the search's confirm_seeds, or all the study has
    #: where it has fewer); None in a cost kept before it was.
    confirmed_seeds: int | None = None
    #: Runs it paused and left paused (halving's rungs, a cost axis's pricing window): not stopped,
    #: a later search may take them on (from their checkpoints); 0 in a cost kept before they were
    #: counted apart (``runs_stopped`` held them then).
    runs_paused: int = 0

    @property
    def share(self) -> float | None:
        return self.spent_j / self.grid_j if self.grid_j else None

    def lines(self) -> list[str]:
        pick = picked_words(self.pick, self.confirmed, self.tied, self.confirmed_seeds)
        most = "at most " if self.grid_basis == "at least" else ""
        grid = (
            f"the full grid: {grid_figure(self.grid_basis, self.grid_j)}, so the search spent "
            f"{most}{self.share:.0%} of it ({self.grid_note})"
            if self.grid_j
            else f"the full grid: unknown ({self.grid_note})"
        )
        out = [
            f"search {self.strategy} on {self.study} [{self.method}]: picked {pick}",
            f"  spent {_j(self.spent_j)} on {self.runs_started} runs it started "
            f"({stopped_words(self.runs_stopped, self.runs_paused)}; "
            f"{_j(self.superseded_j)} of attempts re-run from scratch)",
            f"  {grid}",
        ]
        if self.reused_runs:
            out.append(
                f"  reused {self.reused_runs} runs finished earlier ({_j(self.reused_j)}, not counted)"
            )
        if self.carried_j:
            out.append(
                f"  took on runs an earlier search had paused ({_j(self.carried_j)} spent then,"
                " not counted)"
            )
        return out + [f"  {note}" for note in self.notes]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share}


def stopped_words(stopped: int, paused: int) -> str:
    """The runs a search ended: those it stopped, and those it paused (not stopped: a later search
    may continue them), each said once."""
    words = f"{stopped} stopped by the search, kept as censored lower bounds"
    if paused:
        words += f"; {paused} paused, not stopped: a later search may take them on"
    return words


def grid_figure(basis: str, grid_j: float) -> str:
    """The grid's energy with how it is known: never "measured", which the method's label says."""
    if basis in (BASES[0], "measured"):  # a cost kept before the basis was named "in full"
        return f"{_j(grid_j)} in full"
    return f"{basis} {_j(grid_j)}"


def picked_words(
    pick: str | None, confirmed: bool, tied: tuple[str, ...] = (), seeds: int | None = None
) -> str:
    """What a search picked, as its cost line and the report say it: never one setup of ``tied``;
    ``seeds``: how many it was confirmed on (a one-seed study's pick is confirmed on that one)."""
    if len(tied) > 1:
        return (
            f"no single setup: {'; '.join(tied)} are within noise of each other "
            "(none of them is named the best)"
        )
    if pick is None:
        return "nothing (no setup reached the target)"
    if not confirmed:
        return pick
    if seeds is None:
        return f"{pick} (confirmed on its seeds)"
    return f"{pick} (confirmed on its {seeds} seed{'s' if seeds != 1 else ''})"


def search_cost(
    study: StudyConfig,
    store: ResultStore,
    strategy: str,
    *,
    pick: str | None,
    confirmed: bool,
    started_keys: list[str],
    superseded_j: float = 0.0,
    reused_keys: list[str] = (),
    grid: tuple[float | None, str, str] | None = None,
    notes: tuple[str, ...] = (),
    carried_j: float = 0.0,
    counted_j: float | None = None,
    tied: tuple[str, ...] = (),
    confirmed_seeds: int | None = None,
) -> SearchCost:
    """The cost of the runs the search started (``started_keys``), read back from the store, and the
    full grid's energy (``grid``: given instead), with the strategy's ``notes``; ``carried_j``: what
    runs it took on from an earlier search had spent then (left out of what it spent: ``counted_j``
    of it, what the records and superseded attempts hold, when that is less); ``tied``: the setups
    it could not tell apart. The result is also saved in the store."""
    runs = {
        r.run_key: r
        for r in store.runs(study.name)
        if r.outcome is not None and r.stage is Stage.TRAIN
    }
    started = [runs[k] for k in dict.fromkeys(started_keys) if k in runs]
    reused = [runs[k] for k in reused_keys if k in runs]
    stored_j = sum(r.outcome.total_energy_j for r in started)
    grid_j, basis, note = grid or grid_energy(study, runs)
    method = method_of([*started, *reused, *runs.values()])
    cost = SearchCost(
        study.name,
        strategy,
        method,
        pick,
        confirmed,
        len(started),
        sum(r.outcome.verdict.by_search and not _paused(r) for r in started),
        stored_j + superseded_j - (carried_j if counted_j is None else counted_j),
        stored_j,
        superseded_j,
        len(reused),
        sum(r.outcome.total_energy_j for r in reused),
        grid_j,
        basis,
        note,
        tuple(notes),
        carried_j,
        tuple(tied),
        confirmed_seeds if confirmed else None,
        sum(map(_paused, started)),
    )
    store.save_search_cost(cost.study, cost.to_dict())
    return cost


def _paused(record: RunRecord) -> bool:
    return record.outcome.verdict is Verdict.RUNG_PAUSE


def method_of(records: list[RunRecord]) -> str:
    """How the figures of ``records`` were obtained (``runs_label``): a search's started runs, then
    those it reused, then the rest of the grid's (each run once), "unknown" without any."""
    return runs_label(r.provenance for r in {r.id: r for r in records}.values())


def grid_energy(study: StudyConfig, runs: dict[str, RunRecord]) -> tuple[float | None, str, str]:
    """The full grid's energy: measured where every run ran on its own; else estimated per setup
    from its runs that did (their mean x its seeds); a setup whose runs were all stopped adds at
    least what they spent x its seeds; a setup never run makes it unknown."""
    total_j, worst, unknown = 0.0, 0, 0
    for setup in study.setups():
        records = [runs.get(study.run_key(setup, seed)) for seed in study.seeds]
        whole = [
            r.outcome.total_energy_j
            for r in records
            if r is not None and not r.outcome.verdict.by_search
        ]
        stopped = [r.outcome.total_energy_j for r in records if r is not None]
        if len(whole) == len(records):
            total_j += sum(whole)
        elif whole:
            total_j, worst = total_j + statistics.fmean(whole) * len(records), max(worst, 1)
        elif stopped:
            total_j, worst = total_j + max(stopped) * len(records), max(worst, 2)
        else:
            unknown += 1
    n = len(study.setups()) * len(study.seeds)
    if unknown:
        return None, "unknown", f"{unknown} of {len(study.setups())} setups never ran"
    notes = (
        f"all {n} runs ran on their own",
        "estimated from the runs it has: each setup's runs that ended on their own, mean x seeds",
        "setups whose runs were all stopped count what they spent, so this is a lower bound",
    )
    return total_j, BASES[worst], notes[worst]
