"""Pruning inside users' own sweeps, by energy, with the search strategies' rule: an Optuna study of a
dozen trials (a real MLP on digits; scripted meters, so each epoch costs the same 10 J and the verdicts
do not depend on the machine's load) and a Ray Tune sweep on a local Ray. Pruned runs stay in the
store, censored, with their reason."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from torch.nn import functional as F

from powertrain import open_store, track
from powertrain.integrations.optuna import TO_TARGET_ATTR, EnergyPruner
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.pruning import EnergyRule
from powertrain.records import CENSORED, REACHED, Verdict
from tests.fakes.meters import ConstantPowerMeter
from tests.integration.digits_task import digits, mlp

EPOCH_J = 10.0  # the scripted CPU meter: 10 W, and the clock advances 1 s per epoch


def train_epoch(model, optimizer, xt, yt, generator) -> None:
    for batch in torch.randperm(len(xt), generator=generator).split(64):
        optimizer.zero_grad()
        F.cross_entropy(model(xt[batch]), yt[batch]).backward()
        optimizer.step()


def accuracy(model, xv, yv) -> float:
    with torch.no_grad():
        return float((model(xv).argmax(1) == yv).float().mean())


def test_an_optuna_study_of_a_dozen_trials_is_pruned_by_energy(tmp_path, clock):
    torch.set_num_threads(1)
    xt, yt, xv, yv = digits()
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )
    db = tmp_path / "runs.db"

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 0.5, log=True)
        model = mlp(0)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        generator = torch.Generator().manual_seed(0)
        with track(
            "optuna-sweep", {"lr": lr}, 0, 0.9, db=db, detection=meters, device="cpu", trial=trial
        ) as run:
            for epoch in range(12):
                train_epoch(model, optimizer, xt, yt, generator)
                clock.advance(1.0)
                if run.evaluate(val_accuracy=accuracy(model, xv, yv), step=epoch + 1):
                    break
        return run.outcome.energy_to_target_j or math.inf

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), pruner=EnergyPruner())
    study.optimize(objective, n_trials=12)

    trials = study.trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 12 and pruned and complete
    with open_store(db) as store:
        runs = {r.id: r for r in store.runs("optuna-sweep")}
        assert len(runs) == 12  # every trial's run is in the store
        for t in pruned:
            run = runs[t.user_attrs["powertrain_run_id"]]
            assert run.status == CENSORED and "bound:" in run.outcome.stop_reason
            assert run.outcome.verdict is Verdict.SEARCH_BOUND
            assert f"optuna trial {t.number}" in run.outcome.stop_reason
            # the rule: pruned at the first evaluation past 1 x the best energy-to-target before it
            best = min(
                u.user_attrs[TO_TARGET_ATTR]
                for u in trials[: t.number]
                if TO_TARGET_ATTR in u.user_attrs
            )
            assert best < run.outcome.total_energy_j <= best + EPOCH_J
            assert [p.total_energy_j for p in store.eval_points(run.id)] == pytest.approx(
                [EPOCH_J * (i + 1) for i in range(len(store.eval_points(run.id)))]
            )
        for t in complete:
            run = runs[t.user_attrs["powertrain_run_id"]]
            assert run.status in (REACHED, CENSORED)
            if run.status == REACHED:
                assert t.value == run.outcome.energy_to_target_j == t.user_attrs[TO_TARGET_ATTR]


def test_halvings_rungs_keep_the_best_third_by_accuracy_at_the_same_energy():
    rule = EnergyRule(beta=1.0, rungs=True, eta=3.0, min_budget_j=10.0)
    slow, fast, mid = [(10.0, 0.2)], [(10.0, 0.6)], [(10.0, 0.4)]
    assert rule.stop(slow, None, [(fast, False), (mid, False)]).reason.startswith("rung 0 (10.0 J)")
    assert rule.stop(fast, None, [(slow, False), (mid, False)]) is None
    assert rule.stop(slow, None, [(fast, False)]) is None  # too few runs there to halve
    bound = rule.stop([(35.0, 0.9)], 30.0, [])
    assert bound.verdict is Verdict.SEARCH_BOUND  # the strategies' own stop
    assert bound.reason.startswith("bound: 35.0 J passed 1 x the best run's (30.0 J)")


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def tune_sweep(tmp_path, db: str, stopper):
    """Two trials of a real MLP on digits under ``stopper``: one reaches fast, one barely learns."""
    from ray import tune

    def trainable(config):  # pickled by value: only powertrain and torch inside
        import torch
        from torch.nn import functional as F

        import powertrain
        from powertrain.data.registry import load_dataset

        torch.set_num_threads(1)
        data = load_dataset("digits", seed=0)
        xt, yt = data.train.x.reshape(-1, 64), data.train.y["digit"]
        xv, yv = data.val.x.reshape(-1, 64), data.val.y["digit"]
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
        with powertrain.track(
            "tune-sweep", config, 0, 0.9, db=db, device="cpu", trial="ray"
        ) as run:
            for epoch in range(60):
                for batch in torch.randperm(len(xt)).split(64):
                    optimizer.zero_grad()
                    F.cross_entropy(model(xt[batch]), yt[batch]).backward()
                    optimizer.step()
                with torch.no_grad():
                    acc = float((model(xv).argmax(1) == yv).float().mean())
                if run.evaluate(val_accuracy=acc, step=epoch + 1):
                    break

    tuner = tune.Tuner(
        trainable,
        param_space={"lr": tune.grid_search([0.2, 0.0005])},  # reaches fast; barely learns
        tune_config=tune.TuneConfig(max_concurrent_trials=1),
        run_config=tune.RunConfig(stop=stopper, storage_path=str(tmp_path / "tune"), verbose=0),
    )
    return tuner.fit()


def test_a_ray_tune_sweep_is_stopped_by_energy_and_the_stopped_run_recorded(ray_instance, tmp_path):
    from powertrain.integrations.ray_tune import EnergyStopper

    db = str(tmp_path / "runs.db")
    stopper = EnergyStopper(db=db, beta=1.0)
    results = tune_sweep(tmp_path, db, stopper)
    assert len(results) == 2 and len(stopper.reasons) == 1
    with open_store(db) as store:
        runs = {r.setup["lr"]: r for r in store.runs("tune-sweep")}
    assert runs[0.2].status == REACHED
    slow = runs[0.0005]
    assert slow.status == CENSORED and "ray tune trial" in slow.outcome.stop_reason
    assert "bound:" in slow.outcome.stop_reason and slow.outcome.verdict is Verdict.SEARCH_BOUND
    assert slow.outcome.total_energy_j > runs[0.2].outcome.energy_to_target_j


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_store_that_fails_under_the_energy_stopper_never_fails_the_tuning(
    ray_instance, tmp_path, caplog, monkeypatch
):
    import logging

    from powertrain.integrations.ray_tune import EnergyStopper

    db = str(tmp_path / "runs.db")  # the trials record here; the stopper's store has gone away
    gone = f"postgresql://alice:s3cret@127.0.0.1:{free_port()}/runs"
    stopper = EnergyStopper(db=gone, beta=1.0)
    exits: list = []  # the stop's last try at exit, held here: this process outlives its stream
    monkeypatch.setattr("atexit.register", lambda f, *a: exits.append(f))
    with caplog.at_level(logging.WARNING, logger="powertrain.integrations.ray_tune"):
        results = tune_sweep(tmp_path, db, stopper)  # a TuneError out of fit() before
    assert len(results) == 2 and not any(r.error for r in results)
    assert len(stopper.reasons) == 1  # the slow trial was still stopped by energy
    [warning] = [r.getMessage() for r in caplog.records if "EnergyStopper" in r.getMessage()]
    assert "the tuning goes on" in warning
    assert "s3cret" not in warning and "alice:***@127.0.0.1" in warning
    assert len(stopper.unrecorded) == 1  # kept, to record once the store answers again
    assert len(exits) == 1  # and tried once more when the tuning process exits
    with open_store(db) as store:
        runs = {r.setup["lr"]: r for r in store.runs("tune-sweep")}
        assert runs[0.2].status == REACHED
        assert store.eval_points(runs[0.0005].id)  # what the trial recorded is all there


def test_a_stop_the_store_refused_is_recorded_once_it_answers_again(tmp_path, caplog):
    import logging

    from powertrain.integrations.ray_tune import EnergyStopper
    from powertrain.records import RUNNING, EvalPoint
    from powertrain.tracking.store import begin_run
    from tests.integration.test_energy_stopper_unrecorded import Locked

    store = Locked(tmp_path / "runs.db")
    store.save_study("tune", {"name": "tune"})
    results = {}
    for trial, energy_j in (("a", 30.0), ("b", 40.0)):  # two runs under way, past the best (10 J)
        run_id = begin_run(store, "tune", trial, {"t": trial}, {}, 0, {}, {}, False)
        store.add_eval_point(run_id, EvalPoint(0, 1, 1.0, 0, None, 0.2, 1.0, {"cpu": energy_j}))
        results[trial] = {
            "powertrain_run_id": run_id,
            "powertrain_run_key": trial,
            "powertrain_study": "tune",
            "energy_j": energy_j,
            "val_accuracy": 0.2,
        }
    stopper = EnergyStopper(db=store, beta=1.0)
    assert not stopper("fast", {"energy_j": 10.0, "val_accuracy": 0.95, "energy_to_target_j": 10.0})
    store.refusals = 2
    with caplog.at_level(logging.WARNING, logger="powertrain.integrations.ray_tune"):
        assert stopper("a", results["a"])  # the store is locked: stopped all the same
        assert stopper("b", results["b"])  # still locked for a's retry; b then waits behind it
    warnings = [r.getMessage() for r in caplog.records if "EnergyStopper" in r.getMessage()]
    assert len(warnings) == 1 and "database is locked" in warnings[0]  # once, not per trial
    assert [r.status for r in store.runs("tune")] == [RUNNING, RUNNING]
    assert stopper("a", {**results["a"], "energy_j": 31.0})  # Tune asks again: it answers now
    assert not stopper.unrecorded
    outcomes = {r.run_key: r.outcome for r in store.runs("tune")}
    assert all(o is not None and o.status == CENSORED for o in outcomes.values())
    assert outcomes["a"].total_energy_j == 30.0 and outcomes["b"].total_energy_j == 40.0
    store.close()


def test_a_stopped_run_not_in_the_store_is_warned_about_without_the_stores_password(
    monkeypatch, caplog
):
    import logging

    from powertrain.integrations import ray_tune
    from powertrain.store.memory import MemoryStore

    url = "postgresql://alice:s3cret@db.example:5432/runs"
    store = MemoryStore()
    monkeypatch.setattr("powertrain.tracking.store.open_db", lambda db: (store, False))
    stopper = ray_tune.EnergyStopper(db=url)
    result = {"powertrain_run_id": 7, "powertrain_study": "s", "powertrain_run_key": "k"}
    with caplog.at_level(logging.WARNING):
        stopper._record(result, ray_tune.Stop(Verdict.SEARCH_BOUND, "bound"))
    [warning] = [r.getMessage() for r in caplog.records if "EnergyStopper" in r.getMessage()]
    assert "s3cret" not in warning and "alice:***@db.example" in warning


ESTIMATED = {"cpu": {"meter": "cpu_time", "method": "estimate", "estimated": True}}


def test_the_energy_reported_to_an_optuna_trial_says_it_is_an_estimate():
    from powertrain.integrations.optuna import OptunaTrial
    from powertrain.loggers.base import RunInfo
    from powertrain.records import EvalPoint

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study().ask()
    hook = OptunaTrial(trial)
    hook.run_begun(RunInfo("s", "k", 1, {}, {}, 0, ESTIMATED))
    hook.eval_point(1, EvalPoint(0, 1, 1.0, 0, None, 0.5, 1.0, {"cpu": 10.0}))
    assert trial.user_attrs["powertrain_energy_j"] == [[1, 10.0]]
    assert trial.user_attrs["powertrain_measurement"].startswith("ESTIMATE")


def test_the_energy_reported_to_ray_tune_says_it_is_an_estimate(monkeypatch):
    from ray import tune

    from powertrain.integrations.ray_tune import TuneReport
    from powertrain.loggers.base import RunInfo
    from powertrain.records import EvalPoint

    reported = []
    monkeypatch.setattr(tune, "report", reported.append)
    hook = TuneReport({"digit": 0.9})
    hook.run_begun(RunInfo("s", "k", 1, {}, {}, 0, ESTIMATED))
    hook.eval_point(1, EvalPoint(0, 1, 1.0, 0, None, 0.5, 1.0, {"cpu": 10.0}, {"digit": 0.5}))
    [metrics] = reported
    assert metrics["energy_j"] == 10.0
    assert metrics["powertrain_measurement"].startswith("ESTIMATE")


def test_a_trial_stopped_on_a_report_of_its_own_is_stopped_without_a_record(caplog):
    import logging

    from powertrain.integrations.ray_tune import EnergyStopper

    # energy_j and val_accuracy the trainable reported itself, not through track(): no run id
    stopper = EnergyStopper(db=":memory:")
    assert not stopper("fast", {"energy_j": 10.0, "val_accuracy": 0.95, "energy_to_target_j": 10.0})
    with caplog.at_level(logging.WARNING):
        assert stopper("slow", {"energy_j": 30.0, "val_accuracy": 0.2})  # was a KeyError in Tune
    assert "bound:" in stopper.reasons["slow"]
    assert any("no powertrain run" in r.getMessage() for r in caplog.records)


def test_a_ray_trial_restarted_after_a_failure_is_judged_on_its_new_attempt_only():
    from powertrain.integrations.ray_tune import EnergyStopper

    stopper = EnergyStopper(db=":memory:", rungs=True, min_budget_j=10.0)
    first = {"powertrain_run_id": 1, "powertrain_run_key": "k", "powertrain_study": "s"}
    assert not stopper("t", {**first, "energy_j": 10.0, "val_accuracy": 0.3})
    assert not stopper("t", {**first, "energy_j": 20.0, "val_accuracy": 0.5})
    # Tune restarts the failed trial: track() begins its run afresh, the energy from 0 J again
    again = {**first, "powertrain_run_id": 2}
    assert not stopper("t", {**again, "energy_j": 4.0, "val_accuracy": 0.1})
    assert stopper.curves["t"] == [(4.0, 0.1)]  # not the first attempt's course, then this one's


def test_a_multi_objective_optuna_study_is_tracked_without_pruning(tmp_path, clock):
    # energy against accuracy: Optuna has no intermediate values nor pruning for several objectives
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        lr = trial.suggest_float("lr", 0.01, 0.1)
        with track(
            "pareto", {"lr": lr}, 0, 0.9, db=tmp_path / "r.db", detection=meters, trial=trial
        ) as run:
            for epoch in range(3):
                clock.advance(1.0)
                if run.evaluate(val_accuracy=0.05 + 0.3 * (epoch + 1), step=epoch + 1):
                    break
        return run.outcome.total_energy_j, run.outcome.final_val_accuracy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert study.trials[0].user_attrs["powertrain_energy_j"] == [[1, 10.0], [2, 20.0], [3, 30.0]]
    with open_store(tmp_path / "r.db") as store:
        assert {r.status.value for r in store.runs("pareto")} == {"reached"}


def test_a_sweep_is_told_as_soon_as_another_node_of_a_distributed_trial_estimated(monkeypatch):
    """Rank 0's meters measured the CPU; node 1 only estimated it: the trial's reports say estimate
    from the evaluation those figures are first combined into, not only at the run's end."""
    from ray import tune

    from powertrain.integrations.optuna import OptunaTrial
    from powertrain.integrations.ray_tune import TuneReport
    from powertrain.loggers.observe import ObservedStore, Observers
    from powertrain.records import EvalPoint
    from powertrain.store.memory import MemoryStore
    from powertrain.tracking.store import begin_run

    counter = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    nodes = [
        {"node": 0, "host": "a", "estimated": {"cpu": False}},
        {"node": 1, "host": "b", "estimated": {"cpu": True}},
    ]
    reported = []
    monkeypatch.setattr(tune, "report", reported.append)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study().ask()
    ray_hook, optuna_hook = TuneReport({"digit": 0.9}), OptunaTrial(trial)
    store = MemoryStore()
    store.save_study("s", {"name": "s"})
    observed = ObservedStore(store, Observers([ray_hook, optuna_hook]))
    run_id = begin_run(observed, "s", "k", {}, {}, 0, {"host": "a"}, counter, False)
    assert trial.user_attrs["powertrain_measurement"].startswith("measured")
    observed.note_nodes(run_id, nodes)  # rank 0, its ranks' figures combined, before the point
    point = EvalPoint(0, 1, 1.0, 0, None, 0.5, 1.0, {"cpu": 10.0}, {"digit": 0.5})
    observed.add_eval_point(run_id, point)
    [metrics] = reported
    said = "ESTIMATE (cpu estimated on node 1 (b))"
    assert metrics["powertrain_measurement"] == said
    assert trial.user_attrs["powertrain_measurement"] == said


def test_a_relative_store_in_a_ray_trainable_is_refused_before_the_trial_trains(
    ray_instance, tmp_path, monkeypatch
):
    """Tune runs each trial in a working folder of its own: ``db="rel.db"`` wrote one store per trial
    in Ray's session folder, which the driver's stopper (and the user) never found."""
    from ray import tune

    from powertrain.integrations.ray_tune import EnergyStopper

    monkeypatch.chdir(tmp_path)

    def trainable(config):
        import powertrain

        with powertrain.track("rel", config, 0, 0.9, db="rel.db", device="cpu", trial="ray") as run:
            run.evaluate(val_accuracy=0.5, step=1)

    tuner = tune.Tuner(
        trainable,
        param_space={"lr": 0.1},
        run_config=tune.RunConfig(
            stop=EnergyStopper(db="rel.db"), storage_path=str(tmp_path / "tune"), verbose=0
        ),
    )
    [result] = tuner.fit()
    assert "track(db='rel.db') in a Ray Tune trainable: a relative path" in str(result.error)
    assert "absolute path" in str(result.error)
    assert result.metrics.get("energy_j") is None  # refused before its first evaluation
