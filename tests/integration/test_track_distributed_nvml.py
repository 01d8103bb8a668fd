"""The 2-rank job against the real NVML, where this machine has an NVIDIA GPU: one run, its GPUs each
counted once (by UUID), their energy a counter's, not an estimate's."""

from __future__ import annotations

import pytest

from powertrain.records import REACHED
from powertrain.store import open_store
from tests.distributed_helpers import run_job


def real_gpu_uuids() -> list[str]:
    """The UUIDs of this machine's NVIDIA GPUs, or none where NVML does not answer."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no package, no driver, no GPU: all mean "no GPU here"
        return []
    try:
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        return [str(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
    finally:
        pynvml.nvmlShutdown()


@pytest.mark.slow
@pytest.mark.distributed
def test_two_ranks_count_each_real_gpu_once(tmp_path):
    uuids = real_gpu_uuids()
    if not uuids:
        pytest.skip("needs hardware: an NVIDIA GPU with its driver (NVML answers nothing here)")
    code, output, _ = run_job(tmp_path / "out", tmp_path / "s.db")
    assert code == 0, output
    with open_store(tmp_path / "s.db") as store:
        [record] = store.runs()
    o = record.outcome
    assert record.status == REACHED and record.provenance["gpu"]["meter"] == "nvml"
    [node] = o.nodes
    assert sorted(node["gpus"]) == sorted(uuids) and node["ranks"] == [0, 1]
    assert node["method"]["gpu"] in ("counter", "sampled_power")
    watts = o.energy_j["gpu"] / o.duration_s
    assert 1 < watts < 1500 * len(uuids)  # each GPU once: not the node counted per rank
