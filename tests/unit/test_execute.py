"""The one run body: a spec, an environment opened here, and a sink that hears everything in order."""

from __future__ import annotations

import pickle

from powertrain.meters.detect import detect_meters
from powertrain.records import REACHED, Stage
from powertrain.store.memory import MemoryStore
from powertrain.study.config import parse_study
from powertrain.study.execute import RunEnv, execute_run
from powertrain.study.executors.local import LocalExecutor
from powertrain.study.plan import plan
from powertrain.study.runner import run_study


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def begin(self, spec, hardware, provenance) -> int:
        self.calls.append("begin")
        return 7

    def eval_point(self, run_id, point) -> None:
        self.calls.append(f"eval {run_id}")

    def timeline(self, run_id, timeline) -> None:
        self.calls.append(f"timeline {run_id}")

    def finish(self, run_id, outcome) -> None:
        self.calls.append(f"finish {run_id} {outcome.status}")


def study():
    return parse_study(
        {
            "name": "one",
            "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.5, "max_epochs": 3},
            "grid": {"learning_rate": [0.1]},
            "train": {"momentum": 0.9, "batch_size": 32},
        }
    )


def test_execute_run_writes_through_the_sink_in_order(tmp_path):
    s = study()
    (spec,) = plan(s, [])
    env = RunEnv.open(s, detection=detect_meters(["estimate"]), artifacts_dir=tmp_path)
    sink = RecordingSink()
    outcome = execute_run(pickle.loads(pickle.dumps(spec)), env, sink)
    assert outcome.status is REACHED
    assert sink.calls[0] == "begin" and sink.calls[-1] == "finish 7 reached"
    assert sink.calls[-2] == "timeline 7" and set(sink.calls[1:-2]) == {"eval 7"}


def test_run_study_runs_its_plan_on_the_executor_given(tmp_path):
    s = study()
    with MemoryStore() as store:
        executor = LocalExecutor(detection=detect_meters(["estimate"]), artifacts_dir=tmp_path)
        result = run_study(s, store, executor=executor)
        (run,) = store.runs("one")
    assert result.ran == 1 and run.status is REACHED and run.stage is Stage.TRAIN
    assert run.method_label.startswith("ESTIMATE")
