"""The analysis object and its rendering, on a small in-memory store (no training)."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from powertrain.analysis import analyse
from powertrain.analysis.stats import Interval
from powertrain.records import EvalPoint
from tests.unit.test_analysis import record


class FakeStore:
    """What analyse reads from a store, held in memory."""

    def __init__(self, runs, configs):
        self._runs, self._configs = runs, configs

    def studies(self):
        return [{"name": n, "config": c} for n, c in self._configs.items()]

    def runs(self, study=None):
        return [r for r in self._runs if study is None or r.study == study]

    def eval_points(self, run_id):
        run = next(r for r in self._runs if r.id == run_id)
        e = run.outcome.total_energy_j
        return [
            EvalPoint(i, 10 * i, i / 4, 320 * i, 1.0, 0.5 + 0.1 * i, float(i), {"cpu": e * i / 4})
            for i in range(1, 5)
        ]

    def timeline(self, run_id):
        return None

    def idle(self, host):
        return None

    def search_costs(self):
        return {}

    def inference(self, run_id):
        return []


def study_runs(name: str, first_id: int, energy_scale: float = 1.0):
    runs = []
    for k, (lr, bs) in enumerate([(0.1, 32), (0.01, 32), (0.1, 128), (0.01, 128)]):
        for seed in range(3):
            i = first_id + 3 * k + seed
            r = record(
                i, {"learning_rate": lr, "batch_size": bs}, energy_scale * (10 + 5 * k + seed)
            )
            runs.append(replace(r, study=name, seed=seed, train={"learning_rate": lr}))
    return runs


CONFIG = {
    "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.85},
    "seeds": [0, 1, 2],
}


def test_the_analysis_is_frozen_and_its_dictionary_uses_its_own_names():
    store = FakeStore(study_runs("s", 1), {"s": CONFIG})
    analysis = analyse(store)
    with pytest.raises(FrozenInstanceError):
        analysis.groups[0].setups[0].waste_ratio = 2.0
    data = analysis.to_dict()
    group, g = data["groups"][0], analysis.groups[0]
    for key in group:  # every key in summary.json is the attribute of the same name
        assert hasattr(g, key), key
    for key in group["setups"][0]:
        assert hasattr(g.setups[0], key), key
    assert {s["name"] for s in data["studies"]} == {"s"} and data["studies"][0]["seeds"] == [
        0,
        1,
        2,
    ]
    assert data["runs"][0]["stop_reason"] == "" and "points" not in data["runs"][0]


def test_non_finite_figures_become_null_in_strict_json():
    runs = study_runs("s", 1)
    bad = runs[0]
    runs[0] = replace(bad, outcome=replace(bad.outcome, test_accuracy=math.nan))
    analysis = analyse(FakeStore(runs, {"s": CONFIG}))
    text = analysis.to_json()  # allow_nan=False: raises on NaN
    assert "NaN" not in text and json.loads(text)["runs"][0]["test_accuracy"] is None


def test_figure_names_are_unique_and_user_strings_are_literal(tmp_path):
    from powertrain.render.build import build_report

    runs = study_runs("grid A $x^2$", 1) + study_runs("grid-a $x^2$", 100, 2.0)
    configs = {"grid A $x^2$": CONFIG, "grid-a $x^2$": CONFIG}
    files = build_report(FakeStore(runs, configs), tmp_path)
    names = [p.name for p in files.figures]
    # two groups, four figures each, and each study's search replay; three formats
    assert len(names) == len(set(names)) == 2 * 4 * 3 + 2 * 3
    heatmaps = sorted(p for p in files.figures if p.name.endswith("heatmap.svg"))
    texts = [p.read_text() for p in heatmaps]
    assert "grid A $x^2$" in texts[0] + texts[1] and "grid-a $x^2$" in texts[0] + texts[1]
    assert texts[0] != texts[1]


def test_tidy_exports_have_a_column_per_hyperparameter(tmp_path):
    import csv

    from powertrain.render.build import build_report

    files = build_report(FakeStore(study_runs("s", 1), {"s": CONFIG}), tmp_path)
    (header, *rows) = list(csv.reader(files.runs_csv.open()))
    assert {"learning_rate", "batch_size"} <= set(header) and len(rows) == 12
    points = list(csv.DictReader(files.points_csv.open()))
    assert len(points) == 12 * 4 and {p["batch_size"] for p in points} == {"32", "128"}


def test_every_point_in_points_csv_says_how_its_joules_were_obtained(tmp_path):
    import csv

    from powertrain.render.build import build_report

    runs = study_runs("s", 1)
    files = build_report(FakeStore(runs, {"s": CONFIG}), tmp_path)
    by_run = {str(r["run_id"]): r for r in csv.DictReader(files.runs_csv.open())}
    points = list(csv.DictReader(files.points_csv.open()))
    assert points and all(p["estimated"] == by_run[p["run_id"]]["estimated"] for p in points)
    assert all(p["energy_method"] == by_run[p["run_id"]]["energy_method"] for p in points)
    assert {p["energy_method"] for p in points} == {r.method_label for r in runs}


@given(st.lists(st.floats(0.001, 1e6), min_size=1, max_size=12))
def test_a_positive_interval_is_never_below_zero_and_holds_the_mean(values):
    interval = Interval.positive(values)
    assert 0 <= interval.low <= interval.mean <= interval.high
    assert interval.wide is (len(values) == 2)


def test_a_positive_interval_falls_back_when_a_value_is_zero():
    interval = Interval.positive([0.0, 10.0, 20.0])
    assert interval.low == 0.0 and "clipped" in interval.method


def test_two_seeds_are_not_given_a_meaningless_interval(tmp_path):
    from powertrain.render.build import build_report

    runs = [r for r in study_runs("s", 1) if r.seed < 2]
    files = build_report(FakeStore(runs, {"s": CONFIG}), tmp_path)
    assert "two seeds: the 95% interval is too wide to use" in files.html.read_text()


def test_faults_travel_with_their_figures_into_the_report_the_exports_and_ls(tmp_path):
    """A counter reset noted during a run is shown on that run and its setup, never lost."""
    import csv
    import io

    from powertrain.console import print_runs
    from powertrain.render.build import build_report

    fault = "gpu0: counter reset <at 12.0 s>; counted from its new zero"
    runs = study_runs("s", 1)
    faulty = runs[4]
    runs[4] = replace(faulty, outcome=replace(faulty.outcome, faults=[fault]))
    files = build_report(FakeStore(runs, {"s": CONFIG}), tmp_path)
    page = files.html.read_text()
    assert page.count("&#9888; 1") == 2  # the marker on the run and on its setup
    assert page.count("gpu0: counter reset &lt;at 12.0 s&gt;") == 2  # and the text, escaped
    (setup,) = [s for s in files.analysis.groups[0].setups if s.faults]
    assert setup.faults == (f"run {faulty.id}: {fault}",) and faulty.id in setup.run_ids
    summary = json.loads(files.json.read_text())
    assert any(s["faults"] for s in summary["groups"][0]["setups"])
    by_id = {int(r["run_id"]): r for r in csv.DictReader(files.runs_csv.open())}
    assert by_id[faulty.id]["faults"] == fault and by_id[1]["faults"] == ""
    out = io.StringIO()
    print_runs(runs, file=out)
    assert "reached \u26a01" in out.getvalue() and out.getvalue().count("\u26a01") == 1


def test_a_machine_label_names_the_machine_in_reports():
    runs = [replace(r, hardware={"host": "h", "label": "lab A100"}) for r in study_runs("s", 1)]
    (group,) = analyse(FakeStore(runs, {"s": CONFIG})).groups
    assert group.hardware == "lab A100" and group.title == "s on lab A100"


def test_figures_name_setups_in_words_not_raw_keys(tmp_path):
    from powertrain.render.build import build_report
    from powertrain.render.figures import setup_words

    assert setup_words({"learning_rate": 0.03, "batch_size": 32}) == "batch 32, lr 0.03"
    assert setup_words({"optimizer": "adam", "step_epochs": 2}) == "adam, decay every 2 epochs"
    files = build_report(FakeStore(study_runs("s", 1), {"s": CONFIG}), tmp_path)
    for name in ("components", "pareto", "accuracy-energy"):
        (text,) = [p.read_text() for p in files.figures if p.name.endswith(f"{name}.svg")]
        assert "batch 128, lr 0.01" in text, name
        assert "batch_size=" not in text and "learning_rate=" not in text, name


def test_a_runs_verdict_is_shown_in_words_and_exported_as_its_value():
    from powertrain.analysis.context import run_info
    from powertrain.records import CENSORED, Verdict
    from powertrain.render.context import runs_html

    r = record(1, {"learning_rate": 0.1}, 12.0, status=CENSORED)
    stopped = replace(r.outcome, stop_reason="bound: 12.0 J passed", verdict=Verdict.SEARCH_BOUND)
    info = run_info(replace(r, outcome=stopped), [])
    assert (info.verdict, info.why) == (
        "search_bound",
        "stopped by the search (past its energy bound)",
    )
    assert "stopped by the search (past its energy bound): bound: 12.0 J passed" in runs_html(
        [info]
    )
    assert info.to_dict()["verdict"] == "search_bound"


def test_figure_files_of_studies_named_in_other_scripts_keep_their_names():
    from powertrain.render.figures import unique_stems

    stems = unique_stems(["实验一 on h", "实验二 on h", "Énergie on h", "é" * 300])
    assert stems[:3] == ["实验一-on-h", "实验二-on-h", "énergie-on-h"]
    assert all(len(s.encode()) <= 80 for s in stems) and stems[3].startswith("éé")
