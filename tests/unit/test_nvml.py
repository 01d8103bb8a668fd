from __future__ import annotations

import pytest

from powertrain.meters.base import Component, MeterError, Method
from powertrain.meters.detect import detect_meters
from powertrain.meters.nvml import NvmlMeter, visible_gpus
from tests.fakes.nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    FakeGpu,
    FakeNvml,
)

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-cccc3333-0000"]


def fake(*gpus: FakeGpu) -> FakeNvml:
    return FakeNvml(list(gpus) or [FakeGpu(u) for u in UUIDS])


def test_counter_is_read_in_millijoules_and_summed_over_visible_gpus():
    nvml = fake(FakeGpu(UUIDS[0], energy_mj=1_000), FakeGpu(UUIDS[1], energy_mj=5_000))
    meter = NvmlMeter(nvml=nvml, environ={})
    nvml.gpus[0].energy_mj += 2_500
    nvml.gpus[1].energy_mj += 500
    assert meter.energy_j() == pytest.approx(3.0)
    assert meter.provenance.method is Method.COUNTER
    assert not meter.provenance.estimated
    assert meter.provenance.details["gpus"][0]["power_limit_w"] == 700


def test_without_counter_power_is_integrated_and_labelled(clock):
    nvml = fake(FakeGpu(UUIDS[0], energy_mj=None, power_mw=200_000))
    meter = NvmlMeter(nvml=nvml, environ={}, clock=clock)
    assert meter.needs_sampling
    clock.advance(1.0)
    nvml.gpus[0].power_mw = 300_000
    assert meter.energy_j() == pytest.approx(250.0)  # trapezoid of 200 W and 300 W over 1 s
    assert meter.provenance.method is Method.SAMPLED_POWER
    assert meter.provenance.details["gpus"][0]["source"] == "power integrated"


def test_counter_reset_by_a_driver_reload_leaves_its_interval_out_and_is_noted():
    nvml = fake(FakeGpu(UUIDS[0], energy_mj=900_000))
    meter = NvmlMeter(nvml=nvml, environ={})
    nvml.gpus[0].energy_mj = 4_000
    assert meter.energy_j() == 0.0  # 4 J "since the reset" is not known to be since zero
    nvml.gpus[0].energy_mj = 6_000
    assert meter.energy_j() == pytest.approx(2.0)  # counted again from the next read
    assert meter.resets == 1  # noted as a fault of the window it falls in, not in the provenance
    assert "need not restart at zero" in meter.faults_between(0, meter.fault_count)[0]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("2", [UUIDS[2]]),
        ("2,0", [UUIDS[2], UUIDS[0]]),
        ("GPU-bbbb", [UUIDS[1]]),  # a unique UUID prefix, as CUDA accepts
        ("1,7,0", [UUIDS[1]]),  # CUDA stops at the first entry naming no GPU
        ("-1", []),
        ("", []),
        ("GPU-", []),  # an ambiguous prefix names no GPU
    ],
)
def test_only_the_gpus_this_process_may_use_are_measured(spec, expected):
    nvml = fake()
    nvml.nvmlInit()
    found = visible_gpus(nvml, {"CUDA_VISIBLE_DEVICES": spec, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert [nvml.nvmlDeviceGetUUID(h) for h in found.handles] == expected


def test_hidden_gpus_are_not_counted():
    nvml = fake()
    meter = NvmlMeter(nvml=nvml, environ={"CUDA_VISIBLE_DEVICES": "1"})
    for gpu in nvml.gpus:
        gpu.energy_mj += 1_000
    assert meter.energy_j() == pytest.approx(1.0)


def test_indices_without_pci_bus_order_are_flagged():
    nvml = fake()
    nvml.nvmlInit()
    found = visible_gpus(nvml, {"CUDA_VISIBLE_DEVICES": "0"})
    assert any("CUDA_DEVICE_ORDER" in note for note in found.notes)


def test_mig_instances_are_explained_not_measured():
    nvml = fake()
    nvml.nvmlInit()
    found = visible_gpus(nvml, {"CUDA_VISIBLE_DEVICES": "MIG-1234"})
    assert found.handles == [] and "MIG" in found.notes[0]


def test_no_visible_gpu_is_an_error():
    with pytest.raises(MeterError, match="no GPU visible"):
        NvmlMeter(nvml=fake(), environ={"CUDA_VISIBLE_DEVICES": ""})


def test_a_lost_gpu_is_reported_not_counted_as_zero():
    nvml = fake(FakeGpu(UUIDS[0]))
    meter = NvmlMeter(nvml=nvml, environ={})
    nvml.gpus[0].lost = True
    with pytest.raises(MeterError, match="GPU_IS_LOST"):
        meter.energy_j()


@pytest.mark.parametrize("code", [NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_DRIVER_NOT_LOADED])
def test_detection_says_why_nvml_is_unavailable(code):
    detection = detect_meters(["nvml"], nvml=FakeNvml([], init_error=code))
    assert Component.GPU not in detection.meters
    (why,) = [u.reason for u in detection.unavailable if u.backend == "nvml"]
    assert "driver" in why.lower()


def test_close_balances_the_reference_counted_init():
    nvml = fake()
    meter = NvmlMeter(nvml=nvml, environ={})
    assert nvml.initialised == 1
    meter.close()
    meter.close()
    assert nvml.initialised == 0


def test_a_window_spanning_few_counter_updates_says_its_figure_is_not_precise(clock):
    """NVML's counter moves every 100 ms (measured on an H200): a window of under ten of its
    updates may be a whole update off at each edge, which its figure says, as the search counts."""
    import pynvml

    from powertrain.meters.nvml import NVML_UPDATE_PERIOD_S, UPDATE_PERIOD_ATTR
    from powertrain.monitor import Monitor, below_resolution

    assert not hasattr(pynvml, UPDATE_PERIOD_ATTR)  # the real module: NVML's 100 ms
    nvml = fake(FakeGpu(UUIDS[0]))
    assert getattr(nvml, UPDATE_PERIOD_ATTR) == 0.0  # the fakes' counters move at every read
    setattr(nvml, UPDATE_PERIOD_ATTR, NVML_UPDATE_PERIOD_S)  # this one as NVML's
    monitor = Monitor([NvmlMeter(nvml=nvml, environ={}, clock=clock)], clock=clock, sample=False)
    assert monitor.update_period_s() == NVML_UPDATE_PERIOD_S
    with monitor.window("short") as short:
        clock.advance(0.4)
        nvml.gpus[0].energy_mj += 120_000
    [note] = short.result.faults
    assert below_resolution(note) and "moves every 0.1 s: about 25% off, or more" in note
    with monitor.window("long") as long:
        clock.advance(1.0)
        nvml.gpus[0].energy_mj += 300_000
    assert long.result.faults == ()


def test_a_share_of_an_nvml_gpu_moves_as_its_counter_and_says_so_on_a_short_window(clock):
    """Runs sharing a GPU (``share_gpus``) read it through an ApportionedMeter: its update period is
    the GPU's, so a share's short window is flagged and a pricing window on it lasts 2 s."""
    from powertrain.meters.apportion import ApportionedMeter
    from powertrain.meters.nvml import NVML_UPDATE_PERIOD_S, UPDATE_PERIOD_ATTR
    from powertrain.monitor import Monitor, below_resolution

    nvml = fake(FakeGpu(UUIDS[0]))
    setattr(nvml, UPDATE_PERIOD_ATTR, NVML_UPDATE_PERIOD_S)  # as NVML's
    cpu = iter(range(1, 100))
    share = ApportionedMeter(
        NvmlMeter(nvml=nvml, environ={}, clock=clock),
        lambda: 1.0 * next(cpu),
        lambda: 2.0 * next(cpu),
    )
    assert share.update_period_s() == NVML_UPDATE_PERIOD_S
    monitor = Monitor([share], clock=clock, sample=False)
    with monitor.window("short") as short:
        clock.advance(0.5)
        nvml.gpus[0].energy_mj += 100_000
    [note] = short.result.faults
    assert below_resolution(note) and "apportioned meter" in note and "every 0.1 s" in note
