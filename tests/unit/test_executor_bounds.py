"""How much work the executors start: no more workers than runs to do or devices to run them on (and
saying so), and a Ray address that answers nothing is one clear error in bounded time."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from powertrain.errors import PowertrainError
from powertrain.study.executors.ray import RayExecutor, check_reachable
from powertrain.study.executors.slots import capped_workers
from powertrain.study.executors.workers import WorkersExecutor


@pytest.mark.parametrize(
    ("asked", "runs", "devices", "expected", "why"),
    [
        (1000, 2, 2, 2, "2 CPU threads here"),
        (1000, 2, 64, 2, "2 run(s) to do"),
        (16, None, 4, 4, "4 CPU threads here"),
        (3, 10, 8, 3, None),
        (5, 0, 8, 1, "0 run(s) to do"),
    ],
)
def test_workers_are_capped_at_the_runs_and_the_devices_and_say_so(
    asked, runs, devices, expected, why
):
    count, note = capped_workers(asked, runs, devices, "CPU threads")
    assert count == expected
    if why is None:
        assert note is None
    else:
        assert f"{asked} workers asked, {expected} started" in note and why in note


def test_an_executor_asked_for_a_thousand_workers_plans_one_per_cpu_thread(caplog):
    with caplog.at_level(logging.INFO, logger="powertrain"):
        executor = WorkersExecutor(1000, cpu_count=3)
    assert len(executor.slots) == 3 and all(s.threads == 1 for s in executor.slots)
    assert "1000 workers asked, 3 started" in caplog.text


def test_a_study_with_fewer_runs_than_workers_starts_a_worker_per_run(caplog):
    executor = WorkersExecutor(8, cpu_count=8)
    with caplog.at_level(logging.INFO, logger="powertrain"):
        executor.fit(2)  # what its session does when the grid hands it 2 runs
    assert len(executor.slots) == 2 and "2 run(s) to do" in caplog.text
    assert all(s.threads == 4 for s in executor.slots)  # the threads of the workers not started


def test_gpus_are_still_refused_not_capped_when_workers_would_share_them():
    with pytest.raises(PowertrainError, match="each worker owns its GPUs"):
        WorkersExecutor(4, gpu_uuids=["GPU-a", "GPU-b"], cpu_count=8)
    assert len(WorkersExecutor(4, gpu_uuids=["GPU-a"], cpu_count=8, share_gpus=True).slots) == 4


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_dead_ray_address_is_one_error_in_bounded_time(scheme):
    address = f"{scheme}127.0.0.1:{_closed_port()}"
    start_s = time.monotonic()
    with pytest.raises(PowertrainError, match="no Ray cluster answers there"):
        RayExecutor(address=address).connect()
    assert time.monotonic() - start_s < 10


def test_an_address_that_never_answers_times_out(monkeypatch):
    def silent(address, timeout):
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(PowertrainError, match="no answer within 0.5 s"):
        check_reachable("10.255.255.1:6379", timeout_s=0.5)


@pytest.mark.parametrize("address", ["nohost", "host:port", ":6379"])
def test_an_address_that_is_no_host_and_port_is_refused(address):
    with pytest.raises(PowertrainError, match="expected HOST:PORT"):
        check_reachable(address)


def test_auto_and_a_listening_address_pass_the_check():
    check_reachable("auto")
    check_reachable(None)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
