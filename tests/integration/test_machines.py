from __future__ import annotations

import json
import sqlite3

from powertrain.records import REACHED, RunOutcome
from powertrain.render.build import build_report
from powertrain.store.sqlite import SqliteStore
from powertrain.study.plan import RunSpec
from tests.cli_helpers import assert_one_clear_error, powertrain

PROVENANCE = {"gpu": {"meter": "nvml", "method": "counter", "estimated": False}}


def machine_store(path, host: str, gpu: str, energies: dict[float, float]) -> None:
    """A store as a study run on one machine leaves it: one run per learning rate, with a timeline."""
    with SqliteStore(path) as store:
        store.save_study(
            "grid", {"task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.9}}
        )
        for lr, energy in energies.items():
            run_id = store.begin_run(
                RunSpec("grid", f"key-{lr}", {"learning_rate": lr}, {"paradigm": "scratch"}, 0),
                {"host": host, "gpu_model": gpu, "gpu_count": 1, "memory_gb": 64},
                PROVENANCE,
            )
            store.save_timeline(
                run_id, {"header": {}, "t_s": [0, 10], "energy_j": {"gpu": [0, energy]}}
            )
            store.finish_run(
                run_id,
                RunOutcome(
                    REACHED, "", energy, {"gpu": energy}, 10.0, 100, 0.92, 0.91, energy, 10.0, 100
                ),
            )


def test_merge_combines_machines_and_merging_twice_adds_nothing(tmp_path):
    machine_store(tmp_path / "a.db", "node-a", "NVIDIA A100", {0.1: 100.0, 0.01: 300.0})
    machine_store(tmp_path / "b.db", "node-b", "NVIDIA H100", {0.1: 80.0, 0.01: 350.0})
    out = tmp_path / "all.db"
    first = powertrain("merge", str(tmp_path / "a.db"), str(tmp_path / "b.db"), "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert "4 runs and 1 studies added, 0 runs already there" in first.stdout
    again = powertrain("merge", str(tmp_path / "a.db"), str(tmp_path / "b.db"), "-o", str(out))
    assert "0 runs and 0 studies added, 4 runs already there" in again.stdout
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4
        assert db.execute("SELECT COUNT(*) FROM timelines").fetchone()[0] == 4

    with SqliteStore(out) as store:
        files = build_report(store, tmp_path / "report")
    (machines,) = json.loads(files.json.read_text())["machines"]
    cheapest = {s["setup"]: s["cheapest_machine"] for s in machines["setups"]}
    assert cheapest == {
        "learning_rate=0.1": "NVIDIA H100 on node-b",
        "learning_rate=0.01": "NVIDIA A100 on node-a",
    }
    assert "across machines" in files.html.read_text()

    compared = json.loads(powertrain("compare", "grid", "--db", str(out), "--json").stdout)
    assert len(compared["columns"]) == 2


def test_carbon_is_recomputed_from_the_store_without_rerunning(tmp_path):
    machine_store(tmp_path / "a.db", "node-a", "NVIDIA A100", {0.1: 3.6e6})
    run = powertrain(
        "carbon", "--db", str(tmp_path / "a.db"), "--region", "SE", "--pue", "1.2", "--json"
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    (f,) = result["runs"]
    assert f["operational_g_co2e"] == __import__("pytest").approx(1.0 * 1.2 * 45.817)
    assert f["embodied_g_co2e"] > 0 and f["total_g_co2e"] > f["operational_g_co2e"]
    assert "Sweden" in result["intensity"] and result["pue"] == 1.2
    assert "A100" in f["embodied"]
    share = json.loads(
        powertrain(
            "carbon",
            "--db",
            str(tmp_path / "a.db"),
            "--region",
            "SE",
            "--pue",
            "1.2",
            "--hardware-share",
            "0.25",
            "--json",
        ).stdout
    )["runs"][0]
    assert share["embodied_g_co2e"] == __import__("pytest").approx(f["embodied_g_co2e"] / 4)
    table = powertrain("carbon", "--db", str(tmp_path / "a.db"), "--intensity", "100")
    assert "100 g/kWh, given by the user" in table.stdout


def test_idle_baseline_is_measured_and_used_for_dynamic_energy(tmp_path):
    db = tmp_path / "a.db"
    machine_store(db, __import__("platform").node(), "NVIDIA A100", {0.1: 500.0})
    idle = powertrain("idle", "--seconds", "0.3", "--db", str(db), "--meter", "estimate")
    assert idle.returncode == 0, idle.stderr
    assert "W idle" in idle.stdout
    result = json.loads(powertrain("carbon", "--db", str(db), "--intensity", "10", "--json").stdout)
    assert result["runs"][0]["dynamic_energy_j"] is not None
    with SqliteStore(db) as store:
        files = build_report(store, tmp_path / "report")
    (group,) = json.loads(files.json.read_text())["groups"]
    assert group["idle_power_w"] is not None
    assert 0 <= group["sweep_dynamic_energy_j"] <= group["sweep_energy_j"]
    assert "above the machine's idle power" in files.html.read_text()


def test_carbon_and_merge_bad_input(tmp_path):
    machine_store(tmp_path / "a.db", "node-a", "NVIDIA A100", {0.1: 100.0})
    db = str(tmp_path / "a.db")
    assert_one_clear_error(powertrain("carbon", "--db", db), "no silent default")
    assert_one_clear_error(
        powertrain("carbon", "--db", db, "--region", "Atlantis"), "unknown region"
    )
    assert_one_clear_error(
        powertrain("carbon", "--db", db, "--region", "DE", "--pue", "-2"), "at least 1"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("when,how_much\n")
    assert_one_clear_error(
        powertrain("carbon", "--db", db, "--intensity-csv", str(bad)), "timestamp,g_per_kwh"
    )
    assert_one_clear_error(
        powertrain("merge", str(tmp_path / "none.db"), "-o", str(tmp_path / "x.db")),
        "no results store",
    )
    assert_one_clear_error(
        powertrain("idle", "--seconds", "0", "--db", db), "--seconds must be positive"
    )


def test_a_carbon_source_named_on_the_command_line_gives_what_its_option_gives(tmp_path):
    machine_store(tmp_path / "a.db", "node-a", "NVIDIA A100", {0.1: 100.0})
    db = str(tmp_path / "a.db")
    by_option = json.loads(powertrain("carbon", "--db", db, "--intensity", "250", "--json").stdout)
    by_source = powertrain("carbon", "--db", db, "--source", "constant:250", "--json")
    assert by_source.returncode == 0, by_source.stderr
    assert json.loads(by_source.stdout)["runs"] == by_option["runs"]
    assert_one_clear_error(
        powertrain("carbon", "--db", db, "--source", "nope:1"), "unknown carbon source 'nope'"
    )
    assert_one_clear_error(
        powertrain("carbon", "--db", db, "--source", "constant:250", "--region", "DE"), "once"
    )
