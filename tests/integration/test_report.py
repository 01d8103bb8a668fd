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
    assert figures == 6  # the group's five, and the study's search replay
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


def test_summary_json_is_the_analysis_serialised(store_path, report):
    from powertrain.analysis import analyse

    with SqliteStore(store_path) as store:
        analysis = analyse(store)
    assert json.loads(report.json.read_text()) == json.loads(json.dumps(analysis.to_dict()))
    assert report.analysis == analysis


def _intervals(node, key=""):
    if isinstance(node, dict):
        if {"mean", "low", "high", "n", "method"} <= set(node):
            yield key, node
        for k, v in node.items():
            yield from _intervals(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _intervals(v, key)


def test_energy_intervals_never_go_below_zero_and_two_seeds_are_called_wide(report):
    summary = json.loads(report.json.read_text())
    found = [(k, i) for k, i in _intervals(summary) if k.endswith(("_j", "_s"))]
    assert found
    for key, interval in found:
        assert interval["low"] >= 0, key
        assert interval["low"] <= interval["mean"] <= interval["high"], key
        assert interval["wide"] is (interval["n"] == 2), key
        assert interval["method"], key
    assert "log scale" in summary["intervals"]
    assert "too wide" in report.html.read_text() or all(i["n"] != 2 for _, i in found)


def test_runs_and_points_csv_are_tidy_learning_curves(report):
    pandas = pytest.importorskip("pandas")
    runs = pandas.read_csv(report.runs_csv)
    assert len(runs) == 8 and {"learning_rate", "batch_size", "seed", "stop_reason"} <= set(runs)
    assert "setup" not in runs.columns and runs["run_id"].is_unique
    points = pandas.read_csv(report.points_csv)
    assert {"run_id", "learning_rate", "batch_size", "val_accuracy", "total_energy_j"} <= set(
        points
    )
    curves = points.groupby(["learning_rate", "batch_size", "seed"])
    assert curves.ngroups == 8
    for _, curve in curves:  # cumulative energy never falls along a learning curve
        assert curve["total_energy_j"].is_monotonic_increasing
    assert set(points["run_id"]) == set(runs["run_id"])


def test_figures_are_print_ready_png_pdf_and_svg_with_editable_text(report, store_path, tmp_path):
    from PIL import Image

    pngs = [p for p in report.figures if p.suffix == ".png"]
    assert pngs
    for png in pngs:
        assert round(Image.open(png).info["dpi"][0]) == 300
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
        assert "<text" in png.with_suffix(".svg").read_text()  # text, not paths
    heatmap = next(p for p in report.figures if p.name.endswith("heatmap.svg"))
    assert "energy to reach the target" in heatmap.read_text()
    with SqliteStore(store_path) as store:
        bare = build_report(store, tmp_path / "bare", titles=False)
    bare_heatmap = next(p for p in bare.figures if p.name.endswith("heatmap.svg"))
    assert "energy to reach the target" not in bare_heatmap.read_text()
    assert "energy to target (J)" in bare_heatmap.read_text()  # the axes keep their words


FRAMES = """<!DOCTYPE html><html><body style="margin:0">
<iframe id=report src="report.html" style="width:{w}px;height:800px;border:0"></iframe>
<iframe id=control src="control.html" style="width:{w}px;height:200px;border:0"></iframe>
<script>
var pending = 2;
document.querySelectorAll('iframe').forEach(function (frame) {{
  frame.addEventListener('load', function () {{
    var root = frame.contentDocument.documentElement;
    document.body.setAttribute('data-' + frame.id, root.scrollWidth - root.clientWidth);
  }});
}});
</script></body></html>"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_nothing_overflows_sideways_on_a_phone_or_a_desktop(report, tmp_path, width):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium (make test installs Debian's chromium when run as root)")
    folder = report.html.parent
    (folder / "control.html").write_text('<div style="width:2000px">wider than any window</div>')
    (folder / f"frames-{width}.html").write_text(FRAMES.format(w=width))
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--allow-file-access-from-files",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,1000",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (folder / f"frames-{width}.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 'data-control="' in run.stdout and 'data-control="0"' not in run.stdout  # it can tell
    assert 'data-report="0"' in run.stdout


def test_report_json_prints_the_analysis_and_no_titles_is_accepted(store_path, tmp_path):
    run = powertrain(
        "report", "--db", str(store_path), "--out", str(tmp_path / "r"), "--json", "--no-titles"
    )
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed == json.loads((tmp_path / "r" / "summary.json").read_text())
    assert printed["groups"][0]["study"] == EVIL
