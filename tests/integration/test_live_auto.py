"""Live ``auto`` on tiny studies (digits, an MLP, one thread): it picks what the full grid's best is,
for less energy. On a CPU grid through the command line; on a grid with a GPU power-limit axis under
a fake NVML whose energy counter runs at a power set by the limit (so each limit has its own price)."""

from __future__ import annotations

import time

import pytest
import yaml

from powertrain.meters.detect import detect_meters
from powertrain.power_limit import GpuPowerControl
from powertrain.records import REACHED
from powertrain.search.run import search_study
from powertrain.store import open_store
from powertrain.study.config import parse_study
from tests.cli_helpers import assert_one_clear_error, powertrain
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.integration.test_live_search import STUDY as TINY

TASK = TINY["task"]  # digits, an MLP; an evaluation every 10 steps
CPU_STUDY = {**TINY, "name": "tiny-auto"}  # learning rates 0.3 (the best), 0.05, 0.02; 2 seeds
# The fake GPU's physics: watts drawn at each power limit. 300 W is the cheapest per step by 3x; the
# limit changes what a step costs, never what it learns (it is a cost axis by construction).
WATTS_AT = {200: 450.0, 300: 100.0, 400: 300.0}
GPU_STUDY = {
    **CPU_STUDY,
    "name": "tiny-auto-gpu",
    "task": {**TASK, "eval_every_steps": 20},  # windows long enough to price
    "grid": {"learning_rate": [0.3, 0.05], "gpu_power_limit_w": [200, 300, 400]},
    "device": "cpu",
    "meters": {"backends": ["nvml"]},
}


class PoweredNvml(FakeNvml):
    """A fake NVML whose energy counter advances at ``WATTS_AT[limit]`` with the CPU time this
    process has used (a GPU busy while the training is: unlike the wall clock, not inflated by other
    jobs on a loaded machine)."""

    def __init__(self) -> None:
        gpu = FakeGpu("GPU-0", power_limit_mw=400_000, limit_constraints_mw=(100_000, 500_000))
        super().__init__([gpu])
        self.read_at: float | None = None

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        gpu, now = self._gpu(handle), time.process_time()
        if self.read_at is not None:
            watts = WATTS_AT[gpu.power_limit_mw // 1000]
            gpu.energy_mj += round((now - self.read_at) * watts * 1000)
        self.read_at = now
        return gpu.energy_mj


def best_of(runs, axes) -> tuple:
    """The setup (its ``axes`` values) with the lowest mean energy-to-target over its seeds."""
    means: dict[tuple, list[float]] = {}
    for r in runs:
        e = r.outcome.energy_to_target_j if r.status == REACHED else float("inf")
        means.setdefault(tuple(r.setup[a] for a in axes), []).append(e)
    return min(means, key=lambda k: sum(means[k]) / len(means[k]))


def test_cli_auto_on_a_cpu_grid_picks_the_grids_best_for_less_energy(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(CPU_STUDY))
    grid = powertrain("run", str(path), "--db", str(tmp_path / "grid.db"), timeout=600)
    auto = powertrain(
        "run", str(path), "--strategy", "auto", "--db", str(tmp_path / "auto.db"), timeout=600
    )
    assert grid.returncode == 0, grid.stderr
    assert auto.returncode == 0, auto.stderr
    with open_store(tmp_path / "grid.db") as g, open_store(tmp_path / "auto.db") as a:
        grid_runs, auto_runs = g.runs("tiny-auto"), a.runs("tiny-auto")
        ledger = a.search_costs()["tiny-auto"]
    assert best_of(grid_runs, ["learning_rate"]) == (0.3,)
    assert ledger["strategy"] == "auto" and "learning_rate=0.3" in ledger["pick"].split()
    # Less than the grid, counted in steps: the estimate's joules carry the machine's load.
    assert sum(r.outcome.steps for r in auto_runs) < sum(r.outcome.steps for r in grid_runs)


@pytest.fixture
def fake_gpu(monkeypatch):
    nvml = PoweredNvml()
    nvml.nvmlInit()  # the power control's own reference, as ``GpuPowerControl.open`` takes it
    monkeypatch.setattr(  # the control over the fake GPU, as root (``open`` checks both)
        GpuPowerControl, "open", classmethod(lambda cls, limits, **kw: cls(nvml, [0]))
    )
    return nvml


def test_auto_prices_a_power_limit_under_fake_nvml_and_picks_the_grids_best(fake_gpu, tmp_path):
    study = parse_study(GPU_STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    with open_store(tmp_path / "grid.db") as store:
        search_study(study, store, strategy="grid", detection=detection)
        grid_runs = store.runs("tiny-auto-gpu")
    with open_store(tmp_path / "auto.db") as store:
        live = search_study(study, store, strategy="auto", detection=detection)
        auto_runs = store.runs("tiny-auto-gpu")
    limits = {r.setup["gpu_power_limit_w"] for r in auto_runs}
    assert limits == {200, 300, 400}  # every limit priced (a short window of each)
    assert best_of(grid_runs, ["learning_rate", "gpu_power_limit_w"]) == (0.3, 300)
    assert live.cost.pick in ("learning_rate=0.3 gpu_power_limit_w=300.0",) and live.cost.confirmed
    grid_j = sum(r.outcome.total_energy_j for r in grid_runs)
    assert live.cost.spent_j < 0.6 * grid_j
    assert fake_gpu.gpus[0].power_limit_mw == 400_000  # the limit put back after every run
    priced = "cost axes gpu_power_limit_w: each value priced by energy per step"
    assert any(note.startswith(priced) for note in live.cost.notes)  # what the report shows
    with open_store(tmp_path / "auto.db") as store:
        assert store.search_costs()["tiny-auto-gpu"]["notes"] == list(live.cost.notes)


def test_cli_import_with_a_cost_axis_then_simulate_says_it_priced_it(tmp_path):
    from tests.unit.test_search_auto import _write_csv

    csv, db = tmp_path / "t.csv", str(tmp_path / "r.db")
    _write_csv(csv)
    bad = powertrain("import", str(csv), "--study", "t", "--target", "0.6", "--db", db,
                     "--cost-axis", "clock_mhz")  # fmt: skip
    assert_one_clear_error(bad, "--cost-axis clock_mhz is not a setup column")
    ok = powertrain("import", str(csv), "--study", "t", "--target", "0.6", "--db", db,
                    "--cost-axis", "power_limit_w")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    sim = powertrain("simulate", "--study", "t", "--strategy", "auto", "--repeats", "5", "--db", db)
    assert sim.returncode == 0, sim.stderr
    assert (
        "cost axes priced over 10% of the steps to a run's first evaluation, not searched: power_limit_w"
        in sim.stdout
    )
    assert "out-of-sample for auto" in sim.stdout
