"""The plan: pure, picklable run specs; the pretraining stage first, only while it is needed."""

from __future__ import annotations

import pickle

from powertrain.records import CENSORED, FAILED, REACHED, RunRecord, Stage
from powertrain.study.config import parse_study
from powertrain.study.plan import RunSpec, plan, pretrain_key
from powertrain.train.config import Paradigm, TrainConfig


def study(**extra):
    return parse_study(
        {
            "name": "s",
            "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.9},
            "grid": {"learning_rate": [0.01, 0.1]},
            "seeds": [0, 1],
            **extra,
        }
    )


def finished(spec: RunSpec, status=REACHED) -> RunRecord:
    return RunRecord(
        1, spec.study, spec.run_key, spec.setup, spec.train, spec.seed, status, {}, {}, 0.0
    )


def test_a_plan_is_every_run_in_order_and_its_specs_pickle():
    s = study()
    specs = plan(s, [])
    assert [(sp.setup["learning_rate"], sp.seed) for sp in specs] == [
        (0.01, 0),
        (0.01, 1),
        (0.1, 0),
        (0.1, 1),
    ]
    assert [sp.run_key for sp in specs] == [s.run_key(setup, seed) for setup, seed in s.runs()]
    assert all(sp.stage is Stage.TRAIN for sp in specs)
    assert pickle.loads(pickle.dumps(specs)) == specs
    assert specs[0].train_config == TrainConfig(learning_rate=0.01)


def test_finished_runs_are_left_out_and_failed_ones_only_come_back_when_asked():
    s = study()
    first, second, *_ = plan(s, [])
    done = [finished(first), finished(second, FAILED)]
    assert [sp.run_key for sp in plan(s, done)] == [sp.run_key for sp in plan(s, [])[1:]][1:]
    again = plan(s, done, retry_failed=True)
    assert again[0].run_key == second.run_key and again[0].replace_failed
    assert first.run_key not in {sp.run_key for sp in again}


def test_the_pretraining_stage_is_planned_first_while_a_setup_needs_it():
    s = study(
        pretrain={"dataset": "digits", "max_epochs": 1},
        grid={"paradigm": ["scratch", "finetune"]},
    )
    specs = plan(s, [])
    stage, *grid = specs
    assert stage.stage is Stage.PRETRAIN and stage.run_key == pretrain_key(s)
    assert "stage" not in stage.setup  # the stage is typed, not a magic key in the setup
    assert [sp.train_config.paradigm for sp in grid] == [Paradigm.SCRATCH] * 2 + [
        Paradigm.FINETUNE
    ] * 2
    assert pickle.loads(pickle.dumps(stage)) == stage
    done_stage = plan(s, [finished(stage, CENSORED)])
    assert all(sp.stage is Stage.TRAIN for sp in done_stage) and len(done_stage) == 4
    only_scratch_left = [finished(sp) for sp in grid if sp.train_config.paradigm.needs_pretraining]
    assert all(sp.stage is Stage.TRAIN for sp in plan(s, only_scratch_left))


def test_an_external_checkpoint_needs_no_stage(tmp_path):
    s = study(pretrain={"checkpoint": str(tmp_path / "w.pt")}, grid={"paradigm": ["finetune"]})
    assert all(sp.stage is Stage.TRAIN for sp in plan(s, []))


def stopped(spec: RunSpec, verdict) -> RunRecord:
    from dataclasses import replace

    from powertrain.records import RunOutcome

    outcome = RunOutcome(CENSORED, "stopped", 1.0, {"cpu": 1.0}, 1.0, 10, verdict=verdict)
    return replace(finished(spec, CENSORED), outcome=outcome)


def test_the_grid_runs_again_exactly_what_only_a_search_ends_a_run_with():
    # One definition: ``Verdict.search_only`` (a search's bound, rung or pricing pause, its
    # confirmation) is what the grid runs again over its record; a predicted miss is a search's
    # kind of stop too (``by_search``: a lower bound), but the grid's own predict_stop makes it
    # as well, so the grid leaves it done (re-running it would be predicted to miss again).
    from powertrain.records import Verdict
    from powertrain.study.plan import SEARCH_ONLY

    assert {v for v in Verdict if v.search_only} == SEARCH_ONLY
    assert {v for v in Verdict if v.by_search} - SEARCH_ONLY == {Verdict.PREDICTED_MISS}
    s = study()
    first, *_ = plan(s, [])
    for verdict in Verdict:
        if verdict.status is not CENSORED:
            continue
        again = {sp.run_key: sp for sp in plan(s, [stopped(first, verdict)])}
        assert (first.run_key in again) is verdict.search_only, verdict
        assert again.get(first.run_key, first).replace_censored is verdict.search_only, verdict
