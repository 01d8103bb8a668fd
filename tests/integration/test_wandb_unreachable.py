"""A tracking server out of reach (W&B online with no network, a proxy down): said in one warning
within seconds, never a silent wait of the tool's own (wandb.init waits 90 s for its server); the
run is recorded whatever the tool does."""

from __future__ import annotations

import logging
import socket
import time

from powertrain import open_store, track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import REACHED
from tests.fakes.meters import ConstantPowerMeter


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def test_an_unreachable_wandb_server_is_one_warning_at_once_and_the_run_is_recorded(
    tmp_path, clock, monkeypatch, caplog
):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "f" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    wandb.teardown()  # W&B keeps the settings of its first setup in the process otherwise
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )
    db = tmp_path / "runs.db"
    began = time.monotonic()
    tracked = track("w", {"lr": 0.1}, 0, 0.9, db=db, detection=meters, log_to=["wandb"])
    with caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.95)
    assert time.monotonic() - began < 30
    wandb.teardown()
    said = [r.getMessage() for r in caplog.records if "wandb" in r.getMessage()]
    assert len(said) == 1 and "does not answer" in said[0] and "WANDB_MODE=offline" in said[0]
    with open_store(db) as store:
        assert [r.status for r in store.runs("w")] == [REACHED]


def test_a_long_wait_for_a_slow_tool_at_the_end_is_said_as_it_begins(monkeypatch, caplog):
    import threading

    from powertrain.loggers import fanout
    from powertrain.loggers.base import Destination

    release = threading.Event()

    class Slow(Destination):
        name = "slow"

        def open(self, info):
            release.wait(5)  # a server that takes its time
            return None

    monkeypatch.setattr(fanout, "SAY_WAIT_S", 0.2)
    out = fanout.Fanout([Slow()], flush_s=0.5)
    out._put(("begun", 1, None))  # a run begun: its open() is the slow part
    with caplog.at_level(logging.WARNING, logger="powertrain"):
        out.close()
    release.set()
    # powertrain's own lines (an earlier test's W&B threads may still log errors of their own)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("powertrain")]
    assert "waiting up to 0 s more for slow" in said[0] and "still busy" in said[1]


def test_behind_a_proxy_the_proxy_is_what_must_answer(monkeypatch):
    """A machine that reaches the internet only through a proxy (a cluster's login node) is not
    refused for the W&B server's direct address, and a proxy down is named as the proxy."""
    import pytest

    from powertrain.loggers.wandb import check_reachable

    class Online:
        mode, base_url = "online", f"http://127.0.0.1:{closed_port()}"

    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "")
        check_reachable(Online())  # the proxy takes the connection: W&B goes through it
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"127.0.0.1:{closed_port()}")  # a scheme-less proxy too
    with pytest.raises(ConnectionError, match="proxy to the W&B server 127.0.0.1"):
        check_reachable(Online())


def test_an_mlflow_server_behind_a_proxy_is_checked_at_the_proxy(monkeypatch):
    import pytest

    from powertrain.loggers.mlflow import check_reachable

    server = f"http://127.0.0.1:{closed_port()}"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "")
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
        check_reachable(server)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name)
    with pytest.raises(ConnectionError, match="MLflow tracking store 127.0.0.1"):
        check_reachable(server)
