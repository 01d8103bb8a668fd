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
    port, done = free_port(), tmp_path / "scraped"
    # the command works until the test has scraped what it needs (or two minutes), however slow
    # the machine is to start powertrain and the endpoint
    busy = (
        "import os, time\nt = time.time()\n"
        f"while not os.path.exists({str(done)!r}) and time.time() - t < 120: sum(range(10000))"
    )
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
            busy,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    url, seen = f"http://127.0.0.1:{port}/metrics", None
    try:
        while seen is None and child.poll() is None:
            try:
                energy = scrape(url).get("powertrain_energy_joules_total", [])
            except OSError:
                energy = []
            if any(labels["component"] == "cpu" and value > 0 for labels, value in energy):
                seen = energy
            time.sleep(0.3)
    finally:
        done.touch()
        _, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    assert seen is not None, stderr
    labels = {s[0]["component"]: s[0] for s in seen}
    assert labels["cpu"]["method"] == "estimate" and labels["cpu"]["run"].startswith("measure/")
    assert f"metrics: http://127.0.0.1:{port}/metrics" in stderr


def test_an_ipv6_address_is_served_at_a_url_that_can_be_opened():
    try:
        endpoint = MetricsEndpoint(0, "::1")
    except Exception as exc:  # noqa: BLE001 - a machine without IPv6 loopback
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert endpoint.url == f"http://[::1]:{endpoint.port}/metrics"
        assert "powertrain_runs_running" in scrape(endpoint.url)
    finally:
        endpoint.close()


@pytest.mark.parametrize("addr", ["a" * 70, "no such host"])
def test_an_address_that_cannot_be_listened_on_is_one_clear_error(addr):
    from powertrain.errors import PowertrainError

    with pytest.raises(PowertrainError, match="cannot listen on"):
        MetricsEndpoint(0, addr)


def test_a_distributed_runs_energy_another_node_estimated_is_served_as_an_estimate():
    import dataclasses

    from powertrain.loggers.base import RunInfo
    from powertrain.records import EvalPoint
    from powertrain.testing.store_contract import outcome

    endpoint = MetricsEndpoint(0)
    try:
        counter = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False}}
        endpoint.run_begun(RunInfo("st", "k", 1, {}, {}, 0, counter, {"host": "a"}))
        endpoint.eval_point(1, EvalPoint(0, 1, 1.0, 0, None, 0.5, 1.0, {"cpu": 10.0}))
        # node 1 had no RAPL: its CPU joules, in the run's sum, are the CPU-time estimate's
        nodes = [
            {"node": 0, "host": "a", "estimated": {"cpu": False}},
            {"node": 1, "host": "b", "estimated": {"cpu": True}},
        ]
        ended = dataclasses.replace(outcome(), energy_j={"cpu": 30.0}, nodes=nodes)
        endpoint.run_finished(1, ended)
        served = scrape(endpoint.url)["powertrain_energy_joules_total"]
    finally:
        endpoint.close()
    assert [(labels["method"], value) for labels, value in served] == [("estimate", 30.0)]


@pytest.mark.parametrize(
    ("method", "served"),
    [
        ("apportioned", "apportioned+estimate"),  # a shared socket's counter, split by CPU time
        ("replay", "replay+estimate"),  # a replayed trace of estimates
        ("counter", "counter+estimate"),
        ("estimate", "estimate"),
    ],
)
def test_a_figure_marked_an_estimate_is_served_as_one_whatever_its_method(method, served):
    from powertrain.loggers.base import RunInfo
    from powertrain.records import EvalPoint

    endpoint = MetricsEndpoint(0)
    try:
        provenance = {"cpu": {"meter": "m", "method": method, "estimated": True}}
        endpoint.run_begun(RunInfo("st", "k", 1, {}, {}, 0, provenance, {"host": "a"}))
        endpoint.eval_point(1, EvalPoint(0, 1, 1.0, 0, None, 0.5, 1.0, {"cpu": 10.0}))
        energy = scrape(endpoint.url)["powertrain_energy_joules_total"]
    finally:
        endpoint.close()
    assert [(labels["method"], value) for labels, value in energy] == [(served, 10.0)]


def test_measure_labels_an_apportioned_meters_series_an_estimate():
    from types import SimpleNamespace

    from powertrain.meters.base import Provenance

    split = SimpleNamespace(provenance=Provenance("rapl+split", Method.APPORTIONED, True, {}))
    monitor = SimpleNamespace(meters={Component.CPU: split}, samples=lambda: [])
    endpoint = MetricsEndpoint(0)
    try:
        watch = endpoint.watch(monitor, "measure/x", every_s=60)
        watch.stop()
        assert watch.labels.methods == {Component.CPU: "apportioned+estimate"}
    finally:
        endpoint.close()


def test_a_port_in_use_costs_one_line_and_the_measured_command_runs_all_the_same(tmp_path):
    from tests.cli_helpers import powertrain

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = powertrain(
            "measure",
            "--meter",
            "estimate",
            "--metrics-port",
            str(port),
            "--",
            sys.executable,
            "-c",
            "print('trained')",
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert "trained" in done.stdout
    [line] = [x for x in done.stderr.splitlines() if "in use" in x]
    assert f"port {port}" in line and "goes on without" in line and "--metrics-port 0" in line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("port", "addr", "said"),
    [
        ("9100", "127.0.0.1", "port must be a whole number from 0 to 65535.*got '9100'"),
        (70000, "127.0.0.1", "got 70000"),  # an OverflowError out of bind() before
        (None, "127.0.0.1", "got None"),
        (2**64, "127.0.0.1", "got 18446744073709551616"),
        (0, None, "addr must be an address to listen on.*got None"),  # listened on every address
        (0, 5, "got 5"),
    ],
)
def test_a_port_or_address_of_the_wrong_kind_is_one_clear_error(port, addr, said):
    from powertrain.errors import PowertrainError

    with pytest.raises(PowertrainError, match=said):
        MetricsEndpoint(port, addr)


@pytest.mark.parametrize("every_s", [0, -1.0, float("nan"), "1", None])
def test_a_watch_interval_that_would_spin_or_cannot_be_waited_is_refused(every_s):
    """every_s=0 polled the sampler thousands of times a second on a core of its own, whose CPU
    time the estimate then counted as the measured command's."""
    from types import SimpleNamespace

    from powertrain.errors import PowertrainError

    monitor = SimpleNamespace(meters={}, samples=lambda: [])
    endpoint = MetricsEndpoint(0)
    try:
        with pytest.raises(PowertrainError, match="every_s must be a number of seconds"):
            endpoint.watch(monitor, "measure/x", every_s=every_s)
    finally:
        endpoint.close()
