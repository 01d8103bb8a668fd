"""The demo study's promise, on this machine's data: most setups reach the target, and the worst needs
plainly more energy than the best. A smaller variant of the demo study keeps the suite fast; the demo
command itself runs end to end on a tiny study in its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from powertrain.cli import demo as demo_cli
from powertrain.cli import main
from powertrain.data import fashion_mnist
from powertrain.study.config import load_study
from tests.cli_helpers import powertrain
from tests.integration.test_docs_snippets import TINY_STUDY

DEMO = demo_cli.demo_study_path()


def test_the_demo_study_ships_in_the_package_and_make_demo_runs_it():
    assert DEMO.is_file() and DEMO.parent.parent == Path(demo_cli.__file__).parents[1]
    study = load_study(DEMO)
    assert study.name == "demo" and len(study.setups()) == 6 and len(study.seeds) >= 3
    makefile = Path("Makefile").read_text()
    recipe = makefile[makefile.index("\ndemo:") :].split("\n\n")[0]
    assert "-m powertrain demo" in recipe


def test_powertrain_demo_runs_its_study_writes_the_report_and_ends_with_the_headline(
    tmp_path, monkeypatch, capsys
):
    # the report and the headline are asked for by the demo's name; the estimate, as in CI
    tiny = {**TINY_STUDY, "name": "demo", "meters": {"backends": ["estimate"]}}
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(tiny))
    monkeypatch.setattr(demo_cli, "demo_study_path", lambda: tmp_path / "demo.yaml")
    db, out = tmp_path / "d.db", tmp_path / "report"
    main(["demo", "--db", str(db), "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-3] == f"report: {out / 'report.html'}" and (out / "report.html").is_file()
    assert lines[-2].startswith("load average (1, 5, 15 min): ")
    assert lines[-1].startswith("demo on ") and "ESTIMATE" in lines[-1], lines[-1]


def test_powertrain_demo_without_its_data_says_how_to_get_it_in_one_line(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian-package")
    monkeypatch.setenv("POWERTRAIN_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--db", str(tmp_path / "d.db")])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        "Fashion-MNIST, which is not on this machine" in line and "powertrain demo --fetch" in line
    )
    assert "~/.cache/powertrain/fashion-mnist" in line and not (tmp_path / "d.db").exists()


@pytest.mark.slow
def test_a_smaller_demo_reaches_the_target_in_most_setups_with_a_plain_waste(tmp_path):
    demo = yaml.safe_load(DEMO.read_text())
    demo["seeds"] = [0]
    task = demo["task"]  # a quarter of the work per run: half the images, a smaller model, 0.84
    task["dataset_options"]["train_size"] = 10_000
    task["model_options"]["hidden"] = [256, 128]
    task["target_accuracy"] = 0.84
    task["max_epochs"] = 8  # the slowest setup may be censored; the others reach within ~3
    demo["meters"] = {"backends": ["estimate"]}
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo))
    run = powertrain("run", str(path), "--db", str(tmp_path / "d.db"), "--json", timeout=480)
    assert run.returncode == 0, run.stderr
    (h,) = json.loads(run.stdout)["headlines"]
    assert h["setups_reached"] >= 4, run.stderr  # of 6
    assert h["ratio"] >= 1.5, run.stderr  # ~4x on the full demo; one seed under load is noisier
    assert h["estimated"] and "ESTIMATE" in h["text"]
