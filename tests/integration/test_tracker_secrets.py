"""Secrets and the trackers: a store's password on the command line stays out of every tool's copy."""

from __future__ import annotations

import pytest

from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from tests.fakes.meters import ConstantPowerMeter
from tests.integration.test_trackers import tracked_run
from tests.tool_readers import wandb_run


@pytest.fixture
def meters(clock):
    return Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )


def test_a_store_password_on_the_command_line_never_reaches_wandb(
    tmp_path, meters, clock, monkeypatch
):
    """W&B keeps the program's arguments in each run's metadata (and uploads them): a
    ``--db postgresql://...:PASSWORD@...`` there would leave with it."""
    import sys

    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    argv = ["powertrain", "run", "s.yaml", "--db", "postgresql://bob:Hunter2Secret@db/pt"]
    monkeypatch.setattr(sys, "argv", argv)
    record, _ = tracked_run(tmp_path / "runs.db", meters, clock, ["wandb"])
    wandb.teardown()
    [folder] = (tmp_path / "wandb").glob("offline-run-*")
    assert wandb_run(folder)["config"]["powertrain"]["powertrain.run_key"] == record.run_key
    for path in folder.rglob("*"):
        assert not path.is_file() or b"Hunter2Secret" not in path.read_bytes(), path
