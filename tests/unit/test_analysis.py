from __future__ import annotations

import pytest

from powertrain.analysis.stats import Interval, t975
from powertrain.analysis.summary import summarise
from powertrain.records import CENSORED, REACHED, RunOutcome, RunRecord

ESTIMATE = {"cpu": {"meter": "estimate", "method": "estimate", "estimated": True}}


def record(
    i: int, setup: dict, energy: float, status: str = REACHED, acc: float = 0.9, host: str = "a"
) -> RunRecord:
    reached = status == REACHED
    outcome = RunOutcome(
        status,
        "",
        energy,
        {"cpu": energy * 0.9, "ram": energy * 0.1},
        energy / 10,
        100,
        acc,
        acc,
        energy if reached else None,
        energy / 10 if reached else None,
        100 if reached else None,
    )
    return RunRecord(
        i,
        "s",
        f"k{i}",
        setup,
        {},
        i % 3,
        status,
        {"host": host, "cpu_model": "X"},
        ESTIMATE,
        0.0,
        outcome,
    )


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 10, 30):
        assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3)


def test_interval_over_seeds():
    interval = Interval.of([10.0, 12.0, 14.0])
    assert interval.mean == 12.0 and interval.std == 2.0
    assert interval.high - interval.mean == pytest.approx(4.303 * 2.0 / 3**0.5)
    assert Interval.of([5.0]).low == Interval.of([5.0]).high == 5.0
    assert Interval.of([]) is None


def test_waste_ratio_censoring_and_significance():
    best, worse, noisy, censored = ({"lr": 0.1}, {"lr": 0.01}, {"lr": 0.05}, {"lr": 1.0})
    runs = [
        record(1, best, 10),
        record(2, best, 11),
        record(3, best, 12),
        record(4, worse, 50),
        record(5, worse, 51),
        record(6, worse, 52),
        record(7, noisy, 5),
        record(8, noisy, 30),
        record(9, noisy, 10),
        record(10, censored, 20),
        record(11, censored, 90, CENSORED, acc=0.5),
        record(12, censored, 22),
    ]
    (group,) = summarise(runs)
    by = {s.label: s for s in group.setups}
    assert group.best.label == "lr=0.1" and group.worst.label == "lr=0.01"
    assert group.waste_ratio_max == pytest.approx(51 / 11)
    assert by["lr=0.01"].differs_significantly_from_best is True
    assert (
        by["lr=0.05"].differs_significantly_from_best is False
    )  # its interval overlaps the best's
    c = by["lr=1.0"]
    assert c.energy_to_target_j is None and c.verdict == "partly censored (2/3 reached)"
    assert c.energy_to_target_at_least_j == pytest.approx(
        (20 + 90 + 22) / 3
    )  # the censored seed's spend counts
    assert c.energy_to_target_reached_j.mean == pytest.approx(21)
    assert c.waste_ratio is None and c.waste_ratio_at_least == pytest.approx(44 / 11)
    assert group.waste_ratio_max_at_least == pytest.approx(51 / 11)
    assert group.sweep_energy_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))


def test_pareto_front_keeps_only_setups_nothing_beats_on_both_counts():
    runs = [
        record(1, {"a": 1}, 10, acc=0.8),
        record(2, {"a": 2}, 20, acc=0.9),
        record(3, {"a": 3}, 30, acc=0.85),
    ]
    (group,) = summarise(runs)
    assert {s.label: s.on_pareto_front for s in group.setups} == {
        "a=1": True,
        "a=2": True,
        "a=3": False,
    }


def test_groups_are_per_machine_and_running_runs_are_left_out():
    runs = [record(1, {"a": 1}, 10), record(2, {"a": 1}, 20, host="b")]
    running = RunRecord(3, "s", "k3", {"a": 1}, {}, 0, "running", {"host": "a"}, ESTIMATE, 0.0)
    groups = summarise([*runs, running])
    assert sorted(g.hardware for g in groups) == ["X on a", "X on b"]
    assert all(g.runs == 1 for g in groups)


def test_whole_life_crossover_is_where_the_cheaper_to_run_setup_catches_up():
    from powertrain.analysis.life import whole_life

    runs = [record(1, {"m": "small"}, 100.0), record(2, {"m": "big"}, 400.0)]
    (group,) = summarise(runs)
    inference = {
        1: [
            {"batch_size": 1, "energy_per_1000_j": 5.0},
            {"batch_size": 64, "energy_per_1000_j": 3.0},
        ],
        2: [{"batch_size": 64, "energy_per_1000_j": 1.0}],
    }
    life = whole_life(group, inference, queries=1000)
    small = next(r for r in life.setups if r.setup.label == "m=small")
    assert small.per_query_j == pytest.approx(0.003) and small.batch_size == 64
    assert small.whole_life_j == pytest.approx(100 + 3.0)
    (crossing,) = life.crossovers
    assert crossing.cheaper_to_train == "m=small" and crossing.cheaper_to_run == "m=big"
    assert crossing.queries == pytest.approx((400 - 100) / (0.003 - 0.001))


def test_no_crossover_between_inference_figures_that_repeated_measurement_cannot_tell_apart():
    from powertrain.analysis.life import whole_life

    runs = [record(1, {"m": "a"}, 100.0), record(2, {"m": "b"}, 400.0)]
    (group,) = summarise(runs)
    noisy = {
        1: [
            {
                "batch_size": 64,
                "energy_per_1000_j": 3.0,
                "energy_per_1000_j_repeats": [2.0, 3.0, 4.0],
            }
        ],
        2: [
            {
                "batch_size": 64,
                "energy_per_1000_j": 2.9,
                "energy_per_1000_j_repeats": [2.1, 2.9, 3.7],
            }
        ],
    }
    assert whole_life(group, noisy, queries=10**6).crossovers == ()
    clear = {
        1: [
            {
                "batch_size": 64,
                "energy_per_1000_j": 3.0,
                "energy_per_1000_j_repeats": [2.99, 3.0, 3.01],
            }
        ],
        2: [
            {
                "batch_size": 64,
                "energy_per_1000_j": 1.0,
                "energy_per_1000_j_repeats": [0.99, 1.0, 1.01],
            }
        ],
    }
    assert len(whole_life(group, clear, queries=10**6).crossovers) == 1


def test_pretraining_is_amortised_and_pays_off_from_the_break_even_number_of_uses():
    from powertrain.analysis.paradigms import transfer

    def paradigm_run(i, paradigm, energy):
        r = record(i, {"paradigm": paradigm}, energy)
        return RunRecord(
            r.id,
            r.study,
            r.run_key,
            r.setup,
            {"paradigm": paradigm},
            r.seed,
            r.status,
            r.hardware,
            r.provenance,
            r.started_at,
            r.outcome,
        )

    runs = [
        paradigm_run(1, "scratch", 30.0),
        paradigm_run(2, "scratch", 30.0),
        paradigm_run(3, "finetune", 10.0),
        paradigm_run(4, "finetune", 10.0),
    ]
    (group,) = summarise(runs)
    pretrain = record(9, {"stage": "pretrain"}, 50.0)
    result = transfer(group, [pretrain], {})
    finetune = next(r for r in result.paradigms if r.paradigm == "finetune")
    assert result.pretrain_energy_j == 50.0 and result.pretrain_energy_source == "measured"
    assert finetune.saving_vs_scratch_j == pytest.approx(20.0)
    assert finetune.break_even_uses == 3  # 10 + 50/3 = 26.7 < 30, while 10 + 50/2 = 35 is not
    assert finetune.amortised_energy_per_task_j[1] == pytest.approx(
        60.0
    ) and finetune.amortised_energy_per_task_j[3] == pytest.approx(10 + 50 / 3)
    # With no saving there is no break-even.
    runs[2:] = [paradigm_run(3, "finetune", 35.0), paradigm_run(4, "finetune", 35.0)]
    (group,) = summarise(runs)
    worse = next(r for r in transfer(group, [pretrain], {}).paradigms if r.paradigm == "finetune")
    assert worse.saving_vs_scratch_j < 0 and worse.break_even_uses is None
    unknown = transfer(group, [], {"pretrain": {"checkpoint": "x.pt"}})
    assert unknown.pretrain_energy_j is None and "unknown" in unknown.note


def test_a_group_is_labelled_an_estimate_when_any_of_its_runs_is_one():
    """RAPL readable for the first run, root-only after a reboot for the next (the estimate's
    fallback): one machine, one group, and its label may not be the first run's "measured"."""
    from dataclasses import replace

    counter = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    first = replace(record(1, {"lr": 0.1}, 10.0), provenance=counter)
    later = [record(i, {"lr": 0.1}, 12.0) for i in (2, 3)]
    for runs in ([first, *later], [*later, first]):
        [group] = summarise(runs)
        assert group.estimated and group.energy_method.startswith("ESTIMATE")
        assert "2 of 3 runs" in group.energy_method and "counter" in group.energy_method
    [measured] = summarise([first])
    assert not measured.estimated and measured.energy_method == "measured (cpu counter)"
