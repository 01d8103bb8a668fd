"""The one line a study comes down to, from its summaries."""

from __future__ import annotations

from powertrain.analysis.headline import headline
from powertrain.analysis.summary import summarise
from powertrain.records import RunOutcome, RunRecord

PROV = {"cpu": {"meter": "estimate", "method": "estimate", "estimated": True, "details": {}}}


def record(
    i: int, lr: float, seed: int, energy_j: float, reached: bool = True, faults=()
) -> RunRecord:
    outcome = RunOutcome(
        "reached" if reached else "censored",
        "target" if reached else "max_epochs",
        energy_j,
        {"cpu": energy_j},
        1.0,
        10,
        final_val_accuracy=0.9,
        test_accuracy=0.9,
        energy_to_target_j=energy_j if reached else None,
        time_to_target_s=1.0 if reached else None,
        faults=list(faults),
    )
    return RunRecord(
        i,
        "s",
        f"k{i}",
        {"learning_rate": lr},
        {"paradigm": "scratch"},
        seed,
        outcome.status,
        {"cpu_model": "cpu", "host": "h"},
        PROV,
        0.0,
        outcome,
    )


def group(runs):
    (g,) = summarise(runs)
    return g


def test_best_worst_ratio_interval_and_method_in_one_line():
    runs = [record(i, 0.1, s, e) for i, (s, e) in enumerate([(0, 10.0), (1, 11.0), (2, 12.0)])]
    runs += [record(10 + s, 0.01, s, e) for s, e in enumerate([40.0, 44.0, 48.0])]
    h = headline(group(runs))
    assert h.best == "learning_rate=0.1" and h.worst == "learning_rate=0.01"
    assert h.ratio == 4.0 and h.best_seeds == 3 and h.estimated
    assert h.text.startswith("best learning_rate=0.1: 11.0 J to target (95% interval ")
    assert "worst learning_rate=0.01: 44.0 J, 4.0x the best" in h.text
    assert h.text.endswith("[ESTIMATE (cpu estimate)]")
    assert h.to_dict()["text"] == h.text


def test_two_seeds_are_said_to_be_too_few_for_an_interval_and_censoring_gives_a_bound():
    runs = [record(0, 0.1, 0, 10.0), record(1, 0.1, 1, 12.0)]
    runs += [record(2, 0.001, 0, 60.0, reached=False), record(3, 0.001, 1, 70.0, reached=False)]
    h = headline(group(runs))
    assert "(2 seeds: too few for an interval)" in h.text
    assert h.worst == h.best and "worst" not in h.text
    # the highest lower bound, not every one's: a run a search stopped early may be far below
    assert "1 of 2 setups not always at the target, one of them needing >= 5.9x the best" in h.text


def test_no_setup_at_the_target():
    h = headline(group([record(0, 0.1, 0, 10.0, reached=False)]))
    assert h.best is None
    assert h.text.startswith("no setup reached the target with every seed (1 setups)")


COARSE = (
    "gpu: 115 J in 0.857 s is below what the nvml meter resolves well (its reading moves every "
    "0.1 s: about 12% off, or more); not a precise figure, use a longer window"
)


def test_a_best_setup_whose_runs_are_below_the_meters_resolution_says_so():
    # an H200 grid's best setup ran under a second on a counter that moves every 100 ms: the report
    # marked its runs, but the line printed at the end of the grid named it best without a word
    runs = [record(0, 0.3, 0, 115.0, faults=[COARSE]), record(1, 0.3, 1, 89.0, faults=[COARSE])]
    runs += [record(2, 0.3, 2, 102.0), record(3, 0.01, 0, 900.0, faults=["gpu: a reset"])]
    runs += [record(4, 0.01, 1, 950.0), record(5, 0.01, 2, 990.0)]
    h = headline(group(runs))
    assert h.best == "learning_rate=0.3" and h.best_imprecise_runs == 2
    assert (
        "2 of its 3 runs' energy is below what their meter resolves well (may be 1 in 10 off, or "
        "more: see their faults)" in h.text
    )
    clean = headline(group([record(0, 0.3, 0, 10.0), record(1, 0.01, 0, 20.0, faults=[COARSE])]))
    assert clean.best_imprecise_runs == 0 and "resolves" not in clean.text


def test_a_best_setup_whose_interval_another_overlaps_says_it_is_not_told_apart():
    # "best X" beside a setup whose 95% interval overlaps X's: the seeds do not say which is best
    runs = [record(i, 0.1, s, e) for i, (s, e) in enumerate([(0, 10.0), (1, 11.0), (2, 12.0)])]
    runs += [record(10 + s, 0.03, s, e) for s, e in enumerate([10.5, 11.5, 12.5])]
    runs += [record(20 + s, 0.01, s, e) for s, e in enumerate([40.0, 44.0, 48.0])]
    h = headline(group(runs))
    assert h.best == "learning_rate=0.1" and h.best_ties == 1
    assert "not told apart from 1 other setup (their 95% intervals overlap)" in h.text
    apart = headline(group(runs[:3] + runs[6:]))
    assert apart.best_ties == 0 and "told apart" not in apart.text
