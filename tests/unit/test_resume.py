"""A run paused at an evaluation and resumed from its checkpoint goes on exactly as if it had never
paused (CPU, one thread): the same losses and accuracies at every evaluation, its points and energy
continuing from the first attempt's; a checkpoint that is not the run's is never resumed."""

from __future__ import annotations

import json

import pytest
import torch

from powertrain.meters.base import Component
from powertrain.meters.detect import Detection, detect_meters
from powertrain.records import CENSORED, Status, Verdict
from powertrain.study.config import parse_study
from powertrain.study.execute import RunEnv, execute_run
from powertrain.study.plan import plan
from powertrain.study.resume import paused_spent, run_checkpoint
from powertrain.train.stopping import Stop
from tests.fakes.meters import ConstantPowerMeter


class Sink:
    """Keeps one record per begin, as a store would."""

    def __init__(self) -> None:
        self.records: dict[int, dict] = {}

    def begin(self, spec, hardware, provenance) -> int:
        run_id = len(self.records) + 1
        self.records[run_id] = {"points": [], "outcome": None}
        return run_id

    def eval_point(self, run_id, point) -> None:
        self.records[run_id]["points"].append(point)

    def timeline(self, run_id, timeline) -> None:
        pass

    def finish(self, run_id, outcome) -> None:
        self.records[run_id]["outcome"] = outcome


def study(task=None, **train):
    return parse_study(
        {
            "name": "resume",
            "task": {
                "dataset": "digits",
                "model": "mlp",
                "model_options": {"hidden": [16]},
                "target_accuracy": 1.0,  # never reached: K evaluations, to the epoch limit
                "max_epochs": 3,
                "evals_per_epoch": 3,
                **(task or {}),
            },
            "grid": {"learning_rate": [0.05]},
            "train": {"batch_size": 64, "momentum": 0.9, "scheduler": "cosine", **train},
            "seeds": [3],
            "threads": 1,
            "meters": {"backends": ["estimate"]},
        }
    )


def pause_at(index: int):
    """A handler that pauses the run at its evaluation ``index``, once."""

    def handler(point):
        return Stop(Verdict.RUNG_PAUSE, f"paused at {index}") if point.index == index else None

    return handler


def env_for(s, tmp_path, handler=None):
    env = RunEnv.open(s, detection=detect_meters(["estimate"]), artifacts_dir=tmp_path)
    if handler is not None:
        env.stop_handlers = lambda spec: [handler]
    return env


def curve(points):
    return [
        (p.index, p.step, p.epoch, p.samples_seen, p.train_loss, p.val_accuracy) for p in points
    ]


EVERY_7_STEPS = {"eval_every_steps": 7}  # pauses fall anywhere in an epoch (20 steps)


@pytest.mark.parametrize(
    ("pauses", "train", "task", "evals"),
    [
        ([1], {}, {}, 9),  # 3 epochs x 3 evaluations
        ([2, 5], {"optimizer": "adam", "scheduler": "step"}, {}, 9),
        ([0, 3, 7], {}, {}, 9),
        ([1, 2, 4], {"optimizer": "adamw"}, EVERY_7_STEPS, 9),  # 8, and where the limit left it
    ],
)
def test_a_paused_and_resumed_run_trains_exactly_as_an_uninterrupted_one(
    tmp_path, pauses, train, task, evals
):
    s = study(task, **train)
    (spec,) = plan(s, [])
    whole = Sink()
    execute_run(spec, env_for(s, tmp_path / "whole"), whole)
    (uninterrupted,) = whole.records.values()
    assert len(uninterrupted["points"]) == evals

    sink, run_id = Sink(), None
    for attempt, index in enumerate([*pauses, None]):
        env = env_for(s, tmp_path, pause_at(index) if index is not None else None)
        run_id = sink.begin(spec, {}, {}) if run_id is None else run_id
        outcome = execute_run(spec, env, sink, run_id=run_id, resume=attempt > 0)
        if index is not None:
            assert outcome.status == CENSORED and outcome.stop_reason == f"paused at {index}"
            assert outcome.test_accuracy is None  # no test evaluation (unmeasured work) at a pause
            assert run_checkpoint(spec, env).path.is_file()
    (resumed,) = sink.records.values()
    assert curve(resumed["points"]) == curve(uninterrupted["points"])
    energies = [p.total_energy_j for p in resumed["points"]]
    elapsed = [p.elapsed_s for p in resumed["points"]]
    assert energies == sorted(energies) and elapsed == sorted(elapsed)
    assert outcome.total_energy_j >= energies[-1] and outcome.duration_s >= elapsed[-1]
    assert outcome.steps == uninterrupted["outcome"].steps
    assert outcome.final_val_accuracy == uninterrupted["outcome"].final_val_accuracy
    assert outcome.test_accuracy == uninterrupted["outcome"].test_accuracy is not None
    assert paused_spent(spec, env) is None and not list(
        tmp_path.rglob("*.pt")
    )  # removed at the end


def test_the_resumed_attempts_totals_include_the_earlier_ones(tmp_path):
    s = study()
    (spec,) = plan(s, [])
    sink = Sink()
    first = execute_run(spec, env_for(s, tmp_path, pause_at(2)), sink)
    spent = paused_spent(spec, env_for(s, tmp_path))
    assert spent.total_energy_j == pytest.approx(first.total_energy_j)  # the save included
    assert spent.duration_s == pytest.approx(first.duration_s)
    assert [p.index for p in spent.points] == [0, 1, 2]
    # In a new record (another process): the earlier points come first, then the rest.
    second = execute_run(spec, env_for(s, tmp_path), sink, resume=True)
    points = sink.records[2]["points"]
    assert [p.index for p in points] == list(range(9))
    assert points[3].total_energy_j > first.total_energy_j
    assert second.total_energy_j > first.total_energy_j and second.steps == points[-1].step


def test_a_checkpoint_of_another_spec_is_not_resumed(tmp_path, caplog):
    s = study()
    (spec,) = plan(s, [])
    env = env_for(s, tmp_path, pause_at(1))
    execute_run(spec, env, Sink())
    summary = run_checkpoint(spec, env).summary_path
    data = json.loads(summary.read_text())
    summary.write_text(json.dumps({**data, "spec_sha256": "another"}))
    sink = Sink()
    outcome = execute_run(spec, env_for(s, tmp_path), sink, run_id=sink.begin(spec, {}, {}))
    assert "starting afresh" not in caplog.text  # not asked to resume: the file is just replaced
    sink = Sink()
    execute_run(spec, env_for(s, tmp_path, pause_at(1)), sink)
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "run_key": "other"}))
    resumed = execute_run(spec, env_for(s, tmp_path), sink, run_id=1, resume=True)
    assert "starting afresh" in caplog.text
    assert sorted(sink.records) == [1, 2]  # begun afresh: a new record from index 0
    assert [p.index for p in sink.records[2]["points"]] == list(range(9))
    assert resumed.steps == outcome.steps and resumed.status == Status.CENSORED
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("checkpoints/*.json"))


@pytest.mark.parametrize("damage", ["truncated", "not torch's", "another run's"])
def test_a_checkpoint_whose_state_is_damaged_is_not_resumed(tmp_path, caplog, damage):
    # Its summary intact, its state file cut short, overwritten, or another run's: the run is
    # begun afresh (one log line, the files removed), not FAILED on loading it.
    s = study()
    (spec,) = plan(s, [])
    env = env_for(s, tmp_path, pause_at(1))
    execute_run(spec, env, Sink())
    state = run_checkpoint(spec, env).path
    if damage == "truncated":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    elif damage == "not torch's":
        state.write_bytes(b"not a checkpoint")
    else:
        torch.save({"format": 1, "run_key": "other", "spec_sha256": "another"}, state)
    assert paused_spent(spec, env) is None and "starting afresh" in caplog.text
    assert not state.exists() and not state.with_suffix(".json").exists()
    sink = Sink()
    resumed = execute_run(
        spec, env_for(s, tmp_path), sink, run_id=sink.begin(spec, {}, {}), resume=True
    )
    assert resumed.status == Status.CENSORED and sorted(sink.records) == [1, 2]
    assert [p.index for p in sink.records[2]["points"]] == list(range(9))


def test_checkpoints_load_with_weights_only(tmp_path):
    s = study()
    (spec,) = plan(s, [])
    env = env_for(s, tmp_path, pause_at(0))
    execute_run(spec, env, Sink())
    state = torch.load(run_checkpoint(spec, env).path, weights_only=True)
    assert state["run_key"] == spec.run_key and set(state) >= {"model", "stepper", "rng"}
    assert not list(tmp_path.rglob("*.partial"))


def test_a_multitask_run_resumes_its_joint_data_order(tmp_path):
    # The smaller task's shuffled order runs on across epochs (100 samples, 10 batches of 32 an
    # epoch: the second epoch begins 64 into it): the checkpoint keeps where it stood.
    s = parse_study(
        {
            "name": "joint",
            "task": {
                "dataset": "fashion-mnist",
                "dataset_options": {"train_size": 300, "val_size": 100, "test_size": 100},
                "model": "mlp",
                "model_options": {"hidden": [16]},
                "target_accuracy": 1.0,
                "max_epochs": 2,
                "evals_per_epoch": 2,
            },
            "extra_tasks": [
                {
                    "name": "mnist",
                    "dataset": "mnist-5k",
                    "dataset_options": {"train_size": 100},
                    "target_accuracy": 1.0,
                }
            ],
            "train": {"learning_rate": 0.05, "momentum": 0.9, "batch_size": 32},
            "grid": {"paradigm": ["multitask"]},
            "seeds": [1],
            "threads": 1,
            "meters": {"backends": ["estimate"]},
        }
    )
    (spec,) = plan(s, [])
    whole = Sink()
    execute_run(spec, env_for(s, tmp_path / "whole"), whole)
    sink = Sink()
    execute_run(spec, env_for(s, tmp_path, pause_at(2)), sink)  # in the second epoch
    execute_run(spec, env_for(s, tmp_path), sink, run_id=1, resume=True)
    assert len(whole.records[1]["points"]) == 4
    assert curve(sink.records[1]["points"]) == curve(whole.records[1]["points"])
    accuracies = [p.task_accuracies for p in sink.records[1]["points"]]
    assert accuracies == [p.task_accuracies for p in whole.records[1]["points"]]


def test_a_checkpoint_the_disk_refuses_leaves_the_run_paused_without_one(tmp_path, caplog):
    s = study()
    (spec,) = plan(s, [])
    env = env_for(s, tmp_path, pause_at(1))
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume" / "checkpoints").write_text("a file where the folder should be")
    outcome = execute_run(spec, env, Sink())
    assert outcome.status == CENSORED and outcome.stop_reason == "paused at 1"
    assert "could not be saved" in caplog.text and paused_spent(spec, env) is None


def counter_env(s, tmp_path, handler=None):
    """An environment whose CPU is measured by a counter (as RAPL), not estimated."""
    import time

    counter = ConstantPowerMeter(Component.CPU, 10.0, time.monotonic)
    env = RunEnv.open(s, detection=Detection({Component.CPU: counter}), artifacts_dir=tmp_path)
    if handler is not None:
        env.stop_handlers = lambda spec: [handler]
    return env


@pytest.mark.parametrize(
    ("paused_under", "continued_under", "components"),
    [(env_for, counter_env, {"cpu"}), (counter_env, env_for, {"cpu", "ram"})],
)
def test_a_run_paused_under_other_meters_starts_afresh(
    tmp_path, caplog, paused_under, continued_under, components
):
    """A run paused where its CPU was estimated and continued where a counter measures it (another
    node, another worker count): the earlier joules, added to the counter's under the counter's
    label, would read as measured. It starts afresh instead, with a log line; so the other way."""
    s = study()
    (spec,) = plan(s, [])
    sink = Sink()
    execute_run(spec, paused_under(s, tmp_path, pause_at(1)), sink)
    resumed = execute_run(spec, continued_under(s, tmp_path), sink, run_id=1, resume=True)
    assert "measured by other meters" in caplog.text
    assert sorted(sink.records) == [1, 2]  # begun afresh: a new record from index 0
    assert [p.index for p in sink.records[2]["points"]] == list(range(9))
    assert set(resumed.energy_j) == components  # only the meters that continued it
    assert not list(tmp_path.rglob("*.pt"))


def test_a_run_paused_under_the_same_meters_goes_on(tmp_path, caplog):
    s = study()
    (spec,) = plan(s, [])
    sink = Sink()
    execute_run(spec, counter_env(s, tmp_path, pause_at(1)), sink)
    execute_run(spec, counter_env(s, tmp_path), sink, run_id=1, resume=True)
    assert "starting afresh" not in caplog.text and sorted(sink.records) == [1]
    assert [p.index for p in sink.records[1]["points"]] == list(range(9))


def _spent(energy_j: float, points: int):
    from powertrain.testing.store_contract import point
    from powertrain.train.checkpoint import Spent

    return Spent({"cpu": energy_j}, 1.0, [point(i) for i in range(points)])


def test_a_run_killed_while_it_saves_its_next_checkpoint_keeps_the_one_before(
    tmp_path, monkeypatch
):
    # A continued run that paused again rewrote its checkpoint in place: the old summary went
    # first, so a kill before the new one was written left neither, and the run (with the
    # earlier attempts' joules) began again from its start. Now the earlier checkpoint counts
    # until the new summary replaces it, and the new one counts from that moment on.
    import os

    from powertrain.train import checkpoint as module
    from powertrain.train.checkpoint import Checkpoint

    def fresh() -> Checkpoint:  # as the next process finds it
        return Checkpoint(tmp_path / "k.pt", "k", "sha")

    first = fresh()
    first.save_state({"w": torch.tensor([1.0])})
    first.save_spent(_spent(10.0, 1))
    killed = fresh()
    killed.save_state({"w": torch.tensor([2.0])})  # killed here, before its summary
    again = fresh()
    spent = again.spent()
    assert spent is not None and spent.total_energy_j == 10.0 and len(spent.points) == 1
    assert again.load_state()["w"].item() == 1.0 and not again.next_path.exists()

    # killed after the new summary, before its state was moved into place: the new one counts
    killed.save_state({"w": torch.tensor([3.0])})
    real = os.replace

    def stop_at_the_move(src, dst):
        if str(dst) == str(killed.path):
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(module.os, "replace", stop_at_the_move)
    with pytest.raises(KeyboardInterrupt):
        killed.save_spent(_spent(30.0, 3))
    monkeypatch.setattr(module.os, "replace", real)
    after = fresh()
    spent = after.spent()
    assert spent is not None and spent.total_energy_j == 30.0 and len(spent.points) == 3
    assert after.load_state()["w"].item() == 3.0
    assert after.path.exists() and not after.next_path.exists()


def test_an_older_checkpoint_is_resumed_and_one_naming_a_state_not_there_is_not(tmp_path, caplog):
    from powertrain.train.checkpoint import FORMAT, Checkpoint

    older = Checkpoint(tmp_path / "k.pt", "k", "sha")  # before states had a saved_id
    identity = {"format": FORMAT, "run_key": "k", "spec_sha256": "sha"}
    torch.save({**identity, "w": torch.tensor([1.0])}, older.path)
    summary = {**identity, "energy_j": {"cpu": 5.0}, "duration_s": 1.0, "points": []}
    older.summary_path.write_text(json.dumps(summary))
    assert older.spent().total_energy_j == 5.0 and older.load_state()["w"].item() == 1.0

    older.summary_path.write_text(json.dumps({**summary, "state_id": "0123456789abcdef"}))
    assert older.spent() is None
    assert "its state is not the one its summary names" in caplog.text
    assert not any(tmp_path.iterdir())


def test_a_save_killed_inside_its_atomic_write_leaves_no_file_that_outlives_the_checkpoint(
    tmp_path,
):
    # A SIGKILL between a file's write and its rename leaves ``<file>.partial`` (its ``finally``
    # never runs): a state's worth of disk that neither the run's end nor a search's discard
    # removed, in the folder a search's log line invites users to clear by hand.
    import os

    from powertrain.train import checkpoint as module
    from powertrain.train.checkpoint import Checkpoint

    def fresh() -> Checkpoint:
        return Checkpoint(tmp_path / "k.pt", "k", "sha")

    for killed_at in ("k.next.pt.partial", "k.json.partial"):
        fresh().save_state({"w": torch.tensor([1.0])})
        fresh().save_spent(_spent(10.0, 1))
        pid = os.fork()
        if pid == 0:  # the run that pauses again, killed as it renames ``killed_at``
            real = os.replace

            def killed(src, dst, real=real, killed_at=killed_at):
                if str(src).endswith(killed_at):
                    os._exit(9)
                real(src, dst)

            module.os.replace = killed
            fresh().save_state({"w": torch.tensor([2.0])})
            fresh().save_spent(_spent(20.0, 2))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 9 and (tmp_path / killed_at).exists()
        again = fresh()
        assert again.spent().total_energy_j == 10.0  # the earlier one, whole
        assert again.load_state()["w"].item() == 1.0
        again.remove()  # the search ends without continuing it
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_summary_is_never_paired_with_a_state_another_process_put_back(tmp_path):
    # Two stores sharing an artifacts folder may run one run key at once: a reader between this
    # run's new state and its summary settled the checkpoint on the state in place (removing the
    # new one), and the summary then named that older state beside the newer figures.
    from powertrain.train.checkpoint import Checkpoint

    def fresh() -> Checkpoint:
        return Checkpoint(tmp_path / "k.pt", "k", "sha")

    first = fresh()
    first.save_spent(_spent(10.0, 1), first.save_state({"w": torch.tensor([1.0])}))
    saving = fresh()
    saved_id = saving.save_state({"w": torch.tensor([2.0])})
    assert fresh().spent().total_energy_j == 10.0  # the other process: the new state removed
    with pytest.raises(OSError, match="the state saved for this summary is not there"):
        saving.save_spent(_spent(20.0, 2), saved_id)
    again = fresh()
    assert again.spent().total_energy_j == 10.0 and again.load_state()["w"].item() == 1.0


def test_the_gpus_random_states_are_put_back_for_the_gpus_this_machine_has(monkeypatch):
    # paused where 4 GPUs drew (their states saved), continued on a machine of 2, or of none:
    # torch.cuda.set_rng_state_all set every saved state and failed the run on the first absent GPU
    from powertrain.train.checkpoint import rng_state, set_rng_state

    saved = {**rng_state(), "cuda": [torch.tensor([i], dtype=torch.uint8) for i in range(4)]}
    put: list[tuple[int, int]] = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, i: put.append((i, int(s[0]))))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    set_rng_state(saved)
    assert put == [(0, 0), (1, 1)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    put.clear()
    set_rng_state(saved)  # a CPU-only machine: no GPU state to put back, and no error
    assert put == []


def test_a_run_continued_on_another_machine_says_so_in_its_faults(tmp_path, monkeypatch):
    # a search paused it on one host of a cluster sharing the artifacts folder and the store; the
    # grid continued it on another: its figure adds up both machines' joules, its record names one
    import platform

    s = study()
    (spec,) = plan(s, [])
    monkeypatch.setattr(platform, "node", lambda: "node-a")
    first = execute_run(spec, env_for(s, tmp_path, pause_at(2)), Sink())
    assert paused_spent(spec, env_for(s, tmp_path)).host == "node-a"
    monkeypatch.setattr(platform, "node", lambda: "node-b")
    sink = Sink()
    resumed = execute_run(
        spec, env_for(s, tmp_path), sink, run_id=sink.begin(spec, {}, {}), resume=True
    )
    [moved] = [f for f in resumed.faults if f.startswith("continued on node-b")]
    assert moved == (
        f"continued on node-b from a pause on node-a: {first.total_energy_j:.3g} J of its figure "
        "were spent before it, there (its record names one machine)"
    )
    monkeypatch.setattr(platform, "node", lambda: "node-a")  # the same machine: nothing to say
    execute_run(spec, env_for(s, tmp_path, pause_at(2)), Sink())
    sink = Sink()
    again = execute_run(
        spec, env_for(s, tmp_path), sink, run_id=sink.begin(spec, {}, {}), resume=True
    )
    assert not [f for f in again.faults if f.startswith("continued on")]


def _attempts(spec, s, tmp_path, monkeypatch, hosts_pauses):
    """The run's attempts, each on its host (``platform.node()``), pausing at its index (None: to
    its end); what each paused attempt had spent, and the last outcome."""
    import platform

    sink, run_id, spent, outcome = Sink(), None, [], None
    for attempt, (host, index) in enumerate(hosts_pauses):
        monkeypatch.setattr(platform, "node", lambda host=host: host)
        env = env_for(s, tmp_path, pause_at(index) if index is not None else None)
        run_id = sink.begin(spec, {}, {}) if run_id is None else run_id
        outcome = execute_run(spec, env, sink, run_id=run_id, resume=attempt > 0)
        if index is not None:
            spent.append(paused_spent(spec, env_for(s, tmp_path)))
    return spent, outcome


def test_a_run_moved_back_says_only_the_other_machines_joules_were_spent_there(
    tmp_path, monkeypatch
):
    # paused on A, continued and paused again on B, ended on A: the note of its move back named
    # all it had spent before (A's first attempt too) as spent "there", on B
    s = study()
    (spec,) = plan(s, [])
    (on_a, on_b), outcome = _attempts(
        spec, s, tmp_path, monkeypatch, [("node-a", 1), ("node-b", 4), ("node-a", None)]
    )
    moves = [f for f in outcome.faults if f.startswith("continued on")]
    assert moves == [
        f"continued on node-b from a pause on node-a: {on_a.total_energy_j:.3g} J of its figure "
        "were spent before it, there (its record names one machine)",
        f"continued on node-a from a pause on node-b: "
        f"{on_b.total_energy_j - on_a.total_energy_j:.3g} J of its figure were spent before it, "
        "there (its record names one machine)",
    ]


def test_a_run_that_stays_on_the_machine_it_moved_to_says_so_once(tmp_path, monkeypatch):
    # paused on A, on B twice (pausing again there), on A: each move said once, B's two attempts'
    # joules together in the move back
    s = study()
    (spec,) = plan(s, [])
    plan_ = [("node-a", 1), ("node-b", 3), ("node-b", 5), ("node-a", None)]
    (on_a, _, on_b), outcome = _attempts(spec, s, tmp_path, monkeypatch, plan_)
    moves = [f for f in outcome.faults if f.startswith("continued on")]
    assert [m.split(":")[0] for m in moves] == [
        "continued on node-b from a pause on node-a",
        "continued on node-a from a pause on node-b",
    ]
    assert f": {on_b.total_energy_j - on_a.total_energy_j:.3g} J of" in moves[1]


@pytest.mark.parametrize("since", [None, -1.0, "x", float("inf")])
def test_a_summary_whose_joules_since_its_host_are_not_a_figure_is_not_resumed(tmp_path, since):
    from powertrain.train.checkpoint import Checkpoint

    saving = Checkpoint(tmp_path / "k.pt", "k", "sha")
    saving.save_spent(_spent(10.0, 1), saving.save_state({"w": torch.tensor([1.0])}))
    summary = json.loads(saving.summary_path.read_text())
    del summary["host_since_j"]  # an older summary: every attempt on its host
    saving.summary_path.write_text(json.dumps(summary))
    assert Checkpoint(tmp_path / "k.pt", "k", "sha").spent().host_since_j == 0.0
    saving.summary_path.write_text(json.dumps({**summary, "host_since_j": since}))
    assert Checkpoint(tmp_path / "k.pt", "k", "sha").spent() is None


def test_a_machine_without_a_name_makes_no_garbled_note(tmp_path, monkeypatch):
    # platform.node() is '' where the name cannot be found: no "a pause on : ..." or "continued
    # on  from ...", as for an older summary that names no host
    s = study()
    (spec,) = plan(s, [])
    for hosts in (["", "node-b"], ["node-a", ""]):
        (on_first,), outcome = _attempts(
            spec, s, tmp_path / "-".join(hosts), monkeypatch, [(hosts[0], 1), (hosts[1], None)]
        )
        assert on_first.host == (hosts[0] or None)
        assert not [f for f in outcome.faults if f.startswith("continued on")]


def test_a_summary_refused_for_a_state_another_process_took_leaves_that_process_its_checkpoint(
    tmp_path, caplog, monkeypatch
):
    # A continued run pausing again: between its new state and its summary, another process (a
    # second store over the same artifacts folder) read the checkpoint and settled on the state in
    # place. The summary is refused; the run's end then removed the checkpoint that process holds.
    from powertrain.train.checkpoint import Checkpoint

    s = study()
    (spec,) = plan(s, [])
    sink = Sink()
    execute_run(spec, env_for(s, tmp_path, pause_at(1)), sink)
    before = paused_spent(spec, env_for(s, tmp_path)).total_energy_j
    save_spent = Checkpoint.save_spent

    def read_meanwhile(self, spent, state_id=None):
        Checkpoint(self.path, self.run_key, self.spec_sha256).spent()  # the other process
        return save_spent(self, spent, state_id)

    monkeypatch.setattr(Checkpoint, "save_spent", read_meanwhile)
    outcome = execute_run(spec, env_for(s, tmp_path, pause_at(4)), sink, resume=True)
    assert outcome.status == CENSORED
    assert "taken by another process" in caplog.text
    kept = paused_spent(spec, env_for(s, tmp_path))
    assert kept is not None and kept.total_energy_j == before  # the other process's, whole
    assert run_checkpoint(spec, env_for(s, tmp_path)).load_state()["progress"] is not None
