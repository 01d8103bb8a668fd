"""Why the report does not replay a study's stored curves: a search's runs end early, and the
reason names what the search did to them (a store may hold only pauses a search left)."""

from __future__ import annotations

from powertrain.records import CENSORED, Verdict
from powertrain.search.report import why_no_simulation
from powertrain.store.memory import MemoryStore
from powertrain.testing.store_fixtures import begin, outcome


def store_with(*verdicts: Verdict) -> MemoryStore:
    store = MemoryStore()
    for i, verdict in enumerate(verdicts):
        store.finish_run(begin(store, key=f"k{i}", seed=i), outcome(CENSORED, verdict))
    return store


def test_a_study_holding_only_a_searchs_pauses_is_said_to_hold_pauses_not_stops():
    with store_with(Verdict.RUNG_PAUSE, Verdict.RUNG_PAUSE) as store:
        why = why_no_simulation(store, "st")
    assert why == "a search paused 2 runs and never went on with them: their curves end early"


def test_stops_and_pauses_are_each_counted():
    with store_with(Verdict.SEARCH_BOUND, Verdict.RUNG_PAUSE) as store:
        why = why_no_simulation(store, "st")
    assert why == (
        "a search stopped 1 run and paused 1 run and never went on with it: their curves end early"
    )
