"""The workers executor gives each run its own GPUs and threads (``--gpus-per-run``,
``--cpus-per-run``), as Ray does: 8 GPUs run four 2-GPU runs (distributed jobs) at once."""

from __future__ import annotations

import pytest

from powertrain import PowertrainError
from powertrain.study.executors import make_executor
from powertrain.study.executors.slots import plan_slots, shares_gpus
from tests.unit.test_parallel import study

GPUS = [f"GPU-{i}" for i in range(8)]


def test_eight_gpus_two_per_run_make_four_workers_each_owning_two():
    slots = plan_slots(4, GPUS, 16, gpus_per_run=2, cpus_per_run=4)
    assert [s.gpu_uuids for s in slots] == [tuple(GPUS[i : i + 2]) for i in range(0, 8, 2)]
    assert not shares_gpus(slots) and {s.threads for s in slots} == {4}
    assert slots[1].environ()["CUDA_VISIBLE_DEVICES"] == "GPU-2,GPU-3"
    assert slots[1].environ()["OMP_NUM_THREADS"] == "4"


def test_more_gpus_than_the_machine_has_is_one_clear_error():
    with pytest.raises(PowertrainError, match="needs 10 GPUs, but 8 are visible"):
        plan_slots(5, GPUS, 16, gpus_per_run=2)
    with pytest.raises(PowertrainError, match="--gpus-per-run 1.5"):
        plan_slots(2, GPUS, 16, gpus_per_run=1.5)


def test_the_command_line_options_reach_the_workers_executor():
    workers = make_executor(study(), workers=4, gpu_uuids=GPUS, gpus_per_run=2.0, cpus_per_run=3)
    assert [len(s.gpu_uuids) for s in workers.slots] == [2, 2, 2, 2]
    assert {s.threads for s in workers.slots} == {3}
    one = make_executor(study(), workers=1, gpu_uuids=GPUS, gpus_per_run=2)
    assert one.slots[0].gpu_uuids == ("GPU-0", "GPU-1")  # one 2-GPU run at a time, still its own


def test_the_docs_study_of_torchrun_runs_is_a_valid_study(tmp_path, monkeypatch):
    import os
    import sys
    from pathlib import Path

    from powertrain.study.config import load_study
    from tests.docs_pages import block_starting

    path = tmp_path / "ddp-study.yaml"
    path.write_text(block_starting("yaml", "# ddp-study.yaml"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    study = load_study(path)  # torchrun on the PATH, as where torch is installed
    assert study.task.command.startswith("torchrun") and len(study.grid["learning_rate"]) == 4
