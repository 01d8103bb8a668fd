"""What a live search says it cost (``search/cost.py``): every figure labelled as it was obtained."""

from __future__ import annotations

import pytest

from powertrain.search.cost import search_cost
from powertrain.search.simulate import load_curves, setup_key
from powertrain.store.memory import MemoryStore
from powertrain.study.config import parse_study
from tests.fakes.curves import ESTIMATE, add_run

STUDY = {
    "name": "c",
    "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.86},
    "grid": {"learning_rate": [0.1, 0.01]},
    "seeds": [0],
}


MEASURED = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False}}


def stored(store, provenances=(ESTIMATE, ESTIMATE)) -> list[str]:
    """Two finished runs of the study, measured as ``provenances`` say; their keys."""
    for lr, provenance in zip((0.1, 0.01), provenances, strict=True):
        add_run(store, "c", {"learning_rate": lr}, 0, 0.002, 2.0, provenance=provenance)
    return [r.run_key for r in store.runs("c")]


def test_a_search_that_reused_every_run_labels_its_figures_as_they_were_obtained():
    # re-running a finished search (or one killed after its last run) starts nothing: its reused
    # and grid figures, estimates here, were once labelled "unknown"
    store = MemoryStore()
    keys = stored(store)
    cost = search_cost(
        parse_study(STUDY),
        store,
        "bound",
        pick=None,
        confirmed=False,
        started_keys=[],
        reused_keys=keys,
    )
    assert cost.runs_started == 0 and cost.reused_runs == 2
    assert cost.method.startswith("ESTIMATE") and "ESTIMATE" in cost.lines()[0]


def test_a_search_whose_runs_were_measured_and_estimated_says_both():
    # the label was the first run's alone: "measured" over a figure that adds an estimate
    store = MemoryStore()
    keys = stored(store, (MEASURED, ESTIMATE))
    cost = search_cost(
        parse_study(STUDY), store, "bound", pick=None, confirmed=False, started_keys=keys
    )
    assert "measured" in cost.method and "ESTIMATE" in cost.method
    # each run counted once, though a started run is also one of the grid's
    assert cost.method.startswith("ESTIMATE in 1 of 2 runs (")


def test_setups_within_noise_are_never_one_named_the_best():
    # auto said "within noise ... so it is not named the best" while the cost line (and the
    # report) said "picked learning_rate=0.1 (confirmed on its seeds)"
    from powertrain.render.search import _live_html

    store = MemoryStore()
    keys = stored(store)
    tied = ("learning_rate=0.1", "learning_rate=0.01")
    cost = search_cost(
        parse_study(STUDY),
        store,
        "auto",
        pick=tied[0],
        confirmed=True,
        started_keys=keys,
        tied=tied,
    )
    html = _live_html(store.search_costs()["c"])
    for text in (cost.lines()[0], html):
        assert "learning_rate=0.1; learning_rate=0.01 are within noise" in text
        assert "picked learning_rate" not in text and "confirmed on its seeds" not in text


def test_a_live_auto_race_within_noise_names_every_tied_setup_as_its_pick_is_named():
    from powertrain.search.live import tied_labels
    from tests.unit.test_search_auto_race import _search, paced_study

    curves = load_curves(paced_study(worse=1.0), "paced")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    search, _ = _search(curves, order=[a, b], screen_share=1.0)
    names = {a: "setup=a (as the study writes it)"}
    assert tied_labels(search, names.get, names) == (names[a], "setup=b")
    search.inner.tied = [a]  # the race told the pick apart: nothing tied
    assert tied_labels(search, names.get, names) == ()


def test_a_grid_every_run_of_which_ran_is_not_called_measured_when_its_runs_were_estimated():
    # "[ESTIMATE (cpu estimate, ram estimate)] ... the full grid: measured 0.077 J": the grid's
    # basis said how complete it was in the word that says how a figure was obtained
    from powertrain.render.search import _live_html

    store = MemoryStore()
    study = parse_study(STUDY)
    keys = [study.run_key(s, 0) for s in study.setups()]
    for lr, key in zip((0.1, 0.01), keys, strict=True):  # the grid's own runs, estimated
        add_run(store, "c", {"learning_rate": lr}, 0, 0.002, 2.0, key=key)
    cost = search_cost(study, store, "grid", pick=None, confirmed=False, started_keys=keys)
    assert cost.grid_j and cost.grid_basis == "in full"
    for text in (cost.lines()[2], _live_html(store.search_costs()["c"])):
        assert "measured" not in text and "in full" in text


@pytest.mark.parametrize(("seeds", "words"), [(1, "its 1 seed)"), (3, "its 3 seeds)")])
def test_a_pick_says_how_many_seeds_confirmed_it(seeds, words):
    # "(confirmed on its seeds)" was printed for a study of one seed, where one run is all there is
    from powertrain.render.search import _live_html

    store = MemoryStore()
    pick = {"pick": "learning_rate=0.1", "confirmed": True, "confirmed_seeds": seeds}
    cost = search_cost(parse_study(STUDY), store, "bound", started_keys=stored(store), **pick)
    assert cost.lines()[0].endswith(f"picked learning_rate=0.1 (confirmed on {words}")
    assert f"confirmed on {words}" in _live_html(store.search_costs()["c"])
