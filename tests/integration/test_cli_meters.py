from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli_helpers import assert_one_clear_error, last_json, powertrain
from tests.fakes.powercap import amd_tree

_IMPORTS_TORCH = """
import sys
from powertrain.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print("torch imported:", "torch" in sys.modules)
"""


def test_help_and_version_answer_without_importing_torch():
    assert powertrain("--version").stdout.startswith("powertrain, version")
    run = subprocess.run([sys.executable, "-c", _IMPORTS_TORCH], capture_output=True, text=True)
    assert "measure" in run.stdout
    assert run.stdout.strip().endswith("torch imported: False")


def test_meters_json_lists_each_component_with_method_and_reasons():
    run = powertrain("meters", "--json")
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["components"]["cpu"]["method"] in ("counter", "estimate")
    assert "estimated" in found["components"]["cpu"]
    assert all(u["reason"] for u in found["unavailable"])


def test_meters_uses_rapl_from_the_environment_root(tmp_path):
    amd_tree(tmp_path)
    run = powertrain("meters", "--json", env={**_env(), "POWERTRAIN_POWERCAP_ROOT": str(tmp_path)})
    assert json.loads(run.stdout)["components"]["cpu"]["meter"] == "rapl"


def _env():
    import os

    return dict(os.environ)


def test_measure_a_sleeping_command():
    run = powertrain("measure", "--json", "--meter", "estimate", "--", "sleep", "0.5")
    assert run.returncode == 0, run.stderr
    result = last_json(run.stdout)
    assert result["duration_s"] >= 0.5
    cpu = result["components"]["cpu"]
    assert cpu["method"] == "estimate" and cpu["estimated"] is True
    assert cpu["energy_j"] < 0.5  # sleeping uses (almost) no CPU time


def test_measure_a_busy_command_costs_more_than_a_sleeping_one():
    # Busy for 0.5 s of CPU time, not of wall time: on a loaded machine 0.5 s of wall time may get
    # far less CPU, while a loop on the process's own CPU clock always uses what it promises.
    busy = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.5: pass"
    run = powertrain("measure", "--json", "--meter", "estimate", "--", sys.executable, "-c", busy)
    assert run.returncode == 0, run.stderr
    cpu = last_json(run.stdout)["components"]["cpu"]
    assert cpu["energy_j"] > 0.4 * cpu["details"]["watts_per_cpu_s"]


def test_measure_exits_with_the_commands_code_and_still_reports(tmp_path):
    trace = tmp_path / "fail.trace"
    run = powertrain(
        "measure",
        "--json",
        "--trace",
        str(trace),
        "--",
        sys.executable,
        "-c",
        "import sys; sys.exit(3)",
    )
    assert run.returncode == 3
    assert "energy_j" in last_json(run.stdout)
    assert trace.read_text().startswith('{"format": "powertrain-trace"')


def test_measure_prints_a_table_with_the_method_on_stderr():
    run = powertrain("measure", "--meter", "estimate", "--", "true")
    assert run.returncode == 0
    assert "ESTIMATE" in run.stderr and "energy_j" in run.stderr


def test_replaying_a_recorded_trace(tmp_path):
    trace = tmp_path / "rec.trace"
    powertrain("measure", "--trace", str(trace), "--interval", "0.05", "--", "sleep", "0.4")
    run = powertrain("measure", "--json", "--replay", str(trace), "--", "sleep", "0.2")
    assert run.returncode == 0, run.stderr
    assert last_json(run.stdout)["components"]["cpu"]["method"] == "replay"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["measure", "--meter", "bogus", "--", "true"], ["unknown meter 'bogus'", "estimate"]),
        (["measure", "--interval", "0", "--", "true"], ["--interval must be positive"]),
        (["measure"], ["no command to measure"]),
        (["measure", "--", "no-such-command-xyz"], ["command not found: no-such-command-xyz"]),
        (["measure", "--replay", "/nonexistent.trace", "--", "true"], ["cannot read trace"]),
        (["meters", "--meter", "replay"], ["needs a recorded trace"]),
    ],
)
def test_bad_input_gets_one_clear_line(args, fragments):
    assert_one_clear_error(powertrain(*args), *fragments)


def test_an_unreadable_counter_gets_one_clear_line(tmp_path):
    tree = amd_tree(tmp_path)
    (tree.root / "intel-rapl:0" / "energy_uj").write_text("garbage\n")
    run = powertrain(
        "measure",
        "--meter",
        "rapl",
        "--",
        "true",
        env={**_env(), "POWERTRAIN_POWERCAP_ROOT": str(tmp_path)},
    )
    assert_one_clear_error(run, "no meter could be opened", "cannot read RAPL counter")
