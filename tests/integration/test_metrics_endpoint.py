"""The Prometheus endpoint, scraped over 127.0.0.1: a tracked run's energy per component (the store's
figures, to the joule), its progress, and `powertrain measure --metrics-port` while a command runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from powertrain import open_store, track
from powertrain.loggers.observe import observed
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.metrics import MetricsEndpoint
from tests.fakes.meters import ConstantPowerMeter


def scrape(url: str) -> dict[str, list]:
    """name -> [(labels, value), ...] of every sample served at ``url``."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tracked_runs_energy_and_progress_are_served_on_localhost(tmp_path, clock):
    meters = Detection(
        {
            Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE),
            Component.GPU: ConstantPowerMeter(Component.GPU, 30.0, clock, Method.COUNTER),
        }
    )
    endpoint = MetricsEndpoint(0)  # any free port, on 127.0.0.1
    try:
        assert endpoint._server.server_address[0] == "127.0.0.1"
        with open_store(tmp_path / "runs.db") as store:
            db = observed(store, endpoint)
            with track("mine", {"lr": 0.1}, 0, 0.9, db=db, detection=meters, device="cpu") as run:
                for accuracy in (0.5, 0.95):
                    clock.advance(2.0)
                    if run.evaluate(val_accuracy=accuracy, step=len(run.points) + 1):
                        break
                live = scrape(endpoint.url)  # while the run is in progress
            [record] = store.runs("mine")
        done = scrape(endpoint.url)
    finally:
        endpoint.close()
    assert live["powertrain_runs_running"] == [({}, 1.0)]
    assert live["powertrain_run_val_accuracy"] == [({"run": f"mine/{record.id}"}, 0.95)]
    energy = {s[0]["component"]: s for s in done["powertrain_energy_joules_total"]}
    assert energy.keys() == {"cpu", "gpu"}
    for component, (labels, value) in energy.items():
        assert value == pytest.approx(record.outcome.energy_j[component], abs=0.5)
        assert labels["run"] == f"mine/{record.id}" and labels["host"]
        assert labels["method"] == record.provenance[component]["method"]
    # the mean power since the previous evaluation while it runs (the fake meters' joules over the
    # real seconds between evaluations), none once the run has ended
    assert all(value > 0 for _, value in live["powertrain_power_watts"])
    assert all(value == 0 for _, value in done["powertrain_power_watts"])
    assert done["powertrain_runs_finished_total"] == [({"status": "reached"}, 1.0)]
    assert done["powertrain_runs_running"] == [({}, 0.0)]
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", endpoint.port)),
    ):
        pass  # nothing listens once it is closed


def test_measure_serves_the_commands_energy_while_it_runs(tmp_path):
    port = free_port()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "powertrain.cli",
            "measure",
            "--meter",
            "estimate",
            "--metrics-port",
            str(port),
            "--",
            sys.executable,
            "-c",
            "import time\nt = time.time()\nwhile time.time() - t < 6: sum(range(10000))",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    url, seen = f"http://127.0.0.1:{port}/metrics", None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            try:
                samples = scrape(url)
            except OSError:
                time.sleep(0.2)
                continue
            energy = samples.get("powertrain_energy_joules_total", [])
            if any(value > 0 for _, value in energy):
                seen = energy
                break
            time.sleep(0.3)
    finally:
        _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    assert seen is not None, stderr
    labels = {s[0]["component"]: s[0] for s in seen}
    assert labels["cpu"]["method"] == "estimate" and labels["cpu"]["run"].startswith("measure/")
    assert f"metrics: http://127.0.0.1:{port}/metrics" in stderr
