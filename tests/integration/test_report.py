from __future__ import annotations

import csv
import json
import shutil
import subprocess

import pytest

from powertrain.meters.detect import detect_meters
from powertrain.render.build import build_report
from powertrain.store.sqlite import SqliteStore
from powertrain.study.config import parse_study
from powertrain.study.runner import run_study
from tests.cli_helpers import assert_one_clear_error, powertrain

EVIL = "<script>alert('x')</script> & co"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "r.db"
    study = parse_study(
        {
            "name": EVIL,
            "task": {
                "dataset": "digits",
                "model": "mlp",
                "model_options": {"hidden": [32]},
                "target_accuracy": 0.85,
                "eval_every_steps": 10,
                "max_epochs": 2,
            },
            "grid": {"learning_rate": [0.003, 0.1], "batch_size": [32, 128]},
            "seeds": [0, 1],
            "meters": {"interval_s": 0.05},
        }
    )
    with SqliteStore(path) as store:
        run_study(study, store, detection=detect_meters(["estimate"]))
    return path


@pytest.fixture(scope="module")
def report(store_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    with SqliteStore(store_path) as store:
        return build_report(store, out)


def test_summary_json_holds_every_setup_the_best_and_the_waste_ratio(report):
    summary = json.loads(report.json.read_text())
    (group,) = summary["groups"]
    assert group["study"] == EVIL and group["estimated"] is True
    assert "estimate" in group["energy_method"]
    assert "waste_ratio_max" in group and len(group["setups"]) == 4
    for setup in group["setups"]:
        assert {
            "energy_to_target_j",
            "energy_to_target_at_least_j",
            "reached_share",
            "test_accuracy",
            "energy_by_component_j",
            "differs_significantly_from_best",
        } <= set(setup)
    if group["best_setup"] is not None:
        assert group["waste_ratio_max"] >= 1.0


def test_summary_csv_has_a_row_per_setup(report):
    rows = list(csv.DictReader(report.csv.open()))
    assert len(rows) == 4 and all(r["energy_method"].startswith("ESTIMATE") for r in rows)


def test_figures_are_written_as_png_and_svg(report):
    names = {p.name for p in report.figures}
    for kind in ("heatmap", "accuracy-energy", "pareto", "components", "power"):
        assert any(kind in n and n.endswith(".png") for n in names), kind
        assert any(kind in n and n.endswith(".svg") for n in names), kind


def test_user_strings_are_escaped(report):
    html = report.html.read_text()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in html


def _chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


@pytest.mark.browser
def test_report_opens_offline_in_headless_chromium_with_every_figure_and_no_console_error(
    report, tmp_path
):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium (make test installs Debian's chromium when run as root)")
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            report.html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    figures = run.stdout.count("<img ")
    assert figures == 5
    assert f'data-figures-loaded="{figures}/{figures}"' in run.stdout
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []


def test_report_cli_prints_the_headline_and_where_the_report_is(store_path, tmp_path):
    run = powertrain("report", "--db", str(store_path), "--out", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr
    assert "ESTIMATE" in run.stdout and f"report: {tmp_path / 'r' / 'report.html'}" in run.stdout


def test_report_and_compare_bad_input(store_path, tmp_path):
    assert_one_clear_error(
        powertrain("report", "--db", str(store_path), "--study", "nope"), "no study named 'nope'"
    )
    assert_one_clear_error(
        powertrain("compare", EVIL, "--db", str(store_path)), "nothing to compare"
    )


def test_compare_two_studies_side_by_side(store_path, tmp_path):
    db = tmp_path / "two.db"
    shutil.copy(store_path, db)
    study = parse_study(
        {
            "name": "second",
            "task": {
                "dataset": "digits",
                "model": "mlp",
                "model_options": {"hidden": [32]},
                "target_accuracy": 0.85,
                "eval_every_steps": 10,
                "max_epochs": 2,
            },
            "grid": {"learning_rate": [0.1], "batch_size": [32]},
            "seeds": [0],
        }
    )
    with SqliteStore(db) as store:
        run_study(study, store, detection=detect_meters(["estimate"]))
    run = powertrain("compare", EVIL, "second", "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert [c["study"] for c in result["columns"]] == [EVIL, "second"]
    row = next(r for r in result["rows"] if r["setup"] == "learning_rate=0.1 batch_size=32")
    assert all(cell is not None for cell in row["cells"])
    table = powertrain("compare", EVIL, "second", "--db", str(db))
    assert "second / first" in table.stdout
