"""Many runs at once, the parts that need no process: shards, worker slots, which meter each worker
reads (fake NVML, fake powercap), the executor the options ask for."""

from __future__ import annotations

import dataclasses
import os

import pytest

from powertrain.errors import PowertrainError
from powertrain.meters.apportion import ApportionedMeter, apportion_meters, shared_components
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import detect_meters
from powertrain.meters.nvml import NvmlMeter
from powertrain.records import Stage, Verdict
from powertrain.study.config import parse_study
from powertrain.study.executors import LocalExecutor, make_executor
from powertrain.study.executors.ray import RayExecutor
from powertrain.study.executors.slots import plan_slots, shares_gpus
from powertrain.study.executors.workers import WorkersExecutor
from powertrain.study.plan import RunSpec, parse_shard, plan, shard, shard_of
from powertrain.train.stopping import Stop
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.fakes.powercap import intel_tree

TASK = {"dataset": "digits", "model": "mlp", "target_accuracy": 0.5, "max_epochs": 1}


def study(**extra):
    return parse_study({"name": "p", "task": TASK, "grid": {"learning_rate": [0.1]}, **extra})


def specs(count: int) -> list[RunSpec]:
    return [RunSpec("s", f"key-{i}", {"i": i}, {}, 0) for i in range(count)]


def test_shards_are_disjoint_cover_the_plan_and_keep_its_order():
    plan_ = specs(40)
    parts = [shard(plan_, i, 3) for i in range(3)]
    keys = [s.run_key for part in parts for s in part]
    assert sorted(keys) == sorted(s.run_key for s in plan_) and len(set(keys)) == 40
    assert all(len(part) > 0 for part in parts)  # 40 keys over 3 shards: none empty
    for part in parts:
        order = [plan_.index(s) for s in part]
        assert order == sorted(order)
    assert shard(plan_, 1, 3) == parts[1]  # deterministic
    assert shard_of("key-7", 3) == shard_of("key-7", 3)


def test_the_pretraining_stage_goes_with_every_shard_that_needs_it():
    s = parse_study(
        {
            "name": "ft",
            "task": TASK,
            "grid": {"paradigm": ["scratch", "finetune"], "learning_rate": [0.1, 0.2, 0.3]},
            "seeds": [0, 1, 2],
            "pretrain": {"dataset": "digits", "max_epochs": 1},
        }
    )
    full = plan(s, [])
    assert full[0].stage is Stage.PRETRAIN
    for i in range(4):
        part = shard(full, i, 4)
        needs = any(p.train_config.paradigm.needs_pretraining for p in part)
        has_stage = any(p.stage is Stage.PRETRAIN for p in part)
        assert needs == has_stage
        assert not has_stage or part[0].stage is Stage.PRETRAIN


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/2", "0/0", "1/2/3"])
def test_a_bad_shard_is_refused_with_what_to_give(text):
    with pytest.raises(PowertrainError, match="--shard"):
        parse_shard(text)


def test_parse_shard_reads_i_of_n():
    assert parse_shard("1/3") == (1, 3)


def test_each_worker_owns_its_gpus_by_uuid_and_its_share_of_threads():
    slots = plan_slots(2, ["GPU-a", "GPU-b", "GPU-c", "GPU-d"], cpu_count=16)
    assert [s.gpu_uuids for s in slots] == [("GPU-a", "GPU-b"), ("GPU-c", "GPU-d")]
    assert slots[1].environ()["CUDA_VISIBLE_DEVICES"] == "GPU-c,GPU-d"
    assert all(s.threads == 8 and s.environ()["OMP_NUM_THREADS"] == "8" for s in slots)
    cpu_only = plan_slots(3, [], cpu_count=2)
    assert [s.threads for s in cpu_only] == [1, 1, 1]
    assert all("CUDA_VISIBLE_DEVICES" not in s.environ() for s in cpu_only)
    assert not shares_gpus(slots)


def test_a_gpu_shared_by_two_workers_is_refused_unless_the_study_allows_it():
    with pytest.raises(PowertrainError, match="share_gpus: true"):
        plan_slots(3, ["GPU-a", "GPU-b"], cpu_count=4)
    shared = plan_slots(3, ["GPU-a", "GPU-b"], cpu_count=4, share_gpus=True)
    assert [s.gpu_uuids for s in shared] == [("GPU-a",), ("GPU-b",), ("GPU-a",)]
    assert shares_gpus(shared)


def test_two_workers_on_two_gpus_each_read_only_their_own_gpus_energy():
    nvml = FakeNvml([FakeGpu("GPU-aaaa", energy_mj=0), FakeGpu("GPU-bbbb", energy_mj=0)])
    slots = plan_slots(2, ["GPU-aaaa", "GPU-bbbb"], cpu_count=2)
    meters = [NvmlMeter(nvml=nvml, environ=slot.environ()) for slot in slots]
    nvml.gpus[0].energy_mj = 30_000  # GPU a: 30 J; GPU b: 500 J
    nvml.gpus[1].energy_mj = 500_000
    assert [m.energy_j() for m in meters] == pytest.approx([30.0, 500.0])
    assert [m.gpus[0]["index"] for m in meters] == ["GPU-aaaa", "GPU-bbbb"]
    # a worker's own GPU is not split with the others; the shared package is
    own = {Component.GPU: meters[0]}
    assert shared_components(own) == [] and apportion_meters(own, 1) == own
    wrapped = apportion_meters(own, 1, share_gpus=True)[Component.GPU]
    assert isinstance(wrapped, ApportionedMeter)
    assert wrapped.provenance.method is Method.APPORTIONED


def test_a_shared_rapl_package_is_apportioned_and_the_estimate_is_not(tmp_path):
    intel_tree(tmp_path)
    rapl = detect_meters(["rapl"], powercap_root=tmp_path).meters
    assert set(shared_components(rapl)) == {Component.CPU, Component.RAM}
    wrapped = apportion_meters(rapl, 1)
    assert all(m.provenance.method is Method.APPORTIONED for m in wrapped.values())
    assert all(m.provenance.estimated for m in wrapped.values())
    estimate = detect_meters(["estimate"]).meters
    assert shared_components(estimate) == []  # per process already


def test_make_executor_follows_the_options_and_the_study():
    assert isinstance(make_executor(study()), LocalExecutor)  # one worker: the local executor
    workers = make_executor(study(), workers=2, gpu_uuids=[])
    assert isinstance(workers, WorkersExecutor) and len(workers.slots) == 2
    assert len(make_executor(study(workers=3), gpu_uuids=[]).slots) == min(3, os.cpu_count())
    ray = make_executor(study(), executor="ray", gpus_per_run=1, cpus_per_run=4)
    assert isinstance(ray, RayExecutor) and (ray.gpus_per_run, ray.cpus_per_run) == (1, 4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"executor": "dask"}, "choose one of local, ray"),
        ({"workers": 0}, "--workers 0"),
        ({"address": "auto"}, "--address is an option of --executor ray"),
        ({"executor": "ray", "workers": 2}, "Ray places runs"),
        ({"executor": "ray", "cpus_per_run": float("nan")}, "--cpus-per-run"),
    ],
)
def test_bad_executor_options_are_one_clear_error(options, message):
    with pytest.raises(PowertrainError, match=message):
        make_executor(study(), gpu_uuids=[], **options)


def test_workers_in_the_study_file_are_checked():
    with pytest.raises(PowertrainError, match="workers"):
        study(workers=0)
    assert study(workers=2, share_gpus=True).share_gpus


def test_run_keys_without_a_power_limit_are_those_of_before_the_axis():
    import hashlib
    import json

    s = study()
    (setup,) = s.setups()
    old_train = {
        k: v for k, v in dataclasses.asdict(setup.train).items() if k != "gpu_power_limit_w"
    }
    identity = {"task": dataclasses.asdict(s.task), "train": old_train, "seed": 0}
    old_key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    assert s.run_key(setup, 0) == old_key.hexdigest()[:20]
    limited = study(grid={"gpu_power_limit_w": [150, 200]})
    keys = {limited.run_key(x, 0) for x in limited.setups()}
    assert len(keys) == 2


@pytest.mark.parametrize("limit", [".nan", "-5", "0", "1e9"])
def test_a_power_limit_that_is_not_watts_is_refused_with_its_key(tmp_path, limit):
    import yaml

    from powertrain.study.config import load_study

    path = tmp_path / "s.yaml"
    text = yaml.safe_dump({"name": "p", "task": TASK, "grid": {"learning_rate": [0.1]}})
    path.write_text(text + f"train: {{gpu_power_limit_w: {limit}}}\n")
    with pytest.raises(PowertrainError, match="gpu_power_limit_w"):
        load_study(path)


def test_the_machine_total_is_read_over_the_sweep_and_set_beside_the_runs_parts():
    from types import SimpleNamespace

    from powertrain.records import REACHED, RunOutcome
    from powertrain.study.executors.machine import SweepMeter, describe_sweep
    from tests.unit.test_apportion import Counter

    package = Counter()
    package.value_j = 1000.0  # before the sweep: not counted
    sweep = SweepMeter({Component.CPU: package}, read_every_s=0.01).start()
    package.value_j = 1600.0
    total = sweep.stop()
    assert total.energy_j == {"cpu": pytest.approx(600.0)}
    assert total.provenance["cpu"]["method"] == "counter"
    parts = [RunOutcome(REACHED, "target", 200.0, {"cpu": j}, 1.0, 1) for j in (150.0, 300.0)]
    line = describe_sweep(SimpleNamespace(machine_total=total, outcomes=parts))
    assert "600 J" in line and "sum to 450 J (75% of it)" in line and "ESTIMATE" in line


def test_the_runs_parts_of_the_sweep_leave_out_what_a_continued_pause_spent_before_it():
    # A grid run after a search continues a pause from its checkpoint: its outcome holds what
    # the search had spent (300 J, before this sweep) too. The machine's total over the sweep
    # never saw those joules, so the runs' parts beside it leave them out.
    from powertrain.records import REACHED, RunOutcome
    from powertrain.study.executors.machine import MachineTotal, describe_sweep
    from powertrain.study.result import StudyResult

    parts = [RunOutcome(REACHED, "target", 200.0, {"cpu": j}, 1.0, 1) for j in (150.0, 450.0)]
    result = StudyResult(outcomes=parts, machine_total=MachineTotal({"cpu": 600.0}, 10.0))
    result.carried_j, result.carried_energy_j = 300.0, {"cpu": 300.0}
    assert "sum to 300 J (50% of it)" in describe_sweep(result)


def coordinator_and_worker(store):
    """A session of two workers with one fake worker on a pipe: (session, worker, its pipe end)."""
    import multiprocessing

    from powertrain.study.execute import StoreSink
    from powertrain.study.executors.slots import WorkerSlot
    from powertrain.study.executors.workers import Worker, WorkerSession

    executor = WorkersExecutor(2, gpu_uuids=[], cpu_count=2)
    coordinator_end, worker_end = multiprocessing.Pipe()
    worker = Worker(WorkerSlot(0, (), 1), None, coordinator_end, ready=True)
    return WorkerSession(executor, None, StoreSink(store), [worker]), worker, worker_end


def test_the_coordinator_claims_for_a_worker_and_keeps_its_power_limit_journal():
    from powertrain.errors import RunClaimed
    from powertrain.store.claims import Owner
    from powertrain.store.memory import MemoryStore
    from powertrain.study.executors.base import Job
    from powertrain.study.executors.messages import Answer, Begun, NoteLimit, Refused
    from powertrain.study.executors.worker_side import PipeSink

    store = MemoryStore()
    store.save_study("s", {})
    session, worker, worker_end = coordinator_and_worker(store)
    (a, b) = specs(2)
    worker.job = Job(a)
    session._handle(Begun(a, {}, {}), worker)
    assert worker_end.recv() == Answer(worker.run_id) and store.runs("s")[0].run_key == "key-0"
    me = store.owner
    import psutil

    store.owner = Owner(me.host, 1, psutil.Process(1).create_time())  # a live process holds key-1
    store.begin_run(b, {}, {})
    store.owner = me
    session._handle(Begun(b, {}, {}), worker)
    answer = worker_end.recv()
    assert isinstance(answer, Refused) and "key-1" in answer.reason
    session._handle(NoteLimit("GPU-0", 400.0), worker)
    assert worker_end.recv() == Answer(None)
    assert store.pending_power_limits() == {"GPU-0": 400.0}
    worker.conn.send(Refused("run key-1 is being trained by process 1"))
    with pytest.raises(RunClaimed, match="key-1"):  # the worker's begin raises: nothing trains
        PipeSink(worker_end).begin(b, {}, {})


def test_the_coordinator_answers_a_workers_stop_question_with_the_runs_own_stop():
    from powertrain.records import EvalPoint
    from powertrain.store.memory import MemoryStore
    from powertrain.study.executors.base import Job, job_for
    from powertrain.study.executors.messages import Answer, AskStop
    from powertrain.study.executors.worker_side import PipeSink

    store = MemoryStore()
    store.save_study("s", {})
    session, worker, worker_end = coordinator_and_worker(store)
    spec = specs(1)[0]
    point = EvalPoint(0, 10, 0.1, 160, 1.0, 0.5, 0.2, {"cpu": 3.0})
    worker.job = Job(
        spec, lambda p: f"bound: {p.total_energy_j} J" if p.total_energy_j > 2 else None
    )
    session._handle(AskStop(point), worker)
    assert worker_end.recv() == Answer("bound: 3.0 J")
    worker.job = Job(spec)  # a run handed out without a stop never asks; if it did: no stop
    session._handle(AskStop(point), worker)
    assert worker_end.recv() == Answer(None)
    worker.conn.send(Answer("bound: 3.0 J"))  # the worker's handler returns the answer
    assert PipeSink(worker_end).ask_stop(point) == "bound: 3.0 J"
    assert worker.conn.recv() == AskStop(point)
    # The grid's jobs: no handler, no question (the grid pays no round trip).
    assert job_for(spec).stop is None
    miss = Stop(Verdict.PREDICTED_MISS, "predicted to miss")
    job = job_for(spec, lambda spec: [lambda p: None, lambda p: miss])
    assert job.stop(point) == miss  # the typed stop, as it travels
