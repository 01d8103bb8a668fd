"""The GPU power limit as a grid axis, against a fake NVML built to the real interface."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.power_limit import check_power_limits, power_limit, restore_pending
from tests.fakes.nvml import FakeGpu, FakeNvml


class Journal:
    """An in-memory journal, as the store keeps it."""

    def __init__(self) -> None:
        self.pending: dict[str, float] = {}

    def pending_power_limits(self) -> dict[str, float]:
        return dict(self.pending)

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        if previous_w is None:
            self.pending.pop(gpu_uuid, None)
        else:
            self.pending[gpu_uuid] = previous_w


def _nvml(root: bool = True, gpus: int = 2) -> FakeNvml:
    nvml = FakeNvml([FakeGpu(f"GPU-{i}", power_limit_mw=400_000) for i in range(gpus)], root=root)
    nvml.nvmlInit()
    return nvml


def test_a_limit_is_set_for_the_run_and_the_previous_one_restored():
    nvml, journal = _nvml(), Journal()
    with power_limit(nvml, [0, 1], 250, journal) as applied:
        assert [g.power_limit_mw for g in nvml.gpus] == [250_000, 250_000]
        assert [a.requested_w for a in applied] == [250, 250]
        assert [a.enforced_w for a in applied] == [250, 250]
        assert [a.previous_w for a in applied] == [400, 400]
        assert journal.pending == {"GPU-0": 400, "GPU-1": 400}  # noted while changed
    assert [g.power_limit_mw for g in nvml.gpus] == [400_000, 400_000]
    assert journal.pending == {}


def test_the_previous_limit_comes_back_after_an_exception():
    nvml, journal = _nvml(), Journal()
    with pytest.raises(RuntimeError), power_limit(nvml, [0, 1], 300, journal):
        raise RuntimeError("the run failed")
    assert [g.power_limit_mw for g in nvml.gpus] == [400_000, 400_000]
    assert journal.pending == {}


def test_a_limit_left_by_a_killed_run_is_restored_at_the_next_start():
    nvml, journal = _nvml(), Journal()
    block = power_limit(nvml, [0], 250, journal)
    block.__enter__()  # the run is killed here: no __exit__ ever runs
    assert nvml.gpus[0].power_limit_mw == 250_000
    restored = restore_pending(nvml, [0, 1], journal)
    assert nvml.gpus[0].power_limit_mw == 400_000
    assert journal.pending == {}
    assert len(restored) == 1 and "400 W restored" in restored[0]


def test_without_root_it_says_what_is_missing_before_anything_trains():
    with pytest.raises(PowertrainError, match="needs root"):
        check_power_limits(_nvml(root=False), [0], [250], euid=lambda: 1000)


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), -5, 0, "abc"])
def test_a_limit_that_is_not_a_number_of_watts_is_refused(limit):
    with pytest.raises(PowertrainError, match="gpu_power_limit_w"):
        check_power_limits(_nvml(), [0], [limit], euid=lambda: 0)


def test_a_limit_outside_the_gpus_range_is_refused_with_the_range():
    with pytest.raises(PowertrainError, match="200-700 W"):
        check_power_limits(_nvml(), [0, 1], [150], euid=lambda: 0)


def test_no_visible_gpu_is_refused():
    with pytest.raises(PowertrainError, match="sees no GPU"):
        check_power_limits(_nvml(), [], [250], euid=lambda: 0)


def test_valid_limits_as_root_pass():
    check_power_limits(_nvml(), [0, 1], [200, 250, 700], euid=lambda: 0)


# The axis in a study: set per run, recorded, put back; a killed run's limit restored at the next start.

LIMITED_STUDY = {
    "name": "limits",
    "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.5, "max_epochs": 1},
    "grid": {"gpu_power_limit_w": [250, 300]},
    "device": "cpu",
    "threads": 1,
    "meters": {"backends": ["estimate"]},
}


def _run_limited(tmp_path, nvml):
    from powertrain.meters.detect import detect_meters
    from powertrain.power_limit import GpuPowerControl
    from powertrain.store.sqlite import SqliteStore
    from powertrain.study.config import parse_study
    from powertrain.study.execute import RunEnv
    from powertrain.study.executors.local import LocalExecutor
    from powertrain.study.runner import run_study

    study = parse_study(LIMITED_STUDY)
    power = GpuPowerControl.open([250, 300], nvml=nvml, environ={}, euid=lambda: 0)
    env = RunEnv.open(study, detection=detect_meters(["estimate"]), power=power)
    store = SqliteStore(tmp_path / "r.db")
    return store, run_study(study, store, executor=LocalExecutor(env=env))


def test_each_run_sets_its_limit_records_asked_and_enforced_and_puts_the_old_one_back(tmp_path):
    nvml = FakeNvml([FakeGpu(f"GPU-{i}", power_limit_mw=400_000) for i in range(2)])
    store, result = _run_limited(tmp_path, nvml)
    assert result.ran == 2
    limits = [r.hardware["gpu_power_limit_w"] for r in store.runs("limits")]
    assert [x["requested_w"] for x in limits] == [250, 300]
    for x in limits:
        assert [g["gpu_uuid"] for g in x["gpus"]] == ["GPU-0", "GPU-1"]
        assert {g["enforced_w"] for g in x["gpus"]} == {x["requested_w"]}
        assert {g["previous_w"] for g in x["gpus"]} == {400}
    assert [g.power_limit_mw for g in nvml.gpus] == [400_000, 400_000]
    assert store.pending_power_limits() == {}
    store.close()


def test_a_limit_a_killed_run_left_in_the_store_is_restored_before_the_next_run(tmp_path):
    from powertrain.store.sqlite import SqliteStore

    with SqliteStore(tmp_path / "r.db") as store:  # a run set GPU-1 to 250 W and was killed
        store.note_power_limit("GPU-1", 400)
    nvml = FakeNvml([FakeGpu(f"GPU-{i}", power_limit_mw=400_000) for i in range(2)])
    nvml.gpus[1].power_limit_mw = 250_000
    store, _ = _run_limited(tmp_path, nvml)
    assert [g.power_limit_mw for g in nvml.gpus] == [400_000, 400_000]
    assert store.pending_power_limits() == {}
    store.close()


def test_a_study_with_limits_is_refused_before_training_without_root_or_without_nvml(monkeypatch):
    from powertrain.meters.nvml import NVML_MODULE_ENV
    from powertrain.power_limit import GpuPowerControl
    from powertrain.study.config import parse_study
    from powertrain.study.execute import RunEnv

    with pytest.raises(PowertrainError, match="needs root"):
        GpuPowerControl.open([250], nvml=_nvml(), environ={}, euid=lambda: 1000)
    assert GpuPowerControl.open([], nvml=_nvml()) is None  # no axis: NVML never touched
    # no NVML (on a machine with a GPU too: the module it would load is one that does not import)
    monkeypatch.setenv(NVML_MODULE_ENV, "powertrain_no_such_nvml")
    with pytest.raises(PowertrainError, match="gpu_power_limit_w.*NVML is not usable"):
        RunEnv.open(parse_study(LIMITED_STUDY))  # said before any run


def test_a_search_from_the_command_line_opens_nvml_once_for_its_power_limits(tmp_path, monkeypatch):
    """One worker: the search's runs train in this process, in the one run environment it opens
    (NVML initialised once for the limits, not again for the executor's own environment)."""
    import importlib

    import yaml
    from click.testing import CliRunner

    from powertrain.cli import cli
    from powertrain.power_limit import GpuPowerControl

    monkeypatch.setenv("POWERTRAIN_NVML_MODULE", "tests.fakes.nvml_env")
    monkeypatch.setenv("POWERTRAIN_FAKE_GPUS", "GPU-a:100")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = importlib.reload(importlib.import_module("tests.fakes.nvml_env"))
    opened = []
    init = fake.nvmlInit
    monkeypatch.setattr(fake, "nvmlInit", lambda: (opened.append(1), init())[1])
    root = GpuPowerControl.open.__func__.__kwdefaults__
    monkeypatch.setitem(root, "euid", lambda: 0)  # as root, who alone may set a limit
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**LIMITED_STUDY, "seeds": [0]}))
    args = ["-q", "run", str(tmp_path / "s.yaml"), "--db", str(tmp_path / "r.db")]
    done = CliRunner().invoke(cli, [*args, "--strategy", "bound", "--workers", "1"])
    assert done.exit_code == 0, done.output
    assert len(opened) == 1
    assert fake.nvmlDeviceGetPowerManagementLimit(0) == 700_000  # put back after each run


def test_a_search_whose_runs_execute_elsewhere_opens_no_run_environment_here(tmp_path, monkeypatch):
    """Workers and Ray nodes open their own environments (NVML for the limits among them): the
    coordinator only finds and removes checkpoints, so it opens none (no NVIDIA driver here)."""
    from powertrain.search.run import _environment
    from powertrain.study.config import parse_study
    from powertrain.study.execute import RunEnv
    from powertrain.study.resume import StudyPlace

    class Elsewhere:  # an executor whose runs execute in other processes
        def prepare(self, study, artifacts_dir):
            self.prepared = (study.name, artifacts_dir)

    monkeypatch.setattr(RunEnv, "open", lambda *a, **k: pytest.fail("opened a run environment"))
    study, executor = parse_study(LIMITED_STUDY), Elsewhere()
    place, prepared = _environment(study, None, executor, None, tmp_path)
    assert prepared is executor and executor.prepared == (study.name, tmp_path)
    assert place == StudyPlace(study, tmp_path)
